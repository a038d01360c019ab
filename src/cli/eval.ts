import { Command } from '@commander-js/extra-typings';
import { Context } from '../engine/context.js';
import { Model } from '../engine/model.js';
import { EvaluationConfigSchema as E } from '../eval/config.js';
import { evaluate, loadEvalTask } from '../eval/index.js';
import { DEFAULT_FORESIGHT, ForesightConfigSchema as F } from '../foresight/config.js';
import { promptFor } from '../foresight/explore.js';
import { GeniusError } from '../errors.js';
import { runAction, say } from './action.js';
import { chatTemplate, seed, setting, settingSwitch, threads } from './options.js';

/** `genius eval`: accuracy of a model (and adapter) on a task file, with a 95% interval. */
export function evalCommand() {
  return new Command('eval')
    .description('accuracy of a model on a task file (GSM8K-format JSONL) with a 95% Wilson interval')
    .requiredOption('--model <path>', 'GGUF model file')
    .option('--adapter <path>', 'LoRA adapter GGUF to evaluate')
    .requiredOption('--task <file>', 'questions with gold answers: JSONL or a JSON array (question, answer ending "#### N")')
    .option('--field <name>', 'question field (default: instruction, query, prompt or question)')
    .addOption(setting(E, 'temperature', '--temperature <x>'))
    .addOption(setting(E, 'samples', '--samples <k>'))
    .addOption(setting(E, 'maxTokens', '--max-tokens <n>'))
    .option('--seed <n>', 'seed', seed, 0)
    .option('--out <file>', 'per-question JSONL (appended; re-runs resume)')
    .option('--last-number', "with no marked answer, grade the response's last number")
    .addOption(setting(F, 'reasoningPrefix', '--reasoning-prefix <text>'))
    .addOption(settingSwitch(F, 'chat', '--no-chat', 'use the question as raw text instead of the chat template'))
    .addOption(setting(F, 'chatTemplate', '--chat-template <name|file>', chatTemplate))
    .addOption(setting(F, 'system', '--system <text>'))
    .addOption(setting(E, 'concurrency', '--concurrency <C>'))
    .option('--threads <n>', 'CPU threads (default: all)', threads)
    .option('--json', 'print the result as one JSON object')
    .action((o, cmd) =>
      runAction(cmd, async () => {
        const items = loadEvalTask(o.task, { field: o.field });
        if (items.length === 0) throw new GeniusError(`${o.task}: no questions`);
        const prompt = {
          chat: o.chat,
          system: o.system,
          chatTemplate: o.chatTemplate,
          reasoningPrefix: o.reasoningPrefix,
          endMarkers: DEFAULT_FORESIGHT.endMarkers,
        };
        const model = await Model.load(o.model);
        let ctx: Context | undefined;
        try {
          const config = { ...DEFAULT_FORESIGHT, ...prompt };
          const longest = Math.max(...items.map((q) => promptFor(model, q.question, config).length));
          const concurrency = Math.min(o.concurrency, items.length);
          const maxSequences = Math.min(256, concurrency * (o.samples + 1));
          ctx = await Context.create(model, {
            sequenceContextSize: longest + o.maxTokens + 8,
            maxSequences,
            threads: o.threads,
            waitMs: 600_000,
          });
          const r = await evaluate(ctx, model, items, {
            ...o,
            prompt,
            concurrency: Math.max(1, Math.floor(maxSequences / (o.samples + 1))),
            log: say,
          });
          if (o.json) {
            const { records: _, ...summary } = r;
            process.stdout.write(`${JSON.stringify(summary)}\n`);
          } else {
            process.stdout.write(
              `accuracy ${r.accuracy.toFixed(4)} (95% CI ${r.low.toFixed(4)}-${r.high.toFixed(4)}) on ${r.n} questions x ${r.samples} samples${o.out ? `; per question: ${o.out}` : ''}\n`,
            );
          }
        } finally {
          ctx?.dispose();
          model.dispose();
        }
      }),
    );
}
