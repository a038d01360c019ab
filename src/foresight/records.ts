/**
 * The exploration record: one JSONL line per query, with the reference code's fields (so its
 * preference builder reads our files and ours reads its files) plus our own.
 *
 * Pool layout, as the reference writes it: traj_pool, prob_pool and adv_pool have S+1 entries
 * (entry S: the final beams; traj_pool[S] stays empty), step_pool and step_prob have S,
 * sample_id_pool has S+1, where S = K steps, or fewer when every beam finished earlier. Entry k of a
 * pool lists the candidates of step k: N per beam still open at step k (M*N until a beam finishes).
 *
 * Unlike the reference, a beam whose kept step ended the response (EOS/EOT or an end marker) is
 * finished: it takes no further step, rollout or final completion (`beam_finished_at`).
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
  /** Foresight scores f_k(i): mean raw log-prob of the rollout (or of the step and rollout, per `scoreSpan`). */
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
  /** Whether a kept step reached a final-answer marker or ended the response. */
  complete?: boolean;
  /**
   * Token ids as the sampler produced them, so training sees exactly what sampling saw: the
   * prompt it prefilled (chat-templated query and reasoning prefix) ...
   */
  prompt_ids?: number[];
  /**
   * ... and, per step and candidate, the response after it (kept steps, the candidate step, its
   * rollout), ending with EOS/EOT where the trajectory ended naturally (not where a length limit cut it).
   */
  token_pool?: number[][][];
  /** Per step and candidate: the trajectory ended naturally (EOS/EOT or an end marker), not by a length limit. */
  ended_pool?: boolean[][];
  /** Per step and candidate: the candidate step itself ended the response, so no rollout followed it. */
  terminal_pool?: boolean[][];
  /** The chosen final response's ids (after prompt_ids). */
  response_ids?: number[];
  response_all_beams_ids?: number[][];
  /** Per final beam: the step at which its kept step ended the response, or null if it ran to the final completion. */
  beam_finished_at?: (number | null)[];
  tokens?: { prompt: number; generated: number };
  seconds?: number;
  seed?: number;
  config_hash?: string;
}
