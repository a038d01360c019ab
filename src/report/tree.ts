// The foresight-tree view: what stepwise foresight re-sampling did for one query.
import type { ExplorationRecord } from '../foresight/records.js';
import { softmax } from '../foresight/selection.js';
import type { PairRecord } from '../pairs/build.js';
import { escapeHtml, formatNumber, num } from './html.js';

/** One candidate step of one foresight step, as the view shows it. */
interface CandidateView {
  index: number;
  beam: number;
  /** The candidate step's text. */
  step: string;
  /** The full trajectory T_k(i) (previous steps, step, foresight rollout). */
  trajectory: string;
  /** Foresight score f_k(i). */
  f: number | undefined;
  /** F_k(i) = softmax(f / tau). */
  F: number | undefined;
  /** Advantage A_k(i). */
  A: number | undefined;
  /** Times drawn as a new beam. */
  kept: number;
  role?: 'chosen' | 'rejected';
}

interface PairView {
  step: number;
  chosen: number;
  rejected: number;
  pair: PairRecord;
}

const at = <T>(xs: unknown, i: number): T | undefined => (Array.isArray(xs) ? (xs[i] as T | undefined) : undefined);
const text = (v: unknown) => (typeof v === 'string' ? v : '');

/** The pairs of this query located in its steps (by their trajectories' text). */
function locatePairs(record: ExplorationRecord, pairs: readonly PairRecord[]): PairView[] {
  const out: PairView[] = [];
  for (const pair of pairs) {
    if (pair.prompt !== record.question) continue;
    const chosen = text(pair.chosen?.[0]?.content);
    const rejected = text(pair.rejected?.[0]?.content);
    for (let k = 0; k < (record.traj_pool?.length ?? 0); k++) {
      const pool = record.traj_pool[k] ?? [];
      const c = pool.indexOf(chosen);
      const r = pool.indexOf(rejected);
      if (c >= 0 && r >= 0) {
        out.push({ step: k, chosen: c, rejected: r, pair });
        break;
      }
    }
  }
  return out;
}

/** Candidates of step k with their scores, F, advantages, beam draws and pair roles. */
function candidatesOf(record: ExplorationRecord, k: number, tau: number, pairs: PairView[]): CandidateView[] {
  const f = (at<unknown[]>(record.prob_pool, k) ?? []).map(num);
  const count = Math.max(f.length, at<unknown[]>(record.traj_pool, k)?.length ?? 0);
  const picked = (at<unknown[]>(record.sample_id_pool, k) ?? []).map(num);
  const beams = Math.max(1, picked.length);
  const finite = f.every((v) => v !== undefined) && f.length > 0;
  const F = finite ? softmax(f as number[], tau) : [];
  const pair = pairs.find((p) => p.step === k);
  return Array.from({ length: count }, (_, i) => ({
    index: i,
    beam: num(at(at(record.beam_pool, k), i)) ?? Math.floor(i / Math.max(1, Math.ceil(count / beams))),
    step:
      text(at(at(record.candidate_pool, k), i)) ||
      text(at(at(record.traj_pool, k), i))
        .split('\n')
        .filter(Boolean)
        .at(-1) ||
      '',
    trajectory: text(at(at(record.traj_pool, k), i)),
    f: f[i],
    F: F[i],
    A: num(at(at(record.adv_pool, k), i)),
    kept: picked.filter((p) => p === i).length,
    role: pair?.chosen === i ? 'chosen' : pair?.rejected === i ? 'rejected' : undefined,
  }));
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}\u2026` : s);
const fmt = (v: number | undefined) => (v === undefined ? '-' : formatNumber(v));

/**
 * The tree as SVG: the prompt, then one column per foresight step holding its M*N candidates
 * (shade = F, ring = kept as a beam, green/red = chosen/rejected of the step's pair), each linked
 * to the beam it grew from, then the final completions of the beams.
 */
function treeSvg(
  id: string,
  steps: CandidateView[][],
  finals: { f: number | undefined; chosen: boolean }[],
  picked: (number | undefined)[][],
): string {
  const colW = 170;
  const rowH = 24;
  const top = 28;
  const rows = Math.max(1, ...steps.map((s) => s.length), finals.length);
  const width = 40 + colW * (steps.length + 1) + 120;
  const height = top + rows * rowH + 10;
  const y = (i: number, n: number) => top + (rows - n) * (rowH / 2) + i * rowH + rowH / 2;
  const x = (col: number) => 24 + col * colW;
  const parts: string[] = [];
  const rootY = y(0, 1);
  parts.push(`<text x="${x(0)}" y="16" class="tree-head">prompt</text>`);
  steps.forEach((_, k) => parts.push(`<text x="${x(k + 1)}" y="16" class="tree-head">step ${k + 1}</text>`));
  parts.push(`<text x="${x(steps.length + 1)}" y="16" class="tree-head">final</text>`);
  // Where beam b of step k (its kept candidate in step k-1) sits.
  const parentY = (k: number, beam: number) => {
    if (k === 0) return rootY;
    const i = picked[k - 1]?.[beam];
    return i === undefined ? rootY : y(i, steps[k - 1]!.length);
  };
  steps.forEach((cands, k) => {
    for (const c of cands) {
      const cy = y(c.index, cands.length);
      parts.push(
        `<line class="edge${c.kept ? ' kept' : ''}" x1="${x(k) + 7}" y1="${parentY(k, c.beam).toFixed(1)}" x2="${x(k + 1) - 7}" y2="${cy.toFixed(1)}"/>`,
      );
    }
  });
  finals.forEach((_, j) => {
    parts.push(
      `<line class="edge kept" x1="${x(steps.length) + 7}" y1="${parentY(steps.length, j).toFixed(1)}" x2="${x(steps.length + 1) - 7}" y2="${y(j, finals.length).toFixed(1)}"/>`,
    );
  });
  parts.push(`<circle class="node root" cx="${x(0)}" cy="${rootY}" r="7"/>`);
  steps.forEach((cands, k) => {
    for (const c of cands) {
      const cy = y(c.index, cands.length).toFixed(1);
      const cls = ['node', 'candidate', c.kept ? 'kept' : '', c.role ?? ''].filter(Boolean).join(' ');
      const opacity = (0.15 + 0.85 * (c.F ?? 0)).toFixed(3);
      const tip = `step ${k + 1}, candidate ${c.index} (beam ${c.beam})\nf = ${fmt(c.f)}, F = ${fmt(c.F)}, A = ${fmt(c.A)}${c.kept ? `\nkept as beam${c.kept > 1 ? ` x${c.kept}` : ''}` : ''}${c.role ? `\n${c.role}` : ''}\n${c.step}`;
      parts.push(
        `<circle class="${cls}" cx="${x(k + 1)}" cy="${cy}" r="7" fill-opacity="${opacity}"><title>${escapeHtml(tip)}</title></circle>`,
      );
      parts.push(
        `<text x="${x(k + 1) + 11}" y="${(Number(cy) + 4).toFixed(1)}" class="node-label">${escapeHtml(`${fmt(c.f)} ${clip(c.step, 16)}`)}</text>`,
      );
    }
  });
  finals.forEach((fin, j) => {
    const cy = y(j, finals.length).toFixed(1);
    parts.push(
      `<circle class="node final${fin.chosen ? ' kept chosen-final' : ''}" cx="${x(steps.length + 1)}" cy="${cy}" r="7"><title>${escapeHtml(`final of beam ${j}: f = ${fmt(fin.f)}${fin.chosen ? ' (response)' : ''}`)}</title></circle>`,
    );
    parts.push(
      `<text x="${x(steps.length + 1) + 11}" y="${(Number(cy) + 4).toFixed(1)}" class="node-label">${escapeHtml(fmt(fin.f))}</text>`,
    );
  });
  return `<svg class="tree-svg" id="${escapeHtml(id)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img">${parts.join('')}</svg>`;
}

/** A table of one step's candidates. */
function stepTable(k: number, cands: CandidateView[]): string {
  const rows = cands
    .map(
      (c) =>
        `<tr class="${[c.kept ? 'kept' : '', c.role ?? ''].join(' ').trim()}"><td>${c.index}</td><td>${c.beam}</td><td class="step-text">${escapeHtml(c.step)}</td><td>${fmt(c.f)}</td><td>${fmt(c.F)}</td><td>${fmt(c.A)}</td><td>${c.kept ? `beam${c.kept > 1 ? ` x${c.kept}` : ''}` : ''}${c.role ? ` ${c.role}` : ''}</td></tr>`,
    )
    .join('');
  return `<details class="step"${k === 0 ? ' open' : ''}><summary>step ${k + 1}: ${cands.length} candidates</summary><table class="step-table"><thead><tr><th>#</th><th>beam</th><th>candidate step</th><th>f (foresight)</th><th>F</th><th>A</th><th></th></tr></thead><tbody>${rows}</tbody></table></details>`;
}

/** The pairs of the query: chosen vs rejected per step, and whether ACO calibrates the pair. */
function pairsList(pairs: PairView[], steps: CandidateView[][]): string {
  if (pairs.length === 0) return '<p class="note">No preference pairs of this query in the pairs file.</p>';
  const items = pairs.map((p) => {
    const c = steps[p.step]?.[p.chosen];
    const r = steps[p.step]?.[p.rejected];
    const aw = num(p.pair.chosen_weights);
    const al = num(p.pair.rejected_weights);
    const region =
      aw !== undefined && al !== undefined && al > aw
        ? '<span class="calibration">calibration region (A_l &gt; A_w): w &lt; 1</span>'
        : '<span class="normal">normal region (A_l &le; A_w)</span>';
    return `<li class="pair"><b>step ${p.step + 1}</b> ${region}<div class="chosen">chosen #${p.chosen} (f ${fmt(c?.f)}, A_w ${fmt(aw)}): ${escapeHtml(c?.step ?? '')}</div><div class="rejected">rejected #${p.rejected} (f ${fmt(r?.f)}, A_l ${fmt(al)}): ${escapeHtml(r?.step ?? '')}</div><details><summary>trajectories</summary><pre class="chosen">${escapeHtml(text(p.pair.chosen?.[0]?.content))}</pre><pre class="rejected">${escapeHtml(text(p.pair.rejected?.[0]?.content))}</pre></details></li>`;
  });
  return `<ol class="pairs">${items.join('')}</ol>`;
}

/**
 * One query's foresight-tree view: the question, the tree (SVG), a table per step (candidate
 * step text, foresight score f, F = softmax(f / tau), advantage A, beams kept), the pairs built
 * from it and the final response. All text is escaped.
 */
export function foresightTreeView(record: ExplorationRecord, pairs: readonly PairRecord[], options: { tau: number; id: string }): string {
  const K = Math.max(0, (record.prob_pool?.length ?? 0) - 1);
  const located = locatePairs(record, pairs);
  const steps = Array.from({ length: K }, (_, k) => candidatesOf(record, k, options.tau, located));
  const picked = Array.from({ length: K }, (_, k) => (at<unknown[]>(record.sample_id_pool, k) ?? []).map(num));
  const finalPick = num(at(at(record.sample_id_pool, K), 0));
  const finals = (at<unknown[]>(record.prob_pool, K) ?? []).map((f, j) => ({ f: num(f), chosen: j === finalPick }));
  return `<section class="query" id="${escapeHtml(options.id)}"><h3>query ${escapeHtml(String(record.id))}</h3><p class="question">${escapeHtml(record.question)}</p>${treeSvg(`${options.id}-tree`, steps, finals, picked)}${steps.map((c, k) => stepTable(k, c)).join('')}<h4>preference pairs</h4>${pairsList(located, steps)}<details><summary>final response</summary><pre>${escapeHtml(text(record.response))}</pre></details></section>`;
}
