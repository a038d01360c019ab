/**
 * genius: label-free self-training of LLM reasoning (Genius, Xu et al., ACL 2025) on a native
 * llama.cpp/ggml engine. The public API grows with the engine, foresight sampler, trainer and loop.
 */
export { GeniusError, AbortError, codeOf, type ErrorCode } from './errors.js';
export { Context, Sequence, Adapter, type ContextOptions, type ContextInfo, type EngineStats, type GenerateOptions, type Completion } from './engine/context.js';
export { Model, type ChatMessage, type LoadModelOptions, type ModelInfo } from './engine/model.js';
export { makeModel, makeLora, resolveShape, builtinVocab, SHAPES, ARCHITECTURES, type MakeModelOptions, type MakeLoraOptions, type MadeModel, type ModelShape, type ShapeName, type Architecture } from './modelmaker/index.js';
export { EngineScorer, type Scorer, type ScoreItem } from './engine/scorer.js';
export { native as nativeAddon } from './engine/native.js';
export { runSampling, type SampleOptions, type SampleSummary, type SampleProgress } from './foresight/run.js';
export { exploreQuery, promptFor, type Query, type ExploreOptions, type ForesightObserver } from './foresight/explore.js';
export { DEFAULT_FORESIGHT, resolveForesightConfig, type ForesightConfig } from './foresight/config.js';
export { readQueries } from './foresight/queries.js';
export { joinShards } from './foresight/join.js';
export { parseShard, type Shard } from './foresight/shard.js';
export { softmax, sampleWithoutReplacement, advantages, selectBeams, Rng, STRATEGIES, type Strategy } from './foresight/selection.js';
export type { ExplorationRecord } from './foresight/records.js';
export { buildPairs, type PairRecord, type RejectedMode, type PoolsRecord } from './pairs/build.js';
export { runPairs, type PairsOptions } from './pairs/run.js';
export { generateTask, resolveDifficulty, splitOf, canonicalOf, taskWords, TASK_ALPHABET, ANSWER_MARKER, OPERATIONS, DEFAULT_DIFFICULTY, DEFAULT_TEST_FRACTION, type TaskRecord, type TaskDifficulty, type TaskSplit, type Operation, type GenerateTaskOptions } from './task/index.js';
export { evaluate, loadEvalTask, extractAnswer, normalizeAnswer, answersMatch, goldAnswer, wilsonInterval, type EvalItem, type EvalSample, type EvalRecord, type EvalOptions, type EvalResult, type ExtractedAnswer, type AnswerMarker, type Accuracy } from './eval/index.js';
export { OnnxScorer, exportOnnx, scorerFromSpec, ONNX_ARCHITECTURES, type OnnxScorerOptions, type ExportOnnxOptions, type OnnxExport, type ScorerSpecOptions } from './onnx/index.js';
export { writeReport, renderReport, readRunDir, RUN_FILES, lineChart, escapeHtml, type ReportOptions, type ReportData, type TrainStepMetrics, type RoundMetrics, type EvalSummary, type RoundSamples, type ChartSpec, type ChartSeries, type ChartPoint } from './report/index.js';
export { BUILTIN_MODEL_PATH, BUILTIN_MANIFEST_PATH, BUILTIN_FORESIGHT, BUILTIN_DIFFICULTY, BUILTIN_EVAL_MAX_TOKENS, TINY_RECIPE, TINY_RECIPE_NOTES, buildTinyModel, sftSequence, recipeProblems, evaluateBuiltin, type TinyRecipe, type BuildTinyModelOptions, type TinyModelManifest } from './builtin/index.js';
export { Trainer, packBatch, LORA_TARGETS, type TrainerOptions, type TrainSequence, type TrainerInfo, type OptimizerStep } from './train/trainer.js';
export { runTraining, type TrainRunOptions, type TrainStepRecord, type TrainSummary } from './train/run.js';
export { loadPairs, type TokenizedPair, type TokenizedPairs, type PromptFormat, type Truncation } from './train/data.js';
export { referenceLogps, openReferenceScorer, referenceKey, type ReferenceLogps } from './train/reference.js';
export { linearSchedule, epochOrder } from './train/schedule.js';
export { LOSSES, CALIBRATIONS, LOSS_DEFAULTS, resolveLossConfig, calibrationWeight, pairLoss, rewardMetrics, needsReference, type LossName, type Calibration, type LossConfig, type PairLogps, type RewardMetrics } from './losses/index.js';
export { runLoop, LOOP_TRAINING_DEFAULTS, type LoopEvents, type LoopSummary } from './loop/run.js';
export { LoopConfigSchema, parseLoopConfig, readLoopConfig, type LoopConfig, type LoopConfigInput } from './loop/config.js';
export { exportPairs, EXPORT_FORMATS, type ExportFormat, type ExportOptions } from './pairs/export.js';
