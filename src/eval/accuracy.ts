/** An accuracy with its 95% confidence interval. */
export interface Accuracy {
  accuracy: number;
  low: number;
  high: number;
  /** Trials the interval is over. */
  n: number;
}

/**
 * Wilson score interval (95%, z = 1.96) of a proportion observed as `successes` of `n`. Unlike
 * the normal approximation it stays inside [0, 1] and is sensible at 0% and 100%. `successes`
 * may be fractional (a mean of per-question sample accuracies): each question's mean has at most
 * a Bernoulli trial's variance, so the interval is conservative. n = 0 gives [0, 1].
 */
export function wilsonInterval(successes: number, n: number, z = 1.96): Accuracy {
  if (n <= 0) return { accuracy: 0, low: 0, high: 1, n: 0 };
  const p = successes / n;
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denominator;
  return { accuracy: p, low: Math.max(0, center - half), high: Math.min(1, center + half), n };
}
