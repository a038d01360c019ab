import { GeniusError } from '../errors.js';
import type { Context } from '../engine/context.js';
import { EngineScorer, type Scorer } from '../engine/scorer.js';
import { OnnxScorer, type OnnxScorerOptions } from './scorer.js';

/** What `scorerFromSpec` needs besides the spec: the engine context for `engine`, ONNX options for `onnx:PATH`. */
export interface ScorerSpecOptions extends OnnxScorerOptions {
  /** The engine context `engine` scores with; its model's vocabulary is also what an ONNX model must match. */
  context?: Context;
}

/**
 * The scorer a `--reference` value names: `engine` (or nothing) is the rollout engine over
 * `options.context`; `onnx:PATH` is ONNX Runtime on an ONNX decoder (checked against the
 * context model's vocabulary unless `vocabSize` says otherwise). Training takes its reference
 * log-probs from it, so the policy engine and an independent one can be set against each other.
 */
export async function scorerFromSpec(spec: string | undefined, options: ScorerSpecOptions = {}): Promise<Scorer> {
  const { context, ...onnxOptions } = options;
  if (spec === undefined || spec === '' || spec === 'engine') {
    if (!context) throw new GeniusError('the engine scorer needs a context');
    return new EngineScorer(context);
  }
  if (spec.startsWith('onnx:')) {
    const path = spec.slice('onnx:'.length);
    if (path === '') throw new GeniusError('onnx: needs a path, as in onnx:model.onnx');
    const vocabSize = onnxOptions.vocabSize ?? (context && !context.model.disposed ? context.model.info.vocabSize : undefined);
    return OnnxScorer.create(path, { ...onnxOptions, ...(vocabSize !== undefined ? { vocabSize } : {}) });
  }
  throw new GeniusError(`unknown scorer '${spec}' (use engine or onnx:PATH)`);
}
