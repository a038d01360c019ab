import { GeniusError } from '../errors.js';
import type { Model } from '../engine/model.js';
import { DEFAULT_FORESIGHT, type ForesightConfig } from '../foresight/config.js';
import { promptFor } from '../foresight/explore.js';
import { readJsonl } from '../jsonl.js';

/** How a query becomes prompt tokens: the sampler's formatting, so training sees what sampling saw. */
export type PromptFormat = Pick<ForesightConfig, 'chat' | 'chatTemplate' | 'system' | 'reasoningPrefix'>;

/** A preference pair as token ids, with the advantages ACO's calibration weight reads. */
export interface TokenizedPair {
  /** Line index in the pairs file (0-based). */
  index: number;
  prompt: number[];
  chosen: number[];
  rejected: number[];
  /** A_w and A_l. */
  aChosen: number;
  aRejected: number;
}

/** `truncate`: cut responses so prompt + response fits (the reference's tail truncation); `drop`: skip the pair. */
export type Truncation = 'truncate' | 'drop';

/** How `loadPairs` tokenizes: the length limit, the truncation policy and the sampler's prompt format. */
export interface TokenizeOptions {
  maxSeqLen: number;
  truncation: Truncation;
  format?: Partial<PromptFormat>;
}

/** A tokenized pairs file: the pairs kept, and how many were dropped or truncated. */
export interface TokenizedPairs {
  pairs: TokenizedPair[];
  /** Pairs left out: prompt too long, empty response, or over length with `drop`. */
  dropped: number;
  /** Pairs whose responses were cut to fit. */
  truncated: number;
}

type Content = string | { role?: string; content: string }[];

/** Our pairs JSONL (the reference's format) or TRL's string format. */
interface PairLine {
  prompt: string;
  chosen: Content;
  rejected: Content;
  chosen_weights?: number;
  rejected_weights?: number;
}

function text(c: Content | undefined, what: string, line: number): string {
  if (typeof c === 'string') return c;
  if (Array.isArray(c) && c.length > 0 && typeof c[c.length - 1]?.content === 'string') return c[c.length - 1]!.content;
  throw new GeniusError(`pairs line ${line + 1}: ${what} must be a string or a list of messages with content`);
}

/**
 * Reads a pairs file and tokenizes it with the model's tokenizer: prompt = the chat-templated
 * query (as the sampler built it), response = the trajectory text. Cost: one tokenizer pass.
 */
export function loadPairs(path: string, model: Model, options: TokenizeOptions): TokenizedPairs {
  const lines = readJsonl<PairLine>(path, { strict: true });
  if (lines.length === 0) throw new GeniusError(`no pairs in ${path}`);
  const format = { ...DEFAULT_FORESIGHT, ...options.format };
  const L = options.maxSeqLen;
  if (!Number.isInteger(L) || L < 2) throw new GeniusError(`max sequence length must be an integer >= 2 (got ${L})`);
  const out: TokenizedPairs = { pairs: [], dropped: 0, truncated: 0 };
  const promptCache = new Map<string, number[]>();
  lines.forEach((rec, i) => {
    if (typeof rec?.prompt !== 'string') throw new GeniusError(`pairs line ${i + 1}: prompt must be a string`);
    const prompt = promptCache.get(rec.prompt) ?? promptFor(model, rec.prompt, format);
    promptCache.set(rec.prompt, prompt);
    const tok = (s: string) => model.tokenize(s, { addSpecial: false, parseSpecial: false });
    let chosen = tok(text(rec.chosen, 'chosen', i));
    let rejected = tok(text(rec.rejected, 'rejected', i));
    const aChosen = Number(rec.chosen_weights ?? 0);
    const aRejected = Number(rec.rejected_weights ?? 0);
    if (!Number.isFinite(aChosen) || !Number.isFinite(aRejected)) throw new GeniusError(`pairs line ${i + 1}: chosen_weights / rejected_weights must be numbers`);
    const room = L - prompt.length;
    if (room < 1 || chosen.length === 0 || rejected.length === 0) {
      out.dropped++;
      return;
    }
    if (chosen.length > room || rejected.length > room) {
      if (options.truncation === 'drop') {
        out.dropped++;
        return;
      }
      chosen = chosen.slice(0, room);
      rejected = rejected.slice(0, room);
      out.truncated++;
    }
    out.pairs.push({ index: i, prompt, chosen, rejected, aChosen, aRejected });
  });
  return out;
}
