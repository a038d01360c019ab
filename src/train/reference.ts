import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { AbortError, GeniusError } from '../errors.js';
import { Trainer } from './trainer.js';
import { readJsonl, writeJsonlAtomic } from '../jsonl.js';
import { Adapter, Context } from '../engine/context.js';
import { Model } from '../engine/model.js';
import { EngineScorer, type ScoreItem, type Scorer } from '../engine/scorer.js';
import type { TokenizedPair } from './data.js';

/** Sequence log-probs (sum over response tokens) of each pair under the reference policy. */
export interface ReferenceLogps {
  chosen: number[];
  rejected: number[];
}

/** What the cached values depend on: the scorer, the model file (and adapter), the exact tokens. */
export function referenceKey(spec: string, model: string, adapter: string | undefined, pairs: readonly TokenizedPair[]): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ spec, model, adapter: adapter ?? null }));
  for (const f of [model, adapter]) {
    if (!f || !existsSync(f)) continue;
    const st = statSync(f);
    h.update(`${st.size}:${st.mtimeMs}`);
  }
  for (const p of pairs) h.update(Int32Array.from([...p.prompt, -1, ...p.chosen, -2, ...p.rejected, -3]));
  return h.digest('hex').slice(0, 16);
}

/**
 * The scorer `spec` names (`engine`, `trainer`, or `onnx:PATH`; see scorerFromSpec) for reference log-probs
 * of `model` (+ `adapter`). The engine runs in its exact configuration (no flash attention, F32
 * KV cache), so reference and policy log-probs agree to ~1e-6 at step 0.
 */
export async function openReferenceScorer(spec: string, model: string, adapter: string | undefined, maxSeqLen: number): Promise<Scorer> {
  const m = await Model.load(model);
  let ctx: Context | undefined;
  try {
    if (spec.startsWith('onnx:')) {
      const { scorerFromSpec } = await import('../onnx/index.js');
      if (adapter)
        throw new GeniusError('an ONNX reference cannot take a LoRA adapter: export the merged model (genius merge-adapter) instead');
      const onnx = await scorerFromSpec(spec, { vocabSize: m.info.vocabSize });
      m.dispose();
      return onnx;
    }
    if (spec === 'trainer') {
      m.dispose();
      return await TrainerScorer.open(model, adapter);
    }
    if (spec !== 'engine') throw new GeniusError(`unknown reference scorer '${spec}' (use engine, trainer or onnx:PATH)`);
    ctx = await Context.create(m, {
      flashAttention: 'off',
      kvType: 'f32',
      maxSequences: 16,
      sequenceContextSize: Math.max(256, maxSeqLen),
    });
    if (adapter) await ctx.setAdapters([{ adapter: await Adapter.load(m, adapter) }]);
    const scorer = new EngineScorer(ctx);
    const c = ctx;
    return Object.assign(scorer, {
      dispose() {
        c.dispose();
        m.dispose();
      },
    });
  } catch (e) {
    ctx?.dispose();
    if (!m.disposed) m.dispose();
    throw e;
  }
}

/**
 * The trainer's own forward pass as a Scorer: the same arithmetic as the policy, so reference and
 * policy agree exactly at step 0 and results do not depend on how requests were batched.
 */
export class TrainerScorer implements Scorer {
  private constructor(private readonly trainer: Trainer) {}

  static async open(model: string, adapter?: string, options: { threads?: number } = {}): Promise<TrainerScorer> {
    // Without an adapter, LoRA with no targets: the base model, frozen, with no adapter products.
    return new TrainerScorer(
      await Trainer.create({
        model,
        ...(adapter ? { adapter } : { lora: { targets: [] } }),
        ...(options.threads ? { threads: options.threads } : {}),
      }),
    );
  }

  /** Packs items into graphs of at most `maxTokens` tokens. */
  async scoreBatch(items: readonly ScoreItem[], options: { signal?: AbortSignal; maxTokens?: number } = {}): Promise<number[][]> {
    const out: number[][] = [];
    const budget = options.maxTokens ?? 4096;
    for (let i = 0; i < items.length;) {
      if (options.signal?.aborted) throw new AbortError();
      const part: ScoreItem[] = [];
      let tokens = 0;
      for (; i < items.length && (part.length === 0 || tokens + items[i]!.prefix.length + items[i]!.continuation.length <= budget); i++) {
        part.push(items[i]!);
        tokens += items[i]!.prefix.length + items[i]!.continuation.length;
      }
      out.push(...(await this.trainer.logprobs(part.map((p) => ({ prompt: p.prefix, response: p.continuation })))));
    }
    return out;
  }

  dispose(): void {
    this.trainer.dispose();
  }
}

/**
 * Scores every pair's responses once (batched, `chunk` pairs at a time) and caches the sums in
 * `cache` (JSONL, first line the key); a cache with the same key is read instead.
 */
export async function referenceLogps(
  pairs: readonly TokenizedPair[],
  scorer: () => Promise<Scorer>,
  options: { cache?: string; key: string; chunk?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void },
): Promise<ReferenceLogps> {
  const { cache, key, chunk = 32 } = options;
  if (cache && existsSync(cache)) {
    const lines = readJsonl<{ key?: string; chosen?: number; rejected?: number }>(cache);
    if (lines[0]?.key === key && lines.length === pairs.length + 1) {
      return { chosen: lines.slice(1).map((l) => Number(l.chosen)), rejected: lines.slice(1).map((l) => Number(l.rejected)) };
    }
  }
  const s = await scorer();
  const out: ReferenceLogps = { chosen: [], rejected: [] };
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  try {
    for (let i = 0; i < pairs.length; i += chunk) {
      const part = pairs.slice(i, i + chunk);
      const items: ScoreItem[] = part.flatMap((p) => [
        { prefix: p.prompt, continuation: p.chosen },
        { prefix: p.prompt, continuation: p.rejected },
      ]);
      const lp = await s.scoreBatch(items, { signal: options.signal });
      part.forEach((_, j) => {
        out.chosen.push(sum(lp[2 * j]!));
        out.rejected.push(sum(lp[2 * j + 1]!));
      });
      options.onProgress?.(Math.min(pairs.length, i + chunk), pairs.length);
    }
  } finally {
    await s.dispose();
  }
  const bad = out.chosen.findIndex((x, i) => !Number.isFinite(x) || !Number.isFinite(out.rejected[i]!));
  if (bad >= 0) throw new GeniusError(`reference log-prob of pair ${pairs[bad]!.index + 1} is not finite`);
  if (cache) writeJsonlAtomic(cache, [{ key }, ...out.chosen.map((c, i) => ({ chosen: c, rejected: out.rejected[i] }))]);
  return out;
}
