// Training throughput and memory: ACO steps on P pairs of L-token sequences (prompt + response),
// LoRA and full-weight, next to the rollout engine scoring the same tokens (forward only) in the
// same run. A training step is forward + backward (~3x the forward's work), so the ratio
// train/score shows what the backward pass costs on this backend.
//
//   node dist/bench/train.js [--shape small] [--pairs 4] [--tokens 512] [--prompt 64]
//                            [--steps 3] [--rank 16] [--backend cpu|cuda] [--threads 0]
import { parseArgs } from 'node:util';
import { Context } from '../src/engine/context.js';
import { Model } from '../src/engine/model.js';
import { Trainer, type TrainSequence } from '../src/train/trainer.js';
import type { ShapeName } from '../src/modelmaker/index.js';
import { benchModel, machine, printTable, seededTokens, timed } from './common.js';

const { values: opt } = parseArgs({
  options: {
    shape: { type: 'string', default: 'small' },
    pairs: { type: 'string', default: '4' },
    tokens: { type: 'string', default: '512' },
    prompt: { type: 'string', default: '64' },
    steps: { type: 'string', default: '3' },
    rank: { type: 'string', default: '16' },
    backend: { type: 'string', default: 'cpu' },
    threads: { type: 'string', default: '0' },
    modes: { type: 'string', default: 'lora,full' },
  },
});
const P = Number(opt.pairs), L = Number(opt.tokens), Lp = Number(opt.prompt), steps = Number(opt.steps);
const backend = opt.backend as 'cpu' | 'cuda';

const modelPath = await benchModel(opt.shape as ShapeName, 'f32');
const probe = await Model.load(modelPath);
const vocab = probe.info.vocabSize;
probe.dispose();
const seqs: TrainSequence[] = Array.from({ length: 2 * P }, (_, i) => {
  const t = seededTokens(L, 100 + i, vocab);
  return { prompt: t.slice(0, Lp), response: t.slice(Lp) };
});
const tokensPerStep = seqs.reduce((a, s) => a + s.prompt.length + s.response.length, 0);
const loss = { type: 'aco' as const, beta: 0.1, weight: Array(P).fill(0.7), refChosen: Array(P).fill(-3000), refRejected: Array(P).fill(-3000), scale: 1 / P };

const rows: (string | number)[][] = [];

// Baseline: the engine scores the same sequences (teacher forcing, no gradients).
{
  const model = await Model.load(modelPath);
  const ctx = await Context.create(model, { maxSequences: 2 * P, sequenceContextSize: L + 256, threads: Number(opt.threads) || undefined });
  await Promise.all(seqs.map((s) => ctx.score(s.prompt, s.response)));
  const { seconds } = await timed(() => Promise.all(seqs.map((s) => ctx.score(s.prompt, s.response))));
  rows.push(['engine score (forward)', tokensPerStep / seconds, '-', '-', 1]);
  ctx.dispose();
  model.dispose();
}
const scoreTps = rows[0]![1] as number;

for (const mode of opt.modes.split(',')) {
  const trainer = await Trainer.create({ model: modelPath, full: mode === 'full', lora: { rank: Number(opt.rank) }, backend, threads: Number(opt.threads) });
  await trainer.zeroGrad();
  await trainer.accumulate(seqs, loss);
  await trainer.step({ lr: 1e-6 });
  const { seconds } = await timed(async () => {
    for (let i = 0; i < steps; i++) {
      await trainer.zeroGrad();
      await trainer.accumulate(seqs, loss);
      await trainer.step({ lr: 1e-6 });
    }
  });
  const tps = (steps * tokensPerStep) / seconds;
  const info = trainer.info;
  rows.push([`train ${mode}${mode === 'lora' ? ` r=${opt.rank}` : ''} (ACO step)`, tps, (info.memoryBytes / 2 ** 20).toFixed(0), (info.peakGraphBytes / 2 ** 20).toFixed(0), tps / scoreTps]);
  trainer.dispose();
}

console.log(`# training: ${opt.shape} F32, ${P} pairs x ${L} tokens (${tokensPerStep} tokens/step), backend ${backend}, ${machine()}, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
printTable(['run', 'tokens/s', 'trainer MiB', 'graph MiB', 'ratio vs score'], rows);
