import { createHash } from 'node:crypto';
import { GeniusError } from '../errors.js';
import { STRATEGIES, type Strategy } from './selection.js';

/** Every knob of stepwise foresight re-sampling, with the paper/reference defaults. */
export interface ForesightConfig {
  /** Step beam size M (paper: 2). */
  beams: number;
  /** Candidate steps per beam N (paper: 4). */
  rollouts: number;
  /** Foresight steps K (paper: 4). */
  steps: number;
  /** Selection temperature tau of F = softmax(f / tau) (reference: 0.1). */
  tau: number;
  /** Temperature of the candidate steps (paper: 0.6). */
  stepTemperature: number;
  /** Temperature of the foresight rollouts and the final completion (reference: 1.0). */
  foresightTemperature: number;
  maxStepTokens: number;
  maxRolloutTokens: number;
  strategy: Strategy;
  /** Skip the rollouts of a step whose candidates are all confident (reference "light" mode). */
  light: boolean;
  /** Light mode's confidence bar on the step's own mean log-prob (reference: -0.25). */
  lightThreshold: number;
  /** Opens the assistant turn; every trajectory starts with it. */
  reasoningPrefix: string;
  /** Ends a step (reference: a newline). */
  stepSeparator: string;
  /** Stop strings that end a response (reference: "<end_of_reasoning>"). */
  endMarkers: string[];
  /** A kept step containing one of these marks its trajectory complete. */
  answerMarkers: string[];
  /** Wrap the query in the model's chat template (default) or use it raw. */
  chat: boolean;
  /** A system turn before the query, if any. */
  system?: string;
}

export const DEFAULT_FORESIGHT: ForesightConfig = {
  beams: 2,
  rollouts: 4,
  steps: 4,
  tau: 0.1,
  stepTemperature: 0.6,
  foresightTemperature: 1.0,
  maxStepTokens: 256,
  maxRolloutTokens: 1024,
  strategy: 'foresight',
  light: false,
  lightThreshold: -0.25,
  reasoningPrefix: 'The reasoning steps are:\n\n',
  stepSeparator: '\n',
  endMarkers: ['<end_of_reasoning>'],
  answerMarkers: ['\\boxed{', '<boxed>', '<end_of_reasoning>'],
  chat: true,
};

/** Fills defaults and rejects impossible settings with the flag named. */
export function resolveForesightConfig(partial: Partial<ForesightConfig>): ForesightConfig {
  const c: ForesightConfig = { ...DEFAULT_FORESIGHT, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) };
  const positiveInt = (v: number, name: string) => {
    if (!Number.isInteger(v) || v < 1) throw new GeniusError(`${name} must be a positive integer, got ${v}`);
  };
  positiveInt(c.beams, '--beams');
  positiveInt(c.rollouts, '--rollouts');
  positiveInt(c.steps, '--steps');
  positiveInt(c.maxStepTokens, '--max-step-tokens');
  positiveInt(c.maxRolloutTokens, '--max-rollout-tokens');
  if (!(c.tau > 0)) throw new GeniusError(`--tau must be positive, got ${c.tau}`);
  if (!(c.stepTemperature >= 0) || !(c.foresightTemperature >= 0)) throw new GeniusError('temperatures must be >= 0');
  if (!STRATEGIES.includes(c.strategy)) throw new GeniusError(`unknown strategy '${c.strategy}' (known: ${STRATEGIES.join(', ')})`);
  if (c.stepSeparator.length === 0) throw new GeniusError('the step separator cannot be empty');
  return c;
}

/** A short hash of everything that shapes the output: a resumed run must match it. */
export function configHash(config: ForesightConfig, extra: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify({ config, ...extra })).digest('hex').slice(0, 16);
}
