import type { Completion, Context, Sequence } from '../engine/context.js';
import type { Model } from '../engine/model.js';
import { GeniusError } from '../errors.js';
import type { ForesightConfig, ScoreSpan } from './config.js';
import type { ExplorationRecord } from './records.js';
import { advantages, mixSeed, Rng, selectBeams } from './selection.js';

/** One unlabeled query as the sampler sees it. */
export interface Query {
  id: string | number;
  index: number;
  question: string;
  groundTruth?: unknown;
}

interface Beam {
  seq: Sequence;
  /** Token ids the sequence holds (prompt and kept steps). */
  tokens: number[];
  /** Trajectory text so far: the reasoning prefix and the kept steps, each ending in the separator. */
  text: string;
  /** Q value: the foresight score of the step that made this beam. */
  q: number;
}

/** A beam whose kept step ended the response: it takes no further step, rollout or final completion. */
interface FinishedBeam {
  /** Response ids (after the prompt), ending with EOS/EOT. */
  ids: number[];
  text: string;
  q: number;
  /** The step (0-based) whose candidate ended it. */
  step: number;
}

interface Candidate {
  beam: number;
  seq: Sequence;
  tokens: number[];
  step: Completion;
  stepText: string;
  stepScore: number;
  /** The step itself ended the response (EOS/EOT or an end marker): no rollout follows it. */
  terminal: boolean;
}

/** Mean log-prob; an empty completion (only when the context is full) gets a score F ignores. */
const EMPTY_SCORE = -1e9;
const mean = (xs: readonly number[]) => (xs.length === 0 ? EMPTY_SCORE : xs.reduce((a, b) => a + b, 0) / xs.length);

/** A candidate's foresight score: the mean raw log-prob of its rollout, or of its step and rollout together. */
function foresightScore(step: Completion, rollout: Completion, span: ScoreSpan): number {
  return span === 'rollout' ? mean(rollout.rawLogprobs) : mean([...step.rawLogprobs, ...rollout.rawLogprobs]);
}

/** The token that closes a turn: EOT where the vocabulary has one, else EOS (-1: neither). */
export function endOfTurnToken(model: Model): number {
  const { eot, eos } = model.info.specialTokens;
  return eot >= 0 ? eot : eos;
}

/**
 * Whether a completion ended the response: an end-of-generation token, or a stop on one of the
 * end markers (rather than on the step separator). Length and context cuts are not an end.
 */
function endedResponse(g: Completion, endMarkers: readonly string[]): boolean {
  if (g.finish === 'eos') return true;
  if (g.finish !== 'stop' || endMarkers.length === 0) return false;
  const tail = g.pieces.join('').slice(g.text.length);
  return endMarkers.some((m) => tail.startsWith(m));
}

/**
 * The ids a completion adds to a trajectory: its tokens, plus the end-of-turn token where it ended
 * on an end marker (an EOS/EOT it sampled is already among its tokens), so the decision to stop is
 * part of what training sees.
 */
function closedIds(g: Completion, ended: boolean, eot: number): number[] {
  return ended && g.finish !== 'eos' && eot >= 0 ? [...g.tokens, eot] : g.tokens;
}

/** The prompt tokens: chat-templated query (assistant turn open) followed by the reasoning prefix. */
export function promptFor(model: Model, question: string, config: ForesightConfig): number[] {
  if (!config.chat) return model.tokenize(question + config.reasoningPrefix, { addSpecial: true });
  if (config.chatTemplate === undefined && model.info.chatTemplate === null) {
    throw new GeniusError(
      'the model has no chat template: name one (chatTemplate, --chat-template NAME|FILE, e.g. chatml or llama3) or use raw text (chat: false, --no-chat)',
    );
  }
  const messages = [...(config.system ? [{ role: 'system', content: config.system }] : []), { role: 'user', content: question }];
  const text =
    model.applyChatTemplate(messages, {
      addAssistant: true,
      ...(config.chatTemplate !== undefined ? { template: config.chatTemplate } : {}),
    }) + config.reasoningPrefix;
  // Templates that write BOS themselves (e.g. Llama 3's) must not get a second one.
  const bos = model.info.specialTokens.bos;
  const templated = bos >= 0 && text.startsWith(model.tokenPiece(bos, { special: true }));
  return model.tokenize(text, { addSpecial: !templated, parseSpecial: true });
}

/** Sees every foresight rollout: the tokens it continued from, its tokens, and its score. */
export type ForesightObserver = (e: {
  step: number;
  candidate: number;
  context: number[];
  /** The candidate step's generated ids (the end of `context`, before any separator added after a length cut). */
  stepTokens: number[];
  rollout: number[];
  logprobs: number[];
  score: number;
}) => void;

/** Options of `exploreQuery` beyond the foresight settings. */
export interface ExploreOptions {
  observe?: ForesightObserver;
  /**
   * Fork shared prefixes (default). false re-prefills every request from its full token list:
   * the same records, the way a port without prefix caching works (the benchmark's baseline).
   */
  prefixSharing?: boolean;
}

/**
 * Stepwise foresight re-sampling of one query (Genius, section 3.1): K steps of
 * (N candidate steps per beam -> one foresight rollout per candidate -> F = softmax(f / tau) ->
 * M new beams), then a final completion of every beam. Candidates fork from their beam and
 * rollouts from their candidate, so no prefix is evaluated twice.
 *
 * Cost per step: M*N steps of up to maxStepTokens plus M*N rollouts of up to maxRolloutTokens,
 * all batched with whatever else the context is running.
 */
export async function exploreQuery(
  ctx: Context,
  model: Model,
  query: Query,
  config: ForesightConfig,
  seed: number,
  options: ExploreOptions = {},
): Promise<ExplorationRecord> {
  const { observe, prefixSharing = true } = options;
  const branch = (from: { seq: Sequence; tokens: number[] }, n: number): Promise<Sequence[]> =>
    prefixSharing ? from.seq.fork(n) : Promise.all(Array.from({ length: n }, () => ctx.sequence(from.tokens)));
  const t0 = performance.now();
  const { beams: M, rollouts: N, steps: K } = config;
  const qSeed = mixSeed(seed, query.id);
  const rng = new Rng(mixSeed(qSeed, 'select'));
  const prompt = promptFor(model, query.question, config);
  const capacity = ctx.info.sequenceContextSize;
  if (prompt.length + K + 1 >= capacity) {
    throw new GeniusError(
      `query ${query.id}: prompt of ${prompt.length} tokens does not fit the context (${capacity} tokens per sequence)`,
    );
  }
  const separatorTokens = model.tokenize(config.stepSeparator);
  const eot = endOfTurnToken(model);
  const live = new Set<Sequence>();
  let generated = 0;
  const stopAt = [config.stepSeparator, ...config.endMarkers];
  const responseOf = (tokens: readonly number[]) => tokens.slice(prompt.length);

  // Releases are not awaited: each await would cost the query a whole decode cycle, and the
  // engine orders a release before any later request anyway. `live` catches the rest on errors.
  const release = (seq: Sequence) => {
    live.delete(seq);
    void seq.release();
  };
  const root = await ctx.sequence(prompt);
  let beams: Beam[] = (await branch({ seq: root, tokens: prompt }, M)).map((seq) => ({
    seq,
    tokens: prompt,
    text: config.reasoningPrefix,
    q: 0,
  }));
  void root.release();
  const finished: FinishedBeam[] = [];

  const pools = {
    traj: [] as string[][],
    step: [] as string[][],
    prob: [] as number[][],
    adv: [] as number[][],
    stepProb: [] as number[][],
    ids: [] as number[][],
    cand: [] as string[][],
    beam: [] as number[][],
    tokens: [] as number[][][],
    ended: [] as boolean[][],
    terminal: [] as boolean[][],
  };
  let complete = false;
  for (const b of beams) live.add(b.seq);
  try {
    for (let k = 0; k < K && beams.length > 0; k++) {
      // 1. Step rollouts: N candidate next steps from every live beam.
      const forks = await Promise.all(beams.map((b) => branch(b, N)));
      for (const b of beams) release(b.seq);
      const candSeqs = forks.flatMap((kids, b) => kids.map((seq) => ({ beam: b, seq })));
      for (const c of candSeqs) live.add(c.seq);
      const candidates: Candidate[] = await Promise.all(
        candSeqs.map(async ({ beam, seq }, i) => {
          const step = await seq.generate({
            maxTokens: config.maxStepTokens,
            temperature: config.stepTemperature,
            stop: stopAt,
            seed: mixSeed(qSeed, k, i, 'step'),
          });
          generated += step.tokens.length;
          const terminal = endedResponse(step, config.endMarkers);
          // A step cut by length gets the separator, so the next step starts on a new line; a step
          // that ended the response gets nothing after its end.
          const extra = terminal ? closedIds(step, true, eot).slice(step.tokens.length) : step.finish === 'stop' ? [] : separatorTokens;
          if (extra.length > 0 && !terminal) await seq.extend(extra);
          const tokens = [...beams[beam]!.tokens, ...step.tokens, ...extra];
          return { beam, seq, tokens, step, stepText: step.text.trim(), stepScore: mean(step.rawLogprobs), terminal };
        }),
      );

      // 2. Foresight: roll every open candidate out to the end; its mean log-prob is the step's value.
      const stepScores = candidates.map((c) => c.stepScore);
      const skip = config.strategy === 'no-foresight' || (config.light && Math.min(...stepScores) > config.lightThreshold);
      const rollouts = await Promise.all(candidates.map((c, i) => (skip || c.terminal ? undefined : rollout(c, i, k))));
      // A candidate with no rollout tokens (it ended the response, or the rollout was skipped) is scored by its step.
      const f = candidates.map((c, i) =>
        rollouts[i] && rollouts[i]!.tokens.length > 0 ? foresightScore(c.step, rollouts[i]!, config.scoreSpan) : c.stepScore,
      );
      if (observe)
        rollouts.forEach(
          (r, i) =>
            r &&
            observe({
              step: k,
              candidate: i,
              context: candidates[i]!.tokens,
              stepTokens: candidates[i]!.step.tokens,
              rollout: r.tokens,
              logprobs: r.rawLogprobs,
              score: f[i]!,
            }),
        );
      const beamOf = candidates.map((c) => c.beam);
      const adv = advantages(
        f,
        beamOf,
        beams.map((b) => b.q),
      );

      // 3-4. F = softmax(f / tau); as many new beams as were live, drawn from it (or per strategy).
      const picked = selectBeams(config.strategy, f, beams.length, config.tau, rng);

      const rolloutEnded = rollouts.map((r) => (r ? endedResponse(r, config.endMarkers) : false));
      pools.traj.push(
        candidates.map((c, i) =>
          c.terminal
            ? `${beams[c.beam]!.text}${c.stepText}`
            : `${beams[c.beam]!.text}${c.stepText}${config.stepSeparator}${rollouts[i]?.text.trim() ?? ''}`,
        ),
      );
      pools.step.push(candidates.map((_, i) => rollouts[i]?.text.trim() ?? ''));
      pools.prob.push(f);
      pools.adv.push(adv);
      pools.stepProb.push(stepScores);
      pools.ids.push(picked);
      pools.cand.push(candidates.map((c) => c.stepText));
      pools.beam.push(beamOf);
      pools.tokens.push(
        candidates.map((c, i) => [...responseOf(c.tokens), ...(rollouts[i] ? closedIds(rollouts[i]!, rolloutEnded[i]!, eot) : [])]),
      );
      pools.ended.push(candidates.map((c, i) => c.terminal || rolloutEnded[i]!));
      pools.terminal.push(candidates.map((c) => c.terminal));

      // 5-6. Kept candidates become beams (a candidate kept twice is forked); one that ended the
      // response is a finished beam; the rest are freed.
      const next: Beam[] = [];
      const used = new Set<number>();
      for (const i of picked) {
        const c = candidates[i]!;
        const text = `${beams[c.beam]!.text}${c.stepText}${c.terminal ? '' : config.stepSeparator}`;
        if (config.answerMarkers.some((m) => c.step.text.includes(m)) || c.terminal) complete = true;
        if (c.terminal) {
          finished.push({ ids: responseOf(c.tokens), text, q: f[i]!, step: k });
          continue;
        }
        const seq = used.has(i) ? (await branch(c, 1))[0]! : c.seq;
        used.add(i);
        live.add(seq);
        next.push({ seq, tokens: c.tokens, text, q: f[i]! });
      }
      for (const [i, c] of candidates.entries()) if (!used.has(i)) release(c.seq);
      beams = next;
    }

    // Final completion of every beam still open; finished beams stand as they ended.
    const finals = await Promise.all(
      beams.map(async (b, j) => {
        const g = await b.seq.generate({
          maxTokens: config.maxRolloutTokens,
          temperature: config.foresightTemperature,
          stop: config.endMarkers,
          seed: mixSeed(qSeed, K, j, 'final'),
        });
        generated += g.tokens.length;
        return g;
      }),
    );
    const last = [
      ...finished.map((b) => ({ text: b.text, ids: b.ids, f: b.q, q: b.q, finishedAt: b.step as number | null })),
      ...beams.map((b, j) => {
        const g = finals[j]!;
        return {
          text: `${b.text}${g.text.trim()}`,
          ids: [...responseOf(b.tokens), ...closedIds(g, endedResponse(g, config.endMarkers), eot)],
          f: g.tokens.length > 0 ? mean(g.rawLogprobs) : b.q,
          q: b.q,
          finishedAt: null,
        };
      }),
    ];
    const fFinal = last.map((b) => b.f);
    const pick = selectBeams(config.strategy, fFinal, 1, config.tau, rng)[0]!;
    pools.traj.push([]);
    pools.prob.push(fFinal);
    pools.adv.push(last.map((b) => b.f - b.q));
    pools.ids.push(last.map(() => pick));
    return {
      id: query.id,
      question: query.question,
      ground_truth: query.groundTruth ?? null,
      response: last[pick]!.text,
      response_all_beams: last.map((b) => b.text),
      foresight_steps: K,
      traj_pool: pools.traj,
      step_pool: pools.step,
      prob_pool: pools.prob,
      adv_pool: pools.adv,
      step_prob: pools.stepProb,
      sample_id_pool: pools.ids,
      index: query.index,
      candidate_pool: pools.cand,
      beam_pool: pools.beam,
      prompt_ids: prompt,
      token_pool: pools.tokens,
      ended_pool: pools.ended,
      terminal_pool: pools.terminal,
      response_ids: last[pick]!.ids,
      response_all_beams_ids: last.map((b) => b.ids),
      beam_finished_at: last.map((b) => b.finishedAt),
      complete,
      tokens: { prompt: prompt.length, generated },
      seconds: Number(((performance.now() - t0) / 1000).toFixed(3)),
      seed,
    };
  } finally {
    for (const s of [...live]) release(s);
  }

  /** One foresight rollout from candidate `c`, rewound afterwards (or in a fresh branch without prefix sharing). */
  async function rollout(c: Candidate, i: number, k: number): Promise<Completion> {
    const params = {
      maxTokens: config.maxRolloutTokens,
      temperature: config.foresightTemperature,
      stop: config.endMarkers,
      seed: mixSeed(qSeed, k, i, 'foresight'),
    };
    let g: Completion;
    if (prefixSharing) {
      // Roll out in the candidate itself, then cut the rollout off: no copy, no extra slot.
      const mark = c.seq.length;
      g = await c.seq.generate(params);
      await c.seq.rewind(mark);
    } else {
      const [r] = await branch(c, 1);
      live.add(r!);
      try {
        g = await r!.generate(params);
      } finally {
        release(r!);
      }
    }
    generated += g.tokens.length;
    return g;
  }
}
