import { GeniusError } from '../errors.js';

/**
 * The preference losses (Genius, section 3.3 and Table 4), one vocabulary for all of them (as in
 * TRL's DPOTrainer). The native trainer computes them in its graph; the float64 versions here
 * define them, check the graph in tests, and turn log-probs into metrics.
 */
export const LOSSES = ['aco', 'dpo', 'ipo', 'simpo', 'ropo', 'sft'] as const;
/** One of `LOSSES`. */
export type LossName = (typeof LOSSES)[number];

/**
 * ACO's calibration weight w(A): `paper` is eq. 11, min(1, exp(-(A_l - A_w)/alpha)) (w < 1 only
 * where the rejected step had the higher advantage); `reference` is the released code's
 * torch.max, max(1, exp(-(A_l - A_w)/alpha)) (w > 1 in the normal region, 1 elsewhere).
 */
export const CALIBRATIONS = ['paper', 'reference'] as const;
/** One of `CALIBRATIONS`. */
export type Calibration = (typeof CALIBRATIONS)[number];

/** One loss and its constants; `resolveLossConfig` fills the loss's defaults. */
export interface LossConfig {
  loss: LossName;
  /** KL strength (DPO family), IPO's tau, SimPO's reward scale. */
  beta: number;
  /** ACO's calibration temperature; Infinity gives w = 1 (DPO). */
  alpha: number;
  calibration: Calibration;
  /** SimPO's target margin gamma (the released code: 1). */
  simpoGamma: number;
  /** ROPO's weights of the sigmoid (noise-tolerant) and log-sigmoid terms (the released code: 0.2, 0.1). */
  ropoAlpha: number;
  ropoGamma: number;
}

/** Defaults: the paper's for ACO (beta 0.1, alpha 1) and the released code's constants for the baselines. */
export const LOSS_DEFAULTS: Record<LossName, LossConfig> = {
  aco: { loss: 'aco', beta: 0.1, alpha: 1, calibration: 'paper', simpoGamma: 1, ropoAlpha: 0.2, ropoGamma: 0.1 },
  dpo: { loss: 'dpo', beta: 0.1, alpha: Infinity, calibration: 'paper', simpoGamma: 1, ropoAlpha: 0.2, ropoGamma: 0.1 },
  ipo: { loss: 'ipo', beta: 0.5, alpha: Infinity, calibration: 'paper', simpoGamma: 1, ropoAlpha: 0.2, ropoGamma: 0.1 },
  simpo: { loss: 'simpo', beta: 2, alpha: Infinity, calibration: 'paper', simpoGamma: 1, ropoAlpha: 0.2, ropoGamma: 0.1 },
  ropo: { loss: 'ropo', beta: 0.1, alpha: Infinity, calibration: 'paper', simpoGamma: 1, ropoAlpha: 0.2, ropoGamma: 0.1 },
  sft: { loss: 'sft', beta: 0.1, alpha: Infinity, calibration: 'paper', simpoGamma: 1, ropoAlpha: 0.2, ropoGamma: 0.1 },
};

/** The loss's defaults with `overrides` applied, validated. */
export function resolveLossConfig(loss: string, overrides: Partial<Omit<LossConfig, 'loss'>> = {}): LossConfig {
  if (!(LOSSES as readonly string[]).includes(loss)) throw new GeniusError(`unknown loss '${loss}' (known: ${LOSSES.join(', ')})`);
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const cfg = { ...LOSS_DEFAULTS[loss as LossName], ...defined };
  if (!(cfg.beta > 0) || !Number.isFinite(cfg.beta)) throw new GeniusError(`beta must be a positive number (got ${cfg.beta})`);
  if (!(cfg.alpha > 0)) throw new GeniusError(`alpha must be positive (got ${cfg.alpha})`);
  if (!(CALIBRATIONS as readonly string[]).includes(cfg.calibration))
    throw new GeniusError(`calibration must be paper or reference (got ${cfg.calibration})`);
  return cfg;
}

/** Whether the loss compares against reference log-probs (and so needs them computed). */
export function needsReference(loss: LossName): boolean {
  return loss !== 'sft' && loss !== 'simpo';
}

/** ACO's calibration weight for one pair; 1 for every other loss. A constant: no gradient flows through it. */
export function calibrationWeight(cfg: LossConfig, aChosen: number, aRejected: number): number {
  if (cfg.loss !== 'aco' || cfg.alpha === Infinity) return 1;
  const e = Math.exp(-(aRejected - aChosen) / cfg.alpha);
  return cfg.calibration === 'paper' ? Math.min(1, e) : Math.max(1, e);
}

/** Sequence log-probs of one pair under the policy and the reference (SimPO: per-token means). */
export interface PairLogps {
  chosen: number;
  rejected: number;
  refChosen: number;
  refRejected: number;
}

const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));
const negLogSigmoid = (z: number) => softplus(-z);

/** One pair's loss in float64, the definition the native graph implements (SFT has no pair loss). */
export function pairLoss(cfg: LossConfig, p: PairLogps, w = 1): number {
  const dc = p.chosen - p.refChosen;
  const dr = p.rejected - p.refRejected;
  switch (cfg.loss) {
    case 'aco':
    case 'dpo':
      return negLogSigmoid(cfg.beta * (dc - w * dr));
    case 'ipo':
      return (dc - dr - 1 / (2 * cfg.beta)) ** 2;
    case 'simpo':
      return negLogSigmoid(cfg.beta * (p.chosen - p.rejected) - cfg.simpoGamma);
    case 'ropo': {
      const bh = cfg.beta * (dc - dr);
      return cfg.ropoAlpha / (1 + Math.exp(bh)) + cfg.ropoGamma * negLogSigmoid(bh);
    }
    case 'sft':
      throw new GeniusError('SFT has no pair loss');
  }
}

/** DPO-trainer metrics of a set of pairs, with the names every trainer logs. */
export interface RewardMetrics {
  'rewards/chosen': number;
  'rewards/rejected': number;
  'rewards/margins': number;
  'rewards/accuracies': number;
  'logps/chosen': number;
  'logps/rejected': number;
  calibration_weight: number;
}

/** rewards = beta * (policy - reference) log-prob (SimPO, reference-free: beta * mean log-prob). */
export function rewardMetrics(cfg: LossConfig, pairs: readonly PairLogps[], weights: readonly number[]): RewardMetrics {
  const n = Math.max(1, pairs.length);
  let rc = 0,
    rr = 0,
    acc = 0,
    lc = 0,
    lr = 0,
    w = 0;
  pairs.forEach((p, i) => {
    const c = cfg.beta * (p.chosen - p.refChosen);
    const r = cfg.beta * (p.rejected - p.refRejected);
    rc += c;
    rr += r;
    acc += c > r ? 1 : 0;
    lc += p.chosen;
    lr += p.rejected;
    w += weights[i] ?? 1;
  });
  return {
    'rewards/chosen': rc / n,
    'rewards/rejected': rr / n,
    'rewards/margins': (rc - rr) / n,
    'rewards/accuracies': acc / n,
    'logps/chosen': lc / n,
    'logps/rejected': lr / n,
    calibration_weight: w / n,
  };
}
