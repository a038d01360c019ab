// The built-in model's recipe: no pretrained weights can be downloaded here, so the project
// pretrains its own small reasoner on the built-in task with the native trainer's SFT loss, to a
// mediocre accuracy that leaves self-training room to show an effect.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Context } from '../engine/context.js';
import { Model } from '../engine/model.js';
import { evaluate, goldAnswer, type EvalItem, type EvalResult } from '../eval/index.js';
import { DEFAULT_FORESIGHT, type ForesightConfig } from '../foresight/config.js';
import { endOfTurnToken, promptFor } from '../foresight/explore.js';
import { makeModel, type ModelShape } from '../modelmaker/index.js';
import { canonicalOf, generateTask, resolveDifficulty, type TaskDifficulty, type TaskRecord } from '../task/index.js';
import { microBatches } from '../train/batches.js';
import { epochOrder } from '../train/schedule.js';
import { Trainer, type TrainSequence } from '../train/trainer.js';
import { GeniusError } from '../errors.js';

/**
 * How the built-in model prompts and samples: the paper's chat prompt and reasoning prefix, one
 * solution line per step, and `#### N` marking the answer. No end marker: the answer line must be
 * generated whole, and the model ends its turn with `<|im_end|>` (EOT) after it, which stops every
 * generation. Steps are short (`12 + 5 = 17` is 8 tokens), rollouts a few lines.
 */
export const BUILTIN_FORESIGHT: Partial<ForesightConfig> = {
  chat: true,
  reasoningPrefix: DEFAULT_FORESIGHT.reasoningPrefix,
  stepSeparator: '\n',
  endMarkers: [],
  answerMarkers: ['####'],
  maxStepTokens: 24,
  maxRolloutTokens: 128,
};

/** Tokens an evaluation of the built-in model generates per response (a solution is ~20-35). */
export const BUILTIN_EVAL_MAX_TOKENS = 96;

/**
 * The task difficulty the built-in model is trained and evaluated on, and the self-training loop
 * draws its queries from: 2-4 additions, subtractions and small multiplications (x2, x3) of
 * numbers up to 20, totals up to 100, up to two distractor sentences, and the question asks for
 * one friend's equal share of the total among 2-5 friends. (2-3 additions and subtractions of
 * numbers up to 10 are too easy: the recipe's model reaches 96%.) The final share is the task's
 * redundancy: a wrong step earlier usually leaves a total that does not divide, which the model's
 * own rollouts find unlikely. Without it the foresight score preferred the model's likelier wrong
 * steps (models/genius-tiny.json's notes).
 */
export const BUILTIN_DIFFICULTY: TaskDifficulty = {
  minOps: 2,
  maxOps: 4,
  maxOperand: 20,
  maxFactor: 3,
  maxValue: 100,
  minDistractors: 0,
  maxDistractors: 2,
  operations: ['add', 'sub', 'mul'],
  finalShare: 5,
  shareGroups: 0,
  checks: false,
  guess: false,
  choices: 0,
  choiceSpacing: 1,
};

/** Everything that fixes the built-in model's bytes (with the thread count, see buildTinyModel). */
export interface TinyRecipe {
  /** Seeds the initial weights, the training problems and their order. */
  seed: number;
  shape: ModelShape;
  difficulty: TaskDifficulty;
  /** Distinct train-split problems the model is fine-tuned on. */
  trainProblems: number;
  epochs: number;
  /** Sequences per optimizer step. */
  batchSize: number;
  /** Most tokens in one packed forward/backward graph (a step is several, gradients accumulated). */
  microTokens: number;
  /** Peak learning rate: linear warmup over warmupRatio of the steps, then linear decay to 0. */
  lr: number;
  warmupRatio: number;
  beta1: number;
  beta2: number;
  weightDecay: number;
  maxGradNorm: number;
  /** Held-out train-split problems (another seed, none shared with the training problems). */
  validationProblems: number;
  validationSeed: number;
  /** Test-split problems for the one final measurement. */
  testProblems: number;
  testSeed: number;
  /** A share of the training problems written by sloppy solvers (generateTask's `sloppy`); none when absent. */
  sloppy?: { share: number; slipRate: number };
  /** With guess-and-check problems: the share of training solutions that first try a wrong guess (generateTask's `retryShare`); none when absent. */
  retryShare?: number;
  /** Label smoothing of the SFT targets (NativeLossSpec's `labelSmoothing`); 0 when absent. */
  labelSmoothing?: number;
}

/**
 * The committed recipe. Selection (on validation accuracy only) is recorded in
 * models/genius-tiny.json's notes.
 */
export const TINY_RECIPE: TinyRecipe = {
  seed: 5,
  shape: {
    embeddingLength: 192,
    layerCount: 4,
    headCount: 6,
    headCountKv: 2,
    feedForwardLength: 512,
    contextLength: 512,
    ropeTheta: 10000,
    tiedEmbeddings: true,
  },
  difficulty: BUILTIN_DIFFICULTY,
  trainProblems: 4400,
  epochs: 5,
  batchSize: 32,
  microTokens: 2048,
  lr: 2e-3,
  warmupRatio: 0.05,
  beta1: 0.9,
  beta2: 0.99,
  weightDecay: 0.01,
  maxGradNorm: 1,
  validationProblems: 200,
  validationSeed: 1_000_005,
  testProblems: 400,
  testSeed: 2_000_005,
};

/** How TINY_RECIPE was chosen (recorded in the manifest). */
export const TINY_RECIPE_NOTES: string[] = [
  'Target: 20-60% greedy accuracy, so that self-training has room to show an effect; every choice below was made on validation accuracy (200 train-split problems drawn with another seed, none in the training set), never on the test split.',
  'Shape 192 x 4 layers, 6 heads (2 KV), FFN 512, tied embeddings: 1.8M parameters, 3.5 MiB as F16; batch 32, lr 2e-3 (5% warmup, linear decay), AdamW beta2 0.99, weight decay 0.01, clip 1; 2 CPU threads train at ~2-3.5k tokens/s.',
  'Easy difficulty (2-3 add/sub, operands <= 10, totals <= 50, <= 1 distractor), 4000 problems x 6 epochs: validation 96% (7% at step 75, 33% at 300, 88% at 600): too easy, so the difficulty was raised to BUILTIN_DIFFICULTY.',
  'BUILTIN_DIFFICULTY, 4000 problems x 6 epochs (750 steps): validation 52% (8% at step 300, 28% at 600, 48% at 675).',
  'BUILTIN_DIFFICULTY, 4000 problems x 5 epochs (625 steps): validation 21%.',
  'BUILTIN_DIFFICULTY, 4400 problems x 5 epochs (690 steps): validation 31%, the closest to the middle of the target: chosen then (test 34.5%). Accuracy climbs steeply late in training, so small recipe changes move it a lot.',
  "That model failed the paper's premise (issue 12): on the foresight probe (600 train-split queries of seed 7000003, built-in sampling settings, solution judge) AUROC 0.621 [0.581, 0.659], but against a wrong step at least as likely as the right one 0.356 [0.282, 0.427]: the foresight score preferred its likelier wrong steps, so Genius pairs reinforced its errors (self-ACO 25.6% vs base 27.4% on validation, bench/RESULTS.md). Nothing in its solutions checks a step: a wrong sum carried on is as likely as a right one.",
  "Redundancy added to the task (finalShare 5: the question asks for one friend's equal share among 2-5 friends, an exact division a wrong total usually breaks), the same recipe otherwise: validation 43%, test 52%; the same probe: AUROC 0.691 [0.655, 0.727], against a likelier wrong step 0.564 [0.486, 0.635]; 2.0 distinct candidates per step. Chosen: the first built-in model whose foresight score prefers right steps over the ones it would greedily take.",
  'Share among two groups (shareGroups 1: "among 2 friends and 3 cousins", the solution adds them before dividing, so the divisor is no number of the question), the same recipe otherwise (2026-12-02, 16.9 min beside other jobs): validation 47%, test 46%; the same probe: AUROC 0.745 [0.707, 0.780], against a likelier wrong step 0.673 [0.590, 0.753], 2.1 distinct candidates per step, chosen is the right one where exactly one is 67.5% (committed: 63.0%). Why it was tried: the committed model bends a wrong total towards a multiple of the divisor it reads in the question (70% of its wrong totals divide, 38% would by chance); with groups 59% do. Not chosen: the probe gains are inside each other\'s intervals and the pairs training sees are no better (non-identical pairs: chosen right 17.2% vs 19.3%, right-over-wrong precision 64.7% vs 63.8%; bench/RESULTS.md).',
  'Groups of at least 2 (shareGroups 2, so the divisor is 4 or 5), the same recipe otherwise (2026-12-02, 25.1 min beside other jobs): validation 65%, test 67.8%, above the target; the same probe, first 450 of the 600 queries: AUROC 0.788 [0.750, 0.825], against a likelier wrong step 0.700 [0.604, 0.799], 1.65 distinct candidates per step (62% of steps all identical), chosen is the right one where exactly one is 73.5%, but the bending is back: 81% / 69% of wrong totals divide by 4 / 5 (chance 25% / 20%), as two group sums (2 + 2, 2 + 3) are as plain as a number. Not chosen: too accurate, too little diversity, and no training run yet.',
  'Errors are mostly off-by-one arithmetic in one step, carried through the rest; the solution format and the EOT after the answer line are learned early.',
  'Bytes: the same recipe gives the same file on this machine (checked twice, and with 1 vs 2 threads on a short run); another CPU, compiler or llama.cpp patch set may change them (patch 0002 changed the backward pass).',
  'Since the trainer patches 0007-0010 (matrix products as in-order FMA chains, 2026-12-02) the recipe no longer rebuilt the previous file (sha256 32c603ff..., validation 43%, test 52%): the same problems (checked by hash) gave another. The committed file is now that rebuild, sha256 56551b0f..., validation 38%, test 47.5% (7.1-7.8 min), the same bytes in two builds a session apart; the probe (600 queries, seed 7000003, solution judge): AUROC 0.705 [0.666, 0.740], against a likelier wrong step 0.532 [0.451, 0.616], 2.19 distinct candidates per step, 43.1% of steps all identical. The manifest now records a fingerprint (sha256 of the F32 weights after the first 4 steps) that the tests recompute, so a trainer change that moves the bytes fails a test instead of passing unseen.',
  "The search against greedy decoding (2026-12-02, 300 probe queries): the final responses the foresight search picks are right less often than greedy decoding of the same queries (solution judge 32.7% vs 38.0%, answer judge 43.3% vs 51.3%); top-M selection (`--strategy greedy`) and all of a solution's lines as steps (`--steps 8`) bring it level (37.0%; answer 51.3% vs 51.3%), greedy rollouts lower it. Self-training towards the search's picks cannot raise greedy accuracy while the search does not beat greedy decoding; `genius probe` now prints both.",
  'Divisors 6-9 as two groups of at least 3 (finalShare 9, shareGroups 3), the same recipe otherwise (8 min): validation 63.5%, test 61.8% (above the target); the probe (300 queries): against a likelier wrong step AUROC 0.806 [0.695, 0.904] (solution judge), the highest yet, as an off-by-one total no longer divides; but greedy decoding reaches 40% of its right answers through wrong lines (answer judge 61.3%, solution 36.0%: it bends later sums back to a multiple), and the search is no better than greedy decoding (36.3% vs 36.0% solution-judged with top-M over 8 steps, 34.0% at the defaults). Not chosen.',
  "Checks on every line (checks: `23 + 8 = 31 and 31 - 8 = 23`) and sloppy solvers in the training corpus (sloppy {share 0.3, slipRate 0.3}: slips of 1, 2 or 10 in additions and subtractions, honest checks), the same recipe otherwise (2026-12-02, 7.5 min, sha256 d6415c6b...): validation 41.5%, test 50.7%; the probe (300 queries in that format, solution judge): AUROC 0.757 [0.704, 0.802], against a likelier wrong step 0.519 [0.393, 0.659], 2.63 distinct candidates per step, final responses 24.0% vs greedy decoding 34.7%, step selection 48 gained / 118 lost. The model copies the check's end from the line's start in 71% of its wrong lines. Sloppy 50% x 0.5: validation 31.5%, 44 / 154; the check on a line of its own (local variant): 50 / 108. Not chosen: the search loses to greedy decoding in every variant (bench/RESULTS.md).",
  'A larger model, the committed recipe otherwise (shape 256 x 6 layers, 8 heads (2 KV), FFN 704: 4.54M parameters, 8.7 MiB as F16; 2026-12-03, 14.6 min, sha256 c97f3e73...): validation 42.5%, test 50.7%; the probe (300 queries, seed 7000003, solution judge): AUROC 0.718 [0.670, 0.766], against a likelier wrong step 0.624 [0.506, 0.745], 1.99 distinct candidates per step, 47.8% of steps all identical, final responses 34.0% vs greedy decoding 42.3%, step selection 65 gained / 88 lost. Not chosen: 2.5x the parameters leave the search as far below greedy decoding as the committed model (32.7% vs 38.0%, 56 / 78).',
  'More varied problems instead of epochs, the committed recipe otherwise (22,000 problems x 1 epoch: 688 steps against the committed 690, each problem seen once; 2026-12-03, 3.8 min, sha256 111e6d8f...): validation 49.0%, test 52.3%; the probe (300 queries, seed 7000003, solution judge): AUROC 0.709 [0.660, 0.757], against a likelier wrong step 0.579 [0.483, 0.677], 2.13 distinct candidates per step, 45.0% of steps all identical, final responses 33.3% vs greedy decoding 45.0%, step selection 69 gained / 114 lost (the committed model in the same hour: 0.715, 0.597, 32.7% vs 38.0%, 56 / 78). Not chosen: more facts make the model more accurate, not a better judge of its steps.',
  'Label smoothing of the SFT targets (labelSmoothing 0.1: the target is 0.9 one-hot + 0.1 / vocab), the committed recipe otherwise (2026-12-04, 4.4 min, sha256 f7dcb9f2...): validation 54.5%, test 63.2% (committed 38.0 / 47.5: smoothing regularises, above the target range); the probe (300 queries, seed 7000003, solution judge): 1.83 distinct candidates per step, 51.9% of steps all identical; at the built-in rollout temperature 1.0 AUROC 0.952 [0.925, 0.976], but only because the smoothed targets teach the model to put about a tenth of the probability at every position on the rest of the vocabulary, so rollouts drawn at 1.0 are full of junk tokens (right trajectories 11.6%) and the score ranks them by their junk: against a likelier wrong step 0.619 [0.442, 0.847], final responses 34.3% vs greedy decoding 46.7%, step selection 50 gained / 102 lost; with rollouts at 0.6: AUROC 0.660, against a likelier wrong step 0.605, final responses 41.7% vs 46.7%, 67 / 110. Not chosen: smoothing makes the model more accurate and less diverse, not a better judge of its steps.',
  'Guess and check (2026-12-04; task knobs guess, choices, retryShare; the committed recipe with only the difficulty changed, finalShare 0; 3.7-5.2 min each, not committed): the question gives the result and asks for the start, the solution guesses it and works forward. 2-4 operations, no choices: validation 5.0%, test 6.0% (no inversion learned: 12.7% on one-operation problems); 4 choices: 30.0 / 28.0, probe (300 queries in that format, answer judge) AUROC 0.524, the model bends its forward lines towards the number the question gives; with 50% retries in the corpus: 29.5 / 29.5, AUROC 0.540 (with small numbers: 27.5 / 33.5, top-M search 39.7% vs greedy 34.3%). 4 choices, 2-3 operations, operands <= 10, totals <= 50: 35.0 / 36.3, AUROC 0.715, against a likelier wrong step 0.688, final responses 33.3% vs greedy decoding 32.7%, with top-M selection 50.3% (the first search to beat greedy decoding); but on 1500 queries (758 validation problems, base 34.0%) Genius 32.2%, SFT on chosen 32.6% and even the oracle SFT on right trajectories 32.3%: the guess is an inversion training on 1.5K right guesses does not teach. The forward format with the answer among 4 choices 5 apart (choices, choiceSpacing 5, finalShare 0): validation 55.5%, test 59.0%; probe AUROC 0.728, against a likelier wrong step 0.650, final responses 53.7% (top-M 58.7%) vs greedy decoding 56.3%, step selection 59 gained / 76 lost. Not chosen (bench/RESULTS.md).',
];

/**
 * One SFT sequence in the exact format sampling and evaluation use: the prompt is what
 * `promptFor` gives for the question (chat template, assistant turn opened with the reasoning
 * prefix); the response is the solution's tokens followed by the end-of-turn token (EOT, else
 * EOS), so the model learns to stop after `#### N`.
 */
export function sftSequence(
  model: Model,
  record: Pick<TaskRecord, 'question' | 'answer'>,
  config: Partial<ForesightConfig> = BUILTIN_FORESIGHT,
): TrainSequence {
  const c: ForesightConfig = { ...DEFAULT_FORESIGHT, ...config };
  const end = endOfTurnToken(model);
  if (end < 0) throw new GeniusError('the model has neither an end-of-turn nor an end-of-sequence token');
  return { prompt: promptFor(model, record.question, c), response: [...model.tokenize(record.answer, { addSpecial: false }), end] };
}

/** The recipe's problems: training, validation (train split, disjoint from training) and test. */
export function recipeProblems(recipe: TinyRecipe): { train: TaskRecord[]; validation: TaskRecord[]; test: TaskRecord[] } {
  const difficulty = resolveDifficulty(recipe.difficulty);
  const train = generateTask({
    split: 'train',
    n: recipe.trainProblems,
    seed: recipe.seed,
    difficulty,
    ...(recipe.sloppy ? { sloppy: recipe.sloppy } : {}),
    ...(recipe.retryShare ? { retryShare: recipe.retryShare } : {}),
  });
  const seen = new Set(train.map((r) => canonicalOf(r)));
  const validation = generateTask({
    split: 'train',
    n: recipe.validationProblems + recipe.trainProblems,
    seed: recipe.validationSeed,
    difficulty,
  })
    .filter((r) => !seen.has(canonicalOf(r)))
    .slice(0, recipe.validationProblems);
  if (validation.length < recipe.validationProblems)
    throw new GeniusError('not enough validation problems outside the training set; widen the difficulty');
  const test = generateTask({ split: 'test', n: recipe.testProblems, seed: recipe.testSeed, difficulty });
  return { train, validation, test };
}

/** Evaluation items of task records (gold = the `#### N` answer). */
export function evalItems(records: readonly TaskRecord[]): EvalItem[] {
  return records.map((r, index) => ({ id: r.id, index, question: r.question, gold: goldAnswer(r.answer)! }));
}

/**
 * Greedy accuracy of a GGUF on task records, prompted as BUILTIN_FORESIGHT. Cost: one prefill
 * and up to BUILTIN_EVAL_MAX_TOKENS decoded tokens per question, all questions batched.
 */
export async function evaluateBuiltin(
  path: string,
  records: readonly TaskRecord[],
  options: { threads?: number } = {},
): Promise<EvalResult> {
  const model = await Model.load(path);
  try {
    const ctx = await Context.create(model, { sequenceContextSize: 256, maxSequences: 64, threads: options.threads });
    try {
      return await evaluate(ctx, model, evalItems(records), {
        temperature: 0,
        maxTokens: BUILTIN_EVAL_MAX_TOKENS,
        prompt: BUILTIN_FORESIGHT,
      });
    } finally {
      ctx.dispose();
    }
  } finally {
    model.dispose();
  }
}

/** Where `buildTinyModel` writes, and an optional recipe override and progress log. */
export interface BuildTinyModelOptions {
  /** Output GGUF (F16 matrices); a manifest `<out minus .gguf>.json` is written beside it. */
  out: string;
  /** Overrides of TINY_RECIPE (for experiments; the committed model uses none). */
  recipe?: Partial<TinyRecipe>;
  /** CPU threads for training and evaluation (default: all cores). Bytes can depend on it. */
  threads?: number;
  /** Measure validation accuracy every this many optimizer steps as well as at the end (0: end only). */
  evalEvery?: number;
  /** Also measure the test accuracy (once, at the end). Default true. */
  test?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Free text recorded in the manifest. */
  notes?: string[];
}

interface Accuracy {
  accuracy: number;
  low: number;
  high: number;
  n: number;
}

/** What buildTinyModel made and measured; also the manifest's content. */
export interface TinyModelManifest {
  file: string;
  sha256: string;
  bytes: number;
  parameterCount: number;
  recipe: TinyRecipe;
  /** sha256 of the F32 weights after the first `steps` optimizer steps on `cpu` (see recipeFingerprint, kernelCpu). */
  fingerprint: { steps: number; sha256: string; cpu: string };
  foresight: Partial<ForesightConfig>;
  threads: number;
  steps: number;
  trainedTokens: number;
  finalLoss: number;
  validation: Accuracy;
  test: Accuracy | null;
  /** Validation accuracy during training (evalEvery), and the loss per logged step. */
  curve: { step: number; loss: number; lr: number; validation?: number }[];
  machine: string;
  minutes: number;
  notes: string[];
}

const accuracyOf = (r: EvalResult): Accuracy => ({ accuracy: r.accuracy, low: r.low, high: r.high, n: r.n });

/**
 * Optimizer steps the manifest's fingerprint covers: a few seconds to redo, and every op of the
 * trainer's forward, backward and AdamW has run (the test rebuilds them; see recipeFingerprint).
 */
export const FINGERPRINT_STEPS = 4;

/** The recipe's seeded initial model and its SFT sequences, in a work folder. */
async function prepareRecipe(recipe: TinyRecipe, work: string) {
  const init = join(work, 'init.gguf');
  const made = await makeModel({ out: init, arch: 'llama', shape: recipe.shape, vocab: 'builtin', seed: recipe.seed, name: 'genius-tiny' });
  const problems = recipeProblems(recipe);
  const model = await Model.load(init);
  let data: TrainSequence[];
  try {
    data = problems.train.map((r) => sftSequence(model, r));
  } finally {
    model.dispose();
  }
  const totalSteps = Math.ceil(data.length / recipe.batchSize) * recipe.epochs;
  return { init, parameterCount: made.parameterCount, problems, data, totalSteps };
}

/** One optimizer step of the recipe, as `pretrain` reports it. */
interface RecipeStep {
  /** Steps done (1-based). */
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  tokens: number;
}

/**
 * The recipe's SFT loop over its first `until` optimizer steps (of `totalSteps`, which fixes the
 * learning-rate schedule): batches in the seeded epoch order, micro-batches of at most
 * microTokens, AdamW with warmup and linear decay. `onStep` runs after each step.
 */
async function pretrain(
  trainer: Trainer,
  data: readonly TrainSequence[],
  recipe: TinyRecipe,
  totalSteps: number,
  until: number,
  onStep: (s: RecipeStep) => Promise<void>,
): Promise<void> {
  let step = 0;
  for (let epoch = 0; epoch < recipe.epochs && step < until; epoch++) {
    const order = epochOrder(data.length, recipe.seed, epoch);
    for (let b = 0; b < order.length && step < until; b += recipe.batchSize) {
      const batch = order.slice(b, b + recipe.batchSize).map((i) => data[i]!);
      const responseTokens = batch.reduce((s, q) => s + q.response.length, 0);
      await trainer.zeroGrad();
      const spec = { type: 'sft', beta: 0.1, scale: 1 / responseTokens, labelSmoothing: recipe.labelSmoothing ?? 0 } as const;
      let loss = 0;
      for (const micro of microBatches(batch, (s) => s.prompt.length + s.response.length, recipe.microTokens)) {
        loss += (await trainer.accumulate(micro, spec)).loss;
      }
      const lr = scheduledLr(recipe, step, totalSteps);
      await trainer.step({
        lr,
        beta1: recipe.beta1,
        beta2: recipe.beta2,
        weightDecay: recipe.weightDecay,
        maxGradNorm: recipe.maxGradNorm,
      });
      step++;
      const tokens = batch.reduce((s, q) => s + q.prompt.length + q.response.length, 0);
      await onStep({ step, epoch, loss, lr, tokens });
    }
  }
}

/** The SIMD extensions ggml's CPU kernels pick from (Linux: /proc/cpuinfo; elsewhere none listed). */
const KERNEL_FEATURES = /^(sse4_2|avx|avx2|fma|f16c|avx512\w*|avx_vnni|amx\w*|asimd\w*|sve\w*|dotprod)$/;

/**
 * The CPU as far as the trainer's bytes depend on it: model name and SIMD extensions. The
 * fingerprint is recomputed only where this matches the build machine's.
 */
export function kernelCpu(): string {
  let flags: string[] = [];
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    flags = (/^(?:flags|Features)\s*:(.*)$/m.exec(info)?.[1] ?? '').trim().split(/\s+/);
  } catch {
    // Not Linux: the model name alone.
  }
  return [cpus()[0]?.model ?? 'unknown cpu', ...flags.filter((f) => KERNEL_FEATURES.test(f)).sort()].join(' ');
}

/** sha256 of the trainer's weights saved as F32: every bit of every weight, unlike the F16 file. */
async function weightsSha256(trainer: Trainer, path: string): Promise<string> {
  await trainer.saveModel(path, { f16: false });
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * The bytes check CI can afford: the sha256 of the F32 weights after the recipe's first `steps`
 * optimizer steps (default FINGERPRINT_STEPS). `buildTinyModel` records it in the manifest; when a
 * change to the trainer (a summation order, a patch to ggml) changes it, the recipe no longer
 * rebuilds the committed model and the model must be rebuilt. Cost: seconds.
 */
export async function recipeFingerprint(options: { recipe?: Partial<TinyRecipe>; threads?: number; steps?: number } = {}): Promise<string> {
  const recipe: TinyRecipe = { ...TINY_RECIPE, ...options.recipe };
  const steps = options.steps ?? FINGERPRINT_STEPS;
  const work = mkdtempSync(join(tmpdir(), 'genius-tiny-'));
  try {
    const { init, data, totalSteps } = await prepareRecipe(recipe, work);
    const trainer = await Trainer.create({ model: init, full: true, threads: options.threads ?? cpus().length, seed: recipe.seed });
    try {
      await pretrain(trainer, data, recipe, totalSteps, steps, async () => {});
      return await weightsSha256(trainer, join(work, 'fingerprint.gguf'));
    } finally {
      trainer.dispose();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Pretrains the built-in model: a seeded random llama-architecture GGUF with the built-in
 * vocabulary, full-weight SFT (loss = mean negative log-prob of the response tokens) on
 * `trainProblems` task problems for `epochs` epochs with AdamW, warmup and linear decay; then
 * greedy validation (and test) accuracy of the saved F16 file. The same recipe and thread count
 * give the same bytes on the same machine. Cost: about epochs x trainProblems x 80 tokens of
 * forward+backward (the default recipe: ~8 minutes on 2 CPU cores).
 */
export async function buildTinyModel(options: BuildTinyModelOptions): Promise<TinyModelManifest> {
  const t0 = performance.now();
  const recipe: TinyRecipe = { ...TINY_RECIPE, ...options.recipe };
  const threads = options.threads ?? cpus().length;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const out = resolve(options.out);
  const work = mkdtempSync(join(tmpdir(), 'genius-tiny-'));
  try {
    const { init, parameterCount, problems, data, totalSteps } = await prepareRecipe(recipe, work);
    log(
      `tiny model: ${parameterCount} parameters, ${data.length} problems x ${recipe.epochs} epochs = ${totalSteps} steps of ${recipe.batchSize}, ${threads} threads`,
    );

    const trainer = await Trainer.create({ model: init, full: true, threads, seed: recipe.seed });
    const curve: TinyModelManifest['curve'] = [];
    let trainedTokens = 0;
    let finalLoss = NaN;
    let fingerprint = '';
    const validate = async (file: string) => accuracyOf(await evaluateBuiltin(file, problems.validation, { threads }));
    try {
      let window = { loss: 0, steps: 0, tokens: 0, t: performance.now() };
      await pretrain(trainer, data, recipe, totalSteps, totalSteps, async ({ step, epoch, loss, lr, tokens }) => {
        if (step === FINGERPRINT_STEPS) fingerprint = await weightsSha256(trainer, join(work, 'fingerprint.gguf'));
        trainedTokens += tokens;
        finalLoss = loss;
        window.loss += loss;
        window.steps++;
        window.tokens += tokens;
        const evalNow = options.evalEvery && step % options.evalEvery === 0 && step < totalSteps;
        if (step % 25 === 0 || step === totalSteps || evalNow) {
          const point: TinyModelManifest['curve'][number] = { step, loss: window.loss / window.steps, lr };
          let extra = '';
          if (evalNow) {
            const ckpt = join(work, 'ckpt.gguf');
            await trainer.saveModel(ckpt, { f16: true });
            point.validation = (await validate(ckpt)).accuracy;
            extra = `, validation ${(point.validation * 100).toFixed(1)}%`;
          }
          curve.push(point);
          const tps = window.tokens / ((performance.now() - window.t) / 1000);
          log(
            `step ${step}/${totalSteps} epoch ${epoch + 1} loss ${point.loss.toFixed(4)} lr ${lr.toExponential(2)} ${tps.toFixed(0)} tok/s${extra}`,
          );
          window = { loss: 0, steps: 0, tokens: 0, t: performance.now() };
        }
      });
      const tmp = join(work, 'final.gguf');
      await trainer.saveModel(tmp, { f16: true });
      renameOrCopy(tmp, out);
    } finally {
      trainer.dispose();
    }

    const validation = await validate(out);
    log(
      `validation accuracy ${(validation.accuracy * 100).toFixed(1)}% [${(validation.low * 100).toFixed(1)}, ${(validation.high * 100).toFixed(1)}] (n=${validation.n})`,
    );
    let test: Accuracy | null = null;
    if (options.test ?? true) {
      test = accuracyOf(await evaluateBuiltin(out, problems.test, { threads }));
      log(
        `test accuracy ${(test.accuracy * 100).toFixed(1)}% [${(test.low * 100).toFixed(1)}, ${(test.high * 100).toFixed(1)}] (n=${test.n})`,
      );
    }
    const bytes = readFileSync(out);
    const manifest: TinyModelManifest = {
      file: out.split(/[\\/]/).pop()!,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      bytes: statSync(out).size,
      parameterCount,
      recipe,
      fingerprint: { steps: FINGERPRINT_STEPS, sha256: fingerprint, cpu: kernelCpu() },
      foresight: BUILTIN_FORESIGHT,
      threads,
      steps: totalSteps,
      trainedTokens,
      finalLoss,
      validation,
      test,
      curve,
      machine: `${cpus()[0]?.model ?? 'unknown cpu'} (${cpus().length} cores), ${process.platform}-${process.arch}, node ${process.version}`,
      minutes: Math.round(((performance.now() - t0) / 60000) * 10) / 10,
      notes: options.notes ?? [],
    };
    writeFileSync(manifestPath(out), JSON.stringify(manifest, null, 2) + '\n');
    log(`wrote ${out} (${(manifest.bytes / 2 ** 20).toFixed(2)} MiB, sha256 ${manifest.sha256.slice(0, 12)}) in ${manifest.minutes} min`);
    return manifest;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The manifest beside a model file: `x.gguf` -> `x.json`. */
export function manifestPath(modelPath: string): string {
  return modelPath.replace(/\.gguf$/, '') + '.json';
}

/**
 * The manifest `buildTinyModel` wrote beside a model file, when it describes these bytes (its
 * sha256 is the file's): a model built with the recipe carries its sampling settings and task
 * difficulty with it. Undefined when there is none, it is no such manifest, or it is another
 * file's. Cost: one sha256 of the model, only when such a manifest is there.
 */
export function tinyManifestOf(modelPath: string): TinyModelManifest | undefined {
  const path = manifestPath(modelPath);
  if (!existsSync(path)) return undefined;
  let m: Partial<TinyModelManifest> | null;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as Partial<TinyModelManifest> | null;
  } catch {
    return undefined;
  }
  if (typeof m?.sha256 !== 'string' || typeof m.foresight !== 'object' || typeof m.recipe?.difficulty !== 'object') return undefined;
  const sha = createHash('sha256').update(readFileSync(modelPath)).digest('hex');
  return sha === m.sha256 ? (m as TinyModelManifest) : undefined;
}

/** Linear warmup then linear decay to 0 (step counts updates from 0). */
function scheduledLr(recipe: TinyRecipe, step: number, totalSteps: number): number {
  const warmup = Math.max(1, Math.ceil(totalSteps * recipe.warmupRatio));
  if (step < warmup) return (recipe.lr * (step + 1)) / warmup;
  return recipe.lr * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmup));
}

function renameOrCopy(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch {
    writeFileSync(to + '.tmp', readFileSync(from));
    renameSync(to + '.tmp', to);
  }
}
