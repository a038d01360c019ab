import { createHash } from 'node:crypto';
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ANSWER_MARKER,
  canonicalOf,
  generateTask,
  splitOf,
  TASK_ALPHABET,
  taskWords,
  type Operation,
  type TaskRecord,
} from '../../src/task/index.js';
import { cliPath, tempDir } from '../helpers.js';

/** Replays a solution's steps and checks each is exact integer arithmetic ending at `final`. */
function replay(t: import('ava').ExecutionContext, r: TaskRecord): void {
  const lines = r.answer.split('\n');
  t.is(lines.at(-1), `${ANSWER_MARKER} ${r.final}`);
  const steps = lines.slice(0, -1);
  t.is(steps.length, r.ops);
  let value: number | undefined;
  for (const line of steps) {
    const m = /^(\d+) ([-+*/]) (\d+) = (\d+)$/.exec(line);
    t.truthy(m, line);
    const [a, op, b, c] = [Number(m![1]), m![2], Number(m![3]), Number(m![4])];
    if (value !== undefined) t.is(a, value, 'each step continues from the last result');
    const result = op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : a / b;
    t.is(result, c, line);
    t.true(Number.isInteger(c) && c > 0, line);
    value = c;
  }
  t.is(value, r.final);
  t.true(r.question.startsWith(`${steps[0]!.split(' ')[0]} `) || r.question.includes(` has ${steps[0]!.split(' ')[0]} `));
}

test('problems are exact, 2-6 mixed operations, one step per line, ending in #### N', (t) => {
  const records = generateTask({ split: 'train', n: 300, seed: 1 });
  t.is(records.length, 300);
  const opCounts = new Set<number>();
  const symbols = new Set<string>();
  let distractors = 0;
  for (const r of records) {
    replay(t, r);
    t.true(r.ops >= 2 && r.ops <= 6);
    opCounts.add(r.ops);
    for (const line of r.answer.split('\n').slice(0, -1)) symbols.add(line.split(' ')[1]!);
    if (r.ops >= 2)
      t.true(
        new Set(
          r.answer
            .split('\n')
            .slice(0, -1)
            .map((l) => l.split(' ')[1]),
        ).size >= 2,
        'mixed operations',
      );
    distractors += r.distractors;
    t.true(r.question.endsWith('now?'));
    t.true(r.question.length + r.answer.length < 400, `${r.question.length + r.answer.length} chars`);
  }
  t.deepEqual([...opCounts].sort(), [2, 3, 4, 5, 6]);
  t.deepEqual([...symbols].sort(), ['*', '+', '-', '/']);
  t.true(distractors > 100, 'distractor numbers appear');
});

test('the same options give the same problems; another seed gives others', (t) => {
  const a = generateTask({ split: 'test', n: 50, seed: 7 });
  t.deepEqual(generateTask({ split: 'test', n: 50, seed: 7 }), a);
  const b = generateTask({ split: 'test', n: 50, seed: 8 });
  t.notDeepEqual(
    a.map((r) => r.question),
    b.map((r) => r.question),
  );
});

test('train and test never share a problem, whatever the seeds; no repeats within a split', (t) => {
  const train = [1, 2].flatMap((seed) =>
    generateTask({ split: 'train', n: 400, seed, difficulty: { minOps: 2, maxOps: 2, maxOperand: 6, maxFactor: 3, maxValue: 40 } }),
  );
  const test_ = [1, 3].flatMap((seed) =>
    generateTask({ split: 'test', n: 100, seed, difficulty: { minOps: 2, maxOps: 2, maxOperand: 6, maxFactor: 3, maxValue: 40 } }),
  );
  const trainKeys = new Set(train.map(canonicalOf));
  for (const r of test_) {
    t.false(trainKeys.has(canonicalOf(r)), r.answer);
    t.is(splitOf(canonicalOf(r)), 'test');
  }
  for (const seed of [1, 2]) {
    const one = train.filter((r) => r.id.startsWith(`train-${seed}-`));
    t.is(new Set(one.map(canonicalOf)).size, one.length);
  }
});

test('difficulty knobs bound the problems', (t) => {
  const records = generateTask({
    split: 'train',
    n: 100,
    seed: 3,
    difficulty: { minOps: 3, maxOps: 3, maxOperand: 9, maxValue: 50, minDistractors: 1, maxDistractors: 1, operations: ['add', 'sub'] },
  });
  for (const r of records) {
    replay(t, r);
    t.is(r.ops, 3);
    t.is(r.distractors, 1);
    t.regex(r.answer, /^[\d +\-=\n#]+$/);
    for (const line of r.answer.split('\n').slice(0, -1)) t.true(Number(line.split(' ')[4]) <= 50);
  }
  t.throws(() => generateTask({ split: 'train', n: 1, seed: 0, difficulty: { operations: ['pow' as never] } }), {
    message: /unknown operation 'pow'/,
  });
  t.throws(() => generateTask({ split: 'train', n: 1, seed: 0, difficulty: { minOps: 4, maxOps: 2 } }), { message: /maxOps/ });
  t.throws(
    () =>
      generateTask({
        split: 'train',
        n: 500,
        seed: 0,
        difficulty: { minOps: 1, maxOps: 1, maxOperand: 2, maxValue: 3, operations: ['add'] },
      }),
    { message: /distinct train problems/ },
  );
});

test('finalShare ends every problem in an exact equal share that most wrong totals would not allow; off by default', (t) => {
  const d = { minOps: 2, maxOps: 4, maxOperand: 20, maxFactor: 3, maxValue: 100, operations: ['add', 'sub', 'mul'] as Operation[] };
  const records = generateTask({ split: 'train', n: 300, seed: 4, difficulty: { ...d, finalShare: 5 } });
  const friends = new Set<number>();
  let offByOneDivides = 0;
  for (const r of records) {
    replay(t, r);
    const last = r.answer.split('\n').at(-2)!.split(' ');
    const [total, k] = [Number(last[0]), Number(last[2])];
    t.is(last[1], '/');
    t.true(k >= 2 && k <= 5);
    friends.add(k);
    t.true(
      r.question.endsWith(
        `shares them equally among ${k} friends. how many ${/has \d+ (\w+)\./.exec(r.question)![1]} does each friend get?`,
      ),
    );
    t.is(r.question.match(/ equal /g), null, 'no other division (the chain draws add, sub, mul)');
    if ((total + 1) % k === 0 || (total - 1) % k === 0) offByOneDivides++;
  }
  t.deepEqual([...friends].sort(), [2, 3, 4, 5]);
  t.true(offByOneDivides < records.length / 3, `${offByOneDivides} of ${records.length} totals off by one still divide`);
  // 0 (the default) draws the same problems as before the knob existed: no extra random draws.
  const plain = generateTask({ split: 'train', n: 50, seed: 4, difficulty: d });
  t.deepEqual(generateTask({ split: 'train', n: 50, seed: 4, difficulty: { ...d, finalShare: 0 } }), plain);
  t.true(plain.every((r) => r.question.endsWith('now?')));
  t.throws(() => generateTask({ split: 'train', n: 1, seed: 0, difficulty: { finalShare: 1 } }), {
    message: /finalShare must be an integer >= 2/,
  });
});

/** A small difficulty with an equal share at the end (the built-in kind), for the tests of its knobs. */
const SHARE_DIFFICULTY = {
  minOps: 2,
  maxOps: 4,
  maxOperand: 20,
  maxFactor: 3,
  maxValue: 100,
  operations: ['add', 'sub', 'mul'] as Operation[],
  finalShare: 5,
};

test('shareGroups: the share is among two groups of at least n the solution adds first, so the divisor is no number of the question', (t) => {
  const d = SHARE_DIFFICULTY;
  const records = generateTask({ split: 'train', n: 300, seed: 4, difficulty: { ...d, shareGroups: 1 } });
  const divisors = new Set<number>();
  for (const r of records) {
    const lines = r.answer.split('\n');
    const [sum, share] = [lines.at(-3)!, lines.at(-2)!];
    const g = /^(\d+) \+ (\d+) = (\d+)$/.exec(sum)!;
    t.truthy(g, sum);
    const [a, b, k] = [Number(g[1]), Number(g[2]), Number(g[3])];
    t.true(a >= 1 && b >= 1 && a + b === k && k <= 5, sum);
    const s = /^(\d+) \/ (\d+) = (\d+)$/.exec(share)!;
    t.is(Number(s[2]), k, "the share divides by the groups' sum");
    t.is(Number(s[1]) / k, r.final);
    t.is(Number(s[1]), Number(/= (\d+)$/.exec(lines.at(-4)!)![1]), "the share divides the chain's result");
    t.true(r.question.includes(`among ${a} friends and ${b} cousins. how many`), r.question);
    t.false(new RegExp(`\\b${k}\\b`).test(r.question.slice(r.question.lastIndexOf('shares'))), 'the divisor is not in the question');
    t.is(lines.length, r.ops + 2, "the chain's steps (the share included), the groups' sum, the answer line");
    divisors.add(k);
  }
  t.deepEqual([...divisors].sort(), [2, 3, 4, 5]);
  // Off (the default), the draws are what they were before the knob existed (sha256 of these
  // problems from the code before it), so the committed model's recipe still makes its problems.
  const plain = generateTask({ split: 'train', n: 300, seed: 4, difficulty: d });
  t.is(
    createHash('sha256').update(JSON.stringify(plain)).digest('hex'),
    '2c339162fe0b2187eaf41a1c87df5ecbf45ee760ebce14154359fde911f9fb10',
  );
  // Groups of at least 2: divisors from 4 up.
  const big = generateTask({ split: 'train', n: 200, seed: 4, difficulty: { ...d, shareGroups: 2 } });
  const sums = big.map((r) => /^(\d+) \+ (\d+) = (\d+)$/.exec(r.answer.split('\n').at(-3)!)!.slice(1).map(Number));
  t.true(sums.every(([a, b]) => a! >= 2 && b! >= 2));
  t.deepEqual([...new Set(sums.map((g) => g[2]))].sort(), [4, 5]);
  t.throws(() => generateTask({ split: 'train', n: 1, seed: 0, difficulty: { shareGroups: 1 } }), {
    message: /shareGroups 1 needs a final share among at least two such groups, finalShare >= 2 \(got 0\)/,
  });
  t.throws(() => generateTask({ split: 'train', n: 1, seed: 0, difficulty: { finalShare: 5, shareGroups: 3 } }), {
    message: /finalShare >= 6 \(got 5\)/,
  });
});

test('all text uses the small alphabet and the exported word list', (t) => {
  const words = new Set(taskWords());
  t.true(words.size < 120, `${words.size} words`);
  const records = [
    ...generateTask({ split: 'train', n: 300, seed: 5 }),
    ...generateTask({ split: 'test', n: 100, seed: 5 }),
    ...generateTask({ split: 'train', n: 100, seed: 5, difficulty: { finalShare: 5 } }),
  ];
  const alphabet = new Set(TASK_ALPHABET);
  for (const r of records) {
    const text = `${r.question}\n${r.answer}`;
    for (const ch of text) t.true(alphabet.has(ch), `character ${JSON.stringify(ch)}`);
    for (const w of text.split(/[^a-z]+/).filter(Boolean)) t.true(words.has(w), `word ${w}`);
  }
});

test('genius task writes GSM8K-format JSONL', (t) => {
  const out = join(tempDir(), 'train.jsonl');
  const r = spawnSync(
    process.execPath,
    [cliPath, 'task', '--split', 'train', '--n', '20', '--seed', '4', '--ops', '2-3', '--distractors', '1', '--out', out],
    { encoding: 'utf8' },
  );
  t.is(r.status, 0, r.stderr);
  const lines = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TaskRecord);
  t.is(lines.length, 20);
  for (const rec of lines) {
    t.regex(rec.answer, /\n#### \d+$/);
    t.true(rec.ops >= 2 && rec.ops <= 3);
    t.is(rec.distractors, 1);
  }
  const shared = join(tempDir(), 'shared.jsonl');
  const f = spawnSync(process.execPath, [cliPath, 'task', '--n', '5', '--final-share', '3', '--out', shared], { encoding: 'utf8' });
  t.is(f.status, 0, f.stderr);
  for (const line of readFileSync(shared, 'utf8').trim().split('\n'))
    t.regex((JSON.parse(line) as TaskRecord).question, /among [23] friends\. how many \w+ does each friend get\?$/);
  const checkedOut = join(tempDir(), 'checked.jsonl');
  const c = spawnSync(process.execPath, [cliPath, 'task', '--n', '5', '--checks', '--out', checkedOut], { encoding: 'utf8' });
  t.is(c.status, 0, c.stderr);
  for (const line of readFileSync(checkedOut, 'utf8').trim().split('\n'))
    t.true(
      (JSON.parse(line) as TaskRecord).answer
        .split('\n')
        .slice(0, -1)
        .every((l) => checked(l) !== undefined),
    );
  const unlabeled = join(tempDir(), 'queries.jsonl');
  const q = spawnSync(process.execPath, [cliPath, 'task', '--n', '3', '--seed', '4', '--questions-only', '--out', unlabeled], {
    encoding: 'utf8',
  });
  t.is(q.status, 0, q.stderr);
  const queries = readFileSync(unlabeled, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.deepEqual(
    queries.map((x) => Object.keys(x)),
    [
      ['id', 'question'],
      ['id', 'question'],
      ['id', 'question'],
    ],
  );
  const bad = spawnSync(process.execPath, [cliPath, 'task', '--ops', '5-2', '--out', out], { encoding: 'utf8' });
  t.not(bad.status, 0);
  t.regex(bad.stderr.trim(), /^genius: option '--ops <range>' argument '5-2' is invalid\. 2 is below 5$/);
});

/** `a op b = c and c inv b = d` as numbers, or undefined for a line without a check. */
function checked(
  line: string,
): { a: number; op: string; b: number; c: number; inv: string; b2: number; c2: number; d: number } | undefined {
  const m = /^(-?\d+) ([-+*/]) (\d+) = (-?\d+) and (-?\d+) ([-+*/]) (\d+) = (-?\d+)$/.exec(line);
  if (!m) return undefined;
  const n = m.map(Number);
  return { a: n[1]!, op: m[2]!, b: n[3]!, c: n[4]!, inv: m[6]!, c2: n[5]!, b2: n[7]!, d: n[8]! };
}
const calc = (a: number, op: string, b: number) => (op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : a / b);
const INVERSE_SYMBOL: Record<string, string> = { '+': '-', '-': '+', '*': '/', '/': '*' };

test('checks: every solution line undoes itself with the inverse operation; off by default, without extra draws', (t) => {
  const d = SHARE_DIFFICULTY;
  const plain = generateTask({ split: 'train', n: 200, seed: 4, difficulty: d });
  const records = generateTask({ split: 'train', n: 200, seed: 4, difficulty: { ...d, checks: true } });
  for (const [i, r] of records.entries()) {
    const lines = r.answer.split('\n');
    const gold = plain[i]!.answer.split('\n');
    t.is(lines.length, gold.length);
    t.is(lines.at(-1), gold.at(-1));
    t.is(r.question, plain[i]!.question, 'the same problems: checks draw nothing');
    for (const [j, line] of lines.slice(0, -1).entries()) {
      const l = checked(line);
      t.truthy(l, line);
      t.true(line.startsWith(`${gold[j]} and `), line);
      t.is(l!.c2, l!.c);
      t.is(l!.b2, l!.b);
      t.is(l!.inv, INVERSE_SYMBOL[l!.op]);
      t.is(l!.d, l!.a, 'the check returns to where its line began');
    }
    t.is(canonicalOf(r), canonicalOf(plain[i]!));
  }
  t.true(plain.every((r) => r.answer.split('\n').every((l) => !l.includes(' and '))));
  t.throws(() => generateTask({ split: 'train', n: 1, seed: 0, difficulty: { checks: 1 as unknown as boolean } }), {
    message: /checks must be true or false, got 1/,
  });
});

test('sloppy: a share of the corpus slips in additions and subtractions, checks stay honest, `final` stays gold', (t) => {
  const d = { ...SHARE_DIFFICULTY, checks: true };
  const gold = generateTask({ split: 'train', n: 400, seed: 4, difficulty: d });
  const records = generateTask({ split: 'train', n: 400, seed: 4, difficulty: d, sloppy: { share: 0.3, slipRate: 0.3 } });
  const sloppy = records.filter((r) => r.sloppy);
  t.true(sloppy.length > 90 && sloppy.length < 150, `${sloppy.length} of 400 sloppy`);
  let failedChecks = 0;
  for (const r of records) {
    const lines = r.answer.split('\n');
    let value: number | undefined;
    let slips = 0;
    for (const line of lines.slice(0, -1)) {
      const l = checked(line)!;
      t.truthy(l, line);
      if (value !== undefined) t.is(l.a, value, 'each line carries the written result on');
      t.is(l.d, calc(l.c, l.inv, l.b), `an honest check: ${line}`);
      if (l.c !== calc(l.a, l.op, l.b)) {
        slips++;
        t.true(l.op === '+' || l.op === '-' || l.op === '/', `only additions, subtractions and inexact shares slip: ${line}`);
        t.not(l.d, l.a, 'a slip shows as a check that does not return');
        failedChecks++;
      }
      value = l.c;
    }
    t.is(lines.at(-1), `${ANSWER_MARKER} ${value}`);
    if (r.sloppy) t.true(slips >= 1, r.answer);
    else t.is(slips, 0, r.answer);
    t.is(Number.isInteger(r.final) && canonicalOf(r) !== '', true);
  }
  t.true(failedChecks > sloppy.length, `${failedChecks} failed checks in ${sloppy.length} sloppy solutions`);
  // The careful problems are the gold ones (the same chains in the same order; `final` is the gold answer).
  t.deepEqual(
    records.map((r) => r.final),
    gold.map((r) => r.final),
  );
  t.deepEqual(
    records.filter((r) => !r.sloppy).map((r) => r.answer),
    gold.filter((_, i) => !records[i]!.sloppy).map((r) => r.answer),
  );
});

test('guess: the question gives the result and asks for the start; the solution guesses it, works forward, answers the start', (t) => {
  const d = { ...SHARE_DIFFICULTY, finalShare: 0 };
  const plain = generateTask({ split: 'train', n: 200, seed: 4, difficulty: d });
  const records = generateTask({ split: 'train', n: 200, seed: 4, difficulty: { ...d, guess: true } });
  const words = new Set(taskWords());
  for (const [i, r] of records.entries()) {
    const gold = plain[i]!;
    const start = Number(gold.answer.split(' ')[0]);
    const lines = r.answer.split('\n');
    t.is(lines[0], `guess ${start}`);
    t.deepEqual(lines.slice(1, -1), gold.answer.split('\n').slice(0, -1), 'the same chain, worked forward from the guess');
    t.is(lines.at(-1), `${ANSWER_MARKER} ${start}`);
    t.is(r.final, start);
    t.is(canonicalOf(r), canonicalOf(gold));
    t.regex(r.question, /^\w+ has some \w+\. /);
    t.regex(r.question, new RegExp(` now (he|she) has ${gold.final} (\\w+)\\. how many \\2 did \\w+ have at first\\?$`));
    t.is(r.question.split('. ').slice(1, -2).join('. '), gold.question.split('. ').slice(1, -1).join('. '), 'the same sentences between');
    for (const w of `${r.question}\n${r.answer}`.split(/[^a-z]+/).filter(Boolean)) t.true(words.has(w), `word ${w}`);
  }
  t.true(plain.every((r) => !r.answer.startsWith('guess')));
  t.throws(() => generateTask({ split: 'train', n: 1, seed: 0, difficulty: { guess: true, finalShare: 5 } }), {
    message: /guess asks for the starting amount, so it excludes a final share \(finalShare 5: set it to 0\)/,
  });
  t.throws(() => generateTask({ split: 'train', n: 1, seed: 0, difficulty: { guess: 'yes' as unknown as boolean } }), {
    message: /guess must be true or false, got yes/,
  });
  const out = join(tempDir(), 'guess.jsonl');
  const c = spawnSync(process.execPath, [cliPath, 'task', '--n', '5', '--guess', '--out', out], { encoding: 'utf8' });
  t.is(c.status, 0, c.stderr);
  for (const line of readFileSync(out, 'utf8').trim().split('\n')) t.regex((JSON.parse(line) as TaskRecord).answer, /^guess \d+\n/);
});

test('choices: a guess question offers consecutive answers, the start at a uniform place; needs guess', (t) => {
  const d = { ...SHARE_DIFFICULTY, finalShare: 0, guess: true };
  const open = generateTask({ split: 'train', n: 200, seed: 4, difficulty: d });
  const records = generateTask({ split: 'train', n: 200, seed: 4, difficulty: { ...d, choices: 4 } });
  const words = new Set(taskWords());
  const places = [0, 0, 0, 0];
  t.true(open.every((r) => r.question.endsWith('at first?') && !r.question.includes(' or ')));
  for (const [i, r] of records.entries()) {
    if (i === 0) t.is(r.answer, open[0]!.answer, 'the same first problem (the choices draw after it)');
    t.regex(r.answer, new RegExp(`^guess ${r.final}\n`));
    const m = / did \w+ have ((?:\d+ or )+\d+) (\w+) at first\?$/.exec(r.question);
    t.truthy(m, r.question);
    const offered = m![1]!.split(' or ').map(Number);
    t.is(offered.length, 4);
    t.deepEqual(
      offered,
      [...offered].sort((a, b) => a - b),
    );
    t.is(new Set(offered).size, 4);
    t.true(offered.includes(r.final));
    t.true(
      offered.every((v, j) => v >= 1 && v === offered[0]! + j),
      'consecutive',
    );
    places[offered.indexOf(r.final)]!++;
    for (const w of r.question.split(/[^a-z]+/).filter(Boolean)) t.true(words.has(w), `word ${w}`);
  }
  // 50 each expected (fewer first places where the start is below 4); 20-80 keeps the test stable.
  t.true(
    places.every((n) => n >= 20 && n <= 80),
    `the start's place among the choices: ${places.join(', ')}`,
  );
  for (const [bad, message] of [
    [{ choices: 1 }, /choices must be 0 or 2-6, got 1/],
    [{ guess: true, choices: 7 }, /choices must be 0 or 2-6, got 7/],
    [{ choices: 4, finalShare: 5 }, /choices offer the final answer, which a final share asks otherwise \(finalShare 5: set it to 0\)/],
    [{ choices: 4, choiceSpacing: 0 }, /choiceSpacing must be an integer >= 1, got 0/],
  ] as const)
    t.throws(() => generateTask({ split: 'train', n: 1, seed: 0, difficulty: bad }), { message });
});

test('retryShare: that share of guess solutions first work a wrong choice forward honestly, then guess right; same problems', (t) => {
  const d = { ...SHARE_DIFFICULTY, finalShare: 0, guess: true, choices: 4 };
  const plain = generateTask({ split: 'train', n: 300, seed: 4, difficulty: d });
  const records = generateTask({ split: 'train', n: 300, seed: 4, difficulty: d, retryShare: 0.5 });
  let retried = 0;
  for (const [i, r] of records.entries()) {
    t.is(r.question, plain[i]!.question, 'retries draw from their own stream');
    t.is(r.final, plain[i]!.final);
    t.is(canonicalOf(r), canonicalOf(plain[i]!), 'the chain is the last attempt');
    if (r.answer === plain[i]!.answer) continue;
    retried++;
    const attempts = r.answer
      .split('\n')
      .slice(0, -1)
      .join('\n')
      .split(/\n(?=guess )/);
    t.is(attempts.length, 2, r.answer);
    t.is(`${attempts[1]}\n${ANSWER_MARKER} ${r.final}`, plain[i]!.answer, 'the second attempt is the gold solution');
    const lines = attempts[0]!.split('\n');
    const guess = Number(/^guess (\d+)$/.exec(lines[0]!)![1]);
    const offered = / did \w+ have ((?:\d+ or )+\d+) \w+ at first\?$/.exec(r.question)![1]!.split(' or ').map(Number);
    t.true(guess !== r.final && offered.includes(guess), 'a wrong choice the question offers');
    let value = guess;
    for (const line of lines.slice(1)) {
      const m = /^(\d+) ([-+*/]) (\d+) = (\d+)$/.exec(line)!;
      t.is(Number(m[1]), value);
      value = calc(value, m[2]!, Number(m[3]));
      t.is(Number(m[4]), value, 'worked forward honestly');
    }
    const total = Number(/ now (?:he|she) has (\d+) /.exec(r.question)![1]);
    t.not(value, total, 'a result the question does not give');
  }
  t.true(retried > 110 && retried < 190, `${retried} of 300 retried`);
  t.throws(() => generateTask({ split: 'train', n: 1, seed: 0, retryShare: 0.5 }), {
    message: /retryShare needs guess-and-check problems \(difficulty\.guess\)/,
  });
  t.throws(() => generateTask({ split: 'train', n: 1, seed: 0, difficulty: d, retryShare: 2 }), {
    message: /retryShare must be in \[0, 1\], got 2/,
  });
});

test('choices without guess: the question offers the total among answers choiceSpacing apart, at a uniform place', (t) => {
  const d = { ...SHARE_DIFFICULTY, finalShare: 0 };
  const plain = generateTask({ split: 'train', n: 200, seed: 4, difficulty: d });
  const records = generateTask({ split: 'train', n: 200, seed: 4, difficulty: { ...d, choices: 4, choiceSpacing: 5 } });
  const words = new Set(taskWords());
  const places = [0, 0, 0, 0];
  t.is(records[0]!.answer, plain[0]!.answer, 'the same first problem (the choices draw after it)');
  t.true(plain.every((r) => r.question.endsWith(' now?') && !r.question.includes(' or ')));
  for (const r of records) {
    replay(t, r);
    const m = / does \w+ have ((?:\d+ or )+\d+) (\w+) now\?$/.exec(r.question);
    t.truthy(m, r.question);
    const offered = m![1]!.split(' or ').map(Number);
    t.is(offered.length, 4);
    t.true(
      offered.every((v, j) => v >= 1 && v === offered[0]! + 5 * j),
      '5 apart, ascending',
    );
    t.true(offered.includes(r.final));
    // Totals of 15 or less have fewer places that keep every answer >= 1.
    if (r.final > 15) places[offered.indexOf(r.final)]!++;
    for (const w of r.question.split(/[^a-z]+/).filter(Boolean)) t.true(words.has(w), `word ${w}`);
  }
  const n = places.reduce((a, b) => a + b, 0);
  t.true(
    places.every((k) => k >= n / 8 && k <= (3 * n) / 8),
    `the right answer's place among the choices: ${places.join(', ')}`,
  );
});
