import { GeniusError } from '../errors.js';
import { readJsonl, writeJsonlAtomic } from '../jsonl.js';
import type { PairRecord } from './build.js';

/** Trainers our pairs can be handed to for multi-GPU training. */
export const EXPORT_FORMATS = ['open-instruct', 'trl'] as const;
/** One of `EXPORT_FORMATS`. */
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Reference log-probs per pair line (null where the pair was dropped from training). */
export type ReferenceColumn = ({ chosen: number; rejected: number } | null)[];

/** An `exportPairs` job: pairs in, target format, optional reference log-probs and calibration weights per line. */
export interface ExportOptions {
  pairs: string;
  out: string;
  format: ExportFormat;
  /** Cached reference sequence log-probs (sum over response tokens), aligned with the pair lines. */
  reference?: ReferenceColumn;
  /** ACO calibration weights w, aligned with the pair lines (extra column for custom trainers). */
  weights?: number[];
  /**
   * The token ids training uses per pair line (null where dropped), and the model's detokenizer:
   * given both, the TRL export writes exactly those tokens (see exportPairs) and leaves out dropped lines.
   */
  tokens?: ({ prompt: number[]; chosen: number[]; rejected: number[] } | null)[];
  /** The model's detokenizer (special tokens as text), with `tokens`. */
  detokenize?: (ids: readonly number[]) => string;
}

const last = (m: PairRecord['chosen']) => (Array.isArray(m) ? m[m.length - 1]!.content : String(m));

/**
 * open-instruct (the authors' aco_tune.py --has_weights): chosen/rejected are whole conversations
 * (user prompt, then the assistant response) with the advantages as chosen_weights /
 * rejected_weights / chosen_average_weights. TRL (DPOTrainer, conversational format): prompt,
 * chosen and rejected message lists, precomputed reference log-probs as ref_chosen_logps /
 * ref_rejected_logps. Both keep the advantages, w and the reference log-probs as extra columns.
 *
 * With `tokens` (given a model), TRL gets its standard prompt/completion format instead: `prompt`
 * is the exact prompt text (chat template, reasoning prefix), `chosen` / `rejected` the exact
 * response texts (ending with the end-of-turn token where the trajectory ended), and the ids
 * themselves as prompt_input_ids / chosen_input_ids / rejected_input_ids. The reference
 * log-probs are sums over exactly chosen_input_ids (rejected_input_ids) after prompt_input_ids.
 */
export function exportPairs(o: ExportOptions): { written: number; withReference: number } {
  const pairs = readJsonl<PairRecord>(o.pairs, { strict: true });
  if (o.reference && o.reference.length !== pairs.length)
    throw new GeniusError(`reference log-probs cover ${o.reference.length} pairs, the file has ${pairs.length}`);
  if (o.tokens && (o.tokens.length !== pairs.length || !o.detokenize))
    throw new GeniusError('token ids must cover every pair line and come with a detokenizer');
  let withReference = 0;
  const exact = o.format === 'trl' && o.tokens !== undefined;
  const rows = pairs.flatMap((p, i): Record<string, unknown>[] => {
    if (typeof p.prompt !== 'string' || !p.chosen || !p.rejected)
      throw new GeniusError(`${o.pairs}:${i + 1}: not a pair (prompt, chosen, rejected)`);
    const ref = o.reference?.[i] ?? null;
    if (ref && (!exact || o.tokens![i])) withReference++;
    const extra = {
      chosen_weights: p.chosen_weights,
      rejected_weights: p.rejected_weights,
      chosen_average_weights: p.chosen_average_weights,
      ...(o.weights ? { calibration_weight: o.weights[i] } : {}),
    };
    const user = { role: 'user', content: p.prompt };
    if (exact) {
      const t = o.tokens![i];
      if (!t) return [];
      const text = o.detokenize!;
      return [
        {
          prompt: text(t.prompt),
          chosen: text(t.chosen),
          rejected: text(t.rejected),
          prompt_input_ids: t.prompt,
          chosen_input_ids: t.chosen,
          rejected_input_ids: t.rejected,
          ...(ref ? { ref_chosen_logps: ref.chosen, ref_rejected_logps: ref.rejected } : {}),
          ...extra,
        },
      ];
    }
    if (o.format === 'open-instruct') {
      return [
        {
          chosen: [user, { role: 'assistant', content: last(p.chosen) }],
          rejected: [user, { role: 'assistant', content: last(p.rejected) }],
          ...extra,
          ...(ref ? { reference_chosen_logps: ref.chosen, reference_rejected_logps: ref.rejected } : {}),
        },
      ];
    }
    return [
      {
        prompt: [user],
        chosen: [{ role: 'assistant', content: last(p.chosen) }],
        rejected: [{ role: 'assistant', content: last(p.rejected) }],
        ...(ref ? { ref_chosen_logps: ref.chosen, ref_rejected_logps: ref.rejected } : {}),
        ...extra,
      },
    ];
  });
  writeJsonlAtomic(o.out, rows);
  return { written: rows.length, withReference };
}
