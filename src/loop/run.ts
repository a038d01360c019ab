import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AbortError, GeniusError } from '../errors.js';
import { Context } from '../engine/context.js';
import { Model } from '../engine/model.js';
import { DEFAULT_EVALUATION } from '../eval/config.js';
import { evaluate, loadEvalTask, type EvalResult } from '../eval/index.js';
import { resolveForesightConfig, SamplingRunSchema, type ForesightConfig } from '../foresight/config.js';
import { readQueries } from '../foresight/queries.js';
import { runSampling } from '../foresight/run.js';
import { mixSeed } from '../foresight/selection.js';
import { readJsonl, writeJsonlAtomic } from '../jsonl.js';
import { runPairs } from '../pairs/run.js';
import type { RejectedMode } from '../pairs/build.js';
import type { ExplorationRecord } from '../foresight/records.js';
import { foresightSignal, formatSignal, type SignalReport } from '../probe/signal.js';
import { RUN_FILES, writeReport, type EvalSummary, type RoundMetrics } from '../report/index.js';
import { generateTask } from '../task/index.js';
import { BUILTIN_DIFFICULTY, BUILTIN_EVAL_MAX_TOKENS, BUILTIN_FORESIGHT, BUILTIN_MODEL_PATH } from '../builtin/index.js';
import { trainRunSettings } from '../train/config.js';
import { runTraining, type TrainStepRecord } from '../train/run.js';
import type { LoopConfig } from './config.js';

/** What the loop reports while it runs, and the signal that stops it. */
export interface LoopEvents {
  /** Receives one line per stage started or finished. */
  log?: (message: string) => void;
  /** Sampling / training / eval progress within a round. */
  onProgress?: (stage: 'sample' | 'train' | 'eval', done: number, total: number) => void;
  signal?: AbortSignal;
}

/** What a loop run did: accuracy before and after each round, the trained policy, the report. */
export interface LoopSummary {
  out: string;
  /** Eval accuracy before training (null without an eval set). */
  before: EvalSummary | null;
  rounds: RoundMetrics[];
  /** The trained policy: the model file (a new one after full-weight rounds) and the latest adapter. */
  model: string;
  adapter?: string;
  report: string;
  seconds: number;
}

interface Inputs {
  model: string;
  queries: string;
  /** Answers of the queries by id (built-in queries), for the foresight-signal probe only. */
  labels: string | null;
  eval: string | null;
  foresight: ForesightConfig;
  evalMaxTokens: number;
}

function writeJsonAtomic(path: string, value: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(value, null, 2) + '\n');
  renameSync(`${path}.tmp`, path);
}

/** Resolves `builtin` placeholders into files in the run directory (written once). */
function resolveInputs(c: LoopConfig, out: string): Inputs {
  const model = c.model === 'builtin' ? BUILTIN_MODEL_PATH : resolve(c.model);
  const queries = c.queries === 'builtin' ? join(out, 'queries.jsonl') : resolve(c.queries);
  const labels = c.queries === 'builtin' ? join(out, RUN_FILES.labels) : null;
  if (c.queries === 'builtin' && (!existsSync(queries) || !existsSync(labels!))) {
    // Unlabeled: only id and question reach the sampler; the answers go to a file of their own,
    // read only by the foresight-signal probe of the report.
    const tasks = generateTask({ split: 'train', n: c.builtin.queries, seed: c.builtin.seed, difficulty: BUILTIN_DIFFICULTY });
    writeJsonlAtomic(
      labels!,
      tasks.map((t) => ({ id: t.id, answer: t.answer })),
    );
    writeJsonlAtomic(
      queries,
      tasks.map((t) => ({ id: t.id, question: t.question })),
    );
  }
  const evalSet = c.eval === null ? null : c.eval === 'builtin' ? join(out, 'eval-set.jsonl') : resolve(c.eval);
  if (c.eval === 'builtin' && !existsSync(evalSet!)) {
    const tasks = generateTask({ split: 'test', n: c.builtin.evalQuestions, seed: c.builtin.seed + 1, difficulty: BUILTIN_DIFFICULTY });
    writeJsonlAtomic(
      evalSet!,
      tasks.map((t) => ({ id: t.id, question: t.question, answer: t.answer })),
    );
  }
  if (!existsSync(model)) throw new GeniusError(`model file not found: ${model}`);
  if (!existsSync(queries)) throw new GeniusError(`queries file not found: ${queries}`);
  if (evalSet && !existsSync(evalSet)) throw new GeniusError(`eval set not found: ${evalSet}`);
  const { concurrency, ...sampling } = c.sampling;
  void concurrency;
  const builtin = c.model === 'builtin';
  return {
    model,
    queries,
    labels,
    eval: evalSet,
    foresight: resolveForesightConfig({ ...(builtin ? BUILTIN_FORESIGHT : {}), ...sampling }),
    evalMaxTokens: c.evaluation.maxTokens ?? (builtin ? BUILTIN_EVAL_MAX_TOKENS : DEFAULT_EVALUATION.maxTokens),
  };
}

/** The run directory belongs to one config; a rerun with the same config resumes it. */
function claimRunDir(out: string, c: LoopConfig): void {
  const path = join(out, RUN_FILES.config);
  // Where the run lives and how many threads it uses do not change what it computes.
  const { out: _out, threads: _threads, ...what } = c;
  const hash = createHash('sha256').update(JSON.stringify(what)).digest('hex').slice(0, 16);
  if (existsSync(path)) {
    const prev = JSON.parse(readFileSync(path, 'utf8')) as { hash?: string };
    if (prev.hash !== hash)
      throw new GeniusError(
        `${out} holds a run with another config (${prev.hash ?? 'unknown'}, now ${hash}); use another --out or the same config to resume`,
      );
    return;
  }
  writeJsonAtomic(path, { hash, ...c });
}

/** The round's slice of the queries (all of them unless queriesPerRound is set). */
function roundQueries(all: string, c: LoopConfig, round: number, dir: string): string {
  if (!c.queriesPerRound) return all;
  const path = join(dir, 'queries.jsonl');
  if (existsSync(path)) return path;
  const qs = readQueries(all, { strict: true });
  const n = Math.min(c.queriesPerRound, qs.length);
  const picked = Array.from({ length: n }, (_, i) => qs[(round * n + i) % qs.length]!);
  writeJsonlAtomic(
    path,
    picked.map((q) => ({ id: q.id, question: q.question })),
  );
  return path;
}

/** The policy a stage runs: a model file plus, when training LoRA, the adapter trained so far. */
interface Policy {
  model: string;
  adapter?: string;
}

async function evaluateWith(inputs: Inputs, c: LoopConfig, policy: Policy, out: string, events: LoopEvents): Promise<EvalSummary> {
  const adapter = policy.adapter;
  const model = await Model.load(policy.model);
  const ctx = await Context.create(model, { maxSequences: 32, sequenceContextSize: 1024, ...(c.threads ? { threads: c.threads } : {}) });
  try {
    const items = loadEvalTask(inputs.eval!);
    const r: EvalResult = await evaluate(ctx, model, items, {
      temperature: c.evaluation.temperature ?? DEFAULT_EVALUATION.temperature,
      samples: c.evaluation.samples ?? DEFAULT_EVALUATION.samples,
      maxTokens: inputs.evalMaxTokens,
      seed: c.seed,
      prompt: {
        chat: inputs.foresight.chat,
        ...(inputs.foresight.chatTemplate !== undefined ? { chatTemplate: inputs.foresight.chatTemplate } : {}),
        reasoningPrefix: inputs.foresight.reasoningPrefix,
        endMarkers: inputs.foresight.endMarkers,
        ...(inputs.foresight.system !== undefined ? { system: inputs.foresight.system } : {}),
      },
      ...(adapter ? { adapter } : {}),
      out,
      ...(events.signal ? { signal: events.signal } : {}),
      onProgress: (d, t) => events.onProgress?.('eval', d, t),
    });
    return { accuracy: r.accuracy, low: r.low, high: r.high, n: r.n };
  } finally {
    ctx.dispose();
    model.dispose();
  }
}

/**
 * Genius's self-training loop: per round, foresight sampling with the current policy ->
 * preference pairs -> reference log-probs -> ACO training of a LoRA adapter -> evaluation; the
 * next round samples with the new adapter. Every stage writes its artifact atomically into the run
 * directory and is skipped when a rerun finds it, so an interrupted run resumes where it stopped.
 */
export async function runLoop(c: LoopConfig, events: LoopEvents = {}): Promise<LoopSummary> {
  const t0 = performance.now();
  const out = resolve(c.out);
  mkdirSync(out, { recursive: true });
  claimRunDir(out, c);
  const inputs = resolveInputs(c, out);
  const log = events.log ?? (() => {});
  const check = () => {
    if (events.signal?.aborted) throw new AbortError();
  };

  let before: EvalSummary | null = null;
  if (inputs.eval) {
    const path = join(out, RUN_FILES.baseline);
    if (existsSync(path)) before = JSON.parse(readFileSync(path, 'utf8')) as EvalSummary;
    else {
      log('evaluating the model before training');
      before = await evaluateWith(
        inputs,
        c,
        { model: inputs.model, ...(c.adapter ? { adapter: resolve(c.adapter) } : {}) },
        join(out, 'baseline-eval.jsonl'),
        events,
      );
      writeJsonAtomic(path, before);
    }
    log(`before: accuracy ${fmt(before)}`);
  }

  const rounds: RoundMetrics[] = [];
  const steps: TrainStepRecord[] = [];
  // Full-weight rounds replace the model file; LoRA rounds carry the adapter forward.
  let policy: Policy = { model: inputs.model, ...(c.adapter ? { adapter: resolve(c.adapter) } : {}) };
  for (let r = 0; r < c.rounds; r++) {
    check();
    const tr = performance.now();
    const dir = join(out, RUN_FILES.roundDir(r));
    mkdirSync(dir, { recursive: true });
    const queries = roundQueries(inputs.queries, c, r, dir);
    const exploration = join(dir, 'exploration.jsonl');
    log(`round ${r + 1}/${c.rounds}: foresight sampling`);
    const stage = { sample: 0, reference: 0, train: 0, eval: 0 };
    let ts = performance.now();
    await runSampling({
      model: policy.model,
      ...(policy.adapter ? { adapter: policy.adapter } : {}),
      queries,
      out: exploration,
      config: inputs.foresight,
      concurrency: c.sampling.concurrency ?? SamplingRunSchema.parse({}).concurrency,
      seed: mixSeed(c.seed, 'round', r),
      strict: true,
      ...(c.threads ? { threads: c.threads } : {}),
      ...(events.signal ? { signal: events.signal } : {}),
      onProgress: (p) => events.onProgress?.('sample', p.done, p.total),
      log,
    });
    stage.sample = (performance.now() - ts) / 1000;
    const pairsPath = join(dir, 'pairs.jsonl');
    const made = runPairs({
      in: exploration,
      out: pairsPath,
      rejected: c.pairs.rejected,
      seed: mixSeed(c.seed, 'pairs', r),
      maxChars: c.pairs.maxChars,
      keepIdentical: c.pairs.keepIdentical,
      strict: true,
    });
    const metrics: RoundMetrics = { round: r, pairs: made.pairs, identical_pairs: made.identical };
    const signal = roundSignal(exploration, inputs, inputs.foresight.tau, c.pairs.rejected);
    if (signal) {
      metrics.signal = signal;
      log(
        `round ${r + 1}: ${formatSignal(signal)
          .slice(1, 4)
          .map((l) => l.trim())
          .join('; ')}`,
      );
    }
    if (made.pairs === 0) {
      log(`round ${r + 1}: no preference pairs (every step had fewer than two candidates); the adapter stays as it was`);
    } else {
      check();
      log(`round ${r + 1}/${c.rounds}: training on ${made.pairs} pairs`);
      ts = performance.now();
      const t = c.training;
      const trained = await runTraining({
        model: policy.model,
        ...(policy.adapter ? { adapter: policy.adapter } : {}),
        pairs: pairsPath,
        out: join(dir, 'train'),
        ...trainRunSettings(t),
        seed: mixSeed(c.seed, 'train', r),
        threads: c.threads,
        prompt: {
          chat: inputs.foresight.chat,
          ...(inputs.foresight.chatTemplate !== undefined ? { chatTemplate: inputs.foresight.chatTemplate } : {}),
          reasoningPrefix: inputs.foresight.reasoningPrefix,
          ...(inputs.foresight.system !== undefined ? { system: inputs.foresight.system } : {}),
        },
        round: r,
        ...(events.signal ? { signal: events.signal } : {}),
        onStep: (m, total) => events.onProgress?.('train', m.step, total),
      });
      // Training's own figure for its reference stage; a run resumed from its summary took ~no time now.
      stage.reference = Math.min(trained.referenceSeconds ?? 0, (performance.now() - ts) / 1000);
      stage.train = (performance.now() - ts) / 1000 - stage.reference;
      policy = t.full ? { model: trained.output } : { model: policy.model, adapter: trained.output };
      const roundSteps = readJsonl<TrainStepRecord>(trained.metrics).map((m) => ({ ...m, round: r }));
      steps.push(...roundSteps);
      metrics.train_loss = roundSteps.reduce((a, m) => a + m.loss, 0) / Math.max(1, roundSteps.length);
    }
    if (inputs.eval) {
      check();
      log(`round ${r + 1}/${c.rounds}: evaluating`);
      ts = performance.now();
      metrics.eval = await evaluateWith(inputs, c, policy, join(dir, 'eval.jsonl'), events);
      stage.eval = (performance.now() - ts) / 1000;
      log(`after round ${r + 1}: accuracy ${fmt(metrics.eval)}`);
    }
    metrics.seconds = (performance.now() - tr) / 1000;
    metrics.stage_seconds = stage;
    log(
      `round ${r + 1}: ${Object.entries(stage)
        .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
        .join(', ')}`,
    );
    rounds.push(metrics);
    writeJsonlAtomic(join(out, RUN_FILES.rounds), rounds);
    writeJsonlAtomic(join(out, RUN_FILES.steps), steps);
  }
  const report = writeReport(out);
  return {
    out,
    before,
    rounds,
    model: policy.model,
    ...(policy.adapter ? { adapter: policy.adapter } : {}),
    report,
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * The foresight-signal probe over a round's exploration, graded with the queries' answers: from
 * the labels file of built-in queries, or the records' own ground_truth (queries files with an
 * answer field). Null when no answer is known.
 */
function roundSignal(exploration: string, inputs: Inputs, tau: number, rejected: RejectedMode): SignalReport | null {
  const records = readJsonl<ExplorationRecord>(exploration);
  const answers = inputs.labels
    ? new Map(readJsonl<{ id: string | number; answer: unknown }>(inputs.labels).map((l) => [String(l.id), l.answer]))
    : null;
  const graded = records.map((rec) => (answers ? { ...rec, ground_truth: answers.get(String(rec.id)) ?? null } : rec));
  const s = foresightSignal(graded, { tau, rejected });
  return s.queries > 0 ? s : null;
}

export function fmt(e: EvalSummary | null | undefined): string {
  if (!e) return 'n/a';
  return `${(100 * e.accuracy).toFixed(1)}% [${(100 * e.low).toFixed(1)}, ${(100 * e.high).toFixed(1)}] of ${e.n}`;
}
