export { extractAnswer, normalizeAnswer, answersMatch, goldAnswer, type ExtractedAnswer, type AnswerMarker } from './extract.js';
export { wilsonInterval, type Accuracy } from './accuracy.js';
export { evaluate, loadEvalTask, type EvalItem, type EvalSample, type EvalRecord, type EvalOptions, type EvalResult } from './evaluate.js';
