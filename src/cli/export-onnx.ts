import { Command } from '@commander-js/extra-typings';
import { exportOnnx } from '../onnx/export.js';
import { runAction } from './action.js';

/** `genius export-onnx`: a GGUF model as an ONNX decoder, for ONNX Runtime as the second scorer. */
export function exportOnnxCommand() {
  return new Command('export-onnx')
    .description("write a GGUF model (llama, qwen2, qwen3; F32/F16/BF16) as an ONNX decoder with Optimum's inputs and outputs")
    .requiredOption('--model <path>', 'GGUF model file')
    .requiredOption('--out <path>', 'ONNX file to write')
    .option('--no-kv-cache', 'leave out the past_key_values.* inputs and present.* outputs')
    .option('--external-data', 'store the weights in <out>.data (automatic past 1.8 GiB: protobuf caps a file at 2 GiB)')
    .option('--json', 'one JSON object describing the export')
    .action((opts, cmd) =>
      runAction(cmd, async () => {
        const made = await exportOnnx({
          model: opts.model,
          out: opts.out,
          kvCache: opts.kvCache,
          externalData: opts.externalData ? true : 'auto',
        });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(made)}\n`);
          return;
        }
        const data = made.dataPath ? ` (weights in ${made.dataPath})` : '';
        process.stdout.write(
          `${made.path}${data}: ${made.architecture}, ${made.layerCount} layers, vocab ${made.vocabSize}, ${made.parameterCount} parameters, ${made.bytes} bytes\n`,
        );
      }),
    );
}
