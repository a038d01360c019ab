import { basename } from 'node:path';
import { statSync } from 'node:fs';
import { Adapter, Context } from '../engine/context.js';
import { Model } from '../engine/model.js';
import { GeniusError, messageOf } from '../errors.js';
import { JsonlAppender, writeJsonlAtomic } from '../jsonl.js';
import { configHash, type ForesightConfig } from './config.js';
import { exploreQuery, promptFor, type Query } from './explore.js';
import { readQueries } from './queries.js';
import type { ExplorationRecord } from './records.js';
import { inShard, type Shard } from './shard.js';

/** A `runSampling` job: model, queries, output file, foresight settings, concurrency, seed, shard. */
export interface SampleOptions {
  model: string;
  adapter?: string;
  queries: string;
  out: string;
  config: ForesightConfig;
  /** Queries in flight at once (their requests share every decode batch). */
  concurrency: number;
  seed: number;
  shard?: Shard;
  strict?: boolean;
  field?: string;
  /** Cells per sequence (default: the longest prompt plus K steps plus a rollout). */
  sequenceContextSize?: number;
  threads?: number;
  gpuLayers?: number;
  /** Fork shared prefixes (default); false re-prefills every request (benchmark baseline). */
  prefixSharing?: boolean;
  /** Flash attention (default auto). */
  flashAttention?: 'on' | 'off' | 'auto';
  signal?: AbortSignal;
  /** Progress after each query written. */
  onProgress?: (p: SampleProgress) => void;
  /** Notes: skipped lines, per-query failures, resume. */
  log?: (message: string) => void;
}

/** Progress of a sampling run, reported after each finished query. */
export interface SampleProgress {
  done: number;
  total: number;
  generatedTokens: number;
  seconds: number;
}

/** What a sampling run did: records written, already there, failed; tokens; seconds. */
export interface SampleSummary {
  written: number;
  alreadyDone: number;
  failed: number;
  skippedLines: number;
  generatedTokens: number;
  seconds: number;
}

/** Everything besides the config that shapes the records; a resumed run must match it. */
function identity(o: SampleOptions) {
  const size = (p?: string) => (p ? statSync(p).size : 0);
  return {
    model: basename(o.model),
    modelBytes: size(o.model),
    adapter: o.adapter ? basename(o.adapter) : null,
    adapterBytes: size(o.adapter),
    seed: o.seed,
  };
}

/**
 * `genius sample`: exploration over a query file. Records are appended in query order, one whole
 * line each, so a killed run leaves only complete records; re-running skips the ids already in
 * the output and produces the same file an uninterrupted run would (only `seconds` differs).
 */
export async function runSampling(o: SampleOptions): Promise<SampleSummary> {
  const t0 = performance.now();
  const log = o.log ?? (() => {});
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1)
    throw new GeniusError(`concurrency must be an integer >= 1, got ${o.concurrency}`, { code: 'INVALID_ARGUMENT' });
  let skippedLines = 0;
  const all = readQueries(o.queries, { field: o.field, strict: o.strict, onSkip: (m) => (skippedLines++, log(m)) });
  const mine = all.filter((q) => inShard(q.index, o.shard));
  const hash = configHash(o.config, identity(o));

  const { log: out, existing } = JsonlAppender.open<ExplorationRecord>(o.out, { sidecar: `${o.out}.config.json` });
  try {
    const foreign = existing.find((r) => r.config_hash !== hash);
    if (foreign) {
      throw new GeniusError(
        `${o.out} holds records made with other settings (config ${foreign.config_hash ?? 'unknown'}, now ${hash}); use another --out or the same settings`,
      );
    }
    writeJsonlAtomic(`${o.out}.config.json`, [{ config: o.config, ...identity(o), config_hash: hash }]);
    const done = new Set(existing.map((r) => String(r.id)));
    const todo = mine.filter((q) => !done.has(String(q.id)));
    if (existing.length > 0) log(`resuming: ${existing.length} queries already in ${o.out}, ${todo.length} to go`);
    const summary: SampleSummary = {
      written: 0,
      alreadyDone: mine.length - todo.length,
      failed: 0,
      skippedLines,
      generatedTokens: 0,
      seconds: 0,
    };
    if (todo.length === 0) return finish(summary);

    const model = await Model.load(o.model, { gpuLayers: o.gpuLayers });
    let ctx: Context | undefined;
    // An abort (SIGTERM, SIGINT) stops queries in flight too, not only the next ones: disposing
    // the context rejects their requests at once. Records already written stay; resume redoes the rest.
    const stop = () => ctx?.dispose();
    o.signal?.addEventListener('abort', stop, { once: true });
    try {
      ctx = await createContext(model, todo, o);
      if (o.adapter) await ctx.setAdapters([{ adapter: await Adapter.load(model, o.adapter) }]);
      await explore(ctx, model, todo, o, hash, (record, error, q) => {
        if (record) {
          out.append(record);
          summary.written++;
          summary.generatedTokens += record.tokens?.generated ?? 0;
        } else {
          summary.failed++;
          log(`query ${JSON.stringify(q.id)} failed: ${error}`);
        }
        o.onProgress?.({
          done: summary.alreadyDone + summary.written + summary.failed,
          total: mine.length,
          generatedTokens: summary.generatedTokens,
          seconds: (performance.now() - t0) / 1000,
        });
      });
    } finally {
      o.signal?.removeEventListener('abort', stop);
      ctx?.dispose();
      model.dispose();
    }
    return finish(summary);
  } finally {
    out.close();
  }

  function finish(s: SampleSummary): SampleSummary {
    s.seconds = (performance.now() - t0) / 1000;
    return s;
  }
}

/** A context sized for the run: enough sequences for every query in flight, streams for the longest. */
async function createContext(model: Model, todo: Query[], o: SampleOptions): Promise<Context> {
  const c = o.config;
  const separator = model.tokenize(c.stepSeparator).length;
  // Sized per query: the longest query that fits the model's trained context (or twice the
  // median need) sets the size; a longer one then fails alone ("prompt exceeds") instead of
  // sizing a KV cache that no machine holds, which would fail every query.
  const needs = todo
    .map((q) => promptFor(model, q.question, c).length + c.steps * (c.maxStepTokens + separator) + c.maxRolloutTokens + 8)
    .sort((a, b) => a - b);
  const limit = Math.max(model.info.contextLength, 2 * needs[Math.floor(needs.length / 2)]!);
  const perSequence = o.sequenceContextSize ?? needs.filter((n) => n <= limit).at(-1) ?? needs[0]!;
  const perQuery = c.beams + 2 * c.beams * c.rollouts;
  const maxSequences = Math.min(256, o.concurrency * perQuery + 1);
  return Context.create(model, {
    sequenceContextSize: perSequence,
    maxSequences,
    threads: o.threads,
    flashAttention: o.flashAttention,
    waitMs: 600_000,
  });
}

type Deliver = (record: ExplorationRecord | undefined, error: string | undefined, query: Query) => void;

/**
 * Runs up to `concurrency` queries at once and delivers results strictly in query order; a
 * query may start only while fewer than 4x concurrency results wait to be delivered.
 */
async function explore(ctx: Context, model: Model, todo: Query[], o: SampleOptions, hash: string, deliver: Deliver): Promise<void> {
  const results = new Map<number, { record?: ExplorationRecord; error?: string }>();
  let next = 0; // next query to start
  let flushed = 0; // next query to deliver
  const flush = () => {
    while (results.has(flushed)) {
      const r = results.get(flushed)!;
      results.delete(flushed);
      deliver(r.record, r.error, todo[flushed]!);
      flushed++;
    }
  };
  const worker = async () => {
    while (next < todo.length && !o.signal?.aborted) {
      if (next >= flushed + 4 * o.concurrency) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      const i = next++;
      try {
        const record = await exploreQuery(ctx, model, todo[i]!, o.config, o.seed, { prefixSharing: o.prefixSharing });
        results.set(i, { record: { ...record, config_hash: hash } });
      } catch (err) {
        if (ctx.disposed) throw err;
        results.set(i, { error: messageOf(err) });
      }
      flush();
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, todo.length) }, worker)).catch((err: unknown) => {
    if (!o.signal?.aborted) throw err;
  });
  if (o.signal?.aborted) throw new GeniusError('sampling interrupted', { code: 'ABORTED' });
}
