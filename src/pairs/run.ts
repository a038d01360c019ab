import { existsSync, readFileSync } from 'node:fs';
import { GeniusError } from '../errors.js';
import { DEFAULT_FORESIGHT } from '../foresight/config.js';
import type { ExplorationRecord } from '../foresight/records.js';
import { mixSeed, Rng } from '../foresight/selection.js';
import { readJsonl, writeJsonlAtomic } from '../jsonl.js';
import { DEFAULT_PAIRS } from './config.js';
import { buildPairs, type PairRecord, type RejectedMode } from './build.js';

/** A `runPairs` job: exploration file in, pairs file out, rejected-step mode, seed, tau. */
export interface PairsOptions {
  in: string;
  out: string;
  rejected: RejectedMode;
  seed: number;
  /** Default: the tau in `<in>.config.json` (written by `genius sample`), else 0.1. */
  tau?: number;
  maxChars?: number;
  /** Keep pairs whose chosen and rejected are identical (the authors' behaviour). */
  keepIdentical?: boolean;
  strict?: boolean;
  /** Receives one line per skipped record. */
  log?: (message: string) => void;
}

/** The tau exploration used, from the sidecar `genius sample` writes beside its output. */
function explorationTau(path: string): number | undefined {
  const sidecar = `${path}.config.json`;
  if (!existsSync(sidecar)) return undefined;
  try {
    const tau = JSON.parse(readFileSync(sidecar, 'utf8').split('\n')[0]!).config?.tau;
    return typeof tau === 'number' ? tau : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `genius pairs`: preference pairs from an exploration file (ours or the reference code's).
 * Each query's pairs draw from their own seeded stream, so the output does not depend on order.
 */
export function runPairs(o: PairsOptions): { queries: number; pairs: number; identical: number } {
  const tau = o.tau ?? explorationTau(o.in) ?? DEFAULT_FORESIGHT.tau;
  const records = readJsonl<ExplorationRecord>(o.in, { strict: o.strict, onSkip: o.log });
  const pairs: PairRecord[] = [];
  let identical = 0;
  records.forEach((r, n) => {
    if (typeof r !== 'object' || r === null || typeof r.question !== 'string') {
      const msg = `${o.in}: record ${n + 1} has no question`;
      if (o.strict) throw new GeniusError(msg);
      o.log?.(`${msg}; skipped`);
      return;
    }
    const rng = new Rng(mixSeed(o.seed, r.id ?? n, 'pairs'));
    try {
      const built = buildPairs(
        r,
        {
          rejected: o.rejected,
          tau,
          maxChars: o.maxChars ?? DEFAULT_PAIRS.maxChars,
          keepIdentical: o.keepIdentical ?? DEFAULT_PAIRS.keepIdentical,
        },
        rng,
      );
      pairs.push(...built.pairs);
      identical += built.identical;
    } catch (err) {
      if (o.strict) throw new GeniusError(`${o.in}: record ${n + 1}: ${(err as Error).message}`);
      o.log?.(`${o.in}: record ${n + 1}: ${(err as Error).message}; skipped`);
    }
  });
  writeJsonlAtomic(o.out, pairs);
  return { queries: records.length, pairs: pairs.length, identical };
}
