import { z } from 'zod';
import { withoutDefaults } from '../schema.js';
import type { RejectedMode } from './build.js';

/** How the rejected step of a pair is drawn: categorical from F without the chosen (paper), uniform (released code), or the lowest-scored (the paper's "w/o sampling"). */
export const REJECTED_MODES = ['categorical', 'uniform', 'lowest'] as const satisfies readonly RejectedMode[];

/** Pair construction's settings (Genius, section 3.2) with their defaults: the library's, `genius pairs`' and the loop's. */
export const PairsConfigSchema = z
  .object({
    rejected: z
      .enum(REJECTED_MODES)
      .default('categorical')
      .describe(
        'categorical: re-sample from F without the chosen (paper); uniform: the released code; lowest: the lowest-scored (the paper\'s "w/o sampling")',
      ),
    maxChars: z.number().int().min(1).default(10_000).describe('leave out trajectories this long or longer (as the reference)'),
    keepIdentical: z
      .boolean()
      .default(false)
      .describe("keep pairs whose chosen and rejected responses are identical (the authors' code does; they carry no preference)"),
  })
  .strict();

/** Pair settings with every default filled in. */
export type PairsConfig = z.output<typeof PairsConfigSchema>;

/** The same fields, all optional and without defaults. */
export const PairsOverridesSchema = withoutDefaults(PairsConfigSchema);

/** The defaults, as the schema gives them. */
export const DEFAULT_PAIRS: PairsConfig = PairsConfigSchema.parse({});
