import { MultiBar, Presets } from 'cli-progress';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { Model } from '../engine/model.js';
import { parseLoopConfig, readLoopConfig } from '../loop/config.js';
import { fmt, runLoop, type LoopEvents, type LoopSummary } from '../loop/run.js';
import { calibrationWeight, resolveLossConfig } from '../losses/index.js';
import { EXPORT_FORMATS, exportPairs, type ExportFormat } from '../pairs/export.js';
import { loadPairs } from '../train/data.js';
import { openReferenceScorer, referenceKey, referenceLogps } from '../train/reference.js';
import { runAction } from './run.js';

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('must be an integer');
  return n;
};

interface RunFlags {
  config?: string;
  model?: string;
  adapter?: string;
  queries?: string;
  /** false with --no-eval. */
  eval?: string | false;
  out?: string;
  rounds?: number;
  seed?: number;
  threads?: number;
  json?: boolean;
}

/** Log lines on stderr and, on a terminal, one progress bar per stage. */
export function loopEvents(): { events: LoopEvents; done: () => void } {
  const bars = process.stderr.isTTY ? new MultiBar({ format: '{stage} [{bar}] {value}/{total}', stream: process.stderr, hideCursor: true, clearOnComplete: true }, Presets.shades_classic) : undefined;
  let bar: ReturnType<MultiBar['create']> | undefined;
  let stage = '';
  const events: LoopEvents = {
    log: (m) => {
      bar?.stop();
      bar = undefined;
      process.stderr.write(`genius: ${m}\n`);
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
  const lines = [`accuracy before: ${fmt(summary.before)}`, ...summary.rounds.map((r) => `after round ${r.round + 1}: ${fmt(r.eval)} (${r.pairs ?? 0} pairs)`)];
  process.stdout.write(`${lines.join('\n')}\nreport: ${summary.report}\nrun: ${summary.out} (${summary.seconds.toFixed(0)} s)\n`);
}

/** `genius run` (the self-training loop) and `genius export` (pairs for other trainers). */
export function registerLoop(program: Command, verbose: () => boolean): void {
  program
    .command('run')
    .description('the self-training loop: per round foresight sampling -> pairs -> ACO training -> evaluation; resumable; writes a run directory with a report')
    .option('--config <file>', 'JSON or YAML run config (flags below override it)')
    .option('--model <path>', 'GGUF model, or builtin (default)')
    .option('--adapter <path>', 'LoRA adapter to start from')
    .option('--queries <file>', 'unlabeled queries JSONL, or builtin (default)')
    .option('--eval <file>', 'labeled eval set (GSM8K-format JSONL), or builtin (default)')
    .option('--no-eval', 'no evaluation')
    .option('--out <dir>', 'run directory')
    .option('--rounds <n>', 'self-training rounds', int)
    .option('--seed <n>', 'seed of every stage', int)
    .option('--threads <n>', 'CPU threads (0: all)', int)
    .option('--json', 'print the summary as one JSON object')
    .action((f: RunFlags) =>
      runAction(verbose(), async () => {
        const overrides: Record<string, unknown> = {};
        for (const k of ['model', 'adapter', 'queries', 'out', 'rounds', 'seed', 'threads'] as const) if (f[k] !== undefined) overrides[k] = f[k];
        if (f.eval === false) overrides.eval = null;
        else if (typeof f.eval === 'string') overrides.eval = f.eval;
        const config = f.config ? readLoopConfig(f.config, overrides) : parseLoopConfig(overrides, 'flags');
        const { events, done } = loopEvents();
        const summary = await runLoop(config, events);
        done();
        if (f.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else printLoopSummary(summary);
      }),
    );

  program
    .command('export')
    .description('write pairs for the authors\' open-instruct ACO trainer or for TRL, with advantages and cached reference log-probs')
    .requiredOption('--pairs <file>', 'pairs JSONL (genius pairs)')
    .requiredOption('--out <file>', 'JSONL to write')
    .addOption(new Option('--format <name>', 'target trainer').choices(EXPORT_FORMATS).makeOptionMandatory())
    .option('--model <path>', 'also export reference log-probs of this model (computed once, cached beside the pairs)')
    .option('--adapter <path>', 'reference = model + this adapter')
    .option('--reference <spec>', 'reference scorer: engine, trainer or onnx:PATH', 'engine')
    .option('--max-seq-len <n>', 'as in genius train', int, 1300)
    .option('--alpha <x>', 'ACO alpha for the calibration-weight column', Number, 1)
    .option('--calibration <kind>', 'paper or reference', 'paper')
    .action((f: { pairs: string; out: string; format: ExportFormat; model?: string; adapter?: string; reference: string; maxSeqLen: number; alpha: number; calibration: 'paper' | 'reference' }) =>
      runAction(verbose(), async () => {
        let reference: ({ chosen: number; rejected: number } | null)[] | undefined;
        let weights: number[] | undefined;
        if (f.model) {
          const model = await Model.load(f.model);
          const data = (() => {
            try {
              return loadPairs(f.pairs, model, { maxSeqLen: f.maxSeqLen, truncation: 'truncate' });
            } finally {
              model.dispose();
            }
          })();
          const key = referenceKey(f.reference, f.model, f.adapter, data.pairs);
          const ref = await referenceLogps(data.pairs, () => openReferenceScorer(f.reference, f.model!, f.adapter, f.maxSeqLen), {
            cache: `${f.pairs.replace(/\.jsonl$/, '')}.ref-${key}.jsonl`,
            key,
          });
          const lines = data.pairs.length + data.dropped;
          reference = Array.from({ length: lines }, () => null);
          data.pairs.forEach((p, i) => (reference![p.index] = { chosen: ref.chosen[i]!, rejected: ref.rejected[i]! }));
          const cfg = resolveLossConfig('aco', { alpha: f.alpha, calibration: f.calibration });
          weights = Array.from({ length: lines }, () => 1);
          data.pairs.forEach((p) => (weights![p.index] = calibrationWeight(cfg, p.aChosen, p.aRejected)));
        }
        const r = exportPairs({ pairs: f.pairs, out: f.out, format: f.format, ...(reference ? { reference } : {}), ...(weights ? { weights } : {}) });
        process.stdout.write(`${f.out}: ${r.written} pairs (${r.withReference} with reference log-probs), ${f.format} format\n`);
      }),
    );
}
