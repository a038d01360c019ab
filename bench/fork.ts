// The foresight-shaped workload (M beams x N candidate steps, each candidate rolled out to the
// end, many queries in flight), run twice on the same engine: forking shared prefixes vs
// re-prefilling every request. Prints wall time and evaluated tokens (prefill + decode) of both.
//
//   node dist/bench/fork.js [--queries 16] [--beams 2] [--rollouts 4] [--steps 1]
//                           [--prefix 256] [--step-tokens 32] [--rollout-tokens 128]
import { Context, type Sequence } from '../src/engine/context.js';
import { Model } from '../src/engine/model.js';
import { benchModel, machine, printTable, seededTokens, timed, benchArgs } from './common.js';

const opt = benchArgs(import.meta.url, {
  queries: { type: 'string', default: '16' },
  beams: { type: 'string', default: '2' },
  rollouts: { type: 'string', default: '4' },
  steps: { type: 'string', default: '1' },
  prefix: { type: 'string', default: '256' },
  'step-tokens': { type: 'string', default: '32' },
  'rollout-tokens': { type: 'string', default: '128' },
  shape: { type: 'string', default: 'small' },
  dtype: { type: 'string', default: 'f16' },
  'gpu-layers': { type: 'string', default: '0' },
  'kv-unified': { type: 'boolean', default: false },
});
const Q = Number(opt.queries),
  M = Number(opt.beams),
  N = Number(opt.rollouts),
  K = Number(opt.steps);
const P = Number(opt.prefix),
  S = Number(opt['step-tokens']),
  R = Number(opt['rollout-tokens']);
const gen = (seed: number, maxTokens: number) => ({ maxTokens, temperature: 1, seed, stopAtEog: false });

/** Fork mode: candidates fork from their beam, rollouts fork from their candidate. */
async function forkQuery(ctx: Context, prompt: number[], q: number): Promise<void> {
  const root = await ctx.sequence(prompt);
  let beams: Sequence[] = await root.fork(M);
  await root.release();
  for (let k = 0; k < K; k++) {
    const candidates = (await Promise.all(beams.map((b) => b.fork(N)))).flat();
    await Promise.all(beams.map((b) => b.release()));
    await Promise.all(candidates.map((c, i) => c.generate(gen(q * 1000 + k * 100 + i, S))));
    await Promise.all(
      candidates.map(async (c, i) => {
        const [rollout] = await c.fork(1);
        await rollout!.generate(gen(q * 1000 + k * 100 + 50 + i, R));
        await rollout!.release();
      }),
    );
    beams = candidates.slice(0, M); // selection itself is not what is measured here
    await Promise.all(candidates.slice(M).map((c) => c.release()));
  }
  await Promise.all(beams.map((b) => b.release()));
}

/** Re-prefill mode: every request starts a fresh sequence holding its whole prefix. */
async function reprefillQuery(ctx: Context, prompt: number[], q: number): Promise<void> {
  let beams: number[][] = Array.from({ length: M }, () => prompt);
  for (let k = 0; k < K; k++) {
    const candidates = await Promise.all(
      beams
        .flatMap((beam) => Array.from({ length: N }, () => beam))
        .map(async (beam, i) => {
          const s = await ctx.sequence(beam);
          const step = await s.generate(gen(q * 1000 + k * 100 + i, S));
          await s.release();
          return [...beam, ...step.tokens];
        }),
    );
    await Promise.all(
      candidates.map(async (c, i) => {
        const s = await ctx.sequence(c);
        await s.generate(gen(q * 1000 + k * 100 + 50 + i, R));
        await s.release();
      }),
    );
    beams = candidates.slice(0, M);
  }
}

async function run(model: Model, mode: 'fork' | 'reprefill') {
  // Each sequence's stream holds the longest trajectory: prompt, K steps and a rollout.
  const longest = P + K * S + R + 8;
  const ctx = await Context.create(
    model,
    opt['kv-unified']
      ? { kvUnified: true, contextSize: Q * M * N * 2 * longest, maxSequences: 256, waitMs: 60000 }
      : { sequenceContextSize: longest, maxSequences: 256, waitMs: 60000 },
  );
  try {
    const prompts = Array.from({ length: Q }, (_, q) => seededTokens(P, 10 + q, model.info.vocabSize));
    const body = mode === 'fork' ? forkQuery : reprefillQuery;
    const { seconds } = await timed(() => Promise.all(prompts.map((p, q) => body(ctx, p, q))));
    const s = ctx.stats();
    return { seconds, evaluated: s.tokensEvaluated, generated: s.tokensGenerated };
  } finally {
    ctx.dispose();
  }
}

const model = await Model.load(await benchModel(opt.shape as 'small', opt.dtype as 'f16'), { gpuLayers: Number(opt['gpu-layers']) });
console.log(
  `foresight-shaped workload: ${Q} queries, M=${M}, N=${N}, K=${K}, prefix ${P}, steps ${S}, rollouts ${R}; ${opt.shape}/${opt.dtype}; ${opt['kv-unified'] ? 'unified' : 'split'} KV cache`,
);
console.log(`machine: ${machine()}`);
const forked = await run(model, 'fork');
const reprefilled = await run(model, 'reprefill');
printTable(
  ['mode', 'seconds', 'tokens evaluated', 'tokens generated', 'evaluated tok/s'],
  [
    ['fork', forked.seconds, forked.evaluated, forked.generated, forked.evaluated / forked.seconds],
    ['re-prefill', reprefilled.seconds, reprefilled.evaluated, reprefilled.generated, reprefilled.evaluated / reprefilled.seconds],
  ],
);
console.log(
  `wall-time ratio (re-prefill / fork): ${(reprefilled.seconds / forked.seconds).toFixed(2)}x   evaluated-token ratio: ${(reprefilled.evaluated / forked.evaluated).toFixed(2)}x`,
);
model.dispose();
