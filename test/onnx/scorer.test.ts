import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from '../../src/engine/context.js';
import { Model } from '../../src/engine/model.js';
import { EngineScorer } from '../../src/engine/scorer.js';
import { AbortError } from '../../src/errors.js';
import { exportOnnx, ONNX_OPSET } from '../../src/onnx/export.js';
import { attr, DT, GraphBuilder } from '../../src/onnx/graph.js';
import { OnnxScorer } from '../../src/onnx/scorer.js';
import { scorerFromSpec } from '../../src/onnx/spec.js';
import { makeTemp, tempDir, tinyRandomLlama2 } from '../helpers.js';

/** Writes a toy ONNX graph: `build` declares inputs/outputs and nodes on the builder. */
function toy(build: (gb: GraphBuilder) => void): string {
  const gb = new GraphBuilder();
  build(gb);
  const path = join(tempDir(), 'toy.onnx');
  writeFileSync(path, gb.encode(ONNX_OPSET, {}, 'test'));
  return path;
}

/**
 * A "bigram" decoder: logits at each position are row input_ids[p] of a fixed [10, 6] table,
 * with the vocabulary dimension left symbolic. Its exact log-probs are known, which pins down
 * which logits row scores which token, whatever the padding and batching.
 */
const TABLE = Float32Array.from({ length: 60 }, (_, i) => Math.sin(i * 1.7) * 3);
function bigram(): string {
  return toy((gb) => {
    gb.input('input_ids', DT.INT64, ['batch', 'seq']);
    gb.input('attention_mask', DT.INT64, ['batch', 'seq']);
    const rows = gb.op('Gather', [gb.float32('table', TABLE.slice(), [10, 6]), 'input_ids'], [attr.int('axis', 0)]);
    // A data-dependent reshape hides the vocabulary size from shape inference.
    const shape = gb.op('Concat', [gb.op('Shape', ['input_ids']), gb.constInt64([-1])], [attr.int('axis', 0)]);
    gb.op('Reshape', [rows, shape]);
    gb.nameLastOutput('logits');
    gb.output('logits', DT.FLOAT, ['batch', 'seq', 'vocab']);
  });
}
function bigramLogprob(prev: number, next: number): number {
  const row = Array.from(TABLE.subarray(prev * 6, prev * 6 + 6));
  const max = Math.max(...row);
  return row[next]! - max - Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
}

test('scores the right logits rows with either padding side and any run size', async (t) => {
  const path = bigram();
  const items = [
    { prefix: [1], continuation: [2, 3, 4] },
    { prefix: [5, 0, 3, 3, 1], continuation: [0] },
    { prefix: [2, 2], continuation: [] },
    { prefix: [4, 1, 0], continuation: [5, 5, 1, 2, 3] },
  ];
  const expected = items.map((it) => {
    const all = [...it.prefix, ...it.continuation];
    return it.continuation.map((tok, j) => bigramLogprob(all[it.prefix.length - 1 + j]!, tok));
  });
  for (const options of [{}, { padding: 'left' as const }, { maxBatchTokens: 1 }]) {
    const s = await OnnxScorer.create(path, options);
    t.is(s.vocabSize, undefined, 'symbolic vocabulary: learnt on the first run');
    const got = await s.scoreBatch(items);
    t.is(s.vocabSize, 6);
    got.forEach((row, i) => row.forEach((v, j) => t.true(Math.abs(v - expected[i]![j]!) < 1e-6, JSON.stringify(options))));
    t.is(got[2]!.length, 0);
    await s.dispose();
  }
});

test('vocabulary checks: declared size, symbolic size learnt on the first run, ids out of range', async (t) => {
  const gguf = await makeTemp({ shape: 'tiny', seed: 5 });
  const onnxPath = join(tempDir(), 'tiny.onnx');
  const { vocabSize } = await exportOnnx({ model: gguf, out: onnxPath });
  await t.throwsAsync(OnnxScorer.create(onnxPath, { vocabSize: 32000 }), {
    message: new RegExp(`vocabulary of ${vocabSize} tokens \\(logits\\), expected 32000`),
  });
  const s = await OnnxScorer.create(onnxPath, { vocabSize });
  await t.throwsAsync(s.scoreBatch([{ prefix: [1, 2], continuation: [vocabSize] }]), {
    message: new RegExp(`token ${vocabSize} is outside the ONNX model's vocabulary \\(0\\.\\.${vocabSize - 1}\\)`),
  });
  await t.throwsAsync(s.scoreBatch([{ prefix: [], continuation: [3] }]), { message: /prefix must hold at least one token/ });
  await t.throwsAsync(s.scoreBatch([{ prefix: [1], continuation: [2] }], { signal: AbortSignal.abort() }), { instanceOf: AbortError });
  await s.dispose();
  await t.throwsAsync(s.scoreBatch([{ prefix: [1], continuation: [2] }]), { message: /ONNX scorer is disposed/ });

  const toyPath = bigram();
  const wrong = await OnnxScorer.create(toyPath, { vocabSize: 7 });
  await t.throwsAsync(wrong.scoreBatch([{ prefix: [1], continuation: [2] }]), { message: /vocabulary of 6 tokens \(logits\), expected 7/ });
  await wrong.dispose();
  const learn = await OnnxScorer.create(toyPath);
  // Id 7 is inside the embedding table (10 rows) but not the 6-token vocabulary.
  await t.throwsAsync(learn.scoreBatch([{ prefix: [1], continuation: [7] }]), {
    message: /token 7 is outside the ONNX model's vocabulary \(0\.\.5\)/,
  });
  // Id 12 is past the table: ONNX Runtime's own failure, with the file and batch named.
  const fresh = await OnnxScorer.create(toyPath);
  await t.throwsAsync(fresh.scoreBatch([{ prefix: [12], continuation: [1] }]), {
    message: /^ONNX Runtime failed on .*toy\.onnx \(batch 1 x 1 tokens\): .*Gather/,
  });
  await fresh.dispose();
  await learn.dispose();
});

test('bad ONNX input gives an error naming the cause', async (t) => {
  await t.throwsAsync(OnnxScorer.create('/nonexistent/model.onnx'), { message: 'ONNX model not found: /nonexistent/model.onnx' });
  await t.throwsAsync(OnnxScorer.create(tempDir()), { message: /ONNX model is not a file/ });
  await t.throwsAsync(OnnxScorer.create(tinyRandomLlama2), {
    message: /^cannot load ONNX model .*llama-2-tiny-random\.gguf: .*Protobuf parsing failed/,
  });

  const noIds = toy((gb) => {
    gb.input('tokens', DT.INT64, ['b', 's']);
    gb.op('Cast', ['tokens'], [attr.int('to', DT.FLOAT)]);
    gb.nameLastOutput('logits');
    gb.output('logits', DT.FLOAT, ['b', 's']);
  });
  await t.throwsAsync(OnnxScorer.create(noIds), { message: /lacks input input_ids and attention_mask \(has: tokens\)/ });

  const noLogits = toy((gb) => {
    gb.input('input_ids', DT.INT64, ['b', 's']);
    gb.input('attention_mask', DT.INT64, ['b', 's']);
    gb.op('Cast', ['input_ids'], [attr.int('to', DT.FLOAT)]);
    gb.nameLastOutput('scores');
    gb.output('scores', DT.FLOAT, ['b', 's']);
  });
  await t.throwsAsync(OnnxScorer.create(noLogits), { message: /lacks output logits \(has: scores\)/ });

  const extraInput = toy((gb) => {
    gb.input('input_ids', DT.INT64, ['b', 's']);
    gb.input('attention_mask', DT.INT64, ['b', 's']);
    gb.input('token_type_ids', DT.INT64, ['b', 's']);
    gb.op('Cast', [gb.op('Add', ['input_ids', 'token_type_ids'])], [attr.int('to', DT.FLOAT)]);
    gb.nameLastOutput('logits');
    gb.output('logits', DT.FLOAT, ['b', 's']);
  });
  await t.throwsAsync(OnnxScorer.create(extraInput), { message: /has input token_type_ids, which the scorer cannot feed/ });

  const floatIds = toy((gb) => {
    gb.input('input_ids', DT.FLOAT, ['b', 's']);
    gb.input('attention_mask', DT.INT64, ['b', 's']);
    gb.op('Identity', ['input_ids']);
    gb.nameLastOutput('logits');
    gb.output('logits', DT.FLOAT, ['b', 's']);
  });
  await t.throwsAsync(OnnxScorer.create(floatIds), { message: /input input_ids is float32, expected int64 or int32/ });
});

test('scorerFromSpec: engine by default, onnx:PATH checked against the context model', async (t) => {
  const gguf = await makeTemp({ shape: 'tiny', seed: 6 });
  const onnxPath = join(tempDir(), 'ref.onnx');
  await exportOnnx({ model: gguf, out: onnxPath });
  const model = await Model.load(gguf);
  const ctx = await Context.create(model, { flashAttention: 'off', kvType: 'f32', contextSize: 1024, maxSequences: 2 });
  t.teardown(() => {
    ctx.dispose();
    model.dispose();
  });
  t.true((await scorerFromSpec(undefined, { context: ctx })) instanceof EngineScorer);
  t.true((await scorerFromSpec('engine', { context: ctx })) instanceof EngineScorer);
  const onnx = await scorerFromSpec(`onnx:${onnxPath}`, { context: ctx, threads: 1 });
  t.true(onnx instanceof OnnxScorer);
  t.is((onnx as OnnxScorer).vocabSize, model.info.vocabSize);
  const items = [{ prefix: [1, 50, 60], continuation: [70, 80] }];
  const [a] = await onnx.scoreBatch(items);
  const [b] = await new EngineScorer(ctx).scoreBatch(items);
  a!.forEach((v, i) => t.true(Math.abs(v - b![i]!) < 1e-4));
  await onnx.dispose();

  await t.throwsAsync(scorerFromSpec('engine'), { message: /engine scorer needs a context/ });
  await t.throwsAsync(scorerFromSpec('onnx:'), { message: /onnx: needs a path/ });
  await t.throwsAsync(scorerFromSpec('torch:x.pt'), { message: /unknown scorer 'torch:x\.pt' \(use engine or onnx:PATH\)/ });
  const other = await Model.load(tinyRandomLlama2);
  const otherCtx = await Context.create(other, { contextSize: 256, maxSequences: 1 });
  await t.throwsAsync(scorerFromSpec(`onnx:${onnxPath}`, { context: otherCtx }), { message: /expected 32000/ });
  otherCtx.dispose();
  other.dispose();
});
