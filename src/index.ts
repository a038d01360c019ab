/**
 * genius: label-free self-training of LLM reasoning (Genius, Xu et al., ACL 2025) on a native
 * llama.cpp/ggml engine.
 *
 * The public API, by layer: the engine (`Model`, `Context`, `Sequence`, `Adapter`), foresight
 * re-sampling (`runSampling`, `exploreQuery`), pairs (`buildPairs`, `runPairs`, `exportPairs`),
 * training (`Trainer`, `runTraining`, the losses), evaluation (`evaluate`), the self-training loop
 * (`runLoop`) and its settings schemas, the built-in task and model, the ONNX Runtime scorer and
 * the HTML report. Everything else is internal and may change without notice.
 *
 * @packageDocumentation
 */
export { GeniusError, AbortError, codeOf, type ErrorCode } from './errors.js';
export {
  Context,
  Sequence,
  Adapter,
  type ContextOptions,
  type ContextInfo,
  type EngineStats,
  type GenerateOptions,
  type Completion,
} from './engine/context.js';
export { Model, type ChatMessage, type LoadModelOptions, type ModelInfo } from './engine/model.js';
export { EngineScorer, type Scorer, type ScoreItem } from './engine/scorer.js';
export {
  makeModel,
  makeLora,
  SHAPES,
  ARCHITECTURES,
  type MakeModelOptions,
  type MakeLoraOptions,
  type MadeModel,
  type ModelShape,
  type ShapeName,
  type Architecture,
} from './modelmaker/index.js';
export {
  ForesightConfigSchema,
  SamplingRunSchema,
  DEFAULT_FORESIGHT,
  resolveForesightConfig,
  SCORE_SPANS,
  type ScoreSpan,
  type ForesightConfig,
} from './foresight/config.js';
export { runSampling, type SampleOptions, type SampleSummary, type SampleProgress } from './foresight/run.js';
export { exploreQuery, promptFor, endOfTurnToken, type Query, type ExploreOptions, type ForesightObserver } from './foresight/explore.js';
export { readQueries, type ReadQueriesOptions } from './foresight/queries.js';
export { joinShards } from './foresight/join.js';
export { parseShard, type Shard } from './foresight/shard.js';
export { softmax, advantages, selectBeams, STRATEGIES, type Strategy, type Rng } from './foresight/selection.js';
export type { ExplorationRecord } from './foresight/records.js';
export { PairsConfigSchema, DEFAULT_PAIRS, REJECTED_MODES, type PairsConfig } from './pairs/config.js';
export {
  buildPairs,
  sameResponse,
  type BuildPairsOptions,
  type BuiltPairs,
  type PairRecord,
  type RejectedMode,
  type PoolsRecord,
} from './pairs/build.js';
export {
  foresightSignal,
  formatSignal,
  judgeFor,
  stepJudgeFor,
  JUDGES,
  probeForesight,
  type JudgeName,
  type TrajectoryJudge,
  type SignalReport,
  type SignalOptions,
  type Estimate,
  type ProbeOptions,
  type ProbeResult,
} from './probe/index.js';
export { runPairs, type PairsOptions } from './pairs/run.js';
export { exportPairs, EXPORT_FORMATS, type ExportFormat, type ExportOptions, type ReferenceColumn } from './pairs/export.js';
export {
  generateTask,
  splitOf,
  taskWords,
  TASK_ALPHABET,
  ANSWER_MARKER,
  GUESS_MARKER,
  OPERATIONS,
  DEFAULT_DIFFICULTY,
  DEFAULT_TEST_FRACTION,
  type TaskRecord,
  type TaskDifficulty,
  type TaskSplit,
  type Operation,
  type GenerateTaskOptions,
} from './task/index.js';
export { EvaluationConfigSchema, DEFAULT_EVALUATION, type EvaluationConfig } from './eval/config.js';
export {
  evaluate,
  loadEvalTask,
  extractAnswer,
  normalizeAnswer,
  answersMatch,
  goldAnswer,
  wilsonInterval,
  type EvalItem,
  type EvalSample,
  type EvalRecord,
  type EvalOptions,
  type EvalResult,
  type ExtractedAnswer,
  type AnswerMarker,
  type Accuracy,
} from './eval/index.js';
export {
  OnnxScorer,
  exportOnnx,
  scorerFromSpec,
  ONNX_ARCHITECTURES,
  type OnnxScorerOptions,
  type ExportOnnxOptions,
  type OnnxExport,
  type ScorerSpecOptions,
} from './onnx/index.js';
export {
  writeReport,
  renderReport,
  readRunDir,
  RUN_FILES,
  type ReportOptions,
  type ReportData,
  type TrainStepMetrics,
  type RoundMetrics,
  type StageSeconds,
  type EvalSummary,
  type RoundSamples,
} from './report/index.js';
export {
  BUILTIN_MODEL_PATH,
  BUILTIN_MANIFEST_PATH,
  BUILTIN_FORESIGHT,
  BUILTIN_DIFFICULTY,
  BUILTIN_EVAL_MAX_TOKENS,
  TINY_RECIPE,
  buildTinyModel,
  evaluateBuiltin,
  tinyManifestOf,
  type TinyRecipe,
  type BuildTinyModelOptions,
  type TinyModelManifest,
} from './builtin/index.js';
export { TrainingConfigSchema, DEFAULT_TRAINING, trainRunSettings, lossOf, type TrainingConfig } from './train/config.js';
export { Trainer, LORA_TARGETS, type TrainerOptions, type TrainSequence, type TrainerInfo, type OptimizerStep } from './train/trainer.js';
export { runTraining, type TrainRunOptions, type TrainStepRecord, type TrainSummary } from './train/run.js';
export {
  loadPairs,
  type TokenizeOptions,
  type TokenizedPair,
  type TokenizedPairs,
  type PromptFormat,
  type Truncation,
} from './train/data.js';
export { referenceLogps, openReferenceScorer, referenceKey, type ReferenceLogps } from './train/reference.js';
export {
  LOSSES,
  CALIBRATIONS,
  LOSS_DEFAULTS,
  resolveLossConfig,
  calibrationWeight,
  pairLoss,
  rewardMetrics,
  needsReference,
  type LossName,
  type Calibration,
  type LossConfig,
  type PairLogps,
  type RewardMetrics,
} from './losses/index.js';
export { runLoop, type LoopEvents, type LoopSummary } from './loop/run.js';
export { LoopConfigSchema, parseLoopConfig, readLoopConfig, type LoopConfig, type LoopConfigInput } from './loop/config.js';
