import test from 'ava';
import { makeTemp } from '../helpers.js';
import { Trainer, type TrainSequence } from '../../src/train/trainer.js';
import type { ModelDtype, NativeNodeDesc } from '../../src/engine/native.js';
import { lossSpec, randomSequences, TILE_REMAINDER_SHAPE } from './fixtures.js';

/**
 * On the CPU the backward of every matrix product reads its transposed operands in place (patch
 * 0008: hinted products with a transposed src0, which the outer-product kernel fills its tile
 * from), instead of ggml's transposed copies, and the attention products skip the tiles of their
 * causal zeros (patch 0010), forward and backward; other backends keep ggml's plain form
 * (GENIUS_TRAIN_TRANSPOSE_COPIES=1 builds that form on the CPU too). Both forms compute every
 * output as the same in-order FMA chain (a skipped term is an FMA by an exact zero), so
 * log-probs, losses and gradients must agree bit for bit; a wrong stride, a dropped tile
 * remainder, a mis-transposed dK or a skipped tile that was not all zeros errs far more. The shape leaves a
 * remainder in every tile dimension (TILE_REMAINDER_SHAPE) and the sequences run past one tile
 * (up to 190 tokens: 128-row and 64-long tiles of the [L, L] attention products).
 */
const SHAPE = TILE_REMAINDER_SHAPE;

function longPairs(P: number, vocab: number, seed: number): TrainSequence[] {
  const chosen = randomSequences(P, vocab, seed, [3, 40], [60, 150]);
  const rejected = randomSequences(P, vocab, seed + 1000, [3, 3], [50, 149]).map((s, i) => ({
    prompt: chosen[i]!.prompt,
    response: s.response,
  }));
  return [...chosen, ...rejected];
}

async function withCopies<T>(f: () => Promise<T>): Promise<T> {
  process.env.GENIUS_TRAIN_TRANSPOSE_COPIES = '1';
  try {
    return await f();
  } finally {
    delete process.env.GENIUS_TRAIN_TRANSPOSE_COPIES;
  }
}

const transposedProducts = (nodes: NativeNodeDesc[]) => nodes.filter((n) => n.op === 'MUL_MAT' && n.src[0]!.transposed);
const copies = (nodes: NativeNodeDesc[]) => nodes.filter((n) => n.op === 'CONT').length;
/** Products marked with each causal flag (GGML_CPU_CAUSAL_DST = 1, _SRC1 = 2, _SRC0 = 4). */
const causal = (nodes: NativeNodeDesc[]) =>
  [1, 2, 4].map((f) => nodes.filter((n) => n.op === 'MUL_MAT' && (n.params[2]! & f) !== 0).length);

for (const [name, full, dtype] of [
  ['full weights', true, 'f32'],
  ['LoRA, F32 base', false, 'f32'],
  ['LoRA, F16 base', false, 'f16'],
] as [string, boolean, ModelDtype][]) {
  test.serial(`the CPU backward reads transposed operands in place, with the copies' numbers bit for bit (${name})`, async (t) => {
    const model = await makeTemp({ shape: SHAPE, dtype, seed: 8 });
    const opts = { model, full, lora: { rank: 4, initBStd: 0.05 }, threads: 2, seed: 5 };
    const inPlace = await Trainer.create(opts);
    const copied = await withCopies(() => Trainer.create(opts));
    try {
      const P = 3;
      const seqs = longPairs(P, inPlace.info.nVocab, 21);
      const spec = lossSpec('aco', P);

      const a = await inPlace.describe(seqs, spec);
      const b = await copied.describe(seqs, spec);
      t.log(`nodes ${a.length} vs ${b.length}, copies ${copies(a)} vs ${copies(b)}, transposed products ${transposedProducts(a).length}`);
      t.deepEqual(transposedProducts(b), [], 'the copies form (what CUDA gets) has no transposed src0');
      // per layer and sequence: dV, dK and the dP of O = V P read P, dP and V transposed
      t.true(transposedProducts(a).length >= 3 * SHAPE.layerCount * seqs.length);
      t.true(
        transposedProducts(a).every((n) => n.params[1] === 64),
        'every transposed product is hinted GGML_HINT_GENIUS_OUTER',
      );
      t.true(copies(a) < copies(b));
      // per layer and sequence: S = K^T Q and dP masked away, O = V P and dQ = K dS over zeros, dV
      // and dK over transposed zeros; the forward-only graph marks S and O in every block but the
      // last, which queries only the scored columns (no square causal blocks to skip)
      const perAttention = SHAPE.layerCount * seqs.length;
      t.deepEqual(causal(a), [2 * perAttention, 2 * perAttention, 2 * perAttention]);
      const scoring = (SHAPE.layerCount - 1) * seqs.length;
      t.deepEqual(causal(await inPlace.describe(seqs)), [scoring, scoring, 0]);
      t.deepEqual(causal(b), [0, 0, 0], 'no causal flags in the plain form');
      t.deepEqual(await inPlace.logprobs(seqs), await copied.logprobs(seqs));

      await inPlace.zeroGrad();
      await copied.zeroGrad();
      const ra = await inPlace.accumulate(seqs, spec);
      const rb = await copied.accumulate(seqs, spec);
      t.true(Number.isFinite(ra.loss));
      t.is(ra.loss, rb.loss);
      t.deepEqual(ra.chosen, rb.chosen);
      t.deepEqual(ra.rejected, rb.rejected);
      const ga = await inPlace.gradients();
      const gb = await copied.gradients();
      t.is(ga.length, gb.length);
      let differ = 0;
      let worst = 0;
      let gNorm = 0;
      for (let i = 0; i < ga.length; i++) {
        if (ga[i] !== gb[i]) differ++;
        worst = Math.max(worst, Math.abs(ga[i]! - gb[i]!));
        gNorm += ga[i]! * ga[i]!;
      }
      t.log(
        `${differ} of ${ga.length} gradient entries differ (max |diff| ${worst.toExponential(2)}, |g| ${Math.sqrt(gNorm).toExponential(2)})`,
      );
      t.true(gNorm > 0);
      t.is(differ, 0);
    } finally {
      inPlace.dispose();
      copied.dispose();
    }
  });
}
