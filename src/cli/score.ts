import { Command, Option } from '@commander-js/extra-typings';
import { Context } from '../engine/context.js';
import { Model } from '../engine/model.js';
import { GeniusError } from '../errors.js';
import { runAction } from './action.js';

/** "1 2, 3" as token ids. */
function tokenList(s: string): number[] {
  const parts = s
    .trim()
    .split(/[\s,]+/)
    .filter(Boolean);
  const ids = parts.map(Number);
  const bad = parts.find((_, i) => !Number.isSafeInteger(ids[i]) || ids[i]! < 0);
  if (bad !== undefined) throw new GeniusError(`--tokens must be non-negative integers, got '${bad}'`);
  return ids;
}

/** `genius score`: the log-prob of every token after the first, given its prefix. */
export function scoreCommand() {
  return new Command('score')
    .description('per-token log-probs of every token after the first, given its prefix')
    .requiredOption('--model <path>', 'GGUF model file')
    .option('--text <text>', 'text to tokenize (with BOS as the model says) and score')
    .option('--tokens <ids>', 'token ids, space or comma separated')
    .addOption(new Option('--flash-attn <mode>', 'flash attention').choices(['on', 'off', 'auto'] as const).default('auto'))
    .addOption(new Option('--kv-type <type>', 'KV cache type').choices(['f16', 'f32'] as const).default('f16'))
    .option('--json', 'one JSON object: tokens, logprobs, sum')
    .action((o, cmd) =>
      runAction(cmd, async () => {
        if ((o.text === undefined) === (o.tokens === undefined)) throw new GeniusError('give exactly one of --text or --tokens');
        const model = await Model.load(o.model);
        let ctx: Context | undefined;
        try {
          const tokens = o.text !== undefined ? model.tokenize(o.text, { addSpecial: true }) : tokenList(o.tokens!);
          if (tokens.length < 2) throw new GeniusError('need at least two tokens to score');
          ctx = await Context.create(model, {
            contextSize: tokens.length + 8,
            maxSequences: 1,
            flashAttention: o.flashAttn,
            kvType: o.kvType,
          });
          const logprobs = await ctx.score(tokens.slice(0, 1), tokens.slice(1));
          if (o.json) {
            process.stdout.write(`${JSON.stringify({ tokens, logprobs, sum: logprobs.reduce((a, b) => a + b, 0) })}\n`);
            return;
          }
          for (let i = 0; i < logprobs.length; i++) {
            process.stdout.write(
              `${String(tokens[i + 1]).padStart(8)} ${JSON.stringify(model.tokenPiece(tokens[i + 1]!)).padEnd(16)} ${logprobs[i]!.toFixed(6)}\n`,
            );
          }
        } finally {
          ctx?.dispose();
          model.dispose();
        }
      }),
    );
}
