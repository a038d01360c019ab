import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GeniusError } from '../errors.js';
import { DEFAULT_FORESIGHT } from '../foresight/config.js';
import type { ExplorationRecord } from '../foresight/records.js';
import { readJsonl } from '../jsonl.js';
import type { PairRecord } from '../pairs/build.js';
import type { Estimate } from '../probe/signal.js';
import { lineChart, type ChartPoint, type ChartSeries } from './chart.js';
import { escapeHtml, formatNumber, num } from './html.js';
import { foresightTreeView } from './tree.js';
import {
  RUN_FILES,
  type EvalSummary,
  type ReportData,
  type RoundMetrics,
  type RoundSamples,
  type StageSeconds,
  type TrainStepMetrics,
} from './types.js';

/** Where `writeReport` writes and what its foresight-tree view shows. */
export interface ReportOptions {
  /** Where to write the page (default for a run directory: `<run>/report.html`). */
  out?: string;
  /** Queries shown in the foresight-tree view (default 3). */
  queries?: number;
  /** Selection temperature used for F = softmax(f / tau) in the view (default: the paper's 0.1). */
  tau?: number;
}

/** The stages of a round, in the order they run (RoundMetrics.stage_seconds). */
const STAGES = ['sample', 'reference', 'train', 'eval'] as const satisfies readonly (keyof StageSeconds)[];

const COLORS = {
  blue: '#1f77b4',
  orange: '#ff7f0e',
  green: '#2ca02c',
  red: '#d62728',
  purple: '#9467bd',
  brown: '#8c564b',
  gray: '#7f7f7f',
};

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 4px}h4{font-size:14px;margin:12px 0 4px}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{margin:0;border:1px solid #eee;padding:8px;border-radius:4px}
figcaption{font-weight:600;margin-bottom:4px}.tick{font-size:11px;fill:#555}.axis-label{font-size:12px;fill:#333}
.empty-note{font-size:13px;fill:#888}.legend{font-size:12px;margin-top:2px}.legend-item{margin-right:12px;white-space:nowrap}
.swatch{display:inline-block;width:12px;height:3px;vertical-align:middle;margin-right:4px}
table{border-collapse:collapse;font-size:12px;margin:4px 0}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f5f5f5}.step-text{max-width:520px;white-space:pre-wrap;word-break:break-word;font-family:ui-monospace,monospace}
tr.kept{background:#eef5ff}tr.chosen td:last-child{color:#1a7f37;font-weight:600}tr.rejected td:last-child{color:#c62828;font-weight:600}
.tree-svg{display:block;margin:6px 0;max-width:100%;height:auto}.tree-head{font-size:12px;font-weight:600;fill:#444}
.edge{stroke:#ccc;stroke-width:1}.edge.kept{stroke:#555;stroke-width:2}
.node{fill:#1f77b4;stroke:#1f77b4;stroke-width:1}.node.root{fill:#444;stroke:#444}.node.kept{stroke:#000;stroke-width:2.5}
.node.chosen{stroke:#1a7f37;stroke-width:3.5}.node.rejected{stroke:#c62828;stroke-width:3.5}.node.final{fill:#9467bd;stroke:#9467bd}
.node.final.chosen-final{stroke:#000;stroke-width:2.5}
.node-label{font-size:10px;fill:#333;font-family:ui-monospace,monospace;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.question{background:#f8f8f8;padding:6px 8px;border-left:3px solid #1f77b4;white-space:pre-wrap}
pre{background:#f8f8f8;padding:6px;white-space:pre-wrap;word-break:break-word;font-size:12px}
.pairs li{margin-bottom:6px}.chosen{color:#1a7f37}.rejected{color:#c62828}.calibration{color:#b26a00;margin-left:8px}.normal{color:#777;margin-left:8px}
.note{color:#777}.query{border-top:1px solid #eee;margin-top:12px}`;

/** Points of one metric over steps in file order (x = position across all rounds). */
function stepSeries(steps: readonly TrainStepMetrics[], key: keyof TrainStepMetrics, name: string, color: string): ChartSeries {
  const points: ChartPoint[] = [];
  steps.forEach((s, i) => {
    const y = num(s[key]);
    if (y !== undefined) points.push({ x: i, y });
  });
  return { name, color, points };
}

/** Dashed lines where a new round starts in the step sequence. */
function roundMarkers(steps: readonly TrainStepMetrics[]): { x: number; label: string }[] {
  const out: { x: number; label: string }[] = [];
  steps.forEach((s, i) => {
    if (i > 0 && s.round !== steps[i - 1]!.round) out.push({ x: i - 0.5, label: `round ${String(s.round)}` });
  });
  return out;
}

function evalPoint(x: number, e: EvalSummary | null | undefined): ChartPoint | undefined {
  const y = num(e?.accuracy);
  return y === undefined ? undefined : { x, y, low: num(e?.low), high: num(e?.high) };
}

/** The training-curve and per-round charts. */
function charts(data: ReportData): string {
  const steps = data.steps;
  const markers = roundMarkers(steps);
  const noSteps = 'no training steps recorded yet';
  const evalPoints = [evalPoint(-1, data.baseline), ...data.rounds.map((r) => evalPoint(r.round, r.eval))].filter(
    (p): p is ChartPoint => p !== undefined,
  );
  const training = [
    lineChart({
      id: 'loss',
      title: 'ACO loss',
      xLabel: 'step',
      markers,
      empty: noSteps,
      series: [stepSeries(steps, 'loss', 'loss', COLORS.blue)],
    }),
    lineChart({
      id: 'rewards',
      title: 'rewards (beta * log-ratio)',
      xLabel: 'step',
      markers,
      empty: noSteps,
      series: [
        stepSeries(steps, 'rewards/chosen', 'chosen', COLORS.green),
        stepSeries(steps, 'rewards/rejected', 'rejected', COLORS.red),
        stepSeries(steps, 'rewards/margins', 'margins', COLORS.blue),
      ],
    }),
    lineChart({
      id: 'accuracies',
      title: 'rewards/accuracies (r_w > r_l)',
      xLabel: 'step',
      markers,
      yDomain: [0, 1],
      empty: noSteps,
      series: [stepSeries(steps, 'rewards/accuracies', 'accuracies', COLORS.purple)],
    }),
    lineChart({
      id: 'calibration',
      title: 'calibration weight w(A)',
      xLabel: 'step',
      markers,
      empty: noSteps,
      series: [stepSeries(steps, 'calibration_weight', 'w', COLORS.orange)],
    }),
    lineChart({
      id: 'grad-norm',
      title: 'gradient norm',
      xLabel: 'step',
      markers,
      empty: noSteps,
      series: [stepSeries(steps, 'grad_norm', 'grad norm', COLORS.brown)],
    }),
    lineChart({
      id: 'lr',
      title: 'learning rate',
      xLabel: 'step',
      markers,
      empty: noSteps,
      series: [stepSeries(steps, 'lr', 'lr', COLORS.gray)],
    }),
  ];
  const rounds = [
    lineChart({
      id: 'eval',
      title: 'eval accuracy per round (95% CI)',
      xLabel: data.baseline ? 'round (-1 = before training)' : 'round',
      integerX: true,
      yDomain: [0, 1],
      dots: true,
      empty: 'no evaluation: the run has no eval set',
      series: [{ name: 'accuracy', color: COLORS.green, points: evalPoints }],
    }),
    lineChart({
      id: 'pairs',
      title: 'preference pairs per round',
      xLabel: 'round',
      integerX: true,
      dots: true,
      empty: 'no rounds recorded yet',
      series: [
        {
          name: 'pairs',
          color: COLORS.blue,
          points: data.rounds.flatMap((r) => (num(r.pairs) === undefined ? [] : [{ x: r.round, y: r.pairs! }])),
        },
      ],
    }),
    lineChart({
      id: 'stage-seconds',
      title: 'wall time per stage (seconds)',
      xLabel: 'round',
      integerX: true,
      dots: true,
      empty: 'no stage timings recorded',
      series: STAGES.map((s, i) => ({
        name: s,
        color: [COLORS.blue, COLORS.orange, COLORS.green, COLORS.purple][i]!,
        points: data.rounds.flatMap((r) => (num(r.stage_seconds?.[s]) === undefined ? [] : [{ x: r.round, y: r.stage_seconds![s]! }])),
      })),
    }),
  ];
  return `<h2>Training (ACO)</h2><div class="charts">${training.join('')}</div><h2>Rounds</h2><div class="charts">${rounds.join('')}</div>${roundTable(data.rounds)}`;
}

function roundTable(rounds: readonly RoundMetrics[]): string {
  if (rounds.length === 0) return '';
  const cell = (v: unknown) => `<td>${num(v) === undefined ? '-' : escapeHtml(formatNumber(num(v)!))}</td>`;
  const rows = rounds.map(
    (r) =>
      `<tr>${cell(r.round)}${cell(r.pairs)}${cell(r.train_loss)}${cell(r.eval?.accuracy)}<td>${r.eval && num(r.eval.low) !== undefined ? `${escapeHtml(formatNumber(r.eval.low))} - ${escapeHtml(formatNumber(r.eval.high))}` : '-'}</td>${cell(r.eval?.n)}${STAGES.map((s) => cell(r.stage_seconds?.[s])).join('')}${cell(r.seconds)}</tr>`,
  );
  return `<table class="rounds"><thead><tr><th>round</th><th>pairs</th><th>train loss</th><th>eval accuracy</th><th>95% CI</th><th>eval n</th>${STAGES.map((s) => `<th>${s} s</th>`).join('')}<th>seconds</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** The foresight-signal probe per round (rounds whose queries' answers were known to the run). */
function signalTable(rounds: readonly RoundMetrics[]): string {
  const probed = rounds.filter((r) => r.signal);
  if (probed.length === 0) return '';
  const cell = (v: unknown) => `<td>${num(v) === undefined ? '-' : escapeHtml(formatNumber(num(v)!))}</td>`;
  const ci = (e: Estimate | undefined) =>
    e === undefined || num(e.low) === undefined ? '-' : `${escapeHtml(formatNumber(e.low))} - ${escapeHtml(formatNumber(e.high))}`;
  const rows = probed.map((r) => {
    const s = r.signal!;
    // Runs written before this figure existed lack it.
    const hard = s.aurocAgainstLikelierStep as Estimate | undefined;
    return `<tr>${cell(r.round)}${cell(s.distinctCandidates)}${cell(s.candidatesPerStep)}${cell(s.allIdenticalShare)}${cell(s.auroc.value)}<td>${ci(s.auroc)}</td>${cell(hard?.value)}<td>${ci(hard)}</td>${cell(s.mixedSteps)}${cell(s.chosenRight)}${cell(s.rejectedWrong)}${cell(s.preferenceAccuracy)}${cell(s.identicalPairShare)}</tr>`;
  });
  const head = [
    'round',
    'distinct candidates',
    'candidates per step',
    'all identical',
    'foresight AUROC',
    '95% CI',
    'AUROC against a likelier wrong step',
    '95% CI',
    'mixed steps',
    'chosen right',
    'rejected wrong',
    'preference accuracy',
    'identical pairs',
  ];
  return `<h2>Foresight signal</h2><p class="note">From each round's exploration graded against the queries' answers (never shown to the sampler): candidate diversity, the probability that a right trajectory scores above a wrong one within a step (AUROC; 0.5 = no signal), and how often pairs point the right way.</p><table class="rounds" id="signal"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** The foresight-tree view of the first few queries of the latest round that explored any. */
function trees(data: ReportData, options: ReportOptions): string {
  const latest = [...data.samples].reverse().find((s) => s.explorations.length > 0);
  if (!latest) return '<h2>Foresight re-sampling</h2><p class="note" id="no-exploration">No exploration records yet.</p>';
  const shown = latest.explorations.slice(0, options.queries ?? 3);
  const tau = options.tau ?? DEFAULT_FORESIGHT.tau;
  const legend = `<p class="note">Round ${escapeHtml(String(latest.round))}, ${shown.length} of ${latest.explorations.length} queries. Each column is a foresight step: its candidate steps, shaded by F = softmax(f / ${escapeHtml(formatNumber(tau))}) and labelled with the foresight score f; a black ring marks a candidate kept as a beam, green/red the chosen/rejected trajectory of the step's preference pair; thick edges follow the beams.</p>`;
  return `<h2>Foresight re-sampling</h2>${legend}${shown.map((r, i) => foresightTreeView(r, latest.pairs, { tau, id: `query-${i}` })).join('')}`;
}

/**
 * The report as one self-contained HTML page: inline CSS and SVG, no script, no external
 * resource (a Content-Security-Policy forbids any). Every text from the data is escaped.
 */
export function renderReport(data: ReportData, options: ReportOptions = {}): string {
  const title = data.title ?? 'genius run';
  const config =
    data.config === undefined ? '' : `<h2>Settings</h2><pre id="config">${escapeHtml(JSON.stringify(data.config, null, 2))}</pre>`;
  const last = [...data.rounds].reverse().find((r) => num(r.eval?.accuracy) !== undefined);
  const summary = `<p class="note">${data.rounds.length} rounds, ${data.steps.length} training steps${last ? `, last eval accuracy ${escapeHtml(formatNumber(last.eval!.accuracy))} (round ${escapeHtml(String(last.round))})` : ''}.</p>`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1>${summary}${charts(data)}${signalTable(data.rounds)}${trees(data, options)}${config}</body></html>
`;
}

/** JSONL records of a file, or none when it does not exist; torn or malformed lines are skipped. */
function readIfPresent<T>(path: string): T[] {
  return existsSync(path) ? readJsonl<T>(path, { onSkip: () => {} }) : [];
}

function readJsonIfPresent(path: string): unknown {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new GeniusError(`${path}: malformed JSON (${(err as Error).message})`);
  }
}

/** Reads a run directory laid out as RUN_FILES describes; missing files give empty parts. */
export function readRunDir(runDir: string): ReportData {
  if (!existsSync(runDir)) throw new GeniusError(`run directory not found: ${runDir}`, { code: 'INVALID_ARGUMENT' });
  // A folder with none of a run's files is a wrong path, not an empty run: say so, write nothing.
  const marks = [RUN_FILES.config, RUN_FILES.rounds, RUN_FILES.steps, RUN_FILES.baseline];
  if (!marks.some((f) => existsSync(join(runDir, f))) && !readdirSync(runDir).some((n) => /^round-\d+$/.test(n))) {
    throw new GeniusError(`${runDir} is not a genius run directory (it has none of ${marks.join(', ')}, round-N/)`, {
      code: 'INVALID_ARGUMENT',
    });
  }
  const rounds = readIfPresent<RoundMetrics>(join(runDir, RUN_FILES.rounds));
  const roundDirs = readdirSync(runDir)
    .map((name) => /^round-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  const samples: RoundSamples[] = roundDirs.map((round) => {
    const dir = join(runDir, RUN_FILES.roundDir(round));
    return {
      round,
      explorations: readIfPresent<ExplorationRecord>(join(dir, RUN_FILES.exploration)),
      pairs: readIfPresent<PairRecord>(join(dir, RUN_FILES.pairs)),
    };
  });
  const config = readJsonIfPresent(join(runDir, RUN_FILES.config));
  const baseline = readJsonIfPresent(join(runDir, RUN_FILES.baseline)) as EvalSummary | undefined;
  return { steps: readIfPresent<TrainStepMetrics>(join(runDir, RUN_FILES.steps)), rounds, samples, config, baseline };
}

/**
 * Writes the report page and returns its path. `input` is a run directory (read per RUN_FILES,
 * page at `<run>/report.html` unless `out`) or the data itself (then `out` is required). The
 * page is written to a temporary file and renamed, so a reader never sees half a page.
 */
export function writeReport(input: string | ReportData, options: ReportOptions = {}): string {
  const data = typeof input === 'string' ? readRunDir(input) : input;
  const out = options.out ?? (typeof input === 'string' ? join(input, RUN_FILES.report) : undefined);
  if (!out) throw new GeniusError('writeReport: give options.out when passing the data itself');
  const tmp = `${out}.tmp`;
  writeFileSync(tmp, renderReport(data, options));
  renameSync(tmp, out);
  return out;
}
