// The oracle control (the fidelity issue): foresight sampling with the defaults on labeled
// built-in train-split queries, then pairs labelled by the gold solutions (chosen: the best-scored
// right trajectory of a step, rejected: its best-scored wrong one), trained through the project's
// own pairs -> train -> eval path: the most any self-reward could give at this sampling budget.
// If this does not raise accuracy, training is at fault, not the foresight score.
//
// `--judge solution` (default) calls a trajectory right when its steps are the gold solution line
// for line; `--judge answer` when its final answer is right (about 40% of those carry wrong
// arithmetic that happens to end at the right number). The defaults are the recipe chosen on the
// validation split (bench/RESULTS.md): full weights (`--lora` for a LoRA adapter of `--rank`),
// 32 pairs a step, 3 epochs, lr 2e-4, and for preference losses an NLL term on chosen (weight 4).
//
// Cost on 2 CPU cores at the defaults: sampling ~17 min, SFT ~6 min, ACO ~16 min, ~1 min per 800
// evaluation problems greedily and ~45 s more for their 8 sampled responses each; every stage is
// cached in --out. 1500 queries were too few: the oracle SFT
// gained 1.9 points on the test split, ACO none (bench/RESULTS.md).
//
// Variants `self-aco`, `self-dpo`, `self-sft` train on the self-rewarded pairs of the same
// exploration (`genius pairs`: Genius itself), for a like-for-like comparison with the oracle.
//
//   node dist/bench/oracle.js [--queries 4000] [--eval 400] [--split test|validation]
//        [--variants sft,aco,dpo,self-aco] [--lr-sft 2e-4] [--lr-aco 2e-4] [--lr-dpo 2e-4] [--epochs 3]
//        [--batch 32] [--judge solution|answer] [--beta 0.1] [--sft-weight 4] [--lora [--rank 8]]
//        [--scope trajectory|step] [--score-span rollout|step+rollout (default: the built-in model's)]
//        [--foresight-temperature T (default: the built-in model's)] [--strategy foresight|greedy|...]
//        [--self-top F] [--eval-temperature 1] [--eval-samples 8] [--seed 0] [--model PATH]
//        [--out .cache/oracle]
//
// `--model` may be a candidate the built-in recipe made: the manifest beside it (buildTinyModel's)
// supplies its task difficulty, training problems and sampling settings.
//
// Every model is scored twice: greedy accuracy (with the problems it solves, for the paired
// counts), and the mean accuracy of `--eval-samples` responses per problem at
// `--eval-temperature`, the paper's inference setting (vLLM's default, temperature 1.0).
//
// `--scope step` (an experiment, not the paper): chosen and rejected end with the step they
// differ in (the rejected one's step is wrong), so the preference term never pushes down the
// rollout after it.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUILTIN_DIFFICULTY,
  BUILTIN_EVAL_MAX_TOKENS,
  BUILTIN_FORESIGHT,
  BUILTIN_MODEL_PATH,
  recipeProblems,
  TINY_RECIPE,
  tinyManifestOf,
} from '../src/builtin/index.js';
import { Context } from '../src/engine/context.js';
import { Model } from '../src/engine/model.js';
import { packageRoot } from '../src/engine/native.js';
import { evaluate, goldAnswer, type EvalItem } from '../src/eval/index.js';
import { resolveForesightConfig, type ScoreSpan } from '../src/foresight/config.js';
import type { ExplorationRecord } from '../src/foresight/records.js';
import { runSampling } from '../src/foresight/run.js';
import type { Strategy } from '../src/foresight/selection.js';
import { readJsonl, writeJsonlAtomic } from '../src/jsonl.js';
import { resolveLossConfig, type LossName } from '../src/losses/index.js';
import { pairRecord, type PairRecord } from '../src/pairs/build.js';
import { runPairs } from '../src/pairs/run.js';
import { foresightSignal, formatSignal, judgeFor, JUDGES, type JudgeName } from '../src/probe/signal.js';
import { canonicalOf, generateTask } from '../src/task/index.js';
import { runTraining } from '../src/train/run.js';
import { machine, printTable, benchArgs } from './common.js';

const opt = benchArgs(import.meta.url, {
  queries: { type: 'string', default: '4000' },
  eval: { type: 'string', default: '400' },
  split: { type: 'string', default: 'test' },
  variants: { type: 'string', default: 'sft,aco' },
  'lr-sft': { type: 'string', default: '2e-4' },
  'lr-aco': { type: 'string', default: '2e-4' },
  'lr-dpo': { type: 'string', default: '2e-4' },
  epochs: { type: 'string', default: '3' },
  batch: { type: 'string', default: '32' },
  beta: { type: 'string', default: '0.1' },
  rank: { type: 'string', default: '8' },
  lora: { type: 'boolean', default: false },
  'sft-weight': { type: 'string', default: '4' },
  seed: { type: 'string', default: '0' },
  judge: { type: 'string', default: 'solution' },
  scope: { type: 'string', default: 'trajectory' },
  'score-span': { type: 'string' },
  'foresight-temperature': { type: 'string' },
  strategy: { type: 'string' },
  'self-top': { type: 'string', default: '1' },
  'eval-temperature': { type: 'string', default: '1' },
  'eval-samples': { type: 'string', default: '8' },
  model: { type: 'string', default: BUILTIN_MODEL_PATH },
  out: { type: 'string', default: join(packageRoot, '.cache', 'oracle') },
});

const out = opt.out;
mkdirSync(out, { recursive: true });
const seed = Number(opt.seed);
const t0 = performance.now();
const log = (m: string) => process.stderr.write(`[oracle] ${m}\n`);

// A candidate the built-in recipe made (`--model`, its manifest beside it) brings its own task
// difficulty, training problems and sampling settings; any other model gets the built-in ones.
const manifest = tinyManifestOf(opt.model);
const difficulty = manifest?.recipe.difficulty ?? BUILTIN_DIFFICULTY;
const recipe = manifest?.recipe ?? TINY_RECIPE;
const prompt = manifest?.foresight ?? BUILTIN_FORESIGHT;
if (manifest && opt.model !== BUILTIN_MODEL_PATH) log(`${opt.model}: the task difficulty and sampling settings of its manifest`);

// Queries from the train split (the sampler sees only the question), eval problems from the test
// split, or for choosing hyper-parameters train-split problems with another seed whose chain is in
// neither the queries nor the built-in model's own training problems: the test split shares no
// chain with either, and a chain the model was trained on is recall, not reasoning (the base
// model solves 67% of the ~4% validation problems that repeat a query's chain, 33% of the rest).
const problems = generateTask({ split: 'train', n: Number(opt.queries), seed: 31_000 + seed, difficulty });
const queries = join(out, 'queries.jsonl');
if (!existsSync(queries))
  writeJsonlAtomic(
    queries,
    problems.map((p) => ({ id: p.id, question: p.question, answer: p.answer })),
  );
const seen = new Set([...problems, ...recipeProblems(recipe).train].map((p) => canonicalOf(p)));
const evalSet =
  opt.split === 'test'
    ? generateTask({ split: 'test', n: Number(opt.eval), seed: 41_000, difficulty })
    : generateTask({ split: 'train', n: 2 * Number(opt.eval), seed: 51_000, difficulty })
        .filter((p) => !seen.has(canonicalOf(p)))
        .slice(0, Number(opt.eval));
const items: EvalItem[] = evalSet.map((p, index) => ({ id: p.id, index, question: p.question, gold: goldAnswer(p.answer)! }));

const exploration = join(out, 'exploration.jsonl');
const span = opt['score-span'] as ScoreSpan | undefined;
const rolloutTemperature = opt['foresight-temperature'];
const config = resolveForesightConfig({
  ...prompt,
  ...(span ? { scoreSpan: span } : {}),
  ...(rolloutTemperature ? { foresightTemperature: Number(rolloutTemperature) } : {}),
  ...(opt.strategy ? { strategy: opt.strategy as Strategy } : {}),
});
const ts = performance.now();
const sampled = await runSampling({ model: opt.model, queries, out: exploration, config, concurrency: 8, seed, strict: true, log });
const sampleSeconds = (performance.now() - ts) / 1000;
const records = readJsonl<ExplorationRecord>(exploration);
const signal = foresightSignal(records, { tau: config.tau });
log(`sampled ${records.length} queries (${sampled.generatedTokens} tokens) in ${sampleSeconds.toFixed(0)} s`);
for (const l of formatSignal(signal)) log(l);

if (!JUDGES.includes(opt.judge as JudgeName)) throw new Error(`--judge must be one of ${JUDGES.join(', ')} (got ${opt.judge})`);
const judge = judgeFor(opt.judge as JudgeName, config.reasoningPrefix);

if (opt.scope !== 'trajectory' && opt.scope !== 'step') throw new Error(`--scope must be trajectory or step (got ${opt.scope})`);
const stepScope = opt.scope === 'step';
const newline = await (async () => {
  const m = await Model.load(opt.model);
  try {
    const ids = m.tokenize(config.stepSeparator, { addSpecial: false });
    if (stepScope && ids.length !== 1) throw new Error('--scope step needs a one-token step separator');
    return ids[0]!;
  } finally {
    m.dispose();
  }
})();

/** The first `lines` lines of a response (ids), the separator of the last kept line included. */
function firstLines(ids: readonly number[], lines: number): number[] {
  let seen = 0;
  const end = ids.findIndex((t) => t === newline && ++seen === lines);
  return end < 0 ? [...ids] : ids.slice(0, end + 1);
}

/** Whether the trajectory's first `lines` solution lines are the gold solution's. */
function linesRight(r: ExplorationRecord, trajectory: string, lines: number): boolean {
  const steps = trajectory.startsWith(config.reasoningPrefix) ? trajectory.slice(config.reasoningPrefix.length) : trajectory;
  const head = (text: string) => text.split(config.stepSeparator).slice(0, lines).join(config.stepSeparator);
  return typeof r.ground_truth === 'string' && head(steps) === head(r.ground_truth);
}

/** Gold-labelled pairs: per step with right and wrong trajectories, the best-scored of each. */
function oraclePairs(recs: readonly ExplorationRecord[]): PairRecord[] {
  const pairs: PairRecord[] = [];
  for (const r of recs) {
    r.traj_pool.forEach((traj, k) => {
      const cands = traj.map((text, i) => ({
        text,
        i,
        f: r.prob_pool[k]![i]!,
        a: r.adv_pool[k]![i]!,
        right: judge(text, r),
        stepRight: linesRight(r, text, k + 1),
      }));
      const best = (xs: typeof cands) => xs.reduce((b, c) => (c.f > b.f ? c : b));
      const right = cands.filter((c) => c.right);
      const wrong = cands.filter((c) => (stepScope ? !c.stepRight : !c.right));
      if (right.length === 0 || wrong.length === 0) return;
      const side = (c: (typeof cands)[number]) => {
        const ids = r.token_pool![k]![c.i]!;
        return { text: c.text, a: c.a, ids: stepScope ? firstLines(ids, k + 1) : ids };
      };
      pairs.push(pairRecord(r, k, side(best(right)), side(best(wrong)), cands));
    });
  }
  return pairs;
}

// The probe again with the bench's judge, and where the AUROC comes from: wrong trajectories split
// by their first line with wrong arithmetic (in the scored candidate step, in the rollout, none).
const judged = foresightSignal(records, { tau: config.tau, judge });
log(`probe, judged by ${opt.judge}: ${formatSignal(judged).slice(1, 4).join(' | ')}`);
const located = signalByErrorLocation(records);
log(
  `foresight AUROC by the wrong trajectory's first arithmetic error: ${located.map((l) => `${l.where} ${l.auroc.toFixed(3)} (${l.n} wrong)`).join(', ')}`,
);

/** Index of the first `a op b = c` line whose arithmetic is wrong (a share that does not divide included), or -1. */
function firstArithmeticError(lines: readonly string[]): number {
  return lines.findIndex((line) => {
    const m = /^(-?\d+) ([-+*/]) (\d+) = (-?\d+)$/.exec(line.trim());
    if (!m) return false;
    const [a, b, c] = [Number(m[1]), Number(m[3]), Number(m[4])];
    return (m[2] === '+' ? a + b : m[2] === '-' ? a - b : m[2] === '*' ? a * b : a / b) !== c;
  });
}

/** Right-above-wrong share of foresight scores within mixed steps, per error location of the wrong. */
function signalByErrorLocation(recs: readonly ExplorationRecord[]): { where: string; auroc: number; n: number }[] {
  const tally = new Map<string, { concordant: number; total: number; n: number }>();
  for (const r of recs) {
    r.traj_pool.forEach((traj, k) => {
      const cands = r.candidate_pool?.[k];
      if (!cands) return;
      const right = traj.map((t) => judge(t, r));
      const scores = r.prob_pool[k]!;
      traj.forEach((_, j) => {
        if (right[j] || !right.some(Boolean)) return;
        const where =
          firstArithmeticError([cands[j]!]) >= 0
            ? 'step'
            : firstArithmeticError((r.step_pool[k]![j] ?? '').split('\n')) >= 0
              ? 'rollout'
              : 'none';
        const e = tally.get(where) ?? { concordant: 0, total: 0, n: 0 };
        e.n++;
        right.forEach((ok, i) => {
          if (!ok) return;
          e.total++;
          e.concordant += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
        });
        tally.set(where, e);
      });
    });
  }
  return [...tally].map(([where, e]) => ({ where, auroc: e.concordant / e.total, n: e.n }));
}

const pairsPath = join(out, `oracle-pairs-${opt.judge}${stepScope ? '-step' : ''}.jsonl`);
const pairs = oraclePairs(records);
writeJsonlAtomic(pairsPath, pairs);
const selfPath = join(out, 'self-pairs.jsonl');
const self = runPairs({ in: exploration, out: selfPath, rejected: 'categorical', seed, strict: true });
log(`${pairs.length} oracle pairs, ${self.pairs} self-rewarded pairs (${self.identical} identical dropped)`);

// `--self-top F` (an experiment, not the paper): the self variants train only on the fraction F
// of self-rewarded pairs with the largest chosen-minus-rejected advantage, where the
// self-reward is most often right (bench/RESULTS.md).
const selfTop = Number(opt['self-top']);
if (!(selfTop > 0 && selfTop <= 1)) throw new Error(`--self-top must be in (0, 1] (got ${opt['self-top']})`);
const gap = (p: PairRecord) => p.chosen_weights - p.rejected_weights;
const selfTrainPath = selfTop === 1 ? selfPath : join(out, `self-pairs-top${selfTop}.jsonl`);
if (selfTop < 1) {
  const all = readJsonl<PairRecord>(selfPath).sort((a, b) => gap(b) - gap(a));
  const kept = all.slice(0, Math.round(selfTop * all.length));
  writeJsonlAtomic(selfTrainPath, kept);
  log(`--self-top ${selfTop}: ${kept.length} self-rewarded pairs kept, gap >= ${gap(kept.at(-1)!).toFixed(3)}`);
}

/** What one model scores: greedy accuracy and which problems it solved; accuracy sampled at the paper's inference temperature. */
interface Scored {
  accuracy: number;
  solved: boolean[];
  sampled: number;
}

/**
 * Greedy accuracy of the base model, the base + a LoRA adapter, or a full-weight trained model, and
 * which problems it solved; and the mean accuracy of `--eval-samples` responses per problem at
 * `--eval-temperature` (the paper evaluates with vLLM's default, temperature 1.0).
 */
async function accuracy(trained?: string): Promise<Scored> {
  const adapter = opt.lora ? trained : undefined;
  const model = await Model.load(!opt.lora && trained ? trained : opt.model);
  const ctx = await Context.create(model, { sequenceContextSize: 256, maxSequences: 64 });
  try {
    const run = (temperature: number, samples: number) =>
      evaluate(ctx, model, items, {
        temperature,
        samples,
        seed,
        maxTokens: BUILTIN_EVAL_MAX_TOKENS,
        prompt,
        ...(adapter ? { adapter } : {}),
      });
    const greedy = await run(0, 1);
    const sampled = await run(Number(opt['eval-temperature']), Number(opt['eval-samples']));
    return { accuracy: greedy.accuracy, solved: greedy.records.map((q) => q.samples[0]!.correct), sampled: sampled.accuracy };
  } finally {
    ctx.dispose();
    model.dispose();
  }
}

/** Problems a trained model solves that the base does not, and the reverse; McNemar's z of the difference. */
function paired(solved: readonly boolean[], against: readonly boolean[]): { gained: number; lost: number; z: number } {
  const gained = solved.filter((ok, i) => ok && !against[i]).length;
  const lost = solved.filter((ok, i) => !ok && against[i]).length;
  return { gained, lost, z: gained + lost === 0 ? 0 : (gained - lost) / Math.sqrt(gained + lost) };
}

const rows: (string | number)[][] = [];
const baseRun = await accuracy();
const base = baseRun.accuracy;
rows.push(['base', '-', (100 * base).toFixed(1), (100 * baseRun.sampled).toFixed(1), '-', '-', '-']);
log(`base ${(100 * base).toFixed(1)}% greedy, ${(100 * baseRun.sampled).toFixed(1)}% sampled`);
const results: Record<string, unknown> = { base, baseSampled: baseRun.sampled };
for (const v of opt.variants.split(',')) {
  const selfRewarded = v.startsWith('self-');
  const loss = v.replace(/^self-/, '') as LossName;
  const lr = Number(opt[`lr-${loss}` as 'lr-sft'] ?? opt['lr-aco']);
  const tt = performance.now();
  const trained = await runTraining({
    model: opt.model,
    pairs: selfRewarded ? selfTrainPath : pairsPath,
    out: join(
      out,
      `train-${v}${selfRewarded ? (selfTop < 1 ? `-top${selfTop}` : '') : `-${opt.judge}${stepScope ? '-step' : ''}`}-lr${lr}-b${opt.batch}-e${opt.epochs}${opt.lora ? `-lora${opt.rank}` : '-full'}${loss === 'sft' ? '' : `-beta${opt.beta}${Number(opt['sft-weight']) > 0 ? `-nll${opt['sft-weight']}` : ''}`}`,
    ),
    full: !opt.lora,
    sftWeight: Number(opt['sft-weight']),
    loss: resolveLossConfig(loss, { beta: Number(opt.beta) }),
    lr,
    epochs: Number(opt.epochs),
    batchPairs: Number(opt.batch),
    gradAccum: 1,
    lora: { rank: Number(opt.rank) },
    maxSeqLen: 512,
    seed,
    reference: 'trainer',
    prompt,
  });
  const run = await accuracy(trained.output);
  const acc = run.accuracy;
  const vsBase = paired(run.solved, baseRun.solved);
  const m = trained.last;
  rows.push([
    v,
    lr.toExponential(0),
    (100 * acc).toFixed(1),
    (100 * run.sampled).toFixed(1),
    `${vsBase.gained} / ${vsBase.lost} (z ${vsBase.z.toFixed(2)})`,
    m && Number.isFinite(m['rewards/margins']) ? m['rewards/margins'].toFixed(3) : '-',
    ((performance.now() - tt) / 1000).toFixed(0),
  ]);
  results[v] = { lr, accuracy: acc, sampled: run.sampled, vsBase, last: m };
  log(
    `${v} lr ${lr}: ${(100 * acc).toFixed(1)}% greedy, ${(100 * run.sampled).toFixed(1)}% sampled, gained / lost against the base ${vsBase.gained} / ${vsBase.lost} (McNemar z ${vsBase.z.toFixed(2)})`,
  );
}

console.log(
  `# oracle control: ${opt.model === BUILTIN_MODEL_PATH ? 'built-in model' : opt.model}, ${records.length} queries sampled (${sampleSeconds.toFixed(0)} s), ${pairs.length} gold-labelled pairs (${opt.judge}), ${self.pairs} self-rewarded pairs, ${items.length} ${opt.split}-split problems; ${machine()}; ${((performance.now() - t0) / 60000).toFixed(1)} min`,
);
console.log(`# probe: ${formatSignal(signal).join(' | ')}`);
printTable(
  [
    'variant',
    'lr',
    'greedy accuracy %',
    `sampled accuracy % (T ${opt['eval-temperature']}, ${opt['eval-samples']} per problem)`,
    'greedy: gained / lost vs base (McNemar z)',
    'final margin',
    'train+eval s',
  ],
  rows,
);
writeFileSync(join(out, 'results.json'), JSON.stringify({ signal, pairs: pairs.length, results }, null, 2));
