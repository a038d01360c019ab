import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Context } from '../engine/context.js';
import { Model } from '../engine/model.js';
import { GeniusError } from '../errors.js';
import { evaluate } from '../eval/index.js';
import type { ForesightConfig } from '../foresight/config.js';
import { promptFor, type Query } from '../foresight/explore.js';
import { readQueries } from '../foresight/queries.js';
import type { ExplorationRecord } from '../foresight/records.js';
import { runSampling } from '../foresight/run.js';
import { readJsonl, writeJsonlAtomic } from '../jsonl.js';
import { foresightSignal, judgeFor, type SignalOptions, type SignalReport, type TrajectoryJudge } from './signal.js';

/** What `probeForesight` samples and how. */
export interface ProbeOptions extends SignalOptions {
  model: string;
  adapter?: string;
  /** Labeled task JSONL (a question field and an answer field: GSM8K's format, the built-in task's). */
  task: string;
  /** Probe the first n queries (default: all). */
  n?: number;
  config: ForesightConfig;
  concurrency?: number;
  threads?: number;
  /** Keep the exploration file here (resumable, as `genius sample`); default: a temporary file. */
  out?: string;
  /** Notes from sampling (skipped lines, failed queries). */
  log?: (message: string) => void;
  signal?: AbortSignal;
}

export interface ProbeResult extends SignalReport {
  /**
   * Greedy decoding of the same queries (same prompt, the search's token budget), judged as the
   * trajectories are: the accuracy self-training has to raise. Training towards the search's picks
   * can only raise it where `finalAccuracy` is above it.
   */
  greedyAccuracy: number;
  /** The exploration file the figures come from (undefined when it was temporary). */
  exploration?: string;
  seconds: number;
}

/**
 * The foresight-signal probe as one call: foresight sampling over labeled queries (their answers
 * never reach the sampler; they are read back from the records), then `foresightSignal`. Costs
 * one `genius sample` over n queries.
 */
export async function probeForesight(o: ProbeOptions): Promise<ProbeResult> {
  const t0 = performance.now();
  const queries = readQueries(o.task, { strict: true }).filter((q) => q.groundTruth !== undefined);
  if (queries.length === 0)
    throw new GeniusError(`${o.task}: no query with an answer field (ground_truth, answer or response): the probe needs labels`);
  const picked = queries.slice(0, o.n ?? queries.length);
  const tmp = mkdtempSync(join(tmpdir(), 'genius-probe-'));
  try {
    const input = join(tmp, 'queries.jsonl');
    writeJsonlAtomic(
      input,
      picked.map((q) => ({ id: q.id, question: q.question, ground_truth: q.groundTruth })),
    );
    const out = o.out ?? join(tmp, 'exploration.jsonl');
    const s = await runSampling({
      model: o.model,
      ...(o.adapter ? { adapter: o.adapter } : {}),
      queries: input,
      out,
      config: o.config,
      concurrency: o.concurrency ?? 8,
      seed: o.seed ?? 0,
      strict: true,
      ...(o.threads ? { threads: o.threads } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.log ? { log: o.log } : {}),
    });
    if (s.failed > 0) o.log?.(`probe: ${s.failed} queries failed in sampling and are left out`);
    const records = readJsonl<ExplorationRecord>(out, { strict: true });
    const report = foresightSignal(records, {
      tau: o.config.tau,
      ...(o.rejected ? { rejected: o.rejected } : {}),
      ...(o.resamples ? { resamples: o.resamples } : {}),
      ...(o.judge ? { judge: o.judge } : {}),
      ...(o.stepJudge ? { stepJudge: o.stepJudge } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    });
    const greedyAccuracy = await greedyBaseline(o, picked, records, o.judge ?? judgeFor('answer'));
    return { ...report, greedyAccuracy, ...(o.out ? { exploration: o.out } : {}), seconds: (performance.now() - t0) / 1000 };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Share of the explored queries whose greedy response the judge calls right (see ProbeResult). */
async function greedyBaseline(
  o: ProbeOptions,
  picked: readonly Query[],
  records: readonly ExplorationRecord[],
  judge: TrajectoryJudge,
): Promise<number> {
  const explored = new Map(records.map((r) => [String(r.id), r]));
  const items = picked.filter((q) => explored.has(String(q.id))).map((q, index) => ({ id: q.id, index, question: q.question, gold: '' }));
  if (items.length === 0) return NaN;
  const c = o.config;
  const maxTokens = c.steps * c.maxStepTokens + c.maxRolloutTokens;
  const model = await Model.load(o.model);
  try {
    const longest = Math.max(...items.map((q) => promptFor(model, q.question, c).length));
    const ctx = await Context.create(model, {
      sequenceContextSize: longest + maxTokens + 8,
      maxSequences: Math.min(64, items.length),
      ...(o.threads ? { threads: o.threads } : {}),
    });
    try {
      const r = await evaluate(ctx, model, items, {
        temperature: 0,
        maxTokens,
        prompt: c,
        ...(o.adapter ? { adapter: o.adapter } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      const right = r.records.filter((q) => judge(q.samples[0]?.text ?? '', explored.get(String(q.id))!)).length;
      return right / r.records.length;
    } finally {
      ctx.dispose();
    }
  } finally {
    model.dispose();
  }
}
