import test from 'ava';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTemp, tempDir } from '../helpers.js';
import { parseLoopConfig, readLoopConfig, type LoopConfigInput } from '../../src/loop/config.js';
import { runLoop } from '../../src/loop/run.js';
import { exportPairs } from '../../src/pairs/export.js';

function smallRun(model: string, dir: string, extra: Partial<LoopConfigInput> = {}): LoopConfigInput {
  const queries = join(dir, 'queries.jsonl');
  writeFileSync(
    queries,
    ['what is one and two?', 'add three to four.', 'how many is five?']
      .map((q, i) => JSON.stringify({ id: `q${i}`, question: q }))
      .join('\n') + '\n',
  );
  const evalSet = join(dir, 'eval.jsonl');
  writeFileSync(
    evalSet,
    [1, 2, 3, 4].map((n) => JSON.stringify({ question: `what is ${n}?`, answer: `${n}\n#### ${n}` })).join('\n') + '\n',
  );
  return {
    model,
    queries,
    eval: evalSet,
    out: join(dir, 'run'),
    rounds: 2,
    threads: 2,
    sampling: { beams: 1, rollouts: 2, steps: 2, maxStepTokens: 6, maxRolloutTokens: 12, concurrency: 3 },
    training: { lr: 1e-3, epochs: 1, batchPairs: 8, loraRank: 4, maxSeqLen: 256 },
    evaluation: { maxTokens: 8 },
    ...extra,
  };
}

test('the loop runs sample -> pairs -> train -> eval per round, carries the adapter forward, and resumes', async (t) => {
  const dir = tempDir();
  const model = await makeTemp({ arch: 'llama', shape: 'tiny', seed: 7 });
  const config = parseLoopConfig(smallRun(model, dir));
  const logs: string[] = [];
  const s = await runLoop(config, { log: (m) => logs.push(m) });
  t.truthy(s.before);
  t.is(s.rounds.length, 2);
  for (const r of [0, 1]) {
    const rd = join(config.out, `round-${r}`);
    for (const f of ['exploration.jsonl', 'pairs.jsonl', 'train/adapter.gguf', 'train/metrics.jsonl', 'eval.jsonl'])
      t.true(existsSync(join(rd, f)), `round ${r}: ${f}`);
    t.true(s.rounds[r]!.pairs! > 0);
    t.is(s.rounds[r]!.eval!.n, 4);
    // Each stage's wall time is recorded; together they make up (nearly) the whole round.
    const st = s.rounds[r]!.stage_seconds!;
    for (const k of ['sample', 'reference', 'train', 'eval'] as const) t.true(st[k]! > 0, `round ${r}: ${k} seconds`);
    t.true(st.sample! + st.reference! + st.train! + st.eval! <= s.rounds[r]!.seconds!);
  }
  // Round 1 sampled and trained on top of round 0's adapter.
  const sidecar = JSON.parse(readFileSync(join(config.out, 'round-1', 'exploration.jsonl.config.json'), 'utf8')) as {
    adapter?: string;
    adapterBytes?: number;
  };
  t.is(sidecar.adapter, 'adapter.gguf');
  t.is(sidecar.adapterBytes, statSync(join(config.out, 'round-0', 'train', 'adapter.gguf')).size);
  t.is(s.adapter, join(config.out, 'round-1', 'train', 'adapter.gguf'));
  const steps = readFileSync(join(config.out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { round: number });
  t.deepEqual([...new Set(steps.map((m) => m.round))], [0, 1]);
  t.true(existsSync(s.report));
  t.regex(readFileSync(s.report, 'utf8'), /<svg/);

  // A rerun of the same config finds every artifact and redoes nothing.
  const again = await runLoop(config);
  t.deepEqual(
    again.rounds.map((r) => [r.pairs, r.eval]),
    s.rounds.map((r) => [r.pairs, r.eval]),
  );
  t.true(again.seconds < s.seconds);
  // Another config may not take over the directory.
  await t.throwsAsync(runLoop(parseLoopConfig({ ...smallRun(model, dir), seed: 5 })), { message: /holds a run with another config/ });
});

test('run configs: YAML or JSON, every bad field named, unknown keys refused', (t) => {
  const dir = tempDir();
  const yaml = join(dir, 'run.yaml');
  writeFileSync(yaml, 'out: runs/x\nrounds: 3\nsampling:\n  beams: 2\n  strategy: greedy\ntraining:\n  loss: dpo\n  lr: 0.0001\n');
  const c = readLoopConfig(yaml, { seed: 4 });
  t.is(c.rounds, 3);
  t.is(c.sampling.strategy, 'greedy');
  t.is(c.training.loss, 'dpo');
  t.is(c.seed, 4);
  t.is(c.model, 'builtin');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ out: 'x', rounds: 0, sampling: { beams: 'two' }, training: { loss: 'kto' }, colour: 'red' }));
  const err = t.throws(() => readLoopConfig(bad));
  for (const field of ['rounds', 'sampling.beams', 'training.loss', 'colour']) t.regex(err!.message, new RegExp(field.replace('.', '\\.')));
  writeFileSync(bad, '{ out: [');
  t.throws(() => readLoopConfig(bad), { message: /cannot parse/ });
  t.throws(() => readLoopConfig(join(dir, 'missing.yaml')), { message: /config file not found/ });
  t.throws(() => parseLoopConfig({}), { message: /out/ });
});

test('export: open-instruct conversations with advantages, TRL with reference log-probs', (t) => {
  const dir = tempDir();
  const pairs = join(dir, 'pairs.jsonl');
  const rec = {
    prompt: 'q?',
    chosen: [{ role: 'assistant', content: 'good' }],
    rejected: [{ role: 'assistant', content: 'bad' }],
    chosen_weights: 0.2,
    rejected_weights: 0.5,
    chosen_average_weights: 0.3,
  };
  writeFileSync(pairs, `${JSON.stringify(rec)}\n${JSON.stringify({ ...rec, prompt: 'r?' })}\n`);
  const oi = join(dir, 'oi.jsonl');
  exportPairs({ pairs, out: oi, format: 'open-instruct' });
  const o = JSON.parse(readFileSync(oi, 'utf8').split('\n')[0]!);
  t.deepEqual(o.chosen, [
    { role: 'user', content: 'q?' },
    { role: 'assistant', content: 'good' },
  ]);
  t.is(o.rejected_weights, 0.5);
  const trl = join(dir, 'trl.jsonl');
  const r = exportPairs({ pairs, out: trl, format: 'trl', reference: [{ chosen: -3, rejected: -4 }, null], weights: [0.74, 1] });
  t.is(r.withReference, 1);
  const [a, b] = readFileSync(trl, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.deepEqual(a.prompt, [{ role: 'user', content: 'q?' }]);
  t.is(a.ref_chosen_logps, -3);
  t.is(a.calibration_weight, 0.74);
  t.false('ref_chosen_logps' in b);
  t.throws(() => exportPairs({ pairs, out: trl, format: 'trl', reference: [null] }), { message: /cover 1 pairs, the file has 2/ });
});
