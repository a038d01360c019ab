import { AbortError, GeniusError, messageOf } from '../errors.js';
import type { Model } from './model.js';
import { tokenIds } from './tokens.js';
import {
  native,
  type NativeAdapter,
  type NativeCompletion,
  type NativeContext,
  type NativeContextInfo,
  type NativeContextOptions,
  type NativeEngineStats,
} from './native.js';

/** How to size and configure a context: KV cells, sequence slots, threads, attention and cache types. */
export interface ContextOptions extends NativeContextOptions {
  /** Cells each sequence can hold (split cache); sets contextSize = this x maxSequences. */
  sequenceContextSize?: number;
}
/** What a context was created with: KV cells, sequence slots, cells per sequence, batch sizes, attention, KV type and layout. */
export type ContextInfo = NativeContextInfo;
/** Engine counters: sequence slots, live sequences, KV cells used, requests active and waiting, tokens evaluated/generated/scored, decode calls. */
export type EngineStats = NativeEngineStats;

/** How to sample one completion. Defaults: temperature 1, no top-k/top-p, 256 tokens. */
export interface GenerateOptions {
  maxTokens?: number;
  /** 0 = greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Stop strings, matched on the generated text (also across token boundaries); excluded from `text`. */
  stop?: string[];
  /** Extra token ids that end generation. */
  stopTokens?: number[];
  /** Stop at the vocabulary's end-of-generation tokens (EOS, EOT, ...). Default true. */
  stopAtEog?: boolean;
  signal?: AbortSignal;
}

/** One generated completion. Token arrays are parallel; the last token stays in the sequence. */
export interface Completion {
  tokens: number[];
  /** Each token's text piece (a piece that ends inside a UTF-8 character shows U+FFFD). */
  pieces: string[];
  /** log p(token) under the raw model distribution (log-softmax of the logits, temperature 1). */
  rawLogprobs: number[];
  /** log p(token) under the distribution actually sampled from (temperature, top-k, top-p). */
  sampleLogprobs: number[];
  /** Generated text up to (not including) any stop string; EOS contributes no text. */
  text: string;
  finish: 'stop' | 'eos' | 'length' | 'context';
}

/** A LoRA adapter (GGUF) loaded for a model; attach it to contexts with `setAdapters`. */
export class Adapter {
  #native: NativeAdapter | undefined;
  private constructor(
    handle: NativeAdapter,
    readonly path: string,
  ) {
    this.#native = handle;
  }

  /** Loads a LoRA adapter GGUF (llama.cpp format) for `model`; attach it with `Context.setAdapters`. */
  static async load(model: Model, path: string): Promise<Adapter> {
    try {
      return new Adapter(await native().loadAdapter(model.handle, path), path);
    } catch (err) {
      throw new GeniusError(messageOf(err), { cause: err });
    }
  }

  /** @internal The native handle (binding layer). */
  get handle(): NativeAdapter {
    if (!this.#native) throw new GeniusError('adapter is disposed', { code: 'DISPOSED' });
    return this.#native;
  }

  /** Contexts that attached the adapter keep it until they detach it. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }
}

let nextRequestId = 1;

/** Runs a cancellable native request; an aborted signal cancels it in the engine. */
async function cancellable<T>(ctx: NativeContext, signal: AbortSignal | undefined, run: (id: number) => Promise<T>): Promise<T> {
  if (signal?.aborted) throw new AbortError();
  const id = nextRequestId++;
  const onAbort = () => ctx.cancel(id);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await run(id);
  } catch (err) {
    if (err instanceof Error && err.name === 'AbortError') throw new AbortError(err.message, { cause: err });
    throw new GeniusError(messageOf(err), { cause: err });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * The rollout engine over one llama.cpp context: each sequence has its own KV cache stream (one
 * shared cache with `kvUnified`), and every pending request from any caller joins the same
 * decode batches (continuous batching).
 * All methods are asynchronous and never block the JS thread.
 */
export class Context {
  #native: NativeContext | undefined;
  readonly model: Model;

  private constructor(model: Model, handle: NativeContext) {
    this.model = model;
    this.#native = handle;
  }

  /**
   * Creates a context with `contextSize` KV cells in all and up to `maxSequences` live sequences
   * (at most 256). By default each sequence has its own cache stream of contextSize /
   * maxSequences cells (rounded up to 256): forking copies the parent's stream and attention
   * stays per sequence. `kvUnified: true` shares one cache: forks share cells for free, but
   * every token attends over the whole cache (see bench/RESULTS.md for the trade-off).
   * `flashAttention: 'off'` with `kvType: 'f32'` gives exact arithmetic (for checks).
   */
  static async create(model: Model, options: ContextOptions = {}): Promise<Context> {
    const { sequenceContextSize, ...rest } = options;
    if (sequenceContextSize !== undefined) {
      if (rest.kvUnified)
        throw new GeniusError('sequenceContextSize applies to the split cache; give contextSize with kvUnified', {
          code: 'INVALID_ARGUMENT',
        });
      if (!Number.isInteger(sequenceContextSize) || sequenceContextSize < 1) {
        throw new GeniusError(`sequenceContextSize must be a positive integer, got ${sequenceContextSize}`, { code: 'INVALID_ARGUMENT' });
      }
      rest.contextSize = sequenceContextSize * (rest.maxSequences ?? 64);
      if (rest.contextSize > 0x7fffffff) {
        throw new GeniusError(
          `sequenceContextSize ${sequenceContextSize} x maxSequences ${rest.maxSequences ?? 64} = ${rest.contextSize} KV cells: more than 2^31 - 1`,
          { code: 'INVALID_ARGUMENT' },
        );
      }
    }
    try {
      return new Context(model, await native().createContext(model.handle, rest));
    } catch (err) {
      throw new GeniusError(messageOf(err), { cause: err });
    }
  }

  /** @internal The native handle (binding layer). */
  get handle(): NativeContext {
    if (!this.#native) throw new GeniusError('context is disposed', { code: 'DISPOSED' });
    return this.#native;
  }

  /** What the context was created with. */
  get info(): ContextInfo {
    return this.handle.info();
  }

  /** Live counters: sequences, slots, KV cells in use, requests, tokens evaluated. */
  stats(): EngineStats {
    return this.handle.stats();
  }

  /**
   * A new sequence holding `tokens` (the prompt). Costs one prefill of all but the last token;
   * the last is evaluated by whatever comes next (generate, score, or each fork's first step).
   * Waits for a free sequence slot if all are in use.
   */
  async sequence(tokens: readonly number[]): Promise<Sequence> {
    try {
      const h = await this.handle.createSequence(tokenIds(tokens));
      return new Sequence(this, h, tokens.length);
    } catch (err) {
      throw new GeniusError(messageOf(err), { cause: err });
    }
  }

  /**
   * Teacher-forced log-probs: for each token of `continuation`, log p(token | prefix, earlier
   * continuation tokens) under the raw model distribution. Batched with all other work.
   */
  async score(prefix: readonly number[], continuation: readonly number[], options: { signal?: AbortSignal } = {}): Promise<number[]> {
    const seq = await this.sequence(prefix);
    try {
      return await seq.score(continuation, options);
    } finally {
      await seq.release();
    }
  }

  /** Attaches LoRA adapters (replacing any attached before); `[]` detaches all. */
  async setAdapters(adapters: readonly { adapter: Adapter; scale?: number }[]): Promise<void> {
    try {
      await this.handle.setAdapters(adapters.map((a) => ({ adapter: a.adapter.handle, scale: a.scale ?? 1 })));
    } catch (err) {
      throw new GeniusError(messageOf(err), { cause: err });
    }
  }

  /** Stops the engine: requests in flight reject with "context disposed". Idempotent. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  /** Whether `dispose()` has run. */
  get disposed(): boolean {
    return !this.#native;
  }

  /** Same as `dispose()` (for `using`). */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * A sequence of tokens in a context's KV cache. One request at a time runs on a sequence;
 * `fork` makes children that share its cells. Call `release()` to free its slot and cells.
 */
export class Sequence {
  #released = false;
  #length: number;
  constructor(
    readonly context: Context,
    readonly handle: number,
    length: number,
  ) {
    this.#length = length;
  }

  /**
   * Tokens the sequence holds (prompt, appended and generated tokens). NaN after a cancelled or
   * failed request, which may have appended part of its tokens, until a rewind sets it again.
   */
  get length(): number {
    return this.#length;
  }

  #busy = false;

  /** One request at a time per sequence, refused at submission (not when the engine gets to it). */
  async #tracked<T>(start: () => Promise<T>): Promise<T> {
    if (this.#busy) throw new GeniusError('the sequence is busy: one request at a time per sequence', { code: 'BUSY' });
    this.#busy = true;
    try {
      return await start();
    } catch (err) {
      this.#length = NaN;
      throw err;
    } finally {
      this.#busy = false;
    }
  }

  /** Whether the sequence has been released (its cells freed). */
  get released(): boolean {
    return this.#released;
  }

  #ctx(): NativeContext {
    if (this.#released) throw new GeniusError('sequence is released', { code: 'UNKNOWN_SEQUENCE' });
    return this.context.handle;
  }

  /** `n` children sharing this sequence's KV cells (no re-prefill). Waits for free slots. */
  async fork(n: number): Promise<Sequence[]> {
    if (!Number.isInteger(n) || n < 0) throw new GeniusError(`fork count must be a non-negative integer, got ${n}`);
    try {
      const handles = await this.#ctx().fork(this.handle, n);
      return handles.map((h) => new Sequence(this.context, h, this.#length));
    } catch (err) {
      throw new GeniusError(messageOf(err), { cause: err });
    }
  }

  /** Appends tokens (evaluated now, batched with other work). */
  async extend(tokens: readonly number[], options: { signal?: AbortSignal } = {}): Promise<void> {
    const ctx = this.#ctx();
    await this.#tracked(() => cancellable(ctx, options.signal, (id) => ctx.extend(id, this.handle, tokenIds(tokens))));
    this.#length += tokens.length;
  }

  /**
   * Cuts the sequence back to its first `length` tokens, freeing the cells after them: try a
   * rollout, keep its log-probs, discard its tokens, with no fork and no copy. On a unified
   * cache a sequence cannot rewind past the point it was forked at.
   */
  async rewind(length: number): Promise<void> {
    if (!Number.isInteger(length)) throw new GeniusError(`rewind length must be an integer, got ${length}`);
    try {
      await this.#ctx().rewind(this.handle, length);
    } catch (err) {
      throw new GeniusError(messageOf(err), { cause: err });
    }
    this.#length = length;
  }

  /**
   * Samples a continuation; the generated tokens stay in the sequence. Options are checked at
   * the native boundary: maxTokens an integer >= 0 or Infinity (then a stop, EOS or the end of
   * the context ends it), temperature finite >= 0, topK an integer >= 0, topP in [0, 1].
   */
  async generate(options: GenerateOptions = {}): Promise<Completion> {
    const ctx = this.#ctx();
    const params = {
      maxTokens: options.maxTokens ?? 256,
      temperature: options.temperature ?? 1,
      topK: options.topK ?? 0,
      topP: options.topP ?? 1,
      seed: options.seed ?? 0,
      stop: options.stop ?? [],
      stopTokens: Array.from(tokenIds(options.stopTokens ?? [], 'stopTokens')),
      stopAtEog: options.stopAtEog ?? true,
    };
    const c: NativeCompletion = await this.#tracked(() => cancellable(ctx, options.signal, (id) => ctx.generate(id, this.handle, params)));
    this.#length += c.tokens.length;
    return {
      tokens: Array.from(c.tokens),
      pieces: c.pieces,
      rawLogprobs: Array.from(c.rawLogprobs),
      sampleLogprobs: Array.from(c.sampleLogprobs),
      text: c.text,
      finish: c.finish,
    };
  }

  /**
   * Teacher-forced raw log-probs of `tokens` after the sequence's content; the tokens are
   * appended to the sequence (fork first to score without changing it).
   */
  async score(tokens: readonly number[], options: { signal?: AbortSignal } = {}): Promise<number[]> {
    const ctx = this.#ctx();
    const logprobs = Array.from(
      await this.#tracked(() => cancellable(ctx, options.signal, (id) => ctx.score(id, this.handle, tokenIds(tokens)))),
    );
    this.#length += tokens.length;
    return logprobs;
  }

  /** The raw next-token logits (vocabulary-sized) after the sequence's content; no change to it. */
  async logits(options: { signal?: AbortSignal } = {}): Promise<Float32Array> {
    const ctx = this.#ctx();
    return cancellable(ctx, options.signal, (id) => ctx.logits(id, this.handle));
  }

  /** Frees the slot and the cells no other sequence shares; cancels a request running on it. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    if (this.context.disposed) return;
    await this.context.handle.release(this.handle);
  }
}
