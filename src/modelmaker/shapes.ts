import type { NativeModelSpec } from '../engine/native.js';

/** The numbers that fix a llama-family model's shape: those fields of the model maker's native spec. */
export type ModelShape = Pick<
  NativeModelSpec,
  | 'embeddingLength'
  | 'layerCount'
  | 'headCount'
  | 'headCountKv'
  | 'feedForwardLength'
  | 'headDim'
  | 'contextLength'
  | 'ropeTheta'
  | 'tiedEmbeddings'
>;

/**
 * Named shapes. `tiny` keeps unit tests fast; `small` (~28M parameters with the built-in vocab)
 * is the CPU benchmark shape; `llama3.2-1b` and `llama3.1-8b` (the paper's model) mirror Llama
 * for GPU work and memory goals (use them with the Llama 3 BPE vocab, 128,256 tokens, for the
 * real parameter count).
 */
export const SHAPES = {
  tiny: {
    embeddingLength: 64,
    layerCount: 2,
    headCount: 4,
    headCountKv: 2,
    feedForwardLength: 128,
    contextLength: 1024,
    ropeTheta: 10000,
    tiedEmbeddings: false,
  },
  small: {
    embeddingLength: 512,
    layerCount: 8,
    headCount: 8,
    headCountKv: 4,
    feedForwardLength: 1792,
    contextLength: 4096,
    ropeTheta: 10000,
    tiedEmbeddings: false,
  },
  'llama3.2-1b': {
    embeddingLength: 2048,
    layerCount: 16,
    headCount: 32,
    headCountKv: 8,
    feedForwardLength: 8192,
    contextLength: 131072,
    ropeTheta: 500000,
    tiedEmbeddings: true,
  },
  'llama3.1-8b': {
    embeddingLength: 4096,
    layerCount: 32,
    headCount: 32,
    headCountKv: 8,
    feedForwardLength: 14336,
    contextLength: 131072,
    ropeTheta: 500000,
    tiedEmbeddings: false,
  },
} as const satisfies Record<string, ModelShape>;

/** The name of one of `SHAPES`. */
export type ShapeName = keyof typeof SHAPES;

/** The architectures the model maker writes (and the trainer and ONNX exporter read). */
export const ARCHITECTURES = ['llama', 'qwen2', 'qwen3'] as const;
/** One of `ARCHITECTURES`. */
export type Architecture = (typeof ARCHITECTURES)[number];
