// The native boundary: wrong object types, out-of-range numbers and fractional token ids are
// clean, coded errors; exit with live contexts (normally or by process.exit mid-generate) does
// not crash; NaN weights fail a request instead of sampling with null scores.
import test from 'ava';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Context } from '../../src/engine/context.js';
import { Model } from '../../src/engine/model.js';
import { native } from '../../src/engine/native.js';
import { GeniusError } from '../../src/errors.js';
import { makeTemp, root, tempDir } from '../helpers.js';

const tiny = join(root, 'models', 'genius-tiny.gguf');
const run = promisify(execFile);

test('a native object of the wrong class is a WRONG_TYPE error, not a segfault', async (t) => {
  const model = await Model.load(tiny);
  const ctx = await Context.create(model, { contextSize: 512, maxSequences: 2, threads: 1 });
  try {
    // A context handle where a model is expected, a model where an adapter is expected.
    const wrong = await t.throwsAsync(async () => native().createContext(ctx.handle as never, {}), {
      message: /model must be a NativeModel/,
    });
    t.is((wrong as { code?: string }).code, 'WRONG_TYPE');
    const e = await t.throwsAsync(async () => ctx.handle.setAdapters([{ adapter: model.handle as never, scale: 1 }]));
    t.is((e as { code?: string }).code, 'WRONG_TYPE');
    // The context still works afterwards.
    const seq = await ctx.sequence(model.tokenize('hello'));
    t.true((await seq.generate({ maxTokens: 2 })).tokens.length > 0);
  } finally {
    ctx.dispose();
    model.dispose();
  }
});

test('out-of-range options are INVALID_ARGUMENT errors naming the option (no 32-bit wrap, no abort)', async (t) => {
  const model = await Model.load(tiny);
  try {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ threads: 1e9 }, /threads must be an integer between 0/],
      [{ threads: 1000 }, /threads must be an integer between 0/],
      [{ contextSize: 1e12 }, /contextSize must be an integer between 1 and 2147483647/],
      [{ sequenceContextSize: 1e12 }, /sequenceContextSize .* more than 2\^31 - 1/],
      [{ maxSequences: 0 }, /maxSequences/],
    ];
    for (const [opts, msg] of bad) {
      const e = await t.throwsAsync(Context.create(model, opts), { instanceOf: GeniusError, message: msg });
      t.is(e?.code, 'INVALID_ARGUMENT', JSON.stringify(opts));
    }
    const huge = await t.throwsAsync(Context.create(model, { contextSize: 2 ** 31 - 1, maxSequences: 1 }), {
      message: /GB of KV cache, more than this machine/,
    });
    t.is((huge as GeniusError).code, 'OUT_OF_MEMORY');
  } finally {
    model.dispose();
  }
});

test('generate options and token ids are range-checked; huge maxTokens means "until the context ends"', async (t) => {
  const model = await Model.load(tiny);
  const ctx = await Context.create(model, { contextSize: 512, maxSequences: 4, threads: 1 });
  try {
    const root = await ctx.sequence(model.tokenize('The answer is'));
    for (const [opts, msg] of [
      [{ maxTokens: -1 }, /maxTokens must be an integer >= 0/],
      [{ maxTokens: 1.5 }, /maxTokens must be an integer >= 0/],
      [{ temperature: -1 }, /temperature must be a finite number/],
      [{ temperature: NaN }, /temperature must be a finite number/],
      [{ topK: -1 }, /topK must be an integer/],
      [{ topP: 2 }, /topP must be a finite number between 0 and 1/],
    ] as const) {
      const e = await t.throwsAsync(root.generate(opts), { instanceOf: GeniusError, message: msg });
      t.is(e?.code, 'INVALID_ARGUMENT');
    }
    for (const maxTokens of [Infinity, 1e12, 2 ** 31]) {
      const [child] = await root.fork(1);
      const c = await child!.generate({ maxTokens, temperature: 0, stopAtEog: false });
      t.true(c.tokens.length > 0 && c.finish === 'context', `maxTokens ${maxTokens}: ${c.tokens.length} tokens, ${c.finish}`);
      await child!.release();
    }
    for (const bad of [1.5, NaN, Infinity]) {
      await t.throwsAsync(root.score([bad]), { message: /must be an integer token id/ });
      await t.throwsAsync(async () => ctx.handle.score(1, root.handle, [bad] as never), { message: /must be an integer token id/ });
      t.throws(() => model.detokenize([bad]), { message: /must be an integer token id/ });
    }
    t.throws(() => model.tokenPiece(1.5), { message: /not an integer inside the vocabulary/ });
  } finally {
    ctx.dispose();
    model.dispose();
  }
});

test('errors carry a code across the native boundary', async (t) => {
  const e1 = await t.throwsAsync(Model.load(join(root, 'package.json')), { instanceOf: GeniusError });
  t.is(e1?.code, 'BAD_MODEL');
  const model = await Model.load(tiny);
  const ctx = await Context.create(model, { contextSize: 256, maxSequences: 1, threads: 1, waitMs: 50 });
  try {
    const a = await ctx.sequence(model.tokenize('hello'));
    const second = await t.throwsAsync(ctx.sequence(model.tokenize('world')));
    t.is((second as GeniusError).code, 'NO_SLOT');
    const tooLong = await t.throwsAsync(a.score(Array.from({ length: 400 }, () => 5)));
    t.is((tooLong as GeniusError).code, 'CONTEXT_FULL');
    const aborted = await t.throwsAsync(a.generate({ signal: AbortSignal.abort() }));
    t.is((aborted as { code?: string }).code, 'ABORTED');
  } finally {
    ctx.dispose();
  }
  t.is((t.throws(() => ctx.stats()) as GeniusError).code, 'DISPOSED');
  model.dispose();
});

test('a model with NaN weights fails the request with NOT_FINITE instead of sampling', async (t) => {
  const path = await makeTemp({ shape: 'tiny', seed: 3 });
  // Overwrite the tail of the file (the last tensor's F32 data) with NaN.
  const { openSync, writeSync, fstatSync, closeSync } = await import('node:fs');
  const fd = openSync(path, 'r+');
  const size = fstatSync(fd).size;
  const nan = Buffer.alloc(4096);
  for (let i = 0; i < nan.length; i += 4) nan.writeFloatLE(NaN, i);
  writeSync(fd, nan, 0, nan.length, size - nan.length);
  closeSync(fd);
  const model = await Model.load(path);
  const ctx = await Context.create(model, { contextSize: 256, maxSequences: 2, threads: 1 });
  try {
    const seq = await ctx.sequence([1, 2, 3]);
    const [g] = await seq.fork(1);
    const e = await t.throwsAsync(g!.generate({ maxTokens: 4 }), { message: /non-finite logits/ });
    t.is((e as GeniusError).code, 'NOT_FINITE');
    const e2 = await t.throwsAsync(seq.score([4, 5]), { message: /non-finite logits/ });
    t.is((e2 as GeniusError).code, 'NOT_FINITE');
  } finally {
    ctx.dispose();
    model.dispose();
  }
});

// Child processes: a crash is a signal exit, which an in-process test could not observe.
const exitScript = (mode: 'normal' | 'exit') => `
const { Model, Context } = await import(${JSON.stringify(join(root, 'dist', 'src', 'index.js'))});
const m = await Model.load(${JSON.stringify(tiny)});
const a = await Context.create(m, { contextSize: 512, maxSequences: 2, threads: 1 });
const b = await Context.create(m, { contextSize: 512, maxSequences: 2, threads: 1 });
await (await a.sequence(m.tokenize('hi there'))).generate({ maxTokens: 4 });
if (${JSON.stringify(mode)} === 'exit') {
  const s = await b.sequence(m.tokenize('hello'));
  void s.generate({ maxTokens: 100000, stopAtEog: false }).catch(() => {});
  setTimeout(() => process.exit(3), 30);
}
`;

for (const mode of ['normal', 'exit'] as const) {
  test(`exit with undisposed contexts (${mode === 'exit' ? 'process.exit() during generate' : 'normal exit'}) does not crash`, async (t) => {
    const file = join(tempDir(), 'exit.mjs');
    writeFileSync(file, exitScript(mode));
    // Before the fix: SIGABRT on every normal exit, SIGSEGV in about half the process.exit runs.
    for (let i = 0; i < 6; i++) {
      const r = await run(process.execPath, [file]).then(
        () => ({ code: 0, signal: null }),
        (e: { code: number; signal: string | null }) => e,
      );
      t.is(r.signal, null, `run ${i}: killed by ${r.signal}`);
      t.is(r.code, mode === 'exit' ? 3 : 0, `run ${i}`);
    }
  });
}
