import test from 'ava';
import { advantages, mixSeed, Rng, sampleWithoutReplacement, selectBeams, softmax, topIndices } from '../../src/foresight/selection.js';

test('softmax with tau is a distribution that sharpens as tau falls', (t) => {
  const f = [-1.2, -0.8, -2.0, -0.81];
  const p1 = softmax(f, 1);
  t.true(Math.abs(p1.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  const expected = f.map((x) => Math.exp(x)).map((e, _, all) => e / all.reduce((a, b) => a + b, 0));
  p1.forEach((p, i) => t.true(Math.abs(p - expected[i]!) < 1e-12));
  const sharp = softmax(f, 0.01);
  t.true(sharp[1]! > 0.7, 'tau 0.01 puts most mass on the best');
  t.true(sharp[1]! > softmax(f, 0.1)[1]!);
  // numerically stable for large scores
  t.deepEqual(softmax([1000, 1000], 0.1), [0.5, 0.5]);
  t.throws(() => softmax(f, 0));
});

test('sampling without replacement matches its distribution (20,000 draws, 4 standard errors)', (t) => {
  const p = softmax([-0.5, -0.7, -1.0, -0.6, -1.5], 0.3);
  const rng = new Rng(7);
  const draws = 20_000;
  const counts = new Map<string, number>();
  for (let n = 0; n < draws; n++) {
    const [a, b] = sampleWithoutReplacement(p, 2, rng);
    t.not(a, b);
    counts.set(`${a},${b}`, (counts.get(`${a},${b}`) ?? 0) + 1);
  }
  // P(first = i, second = j) = p_i * p_j / (1 - p_i)
  for (let i = 0; i < p.length; i++) {
    for (let j = 0; j < p.length; j++) {
      if (i === j) continue;
      const exact = (p[i]! * p[j]!) / (1 - p[i]!);
      const seen = (counts.get(`${i},${j}`) ?? 0) / draws;
      const se = Math.sqrt((exact * (1 - exact)) / draws);
      t.true(Math.abs(seen - exact) < 4 * se + 1e-9, `(${i},${j}): ${seen} vs ${exact}`);
    }
  }
});

test("advantages subtract the Q value of each candidate's beam", (t) => {
  t.deepEqual(advantages([-1, -2, -0.5, -3], [0, 0, 1, 1], [-1.5, -0.25]), [0.5, -0.5, -0.25, -2.75]);
});

test('strategies: greedy takes the top M, highest repeats the best, random and foresight are seeded', (t) => {
  const f = [-3, -1, -2, -0.5, -4, -1.5];
  t.deepEqual(selectBeams('greedy', f, 2, 0.1, new Rng(1)), [3, 1]);
  t.deepEqual(topIndices([1, 1, 0], 2), [0, 1]);
  t.deepEqual(selectBeams('highest', f, 3, 0.1, new Rng(1)), [3, 3, 3]);
  const a = selectBeams('foresight', f, 2, 0.5, new Rng(9));
  t.deepEqual(selectBeams('foresight', f, 2, 0.5, new Rng(9)), a);
  t.is(new Set(a).size, 2);
  const r = selectBeams('random', f, 4, 0.1, new Rng(3));
  t.is(new Set(r).size, 4);
  t.not(mixSeed(1, 'a'), mixSeed(1, 'b'));
});
