import test from 'ava';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { Model } from '../../src/engine/model.js';
import { resolveForesightConfig } from '../../src/foresight/config.js';
import { promptFor } from '../../src/foresight/explore.js';
import { generateTask } from '../../src/task/index.js';
import {
  BUILTIN_DIFFICULTY,
  BUILTIN_FORESIGHT,
  BUILTIN_MANIFEST_PATH,
  BUILTIN_MODEL_PATH,
  FINGERPRINT_STEPS,
  kernelCpu,
  TINY_RECIPE,
  evaluateBuiltin,
  recipeFingerprint,
  recipeProblems,
  sftSequence,
  type TinyModelManifest,
} from '../../src/builtin/index.js';
import { makeTemp } from '../helpers.js';

const manifest = JSON.parse(readFileSync(BUILTIN_MANIFEST_PATH, 'utf8')) as TinyModelManifest;

test("the committed model is the manifest's file: same sha256, at most 10 MB, the recipe as committed", (t) => {
  const bytes = readFileSync(BUILTIN_MODEL_PATH);
  t.true(statSync(BUILTIN_MODEL_PATH).size <= 10 * 2 ** 20);
  t.is(bytes.subarray(0, 4).toString('latin1'), 'GGUF', 'a GGUF, not a Git LFS pointer');
  t.is(createHash('sha256').update(bytes).digest('hex'), manifest.sha256);
  t.is(manifest.bytes, bytes.length);
  t.deepEqual(manifest.recipe, TINY_RECIPE, 'models/genius-tiny.json was made by the recipe in src/builtin/recipe.ts');
  t.deepEqual(manifest.foresight, BUILTIN_FORESIGHT);
  t.true(
    manifest.test !== null && manifest.test.accuracy >= 0.2 && manifest.test.accuracy <= 0.6,
    `recorded test accuracy ${manifest.test?.accuracy}`,
  );
});

// Bytes depend on the CPU's kernels: the check runs on the kind of CPU the model was built on (CI's kind).
const builtHere = manifest.fingerprint.cpu === kernelCpu();
(builtHere ? test : test.skip)("the recipe still makes the committed model: its first steps give the manifest's fingerprint", async (t) => {
  t.is(manifest.fingerprint.steps, FINGERPRINT_STEPS);
  t.is(
    await recipeFingerprint({ threads: manifest.threads }),
    manifest.fingerprint.sha256,
    'the trainer now computes other numbers than when the model was built: rebuild it (npm run build:tiny-model), then re-measure what bench/RESULTS.md quotes of it',
  );
});

test('the committed model loads and solves some held-out test problems greedily, ending its turn after the answer', async (t) => {
  const model = await Model.load(BUILTIN_MODEL_PATH);
  try {
    t.is(model.info.architecture, 'llama');
    t.is(model.info.parameterCount, manifest.parameterCount);
  } finally {
    model.dispose();
  }
  const problems = recipeProblems(TINY_RECIPE).test.slice(0, 40);
  const r = await evaluateBuiltin(BUILTIN_MODEL_PATH, problems);
  t.true(r.accuracy >= 0.05 && r.accuracy <= 0.85, `accuracy ${r.accuracy}`);
  const samples = r.records.flatMap((q) => q.samples);
  const answered = samples.filter((s) => s.finish === 'eos' && s.text.includes('####')).length;
  t.true(answered >= 0.9 * samples.length, `${answered}/${samples.length} responses end with a marked answer and EOT`);
});

test("an SFT sequence is the sampler's prompt and the solution ending in EOT", async (t) => {
  const path = await makeTemp({ shape: 'tiny', vocab: 'builtin', seed: 3 });
  const model = await Model.load(path);
  try {
    const [record] = generateTask({ split: 'train', n: 1, seed: 9, difficulty: BUILTIN_DIFFICULTY });
    const seq = sftSequence(model, record!);
    const config = resolveForesightConfig(BUILTIN_FORESIGHT);
    t.deepEqual(seq.prompt, promptFor(model, record!.question, config));
    t.true(model.detokenize(seq.prompt, { special: true }).endsWith(`<|im_start|>assistant\n${config.reasoningPrefix}`));
    t.is(seq.response.at(-1), model.info.specialTokens.eot);
    t.is(model.detokenize(seq.response.slice(0, -1)), record!.answer);
    t.regex(record!.answer, /\n#### \d+$/);
    // Prompt and response tokenized apart are the tokens of the whole text: what the sampler continues.
    t.deepEqual(
      [...seq.prompt, ...seq.response.slice(0, -1)],
      model.tokenize(model.detokenize(seq.prompt, { special: true }).replace(/^<s>/, '') + record!.answer, {
        addSpecial: true,
        parseSpecial: true,
      }),
    );
  } finally {
    model.dispose();
  }
});

test("the recipe's validation problems are train-split and disjoint from the training problems", (t) => {
  const small = { ...TINY_RECIPE, trainProblems: 300, validationProblems: 50, testProblems: 50 };
  const { train, validation, test: testSet } = recipeProblems(small);
  t.is(train.length, 300);
  t.is(validation.length, 50);
  t.true(validation.every((r) => r.split === 'train') && testSet.every((r) => r.split === 'test'));
  const answers = new Set(train.map((r) => r.answer));
  t.false(validation.some((r) => answers.has(r.answer)));
  // A sloppy corpus slips only in the training problems; validation and test stay gold.
  const sloppy = recipeProblems({ ...small, difficulty: { ...small.difficulty, checks: true }, sloppy: { share: 0.5, slipRate: 0.5 } });
  t.true(sloppy.train.filter((r) => r.sloppy).length > 100);
  t.false([...sloppy.validation, ...sloppy.test].some((r) => r.sloppy));
  t.deepEqual(
    sloppy.validation.map((r) => r.question),
    validation.map((r) => r.question),
  );
});

test('BUILTIN_FORESIGHT is a valid sampler config whose stop strings never cut the answer line', (t) => {
  const c = resolveForesightConfig(BUILTIN_FORESIGHT);
  const [record] = generateTask({ split: 'test', n: 1, seed: 2, difficulty: BUILTIN_DIFFICULTY });
  const last = record!.answer.split('\n').at(-1)!;
  t.false(c.endMarkers.some((m) => last.includes(m)));
  t.true(c.answerMarkers.some((m) => last.includes(m)));
  t.is(c.stepSeparator, '\n');
});

test("the model's context holds the longest test prompt plus a full rollout", async (t) => {
  const model = await Model.load(BUILTIN_MODEL_PATH);
  try {
    const longest = Math.max(
      ...recipeProblems(TINY_RECIPE).test.map((r) => promptFor(model, r.question, resolveForesightConfig(BUILTIN_FORESIGHT)).length),
    );
    t.true(longest + (BUILTIN_FORESIGHT.maxRolloutTokens ?? 0) <= TINY_RECIPE.shape.contextLength, `longest prompt ${longest} tokens`);
  } finally {
    model.dispose();
  }
});
