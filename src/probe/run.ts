import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GeniusError } from '../errors.js';
import type { ForesightConfig } from '../foresight/config.js';
import { readQueries } from '../foresight/queries.js';
import type { ExplorationRecord } from '../foresight/records.js';
import { runSampling } from '../foresight/run.js';
import { readJsonl, writeJsonlAtomic } from '../jsonl.js';
import { foresightSignal, type SignalOptions, type SignalReport } from './signal.js';

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
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    });
    return { ...report, ...(o.out ? { exploration: o.out } : {}), seconds: (performance.now() - t0) / 1000 };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
