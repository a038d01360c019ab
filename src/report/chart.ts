// Hand-written SVG line charts: a few hundred lines of markup per chart, no script, no library.
import { escapeHtml, formatNumber } from './html.js';

/** One point; `low`/`high` draw a whisker (a confidence interval). */
export interface ChartPoint {
  x: number;
  y: number;
  low?: number;
  high?: number;
}

export interface ChartSeries {
  name: string;
  color: string;
  points: ChartPoint[];
}

export interface ChartSpec {
  /** Element id: the figure is `chart-<id>`. */
  id: string;
  title: string;
  xLabel: string;
  series: ChartSeries[];
  /** Fixed y range (e.g. [0, 1] for accuracies); default: the data's, padded. */
  yDomain?: [number, number];
  /** Vertical dashed lines (e.g. round boundaries). */
  markers?: { x: number; label: string }[];
  /** Draw a dot at every point (default: only when a series has few points). */
  dots?: boolean;
  /** Integer x ticks only (rounds). */
  integerX?: boolean;
  /** Shown instead of the plot when no series has a point. */
  empty: string;
}

const W = 520;
const H = 260;
const PAD = { left: 56, right: 16, top: 12, bottom: 40 };

/** Tick values at 1, 2 or 5 times a power of ten, about `count` of them. */
function ticks(lo: number, hi: number, count: number, integer = false): number[] {
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
  if (integer) step = Math.max(1, Math.round(step));
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** [lo, hi] over every value, widened when flat and padded by 5%. */
function domain(values: number[], fixed?: [number, number]): [number, number] {
  if (fixed) return fixed;
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi - lo < 1e-12) {
    const pad = Math.abs(hi) > 1e-12 ? Math.abs(hi) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

/**
 * A line chart as an inline SVG figure: axes with ticks, one polyline per series (broken where
 * values are missing), optional whiskers and dots, a legend, and hover titles on the points.
 * With no data it shows `empty` in place of the plot, so a missing metric reads as missing.
 */
export function lineChart(spec: ChartSpec): string {
  const series = spec.series
    .map((s) => ({ ...s, points: s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)) }))
    .filter((s) => s.points.length > 0);
  const head = `<figure class="chart" id="chart-${escapeHtml(spec.id)}"><figcaption>${escapeHtml(spec.title)}</figcaption>`;
  if (series.length === 0) {
    return `${head}<svg class="chart-svg empty" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img"><rect x="0.5" y="0.5" width="${W - 1}" height="${H - 1}" fill="#fafafa" stroke="#ddd"/><text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="empty-note">${escapeHtml(spec.empty)}</text></svg></figure>`;
  }
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x);
  const ys = all.flatMap((p) => [p.y, ...(Number.isFinite(p.low) ? [p.low!] : []), ...(Number.isFinite(p.high) ? [p.high!] : [])]);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  const [y0, y1] = domain(ys, spec.yDomain);
  const sx = (x: number) => PAD.left + ((x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const sy = (y: number) => H - PAD.bottom - ((y - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
  const f = (v: number) => v.toFixed(1);
  const parts: string[] = [];

  parts.push(
    `<rect x="${PAD.left}" y="${PAD.top}" width="${W - PAD.left - PAD.right}" height="${H - PAD.top - PAD.bottom}" fill="#fff" stroke="#ccc"/>`,
  );
  for (const t of ticks(y0, y1, 5)) {
    parts.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#eee"/>`);
    parts.push(`<text x="${PAD.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end" class="tick">${escapeHtml(formatNumber(t))}</text>`);
  }
  for (const t of ticks(x0, x1, 6, spec.integerX)) {
    parts.push(`<text x="${f(sx(t))}" y="${H - PAD.bottom + 16}" text-anchor="middle" class="tick">${escapeHtml(formatNumber(t))}</text>`);
  }
  parts.push(`<text x="${(W + PAD.left) / 2}" y="${H - 6}" text-anchor="middle" class="axis-label">${escapeHtml(spec.xLabel)}</text>`);
  for (const m of spec.markers ?? []) {
    if (m.x < x0 || m.x > x1) continue;
    parts.push(
      `<line class="marker" x1="${f(sx(m.x))}" x2="${f(sx(m.x))}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#999" stroke-dasharray="4 3"/><text x="${f(sx(m.x) + 3)}" y="${PAD.top + 11}" class="tick">${escapeHtml(m.label)}</text>`,
    );
  }
  for (const s of series) {
    const color = escapeHtml(s.color);
    const path = s.points.map((p) => `${f(sx(p.x))},${f(sy(p.y))}`).join(' ');
    parts.push(
      `<polyline class="series" data-series="${escapeHtml(s.name)}" points="${path}" fill="none" stroke="${color}" stroke-width="2"/>`,
    );
    const dots = spec.dots ?? s.points.length <= 40;
    for (const p of s.points) {
      if (Number.isFinite(p.low) && Number.isFinite(p.high)) {
        const x = f(sx(p.x));
        parts.push(
          `<path class="whisker" d="M${x},${f(sy(p.low!))}V${f(sy(p.high!))}M${f(sx(p.x) - 4)},${f(sy(p.low!))}h8M${f(sx(p.x) - 4)},${f(sy(p.high!))}h8" stroke="${color}" fill="none"/>`,
        );
      }
      if (dots) {
        const ci = Number.isFinite(p.low) ? ` [${formatNumber(p.low!)}, ${formatNumber(p.high!)}]` : '';
        parts.push(
          `<circle cx="${f(sx(p.x))}" cy="${f(sy(p.y))}" r="3" fill="${color}"><title>${escapeHtml(`${s.name} @ ${formatNumber(p.x)}: ${formatNumber(p.y)}${ci}`)}</title></circle>`,
        );
      }
    }
  }
  const legend = series
    .map(
      (s) => `<span class="legend-item"><span class="swatch" style="background:${escapeHtml(s.color)}"></span>${escapeHtml(s.name)}</span>`,
    )
    .join('');
  return `${head}<svg class="chart-svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img">${parts.join('')}</svg><div class="legend">${legend}</div></figure>`;
}
