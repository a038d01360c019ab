import { z } from 'zod';
import { CALIBRATIONS, LOSSES, resolveLossConfig, type LossConfig } from '../losses/index.js';
import { withoutDefaults } from '../schema.js';
import type { TrainRunOptions } from './run.js';

const count = (min: number, max: number) => z.number().int().min(min).max(max);
const finite = z.number().refine(Number.isFinite, 'must be finite');

/**
 * Preference training's settings (Genius, section 3.3) with their defaults: the one source of
 * them for `runTraining`'s callers, `genius train` and the loop config's `training` block.
 * The defaults suit this project's default mode, a LoRA adapter trained on a CPU; the paper's
 * full-weight 8B run used lr 5e-7, 1 epoch, 128 pairs per step and 1300 tokens.
 */
export const TrainingConfigSchema = z
  .object({
    loss: z.enum(LOSSES).default('aco').describe('preference loss'),
    beta: z
      .number()
      .positive()
      .refine(Number.isFinite, 'must be finite')
      .optional()
      .describe('beta (default per loss: aco/dpo/ropo 0.1, ipo 0.5, simpo 2)'),
    alpha: z.number().positive().or(z.literal(Infinity)).optional().describe('ACO calibration temperature (default 1; inf = DPO)'),
    calibration: z
      .enum(CALIBRATIONS)
      .optional()
      .describe('ACO weight: paper min(1, e^-(Al-Aw)/alpha) (default) or reference (released code) max(1, ...)'),
    simpoGamma: finite.optional().describe('SimPO margin (default 1)'),
    ropoAlpha: finite.optional().describe('ROPO sigmoid-term weight (default 0.2)'),
    ropoGamma: finite.optional().describe('ROPO log-sigmoid-term weight (default 0.1)'),
    lr: z.number().min(0).max(1).default(2e-4).describe('peak learning rate (paper: 5e-7 for full weights; LoRA needs more)'),
    epochs: count(1, 100_000).default(2).describe('passes over the pairs'),
    batchPairs: count(1, 4096).default(8).describe('pairs per forward/backward graph'),
    gradAccum: count(1, 1 << 16)
      .default(1)
      .describe('graphs per optimizer step (paper: 128 pairs per step in all)'),
    microBatchTokens: count(16, 1 << 24)
      .default(2048)
      .describe('token budget of one graph'),
    loraRank: count(1, 4096).default(8).describe('LoRA rank'),
    loraAlpha: z.number().positive().refine(Number.isFinite, 'must be finite').optional().describe('LoRA alpha (default 2 * rank)'),
    loraTargets: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('modules (attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down or q_proj,...; default all)'),
    full: z.boolean().default(false).describe('train every weight (F32) instead of a LoRA adapter'),
    maxSeqLen: count(2, 1 << 20)
      .default(1300)
      .describe('prompt + response tokens (paper: 1300)'),
    truncation: z.enum(['truncate', 'drop']).default('truncate').describe('over-long pairs: cut the responses, or drop the pair'),
    reference: z
      .string()
      .min(1)
      .default('trainer')
      .describe(
        "reference log-probs from: trainer (its own forward: the policy's arithmetic, batch-independent, so fresh runs are bit-identical), engine (batched scoring; results can depend on batching), or onnx:PATH",
      ),
    sftWeight: z
      .number()
      .min(0)
      .refine(Number.isFinite, 'must be finite')
      .default(0)
      .describe(
        'weight of a mean per-token NLL term on the chosen responses added to a preference loss (RPO-style, against the chosen log-prob falling; 0: off)',
      ),
    warmupRatio: z.number().min(0).max(1).default(0.1).describe('linear warmup share of the steps'),
    weightDecay: z.number().min(0).max(1).default(0).describe('AdamW weight decay'),
    maxGradNorm: z.number().min(0).refine(Number.isFinite, 'must be finite').default(1).describe('clip the gradient norm (0: off)'),
    checkpointEvery: count(1, Number.MAX_SAFE_INTEGER).default(50).describe('optimizer steps between checkpoints'),
    backend: z.enum(['cpu', 'cuda']).default('cpu').describe('training backend'),
  })
  .strict();

/** Training settings with every default filled in. */
export type TrainingConfig = z.output<typeof TrainingConfigSchema>;

/** The same fields, all optional and without defaults (a layer over another config). */
export const TrainingOverridesSchema = withoutDefaults(TrainingConfigSchema);

/** The defaults, as the schema gives them. */
export const DEFAULT_TRAINING: TrainingConfig = TrainingConfigSchema.parse({});

/** The loss settings of a training config, with the loss's own defaults for what it leaves out. */
export function lossOf(
  t: Pick<TrainingConfig, 'loss' | 'beta' | 'alpha' | 'calibration' | 'simpoGamma' | 'ropoAlpha' | 'ropoGamma'>,
): LossConfig {
  return resolveLossConfig(t.loss, {
    beta: t.beta,
    alpha: t.alpha,
    calibration: t.calibration,
    simpoGamma: t.simpoGamma,
    ropoAlpha: t.ropoAlpha,
    ropoGamma: t.ropoGamma,
  });
}

/** A training config as `runTraining` options (everything but the files, seed, threads and prompt). */
export function trainRunSettings(
  t: TrainingConfig,
): Omit<
  TrainRunOptions,
  'model' | 'adapter' | 'pairs' | 'out' | 'seed' | 'threads' | 'prompt' | 'round' | 'signal' | 'onStep' | 'stopAfterSteps'
> {
  return {
    loss: lossOf(t),
    lr: t.lr,
    epochs: t.epochs,
    batchPairs: t.batchPairs,
    gradAccum: t.gradAccum,
    microBatchTokens: t.microBatchTokens,
    full: t.full,
    lora: {
      rank: t.loraRank,
      ...(t.loraAlpha !== undefined ? { alpha: t.loraAlpha } : {}),
      ...(t.loraTargets ? { targets: t.loraTargets } : {}),
    },
    maxSeqLen: t.maxSeqLen,
    truncation: t.truncation,
    reference: t.reference,
    sftWeight: t.sftWeight,
    warmupRatio: t.warmupRatio,
    weightDecay: t.weightDecay,
    maxGradNorm: t.maxGradNorm,
    checkpointEvery: t.checkpointEvery,
    backend: t.backend,
  };
}
