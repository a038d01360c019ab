export { foresightSignal, formatSignal, type SignalReport, type SignalOptions, type Estimate } from './signal.js';
export { probeForesight, type ProbeOptions, type ProbeResult } from './run.js';
