// Training sees exactly what sampling saw: token ids from exploration to the gradient, beams that
// end stop, and the built-in model (which ends every answer with <|im_end|>) as the model that ends early.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUILTIN_DIFFICULTY,
  BUILTIN_FORESIGHT,
  BUILTIN_MANIFEST_PATH,
  BUILTIN_MODEL_PATH,
  evaluateBuiltin,
  manifestPath,
  type TinyModelManifest,
} from '../../src/builtin/index.js';
import { Context } from '../../src/engine/context.js';
import { Model } from '../../src/engine/model.js';
import { resolveForesightConfig } from '../../src/foresight/config.js';
import { endOfTurnToken, exploreQuery, promptFor } from '../../src/foresight/explore.js';
import type { ExplorationRecord } from '../../src/foresight/records.js';
import { runSampling } from '../../src/foresight/run.js';
import { runPairs } from '../../src/pairs/run.js';
import type { PairRecord } from '../../src/pairs/build.js';
import { foresightSignal, judgeFor, stepJudgeFor } from '../../src/probe/signal.js';
import { generateTask } from '../../src/task/index.js';
import { loadPairs } from '../../src/train/data.js';
import { cliPath, tempDir } from '../helpers.js';

const readLines = <T>(path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as T);
// More steps than any solution has lines: every beam ends before K.
const config = resolveForesightConfig({ ...BUILTIN_FORESIGHT, beams: 2, rollouts: 3, steps: 8 });
const problems = generateTask({ split: 'train', n: 6, seed: 4242, difficulty: BUILTIN_DIFFICULTY });

let dir: string;
let queries: string;
test.before(() => {
  dir = tempDir();
  queries = join(dir, 'queries.jsonl');
  writeFileSync(queries, problems.map((p) => JSON.stringify({ id: p.id, question: p.question, answer: p.answer })).join('\n') + '\n');
});

test('a beam whose step ended the response is finished: no step, rollout or completion after its end', async (t) => {
  const model = await Model.load(BUILTIN_MODEL_PATH);
  const ctx = await Context.create(model, { sequenceContextSize: 512, maxSequences: 32 });
  const eot = endOfTurnToken(model);
  try {
    for (const [i, p] of problems.entries()) {
      const seen: { step: number; candidate: number; context: number[]; rollout: number[] }[] = [];
      const rec = await exploreQuery(ctx, model, { id: p.id, index: i, question: p.question }, config, 7, { observe: (e) => seen.push(e) });
      const S = rec.traj_pool.length - 1;
      t.true(S < config.steps, 'every beam ended before K steps');
      t.deepEqual(rec.traj_pool[S], []);
      t.is(rec.beam_finished_at!.length, config.beams);
      t.true(
        rec.beam_finished_at!.every((k) => k !== null && k < S),
        'finished beams say when',
      );
      let open = config.beams;
      for (let k = 0; k < S; k++) {
        t.is(rec.traj_pool[k]!.length, open * config.rollouts, `N candidates per open beam at step ${k}`);
        rec.terminal_pool![k]!.forEach((terminal, c) => {
          const ids = rec.token_pool![k]![c]!;
          // No rollout followed a terminal candidate, and every trajectory stops at its end token.
          t.is(
            seen.some((e) => e.step === k && e.candidate === c),
            !terminal,
          );
          if (rec.ended_pool![k]![c]) t.is(ids.at(-1), eot);
          t.false(ids.slice(0, -1).includes(eot), 'nothing after the end of turn');
          t.false(/####[^\n]*\n./s.test(rec.traj_pool[k]![c]!), 'no text after the answer line');
        });
        open -= rec.beam_finished_at!.filter((f) => f === k).length;
      }
      t.is(open, 0);
      // Finished beams are the final responses as they ended.
      for (const ids of rec.response_all_beams_ids!) t.is(ids.at(-1), eot);
    }
    // Releases are not awaited by the sampler; the engine orders them before any later request.
    await ctx.score([1, 2], [3]);
    t.is(ctx.stats().liveSequences, 0);
  } finally {
    ctx.dispose();
    model.dispose();
  }
});

test('an end marker ends the response too, and the end-of-turn token is appended to its ids', async (t) => {
  const model = await Model.load(BUILTIN_MODEL_PATH);
  const ctx = await Context.create(model, { sequenceContextSize: 512, maxSequences: 32 });
  try {
    const marked = resolveForesightConfig({ ...config, endMarkers: ['####'] });
    const rec = await exploreQuery(ctx, model, { id: 'm', index: 0, question: problems[0]!.question }, marked, 3);
    const eot = endOfTurnToken(model);
    let terminal = 0;
    rec.terminal_pool!.forEach((row, k) =>
      row.forEach((isTerminal, c) => {
        if (!isTerminal) return;
        terminal++;
        const ids = rec.token_pool![k]![c]!;
        t.is(ids.at(-1), eot);
        t.false(rec.traj_pool[k]![c]!.includes('####'), 'the marker ends the step; it is not kept as text');
        t.regex(model.detokenize(ids.slice(-4, -1)), /#/, 'the sampled marker tokens precede the appended end of turn');
      }),
    );
    t.true(terminal > 0);
  } finally {
    ctx.dispose();
    model.dispose();
  }
});

test('pairs built from a real exploration file train on the ids the engine generated, pair by pair', async (t) => {
  const out = join(dir, 'exploration.jsonl');
  await runSampling({ model: BUILTIN_MODEL_PATH, queries, out, config, concurrency: 3, seed: 1, sequenceContextSize: 512 });
  const records = readLines<ExplorationRecord>(out);
  const pairsPath = join(dir, 'pairs.jsonl');
  const made = runPairs({ in: out, out: pairsPath, rejected: 'categorical', seed: 2 });
  t.true(made.pairs > 0);
  const pairs = readLines<PairRecord>(pairsPath);
  const model = await Model.load(BUILTIN_MODEL_PATH);
  try {
    const data = loadPairs(pairsPath, model, { maxSeqLen: 512, truncation: 'drop' });
    t.is(data.pairs.length, pairs.length);
    const eot = endOfTurnToken(model);
    const prefixIds = model.tokenize(config.reasoningPrefix);
    for (const [i, p] of data.pairs.entries()) {
      const rec = records.find((r) => r.question === pairs[i]!.prompt)!;
      const k = pairs[i]!.step!;
      // The prompt is what the sampler prefilled: its own tokenization of the query, once.
      t.deepEqual(p.prompt, rec.prompt_ids);
      t.deepEqual(p.prompt, promptFor(model, rec.question, config));
      for (const side of [p.chosen, p.rejected]) {
        t.true(
          rec.token_pool![k]!.some((ids) => JSON.stringify(ids) === JSON.stringify(side)),
          'a response the engine generated at that step',
        );
        t.notDeepEqual(side.slice(0, prefixIds.length), prefixIds, 'the reasoning prefix is in the prompt only');
        t.is(side.at(-1), eot, 'the decision to stop is part of the response');
      }
      t.notDeepEqual(p.chosen, p.rejected, 'identical pairs are dropped');
    }
    // The engine's own view: every candidate's ids are its context after the prompt plus its rollout.
    const rec = records[0]!;
    const ctx = await Context.create(model, { sequenceContextSize: 512, maxSequences: 32 });
    const seen: { step: number; candidate: number; context: number[]; rollout: number[] }[] = [];
    const again = await exploreQuery(
      ctx,
      model,
      { id: rec.id, index: 0, question: rec.question, groundTruth: rec.ground_truth },
      config,
      1,
      { observe: (e) => seen.push(e) },
    );
    ctx.dispose();
    t.deepEqual(again.token_pool, rec.token_pool, 'the record is reproducible');
    for (const e of seen) t.deepEqual(rec.token_pool![e.step]![e.candidate], [...e.context.slice(rec.prompt_ids!.length), ...e.rollout]);

    // The TRL export carries exactly these ids, and its reference log-probs are of exactly them.
    const trl = join(dir, 'trl.jsonl');
    const r = spawnSync(
      process.execPath,
      [cliPath, 'export', '--pairs', pairsPath, '--out', trl, '--format', 'trl', '--model', BUILTIN_MODEL_PATH, '--reference', 'engine'],
      { encoding: 'utf8' },
    );
    t.is(r.status, 0, r.stderr);
    const rows = readLines<{
      prompt: string;
      prompt_input_ids: number[];
      chosen_input_ids: number[];
      rejected_input_ids: number[];
      ref_chosen_logps: number;
    }>(trl);
    t.is(rows.length, data.pairs.length);
    const scorer = await Context.create(model, { flashAttention: 'off', kvType: 'f32', sequenceContextSize: 512, maxSequences: 4 });
    try {
      for (const [i, row] of rows.slice(0, 6).entries()) {
        t.deepEqual(
          [row.prompt_input_ids, row.chosen_input_ids, row.rejected_input_ids],
          [data.pairs[i]!.prompt, data.pairs[i]!.chosen, data.pairs[i]!.rejected],
        );
        t.is(row.prompt, model.detokenize(row.prompt_input_ids, { special: true }));
        const sum = (await scorer.score(row.prompt_input_ids, row.chosen_input_ids)).reduce((a, b) => a + b, 0);
        t.true(Math.abs(sum - row.ref_chosen_logps) < 1e-3, `${sum} vs ${row.ref_chosen_logps}`);
      }
    } finally {
      scorer.dispose();
    }
  } finally {
    model.dispose();
  }
});

test('text-only pairs (the reference format) load with the reasoning prefix once and the turn closed', async (t) => {
  const model = await Model.load(BUILTIN_MODEL_PATH);
  try {
    const path = join(dir, 'text-pairs.jsonl');
    const traj = `${config.reasoningPrefix}3 + 4 = 7\n#### 7`;
    writeFileSync(
      path,
      JSON.stringify({
        prompt: 'what is 3 plus 4?',
        chosen: [{ role: 'assistant', content: traj }],
        rejected: [{ role: 'assistant', content: `${config.reasoningPrefix}3 + 4 = 8\n#### 8` }],
        chosen_weights: 0.1,
        rejected_weights: -0.1,
      }) + '\n',
    );
    const [p] = loadPairs(path, model, { maxSeqLen: 512, truncation: 'drop' }).pairs;
    t.deepEqual(p!.prompt, promptFor(model, 'what is 3 plus 4?', config));
    t.deepEqual(p!.chosen, [...model.tokenize('3 + 4 = 7\n#### 7'), endOfTurnToken(model)]);
    // Ids from another vocabulary are refused by name.
    writeFileSync(
      path,
      JSON.stringify({ prompt: 'q', chosen: 'a', rejected: 'b', prompt_ids: [1], chosen_ids: [1e9], rejected_ids: [2] }) + '\n',
    );
    t.throws(() => loadPairs(path, model, { maxSeqLen: 512, truncation: 'drop' }), { message: /chosen_ids must be a list of token ids/ });
  } finally {
    model.dispose();
  }
});

test('the probe grades records: diversity, AUROC, pair quality', (t) => {
  // Step 0: right trajectories (#### 5) score above wrong ones; step 1: all candidates the same.
  const rec = (id: number, scores: number[]): ExplorationRecord => ({
    id,
    question: `q${id}`,
    ground_truth: '2 + 3 = 5\n#### 5',
    response: '#### 5',
    response_all_beams: ['#### 5'],
    foresight_steps: 2,
    traj_pool: [['a\n#### 5', 'b\n#### 5', 'c\n#### 6', 'd\n#### 7'], ['#### 5', '#### 5', '#### 5', '#### 5'], []],
    candidate_pool: [
      ['a', 'b', 'c', 'd'],
      ['x', 'x', 'x', 'x'],
    ],
    step_pool: [[], []],
    prob_pool: [scores, [-1, -1, -1, -1], [0]],
    adv_pool: [[0, 0, 0, 0], [0, 0, 0, 0], [0]],
    step_prob: [[], []],
    sample_id_pool: [[0, 1], [0, 1], [0]],
  });
  const s = foresightSignal([rec(1, [-0.1, -0.2, -0.9, -0.8]), rec(2, [-0.1, -0.2, -0.9, -0.8])], { resamples: 200 });
  t.is(s.queries, 2);
  t.is(s.steps, 4);
  t.is(s.distinctCandidates, 2.5);
  t.is(s.allIdenticalShare, 0.5);
  t.is(s.mixedSteps, 2);
  t.is(s.auroc.value, 1);
  t.is(s.chosenRight, 1);
  t.is(s.identicalPairShare, 0.5, 'step 1 pairs are identical texts');
  t.is(s.finalAccuracy, 1);
  const inverted = foresightSignal([rec(1, [-0.9, -0.8, -0.1, -0.2])], { resamples: 50, rejected: 'lowest' });
  t.is(inverted.auroc.value, 0);
  t.is(inverted.preferenceAccuracy, 0);
  const ties = foresightSignal([rec(1, [-0.5, -0.5, -0.5, -0.5])], { resamples: 50 });
  t.is(ties.auroc.value, 0.5);
  t.true(Number.isNaN(foresightSignal([{ ...rec(1, [0, 0, 0, 0]), ground_truth: null }]).auroc.value));
  t.true(Number.isNaN(s.aurocAgainstLikelierStep.value), 'no step log-probs, no figure');
  // Against a likelier wrong step: only wrong 'c' (its step likelier than both right ones) counts.
  const likelier = {
    ...rec(1, [-0.3, -0.1, -0.2, -0.9]),
    step_prob: [
      [-0.5, -0.5, -0.1, -1],
      [-1, -1, -1, -1],
    ],
  };
  const h = foresightSignal([likelier], { resamples: 50 });
  t.is(h.auroc.value, 0.75);
  t.is(h.aurocAgainstLikelierStep.value, 0.5, 'a scores below c, b above it');
  // The solution judge: only trajectory 'P\n2 + 3 = 5\n#### 5' follows the gold solution; 'b' is a lucky answer.
  const solution = { ...rec(1, [-0.1, -0.05, -0.9, -0.8]) };
  solution.traj_pool = [
    ['P\n2 + 3 = 5\n#### 5', 'P\n1 + 3 = 5\n#### 5', 'c\n#### 6', 'd\n#### 7'],
    ['#### 5', '#### 5', '#### 5', '#### 5'],
    [],
  ];
  const strict = foresightSignal([solution], { resamples: 50, judge: judgeFor('solution', 'P\n') });
  t.is(strict.auroc.value, 2 / 3, 'the lucky answer is wrong now, and scores above the right one');
  t.is(strict.rightTrajectoryShare, 1 / 8);
  t.is(foresightSignal([solution], { resamples: 50, judge: judgeFor('answer') }).auroc.value, 1);
});

test("the probe's step selection: the highest-scored candidate step against the model's likeliest, per beam", (t) => {
  const right = 'P\n2 + 3 = 5\n';
  const wrong = 'P\n2 + 3 = 6\n';
  const record: ExplorationRecord = {
    id: 1,
    question: 'q',
    ground_truth: '2 + 3 = 5\n5 * 2 = 10\n#### 10',
    response: '',
    response_all_beams: [],
    foresight_steps: 2,
    // Step 0, beam 0: the likeliest step is wrong, the highest-scored right (gained). Beam 1: the
    // likeliest is right, the highest-scored wrong (lost); the right step's rollout errs, which must
    // not make the step wrong. Step 1: no right candidate, not counted.
    step_pool: [
      ['5 * 2 = 10\n#### 10', '6 * 2 = 12\n#### 12', '5 * 2 = 11\n#### 11', '6 * 2 = 12\n#### 12'],
      ['#### 12', '#### 12'],
    ],
    traj_pool: [[], [], []],
    candidate_pool: [
      ['2 + 3 = 5', '2 + 3 = 6', '2 + 3 = 5', '2 + 3 = 6'],
      ['6 * 2 = 12', '6 * 2 = 12'],
    ],
    beam_pool: [
      [0, 0, 1, 1],
      [0, 0],
    ],
    step_prob: [
      [-0.5, -0.1, -0.1, -0.5],
      [-0.1, -0.2],
    ],
    prob_pool: [[-0.1, -0.3, -0.4, -0.2], [-0.1, -0.2], [0]],
    adv_pool: [[0, 0, 0, 0], [0, 0], [0]],
    sample_id_pool: [[0, 2], [0, 1], [0]],
  };
  record.traj_pool = [
    [right, wrong, right, wrong].map((p, i) => p + record.step_pool[0]![i]),
    [wrong + '6 * 2 = 12\n#### 12', wrong + '6 * 2 = 12\n#### 12'],
    [],
  ];
  const judged = foresightSignal([record], {
    resamples: 10,
    judge: judgeFor('solution', 'P\n'),
    stepJudge: stepJudgeFor('solution', 'P\n'),
  });
  t.deepEqual(judged.stepSelection, { steps: 2, gained: 1, lost: 1 });
  t.is(stepJudgeFor('answer'), undefined, 'a partial trajectory has no answer to judge');
  t.true(Number.isNaN(foresightSignal([record], { resamples: 10 }).stepSelection.steps));
});

test('genius probe explores a labeled task and prints the signal report, with greedy decoding of the same queries', async (t) => {
  const r = spawnSync(process.execPath, [cliPath, 'probe', '--model', 'builtin', '--task', queries, '--n', '4', '--steps', '3', '--json'], {
    encoding: 'utf8',
  });
  t.is(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { queries: number; steps: number; auroc: { value: number }; candidatesPerStep: number; pairs: number };
  t.is(s.queries, 4);
  t.true(s.steps > 0 && s.steps <= 12);
  t.true(s.candidatesPerStep > 0 && s.candidatesPerStep <= 8);
  t.true(s.pairs > 0);
  // --judge solution: right = the steps are the gold solution (the kept exploration, re-read here).
  const kept = join(dir, 'probe-exploration.jsonl');
  const judged = (judge: string) => {
    const p = spawnSync(
      process.execPath,
      [cliPath, 'probe', '--model', 'builtin', '--task', queries, '--n', '4', '--steps', '3', '--judge', judge, '--out', kept, '--json'],
      {
        encoding: 'utf8',
      },
    );
    t.is(p.status, 0, p.stderr);
    return JSON.parse(p.stdout) as { rightTrajectoryShare: number; greedyAccuracy: number; stepSelection: { steps: number | null } };
  };
  const answerJudged = judged('answer');
  const solutionJudged = judged('solution');
  const byAnswer = answerJudged.rightTrajectoryShare;
  const bySolution = solutionJudged.rightTrajectoryShare;
  // The baseline the search must beat: greedy responses to the same 4 queries, judged the same way.
  const greedy = await evaluateBuiltin(BUILTIN_MODEL_PATH, problems.slice(0, 4));
  t.is(answerJudged.greedyAccuracy, greedy.accuracy);
  const followsGold = greedy.records.filter((q, i) => q.samples[0]!.text.trim() === problems[i]!.answer).length;
  t.is(solutionJudged.greedyAccuracy, followsGold / 4);
  t.true((solutionJudged.stepSelection.steps ?? 0) > 0, 'the solution judge grades steps too');
  t.is(answerJudged.stepSelection.steps, null, 'NaN in JSON: the answer judge cannot grade a partial solution');
  const trajectories = readFileSync(kept, 'utf8')
    .trim()
    .split('\n')
    .flatMap((l) => {
      const r = JSON.parse(l) as ExplorationRecord;
      return r.traj_pool.flat().map((x) => x === BUILTIN_FORESIGHT.reasoningPrefix + String(r.ground_truth));
    });
  t.is(bySolution, trajectories.filter(Boolean).length / trajectories.length);
  t.true(bySolution <= byAnswer);
  const unlabeled = join(dir, 'unlabeled.jsonl');
  writeFileSync(unlabeled, '{"question": "what is 2 plus 3?"}\n');
  const bad = spawnSync(process.execPath, [cliPath, 'probe', '--model', 'builtin', '--task', unlabeled], { encoding: 'utf8' });
  t.not(bad.status, 0);
  t.regex(bad.stderr, /the probe needs labels/);
});

test('genius probe --model PATH probes a model the built-in recipe made as the built-in one, by the manifest beside it', (t) => {
  const copies = tempDir();
  const probe = (model: string, out?: string) => {
    const args = [cliPath, 'probe', '--model', model, '--n', '3', '--steps', '2', '--json', ...(out ? ['--out', out] : [])];
    const p = spawnSync(process.execPath, args, { encoding: 'utf8' });
    t.is(p.status, 0, p.stderr);
    const { seconds: _, ...report } = JSON.parse(p.stdout) as Record<string, unknown>;
    return { report, stderr: p.stderr };
  };
  const builtin = probe('builtin').report;
  const candidate = join(copies, 'candidate.gguf');
  copyFileSync(BUILTIN_MODEL_PATH, candidate);
  const bare = probe(candidate);
  t.notRegex(bare.stderr, /describes this model/);
  const manifest = JSON.parse(readFileSync(BUILTIN_MANIFEST_PATH, 'utf8')) as TinyModelManifest;
  writeFileSync(manifestPath(candidate), JSON.stringify(manifest));
  const described = probe(candidate);
  t.deepEqual(described.report, builtin, 'the same settings and queries: the same report');
  t.regex(described.stderr, /candidate\.json describes this model: its sampling settings and task difficulty apply/);
  // The manifest's sampling settings apply (here, 2 candidates per beam instead of 4)...
  writeFileSync(manifestPath(candidate), JSON.stringify({ ...manifest, foresight: { ...manifest.foresight, rollouts: 2 } }));
  t.true((probe(candidate).report.candidatesPerStep as number) <= 4);
  t.true((builtin.candidatesPerStep as number) > 4);
  // ...and the recipe's difficulty draws the probe's queries.
  const guessing = {
    ...manifest,
    recipe: { ...manifest.recipe, difficulty: { ...manifest.recipe.difficulty, finalShare: 0, guess: true } },
  };
  writeFileSync(manifestPath(candidate), JSON.stringify(guessing));
  const kept = join(copies, 'guess-exploration.jsonl');
  probe(candidate, kept);
  const asked = readLines<ExplorationRecord>(kept);
  t.is(asked.length, 3);
  t.true(
    asked.every((r) => / have at first\?$/.test(r.question)),
    asked[0]!.question,
  );
  // Another file's manifest (its sha256 is not this file's) is ignored.
  writeFileSync(manifestPath(candidate), JSON.stringify({ ...guessing, sha256: '0'.repeat(64) }));
  const other = probe(candidate);
  t.deepEqual(other.report, bare.report);
  t.notRegex(other.stderr, /describes this model/);
});
