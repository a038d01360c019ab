import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Adapter, Context, type ContextOptions } from '../../src/engine/context.js';
import { Model } from '../../src/engine/model.js';
import { makeLora, SHAPES } from '../../src/modelmaker/index.js';
import { makeTemp, tempDir } from '../helpers.js';

/** Exact arithmetic: llama.cpp matches a float64 forward to ~4e-6 in log-prob this way. */
const EXACT: ContextOptions = { flashAttention: 'off', kvType: 'f32' };

let modelPath: string;
let model: Model;
test.before(async () => {
  modelPath = await makeTemp({ shape: 'tiny', seed: 21 });
  model = await Model.load(modelPath);
});
test.after.always(() => model?.dispose());

/** Seeded token ids from the built-in vocabulary's ordinary tokens (ids 5+ skip control tokens). */
function randomTokens(n: number, seed: number): number[] {
  let s = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(5 + (s % (model.info.vocabSize - 5)));
  }
  return out;
}

function logSoftmax64(logits: Float32Array, temperature = 1): Float64Array {
  let max = -Infinity;
  for (const l of logits) max = Math.max(max, l / temperature);
  let sum = 0;
  for (const l of logits) sum += Math.exp(l / temperature - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (l) => l / temperature - lse);
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

async function assertClean(t: import('ava').ExecutionContext, ctx: Context) {
  const s = ctx.stats();
  t.is(s.liveSequences, 0, 'live sequences');
  t.is(s.kvCellsUsed, 0, 'KV cells');
  t.is(s.sequenceSlotsFree, s.sequenceSlots, 'sequence slots');
  t.is(s.requestsActive, 0, 'active requests');
  t.is(s.requestsWaiting, 0, 'waiting requests');
}

for (const kvUnified of [false, true]) {
  test(`forked continuation equals a re-prefilled one (exact config, tolerance 1e-5, kvUnified ${kvUnified})`, async (t) => {
    const ctx = await Context.create(model, { ...EXACT, kvUnified, contextSize: 8 * 512, maxSequences: 8 });
    const prefix = randomTokens(40, 1);
    const cont = randomTokens(12, 2);
    const parent = await ctx.sequence(prefix);
    const kids = await parent.fork(3);
    // unified: children share the parent's cells; split: each child holds a copy
    t.is(ctx.stats().kvCellsUsed, (prefix.length - 1) * (kvUnified ? 1 : 4));
    const fresh = await ctx.sequence(prefix);
    t.true(maxAbsDiff(await kids[1]!.logits(), await fresh.logits()) < 1e-4, 'next-token logits');
    const forked = await kids[1]!.score(cont);
    const direct = await fresh.score(cont);
    t.true(maxAbsDiff(forked, direct) < 1e-5, `max diff ${maxAbsDiff(forked, direct)}`);

    // Siblings write their own cells after the fork and must not see each other's tokens.
    const gens = await Promise.all(kids.map((k, i) => k.generate({ maxTokens: 8, temperature: 1, seed: 100 + i, stopAtEog: false })));
    const probe = randomTokens(6, 3);
    for (let i = 0; i < kids.length; i++) {
      const viaFork = await kids[i]!.score(probe);
      const before = i === 1 ? cont : []; // kid 1 scored `cont` above, so holds it
      const viaPrefill = await ctx.score([...prefix, ...before, ...gens[i]!.tokens], probe);
      t.true(maxAbsDiff(viaFork, viaPrefill) < 1e-5, `sibling ${i}`);
    }
    for (const s of [parent, fresh, ...kids]) await s.release();
    await assertClean(t, ctx);
    ctx.dispose();
  });
}

test('fork and re-prefill agree within 1e-2 under llama.cpp defaults (flash attention auto, F16 KV)', async (t) => {
  const ctx = await Context.create(model, { contextSize: 1024, maxSequences: 4 });
  const prefix = randomTokens(30, 4);
  const cont = randomTokens(10, 5);
  const parent = await ctx.sequence(prefix);
  const [kid] = await parent.fork(1);
  const a = await kid!.score(cont);
  const b = await ctx.score(prefix, cont);
  t.true(maxAbsDiff(a, b) < 1e-2, `max diff ${maxAbsDiff(a, b)}`);
  ctx.dispose();
});

test('greedy generation is the same alone and batched with 15 others of different lengths', async (t) => {
  const ctx = await Context.create(model, { ...EXACT, contextSize: 4096, maxSequences: 16 });
  const prompts = Array.from({ length: 16 }, (_, i) => randomTokens(3 + 7 * i, 50 + i));
  const run = async (p: number[]) => {
    const s = await ctx.sequence(p);
    const c = await s.generate({ maxTokens: 24, temperature: 0, stopAtEog: false });
    await s.release();
    return c.tokens;
  };
  const alone = await run(prompts[5]!);
  const batched = await Promise.all(prompts.map(run));
  t.deepEqual(batched[5], alone);
  // The lone run costs ~25 decodes (a prefill, 24 steps). Unbatched, the 16 others would add
  // 16 x 25 = 400 (425 in all); batched they share steps: measured 51 in all. The bound allows
  // twice the batched cost and fails anything that batches fewer than ~8 requests at a time.
  const calls = ctx.stats().decodeCalls;
  t.log(`decode calls: ${calls}`);
  t.true(calls <= 25 + 2 * 25, `requests shared decode batches (${calls} decode calls)`);
  await assertClean(t, ctx);
  ctx.dispose();
});

test('raw log-probs equal a float64 log-softmax of the logits; sampling log-probs follow temperature and top-k', async (t) => {
  const ctx = await Context.create(model, { ...EXACT, contextSize: 1024, maxSequences: 4 });
  const prompt = randomTokens(20, 7);
  const seq = await ctx.sequence(prompt);
  const logits = await seq.logits();
  t.is(logits.length, model.info.vocabSize);
  const raw = logSoftmax64(logits);
  const [a, b] = await seq.fork(2);
  const greedy = await a!.generate({ maxTokens: 1, temperature: 0 });
  let argmax = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[argmax]!) argmax = i;
  t.is(greedy.tokens[0], argmax);
  t.true(Math.abs(greedy.rawLogprobs[0]! - raw[argmax]!) < 1e-5);
  t.is(greedy.sampleLogprobs[0], 0);

  const warm = await b!.generate({ maxTokens: 1, temperature: 0.7, seed: 3 });
  const tok = warm.tokens[0]!;
  t.true(Math.abs(warm.rawLogprobs[0]! - raw[tok]!) < 1e-5);
  t.true(Math.abs(warm.sampleLogprobs[0]! - logSoftmax64(logits, 0.7)[tok]!) < 1e-5);

  const [c] = await seq.fork(1);
  const topk = await c!.generate({ maxTokens: 1, temperature: 1, topK: 5, seed: 9 });
  const order = Array.from(logits.keys())
    .sort((x, y) => logits[y]! - logits[x]!)
    .slice(0, 5);
  t.true(order.includes(topk.tokens[0]!));
  const z = order.reduce((acc, i) => acc + Math.exp(raw[i]!), 0);
  t.true(Math.abs(topk.sampleLogprobs[0]! - (raw[topk.tokens[0]!]! - Math.log(z))) < 1e-5);
  ctx.dispose();
});

test('score of generated tokens equals the raw log-probs reported while generating them', async (t) => {
  const ctx = await Context.create(model, { ...EXACT, contextSize: 1024, maxSequences: 4 });
  const prompt = randomTokens(15, 8);
  const seq = await ctx.sequence(prompt);
  const gen = await seq.generate({ maxTokens: 30, temperature: 1, seed: 11, stopAtEog: false });
  t.is(gen.tokens.length, 30);
  const scored = await ctx.score(prompt, gen.tokens);
  t.true(maxAbsDiff(scored, gen.rawLogprobs) < 1e-5, `max diff ${maxAbsDiff(scored, gen.rawLogprobs)}`);
  // temperature 1 without top-k/top-p samples from the raw distribution itself
  t.true(maxAbsDiff(gen.sampleLogprobs, gen.rawLogprobs) < 1e-5);
  ctx.dispose();
});

test('a stop string spanning two tokens stops generation and is excluded from the text', async (t) => {
  const ctx = await Context.create(model, { ...EXACT, contextSize: 1024, maxSequences: 4 });
  const prompt = randomTokens(10, 12);
  const seq = await ctx.sequence(prompt);
  const [a, b] = await seq.fork(2);
  const free = await a!.generate({ maxTokens: 40, temperature: 1, seed: 5, stopAtEog: false });
  // A boundary where (last char before it + first char after it) first occurs across it.
  const full = free.pieces.join('');
  let stop: string | undefined;
  let expected = '';
  let prefix = '';
  for (let i = 0; i + 1 < free.pieces.length && !stop; i++) {
    prefix += free.pieces[i]!;
    const next = free.pieces[i + 1]!;
    if (!prefix || !next || /\uFFFD/.test(prefix + next)) continue;
    const candidate = prefix.slice(-1) + next[0];
    if (full.indexOf(candidate) === prefix.length - 1) {
      stop = candidate;
      expected = prefix.slice(0, -1);
    }
  }
  t.truthy(stop, 'found a two-token stop string');
  const stopped = await b!.generate({ maxTokens: 40, temperature: 1, seed: 5, stopAtEog: false, stop: [stop!] });
  t.is(stopped.finish, 'stop');
  t.is(stopped.text, expected);
  t.false(stopped.text.includes(stop!));
  ctx.dispose();
});

for (const kvUnified of [false, true]) {
  test(`200 concurrent requests with random fork/release/cancel patterns leak no slots or cells (kvUnified ${kvUnified})`, async (t) => {
    const ctx = await Context.create(model, { contextSize: 64 * 256, maxSequences: 64, waitMs: 5000, kvUnified });
    let rng = 12345;
    const rand = (n: number) => {
      rng = (Math.imul(rng, 1103515245) + 12345) >>> 0;
      return (rng >>> 8) % n;
    };
    const roots = await Promise.all(Array.from({ length: 6 }, (_, i) => ctx.sequence(randomTokens(8 + 5 * i, 200 + i))));
    const outcomes = { done: 0, aborted: 0 };
    const job = async (k: number) => {
      const kids = await roots[rand(roots.length)]!.fork(1 + rand(3));
      await Promise.all(
        kids.map(async (kid, j) => {
          const controller = new AbortController();
          const mode = rand(4);
          const work =
            mode === 0
              ? kid.score(randomTokens(1 + rand(12), k * 10 + j), { signal: controller.signal })
              : kid.generate({ maxTokens: 1 + rand(16), temperature: 1, seed: k * 10 + j, signal: controller.signal });
          if (mode === 2) setTimeout(() => controller.abort(), rand(5));
          if (mode === 3 && rand(2) === 0) setTimeout(() => void kid.release(), rand(5));
          try {
            await work;
            outcomes.done++;
          } catch (err) {
            if ((err as Error).name === 'AbortError' || /released/.test((err as Error).message)) outcomes.aborted++;
            else throw err;
          }
          await kid.release();
        }),
      );
    };
    await Promise.all(Array.from({ length: 200 }, (_, k) => job(k)));
    t.log(outcomes);
    t.true(outcomes.done > 100);
    for (const r of roots) await r.release();
    await assertClean(t, ctx);
    // The cache itself is empty too: a sequence filling every cell fits.
    const full = await ctx.sequence(randomTokens(ctx.info.sequenceContextSize, 9));
    t.is(ctx.stats().kvCellsUsed, ctx.info.sequenceContextSize - 1);
    await full.release();
    ctx.dispose();
  });
}

test('cancellation rejects with AbortError and frees the request', async (t) => {
  const ctx = await Context.create(model, { contextSize: 4096, maxSequences: 4 });
  const seq = await ctx.sequence(randomTokens(10, 13));
  const controller = new AbortController();
  const pending = seq.generate({ maxTokens: 3000, temperature: 1, stopAtEog: false, signal: controller.signal });
  setTimeout(() => controller.abort(), 30);
  const err = await t.throwsAsync(pending);
  t.is(err?.name, 'AbortError');
  t.is(ctx.stats().requestsActive, 0);
  // An already-aborted signal never starts the request.
  await t.throwsAsync(seq.generate({ signal: AbortSignal.abort() }), { name: 'AbortError' });
  // The sequence is still usable after the abort.
  const more = await seq.generate({ maxTokens: 3, temperature: 0, stopAtEog: false });
  t.is(more.tokens.length, 3);
  await seq.release();
  await assertClean(t, ctx);
  ctx.dispose();
});

test('dispose while requests are in flight rejects them and keeps the process alive', async (t) => {
  const ctx = await Context.create(model, { contextSize: 4096, maxSequences: 8 });
  const seq = await ctx.sequence(randomTokens(10, 14));
  const kids = await seq.fork(6);
  const pending = kids.map((k) => k.generate({ maxTokens: 2000, temperature: 1, stopAtEog: false }));
  await new Promise((r) => setTimeout(r, 20));
  ctx.dispose();
  const results = await Promise.allSettled(pending);
  for (const r of results) {
    t.is(r.status, 'rejected');
    if (r.status === 'rejected') t.regex((r.reason as Error).message, /disposed/);
  }
  await t.throwsAsync(ctx.sequence([1, 2, 3]), { message: /disposed/ });
  ctx.dispose(); // idempotent
});

test('bad requests fail with the cause named', async (t) => {
  const ctx = await Context.create(model, { contextSize: 256, maxSequences: 2, waitMs: 300 });
  await t.throwsAsync(ctx.sequence(randomTokens(300, 1)), { message: /exceeds the context size/ });
  await t.throwsAsync(ctx.sequence([1, 2, model.info.vocabSize + 5]), { message: /outside the vocabulary/ });
  const seq = await ctx.sequence(randomTokens(10, 2));
  await t.throwsAsync(seq.score(randomTokens(280, 3)), { message: /exceeds the context size/ });
  await t.throwsAsync(seq.fork(3), { message: /at most 2/ });
  const empty = await ctx.sequence([]);
  await t.throwsAsync(empty.generate({ maxTokens: 2 }), { message: /empty/ });
  await empty.release();
  const gen = seq.generate({ maxTokens: 5, temperature: 0, stopAtEog: false });
  await t.throwsAsync(seq.generate({ maxTokens: 5 }), { message: /busy/ });
  await gen;
  await seq.release();
  await t.throwsAsync(seq.generate(), { message: /released/ });
  await t.throwsAsync(Context.create(model, { maxSequences: 1000 }), { message: /maxSequences/ });
  await t.throwsAsync(Context.create(model, { flashAttention: 'maybe' as never }), { message: /flashAttention/ });
  ctx.dispose();
});

test('a full KV cache queues work until a release, and fails it clearly if none comes', async (t) => {
  const ctx = await Context.create(model, { contextSize: 256, maxSequences: 4, waitMs: 400, kvUnified: true });
  const cells = ctx.info.contextSize; // llama.cpp rounds the size up to a multiple of 256
  const big = await ctx.sequence(randomTokens(cells - 50, 20));
  const queued = ctx.sequence(randomTokens(100, 21));
  await new Promise((r) => setTimeout(r, 100));
  t.is(ctx.stats().requestsActive, 1, 'the second prefill waits for cells');
  await big.release();
  const second = await queued;
  t.is(ctx.stats().kvCellsUsed, 99);
  await t.throwsAsync(ctx.sequence(randomTokens(cells - 50, 22)), { message: /KV cache full/ });
  await second.release();
  await assertClean(t, ctx);
  ctx.dispose();
});

test('running out of sequence slots queues until a release, then fails clearly', async (t) => {
  const ctx = await Context.create(model, { contextSize: 256, maxSequences: 2, waitMs: 400 });
  const a = await ctx.sequence([1, 2, 3]);
  const b = await ctx.sequence([1, 2, 4]);
  const c = ctx.sequence([1, 2, 5]);
  await new Promise((r) => setTimeout(r, 100));
  t.is(ctx.stats().requestsWaiting, 1);
  await a.release();
  const cc = await c;
  await t.throwsAsync(ctx.sequence([7, 8]), { message: /no free sequence slot/ });
  await b.release();
  await cc.release();
  await assertClean(t, ctx);
  ctx.dispose();
});

test('LoRA adapters attach and detach between calls without reloading the model', async (t) => {
  const dir = tempDir();
  const lora = await makeLora({ base: modelPath, out: join(dir, 'lora.gguf'), rank: 4, alpha: 8, seed: 2 });
  t.true(lora.parameterCount > 0);
  const adapter = await Adapter.load(model, lora.path);
  const ctx = await Context.create(model, { ...EXACT, contextSize: 512, maxSequences: 4 });
  const prompt = randomTokens(12, 30);
  const logitsNow = async () => {
    const s = await ctx.sequence(prompt);
    const l = await s.logits();
    await s.release();
    return l;
  };
  const base = await logitsNow();
  await ctx.setAdapters([{ adapter }]);
  const adapted = await logitsNow();
  t.true(maxAbsDiff(base, adapted) > 1e-3, 'the adapter changes the distribution');
  await ctx.setAdapters([{ adapter, scale: 0 }]);
  t.true(maxAbsDiff(base, await logitsNow()) < 1e-6, 'scale 0 is the base model');
  await ctx.setAdapters([]);
  t.true(maxAbsDiff(base, await logitsNow()) < 1e-6, 'detached');
  adapter.dispose();

  // An adapter for another shape, and a file that is not an adapter, fail by name.
  const other = await makeTemp({ shape: { ...SHAPES.tiny, embeddingLength: 32 } });
  const wrong = await makeLora({ base: other, out: join(dir, 'wrong.gguf') });
  await t.throwsAsync(Adapter.load(model, wrong.path), { message: /incorrect shape/ });
  await t.throwsAsync(Adapter.load(model, modelPath), { message: /adapter/ });
  const junk = join(dir, 'junk.gguf');
  writeFileSync(junk, 'nope');
  await t.throwsAsync(Adapter.load(model, junk), { message: /not a GGUF/ });
  ctx.dispose();
});

test('a context keeps its model alive after the model handle is disposed', async (t) => {
  const own = await Model.load(modelPath);
  const ctx = await Context.create(own, { contextSize: 256, maxSequences: 2 });
  own.dispose();
  const seq = await ctx.sequence(randomTokens(8, 40));
  const c = await seq.generate({ maxTokens: 4, temperature: 0, stopAtEog: false });
  t.is(c.tokens.length, 4);
  await seq.release();
  ctx.dispose();
});

test('generation stops with finish "context" when the sequence\'s stream is full', async (t) => {
  const ctx = await Context.create(model, { sequenceContextSize: 256, maxSequences: 2 });
  const seq = await ctx.sequence(randomTokens(250, 41));
  const c = await seq.generate({ maxTokens: 50, temperature: 0, stopAtEog: false });
  t.is(c.finish, 'context');
  t.is(c.tokens.length, 256 - 250 + 1); // the last sampled token stays pending, outside the cache
  const again = await seq.generate({ maxTokens: 5 });
  t.is(again.finish, 'context');
  t.is(again.tokens.length, 0);
  ctx.dispose();
});

test('rewind cuts a sequence back: same logits as before, cells freed, bounds checked', async (t) => {
  for (const kvUnified of [false, true]) {
    const ctx = await Context.create(model, { contextSize: 4 * 256, maxSequences: 4, kvUnified });
    const seq = await ctx.sequence(randomTokens(20, 50));
    t.is(seq.length, 20);
    const before = await seq.logits();
    const cells = ctx.stats().kvCellsUsed;
    const g = await seq.generate({ maxTokens: 12, temperature: 1, seed: 2, stopAtEog: false });
    t.is(seq.length, 20 + g.tokens.length);
    await seq.rewind(20);
    t.is(seq.length, 20);
    t.is(ctx.stats().kvCellsUsed, cells);
    t.is(maxAbsDiff(await seq.logits(), before), 0);
    // the same seed after a rewind gives the same continuation
    t.deepEqual((await seq.generate({ maxTokens: 12, temperature: 1, seed: 2, stopAtEog: false })).tokens, g.tokens);
    await t.throwsAsync(seq.rewind(0), { message: /between 1 and/ });
    await t.throwsAsync(seq.rewind(500), { message: /between 1 and/ });
    if (kvUnified) {
      const [kid] = await seq.fork(1);
      await t.throwsAsync(kid!.rewind(10), { message: /forked at/ });
    }
    ctx.dispose();
  }
});
