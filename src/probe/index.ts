export {
  foresightSignal,
  formatSignal,
  judgeFor,
  stepJudgeFor,
  JUDGES,
  type JudgeName,
  type TrajectoryJudge,
  type SignalReport,
  type SignalOptions,
  type Estimate,
} from './signal.js';
export { probeForesight, type ProbeOptions, type ProbeResult } from './run.js';
