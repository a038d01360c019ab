import { GeniusError } from '../errors.js';
import { readJsonl, writeJsonlAtomic } from '../jsonl.js';
import type { ExplorationRecord } from './records.js';

/**
 * `genius join`: merges shard outputs into one file in query order (by the input position each
 * record carries). Shards must come from the same settings; a query present twice is kept once.
 */
export function joinShards(out: string, shards: readonly string[]): { records: number } {
  if (shards.length === 0) throw new GeniusError('join needs at least one shard file');
  const byIndex = new Map<number, ExplorationRecord>();
  let hash: string | undefined;
  for (const path of shards) {
    for (const r of readJsonl<ExplorationRecord>(path, { strict: true })) {
      if (typeof r.index !== 'number')
        throw new GeniusError(`${path}: record ${JSON.stringify(r.id)} has no index (not written by genius sample)`);
      hash ??= r.config_hash;
      if (r.config_hash !== hash)
        throw new GeniusError(
          `${path}: record ${JSON.stringify(r.id)} was made with other settings (config ${r.config_hash}, expected ${hash})`,
        );
      byIndex.set(r.index, r);
    }
  }
  const records = [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r);
  writeJsonlAtomic(out, records);
  return { records: records.length };
}
