// The paper's Tables 3 and 4 on the built-in model: the same unlabeled queries, eval set and seeds
// for every variant; accuracy on the held-out labeled test split after the last round, mean +- sd
// over seeds. Variants: base (no training); Genius (foresight + ACO); foresight + DPO; foresight +
// SFT on chosen; w/o foresight + ACO (strategy no-foresight); w/o sampling + ACO (greedy).
// The defaults are the efficacy issue's scale: one round (the paper's) of 1000 queries, 500 test
// problems, 3 seeds. Variants that sample alike (Genius, DPO, SFT) share a seed's first
// exploration, and every run shares the base's evaluation: the loop would compute the same bytes
// (same model, settings and seed), and resumes from the copies. Besides accuracy it prints each
// run's probe of its round-1 exploration and the cost (minutes, tokens sampled).
//
//   node dist/bench/experiment.js [--seeds 0,1,2] [--rounds 1] [--variants genius,dpo,...]
//                                 [--out .cache/experiment] [--queries 1000] [--eval-questions 500] [--threads 0]
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseLoopConfig, type LoopConfigInput } from '../src/loop/config.js';
import { runLoop, type LoopSummary } from '../src/loop/run.js';
import { packageRoot } from '../src/engine/native.js';
import { readJsonl } from '../src/jsonl.js';
import type { ExplorationRecord } from '../src/foresight/records.js';
import { RUN_FILES } from '../src/report/index.js';
import { machine, printTable, benchArgs } from './common.js';

const opt = benchArgs(import.meta.url, {
  seeds: { type: 'string', default: '0,1,2' },
  rounds: { type: 'string', default: '1' },
  variants: { type: 'string', default: 'genius,dpo,sft,no-foresight,greedy' },
  out: { type: 'string', default: join(packageRoot, '.cache', 'experiment') },
  queries: { type: 'string', default: '1000' },
  'eval-questions': { type: 'string', default: '500' },
  threads: { type: 'string', default: '0' },
});

const VARIANTS: Record<string, { label: string; config: Partial<LoopConfigInput> }> = {
  genius: { label: 'Genius (foresight + ACO)', config: {} },
  dpo: { label: 'foresight + DPO', config: { training: { loss: 'dpo' } } },
  sft: { label: 'foresight + SFT on chosen', config: { training: { loss: 'sft' } } },
  'no-foresight': { label: 'w/o foresight + ACO', config: { sampling: { strategy: 'no-foresight' } } },
  greedy: {
    label: 'w/o sampling (greedy beams, lowest-scored rejected) + ACO',
    config: { sampling: { strategy: 'greedy' }, pairs: { rejected: 'lowest' } },
  },
};

/** Copies `files` from one run directory to another unless the target has them. */
function share(from: string, to: string, files: string[]): void {
  for (const f of files) {
    if (!existsSync(join(from, f)) || existsSync(join(to, f))) continue;
    mkdirSync(dirname(join(to, f)), { recursive: true });
    copyFileSync(join(from, f), join(to, f));
  }
}

const BASELINE = [RUN_FILES.baseline, 'baseline-eval.jsonl'];
const firstExploration = join(RUN_FILES.roundDir(0), RUN_FILES.exploration);
const EXPLORATION = [firstExploration, `${firstExploration}.config.json`];

/** Tokens the run's explorations generated. */
function sampledTokens(s: LoopSummary): number {
  let n = 0;
  for (const r of s.rounds) {
    const path = join(s.out, RUN_FILES.roundDir(r.round), RUN_FILES.exploration);
    for (const rec of readJsonl<ExplorationRecord>(path)) n += rec.tokens?.generated ?? 0;
  }
  return n;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pct = (x: number) => (100 * x).toFixed(1);

const seeds = opt.seeds.split(',').map(Number);
const variants = opt.variants.split(',');
for (const v of variants) if (!VARIANTS[v]) throw new Error(`unknown variant ${v} (known: ${Object.keys(VARIANTS).join(', ')})`);
mkdirSync(opt.out, { recursive: true });

const results: Record<string, number[]> = { base: [] };
const runRows: (string | number)[][] = [];
const t0 = performance.now();
let firstRun: string | undefined;
for (const seed of seeds) {
  // The first run of this seed for each sampling setting, whose exploration the others reuse.
  const explorer = new Map<string, string>();
  for (const v of variants) {
    const out = join(opt.out, `${v}-seed${seed}`);
    const config = parseLoopConfig({
      out,
      rounds: Number(opt.rounds),
      seed,
      threads: Number(opt.threads),
      builtin: { queries: Number(opt.queries), evalQuestions: Number(opt['eval-questions']), seed: 2026 },
      ...VARIANTS[v]!.config,
    });
    const sampling = JSON.stringify(VARIANTS[v]!.config.sampling ?? {});
    const from = explorer.get(sampling);
    if (firstRun) share(firstRun, out, BASELINE);
    if (from) share(from, out, EXPLORATION);
    const ts = performance.now();
    const s = await runLoop(config, { log: (m) => process.stderr.write(`[${v} seed ${seed}] ${m}\n`) });
    firstRun ??= out;
    if (!from) explorer.set(sampling, out);
    const last = s.rounds[s.rounds.length - 1]?.eval;
    (results[v] ??= []).push(last?.accuracy ?? NaN);
    if (results.base!.length < seeds.indexOf(seed) + 1) results.base!.push(s.before?.accuracy ?? NaN);
    const minutes = (performance.now() - ts) / 60000;
    const accuracies = [s.before?.accuracy, ...s.rounds.map((r) => r.eval?.accuracy)];
    const probe = s.rounds[0]?.signal;
    runRows.push([
      v,
      seed,
      accuracies.map((a) => (a === undefined ? '-' : pct(a))).join(' -> '),
      s.rounds.map((r) => r.pairs ?? 0).join(' / '),
      probe ? `${probe.auroc.value.toFixed(3)} / ${probe.aurocAgainstLikelierStep.value.toFixed(3)}` : '-',
      probe ? `${pct(probe.chosenRight)} / ${pct(probe.finalAccuracy)}` : '-',
      `${(sampledTokens(s) / 1e6).toFixed(2)}${from ? ' (shared)' : ''}`,
      minutes.toFixed(1),
    ]);
    process.stderr.write(`[${v} seed ${seed}] ${(minutes * 60).toFixed(0)} s: ${accuracies.join(' -> ')}\n`);
  }
}

console.log(
  `# experiment: built-in model, ${opt.rounds} rounds, seeds ${opt.seeds}, ${opt.queries} queries/round, ${opt['eval-questions']} test questions; ${machine()}; ${((performance.now() - t0) / 60000).toFixed(1)} min`,
);
printTable(
  ['variant', 'accuracy % (mean +- sd)', 'per seed'],
  [['base', 'base (no training)'] as const, ...variants.map((v) => [v, VARIANTS[v]!.label] as const)].map(([key, label]) => [
    label,
    `${pct(mean(results[key]!))} +- ${pct(sd(results[key]!))}`,
    results[key]!.map(pct).join(' / '),
  ]),
);
console.log('');
printTable(
  [
    'variant',
    'seed',
    'accuracy % by round',
    'pairs',
    'round-1 probe: AUROC / against a likelier wrong step',
    'chosen right / final responses right %',
    'M tokens sampled',
    'minutes',
  ],
  runRows,
);
writeFileSync(join(opt.out, 'results.json'), JSON.stringify({ seeds, rounds: Number(opt.rounds), results }, null, 2));
