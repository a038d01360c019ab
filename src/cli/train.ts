import { Command } from '@commander-js/extra-typings';
import { ForesightConfigSchema as F } from '../foresight/config.js';
import { TrainingConfigSchema as T, trainRunSettings } from '../train/config.js';
import { runTraining } from '../train/run.js';
import { parseSettings } from '../schema.js';
import { runAction } from './action.js';
import { chatTemplate, real, seed, setting, settingSwitch, threads } from './options.js';
import { trainProgress } from './progress.js';

/** `genius train`: preference training on a pairs file with the settings of TrainingConfigSchema. */
export function trainCommand() {
  return new Command('train')
    .description(
      'train on preference pairs with ACO (default) or a baseline loss; writes adapter.gguf (or model.gguf with --full), metrics.jsonl, checkpoints',
    )
    .requiredOption('--model <path>', 'GGUF model (llama, qwen2, qwen3)')
    .option('--adapter <path>', 'continue training this LoRA adapter (the reference is then model + adapter)')
    .requiredOption('--pairs <file>', 'pairs JSONL (genius pairs, or TRL prompt/chosen/rejected strings)')
    .requiredOption('--out <dir>', 'run directory (resumes if it holds a checkpoint of the same run)')
    .addOption(setting(T, 'loss', '--loss <name>'))
    .addOption(setting(T, 'beta', '--beta <x>'))
    .addOption(setting(T, 'alpha', '--alpha <x>', real({ above: 0, infinity: true })))
    .addOption(setting(T, 'calibration', '--calibration <kind>'))
    .addOption(setting(T, 'simpoGamma', '--simpo-gamma <x>'))
    .addOption(setting(T, 'ropoAlpha', '--ropo-alpha <x>'))
    .addOption(setting(T, 'ropoGamma', '--ropo-gamma <x>'))
    .addOption(setting(T, 'lr', '--lr <x>'))
    .addOption(setting(T, 'epochs', '--epochs <n>'))
    .addOption(setting(T, 'batchPairs', '--batch-pairs <n>'))
    .addOption(setting(T, 'gradAccum', '--grad-accum <n>'))
    .addOption(setting(T, 'microBatchTokens', '--micro-batch-tokens <n>'))
    .addOption(setting(T, 'loraRank', '--lora-rank <n>'))
    .addOption(setting(T, 'loraAlpha', '--lora-alpha <x>'))
    .addOption(setting(T, 'loraTargets', '--lora-targets <list>'))
    .addOption(settingSwitch(T, 'full', '--full'))
    .addOption(setting(T, 'maxSeqLen', '--max-seq-len <n>'))
    .addOption(setting(T, 'truncation', '--truncation <policy>'))
    .option('--seed <n>', 'shuffling and LoRA initialisation', seed, 0)
    .addOption(setting(T, 'reference', '--reference <spec>'))
    .addOption(setting(T, 'sftWeight', '--sft-weight <x>'))
    .addOption(setting(T, 'warmupRatio', '--warmup-ratio <x>'))
    .addOption(setting(T, 'weightDecay', '--weight-decay <x>'))
    .addOption(setting(T, 'maxGradNorm', '--max-grad-norm <x>'))
    .addOption(setting(T, 'checkpointEvery', '--checkpoint-every <n>'))
    .addOption(setting(T, 'backend', '--backend <name>'))
    .option('--threads <n>', 'CPU threads (0: all)', threads, 0)
    .addOption(setting(F, 'system', '--system <text>', (v) => v))
    .addOption(settingSwitch(F, 'chat', '--no-chat', 'the sampler used raw queries, not the chat template'))
    .addOption(setting(F, 'chatTemplate', '--chat-template <name|file>', chatTemplate))
    .addOption(setting(F, 'reasoningPrefix', '--reasoning-prefix <text>'))
    .option('--json', 'print the summary as one JSON object')
    .action((f, cmd) =>
      runAction(cmd, async () => {
        const { model, adapter, pairs, out, seed, threads, system, chat, chatTemplate, reasoningPrefix, json, ...training } = f;
        const settings = trainRunSettings(parseSettings(T, { ...training, full: training.full ?? false }, 'training flags'));
        const progress = trainProgress();
        const summary = await runTraining({
          model,
          ...(adapter ? { adapter } : {}),
          pairs,
          out,
          ...settings,
          seed,
          threads,
          prompt: {
            chat,
            reasoningPrefix,
            ...(system !== undefined ? { system } : {}),
            ...(chatTemplate !== undefined ? { chatTemplate } : {}),
          },
          onStep: progress.onStep,
        });
        progress.stop();
        if (json) {
          process.stdout.write(`${JSON.stringify(summary)}\n`);
          return;
        }
        const l = summary.last;
        process.stdout.write(
          `${summary.output}: ${summary.steps} steps on ${summary.pairs} pairs (${summary.dropped} dropped, ${summary.truncated} truncated) in ${summary.seconds.toFixed(1)} s` +
            (l
              ? `; last step loss ${l.loss.toFixed(4)}, margin ${l['rewards/margins'].toFixed(4)}, accuracy ${l['rewards/accuracies'].toFixed(2)}`
              : '') +
            `\nmetrics: ${summary.metrics}\n`,
        );
      }),
    );
}
