import { createHash } from 'node:crypto';
import { z } from 'zod';
import { parseSettings, withoutDefaults } from '../schema.js';
import { STRATEGIES } from './selection.js';

const count = (max: number) => z.number().int().min(1).max(max);

/**
 * Which tokens a foresight score averages: `rollout`, the rollout after the candidate step (the
 * paper); `step+rollout`, the candidate step's own tokens too, so a step the model itself finds
 * unlikely (a wrong digit sampled at the step temperature) scores lower even when the rollout
 * carries on from it confidently. That also favours the model's likeliest step, which greedy
 * decoding takes anyway: check the probe's `aurocAgainstLikelierStep` before choosing it.
 */
export const SCORE_SPANS = ['rollout', 'step+rollout'] as const;
/** One of SCORE_SPANS. */
export type ScoreSpan = (typeof SCORE_SPANS)[number];

/**
 * Every knob of stepwise foresight re-sampling (Genius, section 3.1), with the paper's or the
 * released code's defaults: the one source of these defaults for the library, `genius sample`
 * and the loop config's `sampling` block.
 */
export const ForesightConfigSchema = z
  .object({
    beams: count(256).default(2).describe('step beam size M (paper: 2)'),
    rollouts: count(256).default(4).describe('candidate steps per beam N (paper: 4)'),
    steps: count(1024).default(4).describe('foresight steps K (paper: 4)'),
    tau: z.number().positive().max(1e6).default(0.1).describe('selection temperature tau of F = softmax(f / tau) (reference: 0.1)'),
    stepTemperature: z.number().min(0).max(100).default(0.6).describe('temperature of the candidate steps (paper: 0.6)'),
    foresightTemperature: z
      .number()
      .min(0)
      .max(100)
      .default(1.0)
      .describe('temperature of the foresight rollouts and final completions (reference: 1.0)'),
    maxStepTokens: count(1 << 20)
      .default(256)
      .describe('tokens per candidate step'),
    maxRolloutTokens: count(1 << 20)
      .default(1024)
      .describe('tokens per foresight rollout / final completion'),
    scoreSpan: z
      .enum(SCORE_SPANS)
      .default('rollout')
      .describe('tokens the foresight score averages: the rollout (the paper) or the candidate step and its rollout'),
    strategy: z
      .enum(STRATEGIES)
      .default('foresight')
      .describe('beam selection (greedy: the paper\'s "w/o sampling"; no-foresight: its "w/o foresight")'),
    light: z.boolean().default(false).describe('skip the rollouts of a step whose candidates are all confident (reference "light" mode)'),
    lightThreshold: z
      .number()
      .max(0)
      .default(-0.25)
      .describe("light mode's confidence bar on a step's own mean log-prob (reference: -0.25)"),
    reasoningPrefix: z
      .string()
      .default('The reasoning steps are:\n\n')
      .describe('opens the assistant turn; every trajectory starts with it'),
    stepSeparator: z.string().min(1, 'the step separator cannot be empty').default('\n').describe('ends a step (reference: a newline)'),
    endMarkers: z
      .array(z.string().min(1))
      .default(['<end_of_reasoning>'])
      .describe('stop strings that end a response (reference: "<end_of_reasoning>")'),
    answerMarkers: z
      .array(z.string().min(1))
      .default(['\\boxed{', '<boxed>', '<end_of_reasoning>'])
      .describe('a kept step containing one of these marks its trajectory complete'),
    chat: z.boolean().default(true).describe('wrap the query in the chat template (default) or use it raw'),
    chatTemplate: z
      .string()
      .min(1)
      .optional()
      .describe("chat template: a llama.cpp built-in name (chatml, llama3, ...) or the template text (default: the model's own)"),
    system: z.string().optional().describe('a system turn before the query'),
  })
  .strict();

/** Foresight settings with every default filled in. */
export type ForesightConfig = z.output<typeof ForesightConfigSchema>;

/** The same fields, all optional and without defaults (a layer over another config). */
export const ForesightOverridesSchema = withoutDefaults(ForesightConfigSchema);

/** How a sampling run schedules its queries (not part of the records' config hash). */
export const SamplingRunSchema = z
  .object({
    concurrency: count(4096).default(8).describe('queries in flight (they share every decode batch)'),
  })
  .strict();

/** The defaults, as the schema gives them. */
export const DEFAULT_FORESIGHT: ForesightConfig = ForesightConfigSchema.parse({});

/** Fills defaults and rejects impossible settings, naming the field. Undefined fields take the default. */
export function resolveForesightConfig(partial: Partial<ForesightConfig>): ForesightConfig {
  const set = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  return parseSettings(ForesightConfigSchema, set, 'foresight settings');
}

/** Settings added after files were first written, with the default that reproduces the older behaviour. */
const ADDED_LATER: Partial<ForesightConfig> = { scoreSpan: 'rollout' };

/** A short hash of everything that shapes the output: a resumed run must match it. */
export function configHash(config: ForesightConfig, extra: Record<string, unknown>): string {
  // A setting added later is left out while at that default, so older files still resume.
  const hashed = Object.fromEntries(
    Object.entries(config).filter(([key, value]) => !(key in ADDED_LATER) || ADDED_LATER[key as keyof ForesightConfig] !== value),
  );
  return createHash('sha256')
    .update(JSON.stringify({ config: hashed, ...extra }))
    .digest('hex')
    .slice(0, 16);
}
