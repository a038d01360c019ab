import { GeniusError, messageOf } from '../errors.js';
import {
  native,
  type NativeBatch,
  type NativeLossSpec,
  type NativeMicroResult,
  type NativeNodeDesc,
  type NativeTrainer,
  type NativeTrainerInfo,
} from '../engine/native.js';

/** The default LoRA targets: every attention and MLP projection (GGUF names). */
export const LORA_TARGETS = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'] as const;

/** Hugging Face / PEFT module names accepted as aliases of the GGUF ones. */
const TARGET_ALIASES: Record<string, string> = {
  q_proj: 'attn_q',
  k_proj: 'attn_k',
  v_proj: 'attn_v',
  o_proj: 'attn_output',
  gate_proj: 'ffn_gate',
  up_proj: 'ffn_up',
  down_proj: 'ffn_down',
};

/** How `Trainer.create` loads a model: LoRA (rank, alpha, targets) or full weights, a starting adapter, backend, threads, seed. */
export interface TrainerOptions {
  /**
   * A llama / qwen2 / qwen3 GGUF with weights of any type. LoRA keeps the frozen matrices in the
   * file's type (F16, BF16, Q8_0, Q4_K, ...) where the backend has kernels for it, else F32 (see
   * `info.dequantized`); full training dequantizes every weight to F32 master weights.
   */
  model: string;
  /** Train every weight (F32) instead of a LoRA adapter. */
  full?: boolean;
  /** LoRA: `f32` dequantizes the frozen base weights too (the reference path). Default `native`. */
  baseWeights?: 'native' | 'f32';
  /** LoRA rank (default 16), alpha (default 2 * rank) and target modules (default all projections; none: a frozen model that only scores). */
  lora?: { rank?: number; alpha?: number; targets?: readonly string[]; initBStd?: number };
  /** Start from this adapter (its rank, alpha and targets win). */
  adapter?: string;
  backend?: 'cpu' | 'cuda';
  threads?: number;
  /** Seeds the LoRA initialisation. */
  seed?: number;
}

/** One sequence: prompt tokens (conditioned on, not scored) then response tokens (scored). */
export interface TrainSequence {
  prompt: readonly number[];
  response: readonly number[];
}

/** The trainer's model shape, backend, parameter counts, optimizer step and memory. */
export type TrainerInfo = NativeTrainerInfo;

/** AdamW with clipping; `lr` already scheduled for this step. */
export interface OptimizerStep {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Clip the global gradient norm to this (<= 0: no clipping). Default 1. */
  maxGradNorm?: number;
}

/** Packs sequences for the native graph (block-diagonal causal attention, no padding). */
export function packBatch(seqs: readonly TrainSequence[]): NativeBatch {
  const lengths = seqs.map((s) => s.prompt.length + s.response.length);
  const tokens = new Int32Array(lengths.reduce((a, b) => a + b, 0));
  let off = 0;
  for (const s of seqs) {
    tokens.set(s.prompt, off);
    tokens.set(s.response, off + s.prompt.length);
    off += s.prompt.length + s.response.length;
  }
  return { tokens, lengths, promptLengths: seqs.map((s) => s.prompt.length) };
}

/**
 * The native trainer: forward + backward of the model as one ggml graph per micro-batch, exact
 * gradients of the preference losses, AdamW. One operation at a time (calls queue natively).
 */
export class Trainer {
  #native: NativeTrainer | undefined;

  private constructor(n: NativeTrainer) {
    this.#native = n;
  }

  /** Loads the model onto the backend and creates (or loads) the adapter. Cost: one pass over the file. */
  static async create(options: TrainerOptions): Promise<Trainer> {
    const targets = (options.lora?.targets ?? LORA_TARGETS).map((t) => TARGET_ALIASES[t] ?? t);
    const rank = options.lora?.rank ?? 16;
    if (!Number.isInteger(rank) || rank < 1) throw new GeniusError(`LoRA rank must be a positive integer (got ${rank})`);
    try {
      return new Trainer(
        await native().createTrainer({
          model: options.model,
          full: options.full ?? false,
          backend: options.backend ?? 'cpu',
          threads: options.threads ?? 0,
          seed: options.seed ?? 0,
          loraRank: rank,
          loraAlpha: options.lora?.alpha ?? 2 * rank,
          loraTargets: targets,
          loraInitBStd: options.lora?.initBStd ?? 0,
          ...(options.adapter ? { adapter: options.adapter } : {}),
          baseF32: options.baseWeights === 'f32',
        }),
      );
    } catch (e) {
      throw new GeniusError(`cannot create trainer: ${messageOf(e)}`);
    }
  }

  get #n(): NativeTrainer {
    if (!this.#native) throw new GeniusError('trainer is disposed');
    return this.#native;
  }

  /** The trainer's model shape, backend, parameter counts, optimizer step and memory. */
  get info(): TrainerInfo {
    return this.#n.info();
  }

  /** Per-token log-probs of each sequence's response (no gradients), one array per sequence. */
  async logprobs(seqs: readonly TrainSequence[]): Promise<number[][]> {
    const flat = await wrap(this.#n.logprobs(packBatch(seqs)));
    const out: number[][] = [];
    let off = 0;
    for (const s of seqs) {
      out.push(Array.from(flat.subarray(off, off + s.response.length)));
      off += s.response.length;
    }
    return out;
  }

  /**
   * Adds one micro-batch's gradients to the accumulators. Pair losses take P chosen then P
   * rejected sequences; SFT takes the chosen ones only.
   */
  accumulate(seqs: readonly TrainSequence[], loss: NativeLossSpec): Promise<NativeMicroResult> {
    return wrap(this.#n.accumulate(packBatch(seqs), loss));
  }

  /** Every node of the micro-batch's graph (with `loss`: forward + backward), built, not computed. */
  describe(seqs: readonly TrainSequence[], loss?: NativeLossSpec): Promise<NativeNodeDesc[]> {
    return wrap(this.#n.describe(packBatch(seqs), loss));
  }

  /** Allocates the micro-batch's training graph without computing it; returns the trainer's bytes (as `info.memoryBytes`). */
  measure(seqs: readonly TrainSequence[], loss: NativeLossSpec): Promise<number> {
    return wrap(this.#n.measure(packBatch(seqs), loss));
  }

  /** Clears the accumulated gradients (before the first `accumulate` of an optimizer step). */
  zeroGrad(): Promise<void> {
    return wrap(this.#n.zeroGrad());
  }

  /** Clips and applies one AdamW update; returns the gradient norm before clipping. */
  step(opt: OptimizerStep): Promise<number> {
    return wrap(this.#n.step(opt));
  }

  /** Trainable parameters, concatenated in a fixed order. */
  parameters(): Promise<Float32Array> {
    return wrap(this.#n.readFlat('parameters'));
  }

  /** Accumulated gradients, in the order of `parameters()`. */
  gradients(): Promise<Float32Array> {
    return wrap(this.#n.readFlat('gradients'));
  }

  /** Replaces every trainable parameter (the order of `parameters()`). */
  setParameters(flat: Float32Array): Promise<void> {
    return wrap(this.#n.writeParameters(flat));
  }

  /** The adapter in llama.cpp's LoRA GGUF format (what the rollout engine attaches). */
  saveAdapter(path: string): Promise<void> {
    return wrap(this.#n.save('adapter', path));
  }

  /**
   * A full GGUF: trained weights (F32, or F16 matrices), or the base with the adapter folded in
   * (folded matrices F32 or F16; the others in the type they are held in, see `baseWeights`).
   */
  saveModel(path: string, options: { f16?: boolean } = {}): Promise<void> {
    return wrap(this.#n.save('model', path, options));
  }

  /** Trainable weights, AdamW moments and the step counter (atomically). */
  saveState(path: string): Promise<void> {
    return wrap(this.#n.save('state', path));
  }

  /** Restores weights, AdamW moments and the step from a `saveState` file. */
  loadState(path: string): Promise<void> {
    return wrap(this.#n.loadState(path));
  }

  /** Frees the trainer's weights and graph memory. Idempotent. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  /** Same as `dispose()` (for `using`). */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

async function wrap<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw new GeniusError(messageOf(e), { cause: e }); // keeps the native code
  }
}
