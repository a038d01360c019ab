import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cliPath, makeTemp, tempDir } from '../helpers.js';
import { runTraining, type TrainRunOptions, type TrainStepRecord } from '../../src/train/run.js';
import { resolveLossConfig } from '../../src/losses/index.js';
import { Trainer } from '../../src/train/trainer.js';
import { Model } from '../../src/engine/model.js';
import { Adapter, Context } from '../../src/engine/context.js';
import { loadPairs } from '../../src/train/data.js';
import { referenceKey } from '../../src/train/reference.js';
import { linearSchedule } from '../../src/train/schedule.js';
import { pairsFile } from './fixtures.js';

const exec = promisify(execFile);

async function setup(n = 8, seed = 4) {
  const dir = tempDir();
  const model = await makeTemp({ arch: 'llama', shape: 'tiny', seed: 2 });
  return { dir, model, pairs: pairsFile(join(dir, 'pairs.jsonl'), n, seed) };
}

function options(model: string, pairs: string, out: string, extra: Partial<TrainRunOptions> = {}): TrainRunOptions {
  return {
    model,
    pairs,
    out,
    loss: resolveLossConfig('aco'),
    lr: 5e-3,
    epochs: 1,
    batchPairs: 4,
    gradAccum: 1,
    maxSeqLen: 256,
    seed: 1,
    threads: 2,
    lora: { rank: 8 },
    warmupRatio: 0,
    ...extra,
  };
}

const metrics = (out: string) =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TrainStepRecord);

test('linear warmup then linear decay, as Hugging Face schedules it', (t) => {
  t.deepEqual(
    [0, 1, 2, 3, 4, 9].map((s) => linearSchedule(1, s, 10, 0.2)),
    [0, 0.5, 1, 7 / 8, 6 / 8, 1 / 8],
  );
  t.is(linearSchedule(2, 0, 5, 0), 2);
});

test('a few hundred steps on a fixed pair set drive accuracy to 1 and margins up (it can learn)', async (t) => {
  const { dir, model, pairs } = await setup(8);
  const out = join(dir, 'run');
  const s = await runTraining(options(model, pairs, out, { epochs: 200, batchPairs: 8, checkpointEvery: 1000 }));
  const m = metrics(out);
  t.is(m.length, 200);
  t.true(Math.abs(m[0]!.loss - Math.log(2)) < 1e-4, 'policy == reference at step 0 gives loss ln 2');
  t.true(Math.abs(m[0]!['rewards/margins']) < 1e-4);
  t.is(s.last!['rewards/accuracies'], 1);
  t.true(s.last!['rewards/margins'] > 2, `margin ${s.last!['rewards/margins']}`);
  t.true(s.last!.loss < 0.05);
  t.true(existsSync(s.output));
});

test('resume after a kill gives bit-identical weights and metrics (CPU)', async (t) => {
  const { dir, model, pairs } = await setup(12);
  const base = { epochs: 3, batchPairs: 2, gradAccum: 2, checkpointEvery: 2 };
  const straight = await runTraining(options(model, pairs, join(dir, 'a'), base));
  const out = join(dir, 'b');
  await t.throwsAsync(runTraining(options(model, pairs, out, { ...base, stopAfterSteps: 5 })), { message: /stopped/ });
  // The step after the last checkpoint (step 4) left a metrics line that the resumed run redoes.
  t.is(metrics(out).length, 5);
  const resumed = await runTraining(options(model, pairs, out, base));
  t.is(resumed.resumedFrom, 4);
  t.deepEqual(readFileSync(resumed.output), readFileSync(straight.output));
  const strip = (ms: TrainStepRecord[]) => ms.map(({ tokens_per_s, ...rest }) => (void tokens_per_s, rest));
  t.deepEqual(strip(metrics(out)), strip(metrics(join(dir, 'a'))));
  // A finished run is not redone.
  t.is((await runTraining(options(model, pairs, out, base))).seconds, resumed.seconds);
});

test('adapter round trip: trainer log-probs == rollout engine with the saved adapter; merged model == adapter', async (t) => {
  const { dir, model, pairs } = await setup(6);
  const s = await runTraining(options(model, pairs, join(dir, 'run'), { epochs: 20, batchPairs: 6 }));
  const m = await Model.load(model);
  const data = loadPairs(pairs, m, { maxSeqLen: 256, truncation: 'truncate' });
  const seqs = data.pairs.map((p) => ({ prompt: p.prompt, response: p.chosen }));
  const ctx = await Context.create(m, { flashAttention: 'off', kvType: 'f32', maxSequences: 8 });
  const adapter = await Adapter.load(m, s.output);
  await ctx.setAdapters([{ adapter }]);
  const engine = await Promise.all(seqs.map((q) => ctx.score(q.prompt, q.response)));
  await ctx.setAdapters([]);
  const base = await Promise.all(seqs.map((q) => ctx.score(q.prompt, q.response)));
  ctx.dispose();
  m.dispose();
  const trainer = await Trainer.create({ model, adapter: s.output, threads: 2 });
  const trained = await trainer.logprobs(seqs);
  const merged = join(dir, 'merged.gguf');
  await trainer.saveModel(merged);
  trainer.dispose();
  const diff = (a: number[][], b: number[][]) => Math.max(...a.flatMap((r, i) => r.map((x, j) => Math.abs(x - b[i]![j]!))));
  t.true(diff(trained, engine) < 2e-5, `trainer vs engine+adapter ${diff(trained, engine)}`);
  t.true(diff(engine, base) > 1e-2, 'the adapter changed the model');
  const mm = await Model.load(merged);
  const mctx = await Context.create(mm, { flashAttention: 'off', kvType: 'f32', maxSequences: 8 });
  const viaMerged = await Promise.all(seqs.map((q) => mctx.score(q.prompt, q.response)));
  mctx.dispose();
  mm.dispose();
  t.true(diff(viaMerged, engine) < 1e-4, `merged vs adapter ${diff(viaMerged, engine)}`);
});

test('full-weight training writes a model the engine loads', async (t) => {
  const { dir, model, pairs } = await setup(4);
  const s = await runTraining(options(model, pairs, join(dir, 'full'), { full: true, lr: 1e-3, epochs: 3 }));
  t.regex(s.output, /model\.gguf$/);
  const m = await Model.load(s.output);
  t.is(m.info.architecture, 'llama');
  m.dispose();
});

test('a diverging run stops with a clear message and keeps its last good checkpoint', async (t) => {
  const { dir, model, pairs } = await setup(8);
  const out = join(dir, 'nan');
  const err = await t.throwsAsync(
    runTraining(
      options(model, pairs, out, {
        full: true,
        lr: 1e12,
        maxGradNorm: 0,
        epochs: 30,
        batchPairs: 8,
        checkpointEvery: 1,
        loss: resolveLossConfig('sft'),
      }),
    ),
  );
  t.regex(err!.message, /training stopped at step \d+: .*not finite.*last good checkpoint is step \d+/);
  const progress = JSON.parse(readFileSync(join(out, 'checkpoint', 'progress.json'), 'utf8')) as { step: number; state: string };
  t.true(existsSync(join(out, 'checkpoint', progress.state)));
  const trainer = await Trainer.create({ model, full: true, threads: 1 });
  await t.notThrowsAsync(trainer.loadState(join(out, 'checkpoint', progress.state)));
  trainer.dispose();
});

test('genius train: CLI end to end and named errors for bad input', async (t) => {
  const { dir, model, pairs } = await setup(4);
  const out = join(dir, 'cli');
  const { stdout } = await exec(
    'node',
    [
      cliPath,
      'train',
      '--model',
      model,
      '--pairs',
      pairs,
      '--out',
      out,
      '--lr',
      '1e-3',
      '--loss',
      'dpo',
      '--epochs',
      '1',
      '--max-seq-len',
      '128',
      '--threads',
      '2',
      '--json',
    ],
    { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } },
  );
  const summary = JSON.parse(stdout) as { output: string; steps: number };
  t.is(summary.steps, 1);
  t.true(existsSync(summary.output));
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, readFileSync(pairs, 'utf8') + '{"prompt": "x", "chosen": \n');
  const r = await exec('node', [cliPath, 'train', '--model', model, '--pairs', bad, '--out', join(dir, 'bad')]).catch(
    (e: { stderr: string; code: number }) => e,
  );
  t.regex((r as { stderr: string }).stderr, /bad\.jsonl:5: malformed JSON/);
  const missing = await exec('node', [
    cliPath,
    'train',
    '--model',
    model,
    '--pairs',
    join(dir, 'nope.jsonl'),
    '--out',
    join(dir, 'x'),
  ]).catch((e: { stderr: string }) => e);
  t.regex((missing as { stderr: string }).stderr, /pairs file not found/);
  const merged = join(dir, 'merged.gguf');
  await exec('node', [cliPath, 'merge-adapter', '--model', model, '--adapter', summary.output, '--out', merged]);
  t.true(existsSync(merged));
});

test('reference log-probs from ONNX Runtime (--reference onnx:PATH) agree with the trainer: the first loss is ln 2', async (t) => {
  const { exportOnnx } = await import('../../src/onnx/index.js');
  const { dir, model, pairs } = await setup(4);
  const onnx = join(dir, 'model.onnx');
  await exportOnnx({ model, out: onnx });
  const out = join(dir, 'onnx-ref');
  await runTraining(options(model, pairs, out, { reference: `onnx:${onnx}`, lr: 0 }));
  const [first] = metrics(out);
  t.true(Math.abs(first!.loss - Math.log(2)) < 1e-4, `loss ${first!.loss}`);
  t.true(Math.abs(first!['rewards/margins']) < 1e-4);
  await t.throwsAsync(runTraining(options(model, pairs, join(dir, 'bad-ref'), { reference: 'onnx:' + join(dir, 'missing.onnx') })), {
    message: /missing\.onnx/,
  });
});

test('the default reference (the trainer forward): step-0 loss is ln 2 to float precision and fresh runs are bit-identical', async (t) => {
  const { dir, model, pairs } = await setup(6);
  // No `reference` option: the default must be the batch-independent scorer.
  const a = await runTraining(options(model, pairs, join(dir, 'ta'), { epochs: 3, batchPairs: 3 }));
  const first = metrics(join(dir, 'ta'))[0]!;
  t.true(Math.abs(first.loss - Math.log(2)) < 1e-6, `loss ${first.loss}`);
  t.true(Math.abs(first['rewards/margins']) < 1e-5);
  // A second run in a fresh directory (its reference recomputed) writes the same adapter.
  const pairs2 = join(dir, 'copy.jsonl');
  writeFileSync(pairs2, readFileSync(pairs));
  const b = await runTraining(options(model, pairs2, join(dir, 'tb'), { epochs: 3, batchPairs: 3 }));
  t.deepEqual(readFileSync(b.output), readFileSync(a.output));
  // The cached reference is the trainer scorer's (its key names the scorer).
  const m = await Model.load(model);
  const data = loadPairs(pairs, m, { maxSeqLen: 256, truncation: 'truncate' });
  m.dispose();
  t.true(existsSync(`${pairs.replace(/\.jsonl$/, '')}.ref-${referenceKey('trainer', model, undefined, data.pairs)}.jsonl`));
});

test('pairs longer than max-seq-len: truncate cuts the responses, drop leaves the pair out', async (t) => {
  const { model, pairs } = await setup(6);
  const m = await Model.load(model);
  try {
    const full = loadPairs(pairs, m, { maxSeqLen: 512, truncation: 'truncate' });
    const longest = Math.max(...full.pairs.map((p) => p.prompt.length + Math.max(p.chosen.length, p.rejected.length)));
    const L = longest - 3;
    const cut = loadPairs(pairs, m, { maxSeqLen: L, truncation: 'truncate' });
    t.true(cut.truncated > 0);
    t.is(cut.pairs.length, full.pairs.length);
    for (const p of cut.pairs) t.true(p.prompt.length + Math.max(p.chosen.length, p.rejected.length) <= L);
    const dropped = loadPairs(pairs, m, { maxSeqLen: L, truncation: 'drop' });
    t.is(dropped.dropped, cut.truncated);
    t.is(dropped.pairs.length, full.pairs.length - cut.truncated);
  } finally {
    m.dispose();
  }
});

test('LoRA targets accept PEFT module names', async (t) => {
  const { model } = await setup(1);
  const trainer = await Trainer.create({ model, lora: { rank: 2, targets: ['q_proj', 'down_proj'] }, threads: 1 });
  t.deepEqual(trainer.info.lora!.targets, ['attn_q', 'ffn_down']);
  trainer.dispose();
});

test('sftWeight adds the mean per-token NLL of the chosen responses to the preference loss, and its gradient', async (t) => {
  const { dir, model, pairs } = await setup(6);
  const one = { epochs: 1, batchPairs: 6, lr: 0 }; // one step over all pairs, no update
  await runTraining(options(model, pairs, join(dir, 'plain'), one));
  await runTraining(options(model, pairs, join(dir, 'nll'), { ...one, sftWeight: 0.5 }));
  const plain = metrics(join(dir, 'plain'))[0]!;
  const nll = metrics(join(dir, 'nll'))[0]!;
  const m = await Model.load(model);
  const data = loadPairs(pairs, m, { maxSeqLen: 256, truncation: 'truncate' });
  m.dispose();
  const trainer = await Trainer.create({ model, lora: { rank: 8 }, threads: 2 });
  try {
    const lp = (await trainer.logprobs(data.pairs.map((p) => ({ prompt: p.prompt, response: p.chosen })))).flat();
    const meanNll = -lp.reduce((a, b) => a + b, 0) / lp.length;
    t.true(Math.abs(nll.loss - plain.loss - 0.5 * meanNll) < 1e-4, `${nll.loss} - ${plain.loss} vs 0.5 * ${meanNll}`);
  } finally {
    trainer.dispose();
  }
  // The term has a gradient: the clipped gradient norm of the step differs.
  t.not(nll.grad_norm, plain.grad_norm);
});
