import { SingleBar } from 'cli-progress';
import { resolveForesightConfig, type ForesightConfig } from '../foresight/config.js';
import { joinShards } from '../foresight/join.js';
import { runSampling, type SampleProgress } from '../foresight/run.js';
import type { Strategy } from '../foresight/selection.js';
import { parseShard } from '../foresight/shard.js';
import { runPairs } from '../pairs/run.js';
import type { RejectedMode } from '../pairs/build.js';

export interface SampleCommand {
  model: string;
  adapter?: string;
  queries: string;
  out: string;
  beams?: number;
  rollouts?: number;
  steps?: number;
  tau?: number;
  stepTemperature?: number;
  foresightTemperature?: number;
  maxStepTokens?: number;
  maxRolloutTokens?: number;
  strategy?: Strategy;
  light?: boolean;
  reasoningPrefix?: string;
  chat: boolean;
  system?: string;
  field?: string;
  concurrency: number;
  seed: number;
  shard?: string;
  shardCount?: number;
  strict?: boolean;
  contextSize?: number;
  threads?: number;
}

const say = (s: string) => process.stderr.write(`${s}\n`);

/** Progress: a bar on a terminal, a log line every 10 s (and at the end) otherwise. */
function progressReporter(): { update: (p: SampleProgress) => void; stop: () => void } {
  if (process.stderr.isTTY) {
    const bar = new SingleBar({ format: 'sample [{bar}] {value}/{total} queries | {tps} tok/s | ETA {eta_formatted}', stream: process.stderr, hideCursor: true });
    let started = false;
    return {
      update: (p) => {
        if (!started) bar.start(p.total, 0, { tps: 0 });
        started = true;
        bar.update(p.done, { tps: Math.round(p.generatedTokens / Math.max(p.seconds, 1e-3)) });
      },
      stop: () => started && bar.stop(),
    };
  }
  let last = 0;
  return {
    update: (p) => {
      if (p.seconds - last < 10 && p.done < p.total) return;
      last = p.seconds;
      const eta = p.done > 0 ? ((p.total - p.done) * p.seconds) / p.done : NaN;
      say(`sample: ${p.done}/${p.total} queries, ${Math.round(p.generatedTokens / Math.max(p.seconds, 1e-3))} tok/s, ETA ${Number.isFinite(eta) ? `${eta.toFixed(0)}s` : '?'}`);
    },
    stop: () => {},
  };
}

export async function runSampleCommand(o: SampleCommand): Promise<void> {
  const config: ForesightConfig = resolveForesightConfig({
    beams: o.beams,
    rollouts: o.rollouts,
    steps: o.steps,
    tau: o.tau,
    stepTemperature: o.stepTemperature,
    foresightTemperature: o.foresightTemperature,
    maxStepTokens: o.maxStepTokens,
    maxRolloutTokens: o.maxRolloutTokens,
    strategy: o.strategy,
    light: o.light,
    reasoningPrefix: o.reasoningPrefix,
    chat: o.chat,
    system: o.system,
  });
  const shard = parseShard(o.shard, process.env, o.shardCount);
  const progress = progressReporter();
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const s = await runSampling({
      model: o.model,
      adapter: o.adapter,
      queries: o.queries,
      out: o.out,
      config,
      concurrency: o.concurrency,
      seed: o.seed,
      shard,
      strict: o.strict,
      field: o.field,
      sequenceContextSize: o.contextSize,
      threads: o.threads,
      signal: controller.signal,
      onProgress: progress.update,
      log: say,
    });
    progress.stop();
    say(`sample: wrote ${s.written} records to ${o.out} (${s.alreadyDone} already there, ${s.failed} failed, ${s.skippedLines} input lines skipped) in ${s.seconds.toFixed(1)}s${shard ? `, shard ${shard.index}/${shard.count}` : ''}`);
    if (s.failed > 0) process.exitCode = 1;
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function runPairsCommand(o: { in: string; out: string; rejected: RejectedMode; seed: number; tau?: number; maxChars: number; keepIdentical?: boolean; strict?: boolean }): void {
  const r = runPairs({ ...o, log: say });
  const dropped = o.keepIdentical ? '' : `, ${r.identical} steps dropped because chosen == rejected (--keep-identical keeps them)`;
  say(`pairs: ${r.pairs} pairs from ${r.queries} queries written to ${o.out}${dropped}`);
}

export function runJoinCommand(out: string, shards: string[]): void {
  const r = joinShards(out, shards);
  say(`join: ${r.records} records from ${shards.length} shards written to ${out}`);
}
