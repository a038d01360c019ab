import { existsSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { GeniusError } from '../errors.js';
import { STRATEGIES } from '../foresight/selection.js';
import { CALIBRATIONS, LOSSES } from '../losses/index.js';

const int = (min: number) => z.number().int().min(min);
const positive = z.number().positive();

/**
 * One self-training run (Genius, Algorithm 1) as a config file or object. `builtin` stands for
 * the project's own model, unlabeled queries and labeled eval set.
 */
export const LoopConfigSchema = z
  .object({
    /** GGUF model, or `builtin` (the committed tiny reasoner). */
    model: z.string().default('builtin'),
    /** LoRA adapter the first round starts from. */
    adapter: z.string().optional(),
    /** Unlabeled queries JSONL ({question} per line; any answer field is ignored), or `builtin`. */
    queries: z.string().default('builtin'),
    /** Labeled eval set (GSM8K-format JSONL or the built-in task's), `builtin`, or null for none. */
    eval: z.string().nullable().default('builtin'),
    /** Run directory: every artifact, metrics, the report. */
    out: z.string(),
    rounds: int(1).default(2),
    /** Queries explored per round (default: all; rounds take consecutive slices, wrapping). */
    queriesPerRound: int(1).optional(),
    seed: int(0).default(0),
    /** Built-in data sizes. */
    builtin: z.object({ queries: int(1).default(48), evalQuestions: int(1).default(100), seed: int(0).default(2026) }).strict().default({ queries: 48, evalQuestions: 100, seed: 2026 }),
    sampling: z
      .object({
        beams: int(1),
        rollouts: int(1),
        steps: int(1),
        tau: positive,
        stepTemperature: z.number().min(0),
        foresightTemperature: z.number().min(0),
        maxStepTokens: int(1),
        maxRolloutTokens: int(1),
        strategy: z.enum(STRATEGIES),
        light: z.boolean(),
        concurrency: int(1),
        system: z.string(),
        chat: z.boolean(),
        reasoningPrefix: z.string(),
      })
      .partial()
      .strict()
      .default({}),
    pairs: z.object({ rejected: z.enum(['categorical', 'uniform']), maxChars: int(1) }).partial().strict().default({}),
    training: z
      .object({
        loss: z.enum(LOSSES),
        beta: positive,
        alpha: positive,
        calibration: z.enum(CALIBRATIONS),
        simpoGamma: z.number(),
        ropoAlpha: z.number(),
        ropoGamma: z.number(),
        lr: z.number().min(0),
        epochs: int(1),
        batchPairs: int(1),
        gradAccum: int(1),
        microBatchTokens: int(16),
        loraRank: int(1),
        loraAlpha: positive,
        loraTargets: z.array(z.string()).min(1),
        full: z.boolean(),
        maxSeqLen: int(2),
        warmupRatio: z.number().min(0).max(1),
        weightDecay: z.number().min(0).max(1),
        maxGradNorm: z.number().min(0),
        reference: z.string(),
        backend: z.enum(['cpu', 'cuda']),
      })
      .partial()
      .strict()
      .default({}),
    evaluation: z.object({ samples: int(1), temperature: z.number().min(0), maxTokens: int(1) }).partial().strict().default({}),
    /** CPU threads for every stage (0: all cores). */
    threads: int(0).default(0),
  })
  .strict();

export type LoopConfig = z.infer<typeof LoopConfigSchema>;
export type LoopConfigInput = z.input<typeof LoopConfigSchema>;

/** Validates a config object; errors name each bad field by its path. */
export function parseLoopConfig(input: unknown, source = 'config'): LoopConfig {
  const r = LoopConfigSchema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  // One line: the CLI prints an error's first line, and the field is the point of the message.
  throw new GeniusError(`invalid ${source}: ${issues.join('; ')}`, { code: 'INVALID_ARGUMENT' });
}

/** Reads a JSON or YAML config file (by extension; YAML also parses JSON) and validates it. */
export function readLoopConfig(path: string, overrides: Record<string, unknown> = {}): LoopConfig {
  if (!existsSync(path)) throw new GeniusError(`config file not found: ${path}`);
  const text = readFileSync(path, 'utf8');
  let raw: unknown;
  try {
    raw = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new GeniusError(`cannot parse ${path}: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new GeniusError(`${path} must hold an object of settings`);
  return parseLoopConfig({ ...(raw as Record<string, unknown>), ...overrides }, path);
}
