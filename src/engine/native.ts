// The native addon's surface, typed. Only the engine wrapper imports this module.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GeniusError } from '../errors.js';

export interface NativeModelInfo {
  path: string;
  architecture: string;
  name: string;
  description: string;
  parameterCount: number;
  sizeBytes: number;
  vocabSize: number;
  vocabType: string;
  contextLength: number;
  embeddingLength: number;
  layerCount: number;
  headCount: number;
  headCountKv: number;
  chatTemplate: string | null;
  specialTokens: {
    bos: number;
    eos: number;
    eot: number;
    nl: number;
    pad: number;
    addBos: boolean;
    addEos: boolean;
    endOfGeneration: number[];
  };
}

export interface NativeModel {
  info(): NativeModelInfo;
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array;
  detokenize(tokens: Int32Array | readonly number[], special: boolean): string;
  tokenPiece(token: number, special: boolean): string;
  applyChatTemplate(messages: readonly { role: string; content: string }[], addAssistant: boolean, template?: string): string;
  dispose(): void;
  readonly disposed: boolean;
}

export interface NativeLoadOptions {
  gpuLayers?: number;
  vocabOnly?: boolean;
  mmap?: boolean;
}

export interface NativeVocabSpec {
  path?: string;
  model?: string;
  pre?: string;
  tokens?: string[];
  scores?: number[];
  types?: number[];
  bos?: number;
  eos?: number;
  unk?: number;
  pad?: number;
  addBos?: boolean;
  addEos?: boolean;
  addSpacePrefix?: boolean;
  chatTemplate?: string;
}

/** Storage type of a made model's matrices (ggml names; norms and biases stay F32). */
export type ModelDtype = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_K';

export interface NativeModelSpec {
  out: string;
  arch: string;
  name?: string;
  dtype: ModelDtype;
  seed: number;
  embeddingLength: number;
  layerCount: number;
  headCount: number;
  headCountKv: number;
  feedForwardLength: number;
  /** Per-head dimension; default embeddingLength / headCount. */
  headDim?: number;
  contextLength: number;
  ropeTheta: number;
  rmsEps?: number;
  tiedEmbeddings: boolean;
}

export interface NativeContextOptions {
  contextSize?: number;
  maxSequences?: number;
  batchSize?: number;
  ubatchSize?: number;
  outputsMax?: number;
  threads?: number;
  flashAttention?: 'auto' | 'on' | 'off';
  kvType?: 'f16' | 'f32';
  kvUnified?: boolean;
  waitMs?: number;
  gatherUs?: number;
}

export interface NativeGenerateParams {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  stop: string[];
  stopTokens: number[];
  stopAtEog: boolean;
}

export interface NativeCompletion {
  tokens: Int32Array;
  pieces: string[];
  rawLogprobs: Float32Array;
  sampleLogprobs: Float32Array;
  text: string;
  finish: 'stop' | 'eos' | 'length' | 'context';
}

export interface NativeEngineStats {
  sequenceSlots: number;
  sequenceSlotsFree: number;
  liveSequences: number;
  kvCells: number;
  kvCellsUsed: number;
  requestsActive: number;
  requestsWaiting: number;
  tokensEvaluated: number;
  tokensGenerated: number;
  tokensScored: number;
  decodeCalls: number;
  /** Sequences moved to a lower cache stream so that batches stay packed (split cache). */
  relocations: number;
}

export interface NativeContextInfo {
  contextSize: number;
  maxSequences: number;
  batchSize: number;
  ubatchSize: number;
  outputsMax: number;
  flashAttention: 'auto' | 'on' | 'off';
  kvType: 'f16' | 'f32';
  kvUnified: boolean;
  sequenceContextSize: number;
}

export interface NativeContext {
  createSequence(tokens: Int32Array): Promise<number>;
  fork(sequence: number, n: number): Promise<number[]>;
  release(sequence: number): Promise<void>;
  extend(requestId: number, sequence: number, tokens: Int32Array): Promise<void>;
  rewind(sequence: number, length: number): Promise<void>;
  generate(requestId: number, sequence: number, params: NativeGenerateParams): Promise<NativeCompletion>;
  score(requestId: number, sequence: number, tokens: Int32Array): Promise<Float32Array>;
  logits(requestId: number, sequence: number): Promise<Float32Array>;
  setAdapters(adapters: { adapter: NativeAdapter; scale: number }[]): Promise<void>;
  cancel(requestId: number): void;
  stats(): NativeEngineStats;
  info(): NativeContextInfo;
  dispose(): void;
}

export interface NativeAdapter {
  dispose(): void;
}

export interface NativeTrainerOptions {
  model: string;
  full?: boolean;
  backend?: 'cpu' | 'cuda';
  threads?: number;
  seed?: number;
  loraRank?: number;
  loraAlpha?: number;
  loraTargets?: string[];
  /** Test-only: B ~ N(0, std) instead of 0, so LoRA gradients are non-trivial from step 0. */
  loraInitBStd?: number;
  /** Continue training this adapter GGUF. */
  adapter?: string;
  /** LoRA: dequantize the frozen base weights to F32 (the reference path) instead of keeping the file's types. */
  baseF32?: boolean;
}

/** Packed sequences: each is prompt + response; only response tokens are scored. */
export interface NativeBatch {
  tokens: Int32Array | number[];
  lengths: number[];
  promptLengths: number[];
}

export interface NativeLossSpec {
  type: 'aco' | 'dpo' | 'ipo' | 'simpo' | 'ropo' | 'sft';
  beta: number;
  simpoGamma?: number;
  ropoAlpha?: number;
  ropoGamma?: number;
  weight?: number[];
  refChosen?: number[];
  refRejected?: number[];
  scale: number;
  /** SFT only: label smoothing e in [0, 1), the target distribution (1 - e) one-hot + e / vocab. Default 0. */
  labelSmoothing?: number;
}

export interface NativeTrainerInfo {
  architecture: string;
  nVocab: number;
  nLayer: number;
  nEmbd: number;
  nContextTrain: number;
  backend: string;
  parameters: number;
  trainableParameters: number;
  step: number;
  memoryBytes: number;
  peakGraphBytes: number;
  /** Backend splits of the last micro-batch graph (1: the main backend ran every node). */
  graphSplits: number;
  /** Bytes of the base weights (and LoRA factors) on the backend. */
  weightBytes: number;
  /** Stored type (ggml name) -> number of base tensors kept in it. */
  weightTypes: Record<string, number>;
  /** Frozen matrices stored as F32 because the backend has no kernel for their file type. */
  dequantized: string[];
  lora?: { rank: number; alpha: number; targets: string[] };
  /** The trainable tensors in the order of readFlat('parameters' | 'gradients'). */
  tensors: { name: string; size: number }[];
}

/** A tensor as ggml-backend's supports_op sees it. */
export interface NativeTensorDesc {
  /** ggml_type_name: f32, f16, q4_K, i32, ... */
  type: string;
  ne: number[];
  nb: number[];
  typeSize: number;
  blckSize: number;
  quantized: boolean;
  contiguous: boolean;
  contiguous1: boolean;
  contiguous2: boolean;
  contiguousRows: boolean;
  transposed: boolean;
}

/** One node of a training graph. */
export interface NativeNodeDesc extends NativeTensorDesc {
  /** ggml_op_name: MUL_MAT, SOFT_MAX, ... */
  op: string;
  /** The unary or GLU op (ABS, SWIGLU, ...). */
  subOp?: string;
  src: (NativeTensorDesc | null)[];
  /** op_params as int32 words. */
  params: Int32Array;
}

export interface NativeMicroResult {
  loss: number;
  chosen: number[];
  rejected: number[];
  pairLoss: number[];
  tokens: number;
}

export interface NativeTrainer {
  info(): NativeTrainerInfo;
  logprobs(batch: NativeBatch): Promise<Float32Array>;
  accumulate(batch: NativeBatch, loss: NativeLossSpec): Promise<NativeMicroResult>;
  /** Every node of the micro-batch's graph (with `loss`: forward + backward), built, not computed. */
  describe(batch: NativeBatch, loss?: NativeLossSpec): Promise<NativeNodeDesc[]>;
  /** Allocates the micro-batch's training graph without computing it; returns the trainer's bytes. */
  measure(batch: NativeBatch, loss: NativeLossSpec): Promise<number>;
  zeroGrad(): Promise<void>;
  step(opt: { lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; maxGradNorm?: number }): Promise<number>;
  readFlat(what: 'parameters' | 'gradients'): Promise<Float32Array>;
  writeParameters(flat: Float32Array): Promise<void>;
  save(kind: 'adapter' | 'model' | 'state', path: string, options?: { f16?: boolean }): Promise<void>;
  loadState(path: string): Promise<void>;
  dispose(): void;
}

export interface NativeAddon {
  createTrainer(options: NativeTrainerOptions): Promise<NativeTrainer>;
  createContext(model: NativeModel, options: NativeContextOptions): Promise<NativeContext>;
  loadAdapter(model: NativeModel, path: string): Promise<NativeAdapter>;
  loadModel(path: string, options: NativeLoadOptions): Promise<NativeModel>;
  makeModel(spec: NativeModelSpec, vocab: NativeVocabSpec): Promise<{ parameterCount: number; fileBytes: number; vocabSize: number }>;
  makeLora(spec: {
    base: string;
    out: string;
    rank: number;
    alpha: number;
    seed: number;
    targets?: string[];
  }): Promise<{ parameterCount: number; fileBytes: number }>;
  setReproducible(on: boolean): void;
  setLogLevel(level: 'none' | 'error' | 'warn' | 'info' | 'debug'): void;
  systemInfo(): { llamaSystemInfo: string; gpuOffload: boolean; mmap: boolean; maxDevices: number; cuda: boolean };
}

/** The package root (where build/ and native/ live): the nearest folder with our package.json. */
export const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'CMakeLists.txt'))) return dir;
    if (dirname(dir) === dir) return resolve(from, '..', '..');
  }
}

let addon: NativeAddon | undefined;

/** Loads the compiled addon once; GENIUS_ADDON overrides its path (e.g. a CUDA build). */
export function native(): NativeAddon {
  if (addon) return addon;
  const candidates = [process.env.GENIUS_ADDON, join(packageRoot, 'build', 'Release', 'genius.node')].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new GeniusError(`native addon not built (looked for ${candidates.join(', ')}); run \`npm run build:native\``);
  }
  addon = createRequire(import.meta.url)(found) as NativeAddon;
  return addon;
}
