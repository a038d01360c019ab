import { Rng, mixSeed } from '../foresight/selection.js';

/**
 * Linear warmup then linear decay to 0 (Hugging Face's get_linear_schedule_with_warmup, which the
 * paper's open-instruct trainer uses): lr * s / w for s < w, then lr * (S - s) / (S - w).
 * `step` counts optimizer updates from 0.
 */
export function linearSchedule(lr: number, step: number, totalSteps: number, warmupRatio: number): number {
  const warmup = Math.ceil(totalSteps * warmupRatio);
  if (step < warmup) return (lr * step) / Math.max(1, warmup);
  return lr * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmup));
}

/** The pair order of one epoch: a seeded Fisher-Yates shuffle (same seed, same order). */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  const rng = new Rng(mixSeed(seed, 'epoch', epoch));
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}
