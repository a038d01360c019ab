import test from 'ava';
import { makeTemp } from '../helpers.js';
import { Trainer } from '../../src/train/trainer.js';
import type { ModelDtype } from '../../src/engine/native.js';
import type { ModelShape } from '../../src/modelmaker/index.js';
import { lossSpec, randomPairs } from './fixtures.js';

/**
 * LoRA training through frozen base weights kept in the file's type, against the F32 path
 * (`baseWeights: 'f32'`: the same file's weights dequantized, so both paths see identical
 * weights). What differs is only how ggml multiplies: the CPU quantizes the activations to the
 * weight type's partner (F16, BF16, Q8_0, Q8_K) for the forward product, and patch 0003
 * dequantizes W for the backward one (on the CPU an F16 W is widened in the outer-product kernel
 * instead, patch 0008, as its forward is since patch 0007). The tolerances are ~3x the errors measured on this shape
 * (2026-12-01), printed by each test; a backward that dropped or mis-transposed a product errs
 * by O(1).
 */
// n_ff = 17 x 256 rows: patch 0003 dequantizes ffn_gate and ffn_up in two blocks (4096 + 256 rows;
// BF16 and the quantized types on the CPU, every type on CUDA).
const SHAPE: ModelShape = {
  embeddingLength: 256,
  layerCount: 2,
  headCount: 4,
  headCountKv: 2,
  feedForwardLength: 4352,
  contextLength: 512,
  ropeTheta: 10000,
  tiedEmbeddings: false,
};

/** Tolerances per type: max |log-prob difference| per token, relative L2 error of the LoRA gradient. */
const TOLERANCE: Record<Exclude<ModelDtype, 'f32'>, { logprob: number; grad: number; bytesPerWeight: number }> = {
  f16: { logprob: 3e-3, grad: 2e-3, bytesPerWeight: 2 },
  bf16: { logprob: 3e-2, grad: 2e-2, bytesPerWeight: 2 },
  q8_0: { logprob: 9e-2, grad: 4e-2, bytesPerWeight: 34 / 32 },
  q4_K: { logprob: 0.18, grad: 8e-2, bytesPerWeight: 144 / 256 },
};

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d / n);
}

async function lossAndGrads(t: Trainer, seqs: ReturnType<typeof randomPairs>, P: number) {
  await t.zeroGrad();
  const r = await t.accumulate(seqs, lossSpec('aco', P));
  return { loss: r.loss, chosen: r.chosen, grads: await t.gradients(), logprobs: (await t.logprobs(seqs)).flat() };
}

for (const dtype of Object.keys(TOLERANCE) as (keyof typeof TOLERANCE)[]) {
  test(`LoRA through ${dtype} base weights matches the F32 path`, async (t) => {
    const tol = TOLERANCE[dtype];
    const model = await makeTemp({ shape: SHAPE, dtype, seed: 3 });
    const opts = { model, lora: { rank: 4, initBStd: 0.05 }, threads: 2, seed: 5 };
    const native = await Trainer.create(opts);
    const f32 = await Trainer.create({ ...opts, baseWeights: 'f32' });
    try {
      const matrices = 2 + 7 * SHAPE.layerCount;
      t.is(native.info.weightTypes[dtype], matrices, `every matrix stays ${dtype}: ${JSON.stringify(native.info.weightTypes)}`);
      t.deepEqual(native.info.dequantized, []);
      t.deepEqual(Object.keys(f32.info.weightTypes), ['f32']);
      // Memory: the matrices shrink to the type's bytes per weight (norms and LoRA factors are F32 in both).
      const saved = f32.info.weightBytes - native.info.weightBytes;
      const matrixParams = f32.info.parameters - SHAPE.embeddingLength * (2 * SHAPE.layerCount + 1);
      t.true(Math.abs(saved - matrixParams * (4 - tol.bytesPerWeight)) < 0.01 * saved, `saved ${saved} bytes`);

      const P = 3;
      const seqs = randomPairs(P, native.info.nVocab, 17);
      const a = await lossAndGrads(native, seqs, P);
      const b = await lossAndGrads(f32, seqs, P);
      const lpErr = Math.max(...a.logprobs.map((x, i) => Math.abs(x - b.logprobs[i]!)));
      const gErr = relL2(a.grads, b.grads);
      t.log(
        `${dtype}: max |dlogp| ${lpErr.toExponential(2)}, loss ${a.loss.toFixed(6)} vs ${b.loss.toFixed(6)}, gradient rel L2 ${gErr.toExponential(2)}`,
      );
      t.true(
        b.grads.some((g) => g !== 0),
        'the F32 path has non-trivial gradients',
      );
      t.true(lpErr < tol.logprob, `log-probs differ by ${lpErr}`);
      t.true(gErr < tol.grad, `gradients differ by ${gErr} (relative L2)`);
    } finally {
      native.dispose();
      f32.dispose();
    }
  });
}

test('an AdamW step through Q4_K base weights trains the adapter, and the merged model folds it in', async (t) => {
  const model = await makeTemp({ shape: SHAPE, dtype: 'q4_K', seed: 3 });
  const trainer = await Trainer.create({ model, lora: { rank: 4, initBStd: 0.05 }, threads: 2, seed: 5 });
  try {
    const P = 2;
    const seqs = randomPairs(P, trainer.info.nVocab, 9);
    const spec = lossSpec('aco', P);
    await trainer.zeroGrad();
    const before = (await trainer.accumulate(seqs, spec)).loss;
    await trainer.step({ lr: 1e-2 });
    await trainer.zeroGrad();
    const after = (await trainer.accumulate(seqs, spec)).loss;
    t.true(after < before, `loss ${before} -> ${after}`);
    const merged = `${model}.merged.gguf`;
    await trainer.saveModel(merged);
    const reloaded = await Trainer.create({ model: merged, lora: { rank: 4 }, threads: 2, baseWeights: 'f32' });
    try {
      // B = 0 in a fresh adapter: the merged model alone must reproduce the trained policy.
      const lp = (await reloaded.logprobs(seqs)).flat();
      const want = (await trainer.logprobs(seqs)).flat();
      const err = Math.max(...lp.map((x, i) => Math.abs(x - want[i]!)));
      t.log(`merged vs adapter: max |dlogp| ${err.toExponential(2)}`);
      t.true(err < TOLERANCE.q4_K.logprob, `merged model differs by ${err}`);
    } finally {
      reloaded.dispose();
    }
  } finally {
    trainer.dispose();
  }
});

test('a base model with rows that are not whole quantization blocks is refused by the model maker, naming the sizes', async (t) => {
  await t.throwsAsync(makeTemp({ shape: 'tiny', dtype: 'q4_K' }), { message: /blocks of 256.*\(64, 128, 64\)/ });
});
