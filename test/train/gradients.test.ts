import test from 'ava';
import { makeTemp } from '../helpers.js';
import { Trainer, type TrainSequence } from '../../src/train/trainer.js';
import type { NativeLossSpec } from '../../src/engine/native.js';
import { Rng } from '../../src/foresight/selection.js';
import { directionalCheck, EPS_FD, lossAt, lossSpec, norm, randomPairs, TOL_FD } from './fixtures.js';

// Analytic gradients vs central finite differences of the F32 loss: see directionalCheck (its
// tolerance TOL_FD is justified there) and the per-block checks below.
const EPS = EPS_FD;
const TOL = TOL_FD;

const losses: NativeLossSpec['type'][] = ['aco', 'dpo', 'ipo', 'simpo', 'ropo', 'sft'];

for (const arch of ['llama', 'qwen2', 'qwen3'] as const) {
  for (const mode of ['lora', 'full'] as const) {
    test.serial(`gradients of every loss match finite differences (${arch}, ${mode})`, async (t) => {
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
        const smoothed = await directionalCheck(trainer, pairs.slice(0, P), lossSpec('sft', P, { labelSmoothing: 0.3 }), 99);
        t.true(smoothed.rel < TOL, `sft, label smoothing 0.3: rel ${smoothed.rel.toExponential(2)}`);
      } finally {
        trainer.dispose();
      }
    });
  }
}

/**
 * Per-block checks: each trainable tensor is perturbed alone along K random directions drawn
 * independently of the analytic gradient, so a block whose gradient is missing or wrong shows
 * up as its own error of O(1) instead of vanishing in the whole vector's directional derivative.
 * Error = |a - n| / max(|a|, |n|) over the K directional derivatives (analytic a, central
 * differences n). Measured worst over all blocks: 1.5e-3 to 4.5e-3 (llama/qwen2/qwen3, LoRA and
 * full, ACO and SFT; F32 rounding of the loss over 2 * EPS is ~1e-5 absolute); a dropped block
 * gives 1.
 */
const BLOCK_TOL = 2e-2;
const K = 4;

async function blockErrors(t: Trainer, seqs: TrainSequence[], spec: NativeLossSpec, seed: number): Promise<Map<string, number>> {
  const theta = await t.parameters();
  await lossAt(t, seqs, spec);
  const g = await t.gradients();
  const rng = new Rng(seed);
  const errors = new Map<string, number>();
  let off = 0;
  for (const { name, size } of t.info.tensors) {
    let aa = 0;
    let nn = 0;
    let dd = 0;
    for (let k = 0; k < K; k++) {
      const d = Float64Array.from({ length: size }, () => rng.next() - 0.5);
      const dNorm = norm(d);
      let a = 0;
      for (let i = 0; i < size; i++) a += (g[off + i]! * d[i]!) / dNorm;
      const at = async (sign: number) => {
        const p = Float32Array.from(theta);
        for (let i = 0; i < size; i++) p[off + i]! += (sign * EPS * d[i]!) / dNorm;
        await t.setParameters(p);
        return lossAt(t, seqs, spec);
      };
      const n = ((await at(+1)) - (await at(-1))) / (2 * EPS);
      aa += a * a;
      nn += n * n;
      dd += (a - n) ** 2;
    }
    errors.set(name, Math.sqrt(dd) / Math.max(Math.sqrt(aa), Math.sqrt(nn), 1e-30));
    off += size;
  }
  await t.setParameters(theta);
  return errors;
}

const worst = (errors: Map<string, number>) => [...errors].reduce((w, e) => (e[1] > w[1] ? e : w), ['', 0] as [string, number]);

for (const arch of ['llama', 'qwen2', 'qwen3'] as const) {
  for (const mode of ['lora', 'full'] as const) {
    test.serial(`every parameter block's gradient matches finite differences along random directions (${arch}, ${mode})`, async (t) => {
      const model = await makeTemp({ arch, shape: 'tiny', seed: 11 });
      const trainer = await Trainer.create({ model, full: mode === 'full', lora: { rank: 4, initBStd: 0.05 }, threads: 2, seed: 5 });
      try {
        const P = 3;
        const errors = await blockErrors(trainer, randomPairs(P, trainer.info.nVocab, 17), lossSpec('aco', P), 7);
        t.true(errors.size === trainer.info.tensors.length && errors.size > 0);
        const [name, err] = worst(errors);
        t.log(`worst block ${name}: ${err.toExponential(2)}`);
        t.true(err < BLOCK_TOL, `${name}: error ${err.toExponential(2)}`);
      } finally {
        trainer.dispose();
      }
    });
  }
}

// Teeth: a fault injected into the native gradient (GENIUS_DEBUG_DROP_GRAD drops the gradient of
// the tensors whose name contains it) must fail exactly the dropped blocks. These are the cases
// the old whole-vector check passed at 1e-4 to 1e-3.
const faults: [mode: 'lora' | 'full', drop: string][] = [
  ['full', 'token_embd'],
  ['full', 'output.weight'],
  ['full', 'blk.1.attn_'],
  ['lora', 'blk.0.attn_'],
];
for (const [mode, drop] of faults) {
  test.serial(`the block check catches a dropped gradient: ${drop} (${mode})`, async (t) => {
    const model = await makeTemp({ arch: 'llama', shape: 'tiny', seed: 11 });
    const trainer = await Trainer.create({ model, full: mode === 'full', lora: { rank: 4, initBStd: 0.05 }, threads: 2, seed: 5 });
    process.env.GENIUS_DEBUG_DROP_GRAD = drop;
    try {
      const P = 3;
      const errors = await blockErrors(trainer, randomPairs(P, trainer.info.nVocab, 17), lossSpec('aco', P), 7);
      const failed = [...errors].filter(([, e]) => e >= BLOCK_TOL).map(([n]) => n);
      const dropped = trainer.info.tensors.map((x) => x.name).filter((n) => n.includes(drop));
      t.true(dropped.length > 0, `no tensor named like ${drop}`);
      t.deepEqual(failed, dropped);
    } finally {
      delete process.env.GENIUS_DEBUG_DROP_GRAD;
      trainer.dispose();
    }
  });
}
