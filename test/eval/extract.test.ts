import test from 'ava';
import { answersMatch, extractAnswer, goldAnswer, normalizeAnswer, wilsonInterval } from '../../src/eval/index.js';
import { generateTask } from '../../src/task/index.js';

const value = (text: string, options?: { lastNumber?: boolean }) => extractAnswer(text, options)?.value ?? null;

test('each marker is found: boxed, "the answer is", GSM8K ####', (t) => {
  t.is(value('so we get \\boxed{42}.'), '42');
  t.is(value('The answer is 17.'), '17');
  t.is(value('the final answer is: 8'), '8');
  t.is(value('The answer is **12**'), '12');
  t.is(value('3 + 4 = 7\n#### 7'), '7');
  t.is(value('<boxed>5</boxed>'), '5');
  t.is(extractAnswer('\\boxed{42}')!.marker, 'boxed');
  t.is(extractAnswer('#### 3')!.marker, 'gsm8k');
  t.is(extractAnswer('The answer is 3')!.marker, 'answer-is');
});

test('numbers: commas, negatives, decimals, dollars, fractions', (t) => {
  t.is(value('#### 1,234'), '1234');
  t.is(value('#### 1,234,567.'), '1234567');
  t.is(value('The answer is -5.'), '-5');
  t.is(value('The answer is \u22125'), '-5');
  t.is(value('The answer is $3.50.'), '3.5');
  t.is(value('The answer is 0.25'), '0.25');
  t.is(value('\\boxed{\\frac{1}{2}}'), '0.5');
  t.is(value('\\boxed{3/4}'), '0.75');
  t.is(value('\\boxed{\\$1,000}'), '1000');
  t.is(value('\\boxed{-0}'), '0');
  t.is(value('\\boxed{10\\text{ apples}}'), '10 apples');
  t.is(value('\\boxed{x^{2}+1}'), 'x^{2}+1', 'nested braces are balanced');
});

test('the last match wins, across markers', (t) => {
  t.is(value('The answer is 3. Wait, recheck: \\boxed{4}'), '4');
  t.is(value('\\boxed{4} ... no, the answer is 5'), '5');
  t.is(value('#### 1\n#### 2'), '2');
  t.is(value('The answer is \\boxed{9}'), '9');
});

test('no marker gives null; lastNumber falls back to the last number', (t) => {
  t.is(extractAnswer('I think 5 apples, maybe 6'), null);
  t.is(extractAnswer(''), null);
  t.is(extractAnswer('\\boxed{unclosed'), null);
  t.is(value('I think 5 apples, maybe 6.', { lastNumber: true }), '6');
  t.is(value('between 1,000 and -2,500', { lastNumber: true }), '-2500');
  t.is(extractAnswer('7 then #### 9', { lastNumber: true })!.marker, 'gsm8k', 'a marker beats the fallback');
  t.is(value('no digits', { lastNumber: true }), null);
});

test('matching and gold answers', (t) => {
  t.true(answersMatch('3.5', '3.50'));
  t.true(answersMatch(normalizeAnswer('1,000'), '1000'));
  t.false(answersMatch('3', '4'));
  t.false(answersMatch(null, '4'));
  t.true(answersMatch('10 apples', '10 apples'));
  t.is(goldAnswer('Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72'), '72');
  t.is(goldAnswer(12), '12');
  t.is(goldAnswer('1,250'), '1250');
  t.is(goldAnswer(''), null);
  t.is(goldAnswer(undefined), null);
  for (const r of generateTask({ split: 'test', n: 50, seed: 2 })) t.is(goldAnswer(r.answer), String(r.final));
});

test('Wilson interval: known values, bounds, n = 0', (t) => {
  const w = wilsonInterval(50, 100);
  t.is(w.accuracy, 0.5);
  t.true(Math.abs(w.low - 0.4038) < 1e-4 && Math.abs(w.high - 0.5962) < 1e-4, JSON.stringify(w));
  const zero = wilsonInterval(0, 20);
  t.is(zero.low, 0);
  t.true(Math.abs(zero.high - 0.1611) < 1e-4, JSON.stringify(zero));
  const all = wilsonInterval(20, 20);
  t.true(all.high === 1 && Math.abs(all.low - 0.8389) < 1e-4, JSON.stringify(all));
  t.deepEqual(wilsonInterval(0, 0), { accuracy: 0, low: 0, high: 1, n: 0 });
});
