import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { packageRoot } from '../src/engine/native.js';
import { makeModel, type MakeModelOptions } from '../src/modelmaker/index.js';

export const root = packageRoot;
/** The workplace's shared folder (beside the checkout); GENIUS_SHARED overrides. */
export const sharedDir = process.env.GENIUS_SHARED ?? resolve(root, '..', 'shared');
export const tinyRandomLlama2 = join(sharedDir, 'models', 'llama-2-tiny-random.gguf');
export const vendoredModels = join(root, 'native', 'vendor', 'llama.cpp', 'models');
export const cliPath = join(root, 'dist', 'src', 'cli', 'main.js');

export function tempDir(prefix = 'genius-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A generated model in a fresh temp folder. */
export async function makeTemp(options: Omit<MakeModelOptions, 'out'> = {}, file = 'model.gguf'): Promise<string> {
  const out = join(tempDir(), file);
  await makeModel({ out, ...options });
  return out;
}
