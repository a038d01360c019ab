import { Command, Option } from '@commander-js/extra-typings';
import { ARCHITECTURES, makeModel, SHAPES, type ShapeName } from '../modelmaker/index.js';
import { runAction } from './action.js';
import { seed } from './options.js';

/** `genius make-model`: a llama-family GGUF with seeded random weights. */
export function makeModelCommand() {
  return new Command('make-model')
    .description('write a llama-family GGUF with seeded random weights')
    .addOption(new Option('--arch <arch>', 'architecture').choices(ARCHITECTURES).default('llama'))
    .addOption(new Option('--shape <name>', 'named shape').choices(Object.keys(SHAPES) as ShapeName[]).default('tiny'))
    .option('--vocab <path|builtin>', 'tokenizer: a GGUF to copy it from, or the built-in vocabulary', 'builtin')
    .addOption(new Option('--dtype <dtype>', 'weight type of the matrices').choices(['f32', 'f16'] as const).default('f32'))
    .option('--seed <n>', 'random seed', seed, 0)
    .requiredOption('--out <path>', 'output GGUF path')
    .option('--json', 'print the result as JSON')
    .action((opts, cmd) =>
      runAction(cmd, async () => {
        const made = await makeModel({
          out: opts.out,
          arch: opts.arch,
          shape: opts.shape,
          vocab: opts.vocab,
          dtype: opts.dtype,
          seed: opts.seed,
        });
        if (opts.json) process.stdout.write(`${JSON.stringify(made)}\n`);
        else
          process.stdout.write(
            `wrote ${made.path}: ${opts.arch}/${opts.shape}, ${made.parameterCount} parameters, vocab ${made.vocabSize}, ${made.fileBytes} bytes\n`,
          );
      }),
    );
}
