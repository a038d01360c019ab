import { Command } from '@commander-js/extra-typings';
import { Trainer } from '../train/trainer.js';
import { runAction } from './action.js';

/** `genius merge-adapter`: a full F32 GGUF with a LoRA adapter folded into the base weights. */
export function mergeAdapterCommand() {
  return new Command('merge-adapter')
    .description('write a full F32 GGUF with a LoRA adapter folded into the base weights')
    .requiredOption('--model <path>', 'base GGUF model')
    .requiredOption('--adapter <path>', 'LoRA adapter GGUF (llama.cpp format)')
    .requiredOption('--out <path>', 'merged GGUF to write (atomically)')
    .action((f, cmd) =>
      runAction(cmd, async () => {
        // baseWeights f32: every matrix of the merged file is F32, whatever the base's types.
        const trainer = await Trainer.create({ model: f.model, adapter: f.adapter, threads: 1, baseWeights: 'f32' });
        try {
          await trainer.saveModel(f.out);
        } finally {
          trainer.dispose();
        }
        process.stdout.write(`${f.out}\n`);
      }),
    );
}
