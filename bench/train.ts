// Training throughput and memory: ACO steps on P pairs of L-token sequences (prompt + response),
// LoRA and full-weight, next to the rollout engine scoring the same tokens (forward only) in the
// same run. A training step is forward + backward (~3x the forward's work), so the ratio
// train/score shows what the backward pass costs on this backend.
//
// Memory: `--dtype` picks the file's matrix type and `--base native,f32` compares LoRA through
// base weights kept in that type with the F32 path (the same weights dequantized); `--measure`
// only builds and allocates one micro-batch's training graph (no compute, no engine baseline),
// which is how an 8B shape's memory is measured on a small CPU machine. Writes `--json` results.
//
//   node dist/bench/train.js [--shape small] [--dtype f32] [--vocab builtin|PATH] [--pairs 4]
//                            [--tokens 512] [--prompt 64] [--steps 3] [--rank 16] [--modes lora,full]
//                            [--base native] [--measure] [--backend cpu|cuda] [--threads 0] [--json PATH]
import { writeFileSync } from 'node:fs';
import { Context } from '../src/engine/context.js';
import { Model } from '../src/engine/model.js';
import { Trainer } from '../src/train/trainer.js';
import type { ShapeName } from '../src/modelmaker/index.js';
import type { ModelDtype } from '../src/engine/native.js';
import { benchModel, machine, printTable, acoBenchStep, timed, benchArgs, ACO_STEP_OPTIONS } from './common.js';

const opt = benchArgs(import.meta.url, {
  ...ACO_STEP_OPTIONS,
  dtype: { type: 'string', default: 'f32' },
  vocab: { type: 'string', default: 'builtin' },
  base: { type: 'string', default: 'native' },
  measure: { type: 'boolean', default: false },
  json: { type: 'string' },
});
const P = Number(opt.pairs),
  L = Number(opt.tokens),
  Lp = Number(opt.prompt),
  steps = Number(opt.steps);
const backend = opt.backend as 'cpu' | 'cuda';

const modelPath = await benchModel(opt.shape as ShapeName, opt.dtype as ModelDtype, opt.vocab);
const probe = await Model.load(modelPath);
const vocab = probe.info.vocabSize;
probe.dispose();
const { seqs, tokensPerStep, loss } = acoBenchStep(P, L, Lp, vocab);

const rows: (string | number)[][] = [];
const results: Record<string, unknown>[] = [];
const MiB = (b: number) => (b / 2 ** 20).toFixed(0);

/** A trainer on the benchmark model in one mode (`lora` or `full`) with its base weights' type. */
function openTrainer(mode: string, base: string): Promise<Trainer> {
  return Trainer.create({
    model: modelPath,
    full: mode === 'full',
    lora: { rank: Number(opt.rank) },
    baseWeights: base as 'native' | 'f32',
    backend,
    threads: Number(opt.threads),
  });
}

if (opt.measure) {
  // Graph allocation only: weights loaded, one micro-batch's forward + backward graph allocated.
  for (const mode of opt.modes.split(',')) {
    for (const base of mode === 'lora' ? opt.base.split(',') : ['f32']) {
      const trainer = await openTrainer(mode, base);
      const total = await trainer.measure(seqs, loss);
      const info = trainer.info;
      const run = `${mode}${mode === 'lora' ? ` r=${opt.rank}, base ${base}` : ''}`;
      rows.push([run, MiB(info.weightBytes), MiB(info.peakGraphBytes), MiB(total), (total / 2 ** 30).toFixed(2)]);
      results.push({
        run,
        mode,
        base,
        weightBytes: info.weightBytes,
        graphBytes: info.peakGraphBytes,
        totalBytes: total,
        weightTypes: info.weightTypes,
        dequantized: info.dequantized,
      });
      trainer.dispose();
    }
  }
  const byBase = (b: string) => results.find((r) => r.mode === 'lora' && r.base === b)?.totalBytes as number | undefined;
  const ratio = byBase('native') && byBase('f32') ? byBase('native')! / byBase('f32')! : undefined;
  console.log(
    `# training memory (graph allocation only): ${opt.shape} ${opt.dtype}, vocab ${opt.vocab}, ${P} pairs x ${L} tokens (${tokensPerStep} tokens/micro-batch), backend ${backend}, ${machine()}, RSS ${MiB(process.memoryUsage().rss)} MiB`,
  );
  printTable(['run', 'weights MiB', 'graph MiB', 'trainer MiB', 'trainer GiB'], rows);
  if (ratio) console.log(`LoRA memory, native ${opt.dtype} base / F32 base: ${ratio.toFixed(3)}`);
  if (opt.json)
    writeFileSync(
      opt.json,
      JSON.stringify(
        {
          bench: 'train-memory',
          shape: opt.shape,
          dtype: opt.dtype,
          vocab: opt.vocab,
          pairs: P,
          tokens: L,
          backend,
          machine: machine(),
          results,
          ratio,
        },
        null,
        2,
      ),
    );
  process.exit(0);
}

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

for (const [mode, base] of opt.modes
  .split(',')
  .flatMap((m) => (m === 'lora' ? opt.base.split(',') : ['f32']).map((b) => [m, b] as const))) {
  const trainer = await openTrainer(mode, base);
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
  const run = `train ${mode}${mode === 'lora' ? ` r=${opt.rank}${opt.dtype === 'f32' ? '' : `, base ${base}`}` : ''} (ACO step)`;
  rows.push([run, tps, MiB(info.memoryBytes), MiB(info.peakGraphBytes), tps / scoreTps]);
  results.push({
    run,
    mode,
    base,
    tokensPerSecond: tps,
    memoryBytes: info.memoryBytes,
    graphBytes: info.peakGraphBytes,
    ratioVsScore: tps / scoreTps,
  });
  trainer.dispose();
}

console.log(
  `# training: ${opt.shape} ${opt.dtype}, ${P} pairs x ${L} tokens (${tokensPerStep} tokens/step), backend ${backend}, ${machine()}, RSS ${MiB(process.memoryUsage().rss)} MiB`,
);
printTable(['run', 'tokens/s', 'trainer MiB', 'graph MiB', 'ratio vs score'], rows);
if (opt.json)
  writeFileSync(
    opt.json,
    JSON.stringify(
      {
        bench: 'train',
        shape: opt.shape,
        dtype: opt.dtype,
        pairs: P,
        tokens: L,
        backend,
        machine: machine(),
        engineScoreTokensPerSecond: scoreTps,
        results,
      },
      null,
      2,
    ),
  );
