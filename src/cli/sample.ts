import { Command } from '@commander-js/extra-typings';
import { ForesightConfigSchema as F, resolveForesightConfig, SamplingRunSchema } from '../foresight/config.js';
import { runSampling } from '../foresight/run.js';
import { parseShard } from '../foresight/shard.js';
import { runAction, say } from './action.js';
import { chatTemplate, integer, seed, setting, settingSwitch, threads, tokens, samplingSettings } from './options.js';
import { sampleProgress } from './progress.js';

/** `genius sample`: stepwise foresight re-sampling over unlabeled queries, one exploration record per query. */
export function sampleCommand() {
  return new Command('sample')
    .description('stepwise foresight re-sampling over unlabeled queries: one exploration record per query (JSONL)')
    .requiredOption('--model <path>', 'GGUF model file')
    .option('--adapter <path>', 'LoRA adapter GGUF to sample with')
    .requiredOption('--queries <file>', 'queries: JSONL or a JSON array of objects')
    .requiredOption('--out <file>', 'exploration JSONL (appended; re-runs resume)')
    .option('--field <name>', 'question field (default: instruction, query, prompt or question)')
    .addOption(setting(F, 'beams', '--beams <M>'))
    .addOption(setting(F, 'rollouts', '--rollouts <N>'))
    .addOption(setting(F, 'steps', '--steps <K>'))
    .addOption(setting(F, 'tau', '--tau <x>'))
    .addOption(setting(F, 'stepTemperature', '--step-temperature <x>'))
    .addOption(setting(F, 'foresightTemperature', '--foresight-temperature <x>'))
    .addOption(setting(F, 'maxStepTokens', '--max-step-tokens <n>'))
    .addOption(setting(F, 'maxRolloutTokens', '--max-rollout-tokens <n>'))
    .addOption(setting(F, 'scoreSpan', '--score-span <span>'))
    .addOption(setting(F, 'strategy', '--strategy <name>'))
    .addOption(settingSwitch(F, 'light', '--light'))
    .addOption(setting(F, 'lightThreshold', '--light-threshold <x>'))
    .addOption(setting(F, 'reasoningPrefix', '--reasoning-prefix <text>'))
    .addOption(setting(F, 'stepSeparator', '--step-separator <text>'))
    .addOption(setting(F, 'endMarkers', '--end-markers <list>'))
    .addOption(setting(F, 'answerMarkers', '--answer-markers <list>'))
    .addOption(settingSwitch(F, 'chat', '--no-chat', 'use the query as raw text instead of the chat template'))
    .addOption(setting(F, 'chatTemplate', '--chat-template <name|file>', chatTemplate))
    .addOption(setting(F, 'system', '--system <text>'))
    .addOption(setting(SamplingRunSchema, 'concurrency', '--concurrency <C>'))
    .option('--seed <n>', 'seed', seed, 0)
    .option('--shard <i/n|auto>', "this worker's shard (auto: Kubernetes Indexed Job or Slurm array)")
    .option('--shard-count <n>', 'shard count for --shard auto on Kubernetes', integer(1))
    .option('--strict', 'stop at the first malformed input line')
    .option('--context-size <n>', 'KV cells per sequence (default: longest prompt + K steps + rollout)', tokens)
    .option('--threads <n>', 'CPU threads (default: all)', threads)
    .action((o, cmd) =>
      runAction(cmd, async () => {
        const config = resolveForesightConfig({
          ...samplingSettings(o),
          light: o.light ?? false,
          lightThreshold: o.lightThreshold,
          reasoningPrefix: o.reasoningPrefix,
          stepSeparator: o.stepSeparator,
          endMarkers: o.endMarkers,
          answerMarkers: o.answerMarkers,
          chat: o.chat,
          chatTemplate: o.chatTemplate,
          system: o.system,
        });
        const shard = parseShard(o.shard, process.env, o.shardCount);
        const progress = sampleProgress();
        const controller = new AbortController();
        const onSignal = () => controller.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          const s = await runSampling({
            model: o.model,
            adapter: o.adapter,
            queries: o.queries,
            out: o.out,
            config,
            concurrency: o.concurrency,
            seed: o.seed,
            shard,
            strict: o.strict,
            field: o.field,
            sequenceContextSize: o.contextSize,
            threads: o.threads,
            signal: controller.signal,
            onProgress: progress.update,
            log: say,
          });
          progress.stop();
          say(
            `sample: wrote ${s.written} records to ${o.out} (${s.alreadyDone} already there, ${s.failed} failed, ${s.skippedLines} input lines skipped) in ${s.seconds.toFixed(1)}s${shard ? `, shard ${shard.index}/${shard.count}` : ''}`,
          );
          if (s.failed > 0) process.exitCode = 1;
        } finally {
          progress.stop();
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }),
    );
}
