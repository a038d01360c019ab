/**
 * genius: label-free self-training of LLM reasoning (Genius, Xu et al., ACL 2025) on a native
 * llama.cpp/ggml engine. The public API grows with the engine, foresight sampler, trainer and loop.
 */
export { GeniusError } from './errors.js';
export { Model, type ChatMessage, type LoadModelOptions, type ModelInfo } from './engine/model.js';
export { makeModel, resolveShape, builtinVocab, SHAPES, ARCHITECTURES, type MakeModelOptions, type MadeModel, type ModelShape, type ShapeName, type Architecture } from './modelmaker/index.js';
export { native as nativeAddon } from './engine/native.js';
