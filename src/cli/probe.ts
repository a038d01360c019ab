import { Command, InvalidArgumentError, Option } from 'commander';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_DIFFICULTY, BUILTIN_FORESIGHT, BUILTIN_MODEL_PATH } from '../builtin/index.js';
import { resolveForesightConfig } from '../foresight/config.js';
import { STRATEGIES, type Strategy } from '../foresight/selection.js';
import { writeJsonlAtomic } from '../jsonl.js';
import { REJECTED_MODES, type RejectedMode } from '../pairs/build.js';
import { formatSignal, probeForesight } from '../probe/index.js';
import { generateTask } from '../task/index.js';
import { runAction } from './run.js';

/** Seed of the built-in probe set: train-split problems apart from the loop's queries (seed 2026) and the recipe's. */
export const BUILTIN_PROBE_SEED = 7_000_003;

interface ProbeCommand {
  model: string;
  adapter?: string;
  task: string;
  n: number;
  out?: string;
  beams?: number;
  rollouts?: number;
  steps?: number;
  tau?: number;
  stepTemperature?: number;
  foresightTemperature?: number;
  maxStepTokens?: number;
  maxRolloutTokens?: number;
  strategy?: Strategy;
  rejected: RejectedMode;
  concurrency: number;
  seed: number;
  threads?: number;
  json?: boolean;
}

const count = (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be an integer >= 1');
  return n;
};
const finite = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('must be a finite number');
  return n;
};

async function runProbeCommand(o: ProbeCommand): Promise<void> {
  const builtinModel = o.model === 'builtin';
  let task = o.task;
  if (task === 'builtin') {
    task = join(mkdtempSync(join(tmpdir(), 'genius-probe-task-')), 'task.jsonl');
    writeJsonlAtomic(task, generateTask({ split: 'train', n: o.n, seed: BUILTIN_PROBE_SEED, difficulty: BUILTIN_DIFFICULTY }));
  }
  const config = resolveForesightConfig({
    ...(builtinModel ? BUILTIN_FORESIGHT : {}),
    beams: o.beams,
    rollouts: o.rollouts,
    steps: o.steps,
    tau: o.tau,
    stepTemperature: o.stepTemperature,
    foresightTemperature: o.foresightTemperature,
    maxStepTokens: o.maxStepTokens,
    maxRolloutTokens: o.maxRolloutTokens,
    strategy: o.strategy,
  });
  const r = await probeForesight({
    model: builtinModel ? BUILTIN_MODEL_PATH : o.model,
    ...(o.adapter ? { adapter: o.adapter } : {}),
    task,
    n: o.n,
    config,
    concurrency: o.concurrency,
    seed: o.seed,
    rejected: o.rejected,
    ...(o.threads ? { threads: o.threads } : {}),
    ...(o.out ? { out: o.out } : {}),
    log: (m) => process.stderr.write(`${m}\n`),
  });
  if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else process.stdout.write(`${formatSignal(r).join('\n')}\n(${r.seconds.toFixed(1)}s)\n`);
}

/** `genius probe`: the foresight-signal probe on a labeled task. */
export function registerProbe(program: Command, verbose: () => boolean): void {
  program
    .command('probe')
    .description('foresight-signal probe: explore labeled queries and report candidate diversity, foresight AUROC and pair quality')
    .requiredOption('--model <path>', 'GGUF model file, or builtin')
    .option('--adapter <path>', 'LoRA adapter GGUF to sample with')
    .option('--task <file>', 'labeled task JSONL (question + answer fields), or builtin (train-split problems of the built-in difficulty)', 'builtin')
    .option('--n <n>', 'queries to probe (the first n)', count, 200)
    .option('--out <file>', 'keep the exploration file (resumable)')
    .option('--beams <M>', 'step beam size M', count)
    .option('--rollouts <N>', 'candidate steps per beam N', count)
    .option('--steps <K>', 'foresight steps K', count)
    .option('--tau <x>', 'selection temperature', finite)
    .option('--step-temperature <x>', 'temperature of candidate steps', finite)
    .option('--foresight-temperature <x>', 'temperature of foresight rollouts', finite)
    .option('--max-step-tokens <n>', 'tokens per candidate step', count)
    .option('--max-rollout-tokens <n>', 'tokens per foresight rollout', count)
    .addOption(new Option('--strategy <name>', 'beam selection').choices([...STRATEGIES]))
    .addOption(new Option('--rejected <mode>', 'how pairs draw the rejected trajectory').choices([...REJECTED_MODES]).default('categorical'))
    .option('--concurrency <C>', 'queries in flight', count, 8)
    .option('--seed <n>', 'seed', (v) => Number(v), 0)
    .option('--threads <n>', 'CPU threads', count)
    .option('--json', 'one JSON object')
    .action((opts: ProbeCommand) => runAction(verbose(), () => runProbeCommand(opts)));
}
