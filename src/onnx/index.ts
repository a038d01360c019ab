// ONNX Runtime as a second, independent scorer, and the GGUF -> ONNX exporter that lets it
// check the native engine on any model this project supports.
export { OnnxScorer, type OnnxScorerOptions } from './scorer.js';
export { exportOnnx, ONNX_ARCHITECTURES, ONNX_OPSET, type ExportOnnxOptions, type OnnxExport, type OnnxArchitecture } from './export.js';
export { scorerFromSpec, type ScorerSpecOptions } from './spec.js';
export { readGguf, readTensorF32, type GgufFile, type GgufTensorInfo, type GgufValue } from './gguf-reader.js';
