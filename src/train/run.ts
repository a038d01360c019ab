import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AbortError, GeniusError } from '../errors.js';
import { Model } from '../engine/model.js';
import { readJsonl, writeJsonlAtomic } from '../jsonl.js';
import { lockOutput } from '../lock.js';
import { calibrationWeight, needsReference, rewardMetrics, type LossConfig, type PairLogps, type RewardMetrics } from '../losses/index.js';
import { loadPairs, type PromptFormat, type TokenizedPair, type Truncation } from './data.js';
import { openReferenceScorer, referenceKey, referenceLogps, type ReferenceLogps } from './reference.js';
import { microBatches } from './batches.js';
import { DEFAULT_TRAINING as D } from './config.js';
import { epochOrder, linearSchedule } from './schedule.js';
import { Trainer, type TrainSequence } from './trainer.js';

/** A `runTraining` job: model, pairs, run directory, loss and optimizer settings (see `trainRunSettings`). */
export interface TrainRunOptions {
  model: string;
  /** Continue from this adapter; the reference policy is then model + adapter. */
  adapter?: string;
  pairs: string;
  /** Run directory: adapter.gguf or model.gguf, metrics.jsonl, train.json, checkpoint/. */
  out: string;
  loss: LossConfig;
  lr: number;
  epochs: number;
  /** Pairs per forward/backward graph (at most; see microBatchTokens). */
  batchPairs: number;
  /** Micro-batches per optimizer step: a step sees batchPairs * gradAccum pairs. */
  gradAccum: number;
  /** Token budget of one graph (attention memory grows with its square). Default: DEFAULT_TRAINING's. */
  microBatchTokens?: number;
  full?: boolean;
  lora?: { rank?: number; alpha?: number; targets?: readonly string[] };
  maxSeqLen: number;
  truncation?: Truncation;
  seed: number;
  /**
   * Weight of a mean per-token NLL term on the chosen responses, added to a preference loss
   * (RPO-style): it counters the chosen log-prob falling with the rejected one (likelihood
   * displacement). Default: DEFAULT_TRAINING's (0, off).
   */
  sftWeight?: number;
  /** `engine` (default) or `onnx:PATH`. */
  reference?: string;
  warmupRatio?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  maxGradNorm?: number;
  /** Write a checkpoint every this many optimizer steps (and at the end). Default: DEFAULT_TRAINING's. */
  checkpointEvery?: number;
  backend?: 'cpu' | 'cuda';
  threads?: number;
  prompt?: Partial<PromptFormat>;
  /** Tags metrics lines (the self-training loop's round). */
  round?: number;
  signal?: AbortSignal;
  /** Receives every optimizer step's metrics line. */
  onStep?: (m: TrainStepRecord, totalSteps: number) => void;
  /** Test hook: stop (as if killed) after this many optimizer steps. */
  stopAfterSteps?: number;
}

/** One metrics.jsonl line, named as DPO trainers name them. */
export interface TrainStepRecord extends RewardMetrics {
  round?: number;
  step: number;
  epoch: number;
  loss: number;
  grad_norm: number;
  lr: number;
  pairs: number;
  tokens: number;
  tokens_per_s: number;
}

/** What a training run did: steps, pairs, dropped/truncated pairs, output and metrics files. */
export interface TrainSummary {
  steps: number;
  pairs: number;
  dropped: number;
  truncated: number;
  /** The trained adapter (LoRA) or model (full). */
  output: string;
  metrics: string;
  last?: TrainStepRecord;
  seconds: number;
  /** Of `seconds`, the time spent on reference log-probs (0 when read from the cache or not needed). */
  referenceSeconds?: number;
  resumedFrom?: number;
}

interface Progress {
  hash: string;
  step: number;
  state: string;
}

const FILES = { metrics: 'metrics.jsonl', summary: 'train.json', checkpoint: 'checkpoint', progress: 'progress.json' };

/** What makes two runs the same run (resume only continues an identical configuration). */
function runHash(o: TrainRunOptions): string {
  const { signal, onStep, stopAfterSteps, threads, out, ...rest } = o;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

function writeJsonAtomic(path: string, value: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(value, null, 2) + '\n');
  renameSync(`${path}.tmp`, path);
}

/** A pair's tokens in one graph: prompt + chosen, and prompt + rejected unless the loss is SFT. */
function pairTokens(p: TokenizedPair, sft: boolean): number {
  return p.prompt.length + p.chosen.length + (sft ? 0 : p.prompt.length + p.rejected.length);
}

function sequences(batch: readonly TokenizedPair[], sft: boolean): TrainSequence[] {
  const chosen = batch.map((p) => ({ prompt: p.prompt, response: p.chosen }));
  return sft ? chosen : [...chosen, ...batch.map((p) => ({ prompt: p.prompt, response: p.rejected }))];
}

/**
 * Trains on a pairs file (Genius, section 3.3): reference log-probs once (cached beside the
 * pairs), then `epochs` passes in seeded order, one AdamW step per batchPairs * gradAccum pairs,
 * linear warmup + decay. Resumable: checkpoints hold weights, moments and the step, and a resumed
 * run on the CPU is bit-identical to an uninterrupted one.
 */
export async function runTraining(o: TrainRunOptions): Promise<TrainSummary> {
  validate(o);
  mkdirSync(join(o.out, FILES.checkpoint), { recursive: true });
  // One writer per output folder: two runs would interleave metrics and checkpoints.
  const unlock = lockOutput(join(o.out, 'train'));
  try {
    return await trainLocked(o);
  } finally {
    unlock();
  }
}

async function trainLocked(o: TrainRunOptions): Promise<TrainSummary> {
  const t0 = performance.now();
  const hash = runHash(o);
  const summaryPath = join(o.out, FILES.summary);
  if (existsSync(summaryPath)) {
    const done = JSON.parse(readFileSync(summaryPath, 'utf8')) as TrainSummary & { hash?: string };
    if (done.hash === hash && existsSync(done.output)) return done;
  }
  const model = await Model.load(o.model);
  let data;
  try {
    data = loadPairs(o.pairs, model, { maxSeqLen: o.maxSeqLen, truncation: o.truncation ?? D.truncation, format: o.prompt ?? {} });
  } finally {
    model.dispose();
  }
  if (data.pairs.length === 0)
    throw new GeniusError(`no usable pairs in ${o.pairs} (${data.dropped} dropped: prompts longer than --max-seq-len or empty responses)`);
  const pairs = data.pairs;

  const spec = o.reference ?? D.reference;
  const key = referenceKey(spec, o.model, o.adapter, pairs);
  const tRef = performance.now();
  const ref: ReferenceLogps = needsReference(o.loss.loss)
    ? await referenceLogps(pairs, () => openReferenceScorer(spec, o.model, o.adapter, o.maxSeqLen), {
        cache: join(dirname(o.pairs), `${basename(o.pairs).replace(/\.jsonl$/, '')}.ref-${key}.jsonl`),
        key,
        ...(o.signal ? { signal: o.signal } : {}),
      })
    : { chosen: pairs.map(() => 0), rejected: pairs.map(() => 0) };
  const referenceSeconds = (performance.now() - tRef) / 1000;

  const trainer = await Trainer.create({
    model: o.model,
    full: o.full ?? false,
    lora: { rank: D.loraRank, ...o.lora },
    ...(o.adapter && !o.full ? { adapter: o.adapter } : {}),
    backend: o.backend ?? D.backend,
    threads: o.threads ?? 0,
    seed: o.seed,
  });
  try {
    return { ...(await trainLoop(o, trainer, pairs, ref, data, hash, t0)), referenceSeconds };
  } finally {
    trainer.dispose();
  }
}

function validate(o: TrainRunOptions): void {
  const positiveInt = (v: number, name: string) => {
    if (!Number.isInteger(v) || v < 1) throw new GeniusError(`${name} must be a positive integer (got ${v})`);
  };
  positiveInt(o.epochs, 'epochs');
  positiveInt(o.batchPairs, 'batch-pairs');
  positiveInt(o.gradAccum, 'grad-accum');
  if (!(o.lr >= 0) || !Number.isFinite(o.lr)) throw new GeniusError(`lr must be a finite number >= 0 (got ${o.lr})`);
  if (o.warmupRatio !== undefined && !(o.warmupRatio >= 0 && o.warmupRatio <= 1)) throw new GeniusError('warmup ratio must be in [0, 1]');
  if (!existsSync(o.pairs)) throw new GeniusError(`pairs file not found: ${o.pairs}`);
}

async function trainLoop(
  o: TrainRunOptions,
  trainer: Trainer,
  pairs: TokenizedPair[],
  ref: ReferenceLogps,
  data: { dropped: number; truncated: number },
  hash: string,
  t0: number,
): Promise<TrainSummary> {
  const sft = o.loss.loss === 'sft';
  const sftWeight = sft ? 0 : (o.sftWeight ?? D.sftWeight);
  const perStep = o.batchPairs * o.gradAccum;
  const stepsPerEpoch = Math.ceil(pairs.length / perStep);
  const totalSteps = stepsPerEpoch * o.epochs;
  const metricsPath = join(o.out, FILES.metrics);
  const ckptDir = join(o.out, FILES.checkpoint);
  const progressPath = join(ckptDir, FILES.progress);

  let step = 0;
  let resumedFrom: number | undefined;
  if (existsSync(progressPath)) {
    const p = JSON.parse(readFileSync(progressPath, 'utf8')) as Progress;
    if (p.hash === hash && existsSync(join(ckptDir, p.state))) {
      await trainer.loadState(join(ckptDir, p.state));
      step = p.step;
      resumedFrom = step;
    }
  }
  // Metrics past the checkpoint belong to steps that will be redone.
  const kept =
    existsSync(metricsPath) && resumedFrom !== undefined ? readJsonl<TrainStepRecord>(metricsPath).filter((m) => m.step <= step) : [];
  writeJsonlAtomic(metricsPath, kept);
  let last: TrainStepRecord | undefined = kept[kept.length - 1];

  const weightOf = pairs.map((p) => calibrationWeight(o.loss, p.aChosen, p.aRejected));
  const badWeight = weightOf.findIndex((w) => !Number.isFinite(w));
  if (badWeight >= 0)
    throw new GeniusError(
      `pair ${pairs[badWeight]!.index + 1}: calibration weight overflows (advantages ${pairs[badWeight]!.aChosen}, ${pairs[badWeight]!.aRejected} with alpha ${o.loss.alpha})`,
    );

  const saveCheckpoint = async (s: number) => {
    const state = `state-${s}.gguf`;
    await trainer.saveState(join(ckptDir, state));
    writeJsonAtomic(progressPath, { hash, step: s, state } satisfies Progress);
    for (const f of readdirSync(ckptDir)) if (f.startsWith('state-') && f !== state) rmSync(join(ckptDir, f), { force: true });
  };

  // The shuffled pair order, drawn once per epoch.
  let order: number[] = [];
  let orderEpoch = -1;
  for (; step < totalSteps; step++) {
    if (o.signal?.aborted) throw new AbortError();
    if (o.stopAfterSteps !== undefined && resumedFrom === undefined && step >= o.stopAfterSteps)
      throw new AbortError('stopped by stopAfterSteps');
    const epoch = Math.floor(step / stepsPerEpoch);
    if (orderEpoch !== epoch) {
      order = epochOrder(pairs.length, o.seed, epoch);
      orderEpoch = epoch;
    }
    const within = step % stepsPerEpoch;
    const stepIdx = order.slice(within * perStep, (within + 1) * perStep);
    const stepPairs = stepIdx.map((i) => pairs[i]!);
    const ts = performance.now();
    const lr = linearSchedule(o.lr, step, totalSteps, o.warmupRatio ?? D.warmupRatio);
    const chosenTokens = stepPairs.reduce((a, p) => a + p.chosen.length, 0);
    const denominator = sft ? chosenTokens : stepPairs.length;
    const logps: PairLogps[] = [];
    const weights: number[] = [];
    let loss = 0;
    let tokens = 0;
    await trainer.zeroGrad();
    for (const idx of microBatches(stepIdx, (i) => pairTokens(pairs[i]!, sft), o.microBatchTokens ?? D.microBatchTokens, o.batchPairs)) {
      const batch = idx.map((i) => pairs[i]!);
      const w = idx.map((i) => weightOf[i]!);
      let r;
      try {
        r = await trainer.accumulate(sequences(batch, sft), {
          type: o.loss.loss,
          beta: o.loss.beta,
          simpoGamma: o.loss.simpoGamma,
          ropoAlpha: o.loss.ropoAlpha,
          ropoGamma: o.loss.ropoGamma,
          weight: w,
          refChosen: idx.map((i) => ref.chosen[i]!),
          refRejected: idx.map((i) => ref.rejected[i]!),
          scale: 1 / denominator,
        });
      } catch (e) {
        throw stopped(e, step, progressPath);
      }
      loss += r.loss;
      tokens += r.tokens;
      if (sftWeight > 0) {
        // Gradients accumulate across calls, so the NLL term is one more pass over the chosen responses.
        try {
          loss += (await trainer.accumulate(sequences(batch, true), { type: 'sft', beta: o.loss.beta, scale: sftWeight / chosenTokens }))
            .loss;
        } catch (e) {
          throw stopped(e, step, progressPath);
        }
      }
      batch.forEach((p, j) => {
        const i = idx[j]!;
        const mean = o.loss.loss === 'simpo';
        logps.push({
          chosen: r.chosen[j]!,
          rejected: sft ? NaN : r.rejected[j]!,
          refChosen: mean ? 0 : ref.chosen[i]!,
          refRejected: mean ? 0 : ref.rejected[i]!,
        });
        weights.push(w[j]!);
      });
    }
    let gradNorm: number;
    try {
      gradNorm = await trainer.step({
        lr,
        beta1: o.beta1 ?? 0.9,
        beta2: o.beta2 ?? 0.999,
        eps: o.eps ?? 1e-8,
        weightDecay: o.weightDecay ?? D.weightDecay,
        maxGradNorm: o.maxGradNorm ?? D.maxGradNorm,
      });
    } catch (e) {
      throw stopped(e, step, progressPath);
    }
    const seconds = (performance.now() - ts) / 1000;
    last = {
      ...(o.round !== undefined ? { round: o.round } : {}),
      step: step + 1,
      epoch,
      loss,
      ...rewardMetrics(o.loss, logps, weights),
      grad_norm: gradNorm,
      lr,
      pairs: stepPairs.length,
      tokens,
      tokens_per_s: tokens / Math.max(seconds, 1e-9),
    };
    appendLine(metricsPath, last);
    o.onStep?.(last, totalSteps);
    if ((step + 1) % (o.checkpointEvery ?? D.checkpointEvery) === 0 || step + 1 === totalSteps) await saveCheckpoint(step + 1);
  }

  const output = join(o.out, o.full ? 'model.gguf' : 'adapter.gguf');
  if (o.full) await trainer.saveModel(output);
  else await trainer.saveAdapter(output);
  const summary: TrainSummary & { hash: string } = {
    hash,
    steps: totalSteps,
    pairs: pairs.length,
    dropped: data.dropped,
    truncated: data.truncated,
    output,
    metrics: metricsPath,
    ...(last ? { last } : {}),
    seconds: (performance.now() - t0) / 1000,
    ...(resumedFrom !== undefined ? { resumedFrom } : {}),
  };
  writeJsonAtomic(join(o.out, FILES.summary), summary);
  return summary;
}

function appendLine(path: string, record: unknown): void {
  writeFileSync(path, JSON.stringify(record) + '\n', { flag: 'a' });
}

/** A failed step names the cause and the checkpoint a rerun resumes from (which stays intact). */
function stopped(e: unknown, step: number, progressPath: string): GeniusError {
  const at = existsSync(progressPath) ? (JSON.parse(readFileSync(progressPath, 'utf8')) as Progress).step : 0;
  const msg = e instanceof Error ? e.message : String(e);
  return new GeniusError(
    `training stopped at step ${step + 1}: ${msg}; the last good checkpoint is step ${at}${at === 0 ? ' (none yet)' : ''}`,
    { cause: e },
  );
}
