import test from 'ava';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../../src/engine/model.js';
import { makeModel, SHAPES } from '../../src/modelmaker/index.js';
import { makeTemp, tempDir, vendoredModels } from '../helpers.js';

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

for (const arch of ['llama', 'qwen2', 'qwen3'] as const) {
  for (const dtype of ['f32', 'f16'] as const) {
    test(`${arch} ${dtype}: llama.cpp loads the made model with the asked shape`, async (t) => {
      const path = await makeTemp({ arch, dtype, shape: 'tiny', seed: 7 });
      const model = await Model.load(path);
      const info = model.info;
      const s = SHAPES.tiny;
      t.is(info.architecture, arch);
      t.is(info.embeddingLength, s.embeddingLength);
      t.is(info.layerCount, s.layerCount);
      t.is(info.headCount, s.headCount);
      t.is(info.headCountKv, s.headCountKv);
      t.is(info.contextLength, s.contextLength);
      const hd = s.embeddingLength / s.headCount;
      const attn = s.embeddingLength * hd * (2 * s.headCount + 2 * s.headCountKv);
      const bias = arch === 'qwen2' ? hd * (s.headCount + 2 * s.headCountKv) : 0;
      const qkNorm = arch === 'qwen3' ? 2 * hd : 0;
      const block = attn + bias + qkNorm + 3 * s.embeddingLength * s.feedForwardLength + 2 * s.embeddingLength;
      t.is(info.parameterCount, 2 * info.vocabSize * s.embeddingLength + s.embeddingLength + s.layerCount * block);
      t.is(info.sizeBytes > 0, true);
      model.dispose();
    });
  }
}

test('same seed gives the same bytes; another seed differs', async (t) => {
  const a = await makeTemp({ seed: 11 });
  const b = await makeTemp({ seed: 11 });
  const c = await makeTemp({ seed: 12 });
  t.is(sha(a), sha(b));
  t.not(sha(a), sha(c));
});

test('tied embeddings omit output.weight and still load', async (t) => {
  const tiedPath = await makeTemp({ shape: { ...SHAPES.tiny, tiedEmbeddings: true } });
  const untiedPath = await makeTemp({ shape: 'tiny' });
  // A GGUF tensor name is stored as a u64 length followed by the bytes.
  const name = Buffer.concat([Buffer.from([13, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('output.weight')]);
  t.is(readFileSync(tiedPath).indexOf(name), -1);
  t.true(readFileSync(untiedPath).indexOf(name) > 0);
  const tied = await Model.load(tiedPath);
  const untied = await Model.load(untiedPath);
  t.is(tied.info.parameterCount, untied.info.parameterCount - tied.info.vocabSize * SHAPES.tiny.embeddingLength);
  tied.dispose();
  untied.dispose();
});

test('the tokenizer is copied from a vocab GGUF', async (t) => {
  const vocab = join(vendoredModels, 'ggml-vocab-llama-bpe.gguf');
  const path = await makeTemp({ vocab, shape: 'tiny', dtype: 'f16' });
  const made = await Model.load(path);
  const ref = await Model.load(vocab, { vocabOnly: true });
  t.is(made.info.vocabSize, 128256);
  t.is(made.info.vocabType, 'bpe');
  const text = 'Genius explores steps with foresight: 3 + 4 = 7.';
  t.deepEqual(made.tokenize(text, { addSpecial: true }), ref.tokenize(text, { addSpecial: true }));
  made.dispose();
  ref.dispose();
});

test('invalid shapes and inputs are rejected with the cause', async (t) => {
  const out = join(tempDir(), 'x.gguf');
  await t.throwsAsync(makeModel({ out, shape: { ...SHAPES.tiny, headCountKv: 3 } }), { message: /multiple of the KV head count/ });
  await t.throwsAsync(makeModel({ out, shape: { ...SHAPES.tiny, embeddingLength: 0 } }), { message: /must be positive/ });
  await t.throwsAsync(makeModel({ out, shape: 'huge' as never }), { message: /unknown shape 'huge'/ });
  await t.throwsAsync(makeModel({ out, arch: 'gpt2' as never }), { message: /unsupported architecture 'gpt2'/ });
  await t.throwsAsync(makeModel({ out, vocab: '/no/such/vocab.gguf' }), { message: /vocab file not found/ });
  await t.throwsAsync(makeModel({ out: '/no/such/dir/x.gguf' }), { message: /output folder does not exist/ });
  await t.throwsAsync(makeModel({ out, seed: -1 }), { message: /seed/ });
});
