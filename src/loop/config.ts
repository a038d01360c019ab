import { existsSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { GeniusError } from '../errors.js';
import { EvaluationOverridesSchema } from '../eval/config.js';
import { ForesightOverridesSchema, SamplingRunSchema } from '../foresight/config.js';
import { PairsConfigSchema } from '../pairs/config.js';
import { parseSettings, withoutDefaults } from '../schema.js';
import { TrainingConfigSchema } from '../train/config.js';

const int = (min: number) => z.number().int().min(min);

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
    builtin: z
      .object({ queries: int(1).default(48), evalQuestions: int(1).default(100), seed: int(0).default(2026) })
      .strict()
      .prefault({}),
    /** Any foresight setting (ForesightConfigSchema) plus `concurrency`; unset ones come from the built-in preset (model: builtin) or the defaults. */
    sampling: ForesightOverridesSchema.extend(withoutDefaults(SamplingRunSchema).shape).prefault({}),
    /** Pair construction (PairsConfigSchema). */
    pairs: PairsConfigSchema.prefault({}),
    /** Preference training (TrainingConfigSchema). */
    training: TrainingConfigSchema.prefault({}),
    /** Evaluation (EvaluationConfigSchema; its concurrency is the loop's own); unset fields come from the built-in preset or the defaults. */
    evaluation: EvaluationOverridesSchema.omit({ concurrency: true }).prefault({}),
    /** CPU threads for every stage (0: all cores). */
    threads: int(0).default(0),
  })
  .strict();

/** A validated run config, defaults filled in. */
export type LoopConfig = z.infer<typeof LoopConfigSchema>;
/** A run config as written (defaults may be left out). */
export type LoopConfigInput = z.input<typeof LoopConfigSchema>;

/** Validates a config object; errors name each bad field by its path. */
export function parseLoopConfig(input: unknown, source = 'config'): LoopConfig {
  return parseSettings(LoopConfigSchema, input, source);
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
