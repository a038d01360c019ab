import test from 'ava';
import { readFileSync } from 'node:fs';
import { makeTemp, root } from '../helpers.js';
import { Trainer } from '../../src/train/trainer.js';
import type { NativeLossSpec, NativeNodeDesc } from '../../src/engine/native.js';
import { CudaSupport, cudaSourcePath, unsupported } from './cuda-support.js';
import { lossSpec, randomPairs, QUANT_SHAPE } from './fixtures.js';

/**
 * No CPU fallback in the training graph on CUDA: every node the trainer builds (forward and
 * backward, LoRA over F32 and quantized base weights, full training, every loss, packed
 * sequences) is one ggml-cuda's supports_op accepts, read from the vendored source (this
 * machine has no GPU to ask). A node it refuses would run on the CPU with device-host copies.
 */
const cuda = new CudaSupport(readFileSync(cudaSourcePath(root), 'utf8'));
// The graphs a CUDA trainer builds: the CPU trainer's backward reads transposed operands in place
// (patch 0008) and marks causal zeros (patch 0010), which only the CPU's outer-product kernel
// takes; this turns both off.
process.env.GENIUS_TRAIN_TRANSPOSE_COPIES = '1';
const losses: NativeLossSpec['type'][] = ['aco', 'dpo', 'ipo', 'simpo', 'ropo', 'sft'];

async function graphs(t: Trainer, P: number): Promise<NativeNodeDesc[]> {
  const pairs = randomPairs(P, t.info.nVocab, 7);
  const nodes = await t.describe(pairs); // forward only (log-probs)
  for (const type of losses) nodes.push(...(await t.describe(type === 'sft' ? pairs.slice(0, P) : pairs, lossSpec(type, P))));
  return nodes;
}

const desc = (ty: string) => {
  const q = ty === 'q4_K';
  return {
    type: ty,
    ne: [256, 64, 1, 1],
    nb: q ? [144, 144, 9216, 9216] : [4, 1024, 65536, 65536],
    typeSize: q ? 144 : 4,
    blckSize: q ? 256 : 1,
    quantized: q,
    contiguous: true,
    contiguous1: true,
    contiguous2: true,
    contiguousRows: true,
    transposed: false,
  };
};
const node = (op: string, type: string, src: string[], extra: Partial<NativeNodeDesc> = {}): NativeNodeDesc => ({
  ...desc(type),
  op,
  src: src.map(desc),
  params: new Int32Array(16),
  ...extra,
});

test('the supports_op reading refuses what ggml-cuda refuses and accepts what it runs', (t) => {
  // The ops the trainer used to build (the causal mask's backward) and ones a quantized backward could take.
  t.false(cuda.supports(node('DIAG_MASK_ZERO', 'f32', ['f32'])));
  t.false(cuda.supports(node('OUT_PROD', 'f32', ['q4_K', 'f32'])));
  t.false(cuda.supports(node('CPY', 'f32', ['q4_K', 'f32'])));
  t.true(cuda.supports(node('OUT_PROD', 'f32', ['f32', 'f32'])));
  t.true(cuda.supports(node('GET_ROWS', 'f32', ['q4_K', 'i32'])));
  t.true(cuda.supports(node('MUL_MAT', 'f32', ['q4_K', 'f32'])));
  t.true(cuda.supports(node('SOFT_MAX', 'f32', ['f32', 'f32'])));
  t.true(cuda.supports(node('UNARY', 'f32', ['f32'], { subOp: 'STEP' })));
  t.false(cuda.supports(node('UNARY', 'f32', ['f32'], { subOp: 'STEP', src: [{ ...desc('f32'), contiguous: false }] })));
});

for (const [name, opts] of [
  ['LoRA, F32 base', { full: false, dtype: 'f32' }],
  ['LoRA, Q4_K base', { full: false, dtype: 'q4_K' }],
  ['LoRA, F16 base', { full: false, dtype: 'f16' }],
  ['full weights', { full: true, dtype: 'f32' }],
] as const) {
  test(`every node of the training graphs has a CUDA kernel (${name})`, async (t) => {
    const model = await makeTemp({ shape: QUANT_SHAPE, dtype: opts.dtype, seed: 2 });
    const trainer = await Trainer.create({ model, full: opts.full, lora: { rank: 4 }, threads: 2 });
    try {
      const nodes = await graphs(trainer, 2);
      t.log(`${nodes.length} nodes, ${new Set(nodes.map((n) => n.op)).size} ops`);
      t.deepEqual(unsupported(cuda, nodes), []);
      // GET_ROWS_BACK costs V * N^2 on CUDA when it scatters the label gather; only a trainable
      // embedding table (full training) may differentiate a row lookup.
      const back = nodes.filter((n) => n.op === 'GET_ROWS_BACK');
      if (opts.full)
        t.true(
          back.every((n) => n.ne[0] === QUANT_SHAPE.embeddingLength),
          'GET_ROWS_BACK only into the embedding table',
        );
      else t.is(back.length, 0);
    } finally {
      trainer.dispose();
    }
  });
}
