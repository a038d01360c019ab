import { GeniusError } from '../errors.js';
import { Rng, sampleIndex, softmax } from '../foresight/selection.js';

/** A preference pair in the reference's JSONL format (what its ACO trainer reads), plus our token ids. */
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
  // --- ours, from exploration records that carry token ids ---
  /** The ids the sampler prefilled (chat-templated query and reasoning prefix). */
  prompt_ids?: number[];
  /** The sampled response ids after the prompt (with EOS/EOT where the trajectory ended). */
  chosen_ids?: number[];
  rejected_ids?: number[];
  /** Step (0-based) the pair comes from. */
  step?: number;
}

/**
 * categorical: the rejected trajectory is re-sampled from Categorical(F_k) over the candidates
 * other than the chosen one, renormalised (the paper, eq. 5). uniform: uniformly among the others
 * (the released code). lowest: the lowest-scored candidate (the paper's "w/o sampling" ablation).
 */
export type RejectedMode = 'categorical' | 'uniform' | 'lowest';

/** The fields of an exploration record that pairs are built from (ours or the reference's). */
export interface PoolsRecord {
  question: string;
  traj_pool: string[][];
  prob_pool: number[][];
  adv_pool: number[][];
  prompt_ids?: number[];
  token_pool?: number[][][];
}

/** How `buildPairs` draws pairs from one exploration record. */
export interface BuildPairsOptions {
  rejected: RejectedMode;
  /** Selection temperature of F (the one exploration used). */
  tau: number;
  /** Candidates whose trajectory is this long or longer are left out (the reference: 10,000). */
  maxChars: number;
  /**
   * Keep pairs whose chosen and rejected responses are identical (the authors' code does): they
   * carry no preference, and with ACO's w < 1 they still push up the shared text. Default false.
   */
  keepIdentical?: boolean;
}

/** Pairs of one record, and the steps that gave none because chosen == rejected. */
export interface BuiltPairs {
  pairs: PairRecord[];
  identical: number;
}

interface PoolCandidate {
  text: string;
  f: number;
  a: number;
  ids: number[] | undefined;
}

const sameIds = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Whether two candidates' responses are the same: their token ids where recorded, else their text. */
export function sameResponse(x: { text: string; ids?: number[] | undefined }, y: { text: string; ids?: number[] | undefined }): boolean {
  return x.ids && y.ids ? sameIds(x.ids, y.ids) : x.text === y.text;
}

/** A step's candidate as a pair side: its trajectory text, advantage and (where recorded) token ids. */
export interface PairSide {
  text: string;
  a: number;
  ids?: number[] | undefined;
}

/**
 * The pair record of step `k`: chosen and rejected with their advantages, the mean advantage over
 * the step's candidates, and the token ids when both sides carry them (and the record its prompt's).
 */
export function pairRecord(
  record: Pick<PoolsRecord, 'question' | 'prompt_ids'>,
  k: number,
  chosen: PairSide,
  rejected: PairSide,
  candidates: readonly { a: number }[],
): PairRecord {
  const ids = record.prompt_ids && chosen.ids && rejected.ids;
  return {
    prompt: record.question,
    chosen: [{ role: 'assistant', content: chosen.text }],
    rejected: [{ role: 'assistant', content: rejected.text }],
    chosen_weights: chosen.a,
    rejected_weights: rejected.a,
    chosen_average_weights: candidates.reduce((s, c) => s + c.a, 0) / candidates.length,
    ...(ids ? { prompt_ids: record.prompt_ids!, chosen_ids: chosen.ids!, rejected_ids: rejected.ids! } : {}),
    step: k,
  };
}

/** The candidate of `others` that becomes the rejected trajectory, per mode. */
function pickRejected(candidates: readonly PoolCandidate[], others: readonly number[], options: BuildPairsOptions, rng: Rng): number {
  switch (options.rejected) {
    case 'uniform':
      return others[rng.int(others.length)]!;
    case 'lowest':
      return others.reduce((lo, i) => (candidates[i]!.f < candidates[lo]!.f ? i : lo));
    case 'categorical':
      return others[
        sampleIndex(
          softmax(
            others.map((i) => candidates[i]!.f),
            options.tau,
          ),
          rng,
        )
      ]!;
  }
}

/**
 * Exploitation (Genius, section 3.2): for every step with at least two candidates, chosen = the
 * trajectory with the highest foresight score, rejected per `rejected`. One pair per step: K pairs
 * per query, less the steps whose chosen and rejected responses are identical (unless
 * keepIdentical). Steps are read from traj_pool; its trailing empty entry (the final beams, which
 * the reference leaves without trajectories) yields no pair. Records with token ids give pairs with
 * token ids, which training uses as they are.
 */
export function buildPairs(record: PoolsRecord, options: BuildPairsOptions, rng: Rng): BuiltPairs {
  const { traj_pool: traj, prob_pool: prob, adv_pool: adv } = record;
  if (!Array.isArray(traj) || !Array.isArray(prob) || !Array.isArray(adv))
    throw new GeniusError('record lacks traj_pool, prob_pool or adv_pool');
  const withIds = Array.isArray(record.prompt_ids) && Array.isArray(record.token_pool);
  const out: BuiltPairs = { pairs: [], identical: 0 };
  for (let k = 0; k < traj.length; k++) {
    const candidates = (traj[k] ?? [])
      .map((text, i): Partial<PoolCandidate> => ({
        text,
        f: prob[k]?.[i],
        a: adv[k]?.[i],
        ids: withIds ? record.token_pool![k]?.[i] : undefined,
      }))
      .filter(
        (c): c is PoolCandidate =>
          typeof c.text === 'string' &&
          c.text.length < options.maxChars &&
          Number.isFinite(c.f) &&
          Number.isFinite(c.a) &&
          (!withIds || Array.isArray(c.ids)),
      );
    if (candidates.length < 2) continue;
    let best = 0;
    for (let i = 1; i < candidates.length; i++) if (candidates[i]!.f > candidates[best]!.f) best = i;
    const others = candidates.map((_, i) => i).filter((i) => i !== best);
    const chosen = candidates[best]!;
    const rejected = candidates[pickRejected(candidates, others, options, rng)]!;
    if (!options.keepIdentical && sameResponse(chosen, rejected)) {
      out.identical++;
      continue;
    }
    out.pairs.push(pairRecord(record, k, chosen, rejected, candidates));
  }
  return out;
}
