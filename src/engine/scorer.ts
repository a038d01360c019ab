import type { Context } from './context.js';

/** One teacher-forced scoring request: the tokens to condition on and the tokens to score. */
export interface ScoreItem {
  prefix: readonly number[];
  continuation: readonly number[];
}

/**
 * Anything that can give raw per-token log-probs of continuations (the rollout engine, ONNX
 * Runtime). Training takes its reference log-probs from one, so two engines can check each other.
 */
export interface Scorer {
  /** `log p(continuation[i] | prefix, continuation[<i])` for every item, in order; batched where the scorer can. */
  scoreBatch(items: readonly ScoreItem[], options?: { signal?: AbortSignal }): Promise<number[][]>;
  /** Frees what the scorer holds. */
  dispose(): Promise<void> | void;
}

/** The rollout engine as a Scorer: every item is one request, batched by the engine. */
export class EngineScorer implements Scorer {
  constructor(readonly context: Context) {}

  scoreBatch(items: readonly ScoreItem[], options: { signal?: AbortSignal } = {}): Promise<number[][]> {
    return Promise.all(items.map((it) => this.context.score(it.prefix, it.continuation, options)));
  }

  /** The context belongs to the caller. */
  dispose(): void {}
}
