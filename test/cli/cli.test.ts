import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, tempDir, tinyRandomLlama2 } from '../helpers.js';

function genius(...args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('info --json prints one JSON object', (t) => {
  const r = genius('info', '--model', tinyRandomLlama2, '--json');
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.is(lines.length, 1);
  const info = JSON.parse(lines[0]!);
  t.is(info.architecture, 'llama');
  t.is(info.vocabSize, 32000);
  t.is(info.layerCount, 1);
});

test('tokenize prints a JSON array, --special adds BOS', (t) => {
  const plain = genius('tokenize', '--model', tinyRandomLlama2, 'Hello world');
  t.is(plain.code, 0, plain.stderr);
  const ids = JSON.parse(plain.stdout) as number[];
  t.true(Array.isArray(ids) && ids.length >= 2);
  const special = genius('tokenize', '--model', tinyRandomLlama2, '--special', 'Hello world');
  t.deepEqual(JSON.parse(special.stdout), [1, ...ids]);
});

test('make-model writes a model that info reads back', (t) => {
  const out = join(tempDir(), 'm.gguf');
  const r = genius(
    'make-model',
    '--arch',
    'qwen3',
    '--shape',
    'tiny',
    '--vocab',
    'builtin',
    '--dtype',
    'f16',
    '--seed',
    '4',
    '--out',
    out,
    '--json',
  );
  t.is(r.code, 0, r.stderr);
  t.true(existsSync(out));
  const info = JSON.parse(genius('info', '--model', out, '--json').stdout);
  t.is(info.architecture, 'qwen3');
  t.is(info.vocabSize, JSON.parse(r.stdout).vocabSize);
});

test('failures exit non-zero with one line naming the cause, no stack trace', (t) => {
  const dir = tempDir();
  const txt = join(dir, 'notes.txt');
  writeFileSync(txt, 'hello');
  const cases: [string[], RegExp][] = [
    [['info', '--model', join(dir, 'missing.gguf')], /model file not found/],
    [['info', '--model', txt], /not a GGUF file/],
    [['tokenize', '--model', txt, 'hi'], /not a GGUF file/],
    [['make-model', '--shape', 'nope', '--out', join(dir, 'x.gguf')], /nope/],
    [['make-model', '--seed', 'abc', '--out', join(dir, 'x.gguf')], /integer/],
    [['info'], /--model/],
  ];
  for (const [args, pattern] of cases) {
    const r = genius(...args);
    t.not(r.code, 0, args.join(' '));
    const lines = r.stderr.trim().split('\n');
    t.is(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
    t.regex(lines[0]!, pattern);
    t.notRegex(r.stderr, /\n\s+at /);
  }
  const verbose = genius('--verbose', 'info', '--model', txt);
  t.regex(verbose.stderr, /\n\s+at /);
});

test('generate --json prints one object per completion with per-token log-probs', async (t) => {
  const { makeTemp } = await import('../helpers.js');
  const model = await makeTemp({ shape: 'tiny', seed: 8 });
  const args = [
    'generate',
    '--model',
    model,
    '--prompt',
    'Tom has 3 apples.',
    '--chat',
    '--n',
    '3',
    '--max-tokens',
    '6',
    '--seed',
    '2',
    '--json',
  ];
  const r = genius(...args);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.is(lines.length, 3);
  for (const c of lines) {
    t.true(['stop', 'eos', 'length'].includes(c.finish));
    t.is(c.tokens.length, c.logprobs.length);
    t.true(c.tokens.length >= 1 && c.tokens.length <= 6);
    t.true(c.logprobs.every((x: number) => x <= 0));
  }
  // completion i uses seed + i: a re-run gives the same file
  t.is(genius(...args).stdout, r.stdout);
});

test('score --json gives the log-prob of every token after the first', async (t) => {
  const { makeTemp } = await import('../helpers.js');
  const model = await makeTemp({ shape: 'tiny', seed: 9 });
  const r = genius('score', '--model', model, '--tokens', '1 100 200 300 400', '--flash-attn', 'off', '--kv-type', 'f32', '--json');
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  t.deepEqual(out.tokens, [1, 100, 200, 300, 400]);
  t.is(out.logprobs.length, 4);
  // the same tokens given as text-free ids through the library agree
  const { Model } = await import('../../src/engine/model.js');
  const { Context } = await import('../../src/engine/context.js');
  const m = await Model.load(model);
  const ctx = await Context.create(m, { flashAttention: 'off', kvType: 'f32', contextSize: 256, maxSequences: 1 });
  const lib = await ctx.score([1], [100, 200, 300, 400]);
  for (let i = 0; i < 4; i++) t.true(Math.abs(lib[i]! - out.logprobs[i]) < 1e-5);
  ctx.dispose();
  m.dispose();
  const bad = genius('score', '--model', model, '--text', 'a', '--tokens', '1 2');
  t.not(bad.code, 0);
  t.regex(bad.stderr, /exactly one of --text or --tokens/);
});

test('sample, pairs and join work end to end from the CLI', async (t) => {
  const { makeTemp } = await import('../helpers.js');
  const model = await makeTemp({ shape: 'tiny', seed: 12 });
  const dir = tempDir();
  const queries = join(dir, 'q.jsonl');
  writeFileSync(queries, '{"instruction": "Tom has 3 apples and buys 4 more."}\nbroken\n{"instruction": "Ann has 10 coins."}\n');
  const common = [
    '--model',
    model,
    '--queries',
    queries,
    '--beams',
    '2',
    '--rollouts',
    '2',
    '--steps',
    '2',
    '--max-step-tokens',
    '8',
    '--max-rollout-tokens',
    '8',
    '--seed',
    '3',
  ];
  const out = join(dir, 'ex.jsonl');
  const r = genius('sample', ...common, '--out', out);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /q\.jsonl:2: malformed JSON.*skipped/);
  t.regex(r.stderr, /wrote 2 records/);
  const strict = genius('sample', ...common, '--out', join(dir, 'strict.jsonl'), '--strict');
  t.not(strict.code, 0);
  t.regex(strict.stderr, /q\.jsonl:2: malformed JSON/);
  // a re-run resumes: nothing left to do
  t.regex(genius('sample', ...common, '--out', out).stderr, /wrote 0 records .*2 already there/);
  const shards = [0, 1].map((i) => join(dir, `s${i}.jsonl`));
  for (const [i, s] of shards.entries()) t.is(genius('sample', ...common, '--out', s, '--shard', `${i}/2`).code, 0);
  const spanned = join(dir, 'span.jsonl');
  t.is(genius('sample', ...common, '--out', spanned, '--score-span', 'step+rollout').code, 0);
  const settings = (p: string) => JSON.parse(readFileSync(`${p}.config.json`, 'utf8').trim()).config.scoreSpan;
  t.is(settings(out), 'rollout');
  t.is(settings(spanned), 'step+rollout');
  t.notDeepEqual(
    JSON.parse(readFileSync(spanned, 'utf8').split('\n')[0]!).prob_pool,
    JSON.parse(readFileSync(out, 'utf8').split('\n')[0]!).prob_pool,
  );
  const joined = join(dir, 'joined.jsonl');
  t.is(genius('join', '--out', joined, ...shards).code, 0);
  const strip = (p: string) =>
    readFileSync(p, 'utf8')
      .trim()
      .split('\n')
      .map((l) => ({ ...JSON.parse(l), seconds: 0 }));
  t.deepEqual(strip(joined), strip(out));
  const pairs = join(dir, 'pairs.jsonl');
  const p = genius('pairs', '--in', out, '--out', pairs, '--rejected', 'uniform');
  t.is(p.code, 0, p.stderr);
  const lines = readFileSync(pairs, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.is(lines.length, 4);
  t.deepEqual(Object.keys(lines[0]).sort(), [
    'chosen',
    'chosen_average_weights',
    'chosen_ids',
    'chosen_weights',
    'prompt',
    'prompt_ids',
    'rejected',
    'rejected_ids',
    'rejected_weights',
    'step',
  ]);
  const bad = genius('sample', ...common, '--out', join(dir, 'x.jsonl'), '--shard', '3/2');
  t.not(bad.code, 0);
  t.regex(bad.stderr, /outside/);
});

test('--chat-template names a template where the model has none, and the error says so', (t) => {
  const base = ['generate', '--model', tinyRandomLlama2, '--prompt', 'hi', '--max-tokens', '2', '--json', '--chat'];
  const missing = genius(...base);
  t.not(missing.code, 0);
  t.regex(missing.stderr, /no chat template: name one with --chat-template/);
  const named = genius(...base, '--chat-template', 'chatml');
  t.is(named.code, 0, named.stderr);
  t.is(JSON.parse(named.stdout).tokens.length, 2);
  // Without --chat there is no template to name.
  t.regex(
    genius('generate', '--model', tinyRandomLlama2, '--prompt', 'hi', '--chat-template', 'chatml').stderr,
    /--chat-template needs --chat/,
  );
});
