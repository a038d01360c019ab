import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Model } from '../engine/model.js';
import { makeModel } from '../modelmaker/index.js';

const REASONING_PREFIX = 'The reasoning steps are:\n\n';

/**
 * Makes the built-in tiny model, loads it and shows how Genius prompts it: the query as the user
 * turn of the chat template, the assistant turn opened with the reasoning prefix.
 */
export async function runDemo(dir: string): Promise<void> {
  const out = resolve(dir);
  mkdirSync(out, { recursive: true });
  const path = join(out, 'tiny-builtin.gguf');
  const made = await makeModel({ out: path, shape: 'tiny', vocab: 'builtin', seed: 1 });
  const say = (s: string) => process.stdout.write(`${s}\n`);
  say(`made ${path} (${made.parameterCount} parameters, vocab ${made.vocabSize})`);
  const model = await Model.load(path);
  try {
    const info = model.info;
    say(`loaded: ${info.architecture}, ${info.layerCount} layers, embedding ${info.embeddingLength}, chat template ${info.chatTemplate}`);
    const query = 'Tom has 3 apples and buys 4 more. How many apples does he have?';
    const prompt = model.applyChatTemplate([{ role: 'user', content: query }]) + REASONING_PREFIX;
    const ids = model.tokenize(prompt, { addSpecial: true, parseSpecial: true });
    say(`prompt (${ids.length} tokens):\n${prompt}`);
    say(`round trip exact: ${model.detokenize(ids, { special: true }).replace(/^<s>\s?/, '') === prompt}`);
  } finally {
    model.dispose();
  }
}
