/**
 * Selection math of foresight re-sampling: the distribution F over candidate steps, drawing
 * beams from it without replacement, advantages, and the seeded randomness they use.
 */

/** A small seeded PRNG (mulberry32): the same seed gives the same draws on every platform. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Mixes integers and strings into one 32-bit seed (FNV-1a), for per-request seeds. */
export function mixSeed(...parts: (number | string)[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    const s = `${String(part)}\u0000`;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h >>> 0;
}

/** F(i) = exp(f_i / tau) / sum_j exp(f_j / tau), computed stably. */
export function softmax(scores: readonly number[], tau: number): number[] {
  if (!(tau > 0)) throw new RangeError(`tau must be positive, got ${tau}`);
  if (scores.length === 0) return [];
  const scaled = scores.map((s) => s / tau);
  const max = Math.max(...scaled);
  const exps = scaled.map((s) => Math.exp(s - max));
  const z = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / z);
}

/** One draw from Categorical(probs) (probs need not be normalised). */
export function sampleIndex(probs: readonly number[], rng: Rng): number {
  const z = probs.reduce((a, b) => a + b, 0);
  let u = rng.next() * z;
  for (let i = 0; i < probs.length; i++) {
    u -= probs[i]!;
    if (u < 0) return i;
  }
  // Rounding left u >= 0: the last index with positive mass.
  for (let i = probs.length - 1; i >= 0; i--) if (probs[i]! > 0) return i;
  return probs.length - 1;
}

/**
 * m indices drawn from Categorical(probs) without replacement: draw, remove the drawn index,
 * renormalise, repeat (numpy's `choice(replace=False, p=...)`, which the reference uses).
 */
export function sampleWithoutReplacement(probs: readonly number[], m: number, rng: Rng): number[] {
  if (m > probs.length) throw new RangeError(`cannot draw ${m} of ${probs.length} without replacement`);
  const left = [...probs];
  const picked: number[] = [];
  for (let k = 0; k < m; k++) {
    // Once all remaining mass underflows to 0, continue uniformly over what is left.
    const mass = left.reduce((a, b) => a + b, 0);
    const i = mass > 0 ? sampleIndex(left, rng) : pickUniform(left, rng);
    picked.push(i);
    left[i] = 0;
  }
  return picked;

  function pickUniform(weights: number[], r: Rng): number {
    const open = weights.map((_, i) => i).filter((i) => !picked.includes(i));
    return open[r.int(open.length)]!;
  }
}

/** Indices of the m largest scores, best first (ties: lower index first). */
export function topIndices(scores: readonly number[], m: number): number[] {
  return scores
    .map((s, i) => [s, i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, m)
    .map(([, i]) => i);
}

/** A_k(i) = f_k(i) - Q_{k-1}(beam of candidate i). */
export function advantages(scores: readonly number[], beamOf: readonly number[], q: readonly number[]): number[] {
  return scores.map((f, i) => f - q[beamOf[i]!]!);
}

/** Beam selection strategies: the paper's foresight sampling and its ablations (greedy = "w/o sampling", no-foresight = "w/o foresight") plus random and highest. */
export const STRATEGIES = ['foresight', 'greedy', 'no-foresight', 'random', 'highest'] as const;
/**
 * foresight: sample beams from F without replacement (the paper). greedy: top-M by foresight
 * score (the paper's "w/o sampling"). no-foresight: sample from F built on the step's own mean
 * log-prob, no rollouts (the paper's "w/o foresight"). random: M uniformly. highest: the single
 * best candidate, kept in every beam (the reference's "highest").
 */
export type Strategy = (typeof STRATEGIES)[number];

/** Which candidates become the next beams, by strategy. */
export function selectBeams(strategy: Strategy, scores: readonly number[], m: number, tau: number, rng: Rng): number[] {
  switch (strategy) {
    case 'foresight':
    case 'no-foresight':
      return sampleWithoutReplacement(softmax(scores, tau), m, rng);
    case 'greedy':
      return topIndices(scores, m);
    case 'random':
      return sampleWithoutReplacement(
        scores.map(() => 1),
        m,
        rng,
      );
    case 'highest':
      return Array.from({ length: m }, () => topIndices(scores, 1)[0]!);
  }
}
