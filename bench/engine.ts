// Engine vs llama.cpp's own llama-batched-bench, built from the same vendored tree: same model,
// same prompt and generation lengths, same threads and cache settings; prints generation tok/s
// of both and their ratio per batch size.
//
//   npm run build:bench-tools   # once: builds build/bench/bin/llama-batched-bench
//   node dist/bench/engine.js [--batches 1,8,32,64] [--prompt 128] [--gen 64] [--threads N]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from '../src/engine/context.js';
import { Model } from '../src/engine/model.js';
import { packageRoot } from '../src/engine/native.js';
import { benchModel, machine, printTable, seededTokens, timed, benchArgs } from './common.js';

const opt = benchArgs(import.meta.url, {
  batches: { type: 'string', default: '1,8,32,64' },
  prompt: { type: 'string', default: '128' },
  gen: { type: 'string', default: '64' },
  threads: { type: 'string', default: String(Math.max(1, (await import('node:os')).availableParallelism())) },
  shape: { type: 'string', default: 'small' },
  dtype: { type: 'string', default: 'f16' },
  vocab: { type: 'string', default: 'builtin' },
  'flash-attn': { type: 'string', default: 'auto' },
  'gpu-layers': { type: 'string', default: '0' },
  baseline: { type: 'string', default: join(packageRoot, 'build', 'bench', 'bin', 'llama-batched-bench') },
  repeat: { type: 'string', default: '3' },
});
const batches = opt.batches.split(',').map(Number);
const pp = Number(opt.prompt);
const tg = Number(opt.gen);
const threads = Number(opt.threads);
const fa = opt['flash-attn'] as 'auto' | 'on' | 'off';
const modelPath = await benchModel(opt.shape as 'small', opt.dtype as 'f16', opt.vocab);

/** Our engine: b prompts prefilled, then b sampled generations of tg tokens, all batched. */
async function engineTokPerSec(model: Model, b: number, kvUnified: boolean): Promise<number> {
  const ctx = await Context.create(model, {
    contextSize: b * (pp + tg + 8),
    maxSequences: b,
    batchSize: 2048,
    ubatchSize: 512,
    threads,
    flashAttention: fa,
    kvUnified,
  });
  try {
    const seqs = await Promise.all(Array.from({ length: b }, (_, i) => ctx.sequence(seededTokens(pp, 1 + i, model.info.vocabSize))));
    const { seconds } = await timed(() =>
      Promise.all(seqs.map((s, i) => s.generate({ maxTokens: tg, temperature: 1, seed: i, stopAtEog: false }))),
    );
    return (b * tg) / seconds;
  } finally {
    ctx.dispose();
  }
}

/** llama-batched-bench's generation speed (speed_tg) per batch size, same settings. */
function baselineTokPerSec(unified: boolean): Map<number, number> {
  if (!existsSync(opt.baseline)) throw new Error(`${opt.baseline} not found: run \`npm run build:bench-tools\` first`);
  const maxCtx = Math.max(...batches) * (pp + tg) + 256;
  const args = [
    '-m',
    modelPath,
    '-c',
    String(maxCtx),
    '-b',
    '2048',
    '-ub',
    '512',
    '-npp',
    String(pp),
    '-ntg',
    String(tg),
    '-npl',
    batches.join(','),
    '-t',
    String(threads),
    '-tb',
    String(threads),
    '-fa',
    fa,
    '-ngl',
    opt['gpu-layers'],
    '--output-format',
    'jsonl',
    ...(unified ? ['-kvu'] : []),
  ];
  const r = spawnSync(opt.baseline, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`llama-batched-bench failed (${r.status}): ${r.stderr.slice(-500)}`);
  const speeds = new Map<number, number>();
  for (const line of (r.stdout + r.stderr).split('\n')) {
    if (!line.startsWith('{')) continue;
    const row = JSON.parse(line) as { pl: number; speed_tg: number };
    speeds.set(row.pl, row.speed_tg);
  }
  return speeds;
}

const model = await Model.load(modelPath, { gpuLayers: Number(opt['gpu-layers']) });
console.log(
  `engine vs llama-batched-bench: ${opt.shape}/${opt.dtype} (${model.info.parameterCount} parameters, vocab ${model.info.vocabSize}), prompt ${pp}, gen ${tg}, threads ${threads}, flash-attn ${fa}`,
);
console.log(`machine: ${machine()}`);
// Shared machines are noisy: interleave the runs and keep each configuration's best.
const repeat = Number(opt.repeat);
const best = (runs: Map<number, number>[]) => new Map(batches.map((b) => [b, Math.max(...runs.map((r) => r.get(b) ?? 0))]));
const splitRuns: Map<number, number>[] = [];
const unifiedRuns: Map<number, number>[] = [];
const oursRuns: Map<number, number>[] = [];
const oursUnifiedRuns: Map<number, number>[] = [];
for (let i = 0; i < repeat; i++) {
  splitRuns.push(baselineTokPerSec(false));
  unifiedRuns.push(baselineTokPerSec(true));
  const ours = new Map<number, number>();
  const oursU = new Map<number, number>();
  for (const b of batches) {
    ours.set(b, await engineTokPerSec(model, b, false));
    oursU.set(b, await engineTokPerSec(model, b, true));
  }
  oursRuns.push(ours);
  oursUnifiedRuns.push(oursU);
}
const split = best(splitRuns);
const unified = best(unifiedRuns);
const rows: (string | number)[][] = [];
for (const b of batches) {
  const ours = best(oursRuns).get(b)!;
  const oursUnified = best(oursUnifiedRuns).get(b)!;
  const theirBest = Math.max(split.get(b) ?? 0, unified.get(b) ?? 0);
  rows.push([b, ours, split.get(b)!, ours / split.get(b)!, oursUnified, unified.get(b)!, oursUnified / unified.get(b)!, ours / theirBest]);
}
printTable(
  ['batch', 'engine', 'batched-bench', 'ratio', 'engine unified', 'batched-bench -kvu', 'ratio unified', 'engine (default) / best'],
  rows,
);
console.log(`tok/s of generation, best of ${repeat} interleaved runs (the engine samples every token; batched-bench only decodes)`);
model.dispose();
