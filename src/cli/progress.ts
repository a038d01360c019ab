import { MultiBar, Presets, SingleBar } from 'cli-progress';
import type { SampleProgress } from '../foresight/run.js';
import { fmt, type LoopEvents, type LoopSummary } from '../loop/run.js';
import type { TrainStepRecord } from '../train/run.js';
import { say } from './action.js';

// Progress on stderr: a bar on a terminal, log lines otherwise (stdout carries results only).

/** `genius sample`'s progress: a bar on a terminal, a log line every 10 s (and at the end) otherwise. */
export function sampleProgress(): { update: (p: SampleProgress) => void; stop: () => void } {
  const rate = (p: SampleProgress) => Math.round(p.generatedTokens / Math.max(p.seconds, 1e-3));
  if (process.stderr.isTTY) {
    const bar = new SingleBar({
      format: 'sample [{bar}] {value}/{total} queries | {tps} tok/s | ETA {eta_formatted}',
      stream: process.stderr,
      hideCursor: true,
    });
    let started = false;
    return {
      update: (p) => {
        if (!started) bar.start(p.total, 0, { tps: 0 });
        started = true;
        bar.update(p.done, { tps: rate(p) });
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
      say(`sample: ${p.done}/${p.total} queries, ${rate(p)} tok/s, ETA ${Number.isFinite(eta) ? `${eta.toFixed(0)}s` : '?'}`);
    },
    stop: () => {},
  };
}

/** `genius train`'s progress bar (terminals only). */
export function trainProgress(): { onStep: (m: TrainStepRecord, total: number) => void; stop: () => void } {
  const bar = process.stderr.isTTY
    ? new SingleBar({
        format: 'train [{bar}] {value}/{total} steps | loss {loss} | acc {acc} | {tps} tok/s',
        stream: process.stderr,
        hideCursor: true,
      })
    : undefined;
  let started = false;
  return {
    onStep: (m, total) => {
      if (!bar) return;
      if (!started) bar.start(total, 0, { loss: '-', acc: '-', tps: '-' });
      started = true;
      bar.update(m.step, { loss: m.loss.toFixed(4), acc: m['rewards/accuracies'].toFixed(2), tps: Math.round(m.tokens_per_s) });
    },
    stop: () => bar?.stop(),
  };
}

/** The loop's log lines on stderr and, on a terminal, one progress bar per stage. */
export function loopEvents(): { events: LoopEvents; done: () => void } {
  const bars = process.stderr.isTTY
    ? new MultiBar(
        { format: '{stage} [{bar}] {value}/{total}', stream: process.stderr, hideCursor: true, clearOnComplete: true },
        Presets.shades_classic,
      )
    : undefined;
  let bar: ReturnType<MultiBar['create']> | undefined;
  let stage = '';
  const events: LoopEvents = {
    log: (m) => {
      bar?.stop();
      bar = undefined;
      say(`genius: ${m}`);
    },
    onProgress: (s, done, total) => {
      if (!bars) return;
      if (!bar || stage !== s) {
        stage = s;
        bar = bars.create(total, done, { stage: s.padEnd(6) });
      }
      bar.setTotal(total);
      bar.update(done);
    },
  };
  return { events, done: () => bars?.stop() };
}

/** Accuracy before and after each round, and where the report and the run are. */
export function printLoopSummary(summary: LoopSummary): void {
  const lines = [
    `accuracy before: ${fmt(summary.before)}`,
    ...summary.rounds.map((r) => `after round ${r.round + 1}: ${fmt(r.eval)} (${r.pairs ?? 0} pairs)`),
  ];
  process.stdout.write(`${lines.join('\n')}\nreport: ${summary.report}\nrun: ${summary.out} (${summary.seconds.toFixed(0)} s)\n`);
}
