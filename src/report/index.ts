export { writeReport, renderReport, readRunDir, type ReportOptions } from './write.js';
export {
  RUN_FILES,
  type TrainStepMetrics,
  type RoundMetrics,
  type StageSeconds,
  type EvalSummary,
  type RoundSamples,
  type ReportData,
} from './types.js';
export { lineChart, type ChartSpec, type ChartSeries, type ChartPoint } from './chart.js';
export { escapeHtml } from './html.js';
