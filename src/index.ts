/**
 * genius: label-free self-training of LLM reasoning (Genius, Xu et al., ACL 2025) on a native
 * llama.cpp/ggml engine. The public API grows with the engine, foresight sampler, trainer and loop.
 */
export { GeniusError, AbortError } from './errors.js';
export { Context, Sequence, Adapter, type ContextOptions, type ContextInfo, type EngineStats, type GenerateOptions, type Completion } from './engine/context.js';
export { Model, type ChatMessage, type LoadModelOptions, type ModelInfo } from './engine/model.js';
export { makeModel, makeLora, resolveShape, builtinVocab, SHAPES, ARCHITECTURES, type MakeModelOptions, type MakeLoraOptions, type MadeModel, type ModelShape, type ShapeName, type Architecture } from './modelmaker/index.js';
export { native as nativeAddon } from './engine/native.js';
