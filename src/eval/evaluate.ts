import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { Adapter, type Context, type Sequence } from '../engine/context.js';
import type { Model } from '../engine/model.js';
import { GeniusError } from '../errors.js';
import { DEFAULT_FORESIGHT, type ForesightConfig } from '../foresight/config.js';
import { promptFor } from '../foresight/explore.js';
import { readQueries } from '../foresight/queries.js';
import { mixSeed } from '../foresight/selection.js';
import { JsonlAppender } from '../jsonl.js';
import { wilsonInterval, type Accuracy } from './accuracy.js';
import { answersMatch, extractAnswer, goldAnswer } from './extract.js';

/** One question with its gold answer (normalised, see `goldAnswer`). */
export interface EvalItem {
  id: string | number;
  /** Position in the task file. */
  index: number;
  question: string;
  gold: string;
}

/** One sampled response, graded. */
export interface EvalSample {
  /** The generated text after the prompt and reasoning prefix. */
  text: string;
  /** The extracted, normalised final answer (null: no marked answer). */
  answer: string | null;
  correct: boolean;
  tokens: number;
  finish: 'stop' | 'eos' | 'length' | 'context';
}

/** One line of the per-question JSONL. */
export interface EvalRecord {
  id: string | number;
  index: number;
  question: string;
  gold: string;
  samples: EvalSample[];
  /** Share of this question's samples that are correct. */
  accuracy: number;
  config_hash: string;
}

/** How `evaluate` prompts and samples. */
export interface EvalOptions {
  /** 0 (default) = greedy. */
  temperature?: number;
  /** Samples per question (default 1). */
  samples?: number;
  /** Tokens per response (default 256). */
  maxTokens?: number;
  /** Sample j of question `id` uses seed mixSeed(seed, id, j): results do not depend on batching. */
  seed?: number;
  /**
   * Prompt formatting, the same as the foresight sampler's (`promptFor`): chat template, system
   * turn, reasoning prefix; `endMarkers` also end a response (with EOS). Default DEFAULT_FORESIGHT.
   */
  prompt?: Partial<Pick<ForesightConfig, 'chat' | 'chatTemplate' | 'system' | 'reasoningPrefix' | 'endMarkers'>>;
  /**
   * A LoRA adapter to evaluate: attached (replacing the context's adapters) for the evaluation
   * and detached after it. Absent: the context's adapters are used as they are.
   */
  adapter?: Adapter | string;
  /** With no marked answer, take the response's last number (lm-eval's flexible extract). */
  lastNumber?: boolean;
  /** Per-question JSONL, appended one whole line per question; a re-run skips ids already there. */
  out?: string;
  /** Questions in flight (default: as many as the context's sequence slots allow). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Receives the count of questions graded after each one. */
  onProgress?: (done: number, total: number) => void;
  /** Receives one line per skipped or failed question. */
  log?: (message: string) => void;
}

/** What `evaluate` measured: accuracy over questions with its 95% Wilson interval. */
export interface EvalResult extends Accuracy {
  /** Questions graded (the interval's n). */
  n: number;
  /** Samples per question. */
  samples: number;
  /** Correct samples in all. */
  correct: number;
  /** Per-question records, in task order (including those resumed from `out`). */
  records: EvalRecord[];
}

/**
 * Reads a task file (JSONL or a JSON array) as evaluation items: the question from `field` or
 * the first of instruction, query, prompt, question; the gold answer from `ground_truth`,
 * `answer` (GSM8K: "... #### N"; the built-in task writes the same) or `response`.
 * A malformed line or a record without a gold answer is an error naming the line.
 */
export function loadEvalTask(path: string, options: { field?: string } = {}): EvalItem[] {
  const queries = readQueries(path, { field: options.field, strict: true });
  return queries.map((q) => {
    const gold = goldAnswer(q.groundTruth);
    if (gold === null)
      throw new GeniusError(
        `${path}: question ${JSON.stringify(q.id)} (item ${q.index + 1}) has no gold answer (answer, ground_truth or response)`,
      );
    return { id: q.id, index: q.index, question: q.question, gold };
  });
}

/** The hash of everything that shapes the records; a resumed file must match it. */
function evalHash(
  model: Model,
  o: Required<Pick<EvalOptions, 'temperature' | 'samples' | 'maxTokens' | 'seed' | 'lastNumber'>>,
  prompt: ForesightConfig,
  adapter: string | null,
): string {
  const { architecture, parameterCount, vocabSize } = model.info;
  const identity = {
    model: { architecture, parameterCount, vocabSize },
    adapter,
    ...o,
    chat: prompt.chat,
    system: prompt.system ?? null,
    prefix: prompt.reasoningPrefix,
    end: prompt.endMarkers,
    ...(prompt.chatTemplate !== undefined ? { template: prompt.chatTemplate } : {}),
  };
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 16);
}

/**
 * Evaluation: samples `samples` responses to every question with the sampler's prompt format,
 * extracts each final answer and grades it against the gold one. All questions run at once (up
 * to `concurrency`), so their requests share every decode batch; the samples of one question
 * fork from one prefill. accuracy = mean over questions of the share of correct samples, with a
 * 95% Wilson interval over the questions. Cost: one prefill per question plus samples x up to
 * maxTokens generated tokens.
 */
export async function evaluate(ctx: Context, model: Model, items: readonly EvalItem[], options: EvalOptions = {}): Promise<EvalResult> {
  const o = {
    temperature: options.temperature ?? 0,
    samples: options.samples ?? 1,
    maxTokens: options.maxTokens ?? 256,
    seed: options.seed ?? 0,
    lastNumber: options.lastNumber ?? false,
  };
  if (!Number.isInteger(o.samples) || o.samples < 1) throw new GeniusError(`samples must be a positive integer, got ${o.samples}`);
  if (!Number.isInteger(o.maxTokens) || o.maxTokens < 1) throw new GeniusError(`maxTokens must be a positive integer, got ${o.maxTokens}`);
  if (!(o.temperature >= 0)) throw new GeniusError(`temperature must be >= 0, got ${o.temperature}`);
  const prompt: ForesightConfig = {
    ...DEFAULT_FORESIGHT,
    ...Object.fromEntries(Object.entries(options.prompt ?? {}).filter(([, v]) => v !== undefined)),
  };
  const adapterPath = options.adapter === undefined ? null : typeof options.adapter === 'string' ? options.adapter : options.adapter.path;
  const hash = evalHash(model, o, prompt, adapterPath === null ? null : basename(adapterPath));

  const opened = options.out ? JsonlAppender.open<EvalRecord>(options.out) : undefined;
  try {
    const existing = opened?.existing ?? [];
    const foreign = existing.find((r) => r.config_hash !== hash);
    if (foreign)
      throw new GeniusError(
        `${options.out} holds results made with other settings (config ${foreign.config_hash ?? 'unknown'}, now ${hash}); use another out file or the same settings`,
      );
    const done = new Map(existing.map((r) => [String(r.id), r]));
    const todo = items.filter((q) => !done.has(String(q.id)));
    if (existing.length > 0) options.log?.(`resuming: ${existing.length} questions already in ${options.out}, ${todo.length} to go`);

    const fresh = new Map<string, EvalRecord>();
    if (todo.length > 0) {
      const adapter = typeof options.adapter === 'string' ? await Adapter.load(model, options.adapter) : options.adapter;
      if (adapter) await ctx.setAdapters([{ adapter }]);
      try {
        const concurrency = options.concurrency ?? Math.max(1, Math.floor(ctx.info.maxSequences / (o.samples + 1)));
        if (!Number.isInteger(concurrency) || concurrency < 1)
          throw new GeniusError(`concurrency must be an integer >= 1, got ${concurrency}`, { code: 'INVALID_ARGUMENT' });
        await inOrder(
          todo,
          concurrency,
          options.signal,
          (q) => gradeQuestion(ctx, model, q, o, prompt, hash, options.signal),
          (q, record) => {
            fresh.set(String(q.id), record);
            opened?.log.append(record);
            options.onProgress?.(done.size + fresh.size, items.length);
          },
        );
      } finally {
        if (adapter) await ctx.setAdapters([]);
        if (typeof options.adapter === 'string') adapter?.dispose();
      }
    }
    const records = items.map((q) => fresh.get(String(q.id)) ?? done.get(String(q.id))!);
    const correct = records.reduce((s, r) => s + r.samples.filter((x) => x.correct).length, 0);
    const interval = wilsonInterval(
      records.reduce((s, r) => s + r.accuracy, 0),
      records.length,
    );
    return { ...interval, samples: o.samples, correct, records };
  } finally {
    opened?.log.close();
  }
}

/** Samples and grades one question: one prefill, the samples forked from it. */
async function gradeQuestion(
  ctx: Context,
  model: Model,
  q: EvalItem,
  o: { temperature: number; samples: number; maxTokens: number; seed: number; lastNumber: boolean },
  prompt: ForesightConfig,
  hash: string,
  signal: AbortSignal | undefined,
): Promise<EvalRecord> {
  const tokens = promptFor(model, q.question, prompt);
  const root = await ctx.sequence(tokens);
  let branches: Sequence[] = [root];
  try {
    if (o.samples > 1) {
      branches = await root.fork(o.samples);
      void root.release(); // the engine orders it before later requests; awaiting costs a decode
    }
    const completions = await Promise.all(
      branches.map((seq, j) =>
        seq.generate({
          maxTokens: o.maxTokens,
          temperature: o.temperature,
          stop: prompt.endMarkers,
          seed: mixSeed(o.seed, q.id, j),
          signal,
        }),
      ),
    );
    const samples: EvalSample[] = completions.map((c) => {
      const answer = extractAnswer(c.text, { lastNumber: o.lastNumber })?.value ?? null;
      return { text: c.text, answer, correct: answersMatch(answer, q.gold), tokens: c.tokens.length, finish: c.finish };
    });
    const accuracy = samples.filter((s) => s.correct).length / samples.length;
    return { id: q.id, index: q.index, question: q.question, gold: q.gold, samples, accuracy, config_hash: hash };
  } finally {
    await Promise.all([root, ...branches].map((s) => s.release()));
  }
}

/** Runs `work` over the items, `concurrency` at a time, delivering results in item order. */
async function inOrder<T, R>(
  items: readonly T[],
  concurrency: number,
  signal: AbortSignal | undefined,
  work: (item: T) => Promise<R>,
  deliver: (item: T, result: R) => void,
): Promise<void> {
  const results = new Map<number, R>();
  let next = 0;
  let flushed = 0;
  const worker = async () => {
    while (next < items.length && !signal?.aborted) {
      const i = next++;
      results.set(i, await work(items[i]!));
      while (results.has(flushed)) {
        deliver(items[flushed]!, results.get(flushed)!);
        results.delete(flushed++);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (signal?.aborted) throw new GeniusError('evaluation interrupted');
}
