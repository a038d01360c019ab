import test from 'ava';
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from '../../src/engine/context.js';
import { Model } from '../../src/engine/model.js';
import { answersMatch, evaluate, extractAnswer, loadEvalTask, type EvalItem, type EvalRecord } from '../../src/eval/index.js';
import { makeLora } from '../../src/modelmaker/index.js';
import { generateTask } from '../../src/task/index.js';
import { cliPath, makeTemp, tempDir } from '../helpers.js';

// A random tiny model writes no marked answers, so the tests grade its last number (lm-eval's
// flexible extract); the marker paths are covered by the extraction tests.
const GEN = { maxTokens: 32, lastNumber: true } as const;

let modelPath: string;
let dir: string;
let taskPath: string;
let model: Model;
let ctx: Context;
test.before(async () => {
  modelPath = await makeTemp({ shape: 'tiny', seed: 31 });
  dir = tempDir();
  taskPath = join(dir, 'task.jsonl');
  writeFileSync(
    taskPath,
    generateTask({ split: 'test', n: 16, seed: 1 })
      .map((r) => JSON.stringify(r))
      .join('\n') + '\n',
  );
  model = await Model.load(modelPath);
  ctx = await Context.create(model, { sequenceContextSize: 512, maxSequences: 32 });
});
test.after.always(() => {
  ctx?.dispose();
  model?.dispose();
});

const readRecords = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as EvalRecord);
const withGold = (items: EvalItem[], gold: (q: EvalItem, i: number) => string) => items.map((q, i) => ({ ...q, gold: gold(q, i) }));

test.serial('per-question JSONL holds each sample graded from its extracted answer', async (t) => {
  const items = loadEvalTask(taskPath);
  t.is(items.length, 16);
  t.regex(items[0]!.gold, /^\d+$/);
  const out = join(dir, 'greedy.jsonl');
  const r = await evaluate(ctx, model, items, { ...GEN, out });
  const lines = readRecords(out);
  t.deepEqual(lines, r.records);
  t.deepEqual(
    lines.map((l) => l.id),
    items.map((q) => q.id),
    'task order',
  );
  for (const [i, rec] of lines.entries()) {
    t.is(rec.question, items[i]!.question);
    t.is(rec.gold, items[i]!.gold);
    t.is(rec.samples.length, 1);
    for (const s of rec.samples) {
      t.is(s.answer, extractAnswer(s.text, { lastNumber: true })?.value ?? null);
      t.is(s.correct, answersMatch(s.answer, rec.gold));
      t.true(s.tokens > 0 && s.tokens <= 32);
    }
    t.is(rec.accuracy, rec.samples.filter((s) => s.correct).length);
  }
  t.is(r.n, 16);
  t.is(r.accuracy, lines.reduce((s, l) => s + l.accuracy, 0) / 16);
});

test.serial('accuracy: gold = the greedy answers gives 100%, a fake gold 0%, half of them 50%', async (t) => {
  const first = await evaluate(ctx, model, loadEvalTask(taskPath), GEN);
  const answered = first.records.filter((r) => r.samples[0]!.answer !== null);
  t.true(answered.length >= 4, `${answered.length} of 16 responses hold a number`);
  const items = answered.map((r, index) => ({ id: r.id, index, question: r.question, gold: r.samples[0]!.answer! }));
  const all = await evaluate(ctx, model, items, GEN);
  t.is(all.accuracy, 1);
  t.is(all.high, 1);
  t.true(all.low > 0.3 && all.low < 1);
  t.is(all.correct, items.length);
  const none = await evaluate(
    ctx,
    model,
    withGold(items, () => '-99999'),
    GEN,
  );
  t.is(none.accuracy, 0);
  t.is(none.low, 0);
  t.is(none.correct, 0);
  const half = await evaluate(
    ctx,
    model,
    withGold(items, (q, i) => (i % 2 === 0 ? q.gold : '-99999')),
    GEN,
  );
  t.is(half.correct, Math.ceil(items.length / 2));
  t.is(half.accuracy, Math.ceil(items.length / 2) / items.length);
  t.true(half.low < half.accuracy && half.accuracy < half.high);
});

test.serial('several samples per question: per-question shares, seeded and reproducible', async (t) => {
  const items = loadEvalTask(taskPath).slice(0, 6);
  const opts = { ...GEN, temperature: 1, samples: 3, seed: 5 };
  const a = await evaluate(ctx, model, items, opts);
  t.is(a.samples, 3);
  for (const rec of a.records) {
    t.is(rec.samples.length, 3);
    t.is(rec.accuracy, rec.samples.filter((s) => s.correct).length / 3);
  }
  t.is(
    a.correct,
    a.records.reduce((s, r) => s + r.samples.filter((x) => x.correct).length, 0),
  );
  t.is(a.accuracy, a.records.reduce((s, r) => s + r.accuracy, 0) / items.length);
  t.true(
    a.records.some((r) => new Set(r.samples.map((s) => s.text)).size > 1),
    'samples differ at temperature 1',
  );
  const b = await evaluate(ctx, model, items, opts);
  t.deepEqual(
    b.records.map((r) => r.samples.map((s) => s.text)),
    a.records.map((r) => r.samples.map((s) => s.text)),
  );
});

test.serial('resumes a killed run and refuses other settings', async (t) => {
  const items = loadEvalTask(taskPath).slice(0, 8);
  const full = await evaluate(ctx, model, items, GEN);
  const out = join(dir, 'resume.jsonl');
  writeFileSync(
    out,
    full.records
      .slice(0, 3)
      .map((r) => JSON.stringify(r))
      .join('\n') + '\n',
  );
  appendFileSync(out, '{"id":"torn');
  const logs: string[] = [];
  const resumed = await evaluate(ctx, model, items, { ...GEN, out, log: (m) => logs.push(m) });
  t.deepEqual(resumed.records, full.records);
  t.deepEqual(readRecords(out), full.records);
  t.regex(logs.join('\n'), /resuming: 3 questions/);
  await t.throwsAsync(evaluate(ctx, model, items, { ...GEN, out, temperature: 0.5 }), { message: /other settings/ });
});

test.serial('an adapter is attached for the evaluation and detached after', async (t) => {
  const items = loadEvalTask(taskPath).slice(0, 4);
  const lora = await makeLora({ base: modelPath, out: join(dir, 'lora.gguf'), rank: 4, alpha: 64, seed: 3 });
  const base = await evaluate(ctx, model, items, GEN);
  const adapted = await evaluate(ctx, model, items, { ...GEN, adapter: lora.path });
  t.notDeepEqual(
    adapted.records.map((r) => r.samples[0]!.text),
    base.records.map((r) => r.samples[0]!.text),
  );
  t.not(adapted.records[0]!.config_hash, base.records[0]!.config_hash);
  const after = await evaluate(ctx, model, items, GEN);
  t.deepEqual(after.records, base.records);
});

function genius(...args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('genius eval reads GSM8K-format JSONL and prints accuracy with its interval', (t) => {
  const questions = generateTask({ split: 'test', n: 10, seed: 9 }).map((r) => r.question);
  const gsm = join(dir, 'gsm8k.jsonl');
  const write = (golds: string[]) =>
    writeFileSync(
      gsm,
      questions.map((question, i) => JSON.stringify({ question, answer: `Step one.\nStep two.\n#### ${golds[i]}` })).join('\n') + '\n',
    );
  write(questions.map(() => '-99999'));
  const firstOut = join(dir, 'cli-first.jsonl');
  const first = genius('eval', '--model', modelPath, '--task', gsm, '--max-tokens', '32', '--last-number', '--out', firstOut, '--json');
  t.is(first.code, 0, first.stderr);
  t.like(JSON.parse(first.stdout), { accuracy: 0, low: 0, n: 10, samples: 1 });
  const golds = readRecords(firstOut).map((r) => r.samples[0]!.answer ?? 'none');
  write(golds);
  const second = genius('eval', '--model', modelPath, '--task', gsm, '--max-tokens', '32', '--last-number');
  t.is(second.code, 0, second.stderr);
  const expected = golds.filter((g) => g !== 'none').length / 10;
  t.regex(
    second.stdout,
    new RegExp(`^accuracy ${expected.toFixed(4)} \\(95% CI 0\\.\\d{4}-[01]\\.\\d{4}\\) on 10 questions x 1 samples\\n$`),
  );
});

test('genius eval: malformed input and missing gold answers are one-line errors', (t) => {
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, '{"question": "a?", "answer": "#### 1"}\n{"question": "b?", "answer": \n');
  const r = genius('eval', '--model', modelPath, '--task', bad);
  t.is(r.code, 1);
  t.regex(r.stderr, /^genius: .*bad\.jsonl:2: malformed JSON/);
  t.is(r.stderr.trim().split('\n').length, 1);
  const nogold = join(dir, 'nogold.jsonl');
  writeFileSync(nogold, '{"question": "a?"}\n');
  const g = genius('eval', '--model', modelPath, '--task', nogold);
  t.is(g.code, 1);
  t.regex(g.stderr, /question 0 \(item 1\) has no gold answer/);
});
