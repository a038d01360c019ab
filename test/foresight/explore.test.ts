import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from '../../src/engine/context.js';
import { Model } from '../../src/engine/model.js';
import { configHash, resolveForesightConfig } from '../../src/foresight/config.js';
import { exploreQuery, type ForesightObserver } from '../../src/foresight/explore.js';
import { joinShards } from '../../src/foresight/join.js';
import { readQueries } from '../../src/foresight/queries.js';
import type { ExplorationRecord } from '../../src/foresight/records.js';
import { runSampling } from '../../src/foresight/run.js';
import { parseShard } from '../../src/foresight/shard.js';
import { runPairs } from '../../src/pairs/run.js';
import { cliPath, makeTemp, tempDir } from '../helpers.js';

const QUESTIONS = [
  'Tom has 3 apples and buys 4 more. How many apples does he have?',
  'Ann has 10 coins and gives away 4. How many are left?',
  'Sam has 2 boxes with 5 pencils each. How many pencils?',
  'Mia had 9 cards, sold 3 and bought 5. How many cards now?',
  'Leo reads 4 books a week. How many books in 3 weeks?',
  'Zoe has 12 cookies and eats half. How many are left?',
];
const small = resolveForesightConfig({ beams: 2, rollouts: 3, steps: 2, maxStepTokens: 12, maxRolloutTokens: 24 });

let modelPath: string;
let dir: string;
let queries: string;
test.before(async () => {
  modelPath = await makeTemp({ shape: 'tiny', seed: 31 });
  dir = tempDir();
  queries = join(dir, 'queries.jsonl');
  writeFileSync(queries, QUESTIONS.map((q, i) => JSON.stringify({ instruction: q, response: String(i) })).join('\n') + '\n');
});

const read = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ExplorationRecord);
/** Records without their one timing field: what "the same file" means. */
const timeless = (path: string) => read(path).map(({ seconds: _, ...r }) => r);

test('every record keeps the invariants of the algorithm', async (t) => {
  const model = await Model.load(modelPath);
  const ctx = await Context.create(model, { flashAttention: 'off', sequenceContextSize: 256, maxSequences: 32 });
  const seen: { context: number[]; rollout: number[]; score: number }[] = [];
  const rec = await exploreQuery(ctx, model, { id: 'q1', index: 0, question: QUESTIONS[0]! }, small, 3, { observe: (e) => seen.push(e) });
  const { beams: M, rollouts: N, steps: K } = small;
  t.is(rec.traj_pool.length, K + 1);
  t.is(rec.prob_pool.length, K + 1);
  t.is(rec.adv_pool.length, K + 1);
  t.is(rec.step_pool.length, K);
  t.is(rec.step_prob.length, K);
  t.is(rec.sample_id_pool.length, K + 1);
  t.deepEqual(rec.traj_pool[K], []);
  t.is(rec.response_all_beams.length, M);
  // Rebuild each step's beams from the record and check every trajectory extends its beam.
  let beamTexts = Array.from({ length: M }, () => small.reasoningPrefix);
  let q = Array.from({ length: M }, () => 0);
  for (let k = 0; k < K; k++) {
    t.is(rec.traj_pool[k]!.length, M * N);
    t.is(rec.sample_id_pool[k]!.length, M);
    t.is(new Set(rec.sample_id_pool[k]).size, M, 'beams drawn without replacement');
    for (let i = 0; i < M * N; i++) {
      const b = rec.beam_pool![k]![i]!;
      t.is(b, Math.floor(i / N));
      t.true(rec.traj_pool[k]![i]!.startsWith(beamTexts[b]! + rec.candidate_pool![k]![i]! + '\n'));
      t.true(Math.abs(rec.adv_pool[k]![i]! - (rec.prob_pool[k]![i]! - q[b]!)) < 1e-12, 'A = f - Q(beam)');
    }
    const picked = rec.sample_id_pool[k]!;
    beamTexts = picked.map((i) => beamTexts[rec.beam_pool![k]![i]!]! + rec.candidate_pool![k]![i]! + '\n');
    q = picked.map((i) => rec.prob_pool[k]![i]!);
  }
  t.true(rec.response.startsWith(small.reasoningPrefix));
  t.true(rec.response_all_beams.includes(rec.response));
  // Foresight score = mean of the engine's teacher-forced log-probs over the rollout tokens.
  t.is(seen.length, K * M * N);
  for (const e of seen) {
    const lp = await ctx.score(e.context, e.rollout);
    const mean = lp.reduce((a, b) => a + b, 0) / lp.length;
    t.true(Math.abs(mean - e.score) < 1e-4, `${mean} vs ${e.score}`);
  }
  t.is(ctx.stats().liveSequences, 0, 'every sequence released');
  // Re-prefilling every request instead of forking computes the same record.
  const again = await exploreQuery(ctx, model, { id: 'q1', index: 0, question: QUESTIONS[0]! }, small, 3, { prefixSharing: false });
  t.deepEqual({ ...again, seconds: 0 }, { ...rec, seconds: 0 });
  ctx.dispose();
  model.dispose();
});

test('scoreSpan step+rollout scores a candidate by the mean log-prob of its step and rollout tokens together', async (t) => {
  const model = await Model.load(modelPath);
  const ctx = await Context.create(model, { flashAttention: 'off', sequenceContextSize: 256, maxSequences: 32 });
  const seen: Parameters<ForesightObserver>[0][] = [];
  const config = { ...small, scoreSpan: 'step+rollout' as const };
  const rec = await exploreQuery(ctx, model, { id: 'q1', index: 0, question: QUESTIONS[1]! }, config, 3, { observe: (e) => seen.push(e) });
  const separator = model.tokenize(small.stepSeparator, { addSpecial: false });
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  let apart = 0;
  for (const e of seen) {
    // The step's ids end the context, or precede the separator added after a length cut.
    const cut = e.context.length - e.stepTokens.length;
    const start = e.stepTokens.every((id, j) => e.context[cut + j] === id) ? cut : cut - separator.length;
    const step = await ctx.score(e.context.slice(0, start), e.stepTokens);
    const rollout = await ctx.score(e.context, e.rollout);
    const expected = mean([...step, ...rollout]);
    t.true(Math.abs(expected - e.score) < 1e-4, `${expected} vs ${e.score}`);
    t.is(rec.prob_pool[e.step]![e.candidate], e.score, 'the record holds the score');
    if (Math.abs(mean(rollout) - expected) > 1e-3) apart++;
  }
  t.true(apart > 0, 'the step moves some scores away from the rollout-only one');
  ctx.dispose();
  model.dispose();
});

test('the score span is part of the config hash; a file written before the setting existed still resumes', (t) => {
  const identity = { model: 'genius-tiny.gguf', modelBytes: 3640544, adapter: null, adapterBytes: 0, seed: 0 };
  const builtin = resolveForesightConfig({
    maxStepTokens: 24,
    maxRolloutTokens: 128,
    endMarkers: [],
    answerMarkers: ['####'],
  });
  // The hash an exploration of the built-in model recorded for these settings before scoreSpan existed.
  t.is(configHash(builtin, identity), 'f9a7106931e88598');
  t.not(configHash({ ...builtin, scoreSpan: 'step+rollout' }, identity), 'f9a7106931e88598');
});

test('the same seed gives the same file; K pairs per query; shards join to the same file', async (t) => {
  const base = { model: modelPath, queries, config: small, concurrency: 3, seed: 11 };
  const a = join(dir, 'a.jsonl');
  const b = join(dir, 'b.jsonl');
  await runSampling({ ...base, out: a });
  await runSampling({ ...base, concurrency: 1, out: b });
  t.deepEqual(timeless(a), timeless(b));
  t.deepEqual(
    read(a).map((r) => r.index),
    [0, 1, 2, 3, 4, 5],
  );
  const shards = [0, 1, 2].map((i) => join(dir, `s${i}.jsonl`));
  for (const [i, s] of shards.entries()) await runSampling({ ...base, out: s, shard: { index: i, count: 3 } });
  t.deepEqual(
    read(shards[1]!).map((r) => r.index),
    [1, 4],
  );
  const joined = join(dir, 'joined.jsonl');
  joinShards(joined, shards);
  t.deepEqual(timeless(joined), timeless(a));

  const pairs = join(dir, 'pairs.jsonl');
  const r = runPairs({ in: a, out: pairs, rejected: 'categorical', seed: 1 });
  t.is(r.pairs, QUESTIONS.length * small.steps);
  const other = await runSampling({ ...base, out: a, config: { ...small, tau: 0.5 } }).catch((e: Error) => e);
  t.regex((other as Error).message, /other settings/);
});

test('kill -9 at any point, then resume, gives the same file as an uninterrupted run', async (t) => {
  const args = (out: string) => [
    cliPath,
    'sample',
    '--model',
    modelPath,
    '--queries',
    queries,
    '--out',
    out,
    '--beams',
    '2',
    '--rollouts',
    '3',
    '--steps',
    '2',
    '--max-step-tokens',
    '12',
    '--max-rollout-tokens',
    '24',
    '--concurrency',
    '2',
    '--seed',
    '5',
  ];
  const run = (out: string) =>
    new Promise<number | null>((resolve) => spawn(process.execPath, args(out), { stdio: 'ignore' }).on('exit', resolve));
  const full = join(dir, 'full.jsonl');
  t.is(await run(full), 0);
  for (const killAfter of [1, 3]) {
    const out = join(dir, `killed-${killAfter}.jsonl`);
    const child = spawn(process.execPath, args(out), { stdio: 'ignore' });
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        const n = existsSync(out) ? readFileSync(out, 'utf8').split('\n').length - 1 : 0;
        if (n >= killAfter) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve();
        }
      }, 2);
    });
    await new Promise((r) => child.on('exit', r));
    appendFileSync(out, '{"id": 99, "question": "torn li'); // a line cut mid-write
    t.is(await run(out), 0);
    t.deepEqual(timeless(out), timeless(full), `killed after ${killAfter}`);
  }
});

test('malformed query lines are reported by line number and skipped, or stop the run with strict', (t) => {
  const path = join(dir, 'bad.jsonl');
  writeFileSync(path, '{"query": "a"}\n{oops\n\n[1,2]\n{"question": "b", "id": "x"}\n{"other": 1}\n');
  const notes: string[] = [];
  const qs = readQueries(path, { onSkip: (m) => notes.push(m) });
  t.deepEqual(
    qs.map((q) => [q.id, q.index, q.question]),
    [
      [0, 0, 'a'],
      ['x', 3, 'b'],
    ],
  );
  t.is(notes.length, 3);
  t.regex(notes[0]!, /bad\.jsonl:2: malformed JSON/);
  t.regex(notes[1]!, /bad\.jsonl:4: not a JSON object/);
  t.regex(notes[2]!, /bad\.jsonl:6: no question field/);
  t.throws(() => readQueries(path, { strict: true }), { message: /bad\.jsonl:2: malformed JSON/ });
  const arr = join(dir, 'arr.json');
  writeFileSync(arr, JSON.stringify([{ instruction: 'x' }, { instruction: 'y', answer: 3 }]));
  t.deepEqual(
    readQueries(arr).map((q) => [q.index, q.question, q.groundTruth]),
    [
      [0, 'x', undefined],
      [1, 'y', 3],
    ],
  );
  t.throws(() => readQueries(join(dir, 'missing.jsonl')), { message: /cannot read queries file/ });
  writeFileSync(join(dir, 'dup.jsonl'), '{"id":1,"query":"a"}\n{"id":1,"query":"b"}\n');
  t.throws(() => readQueries(join(dir, 'dup.jsonl')), { message: /duplicate query id 1/ });
});

test('a query too long for the context fails alone with a clear error', async (t) => {
  const path = join(dir, 'long.jsonl');
  writeFileSync(
    path,
    [
      JSON.stringify({ query: 'short one' }),
      JSON.stringify({ query: 'word '.repeat(400) }),
      JSON.stringify({ query: 'another short' }),
    ].join('\n'),
  );
  const notes: string[] = [];
  const out = join(dir, 'long-out.jsonl');
  const s = await runSampling({
    model: modelPath,
    queries: path,
    out,
    config: small,
    concurrency: 2,
    seed: 1,
    sequenceContextSize: 256,
    log: (m) => notes.push(m),
  });
  t.is(s.written, 2);
  t.is(s.failed, 1);
  t.true(
    notes.some((n) => /query 1 failed: .*does not fit the context/.test(n)),
    notes.join('\n'),
  );
  t.deepEqual(
    read(out).map((r) => r.index),
    [0, 2],
  );
});

test('--shard auto reads Kubernetes Indexed Jobs and Slurm arrays', (t) => {
  t.deepEqual(parseShard('2/5'), { index: 2, count: 5 });
  t.deepEqual(parseShard('auto', { JOB_COMPLETION_INDEX: '3', GENIUS_SHARD_COUNT: '4' }), { index: 3, count: 4 });
  t.deepEqual(parseShard('auto', { JOB_COMPLETION_INDEX: '1' }, 2), { index: 1, count: 2 });
  t.deepEqual(parseShard('auto', { SLURM_ARRAY_TASK_ID: '7', SLURM_ARRAY_TASK_MIN: '5', SLURM_ARRAY_TASK_COUNT: '3' }), {
    index: 2,
    count: 3,
  });
  t.throws(() => parseShard('auto', { JOB_COMPLETION_INDEX: '1' }), { message: /shard count/ });
  t.throws(() => parseShard('auto', {}), { message: /neither/ });
  t.throws(() => parseShard('5/5'), { message: /outside/ });
  t.throws(() => parseShard('x'), { message: /i\/n/ });
  t.is(parseShard(undefined), undefined);
});
