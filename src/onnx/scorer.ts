import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import ort from 'onnxruntime-node';
import { AbortError, GeniusError, messageOf } from '../errors.js';
import type { ScoreItem, Scorer } from '../engine/scorer.js';
import { halfToFloat } from './gguf-reader.js';

type ExecutionProvider = NonNullable<ort.InferenceSession.SessionOptions['executionProviders']>[number];
type TensorMeta = Extract<ort.InferenceSession.ValueMetadata, { isTensor: true }>;

/** How `OnnxScorer` runs a model: threads, execution providers, padding side, batch limits. */
export interface OnnxScorerOptions {
  /** Intra-op threads (default: ONNX Runtime's, one per physical core). */
  threads?: number;
  /**
   * Execution providers in order of preference (default `['cpu']`). `'cuda'` needs the CUDA
   * provider libraries, which onnxruntime-node downloads at install unless skipped (this
   * project's .npmrc skips it): install them to use it.
   */
  executionProviders?: ExecutionProvider[];
  /** The vocabulary the token ids come from (e.g. the policy model's): checked against the logits. */
  vocabSize?: number;
  /** Most padded tokens (rows x longest row) per run; bigger batches are split. Default 4096. */
  maxBatchTokens?: number;
  /** Most bytes of logits per run (rows x length x vocab x 4); default 256 MiB. */
  maxLogitsBytes?: number;
  /** Which side padding goes (default right: real tokens keep positions 0..n-1 either way). */
  padding?: 'right' | 'left';
  graphOptimizationLevel?: ort.InferenceSession.SessionOptions['graphOptimizationLevel'];
}

const INTEGER_TYPES = ['int64', 'int32'] as const;
type IntegerType = (typeof INTEGER_TYPES)[number];
const FLOAT_TYPES = ['float32', 'float16'] as const;
const FED = 'input_ids, attention_mask, position_ids, past_key_values.*, use_cache_branch';

function tensorMeta(m: ort.InferenceSession.ValueMetadata, path: string): TensorMeta {
  if (!m.isTensor) throw new GeniusError(`ONNX model ${path}: ${m.name} is not a tensor`);
  return m;
}

/**
 * Teacher-forced scoring with a decoder-only ONNX model through ONNX Runtime: the second,
 * independent engine (see `exportOnnx` for making one from any GGUF this project supports, or
 * use a Hugging Face Optimum export). Items are sorted by length and run as right-padded
 * batches (attention_mask and position_ids carry the padding); each run computes logits for
 * every position, so a batch costs rows x longest row x vocabulary floats of memory.
 */
export class OnnxScorer implements Scorer {
  #session: ort.InferenceSession | undefined;
  readonly #idsType: IntegerType;
  readonly #maskType: IntegerType;
  readonly #positionsType: IntegerType | undefined;
  readonly #past: { name: string; type: 'float32' | 'float16'; shape: number[] }[];
  readonly #useCacheBranch: boolean;
  readonly #options: OnnxScorerOptions;
  /** The logits' last dimension, when the model declares it (else learnt on the first run). */
  vocabSize: number | undefined;

  private constructor(
    readonly path: string,
    session: ort.InferenceSession,
    options: OnnxScorerOptions,
  ) {
    this.#session = session;
    this.#options = options;
    const inputs = new Map(session.inputMetadata.map((m) => [m.name, tensorMeta(m, path)]));
    const missing = ['input_ids', 'attention_mask'].filter((n) => !inputs.has(n));
    if (missing.length > 0)
      throw new GeniusError(`ONNX model ${path} lacks input ${missing.join(' and ')} (has: ${[...inputs.keys()].join(', ')})`);
    const logits = session.outputMetadata.find((m) => m.name === 'logits');
    if (!logits) throw new GeniusError(`ONNX model ${path} lacks output logits (has: ${session.outputNames.join(', ')})`);
    const intType = (name: string): IntegerType => {
      const t = inputs.get(name)!.type;
      if (!(INTEGER_TYPES as readonly string[]).includes(t))
        throw new GeniusError(`ONNX model ${path}: input ${name} is ${t}, expected int64 or int32`);
      return t as IntegerType;
    };
    this.#idsType = intType('input_ids');
    this.#maskType = intType('attention_mask');
    this.#positionsType = inputs.has('position_ids') ? intType('position_ids') : undefined;
    this.#useCacheBranch = inputs.has('use_cache_branch');
    this.#past = [];
    for (const [name, m] of inputs) {
      if (['input_ids', 'attention_mask', 'position_ids', 'use_cache_branch'].includes(name)) continue;
      if (!name.startsWith('past_key_values.'))
        throw new GeniusError(`ONNX model ${path} has input ${name}, which the scorer cannot feed (it feeds ${FED})`);
      if (!(FLOAT_TYPES as readonly string[]).includes(m.type))
        throw new GeniusError(`ONNX model ${path}: cache input ${name} is ${m.type}, expected float32 or float16`);
      // [batch, kv heads, past length, head size]: heads and head size must be fixed numbers.
      const heads = m.shape[1];
      const size = m.shape[3];
      if (m.shape.length !== 4 || typeof heads !== 'number' || typeof size !== 'number') {
        throw new GeniusError(
          `ONNX model ${path}: cache input ${name} has shape [${m.shape.join(', ')}], expected [batch, heads, past, head size] with fixed heads and head size`,
        );
      }
      this.#past.push({ name, type: m.type as 'float32' | 'float16', shape: [0, heads, 0, size] });
    }
    const logitsMeta = tensorMeta(logits, path);
    if (!(FLOAT_TYPES as readonly string[]).includes(logitsMeta.type))
      throw new GeniusError(`ONNX model ${path}: logits are ${logitsMeta.type}, expected float32 or float16`);
    const declared = logitsMeta.shape[logitsMeta.shape.length - 1];
    this.vocabSize = typeof declared === 'number' ? declared : undefined;
    if (options.vocabSize !== undefined && this.vocabSize !== undefined && options.vocabSize !== this.vocabSize) {
      throw new GeniusError(`ONNX model ${path} has a vocabulary of ${this.vocabSize} tokens (logits), expected ${options.vocabSize}`);
    }
    this.vocabSize ??= options.vocabSize;
  }

  /**
   * Loads an ONNX decoder and checks its interface: inputs `input_ids` and `attention_mask`
   * (optional `position_ids`, `past_key_values.*`, which are fed empty), output `logits`, and
   * the vocabulary size when `vocabSize` is given. Every failure names the file and the cause.
   */
  static async create(path: string, options: OnnxScorerOptions = {}): Promise<OnnxScorer> {
    const file = resolve(path);
    if (!existsSync(file)) throw new GeniusError(`ONNX model not found: ${path}`);
    if (!statSync(file).isFile()) throw new GeniusError(`ONNX model is not a file: ${path}`);
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: options.executionProviders ?? ['cpu'],
      graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
      // Failures come back as exceptions (wrapped below); ONNX Runtime's own log would repeat them on stderr.
      logSeverityLevel: 4,
      ...(options.threads !== undefined ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
    };
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(file, sessionOptions);
    } catch (err) {
      throw new GeniusError(`cannot load ONNX model ${path}: ${messageOf(err)}`, { cause: err });
    }
    try {
      return new OnnxScorer(path, session, options);
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  get #live(): ort.InferenceSession {
    if (!this.#session) throw new GeniusError('ONNX scorer is disposed');
    return this.#session;
  }

  async scoreBatch(items: readonly ScoreItem[], options: { signal?: AbortSignal } = {}): Promise<number[][]> {
    const session = this.#live;
    items.forEach((it, i) => this.#check(it, i));
    const results: number[][] = items.map(() => []);
    // Only positions that predict a continuation token are run: the last token is never fed.
    const order = items.map((_, i) => i).filter((i) => items[i]!.continuation.length > 0);
    const length = (i: number) => items[i]!.prefix.length + items[i]!.continuation.length - 1;
    order.sort((a, b) => length(b) - length(a) || a - b);
    const maxTokens = this.#options.maxBatchTokens ?? 4096;
    const maxLogits = this.#options.maxLogitsBytes ?? 256 * 2 ** 20;
    for (let start = 0; start < order.length;) {
      if (options.signal?.aborted) throw new AbortError();
      const width = length(order[start]!);
      const perRowBytes = width * (this.vocabSize ?? 32768) * 4;
      const rows = Math.max(1, Math.min(Math.floor(maxTokens / width), Math.floor(maxLogits / perRowBytes), order.length - start));
      const group = order.slice(start, start + rows);
      const scored = await this.#run(
        session,
        group.map((i) => items[i]!),
        width,
      );
      group.forEach((i, k) => (results[i] = scored[k]!));
      start += rows;
    }
    return results;
  }

  #check(it: ScoreItem, index: number): void {
    if (it.prefix.length === 0) throw new GeniusError(`item ${index}: the prefix must hold at least one token`);
    const vocab = this.vocabSize;
    for (const list of [it.prefix, it.continuation]) {
      for (const t of list) {
        if (!Number.isInteger(t) || t < 0 || (vocab !== undefined && t >= vocab)) {
          throw new GeniusError(
            `item ${index}: token ${t} is outside the ONNX model's vocabulary${vocab !== undefined ? ` (0..${vocab - 1})` : ''}`,
          );
        }
      }
    }
  }

  /** One padded run: rows x width tokens, log-probs of each item's continuation. */
  async #run(session: ort.InferenceSession, group: ScoreItem[], width: number): Promise<number[][]> {
    const rows = group.length;
    const left = this.#options.padding === 'left';
    const ids = new Array<number>(rows * width).fill(0);
    const mask = new Array<number>(rows * width).fill(0);
    const positions = new Array<number>(rows * width).fill(1);
    const offsets: number[] = [];
    group.forEach((it, r) => {
      const tokens = [...it.prefix, ...it.continuation.slice(0, -1)];
      const offset = left ? width - tokens.length : 0;
      offsets.push(offset);
      tokens.forEach((t, j) => {
        ids[r * width + offset + j] = t;
        mask[r * width + offset + j] = 1;
        positions[r * width + offset + j] = j;
      });
    });
    const intTensor = (type: IntegerType, values: number[]) =>
      type === 'int64'
        ? new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [rows, width])
        : new ort.Tensor('int32', Int32Array.from(values), [rows, width]);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: intTensor(this.#idsType, ids),
      attention_mask: intTensor(this.#maskType, mask),
    };
    if (this.#positionsType) feeds.position_ids = intTensor(this.#positionsType, positions);
    if (this.#useCacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', Uint8Array.of(0), [1]);
    for (const p of this.#past) {
      const dims = [rows, p.shape[1]!, 0, p.shape[3]!];
      feeds[p.name] =
        p.type === 'float32' ? new ort.Tensor('float32', new Float32Array(0), dims) : new ort.Tensor('float16', new Uint16Array(0), dims);
    }
    let logits: ort.Tensor;
    try {
      logits = (await session.run(feeds, ['logits'])).logits!;
    } catch (err) {
      throw new GeniusError(`ONNX Runtime failed on ${this.path} (batch ${rows} x ${width} tokens): ${messageOf(err)}`, { cause: err });
    }
    const dims = logits.dims;
    const vocab = dims[2]!;
    if (dims.length !== 3 || dims[0] !== rows || dims[1] !== width) {
      throw new GeniusError(
        `ONNX model ${this.path} returned logits of shape [${dims.join(', ')}], expected [${rows}, ${width}, vocabulary]`,
      );
    }
    if (this.#options.vocabSize !== undefined && vocab !== this.#options.vocabSize) {
      throw new GeniusError(`ONNX model ${this.path} has a vocabulary of ${vocab} tokens (logits), expected ${this.#options.vocabSize}`);
    }
    if (this.vocabSize === undefined) {
      this.vocabSize = vocab;
      group.forEach((it, i) => this.#check(it, i));
    }
    const data = logits.type === 'float16' ? halfsToFloats(logits.data as Uint16Array) : (logits.data as Float32Array);
    return group.map((it, r) =>
      it.continuation.map((token, j) => {
        const row = r * width + offsets[r]! + it.prefix.length - 1 + j;
        return logSoftmaxAt(data.subarray(row * vocab, (row + 1) * vocab), token);
      }),
    );
  }

  /** Releases the ONNX Runtime session. Idempotent. */
  async dispose(): Promise<void> {
    const s = this.#session;
    this.#session = undefined;
    await s?.release();
  }
}

/** log softmax(row)[token], accumulated in float64. */
function logSoftmaxAt(row: Float32Array, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return row[token]! - max - Math.log(sum);
}

function halfsToFloats(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = halfToFloat(h[i]!);
  return out;
}
