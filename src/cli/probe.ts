import { Command, Option } from '@commander-js/extra-typings';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_DIFFICULTY, BUILTIN_FORESIGHT, BUILTIN_MODEL_PATH, manifestPath, tinyManifestOf } from '../builtin/index.js';
import { resolveForesightConfig, SCORE_SPANS } from '../foresight/config.js';
import { STRATEGIES } from '../foresight/selection.js';
import { writeJsonlAtomic } from '../jsonl.js';
import { PairsConfigSchema as P } from '../pairs/config.js';
import { formatSignal, judgeFor, JUDGES, probeForesight, stepJudgeFor } from '../probe/index.js';
import { generateTask } from '../task/index.js';
import { runAction, say } from './action.js';
import { integer, LIMITS, nonNegative, positive, seed, setting, threads, tokens, samplingSettings } from './options.js';

/** Seed of the built-in probe set: train-split problems apart from the loop's queries (seed 2026) and the recipe's. */
export const BUILTIN_PROBE_SEED = 7_000_003;

/**
 * `genius probe`: the foresight-signal probe on a labeled task. Sampling flags have no CLI
 * defaults: unset ones come from the built-in model's settings (with `--model builtin`, or a model
 * whose buildTinyModel manifest lies beside it), else from the foresight schema.
 */
export function probeCommand() {
  return new Command('probe')
    .description('foresight-signal probe: explore labeled queries, report candidate diversity, foresight AUROC and pair quality')
    .requiredOption(
      '--model <path|builtin>',
      'GGUF model file (with a built-in recipe manifest beside it, probed as the built-in model), or builtin',
    )
    .option('--adapter <path>', 'LoRA adapter GGUF to sample with')
    .option(
      '--task <file|builtin>',
      'labeled task JSONL (question and answer fields), or builtin (train-split problems of the built-in difficulty, or of the recipe in the manifest beside the model)',
      'builtin',
    )
    .option('--n <n>', 'queries to probe (the first n)', integer(1), 200)
    .option('--out <file>', 'keep the exploration file (resumable, as genius sample)')
    .option('--beams <M>', 'step beam size M', integer(1, LIMITS.sequences))
    .option('--rollouts <N>', 'candidate steps per beam N', integer(1, LIMITS.sequences))
    .option('--steps <K>', 'foresight steps K', integer(1, LIMITS.passes))
    .option('--tau <x>', 'selection temperature of F = softmax(f / tau)', positive)
    .option('--step-temperature <x>', 'temperature of candidate steps', nonNegative)
    .option('--foresight-temperature <x>', 'temperature of foresight rollouts', nonNegative)
    .option('--max-step-tokens <n>', 'tokens per candidate step', tokens)
    .option('--max-rollout-tokens <n>', 'tokens per foresight rollout', tokens)
    .addOption(new Option('--score-span <span>', 'tokens the foresight score averages').choices(SCORE_SPANS))
    .addOption(new Option('--strategy <name>', 'beam selection').choices(STRATEGIES))
    .addOption(setting(P, 'rejected', '--rejected <mode>'))
    .addOption(
      new Option('--judge <name>', 'right = the final answer matches, or the steps equal the gold solution line for line')
        .choices(JUDGES)
        .default('answer' as const),
    )
    .option('--concurrency <C>', 'queries in flight', integer(1, LIMITS.concurrency), 8)
    .option('--seed <n>', 'seed', seed, 0)
    .option('--threads <n>', 'CPU threads (default: all)', threads)
    .option('--json', 'one JSON object')
    .action((o, cmd) =>
      runAction(cmd, async () => {
        const builtinModel = o.model === 'builtin';
        // A model the built-in recipe made (a candidate) is probed as the built-in one is.
        const manifest = builtinModel ? undefined : tinyManifestOf(o.model);
        if (manifest) say(`probe: ${manifestPath(o.model)} describes this model: its sampling settings and task difficulty apply`);
        let task = o.task;
        if (task === 'builtin') {
          task = join(mkdtempSync(join(tmpdir(), 'genius-probe-task-')), 'task.jsonl');
          const difficulty = manifest?.recipe.difficulty ?? BUILTIN_DIFFICULTY;
          writeJsonlAtomic(task, generateTask({ split: 'train', n: o.n, seed: BUILTIN_PROBE_SEED, difficulty }));
        }
        const config = resolveForesightConfig({
          ...(builtinModel ? BUILTIN_FORESIGHT : (manifest?.foresight ?? {})),
          ...samplingSettings(o),
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
          judge: judgeFor(o.judge, config.reasoningPrefix),
          stepJudge: stepJudgeFor(o.judge, config.reasoningPrefix),
          ...(o.threads ? { threads: o.threads } : {}),
          ...(o.out ? { out: o.out } : {}),
          log: say,
        });
        if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
        else process.stdout.write(`${formatSignal(r).join('\n')}\n(${r.seconds.toFixed(1)} s)\n`);
      }),
    );
}
