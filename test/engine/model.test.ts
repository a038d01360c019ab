import test from 'ava';
import { copyFileSync, readFileSync, writeFileSync, truncateSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../../src/engine/model.js';
import { makeTemp, tempDir, tinyRandomLlama2 } from '../helpers.js';

test('third-party llama-2-tiny-random loads and reports its shape', async (t) => {
  const model = await Model.load(tinyRandomLlama2);
  const info = model.info;
  t.is(info.architecture, 'llama');
  t.is(info.layerCount, 1);
  t.is(info.embeddingLength, 8);
  t.is(info.headCount, 2);
  t.is(info.vocabSize, 32000);
  t.is(info.vocabType, 'spm');
  t.is(info.specialTokens.bos, 1);
  t.is(info.specialTokens.eos, 2);
  t.true(info.specialTokens.endOfGeneration.includes(2));
  // 32000*8 (embeddings) + 32000*8 (output) + one block: 4*8*8 attention + 3*8*32 FFN + norms.
  t.is(info.parameterCount, 32000 * 8 * 2 + 4 * 64 + 3 * 8 * 32 + 8 * 3);
  model.dispose();
});

test('third-party model tokenizes with its 32k vocabulary and round-trips text', async (t) => {
  const model = await Model.load(tinyRandomLlama2);
  const text = 'Hello world! The answer is 42.\nNext line: ünïcödé 😀';
  const ids = model.tokenize(text);
  t.true(ids.length > 5);
  t.true(ids.every((id) => id >= 0 && id < 32000));
  t.is(model.detokenize(ids), text);
  const withBos = model.tokenize(text, { addSpecial: true });
  t.is(withBos[0], 1);
  t.deepEqual(withBos.slice(1), ids);
  // "Hello" is one SentencePiece token in the Llama 2 vocabulary.
  t.is(model.tokenize('Hello').length, 1);
  model.dispose();
});

test('dispose is idempotent and use after dispose throws a clear error', async (t) => {
  const model = await Model.load(tinyRandomLlama2);
  model.dispose();
  model.dispose();
  t.true(model.disposed);
  t.throws(() => model.tokenize('x'), { message: /disposed/ });
});

test('built-in model applies its ChatML template and parses its special tokens', async (t) => {
  const path = await makeTemp({ shape: 'tiny', seed: 3 });
  const model = await Model.load(path);
  const prompt = model.applyChatTemplate([{ role: 'user', content: 'What is 2+3?' }]);
  t.is(prompt, '<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n');
  const ids = model.tokenize(prompt, { parseSpecial: true });
  t.is(ids[0], 3); // <|im_start|> is a single control token
  t.true(model.info.specialTokens.endOfGeneration.includes(4)); // <|im_end|> ends generation
  t.is(model.detokenize(ids, { special: true }), prompt);
  t.throws(() => model.applyChatTemplate([{ role: 'user', content: 'x' }], { template: 'no-such-template{{' }), {
    message: /unsupported chat template/,
  });
  model.dispose();
});

// --- bad input: every case rejects with the cause named, and the process keeps working ---

async function expectLoadError(t: import('ava').ExecutionContext, path: string, pattern: RegExp) {
  const err = await t.throwsAsync(Model.load(path));
  t.regex(err?.message ?? '', pattern);
}

test('missing file, directory and text file are rejected by name', async (t) => {
  const dir = tempDir();
  await expectLoadError(t, join(dir, 'nope.gguf'), /model file not found/);
  await expectLoadError(t, dir, /directory/);
  const txt = join(dir, 'readme.txt');
  writeFileSync(txt, 'this is not a model\n');
  await expectLoadError(t, txt, /not a GGUF file/);
  const empty = join(dir, 'empty.gguf');
  writeFileSync(empty, '');
  await expectLoadError(t, empty, /not a GGUF file/);
});

test('truncated copies of a real GGUF are rejected', async (t) => {
  const dir = tempDir();
  const size = statSync(tinyRandomLlama2).size;
  for (const keep of [8, 100, 4096, Math.floor(size / 2), size - 1]) {
    const cut = join(dir, `cut-${keep}.gguf`);
    copyFileSync(tinyRandomLlama2, cut);
    truncateSync(cut, keep);
    await expectLoadError(t, cut, /truncated|corrupt/);
  }
});

test('a GGUF with a corrupted tensor table is rejected', async (t) => {
  const dir = tempDir();
  const bytes = readFileSync(tinyRandomLlama2);
  // Corrupt the first tensor's name length (the tensor table follows the KV section).
  const at = bytes.indexOf(Buffer.from('token_embd.weight')) - 8;
  t.true(at > 0);
  const badLen = Buffer.from(bytes);
  badLen.writeBigUInt64LE(0xffffffffffffn, at);
  writeFileSync(join(dir, 'bad-name.gguf'), badLen);
  await expectLoadError(t, join(dir, 'bad-name.gguf'), /corrupt/);
  // Corrupt its dimension count and type (right after the name).
  const nameEnd = at + 8 + 'token_embd.weight'.length;
  const badDims = Buffer.from(bytes);
  badDims.writeUInt32LE(77, nameEnd);
  writeFileSync(join(dir, 'bad-dims.gguf'), badDims);
  await expectLoadError(t, join(dir, 'bad-dims.gguf'), /corrupt/);
  const badType = Buffer.from(bytes);
  const nDims = bytes.readUInt32LE(nameEnd);
  badType.writeUInt32LE(999, nameEnd + 4 + 8 * nDims);
  writeFileSync(join(dir, 'bad-type.gguf'), badType);
  await expectLoadError(t, join(dir, 'bad-type.gguf'), /corrupt/);
  // Offset pointing past the end of the file.
  const badOffset = Buffer.from(bytes);
  badOffset.writeBigUInt64LE(BigInt(bytes.length) * 4n, nameEnd + 4 + 8 * nDims + 4);
  writeFileSync(join(dir, 'bad-offset.gguf'), badOffset);
  await expectLoadError(t, join(dir, 'bad-offset.gguf'), /truncated|corrupt/);
});

test('an unsupported architecture is rejected by name', async (t) => {
  const path = await makeTemp({ shape: 'tiny' });
  const bytes = readFileSync(path);
  const key = bytes.indexOf(Buffer.from('general.architecture'));
  // key, then u32 type, u64 length, then the value "llama"
  const value = key + 'general.architecture'.length + 4 + 8;
  t.is(bytes.subarray(value, value + 5).toString(), 'llama');
  bytes.write('zzzzz', value);
  const bad = join(tempDir(), 'unknown-arch.gguf');
  writeFileSync(bad, bytes);
  await expectLoadError(t, bad, /unknown model architecture: 'zzzzz'/);
});

test('the process keeps working after bad input', async (t) => {
  const dir = tempDir();
  const txt = join(dir, 'x.gguf');
  writeFileSync(txt, 'GGUF but not really');
  for (let i = 0; i < 5; i++) await t.throwsAsync(Model.load(txt));
  const model = await Model.load(tinyRandomLlama2);
  t.is(model.info.vocabSize, 32000);
  model.dispose();
});

test('no leak across 1,000 load/dispose cycles', async (t) => {
  const path = await makeTemp({ shape: 'tiny', seed: 5 });
  const cycle = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const m = await Model.load(path);
      m.tokenize('hello world');
      m.dispose();
    }
  };
  await cycle(100); // allocator warm-up
  global.gc?.();
  const before = process.memoryUsage.rss();
  await cycle(1000);
  global.gc?.();
  const grownMb = (process.memoryUsage.rss() - before) / 2 ** 20;
  t.log(`RSS growth over 1,000 cycles: ${grownMb.toFixed(1)} MB`);
  // One leaked model is ~0.2 MB of weights plus context; 1,000 leaks would be hundreds of MB.
  t.true(grownMb < 32, `RSS grew ${grownMb.toFixed(1)} MB`);
});

test('a full model loaded vocab-only reports its tokenizer and no layers (llama.cpp would abort on head counts)', async (t) => {
  const path = await makeTemp({ arch: 'llama', shape: 'tiny', seed: 1 });
  const model = await Model.load(path, { vocabOnly: true });
  const info = model.info;
  t.is(info.layerCount, 0);
  t.is(info.headCount, 0);
  t.true(info.vocabSize > 0);
  t.true(model.tokenize('hello').length > 0);
  model.dispose();
});
