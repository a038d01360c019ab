import test from 'ava';
import { makeTemp } from '../helpers.js';
import { Trainer, type TrainSequence } from '../../src/train/trainer.js';
import type { NativeLossSpec } from '../../src/engine/native.js';
import { Rng } from '../../src/foresight/selection.js';
import { lossSpec, randomPairs } from './fixtures.js';

/**
 * Analytic gradients vs central finite differences of the F32 loss. Along a direction d mixing the
 * gradient with noise (|d| = 1), g.d is O(|g|), so F32 rounding of the loss (~1e-7 relative, over
 * 2 * eps = 2e-2) costs ~1e-5 relative and the O(eps^2) truncation ~1e-4: 2e-3 is a tolerance
 * a wrong mask, a missing attention path or a wrong loss derivative cannot meet (they err by O(1)).
 */
const EPS = 1e-2;
const TOL = 2e-3;

async function lossAt(t: Trainer, seqs: TrainSequence[], spec: NativeLossSpec): Promise<number> {
  await t.zeroGrad();
  return (await t.accumulate(seqs, spec)).loss;
}

function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

async function directionalCheck(t: Trainer, seqs: TrainSequence[], spec: NativeLossSpec, seed: number) {
  const theta = await t.parameters();
  const loss0 = await lossAt(t, seqs, spec);
  const g = await t.gradients();
  const rng = new Rng(seed);
  const gNorm = norm(g) || 1;
  const d = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) d[i] = g[i]! / gNorm + (rng.next() - 0.5) * 2 * Math.sqrt(3 / g.length);
  const dNorm = norm(d);
  let analytic = 0;
  for (let i = 0; i < g.length; i++) analytic += (g[i]! * d[i]!) / dNorm;
  const shifted = (sign: number) => Float32Array.from(theta, (x, i) => x + (sign * EPS * d[i]!) / dNorm);
  await t.setParameters(shifted(+1));
  const plus = await lossAt(t, seqs, spec);
  await t.setParameters(shifted(-1));
  const minus = await lossAt(t, seqs, spec);
  await t.setParameters(theta);
  const numeric = (plus - minus) / (2 * EPS);
  return { loss0, analytic, numeric, rel: Math.abs(analytic - numeric) / Math.max(Math.abs(analytic), 1e-6), gNorm };
}

const losses: NativeLossSpec['type'][] = ['aco', 'dpo', 'ipo', 'simpo', 'ropo', 'sft'];

for (const arch of ['llama', 'qwen2', 'qwen3'] as const) {
  for (const mode of ['lora', 'full'] as const) {
    test(`gradients of every loss match finite differences (${arch}, ${mode})`, async (t) => {
      const model = await makeTemp({ arch, shape: 'tiny', seed: 11 });
      const trainer = await Trainer.create({ model, full: mode === 'full', lora: { rank: 4, initBStd: 0.05 }, threads: 2, seed: 5 });
      try {
        const P = 3;
        const pairs = randomPairs(P, trainer.info.nVocab, 17);
        for (const type of losses) {
          const seqs = type === 'sft' ? pairs.slice(0, P) : pairs;
          const r = await directionalCheck(trainer, seqs, lossSpec(type, P), 99);
          t.true(Number.isFinite(r.loss0) && r.gNorm > 0, `${type}: loss ${r.loss0}, |g| ${r.gNorm}`);
          t.log(`${type}: rel ${r.rel.toExponential(2)}`);
          t.true(r.rel < TOL, `${type}: analytic ${r.analytic} vs numeric ${r.numeric} (rel ${r.rel.toExponential(2)})`);
        }
      } finally {
        trainer.dispose();
      }
    });
  }
}

test('a gradient check has teeth: a wrong loss scale in the analytic side fails it', async (t) => {
  const model = await makeTemp({ arch: 'llama', shape: 'tiny', seed: 11 });
  const trainer = await Trainer.create({ model, lora: { rank: 4, initBStd: 0.05 }, threads: 2 });
  try {
    const P = 2;
    const pairs = randomPairs(P, trainer.info.nVocab, 3);
    const spec = lossSpec('aco', P);
    const r = await directionalCheck(trainer, pairs, spec, 1);
    // The same numeric derivative against gradients computed for a loss 1% larger fails the tolerance.
    t.true(Math.abs(r.analytic * 1.01 - r.numeric) / Math.abs(r.analytic) > TOL);
  } finally {
    trainer.dispose();
  }
});
