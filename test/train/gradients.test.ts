import test from 'ava';
import { makeTemp } from '../helpers.js';
import { Trainer } from '../../src/train/trainer.js';
import type { NativeLossSpec } from '../../src/engine/native.js';
import { directionalCheck, lossSpec, randomPairs, TOL_FD as TOL } from './fixtures.js';

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
