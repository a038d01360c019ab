import { Command } from '@commander-js/extra-typings';
import { Adapter, Context } from '../engine/context.js';
import { Model } from '../engine/model.js';
import { GeniusError } from '../errors.js';
import { runAction } from './action.js';
import { chatTemplate, collect, integer, LIMITS, nonNegative, probability, seed, tokens } from './options.js';

/** Prompt tokens for one user turn: optionally chat-templated (the model's template or `template`) with the assistant turn open. */
function promptTokens(model: Model, prompt: string, chat: boolean, template?: string): number[] {
  if (chat && template === undefined && model.info.chatTemplate === null)
    throw new GeniusError('the model has no chat template: name one with --chat-template NAME|FILE (e.g. chatml or llama3)');
  const text = chat
    ? model.applyChatTemplate([{ role: 'user', content: prompt }], { addAssistant: true, ...(template !== undefined ? { template } : {}) })
    : prompt;
  return model.tokenize(text, { addSpecial: true, parseSpecial: chat });
}

/** `genius generate`: n completions of one prompt, forked from one prefill. */
export function generateCommand() {
  return new Command('generate')
    .description('sample N completions of a prompt (forked from one prefill) with per-token log-probs')
    .requiredOption('--model <path>', 'GGUF model file')
    .option('--adapter <path>', 'LoRA adapter GGUF to attach')
    .requiredOption('--prompt <text>', 'prompt text')
    .option('--chat', "wrap the prompt in the model's chat template as a user turn")
    .option(
      '--chat-template <name|file>',
      'with --chat: a llama.cpp built-in template (chatml, llama3, ...) or a file holding one',
      chatTemplate,
    )
    .option('--n <n>', 'number of completions', integer(1, LIMITS.sequences - 1), 1)
    .option('--max-tokens <n>', 'tokens per completion', tokens, 128)
    .option('--temperature <x>', 'sampling temperature (0 = greedy)', nonNegative, 1)
    .option('--top-k <n>', 'top-k (0 = off)', integer(0, LIMITS.tokens), 0)
    .option('--top-p <x>', 'top-p (1 = off)', probability, 1)
    .option('--seed <n>', 'seed of the first completion (the i-th uses seed + i)', seed, 0)
    .option('--stop <text>', 'stop string (repeatable)', collect, [] as string[])
    .option('--context-size <n>', 'KV cells (default: what the request needs)', tokens)
    .option('--json', 'one JSON object per completion: text, tokens, logprobs, finish')
    .action((o, cmd) =>
      runAction(cmd, async () => {
        if (o.chatTemplate !== undefined && !o.chat) throw new GeniusError('--chat-template needs --chat');
        const model = await Model.load(o.model);
        let ctx: Context | undefined;
        try {
          const prompt = promptTokens(model, o.prompt, o.chat ?? false, o.chatTemplate);
          const contextSize = o.contextSize ?? Math.min(model.info.contextLength, prompt.length + o.n * o.maxTokens + 16);
          ctx = await Context.create(model, { contextSize, maxSequences: o.n + 1 });
          if (o.adapter) await ctx.setAdapters([{ adapter: await Adapter.load(model, o.adapter) }]);
          const root = await ctx.sequence(prompt);
          const branches = await root.fork(o.n);
          const completions = await Promise.all(
            branches.map((b, i) =>
              b.generate({
                maxTokens: o.maxTokens,
                temperature: o.temperature,
                topK: o.topK,
                topP: o.topP,
                seed: o.seed + i,
                stop: o.stop,
              }),
            ),
          );
          for (const c of completions) {
            if (o.json) {
              process.stdout.write(
                `${JSON.stringify({ text: c.text, tokens: c.tokens, pieces: c.pieces, logprobs: c.rawLogprobs, sampleLogprobs: c.sampleLogprobs, finish: c.finish })}\n`,
              );
            } else {
              process.stdout.write(`${c.text}\n--- (${c.tokens.length} tokens, ${c.finish})\n`);
            }
          }
        } finally {
          ctx?.dispose();
          model.dispose();
        }
      }),
    );
}
