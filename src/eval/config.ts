import { z } from 'zod';
import { withoutDefaults } from '../schema.js';

/** Evaluation's settings with their defaults: the one source of them for `genius eval` and the loop's `evaluation` block. */
export const EvaluationConfigSchema = z
  .object({
    samples: z.number().int().min(1).max(1024).default(1).describe('samples per question'),
    temperature: z.number().min(0).max(100).default(0).describe('sampling temperature (0 = greedy)'),
    maxTokens: z
      .number()
      .int()
      .min(1)
      .max(1 << 20)
      .default(256)
      .describe('tokens per response'),
    concurrency: z.number().int().min(1).max(4096).default(32).describe('questions in flight'),
  })
  .strict();

/** Evaluation settings with every default filled in. */
export type EvaluationConfig = z.output<typeof EvaluationConfigSchema>;

/** The same fields, all optional and without defaults. */
export const EvaluationOverridesSchema = withoutDefaults(EvaluationConfigSchema);

/** The defaults, as the schema gives them. */
export const DEFAULT_EVALUATION: EvaluationConfig = EvaluationConfigSchema.parse({});
