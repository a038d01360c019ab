// Regenerates the built-in model, models/genius-tiny.gguf and its manifest models/genius-tiny.json,
// from the recipe in src/builtin/recipe.ts (run `npm run build:tiny-model`; needs the compiled
// TypeScript and the native addon). Same recipe and thread count: same bytes on the same machine.
//
//   node scripts/build-tiny-model.mjs [--out PATH] [--threads N] [--eval-every STEPS (default 125; 0: at the end only)]
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: fileURLToPath(new URL('../models/genius-tiny.gguf', import.meta.url)) },
    threads: { type: 'string', default: '2' },
    'eval-every': { type: 'string', default: '125' },
  },
});
const { buildTinyModel, TINY_RECIPE_NOTES } = await import('../dist/src/builtin/index.js');
const m = await buildTinyModel({
  out: values.out,
  threads: Number(values.threads),
  evalEvery: Number(values['eval-every']),
  notes: TINY_RECIPE_NOTES,
});
console.log(
  JSON.stringify({
    file: values.out,
    sha256: m.sha256,
    bytes: m.bytes,
    validation: m.validation.accuracy,
    test: m.test?.accuracy,
    minutes: m.minutes,
  }),
);
