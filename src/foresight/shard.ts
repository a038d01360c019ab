import { GeniusError } from '../errors.js';

/** Shard `index` of `count`: it takes the queries whose position mod count is index. */
export interface Shard {
  index: number;
  count: number;
}

/**
 * Parses `--shard i/n` or `--shard auto`. `auto` reads the scheduler's environment: Kubernetes
 * Indexed Jobs (JOB_COMPLETION_INDEX; the count from `countFlag` or GENIUS_SHARD_COUNT, since
 * Kubernetes does not export it) or Slurm job arrays (SLURM_ARRAY_TASK_ID, minus
 * SLURM_ARRAY_TASK_MIN, of SLURM_ARRAY_TASK_COUNT).
 */
export function parseShard(spec: string | undefined, env: NodeJS.ProcessEnv = process.env, countFlag?: number): Shard | undefined {
  if (spec === undefined) return undefined;
  if (spec === 'auto') return autoShard(env, countFlag);
  const m = /^(\d+)\/(\d+)$/.exec(spec);
  if (!m) throw new GeniusError(`--shard must be i/n (e.g. 0/4) or auto, got '${spec}'`);
  return checked(Number(m[1]), Number(m[2]), '--shard');
}

function autoShard(env: NodeJS.ProcessEnv, countFlag?: number): Shard {
  const int = (name: string): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    if (!/^\d+$/.test(v)) throw new GeniusError(`${name} must be a non-negative integer, got '${v}'`);
    return Number(v);
  };
  const k8s = int('JOB_COMPLETION_INDEX');
  if (k8s !== undefined) {
    const count = countFlag ?? int('GENIUS_SHARD_COUNT');
    if (count === undefined)
      throw new GeniusError('--shard auto on a Kubernetes Indexed Job needs the shard count: --shard-count N or GENIUS_SHARD_COUNT');
    return checked(k8s, count, 'JOB_COMPLETION_INDEX');
  }
  const slurm = int('SLURM_ARRAY_TASK_ID');
  if (slurm !== undefined) {
    const count = countFlag ?? int('SLURM_ARRAY_TASK_COUNT');
    if (count === undefined) throw new GeniusError('SLURM_ARRAY_TASK_COUNT is not set; pass --shard-count');
    return checked(slurm - (int('SLURM_ARRAY_TASK_MIN') ?? 0), count, 'SLURM_ARRAY_TASK_ID');
  }
  throw new GeniusError('--shard auto found neither JOB_COMPLETION_INDEX (Kubernetes) nor SLURM_ARRAY_TASK_ID (Slurm)');
}

function checked(index: number, count: number, source: string): Shard {
  if (count < 1) throw new GeniusError(`${source}: shard count must be at least 1`);
  if (index < 0 || index >= count) throw new GeniusError(`${source}: shard index ${index} is outside 0..${count - 1}`);
  return { index, count };
}

export function inShard(position: number, shard: Shard | undefined): boolean {
  return !shard || position % shard.count === shard.index;
}
