// Teacher-forced scoring throughput: ONNX Runtime (CPU provider) on the exported model vs the
// native engine on the GGUF, same model, same batch, same threads, in one run. Also checks that
// the two agree on this model (the oracle at benchmark size).
//
//   node dist/bench/onnx.js [--batch 8] [--prompt 128] [--continuation 64] [--shape small | --model builtin]
//                           [--threads N] [--repeat 3]
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Context, type ContextOptions } from '../src/engine/context.js';
import { Model } from '../src/engine/model.js';
import { EngineScorer, type ScoreItem, type Scorer } from '../src/engine/scorer.js';
import { exportOnnx } from '../src/onnx/export.js';
import { OnnxScorer } from '../src/onnx/scorer.js';
import { TrainerScorer } from '../src/train/reference.js';
import { BUILTIN_MODEL_PATH } from '../src/builtin/index.js';
import { benchDir, benchModel, machine, printTable, seededTokens, timed, benchArgs } from './common.js';

const opt = benchArgs(import.meta.url, {
  batch: { type: 'string', default: '8' },
  prompt: { type: 'string', default: '128' },
  continuation: { type: 'string', default: '64' },
  shape: { type: 'string', default: 'small' },
  model: { type: 'string' },
  vocab: { type: 'string', default: 'builtin' },
  threads: { type: 'string', default: String(availableParallelism()) },
  repeat: { type: 'string', default: '3' },
});
const B = Number(opt.batch),
  P = Number(opt.prompt),
  C = Number(opt.continuation);
const threads = Number(opt.threads);

// ONNX Runtime computes in float32, so both engines get the F32 model.
const builtin = opt.model === 'builtin';
const gguf = builtin ? BUILTIN_MODEL_PATH : await benchModel(opt.shape as 'small', 'f32', opt.vocab);
const onnxPath = join(benchDir(), builtin ? 'builtin.onnx' : `${opt.shape}-f32.onnx`);
const exported = await timed(() => exportOnnx({ model: gguf, out: onnxPath }));
const model = await Model.load(gguf);
const V = model.info.vocabSize;
// Prompts of different lengths (P/2 .. P), as a reference pass over a batch of pairs has.
const items: ScoreItem[] = Array.from({ length: B }, (_, i) => ({
  prefix: seededTokens(Math.round(P / 2 + ((P / 2) * i) / Math.max(1, B - 1)), 1 + i, V),
  continuation: seededTokens(C, 1000 + i, V),
}));
const evaluated = items.reduce((s, it) => s + it.prefix.length + it.continuation.length - 1, 0);

console.log(
  `scoring: ONNX Runtime ${(await import('onnxruntime-node')).default.env.versions.node} CPU vs native engine, ${builtin ? 'built-in genius-tiny (F16 GGUF)' : `${opt.shape}/f32`} (${model.info.parameterCount} parameters, vocab ${V})`,
);
console.log(
  `batch ${B}, prompts ${items[0]!.prefix.length}..${items[B - 1]!.prefix.length} tokens, continuations ${C}, ${evaluated} tokens evaluated per pass, threads ${threads}`,
);
console.log(`machine: ${machine()}`);
console.log(`export: ${exported.seconds.toFixed(1)} s, ${(exported.value.bytes / 2 ** 20).toFixed(0)} MiB`);

const cellsPerSequence = Math.ceil((P + C + 8) / 256) * 256;
async function engineScorer(options: ContextOptions): Promise<{ scorer: Scorer; dispose: () => void }> {
  const ctx = await Context.create(model, {
    ...options,
    contextSize: B * cellsPerSequence,
    maxSequences: B,
    batchSize: 2048,
    ubatchSize: 512,
    threads,
  });
  return { scorer: new EngineScorer(ctx), dispose: () => ctx.dispose() };
}
const engines = {
  'engine (defaults: flash attention auto, F16 KV)': await engineScorer({}),
  'engine (exact: no flash attention, F32 KV)': await engineScorer({ flashAttention: 'off', kvType: 'f32' }),
};
const onnx = await OnnxScorer.create(onnxPath, { threads, vocabSize: V, maxBatchTokens: 1 << 16 });
// The trainer's own forward (`--reference trainer`): one packed graph, no KV cache, logits only
// where a continuation token is predicted.
const trainerScorer = await TrainerScorer.open(gguf, undefined, { threads });

// Agreement at this size (exact engine vs ONNX Runtime).
const [a, b] = [await engines['engine (exact: no flash attention, F32 KV)'].scorer.scoreBatch(items), await onnx.scoreBatch(items)];
let diff = 0;
a.forEach((row, i) => row.forEach((v, j) => (diff = Math.max(diff, Math.abs(v - b[i]![j]!)))));
console.log(`max |log p engine (exact) - log p ONNX Runtime| = ${diff.toExponential(2)}`);
const c = await trainerScorer.scoreBatch(items);
let diffTrainer = 0;
c.forEach((row, i) => row.forEach((v, j) => (diffTrainer = Math.max(diffTrainer, Math.abs(v - b[i]![j]!)))));
console.log(`max |log p trainer - log p ONNX Runtime| = ${diffTrainer.toExponential(2)}`);

// Shared machines are noisy: interleave the runs and keep each scorer's best.
const scorers: [string, Scorer][] = [
  ...Object.entries(engines).map(([k, v]) => [k, v.scorer] as [string, Scorer]),
  ['trainer forward (--reference trainer)', trainerScorer],
  ['ONNX Runtime CPU', onnx],
];
const best = new Map<string, number>(scorers.map(([k]) => [k, Infinity]));
for (let r = 0; r < Number(opt.repeat); r++) {
  for (const [name, s] of scorers) {
    const { seconds } = await timed(() => s.scoreBatch(items));
    best.set(name, Math.min(best.get(name)!, seconds));
  }
}
const engineExact = best.get('engine (exact: no flash attention, F32 KV)')!;
printTable(
  ['scorer', 'seconds', 'tokens/s', 'vs ONNX Runtime'],
  scorers.map(([name]) => [name, best.get(name)!, evaluated / best.get(name)!, best.get('ONNX Runtime CPU')! / best.get(name)!]),
);
console.log(
  `best of ${opt.repeat} interleaved passes; tokens/s counts every evaluated position; ONNX Runtime / engine (exact) time ratio ${(best.get('ONNX Runtime CPU')! / engineExact).toFixed(2)}`,
);
await onnx.dispose();
trainerScorer.dispose();
for (const e of Object.values(engines)) e.dispose();
model.dispose();
