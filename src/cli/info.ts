import { Command } from '@commander-js/extra-typings';
import { Model } from '../engine/model.js';
import { runAction } from './action.js';

/** `genius info`: a GGUF model's shape, vocabulary, chat template and special tokens. */
export function infoCommand() {
  return new Command('info')
    .description("print a GGUF model's shape, vocabulary, chat template and special tokens")
    .requiredOption('--model <path>', 'GGUF model file')
    .option('--json', 'one JSON object')
    .option('--vocab-only', 'read only the tokenizer (vocab GGUF files)')
    .action((opts, cmd) =>
      runAction(cmd, async () => {
        const model = await Model.load(opts.model, { vocabOnly: opts.vocabOnly });
        const info = model.info;
        model.dispose();
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(info)}\n`);
          return;
        }
        const template =
          info.chatTemplate === null
            ? '(none)'
            : info.chatTemplate.length > 60
              ? `${info.chatTemplate.slice(0, 60)}...`
              : info.chatTemplate;
        const rows: [string, unknown][] = [
          ['architecture', info.architecture],
          ['name', info.name],
          ['parameters', info.parameterCount],
          ['layers', info.layerCount],
          ['embedding', info.embeddingLength],
          ['heads (kv)', `${info.headCount} (${info.headCountKv})`],
          ['vocab', `${info.vocabSize} (${info.vocabType})`],
          ['context (train)', info.contextLength],
          ['bos/eos/eot', `${info.specialTokens.bos}/${info.specialTokens.eos}/${info.specialTokens.eot}`],
          ['chat template', template],
        ];
        for (const [k, v] of rows) process.stdout.write(`${k.padEnd(16)} ${String(v)}\n`);
      }),
    );
}
