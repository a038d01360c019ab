// The paper's Tables 3 and 4 on the built-in model: the same unlabeled queries, eval set and seeds
// for every variant; accuracy on the held-out labeled test split after the last round, mean +- sd
// over seeds. Variants: base (no training); Genius (foresight + ACO); foresight + DPO; foresight +
// SFT on chosen; w/o foresight + ACO (strategy no-foresight); w/o sampling + ACO (greedy).
//
//   node dist/bench/experiment.js [--seeds 0,1,2] [--rounds 2] [--variants genius,dpo,...]
//                                 [--out .cache/experiment] [--queries 48] [--eval-questions 100]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseLoopConfig, type LoopConfigInput } from '../src/loop/config.js';
import { runLoop } from '../src/loop/run.js';
import { packageRoot } from '../src/engine/native.js';
import { machine, printTable, benchArgs } from './common.js';

const opt = benchArgs(import.meta.url, {
  seeds: { type: 'string', default: '0,1,2' },
  rounds: { type: 'string', default: '2' },
  variants: { type: 'string', default: 'genius,dpo,sft,no-foresight,greedy' },
  out: { type: 'string', default: join(packageRoot, '.cache', 'experiment') },
  queries: { type: 'string', default: '48' },
  'eval-questions': { type: 'string', default: '100' },
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

const seeds = opt.seeds.split(',').map(Number);
const variants = opt.variants.split(',');
for (const v of variants) if (!VARIANTS[v]) throw new Error(`unknown variant ${v} (known: ${Object.keys(VARIANTS).join(', ')})`);
mkdirSync(opt.out, { recursive: true });

const results: Record<string, number[]> = { base: [] };
const t0 = performance.now();
for (const seed of seeds) {
  for (const v of variants) {
    const config = parseLoopConfig({
      out: join(opt.out, `${v}-seed${seed}`),
      rounds: Number(opt.rounds),
      seed,
      builtin: { queries: Number(opt.queries), evalQuestions: Number(opt['eval-questions']), seed: 2026 },
      ...VARIANTS[v]!.config,
    });
    const ts = performance.now();
    const s = await runLoop(config, { log: (m) => process.stderr.write(`[${v} seed ${seed}] ${m}\n`) });
    const last = s.rounds[s.rounds.length - 1]?.eval;
    (results[v] ??= []).push(last?.accuracy ?? NaN);
    if (results.base!.length < seeds.indexOf(seed) + 1) results.base!.push(s.before?.accuracy ?? NaN);
    process.stderr.write(
      `[${v} seed ${seed}] ${((performance.now() - ts) / 1000).toFixed(0)} s: ${s.before?.accuracy} -> ${s.rounds.map((r) => r.eval?.accuracy).join(' -> ')}\n`,
    );
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pct = (x: number) => (100 * x).toFixed(1);
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
writeFileSync(join(opt.out, 'results.json'), JSON.stringify({ seeds, rounds: Number(opt.rounds), results }, null, 2));
