import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../../src/engine/model.js';
import { vendoredModels } from '../helpers.js';

/** Reads llama.cpp's tokenizer test vectors (the format tests/test-tokenizer-0 reads). */
function readVectors(vocab: string): { text: string; ids: number[] }[] {
  const raw = readFileSync(join(vendoredModels, `${vocab}.gguf.inp`), 'utf8');
  const sep = '\n__ggml_vocab_test__\n';
  // Same splitting as llama.cpp's reader: a trailing separator opens no further case.
  const inputs: string[] = [];
  for (let pos = 0; pos < raw.length;) {
    const next = raw.indexOf(sep, pos);
    inputs.push(next < 0 ? raw.slice(pos) : raw.slice(pos, next));
    pos = next < 0 ? raw.length : next + sep.length;
  }
  const outputs = readFileSync(join(vendoredModels, `${vocab}.gguf.out`), 'utf8').split('\n');
  if (outputs.at(-1) === '') outputs.pop();
  if (inputs.length !== outputs.length) throw new Error(`${vocab}: ${inputs.length} inputs but ${outputs.length} outputs`);
  return inputs.map((text, i) => ({
    text,
    ids: outputs[i]!.trim() === '' ? [] : outputs[i]!.trim().split(' ').map(Number),
  }));
}

for (const vocab of ['ggml-vocab-llama-spm', 'ggml-vocab-llama-bpe', 'ggml-vocab-qwen2']) {
  test(`${vocab}: tokenize equals the shipped test vectors`, async (t) => {
    const vectors = readVectors(vocab);
    t.true(vectors.length > 20);
    const model = await Model.load(join(vendoredModels, `${vocab}.gguf`), { vocabOnly: true });
    for (const { text, ids } of vectors) t.deepEqual(model.tokenize(text), ids, JSON.stringify(text));
    model.dispose();
  });
}
