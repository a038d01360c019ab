import type { ExplorationRecord } from '../foresight/records.js';
import type { PairRecord } from '../pairs/build.js';
import type { SignalReport } from '../probe/signal.js';

/**
 * One optimizer step of ACO training, one JSONL line of the run's step metrics. Names follow
 * the DPO trainers' vocabulary (TRL): rewards/chosen = beta * r_w, rewards/rejected = beta * r_l,
 * margins = their difference, accuracies = share of pairs with r_w > r_l; plus ACO's calibration
 * weight w(A) (mean over the batch). Any field but round and step may be missing.
 */
export interface TrainStepMetrics {
  /** Self-training round (0-based). */
  round: number;
  /** Optimizer step within the round (the report plots steps in file order, across rounds). */
  step: number;
  loss?: number;
  'rewards/chosen'?: number;
  'rewards/rejected'?: number;
  'rewards/margins'?: number;
  'rewards/accuracies'?: number;
  calibration_weight?: number;
  grad_norm?: number;
  lr?: number;
  tokens_per_s?: number;
}

/** An evaluation's accuracy with its 95% interval (what `evaluate` returns, minus records). */
export interface EvalSummary {
  accuracy: number;
  low: number;
  high: number;
  /** Questions. */
  n: number;
}

/** One self-training round, one JSONL line of the run's round metrics. */
export interface RoundMetrics {
  round: number;
  /** Evaluation after the round's training; null or absent when there is no eval set. */
  eval?: EvalSummary | null;
  /** Preference pairs the round trained on. */
  pairs?: number;
  /** Mean training loss of the round. */
  train_loss?: number;
  /** Exploration wall time, training wall time, ... (shown in the round table). */
  seconds?: number;
  /** The foresight-signal probe over the round's exploration, where its queries' answers are known. */
  signal?: SignalReport;
  /** Steps whose pair was dropped because chosen == rejected. */
  identical_pairs?: number;
}

/** Exploration records and pairs of one round, for the foresight-tree view. */
export interface RoundSamples {
  round: number;
  explorations: ExplorationRecord[];
  pairs: PairRecord[];
}

/** Everything a report shows; any part may be empty. */
export interface ReportData {
  title?: string;
  steps: TrainStepMetrics[];
  rounds: RoundMetrics[];
  /** Rounds with exploration records; the view shows the latest one that has any. */
  samples: RoundSamples[];
  /** Run settings shown as JSON at the end (e.g. the loop's config). */
  config?: unknown;
  /** Eval accuracy of the model before any training (round -1 on the plot), if measured. */
  baseline?: EvalSummary | null;
}

/**
 * File names of a run directory as the report reads it:
 * `<run>/metrics.jsonl` (TrainStepMetrics lines), `<run>/rounds.jsonl` (RoundMetrics lines),
 * `<run>/round-<r>/exploration.jsonl` and `<run>/round-<r>/pairs.jsonl`, `<run>/config.json`,
 * `<run>/baseline.json` (an EvalSummary); the report goes to `<run>/report.html`.
 */
export const RUN_FILES = {
  steps: 'metrics.jsonl',
  rounds: 'rounds.jsonl',
  config: 'config.json',
  /** Answers of built-in queries by id, read only by the foresight-signal probe. */
  labels: 'queries.labels.jsonl',
  baseline: 'baseline.json',
  report: 'report.html',
  /** The directory of round `round`. */
  roundDir: (round: number) => `round-${round}`,
  exploration: 'exploration.jsonl',
  pairs: 'pairs.jsonl',
} as const;
