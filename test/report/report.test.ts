import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExplorationRecord } from '../../src/foresight/records.js';
import { Rng } from '../../src/foresight/selection.js';
import { buildPairs } from '../../src/pairs/build.js';
import {
  readRunDir,
  renderReport,
  RUN_FILES,
  writeReport,
  type ReportData,
  type RoundMetrics,
  type TrainStepMetrics,
} from '../../src/report/index.js';
import { cliPath, tempDir } from '../helpers.js';
import { chromiumPath, countColor, decodePng, dumpDom, screenshot } from './browser.js';

const INJECTION = '<script>alert(1)</script><img src=x onerror="alert(2)">';

/** ACO-looking curves: loss falls, margins grow, w drifts below 1. */
function steps(rounds: number, perRound: number): TrainStepMetrics[] {
  const out: TrainStepMetrics[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let s = 0; s < perRound; s++) {
      const t = r * perRound + s;
      const margin = 0.02 * t + 0.05 * Math.sin(t);
      out.push({
        round: r,
        step: s,
        loss: 0.69 - 0.01 * t + 0.02 * Math.cos(t),
        'rewards/chosen': margin / 2,
        'rewards/rejected': -margin / 2,
        'rewards/margins': margin,
        'rewards/accuracies': Math.min(1, 0.5 + 0.015 * t),
        calibration_weight: 0.95 - 0.003 * t,
        grad_norm: 1 + Math.abs(Math.sin(t)),
        lr: 1e-6 * Math.min(1, (t + 1) / 5),
        tokens_per_s: 1000,
      });
    }
  }
  return out;
}

/** An exploration record with the sampler's layout: M = 2 beams, N = 3 candidates, K = 2 steps. */
function exploration(id: number, question: string): ExplorationRecord {
  const M = 2;
  const N = 3;
  const K = 2;
  const rng = new Rng(id + 1);
  const prefix = 'The reasoning steps are:\n\n';
  const rec: ExplorationRecord = {
    id,
    question,
    ground_truth: null,
    response: '',
    response_all_beams: [],
    foresight_steps: K,
    traj_pool: [],
    step_pool: [],
    prob_pool: [],
    adv_pool: [],
    step_prob: [],
    sample_id_pool: [],
    candidate_pool: [],
    beam_pool: [],
  };
  let beams = [prefix, prefix];
  let q = [0, 0];
  for (let k = 0; k < K; k++) {
    const cands = Array.from({ length: M * N }, (_, i) =>
      k === 0 && i === 1 ? `step ${k} cand ${i} ${INJECTION}` : `${10 + i} + ${k} = ${11 + i + k}`,
    );
    const f = cands.map(() => -0.5 - rng.next());
    const beam = cands.map((_, i) => Math.floor(i / N));
    rec.candidate_pool!.push(cands);
    rec.beam_pool!.push(beam);
    rec.traj_pool.push(cands.map((c, i) => `${beams[beam[i]!]}${c}\nrollout ${i}`));
    rec.step_pool.push(cands.map((_, i) => `rollout ${i}`));
    rec.prob_pool.push(f);
    rec.adv_pool.push(f.map((v, i) => v - q[beam[i]!]!));
    rec.step_prob.push(f.map((v) => v / 2));
    const picked = [...f.keys()].sort((a, b) => f[b]! - f[a]!).slice(0, M);
    rec.sample_id_pool.push(picked);
    beams = picked.map((i) => `${beams[beam[i]!]}${cands[i]}\n`);
    q = picked.map((i) => f[i]!);
  }
  rec.prob_pool.push([-0.7, -0.9]);
  rec.adv_pool.push([-0.7 - q[0]!, -0.9 - q[1]!]);
  rec.sample_id_pool.push([0, 0]);
  rec.traj_pool.push([]);
  rec.response = `${beams[0]}#### 12 ${INJECTION}`;
  rec.response_all_beams = [rec.response, `${beams[1]}#### 13`];
  return rec;
}

function syntheticRun(): ReportData {
  const explorations = [0, 1, 2, 3].map((i) =>
    exploration(i, i === 0 ? `tom has 3 apples. ${INJECTION} how many?` : `question ${i}: ann has ${i} coins. how many now?`),
  );
  const rng = new Rng(9);
  const pairs = explorations.flatMap(
    (r) => buildPairs(r, { rejected: 'categorical', tau: 0.1, maxChars: 10000, keepIdentical: true }, rng).pairs,
  );
  const rounds: RoundMetrics[] = [
    {
      round: 0,
      eval: { accuracy: 0.3, low: 0.22, high: 0.39, n: 100 },
      pairs: 120,
      train_loss: 0.66,
      stage_seconds: { sample: 61.5, reference: 3.25, train: 40.5, eval: 12.75 },
    },
    { round: 1, eval: null, pairs: 130, train_loss: 0.6, stage_seconds: { sample: 58, reference: 3, train: 41 } },
    { round: 2, eval: { accuracy: 0.45, low: 0.36, high: 0.55, n: 100 }, pairs: 128, train_loss: 0.5 },
  ];
  return {
    title: `run ${INJECTION}`,
    steps: steps(3, 20),
    rounds,
    samples: [
      { round: 0, explorations: [], pairs: [] },
      { round: 2, explorations, pairs },
    ],
    config: { beams: 2, note: INJECTION },
    baseline: { accuracy: 0.25, low: 0.18, high: 0.34, n: 100 },
  };
}

const CHART_IDS = ['loss', 'rewards', 'accuracies', 'calibration', 'grad-norm', 'lr', 'eval', 'pairs', 'stage-seconds'];

test('the page is self-contained, escapes every text and shows every plot', (t) => {
  const html = renderReport(syntheticRun(), { queries: 2 });
  for (const id of CHART_IDS) t.true(html.includes(`id="chart-${id}"`), id);
  t.false(/<script/i.test(html), 'no script, not even an injected one');
  t.false(/<img/i.test(html), 'no injected element');
  t.true(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt;'));
  t.false(/(?:src|href)=["']?(?:https?:)?\/\//i.test(html), 'no external resource');
  t.regex(html, /Content-Security-Policy" content="default-src 'none'/);
  t.is(html.match(/class="query"/g)?.length, 2, 'two queries shown');
  t.is(html.match(/class="pair"/g)?.length, 4, 'two pairs per query');
  t.is(html.match(/<svg class="chart-svg"/g)?.length, CHART_IDS.length, 'no chart is empty');
  // Eval whiskers: baseline and the two rounds that have an eval.
  t.is(html.slice(html.indexOf('id="chart-eval"'), html.indexOf('id="chart-pairs"')).match(/class="whisker"/g)?.length, 3);
});

test("the round table and chart show each stage's wall time", (t) => {
  const html = renderReport(syntheticRun());
  const table = html.slice(html.indexOf('<table class="rounds">'));
  t.regex(table, /<th>sample s<\/th><th>reference s<\/th><th>train s<\/th><th>eval s<\/th><th>seconds<\/th>/);
  t.regex(table, /<td>61\.5<\/td><td>3\.25<\/td><td>40\.5<\/td><td>12\.75<\/td>/);
  // A round without the eval stage (or without timings at all) shows a dash there.
  t.regex(table, /<td>58<\/td><td>3<\/td><td>41<\/td><td>-<\/td>/);
  const chart = html.slice(html.indexOf('id="chart-stage-seconds"'));
  for (const s of ['sample', 'reference', 'train', 'eval']) t.true(chart.slice(0, chart.indexOf('</figure>')).includes(`>${s}<`), s);
});

test('the signal table shows each probed round, the AUROC against a likelier wrong step included', (t) => {
  const estimate = (value: number) => ({ value, low: value - 0.05, high: value + 0.05 });
  const signal = {
    queries: 48,
    steps: 180,
    distinctCandidates: 2.5,
    candidatesPerStep: 8,
    allIdenticalShare: 0.36,
    mixedSteps: 60,
    auroc: estimate(0.62),
    aurocAgainstLikelierStep: estimate(0.37),
    rightTrajectoryShare: 0.2,
    pairs: 180,
    chosenRight: 0.21,
    rejectedWrong: 0.8,
    preferenceAccuracy: 0.53,
    identicalPairShare: 0.33,
    finalAccuracy: 0.22,
    stepSelection: { steps: NaN, gained: NaN, lost: NaN },
  };
  // Round 1's metrics were written before the likelier-step figure existed.
  const { aurocAgainstLikelierStep: _, ...older } = signal;
  const run = syntheticRun();
  run.rounds[0]!.signal = signal;
  run.rounds[1]!.signal = older as typeof signal;
  const html = renderReport(run);
  const table = html.slice(html.indexOf('id="signal"'), html.indexOf('</table>', html.indexOf('id="signal"')));
  t.regex(table, /<th>foresight AUROC<\/th><th>95% CI<\/th><th>AUROC against a likelier wrong step<\/th><th>95% CI<\/th>/);
  t.regex(table, /<td>0\.62<\/td><td>0\.57 - 0\.67<\/td><td>0\.37<\/td><td>0\.32 - 0\.42<\/td><td>60<\/td>/);
  t.regex(table, /<td>0\.62<\/td><td>0\.57 - 0\.67<\/td><td>-<\/td><td>-<\/td><td>60<\/td>/);
  t.is(table.match(/<tr>/g)?.length, 3, 'a header and the two probed rounds');
});

test('missing data reads as missing, not as an error', (t) => {
  const html = renderReport({ steps: [], rounds: [], samples: [] });
  t.regex(html, /no evaluation: the run has no eval set/);
  t.regex(html, /no training steps recorded yet/);
  t.regex(html, /No exploration records yet/);
  t.is(html.match(/<svg class="chart-svg empty"/g)?.length, CHART_IDS.length);
  const partial = renderReport({
    steps: [
      { round: 0, step: 0, loss: 0.7 },
      { round: 0, step: 1, loss: 0.69 },
    ],
    rounds: [{ round: 0, pairs: 5 }],
    samples: [],
  });
  t.regex(partial, /id="chart-loss"><figcaption>[^<]*<\/figcaption><svg class="chart-svg" /);
  t.regex(partial, /id="chart-calibration"><figcaption>[^<]*<\/figcaption><svg class="chart-svg empty"/);
  t.regex(partial, /no evaluation/);
  // Strings where numbers belong are ignored, not printed.
  const odd = renderReport({ steps: [{ round: 0, step: 0, loss: '<b>x</b>' as unknown as number }], rounds: [], samples: [] });
  t.false(odd.includes('<b>x'));
});

test('writeReport reads a run directory (torn last lines included)', (t) => {
  const run = tempDir();
  const data = syntheticRun();
  writeFileSync(join(run, RUN_FILES.steps), data.steps.map((s) => JSON.stringify(s)).join('\n') + '\n{"round": 3, "st');
  writeFileSync(join(run, RUN_FILES.rounds), data.rounds.map((s) => JSON.stringify(s)).join('\n') + '\n');
  writeFileSync(join(run, RUN_FILES.config), JSON.stringify(data.config));
  const round = join(run, RUN_FILES.roundDir(2));
  mkdirSync(round);
  writeFileSync(join(round, RUN_FILES.exploration), data.samples[1]!.explorations.map((s) => JSON.stringify(s)).join('\n') + '\n');
  writeFileSync(join(round, RUN_FILES.pairs), data.samples[1]!.pairs.map((s) => JSON.stringify(s)).join('\n') + '\n');
  const read = readRunDir(run);
  t.is(read.steps.length, 60);
  t.is(read.rounds.length, 3);
  t.is(read.samples.length, 1);
  t.is(read.samples[0]!.pairs.length, 8);
  const path = writeReport(run);
  t.is(path, join(run, RUN_FILES.report));
  t.regex(readFileSync(path, 'utf8'), /id="query-2"/);
  const cli = spawnSync(process.execPath, [cliPath, 'report', '--run', run, '--out', join(run, 'other.html'), '--queries', '1'], {
    encoding: 'utf8',
  });
  t.is(cli.status, 0, cli.stderr);
  t.is(cli.stdout.trim(), join(run, 'other.html'));
  t.is(readFileSync(join(run, 'other.html'), 'utf8').match(/class="query"/g)?.length, 1);
  t.throws(() => writeReport(data), { message: /options\.out/ });
  t.throws(() => writeReport(join(run, 'nope')), { message: /run directory not found/ });
});

test('the report renders in headless Chromium: plots present, screenshot non-trivial', (t) => {
  chromiumPath(); // fails with install instructions when Chromium is missing
  const dir = tempDir();
  const page = writeReport(syntheticRun(), { out: join(dir, 'report.html'), queries: 3 });
  const dom = dumpDom(page);
  for (const id of CHART_IDS)
    t.regex(dom, new RegExp(`<figure class="chart" id="chart-${id}"><figcaption>[^<]*</figcaption><svg class="chart-svg"`), id);
  t.is(
    dom.match(/<polyline class="series"/g)?.length,
    1 + 3 + 1 + 1 + 1 + 1 + 1 + 1 + 4,
    'one line per series (the stage chart: sample, reference, train, eval)',
  );
  t.is(dom.match(/<svg class="tree-svg"/g)?.length, 3, 'a foresight tree per query');
  t.true((dom.match(/class="node candidate/g)?.length ?? 0) === 3 * 2 * 6, 'K x M*N candidates per tree');
  t.false(/<script/i.test(dom));

  const png = screenshot(page, join(dir, 'report.png'));
  const img = decodePng(png);
  t.is(img.width, 1280);
  t.is(img.height, 2000);
  const pixels = img.width * img.height;
  let white = 0;
  const colors = new Set<number>();
  for (let i = 0; i < img.rgb.length; i += 3) {
    const [r, g, b] = [img.rgb[i]!, img.rgb[i + 1]!, img.rgb[i + 2]!];
    if (r > 245 && g > 245 && b > 245) white++;
    colors.add((r << 16) | (g << 8) | b);
  }
  t.true(white / pixels < 0.97, `page is ${((100 * white) / pixels).toFixed(1)}% white`);
  t.true(colors.size > 100, `${colors.size} colours`);
  // The series colours are drawn: loss (blue), rewards chosen (green) / rejected (red), w (orange).
  for (const [name, hex] of [
    ['blue', '#1f77b4'],
    ['green', '#2ca02c'],
    ['red', '#d62728'],
    ['orange', '#ff7f0e'],
  ] as const) {
    t.true(countColor(img, hex) > 200, `${name} curve pixels: ${countColor(img, hex)}`);
  }
});
