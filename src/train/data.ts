import { GeniusError } from '../errors.js';
import type { Model } from '../engine/model.js';
import { DEFAULT_FORESIGHT, type ForesightConfig } from '../foresight/config.js';
import { endOfTurnToken, promptFor } from '../foresight/explore.js';
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

/** Our pairs JSONL (the reference's format, with or without our token ids) or TRL's string format. */
interface PairLine {
  prompt: string;
  chosen: Content;
  rejected: Content;
  chosen_weights?: number;
  rejected_weights?: number;
  prompt_ids?: unknown;
  chosen_ids?: unknown;
  rejected_ids?: unknown;
}

function text(c: Content | undefined, what: string, line: number): string {
  if (typeof c === 'string') return c;
  if (Array.isArray(c) && c.length > 0 && typeof c[c.length - 1]?.content === 'string') return c[c.length - 1]!.content;
  throw new GeniusError(`pairs line ${line + 1}: ${what} must be a string or a list of messages with content`);
}

/** Token ids from a pairs line, checked against the vocabulary (undefined when the line has none). */
function idsOf(v: unknown, what: string, line: number, vocabSize: number): number[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x >= 0 && x < vocabSize)) {
    throw new GeniusError(
      `pairs line ${line + 1}: ${what} must be a list of token ids in [0, ${vocabSize}) (the pairs were sampled with another vocabulary?)`,
    );
  }
  return v as number[];
}

/** The three id lists of a line, all or none. */
function lineIds(rec: PairLine, line: number, vocabSize: number): { prompt: number[]; chosen: number[]; rejected: number[] } | undefined {
  const prompt = idsOf(rec.prompt_ids, 'prompt_ids', line, vocabSize);
  const chosen = idsOf(rec.chosen_ids, 'chosen_ids', line, vocabSize);
  const rejected = idsOf(rec.rejected_ids, 'rejected_ids', line, vocabSize);
  const given = [prompt, chosen, rejected].filter((x) => x !== undefined).length;
  if (given === 0) return undefined;
  if (given < 3) throw new GeniusError(`pairs line ${line + 1}: prompt_ids, chosen_ids and rejected_ids come together`);
  return { prompt: prompt!, chosen: chosen!, rejected: rejected! };
}

/**
 * Reads a pairs file into token ids. Lines with our token ids (`genius pairs` from a `genius
 * sample` file) are used as they are: prompt = what the sampler prefilled, response = what it
 * sampled, with EOS/EOT where the trajectory ended; training sees exactly what sampling saw.
 * Text-only lines (other tools, the reference code) are tokenized: prompt = the chat-templated
 * query with the reasoning prefix (as the sampler builds it), response = the trajectory text
 * without that prefix (reference trajectories start with it), then the end-of-turn token (the
 * reference trainer renders whole conversations, so its responses close the turn). Cost: one
 * tokenizer pass over the text-only lines.
 */
export function loadPairs(path: string, model: Model, options: TokenizeOptions): TokenizedPairs {
  const lines = readJsonl<PairLine>(path, { strict: true });
  if (lines.length === 0) throw new GeniusError(`no pairs in ${path}`);
  const format = { ...DEFAULT_FORESIGHT, ...options.format };
  const L = options.maxSeqLen;
  if (!Number.isInteger(L) || L < 2) throw new GeniusError(`max sequence length must be an integer >= 2 (got ${L})`);
  const out: TokenizedPairs = { pairs: [], dropped: 0, truncated: 0 };
  const promptCache = new Map<string, number[]>();
  const eot = endOfTurnToken(model);
  const vocab = model.info.vocabSize;
  const response = (s: string) => {
    const body = format.reasoningPrefix && s.startsWith(format.reasoningPrefix) ? s.slice(format.reasoningPrefix.length) : s;
    const ids = model.tokenize(body, { addSpecial: false, parseSpecial: false });
    return ids.length > 0 && eot >= 0 ? [...ids, eot] : ids;
  };
  lines.forEach((rec, i) => {
    if (typeof rec?.prompt !== 'string') throw new GeniusError(`pairs line ${i + 1}: prompt must be a string`);
    const aChosen = Number(rec.chosen_weights ?? 0);
    const aRejected = Number(rec.rejected_weights ?? 0);
    if (!Number.isFinite(aChosen) || !Number.isFinite(aRejected))
      throw new GeniusError(`pairs line ${i + 1}: chosen_weights / rejected_weights must be numbers`);
    const ids = lineIds(rec, i, vocab) ?? {
      prompt: promptCache.get(rec.prompt) ?? promptCache.set(rec.prompt, promptFor(model, rec.prompt, format)).get(rec.prompt)!,
      chosen: response(text(rec.chosen, 'chosen', i)),
      rejected: response(text(rec.rejected, 'rejected', i)),
    };
    const prompt = ids.prompt;
    let { chosen, rejected } = ids;
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
