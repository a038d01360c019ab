// Our foresight sampler (forked prefixes, many queries in flight, one engine) vs a naive port
// of the same algorithm that re-prefills every request and runs one query at a time, and the two
// factors apart: prefix sharing alone (fork vs re-prefill at the same concurrency) and
// concurrency alone (C in flight vs 1, both forking). Same model, queries, settings and seed:
// all four runs must write the same records, or the benchmark fails (exit code 1).
//
//   node dist/bench/foresight.js [--queries 32] [--concurrency 16] [--steps 2] ...
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveForesightConfig } from '../src/foresight/config.js';
import { runSampling } from '../src/foresight/run.js';
import { benchDir, benchModel, machine, printTable, benchArgs } from './common.js';

const opt = benchArgs(import.meta.url, {
  queries: { type: 'string', default: '32' },
  concurrency: { type: 'string', default: '16' },
  beams: { type: 'string', default: '2' },
  rollouts: { type: 'string', default: '4' },
  steps: { type: 'string', default: '2' },
  'max-step-tokens': { type: 'string', default: '16' },
  'max-rollout-tokens': { type: 'string', default: '48' },
  shape: { type: 'string', default: 'small' },
  dtype: { type: 'string', default: 'f16' },
  seed: { type: 'string', default: '1' },
  'few-shot': { type: 'string', default: '2' },
});
// The reference prompts its model with instructions and worked examples (GSM 8-shot); a couple
// of examples keep this CPU run short while giving the prompt a realistic shared prefix.
const EXAMPLE =
  'Question: Ann has 4 books and buys 3 more. Then she gives 2 to Leo. How many books does Ann have?\nThe reasoning steps are:\n\nAnn starts with 4 books.\nShe buys 3 more, so she has 4 + 3 = 7 books.\nShe gives 2 to Leo, so she has 7 - 2 = 5 books.\nThe answer is \\boxed{5}. <end_of_reasoning>';
const system = `Please solve the following problem step by step, one step per line. When you reach the answer, write it as \\boxed{answer} and finish with <end_of_reasoning>. Examples:\n${Array.from({ length: Number(opt['few-shot']) }, () => EXAMPLE).join('\n\n')}`;
const config = resolveForesightConfig({
  beams: Number(opt.beams),
  rollouts: Number(opt.rollouts),
  steps: Number(opt.steps),
  maxStepTokens: Number(opt['max-step-tokens']),
  maxRolloutTokens: Number(opt['max-rollout-tokens']),
  system,
});
const names = ['Tom', 'Ann', 'Sam', 'Mia', 'Leo', 'Zoe', 'Ben', 'Eva'];
const things = ['apples', 'coins', 'books', 'marbles', 'cookies', 'pencils', 'cards', 'stickers'];
const queries = join(benchDir(), 'foresight-queries.jsonl');
const model = await benchModel(opt.shape as 'small', opt.dtype as 'f16');
writeFileSync(
  queries,
  Array.from({ length: Number(opt.queries) }, (_, i) => {
    const a = 2 + ((i * 7) % 19);
    const b = 1 + ((i * 5) % 11);
    return JSON.stringify({
      instruction: `${names[i % 8]} has ${a} ${things[(i >> 3) % 8]} and gets ${b} more, then gives away ${(a + b) % 5}. How many ${things[(i >> 3) % 8]} are left?`,
    });
  }).join('\n') + '\n',
);

async function run(name: string, concurrency: number, prefixSharing: boolean) {
  const out = join(benchDir(), `foresight-${name}.jsonl`);
  writeFileSync(out, '');
  const s = await runSampling({ model, queries, out, config, concurrency, seed: Number(opt.seed), prefixSharing });
  return {
    name,
    s,
    records: readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.stringify({ ...JSON.parse(l), seconds: 0 })),
  };
}

console.log(
  `foresight sampler vs naive port: ${opt.queries} queries, M=${config.beams}, N=${config.rollouts}, K=${config.steps}, steps <= ${config.maxStepTokens} tokens, rollouts <= ${config.maxRolloutTokens}, ${opt['few-shot']}-shot system prompt; ${opt.shape}/${opt.dtype}`,
);
console.log(`machine: ${machine()}`);
const C = Number(opt.concurrency);
const ours = await run('ours', C, true);
const reprefill = await run('reprefill', C, false);
const single = await run('single', 1, true);
const naive = await run('naive', 1, false);
const qpm = (r: typeof ours) => (r.s.written / r.s.seconds) * 60;
const row = (name: string, r: typeof ours) => [name, r.s.seconds, qpm(r), r.s.generatedTokens / r.s.seconds];
printTable(
  ['sampler', 'seconds', 'queries/min', 'generated tok/s'],
  [
    row(`ours (fork, ${C} in flight)`, ours),
    row(`re-prefill, ${C} in flight`, reprefill),
    row('fork, 1 at a time', single),
    row('naive (re-prefill, 1 at a time)', naive),
  ],
);
const ratio = (a: typeof ours, b: typeof ours) => `${(qpm(a) / qpm(b)).toFixed(2)}x`;
console.log(`speed-up, both factors (ours vs naive): ${ratio(ours, naive)}`);
console.log(`prefix sharing alone (fork vs re-prefill): ${ratio(ours, reprefill)} at ${C} in flight, ${ratio(single, naive)} at 1`);
console.log(`concurrency alone (${C} vs 1 in flight): ${ratio(ours, single)} forking, ${ratio(reprefill, naive)} re-prefilling`);
const differ = [reprefill, single, naive].filter(
  (r) => r.records.length !== ours.records.length || r.records.some((l, i) => l !== ours.records[i]),
);
console.log(`records identical: ${differ.length === 0 ? 'yes' : 'NO'}`);
if (differ.length > 0) {
  console.error(`bench:foresight: ${differ.map((r) => r.name).join(', ')} wrote other records than ours: the runs must be bit-identical`);
  process.exitCode = 1;
}
