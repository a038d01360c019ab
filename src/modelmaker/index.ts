import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { GeniusError } from '../errors.js';
import { native, type ModelDtype, type NativeVocabSpec } from '../engine/native.js';
import { ARCHITECTURES, SHAPES, type Architecture, type ModelShape, type ShapeName } from './shapes.js';
import { builtinVocab } from './vocab.js';

export { ARCHITECTURES, SHAPES, type Architecture, type ModelShape, type ShapeName } from './shapes.js';
export { builtinVocab } from './vocab.js';

/** What `makeModel` writes: path, architecture, shape, tokenizer, weight type, seed. */
export interface MakeModelOptions {
  /** Output GGUF path (written atomically). */
  out: string;
  arch?: Architecture;
  /** A named shape or explicit numbers. Default `tiny`. */
  shape?: ShapeName | ModelShape;
  /** `builtin` (default), or the path of any GGUF whose tokenizer.* keys to copy. */
  vocab?: 'builtin' | string;
  /** Matrices' storage type (quantized with ggml; rows must be whole blocks: 32 for q8_0, 256 for q4_K). */
  dtype?: ModelDtype;
  seed?: number;
  name?: string;
}

/** What `makeModel` wrote. */
export interface MadeModel {
  path: string;
  parameterCount: number;
  fileBytes: number;
  vocabSize: number;
}

/** Resolves a shape name or object, naming the valid names on a typo. */
export function resolveShape(shape: ShapeName | ModelShape | string): ModelShape {
  if (typeof shape !== 'string') return shape;
  if (!(shape in SHAPES)) throw new GeniusError(`unknown shape '${shape}' (known: ${Object.keys(SHAPES).join(', ')})`);
  return SHAPES[shape as ShapeName];
}

/**
 * Writes a llama-family GGUF with seeded random weights (N(0, 1/fan_in) matrices, unit norms):
 * the same options give the same bytes. Cost: one pass over the parameters, streamed a tensor at
 * a time (a 1B shape needs ~1 GB of RAM at most).
 */
export async function makeModel(options: MakeModelOptions): Promise<MadeModel> {
  const arch = options.arch ?? 'llama';
  if (!ARCHITECTURES.includes(arch)) throw new GeniusError(`unsupported architecture '${arch}' (known: ${ARCHITECTURES.join(', ')})`);
  const shape = resolveShape(options.shape ?? 'tiny');
  const out = resolve(options.out);
  if (!existsSync(dirname(out))) throw new GeniusError(`output folder does not exist: ${dirname(out)}`);
  let vocab: NativeVocabSpec;
  if (!options.vocab || options.vocab === 'builtin') vocab = builtinVocab();
  else if (!existsSync(options.vocab)) throw new GeniusError(`vocab file not found: ${options.vocab}`);
  else vocab = { path: resolve(options.vocab) };
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new GeniusError(`seed must be a non-negative integer, got ${seed}`);
  const made = await native().makeModel(
    { out, arch, dtype: options.dtype ?? 'f32', seed, name: options.name ?? `genius-${arch}-random`, ...shape },
    vocab,
  );
  return { path: out, ...made };
}

/** What `makeLora` writes: a seeded random LoRA adapter for a made model. */
export interface MakeLoraOptions {
  /** The base model GGUF the adapter is for. */
  base: string;
  out: string;
  rank?: number;
  alpha?: number;
  /** Module names (default: every attention and FFN projection). */
  targets?: string[];
  seed?: number;
}

/**
 * Writes a LoRA adapter GGUF in llama.cpp's format with seeded random A and B matrices for the
 * base model's target modules: a non-trivial adapter for engine tests and benchmarks.
 */
export async function makeLora(options: MakeLoraOptions): Promise<{ path: string; parameterCount: number; fileBytes: number }> {
  if (!existsSync(options.base)) throw new GeniusError(`base model not found: ${options.base}`);
  const out = resolve(options.out);
  const made = await native().makeLora({
    base: resolve(options.base),
    out,
    rank: options.rank ?? 8,
    alpha: options.alpha ?? 16,
    seed: options.seed ?? 0,
    targets: options.targets,
  });
  return { path: out, ...made };
}
