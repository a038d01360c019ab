/**
 * The exploration record: one JSONL line per query, with the reference code's fields (so its
 * preference builder reads our files and ours reads its files) plus our own.
 *
 * Pool layout, as the reference writes it: traj_pool, prob_pool and adv_pool have K+1 entries
 * (entry K: the final completions; traj_pool[K] stays empty), step_pool and step_prob have K,
 * sample_id_pool has K+1. Entry k of a pool lists the M*N candidates of step k.
 */
export interface ExplorationRecord {
  id: string | number;
  question: string;
  ground_truth: unknown;
  /** The chosen final trajectory (reasoning prefix, kept steps, final completion). */
  response: string;
  response_all_beams: string[];
  foresight_steps: number;
  /** Full trajectories T_k(i): previous steps, candidate step, foresight rollout. */
  traj_pool: string[][];
  /** The foresight rollout text of each candidate (the reference's naming). */
  step_pool: string[][];
  /** Foresight scores f_k(i) (mean raw log-prob of the rollout). */
  prob_pool: number[][];
  /** Advantages A_k(i) = f_k(i) - Q_{k-1}(beam). */
  adv_pool: number[][];
  /** Each candidate step's own mean log-prob. */
  step_prob: number[][];
  /** Indices of the candidates kept as beams at each step; last: the final pick, M times. */
  sample_id_pool: number[][];
  // --- ours ---
  /** Position of the query in the input file (shards join on it). */
  index?: number;
  /** The step text of each candidate (the part of the trajectory the step added). */
  candidate_pool?: string[][];
  /** Beam each candidate came from. */
  beam_pool?: number[][];
  /** Whether a kept step reached a final-answer marker. */
  complete?: boolean;
  tokens?: { prompt: number; generated: number };
  seconds?: number;
  seed?: number;
  config_hash?: string;
}
