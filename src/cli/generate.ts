import { Adapter, Context } from '../engine/context.js';
import { Model } from '../engine/model.js';
import { GeniusError } from '../errors.js';

export interface GenerateCommand {
  model: string;
  adapter?: string;
  prompt: string;
  chat?: boolean;
  n: number;
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  stop: string[];
  contextSize?: number;
  json?: boolean;
}

/** Prompt tokens as Genius builds them: optionally chat-templated with the assistant turn open. */
export function promptTokens(model: Model, prompt: string, chat: boolean): number[] {
  const text = chat ? model.applyChatTemplate([{ role: 'user', content: prompt }], { addAssistant: true }) : prompt;
  return model.tokenize(text, { addSpecial: true, parseSpecial: chat });
}

/** `genius generate`: n completions of one prompt, forked from one prefill. */
export async function runGenerate(o: GenerateCommand): Promise<void> {
  if (o.n < 1) throw new GeniusError('--n must be at least 1');
  const model = await Model.load(o.model);
  let ctx: Context | undefined;
  try {
    const tokens = promptTokens(model, o.prompt, o.chat ?? false);
    const contextSize = o.contextSize ?? Math.min(model.info.contextLength, tokens.length + o.n * o.maxTokens + 16);
    ctx = await Context.create(model, { contextSize, maxSequences: o.n + 1 });
    if (o.adapter) await ctx.setAdapters([{ adapter: await Adapter.load(model, o.adapter) }]);
    const root = await ctx.sequence(tokens);
    const branches = await root.fork(o.n);
    const completions = await Promise.all(
      branches.map((b, i) => b.generate({ maxTokens: o.maxTokens, temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed + i, stop: o.stop })),
    );
    for (const c of completions) {
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ text: c.text, tokens: c.tokens, pieces: c.pieces, logprobs: c.rawLogprobs, sampleLogprobs: c.sampleLogprobs, finish: c.finish })}\n`);
      } else {
        process.stdout.write(`${c.text}\n--- (${c.tokens.length} tokens, ${c.finish})\n`);
      }
    }
  } finally {
    ctx?.dispose();
    model.dispose();
  }
}

export interface ScoreCommand {
  model: string;
  text?: string;
  tokens?: string;
  flashAttn: 'on' | 'off' | 'auto';
  kvType: 'f16' | 'f32';
  json?: boolean;
}

/** `genius score`: the log-prob of every token after the first, given its prefix. */
export async function runScore(o: ScoreCommand): Promise<void> {
  if ((o.text === undefined) === (o.tokens === undefined)) throw new GeniusError('give exactly one of --text or --tokens');
  const model = await Model.load(o.model);
  let ctx: Context | undefined;
  try {
    const tokens = o.text !== undefined ? model.tokenize(o.text, { addSpecial: true }) : parseTokenList(o.tokens!);
    if (tokens.length < 2) throw new GeniusError('need at least two tokens to score');
    ctx = await Context.create(model, { contextSize: tokens.length + 8, maxSequences: 1, flashAttention: o.flashAttn, kvType: o.kvType });
    const logprobs = await ctx.score(tokens.slice(0, 1), tokens.slice(1));
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ tokens, logprobs, sum: logprobs.reduce((a, b) => a + b, 0) })}\n`);
    } else {
      for (let i = 0; i < logprobs.length; i++) {
        process.stdout.write(`${String(tokens[i + 1]).padStart(8)} ${JSON.stringify(model.tokenPiece(tokens[i + 1]!)).padEnd(16)} ${logprobs[i]!.toFixed(6)}\n`);
      }
    }
  } finally {
    ctx?.dispose();
    model.dispose();
  }
}

function parseTokenList(s: string): number[] {
  const parts = s.trim().split(/[\s,]+/).filter(Boolean);
  const ids = parts.map(Number);
  const bad = parts.find((p, i) => !Number.isInteger(ids[i]));
  if (bad !== undefined) throw new GeniusError(`--tokens must be integers, got '${bad}'`);
  return ids;
}
