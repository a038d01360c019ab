import test from 'ava';
import { buildPairs, type PoolsRecord } from '../../src/pairs/build.js';
import { Rng, softmax } from '../../src/foresight/selection.js';

/** A record the way the reference code writes it: K=2 steps, M*N=4, pools of K+1 or K entries. */
const reference: PoolsRecord & Record<string, unknown> = {
  id: 0,
  question: 'What is 2+3?',
  ground_truth: '5',
  foresight_steps: 2,
  traj_pool: [['t00', 't01', 't02', 't03'], ['t10', 't11', 't12', 't13'], []],
  step_pool: [
    ['r00', 'r01', 'r02', 'r03'],
    ['r10', 'r11', 'r12', 'r13'],
  ],
  prob_pool: [
    [-1.0, -0.4, -0.9, -2.0],
    [-0.3, -0.8, -0.35, -0.5],
    [-0.2, -0.6],
  ],
  adv_pool: [
    [-1.0, -0.4, -0.9, -2.0],
    [0.1, -0.4, 0.05, -0.1],
    [0.1, -0.2],
  ],
  step_prob: [
    [-0.5, -0.6, -0.7, -0.8],
    [-0.5, -0.6, -0.7, -0.8],
  ],
  sample_id_pool: [
    [1, 2],
    [0, 2],
    [0, 0],
  ],
};

test('reference interop: K pairs, chosen = highest foresight score, weights are the advantages', (t) => {
  const { pairs } = buildPairs(reference, { rejected: 'uniform', tau: 0.1, maxChars: 10_000 }, new Rng(1));
  t.is(pairs.length, 2);
  t.is(pairs[0]!.chosen[0]!.content, 't01');
  t.is(pairs[0]!.chosen_weights, -0.4);
  t.is(pairs[1]!.chosen[0]!.content, 't10');
  t.is(pairs[1]!.chosen_weights, 0.1);
  for (const [k, p] of pairs.entries()) {
    t.is(p.prompt, 'What is 2+3?');
    t.not(p.rejected[0]!.content, p.chosen[0]!.content);
    const i = reference.traj_pool[k]!.indexOf(p.rejected[0]!.content);
    t.is(p.rejected_weights, reference.adv_pool[k]![i]);
    const mean = reference.adv_pool[k]!.reduce((a, b) => a + b, 0) / 4;
    t.true(Math.abs(p.chosen_average_weights - mean) < 1e-12);
    t.deepEqual(p.chosen, [{ role: 'assistant', content: p.chosen[0]!.content }]);
  }
});

test('rejected re-sampling follows Categorical(F) without the chosen (paper) or uniform (released code)', (t) => {
  const draws = 20_000;
  const step = { question: 'q', traj_pool: [['a', 'b', 'c', 'd']], prob_pool: [[-0.5, -0.2, -0.6, -0.9]], adv_pool: [[0, 0, 0, 0]] };
  for (const mode of ['categorical', 'uniform'] as const) {
    const rng = new Rng(5);
    const counts: Record<string, number> = {};
    for (let n = 0; n < draws; n++) {
      const [p] = buildPairs(step, { rejected: mode, tau: 0.5, maxChars: 10_000 }, rng).pairs;
      t.is(p!.chosen[0]!.content, 'b');
      counts[p!.rejected[0]!.content] = (counts[p!.rejected[0]!.content] ?? 0) + 1;
    }
    const others = ['a', 'c', 'd'];
    const expected = mode === 'uniform' ? [1 / 3, 1 / 3, 1 / 3] : softmax([-0.5, -0.6, -0.9], 0.5);
    others.forEach((o, i) => {
      const seen = (counts[o] ?? 0) / draws;
      const se = Math.sqrt((expected[i]! * (1 - expected[i]!)) / draws);
      t.true(Math.abs(seen - expected[i]!) < 4 * se, `${mode} ${o}: ${seen} vs ${expected[i]}`);
    });
    t.false('b' in counts);
  }
});

test('over-long trajectories and steps with fewer than two candidates give no pair', (t) => {
  const rec = {
    question: 'q',
    traj_pool: [['x'.repeat(50), 'short'], ['only'], []],
    prob_pool: [[-1, -2], [-1], []],
    adv_pool: [[0, 0], [0], []],
  };
  t.is(buildPairs(rec, { rejected: 'uniform', tau: 0.1, maxChars: 40 }, new Rng(1)).pairs.length, 0);
  t.is(buildPairs(rec, { rejected: 'uniform', tau: 0.1, maxChars: 100 }, new Rng(1)).pairs.length, 1);
  t.throws(() => buildPairs({ question: 'q' } as never, { rejected: 'uniform', tau: 0.1, maxChars: 10 }, new Rng(1)), {
    message: /traj_pool/,
  });
});

test('pairs whose chosen and rejected are identical are dropped and counted, or kept on request', (t) => {
  // Step 0: all four candidates say the same; step 1: two distinct texts.
  const rec = {
    question: 'q',
    traj_pool: [['same', 'same', 'same', 'same'], ['a', 'b', 'a', 'b'], []],
    prob_pool: [[-1, -0.5, -2, -3], [-0.1, -0.2, -0.3, -0.4], []],
    adv_pool: [[0, 0, 0, 0], [0, 0, 0, 0], []],
  };
  const dropped = buildPairs(rec, { rejected: 'lowest', tau: 0.1, maxChars: 100 }, new Rng(1));
  t.is(dropped.identical, 1);
  t.deepEqual(
    dropped.pairs.map((p) => [p.step, p.chosen[0]!.content, p.rejected[0]!.content]),
    [[1, 'a', 'b']],
  );
  const kept = buildPairs(rec, { rejected: 'lowest', tau: 0.1, maxChars: 100, keepIdentical: true }, new Rng(1));
  t.is(kept.identical, 0);
  t.is(kept.pairs.length, 2);
  // Token ids decide where recorded: the same text from different ids is a real pair.
  const withIds = { ...rec, prompt_ids: [1, 2], token_pool: [[[5], [6], [7], [8]], [[1], [2], [1], [3]], []] };
  const byIds = buildPairs(withIds, { rejected: 'lowest', tau: 0.1, maxChars: 100 }, new Rng(1));
  t.is(byIds.identical, 0);
  t.deepEqual(
    byIds.pairs.map((p) => [p.prompt_ids, p.chosen_ids, p.rejected_ids]),
    [
      [[1, 2], [6], [8]],
      [[1, 2], [1], [3]],
    ],
  );
});

test('--rejected lowest takes the lowest-scored candidate (the paper\'s "w/o sampling")', (t) => {
  const step = {
    question: 'q',
    traj_pool: [['a', 'b', 'c', 'd']],
    prob_pool: [[-0.5, -0.2, -0.9, -0.6]],
    adv_pool: [[0.1, 0.2, 0.3, 0.4]],
  };
  for (let seed = 0; seed < 20; seed++) {
    const [p] = buildPairs(step, { rejected: 'lowest', tau: 0.5, maxChars: 100 }, new Rng(seed)).pairs;
    t.is(p!.chosen[0]!.content, 'b');
    t.is(p!.rejected[0]!.content, 'c');
    t.is(p!.rejected_weights, 0.3);
  }
});
