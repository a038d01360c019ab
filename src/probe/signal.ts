/**
 * The foresight-signal probe: given exploration records of labeled queries, how much signal the
 * model's self-reward carries, before hours of sampling and training. It measures what Genius
 * relies on: that candidate steps differ (exploration has something to choose from), that the
 * foresight score prefers right trajectories to wrong ones (AUROC), and how often the pairs built
 * from it point the right way.
 */
import { answersMatch, extractAnswer, goldAnswer } from '../eval/extract.js';
import type { ExplorationRecord } from '../foresight/records.js';
import { Rng } from '../foresight/selection.js';
import { buildPairs, sameResponse, type RejectedMode } from '../pairs/build.js';

/** An estimate with its 95% interval (percentile bootstrap over queries). */
export interface Estimate {
  value: number;
  low: number;
  high: number;
}

/** What the probe reports; every share is in [0, 1], NaN where nothing was there to measure. */
export interface SignalReport {
  /** Queries with a gold answer that the probe read. */
  queries: number;
  /** Steps (query x step) read. */
  steps: number;
  /** Mean number of distinct candidate steps per step (of `candidatesPerStep`). */
  distinctCandidates: number;
  /** Mean number of candidates per step (M*N until beams finish). */
  candidatesPerStep: number;
  /** Share of steps whose candidate steps are all identical. */
  allIdenticalShare: number;
  /** Steps that hold both a right and a wrong trajectory (the ones AUROC is measured on). */
  mixedSteps: number;
  /**
   * P(foresight score of a right trajectory > that of a wrong one), ties counting half, over every
   * (right, wrong) pair within a mixed step: 0.5 is no signal.
   */
  auroc: Estimate;
  /**
   * The same AUROC over the (right, wrong) pairs whose candidate steps differ and whose wrong step
   * is at least as likely (its own mean log-prob, `step_prob`) as the right one: the errors greedy
   * decoding makes, which self-training has to flip. A score that only tracks the step's likelihood
   * gets at most 0.5 here however high its `auroc`; NaN where records carry no step log-probs.
   */
  aurocAgainstLikelierStep: Estimate;
  /** Share of trajectories that reach the gold answer (over all candidates of all steps). */
  rightTrajectoryShare: number;
  /** Pairs as `genius pairs` builds them (identical ones included, so their share can be seen). */
  pairs: number;
  /** Share of pairs whose chosen trajectory is right. */
  chosenRight: number;
  /** Share of pairs whose rejected trajectory is wrong. */
  rejectedWrong: number;
  /** Among pairs where exactly one side is right: the share where it is the chosen one. */
  preferenceAccuracy: number;
  /** Share of pairs whose chosen and rejected responses are identical. */
  identicalPairShare: number;
  /** Accuracy of the final responses exploration picked. */
  finalAccuracy: number;
  /**
   * Step by step (with a judge of partial solutions, `stepJudgeFor('solution')`; else NaN): over
   * each beam's steps whose candidates hold a right step, how the highest-scored candidate compares
   * with the one the model finds likeliest (its own mean log-prob, greedy decoding's pick).
   * `gained`: the likeliest is wrong and the highest-scored right; `lost`: the reverse. A
   * self-reward can only raise greedy accuracy where it gains more than it loses.
   */
  stepSelection: { steps: number; gained: number; lost: number };
}

/** How the probe builds pairs and its interval. */
export interface SignalOptions {
  /** How rejected trajectories are drawn, as for `genius pairs` (default categorical). */
  rejected?: RejectedMode;
  /** Selection temperature of F (default 0.1). */
  tau?: number;
  /** Bootstrap resamples for the AUROC interval (default 1000). */
  resamples?: number;
  seed?: number;
  /** Whether a trajectory is right (default: `judgeFor('answer')`). */
  judge?: TrajectoryJudge;
  /** Whether a trajectory's steps so far are right (for `stepSelection`; see `stepJudgeFor`). */
  stepJudge?: TrajectoryJudge;
}

/** Decides whether a trajectory (as in `traj_pool`: reasoning prefix + steps) is right for its record. */
export type TrajectoryJudge = (trajectory: string, record: ExplorationRecord) => boolean;

/**
 * How the probe labels trajectories: `answer`, the final answer matches the gold one; `solution`,
 * the steps equal the gold solution line for line (for tasks with one canonical solution, like the
 * built-in one). On the built-in model about 40% of right answers come through wrong steps.
 */
export const JUDGES = ['answer', 'solution'] as const;
/** A name in JUDGES. */
export type JudgeName = (typeof JUDGES)[number];

/** A trajectory's steps: the text after the reasoning prefix. */
const stepsOf = (text: string, reasoningPrefix: string) => (text.startsWith(reasoningPrefix) ? text.slice(reasoningPrefix.length) : text);

/** The judge of that name; `solution` strips `reasoningPrefix` before comparing. */
export function judgeFor(name: JudgeName, reasoningPrefix = ''): TrajectoryJudge {
  if (name === 'answer') return (text, record) => answersMatch(extractAnswer(text)?.value ?? null, goldAnswer(record.ground_truth));
  return (text, record) => typeof record.ground_truth === 'string' && stepsOf(text, reasoningPrefix).trim() === record.ground_truth.trim();
}

/**
 * The judge of partial trajectories for `stepSelection`: `solution`, every line so far is the gold
 * solution's line at that place; `answer` has none (a partial trajectory has no answer yet).
 */
export function stepJudgeFor(name: JudgeName, reasoningPrefix = ''): TrajectoryJudge | undefined {
  if (name === 'answer') return undefined;
  return (text, record) => {
    if (typeof record.ground_truth !== 'string') return false;
    const gold = record.ground_truth.trim().split('\n');
    return stepsOf(text, reasoningPrefix)
      .split('\n')
      .filter((line) => line.trim() !== '')
      .every((line, i) => line.trim() === gold[i]?.trim());
  };
}

/** `stepSelection`'s counts for one step of one record (see SignalReport). */
function selectionAt(r: ExplorationRecord, k: number, stepJudge: TrajectoryJudge): { steps: number; gained: number; lost: number } {
  const c = { steps: 0, gained: 0, lost: 0 };
  const traj = r.traj_pool[k] ?? [];
  const own = r.step_prob[k] ?? [];
  const scores = r.prob_pool[k] ?? [];
  if (own.length !== traj.length || scores.length !== traj.length) return c;
  // The trajectory up to and including the candidate step: less its rollout.
  const ok = traj.map((t, i) => stepJudge(t.slice(0, t.length - (r.step_pool[k]?.[i] ?? '').length), r));
  const beams = r.beam_pool?.[k] ?? traj.map(() => 0);
  for (const b of new Set(beams)) {
    const idx = beams.flatMap((x, i) => (x === b ? [i] : []));
    if (!idx.some((i) => ok[i])) continue;
    const argmax = (v: readonly number[]) => idx.reduce((a, i) => (v[i]! > v[a]! ? i : a), idx[0]!);
    const likeliest = ok[argmax(own)]!;
    const best = ok[argmax(scores)]!;
    c.steps++;
    if (!likeliest && best) c.gained++;
    if (likeliest && !best) c.lost++;
  }
  return c;
}

/** Per query: concordant (right above wrong) and total (right, wrong) pairs over its mixed steps. */
interface QueryCounts {
  concordant: number;
  total: number;
}

/** Concordant and total (right, wrong) pairs of one step; `keep` picks which pairs count. */
function stepCounts(
  scores: readonly number[],
  right: readonly boolean[],
  keep: (i: number, j: number) => boolean = () => true,
): QueryCounts {
  const c = { concordant: 0, total: 0 };
  right.forEach((r, i) => {
    if (!r) return;
    right.forEach((w, j) => {
      if (w || !keep(i, j)) return;
      c.total++;
      c.concordant += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    });
  });
  return c;
}

/** Pooled AUROC with a percentile bootstrap over queries (queries are the independent units). */
function pooledAuroc(perQuery: readonly QueryCounts[], resamples: number, rng: Rng): Estimate {
  const ratio = (qs: readonly QueryCounts[]) => {
    const t = qs.reduce((a, q) => a + q.total, 0);
    return t === 0 ? NaN : qs.reduce((a, q) => a + q.concordant, 0) / t;
  };
  const value = ratio(perQuery);
  if (perQuery.length === 0 || Number.isNaN(value)) return { value: NaN, low: NaN, high: NaN };
  const draws: number[] = [];
  for (let b = 0; b < resamples; b++) {
    const r = ratio(Array.from({ length: perQuery.length }, () => perQuery[rng.int(perQuery.length)]!));
    if (!Number.isNaN(r)) draws.push(r);
  }
  draws.sort((a, b) => a - b);
  const at = (p: number) => draws[Math.min(draws.length - 1, Math.max(0, Math.floor(p * draws.length)))]!;
  return { value, low: at(0.025), high: at(0.975) };
}

const share = (n: number, d: number) => (d === 0 ? NaN : n / d);

/**
 * The probe's figures from exploration records whose `ground_truth` holds the gold answer (a
 * number, or a solution ending `#### N` / `\boxed{N}`); records without one are left out. Cost:
 * linear in the records, plus the bootstrap (resamples x queries).
 */
export function foresightSignal(records: readonly ExplorationRecord[], options: SignalOptions = {}): SignalReport {
  const rng = new Rng(options.seed ?? 0);
  const judge = options.judge ?? judgeFor('answer');
  const perQuery: QueryCounts[] = [];
  const perQueryHard: QueryCounts[] = [];
  let queries = 0;
  let steps = 0;
  let candidates = 0;
  let distinct = 0;
  let allSame = 0;
  let mixed = 0;
  let right = 0;
  let finalRight = 0;
  const selection = { steps: 0, gained: 0, lost: 0 };
  const pairCounts = { pairs: 0, chosenRight: 0, rejectedWrong: 0, oneRight: 0, oneRightChosen: 0, identical: 0 };
  for (const r of records) {
    if (goldAnswer(r.ground_truth) === null) continue;
    const isRight = (text: string) => judge(text, r);
    queries++;
    const counts: QueryCounts = { concordant: 0, total: 0 };
    const hard: QueryCounts = { concordant: 0, total: 0 };
    r.traj_pool.forEach((traj, k) => {
      if (traj.length === 0) return;
      steps++;
      candidates += traj.length;
      const cands = r.candidate_pool?.[k] ?? traj;
      const d = new Set(cands).size;
      distinct += d;
      if (d === 1) allSame++;
      const ok = traj.map((t) => isRight(t));
      right += ok.filter(Boolean).length;
      if (options.stepJudge) {
        const c = selectionAt(r, k, options.stepJudge);
        selection.steps += c.steps;
        selection.gained += c.gained;
        selection.lost += c.lost;
      }
      if (ok.some(Boolean) && !ok.every(Boolean)) {
        mixed++;
        const c = stepCounts(r.prob_pool[k] ?? [], ok);
        counts.concordant += c.concordant;
        counts.total += c.total;
        const own = r.step_prob[k] ?? [];
        if (own.length === traj.length) {
          const h = stepCounts(r.prob_pool[k] ?? [], ok, (i, j) => cands[i] !== cands[j] && own[j]! >= own[i]!);
          hard.concordant += h.concordant;
          hard.total += h.total;
        }
      }
    });
    perQuery.push(counts);
    perQueryHard.push(hard);
    if (isRight(r.response)) finalRight++;
    const built = buildPairs(
      r,
      { rejected: options.rejected ?? 'categorical', tau: options.tau ?? 0.1, maxChars: Infinity, keepIdentical: true },
      new Rng(rng.int(2 ** 31)),
    );
    for (const p of built.pairs) {
      const c = { text: p.chosen[0]!.content, ids: p.chosen_ids };
      const w = { text: p.rejected[0]!.content, ids: p.rejected_ids };
      const cr = isRight(c.text);
      const rr = isRight(w.text);
      pairCounts.pairs++;
      if (cr) pairCounts.chosenRight++;
      if (!rr) pairCounts.rejectedWrong++;
      if (cr !== rr) {
        pairCounts.oneRight++;
        if (cr) pairCounts.oneRightChosen++;
      }
      if (sameResponse(c, w)) pairCounts.identical++;
    }
  }
  return {
    queries,
    steps,
    distinctCandidates: share(distinct, steps),
    candidatesPerStep: share(candidates, steps),
    allIdenticalShare: share(allSame, steps),
    mixedSteps: mixed,
    auroc: pooledAuroc(perQuery, options.resamples ?? 1000, rng),
    aurocAgainstLikelierStep: pooledAuroc(perQueryHard, options.resamples ?? 1000, rng),
    rightTrajectoryShare: share(right, candidates),
    pairs: pairCounts.pairs,
    chosenRight: share(pairCounts.chosenRight, pairCounts.pairs),
    rejectedWrong: share(pairCounts.rejectedWrong, pairCounts.pairs),
    preferenceAccuracy: share(pairCounts.oneRightChosen, pairCounts.oneRight),
    identicalPairShare: share(pairCounts.identical, pairCounts.pairs),
    finalAccuracy: share(finalRight, queries),
    stepSelection: options.stepJudge ? selection : { steps: NaN, gained: NaN, lost: NaN },
  };
}

const pct = (x: number) => (Number.isNaN(x) ? 'n/a' : `${(100 * x).toFixed(1)}%`);
const num = (x: number, d = 2) => (Number.isNaN(x) ? 'n/a' : x.toFixed(d));

/** The report as lines a person reads (the CLI prints them; the HTML report shows the same figures). */
export function formatSignal(s: SignalReport & { greedyAccuracy?: number }): string[] {
  const greedy =
    s.greedyAccuracy === undefined ? '' : `; greedy decoding of the same queries: ${pct(s.greedyAccuracy)} (what the search has to beat)`;
  return [
    `queries ${s.queries}, steps ${s.steps}, candidates per step ${num(s.candidatesPerStep, 1)}`,
    `diversity: ${num(s.distinctCandidates)} distinct candidate steps per step; all identical in ${pct(s.allIdenticalShare)} of steps`,
    `foresight signal: AUROC ${num(s.auroc.value, 3)} [${num(s.auroc.low, 3)}, ${num(s.auroc.high, 3)}] over ${s.mixedSteps} steps holding right and wrong trajectories (0.5 = no signal)`,
    `  against a wrong step at least as likely as the right one (the errors greedy decoding makes): AUROC ${num(s.aurocAgainstLikelierStep.value, 3)} [${num(s.aurocAgainstLikelierStep.low, 3)}, ${num(s.aurocAgainstLikelierStep.high, 3)}]`,
    `right trajectories: ${pct(s.rightTrajectoryShare)}; final responses right: ${pct(s.finalAccuracy)}${greedy}`,
    ...(Number.isNaN(s.stepSelection.steps)
      ? []
      : [
          `step selection: of ${s.stepSelection.steps} beam-steps holding a right candidate, the highest-scored candidate is right where the likeliest is wrong in ${s.stepSelection.gained}, wrong where it is right in ${s.stepSelection.lost} (a gain needs more of the first)`,
        ]),
    `pairs ${s.pairs}: chosen right ${pct(s.chosenRight)}, rejected wrong ${pct(s.rejectedWrong)}, chosen is the right one where exactly one is ${pct(s.preferenceAccuracy)}, identical ${pct(s.identicalPairShare)}`,
  ];
}
