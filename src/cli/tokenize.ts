import { Command } from '@commander-js/extra-typings';
import { Model } from '../engine/model.js';
import { runAction } from './action.js';

/** `genius tokenize`: the token ids of a text. */
export function tokenizeCommand() {
  return new Command('tokenize')
    .description('print the token ids of TEXT as a JSON array')
    .requiredOption('--model <path>', 'GGUF model file')
    .option('--special', 'add BOS/EOS as the model says and parse special-token text')
    .argument('<text>', 'text to tokenize')
    .action((text, opts, cmd) =>
      runAction(cmd, async () => {
        const model = await Model.load(opts.model, { vocabOnly: true });
        const ids = model.tokenize(text, { addSpecial: opts.special, parseSpecial: opts.special });
        model.dispose();
        process.stdout.write(`${JSON.stringify(ids)}\n`);
      }),
    );
}
