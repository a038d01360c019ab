import { GeniusError } from '../errors.js';
import { Rng, sampleIndex, softmax } from '../foresight/selection.js';

/** A preference pair in the reference's JSONL format (what its ACO trainer reads). */
export interface PairRecord {
  prompt: string;
  chosen: { role: 'assistant'; content: string }[];
  rejected: { role: 'assistant'; content: string }[];
  /** A_w: advantage of the chosen trajectory. */
  chosen_weights: number;
  /** A_l: advantage of the rejected trajectory. */
  rejected_weights: number;
  /** Mean advantage over the step's candidates. */
  chosen_average_weights: number;
}

/**
 * categorical: the rejected trajectory is re-sampled from Categorical(F_k) over the candidates
 * other than the chosen one, renormalised (the paper, eq. 5). uniform: uniformly among the others
 * (the released code).
 */
export type RejectedMode = 'categorical' | 'uniform';

/** The fields of an exploration record that pairs are built from (ours or the reference's). */
export interface PoolsRecord {
  question: string;
  traj_pool: string[][];
  prob_pool: number[][];
  adv_pool: number[][];
}

/** How `buildPairs` draws pairs from one exploration record. */
export interface BuildPairsOptions {
  rejected: RejectedMode;
  /** Selection temperature of F (the one exploration used). */
  tau: number;
  /** Candidates whose trajectory is this long or longer are left out (the reference: 10,000). */
  maxChars: number;
}

/**
 * Exploitation (Genius, section 3.2): for every step with at least two candidates, chosen = the
 * trajectory with the highest foresight score, rejected re-sampled per `rejected`. One pair per
 * step: K pairs per query. Steps are read from traj_pool; its trailing empty entry (the final
 * completions, which the reference leaves without trajectories) yields no pair.
 */
export function buildPairs(record: PoolsRecord, options: BuildPairsOptions, rng: Rng): PairRecord[] {
  const { traj_pool: traj, prob_pool: prob, adv_pool: adv } = record;
  if (!Array.isArray(traj) || !Array.isArray(prob) || !Array.isArray(adv)) throw new GeniusError('record lacks traj_pool, prob_pool or adv_pool');
  const pairs: PairRecord[] = [];
  for (let k = 0; k < traj.length; k++) {
    const candidates = (traj[k] ?? [])
      .map((text, i) => ({ text, f: prob[k]?.[i], a: adv[k]?.[i] }))
      .filter((c): c is { text: string; f: number; a: number } => typeof c.text === 'string' && c.text.length < options.maxChars && Number.isFinite(c.f) && Number.isFinite(c.a));
    if (candidates.length < 2) continue;
    let best = 0;
    for (let i = 1; i < candidates.length; i++) if (candidates[i]!.f > candidates[best]!.f) best = i;
    const others = candidates.map((_, i) => i).filter((i) => i !== best);
    const pick =
      options.rejected === 'uniform'
        ? others[rng.int(others.length)]!
        : others[sampleIndex(softmax(others.map((i) => candidates[i]!.f), options.tau), rng)]!;
    const chosen = candidates[best]!;
    const rejected = candidates[pick]!;
    pairs.push({
      prompt: record.question,
      chosen: [{ role: 'assistant', content: chosen.text }],
      rejected: [{ role: 'assistant', content: rejected.text }],
      chosen_weights: chosen.a,
      rejected_weights: rejected.a,
      chosen_average_weights: candidates.reduce((s, c) => s + c.a, 0) / candidates.length,
    });
  }
  return pairs;
}
