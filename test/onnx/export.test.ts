import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { exportOnnx } from '../../src/onnx/export.js';
import { readGguf } from '../../src/onnx/gguf-reader.js';
import { OnnxScorer } from '../../src/onnx/scorer.js';
import { cliPath, makeTemp, tempDir, vendoredModels } from '../helpers.js';
import { batch } from './oracle.js';

let gguf: string;
test.before(async () => {
  gguf = await makeTemp({ arch: 'qwen2', shape: 'tiny', seed: 11 });
});

/** A copy of the test model with `patch` applied to its bytes. */
function patched(patch: (bytes: Buffer) => void): string {
  const bytes = readFileSync(gguf);
  patch(bytes);
  const out = join(tempDir(), 'patched.gguf');
  writeFileSync(out, bytes);
  return out;
}

test('external data: same log-probs as inline weights, weights beside the model', async (t) => {
  const dir = tempDir();
  const inline = await exportOnnx({ model: gguf, out: join(dir, 'inline.onnx') });
  const external = await exportOnnx({ model: gguf, out: join(dir, 'external.onnx'), externalData: true });
  t.is(inline.dataPath, undefined);
  t.is(external.dataPath, join(dir, 'external.onnx.data'));
  t.true(readFileSync(external.path).length < 100_000, 'the protobuf holds only the graph');
  t.is(external.parameterCount, inline.parameterCount);
  const items = batch(inline.vocabSize);
  const [a, b] = [await OnnxScorer.create(inline.path), await OnnxScorer.create(external.path)];
  t.deepEqual(await b.scoreBatch(items), await a.scoreBatch(items));
  await Promise.all([a.dispose(), b.dispose()]);
  t.deepEqual(readdirSync(dir).sort(), ['external.onnx', 'external.onnx.data', 'inline.onnx']);
});

test('the export records its source and conventions', async (t) => {
  const out = join(tempDir(), 'm.onnx');
  const made = await exportOnnx({ model: gguf, out });
  t.is(made.architecture, 'qwen2');
  t.is(made.layerCount, 2);
  const g = readGguf(gguf);
  t.is(made.vocabSize, g.tensors.get('token_embd.weight')!.ne[1]);
  const text = readFileSync(out).toString('latin1');
  for (const s of [
    'genius.rope',
    'neox',
    'input_ids',
    'attention_mask',
    'position_ids',
    'past_key_values.1.value',
    'present.0.key',
    'logits',
  ])
    t.true(text.includes(s), s);
  const noCache = await exportOnnx({ model: gguf, out: join(tempDir(), 'nc.onnx'), kvCache: false });
  t.false(readFileSync(noCache.path).toString('latin1').includes('past_key_values'));
});

test('bad GGUF input: missing, not GGUF, quantized, unsupported architecture, no weights', async (t) => {
  const out = join(tempDir(), 'x.onnx');
  await t.throwsAsync(exportOnnx({ model: '/nonexistent/m.gguf', out }), { message: 'model file not found: /nonexistent/m.gguf' });
  await t.throwsAsync(exportOnnx({ model: gguf, out: '/nonexistent/dir/x.onnx' }), { message: /output folder does not exist/ });
  const text = join(tempDir(), 'text.gguf');
  writeFileSync(text, 'not a model at all');
  await t.throwsAsync(exportOnnx({ model: text, out }), { message: /not a GGUF file/ });

  // The tensor table entry of blk.0.attn_q.weight: name, n_dims (u32), ne (2 x u64), type (u32).
  const quantized = patched((b) => {
    const name = Buffer.from('blk.0.attn_q.weight');
    const at = b.indexOf(name) + name.length + 4 + 16;
    b.writeUInt32LE(8, at); // Q8_0
  });
  await t.throwsAsync(exportOnnx({ model: quantized, out }), {
    message: /tensor blk\.0\.attn_q\.weight is Q8_0: only F32, F16 and BF16 models can be exported/,
  });

  const mamba = patched((b) => {
    const key = Buffer.from('general.architecture');
    const at = b.indexOf(key) + key.length + 4 + 8;
    t.is(b.toString('latin1', at, at + 5), 'qwen2');
    b.write('mamba', at, 'latin1');
  });
  await t.throwsAsync(exportOnnx({ model: mamba, out }), {
    message: /architecture 'mamba' cannot be exported to ONNX \(supported: llama, qwen2, qwen3\)/,
  });

  await t.throwsAsync(exportOnnx({ model: join(vendoredModels, 'ggml-vocab-llama-bpe.gguf'), out }), {
    message: /lacks a 2-D token_embd\.weight/,
  });
  t.false(existsSync(out));
  t.deepEqual(readdirSync(join(out, '..')), [], 'no temporary files left behind');
});

test('genius export-onnx writes a model ONNX Runtime loads; failures are one line', async (t) => {
  const out = join(tempDir(), 'cli.onnx');
  const ok = spawnSync(process.execPath, [cliPath, 'export-onnx', '--model', gguf, '--out', out, '--json'], { encoding: 'utf8' });
  t.is(ok.status, 0, ok.stderr);
  const made = JSON.parse(ok.stdout) as { path: string; architecture: string };
  t.is(basename(made.path), 'cli.onnx');
  t.is(made.architecture, 'qwen2');
  const scorer = await OnnxScorer.create(out);
  t.is(scorer.vocabSize, readGguf(gguf).tensors.get('token_embd.weight')!.ne[1]);
  await scorer.dispose();
  const bad = spawnSync(process.execPath, [cliPath, 'export-onnx', '--model', '/nonexistent.gguf', '--out', out], { encoding: 'utf8' });
  t.is(bad.status, 1);
  t.is(bad.stderr, 'genius: model file not found: /nonexistent.gguf\n');
});
