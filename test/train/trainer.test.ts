import test from 'ava';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { makeTemp, tempDir, vendoredModels } from '../helpers.js';
import { Trainer, type TrainSequence } from '../../src/train/trainer.js';
import { Model } from '../../src/engine/model.js';
import { Adapter, Context, type ContextOptions } from '../../src/engine/context.js';
import { makeLora } from '../../src/modelmaker/index.js';
import { pairLoss, resolveLossConfig, type LossName } from '../../src/losses/index.js';
import { lossSpec, randomPairs, randomSequences, TILE_REMAINDER_SHAPE } from './fixtures.js';

const EXACT: ContextOptions = { flashAttention: 'off', kvType: 'f32', maxSequences: 8 };

async function engineLogprobs(
  modelPath: string,
  seqs: readonly TrainSequence[],
  options: ContextOptions,
  adapter?: string,
): Promise<number[][]> {
  const model = await Model.load(modelPath);
  const ctx = await Context.create(model, options);
  try {
    if (adapter) await ctx.setAdapters([{ adapter: await Adapter.load(model, adapter) }]);
    return await Promise.all(seqs.map((s) => ctx.score(s.prompt, s.response)));
  } finally {
    ctx.dispose();
    model.dispose();
  }
}

const absDiffs = (a: number[][], b: number[][]) => a.flatMap((row, i) => row.map((x, j) => Math.abs(x - b[i]![j]!)));
const maxAbsDiff = (a: number[][], b: number[][]) => Math.max(...absDiffs(a, b));
const medianAbsDiff = (a: number[][], b: number[][]) => {
  const d = absDiffs(a, b).sort((x, y) => x - y);
  return d[Math.floor(d.length / 2)]!;
};

// llama.cpp in its exact configuration (no flash attention, F32 KV) computes the same float32
// arithmetic in another order: measured max |diff| ~1e-6 in log-prob; 2e-5 leaves room.
const EXACT_TOL = 2e-5;
// With llama.cpp's defaults (flash attention auto, F16 KV cache) the K/V rounding to F16 costs
// up to ~1e-2 in log-prob on these random models.
const DEFAULT_TOL = 3e-2;

for (const arch of ['llama', 'qwen2', 'qwen3'] as const) {
  test(`forward parity with llama.cpp: packed trainer log-probs == engine scores (${arch})`, async (t) => {
    const model = await makeTemp({ arch, shape: 'tiny', seed: 21 });
    const seqs = randomSequences(5, 1196, 8, [3, 12], [4, 20]);
    const engine = await engineLogprobs(model, seqs, EXACT);
    const trainer = await Trainer.create({ model, threads: 2 });
    try {
      const packed = await trainer.logprobs(seqs);
      const exact = maxAbsDiff(packed, engine);
      t.log(`max |trainer - llama.cpp (exact)| = ${exact.toExponential(2)}`);
      t.true(exact < EXACT_TOL);
      const defaults = maxAbsDiff(packed, await engineLogprobs(model, seqs, { maxSequences: 8 }));
      t.log(`max |trainer - llama.cpp (defaults)| = ${defaults.toExponential(2)}`);
      t.true(defaults < DEFAULT_TOL);
    } finally {
      trainer.dispose();
    }
  });
}

// The trainer's products run on the CPU's outer-product kernel (patch 0007): at a shape with a
// remainder in every tile dimension, and odd lengths, checked against llama.cpp's own kernels.
test('forward parity with llama.cpp at a shape that is no multiple of the kernel tiles', async (t) => {
  const model = await makeTemp({
    arch: 'llama',
    shape: TILE_REMAINDER_SHAPE,
    seed: 8,
  });
  const seqs = randomSequences(5, 1196, 3, [3, 11], [5, 23]);
  const engine = await engineLogprobs(model, seqs, EXACT);
  const trainer = await Trainer.create({ model, threads: 2 });
  try {
    const d = maxAbsDiff(await trainer.logprobs(seqs), engine);
    t.log(`max |diff| ${d.toExponential(2)}`);
    t.true(d < EXACT_TOL);
  } finally {
    trainer.dispose();
  }
});

test('forward parity with a LoRA adapter attached in llama.cpp (GQA, untied and tied embeddings)', async (t) => {
  for (const tied of [false, true]) {
    const model = await makeTemp({
      arch: 'llama',
      shape: {
        embeddingLength: 64,
        layerCount: 2,
        headCount: 4,
        headCountKv: 1,
        feedForwardLength: 96,
        contextLength: 512,
        ropeTheta: 10000,
        tiedEmbeddings: tied,
      },
      seed: 4,
    });
    const adapter = join(tempDir(), 'lora.gguf');
    await makeLora({ base: model, out: adapter, rank: 4, alpha: 8, seed: 9 });
    const seqs = randomSequences(4, 1196, 2, [2, 9], [3, 15]);
    const engine = await engineLogprobs(model, seqs, EXACT, adapter);
    const trainer = await Trainer.create({ model, adapter, threads: 2 });
    try {
      t.deepEqual(trainer.info.lora, {
        rank: 4,
        alpha: 8,
        targets: ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'],
      });
      const d = maxAbsDiff(await trainer.logprobs(seqs), engine);
      t.log(`tied=${tied}: max |diff| ${d.toExponential(2)}`);
      t.true(d < EXACT_TOL);
    } finally {
      trainer.dispose();
    }
  }
});

test('packing is exact: a sequence scores the same alone and packed with others (block-diagonal mask)', async (t) => {
  const model = await makeTemp({ arch: 'qwen2', shape: 'tiny', seed: 3 });
  const trainer = await Trainer.create({ model, threads: 2 });
  try {
    const seqs = randomSequences(4, 1196, 5, [2, 10], [5, 12]);
    const packed = await trainer.logprobs(seqs);
    for (let i = 0; i < seqs.length; i++) {
      const alone = await trainer.logprobs([seqs[i]!]);
      t.true(maxAbsDiff(alone, [packed[i]!]) < 1e-5, `sequence ${i}`);
    }
  } finally {
    trainer.dispose();
  }
});

test('the graph computes each loss as its float64 definition does', async (t) => {
  const model = await makeTemp({ arch: 'llama', shape: 'tiny', seed: 6 });
  const trainer = await Trainer.create({ model, threads: 2 });
  try {
    const P = 3;
    const seqs = randomPairs(P, trainer.info.nVocab, 12);
    const lp = await trainer.logprobs(seqs);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const f32sum = (xs: number[]) => xs.reduce((a, b) => Math.fround(a + b), 0);
    for (const type of ['aco', 'dpo', 'ipo', 'simpo', 'ropo'] as LossName[]) {
      const spec = lossSpec(type, P);
      const r = await trainer.accumulate(seqs, spec);
      const cfg = resolveLossConfig(type, { beta: spec.beta });
      for (let i = 0; i < P; i++) {
        const mean = type === 'simpo';
        const c = mean ? sum(lp[i]!) / lp[i]!.length : sum(lp[i]!);
        const rj = mean ? sum(lp[P + i]!) / lp[P + i]!.length : sum(lp[P + i]!);
        t.true(Math.abs(r.chosen[i]! - c) < 1e-3 && Math.abs(r.rejected[i]! - rj) < 1e-3);
        // Scoring (a forward-only graph) gives the training graph's log-probs bit for bit: the
        // sequence sums are float32 sums in token order, as the graph's selection product adds them.
        if (!mean) t.deepEqual([r.chosen[i], r.rejected[i]], [f32sum(lp[i]!), f32sum(lp[P + i]!)], `${type} pair ${i}`);
        const expect = pairLoss(
          cfg,
          { chosen: c, rejected: rj, refChosen: mean ? 0 : spec.refChosen![i]!, refRejected: mean ? 0 : spec.refRejected![i]! },
          type === 'aco' ? spec.weight![i]! : 1,
        );
        t.true(
          Math.abs(r.pairLoss[i]! - expect) < 1e-4 * Math.max(1, Math.abs(expect)),
          `${type} pair ${i}: ${r.pairLoss[i]} vs ${expect}`,
        );
      }
      const total = r.pairLoss.reduce((a, b) => a + b, 0) * spec.scale;
      t.true(Math.abs(r.loss - total) < 1e-5 * Math.max(1, Math.abs(total)), `${type}: loss ${r.loss} vs ${total}`);
    }
    const sft = await trainer.accumulate(seqs.slice(0, P), lossSpec('sft', P));
    t.true(Math.abs(sft.loss + sum(lp.slice(0, P).flat()) / 20) < 1e-4);
  } finally {
    trainer.dispose();
  }
});

test('SFT with label smoothing is the cross-entropy against (1 - e) one-hot + e / vocab', async (t) => {
  const model = await makeTemp({ arch: 'llama', shape: 'tiny', seed: 6 });
  const trainer = await Trainer.create({ model, threads: 2 });
  try {
    const V = trainer.info.nVocab;
    // Two one-token responses, packed: the whole next-token distribution of each comes from
    // scoring every vocabulary entry as that token, independently of the loss graph.
    const seqs: TrainSequence[] = [
      { prompt: [1, 40, 41, 42], response: [77] },
      { prompt: [1, 50, 51], response: [300] },
    ];
    const all = async (prompt: readonly number[]) =>
      (await trainer.logprobs(Array.from({ length: V }, (_, v) => ({ prompt, response: [v] })))).map((lp) => lp[0]!);
    const dists = [await all(seqs[0]!.prompt), await all(seqs[1]!.prompt)];
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const scale = 0.5;
    for (const e of [0, 0.2]) {
      const expect = scale * dists.reduce((s, lp, i) => s - (1 - e) * lp[seqs[i]!.response[0]!]! - e * mean(lp), 0);
      const r = await trainer.accumulate(seqs, { type: 'sft', beta: 0.1, scale, labelSmoothing: e });
      t.true(Math.abs(r.loss - expect) < 1e-4 * Math.max(1, Math.abs(expect)), `e ${e}: loss ${r.loss} vs ${expect}`);
    }
    await t.throwsAsync(trainer.accumulate(seqs, { type: 'sft', beta: 0.1, scale, labelSmoothing: 1 }), {
      message: /label smoothing must be in \[0, 1\)/,
    });
    const pairs = randomPairs(1, V, 3);
    await t.throwsAsync(trainer.accumulate(pairs, lossSpec('dpo', 1, { labelSmoothing: 0.1 })), { message: /sft loss only/ });
  } finally {
    trainer.dispose();
  }
});

test('ACO with w = 1 is DPO in the graph, loss and gradients alike', async (t) => {
  const model = await makeTemp({ arch: 'llama', shape: 'tiny', seed: 6 });
  const trainer = await Trainer.create({ model, lora: { rank: 4, initBStd: 0.05 }, threads: 2 });
  try {
    const P = 2;
    const seqs = randomPairs(P, trainer.info.nVocab, 2);
    const run = async (type: 'aco' | 'dpo', weight: number[]) => {
      await trainer.zeroGrad();
      const r = await trainer.accumulate(seqs, lossSpec(type, P, { weight }));
      return { loss: r.loss, grad: await trainer.gradients() };
    };
    const a = await run('aco', [1, 1]);
    const d = await run('dpo', [1, 1]);
    t.is(a.loss, d.loss);
    t.deepEqual(a.grad, d.grad);
    // DPO ignores calibration weights; ACO's change the loss and its gradient.
    t.deepEqual((await run('dpo', [0.3, 1])).grad, d.grad);
    const calibrated = await run('aco', [0.3, 1]);
    t.not(calibrated.loss, a.loss);
    t.notDeepEqual(calibrated.grad, a.grad);
  } finally {
    trainer.dispose();
  }
});

test('bad input gets a clear error and the process keeps working', async (t) => {
  const model = await makeTemp({ arch: 'llama', shape: 'tiny', seed: 1 });
  await t.throwsAsync(Trainer.create({ model: '/nonexistent/model.gguf' }), { message: /model file not found/ });
  const text = join(tempDir(), 'bad.gguf');
  writeFileSync(text, 'not a model');
  await t.throwsAsync(Trainer.create({ model: text }), { message: /not a GGUF file/ });
  await t.throwsAsync(Trainer.create({ model: join(vendoredModels, 'ggml-vocab-gpt-2.gguf') }), {
    message: /unsupported architecture 'gpt2' for training/,
  });
  await t.throwsAsync(Trainer.create({ model, lora: { targets: ['attn_qq'] } }), { message: /unknown LoRA target module 'attn_qq'/ });
  await t.throwsAsync(Trainer.create({ model, lora: { rank: 0 } }), { message: /rank must be a positive integer/ });
  const trainer = await Trainer.create({ model, threads: 1 });
  try {
    await t.throwsAsync(trainer.logprobs([{ prompt: [1, 2], response: [99999] }]), { message: /token id 99999 is outside the vocabulary/ });
    await t.throwsAsync(trainer.logprobs([{ prompt: [], response: [5] }]), { message: /at least one prompt token/ });
    await t.throwsAsync(trainer.accumulate(randomPairs(2, 1196, 1).slice(0, 3), lossSpec('dpo', 2)), {
      message: /P chosen then P rejected/,
    });
    await t.throwsAsync(trainer.accumulate(randomPairs(2, 1196, 1), lossSpec('dpo', 2, { refChosen: [NaN, 1] })), {
      message: /non-finite/,
    });
    await t.throwsAsync(trainer.accumulate(randomPairs(2, 1196, 1), lossSpec('kto' as never, 2)), { message: /unknown loss 'kto'/ });
    await t.throwsAsync(trainer.loadState(model), { message: /not a genius-trainer-state file/ });
    t.is((await trainer.logprobs(randomSequences(1, 1196, 3)))[0]!.length > 0, true);
  } finally {
    trainer.dispose();
  }
  await t.throwsAsync(trainer.logprobs([]), { message: /trainer is disposed/ });
});

test('LoRA with no targets is the frozen base model: it scores as the base, bit for bit, and refuses to train', async (t) => {
  const model = await makeTemp({ arch: 'llama', shape: 'tiny', seed: 4 });
  const frozen = await Trainer.create({ model, threads: 2, lora: { targets: [] } });
  const base = await Trainer.create({ model, threads: 2 }); // B = 0: the base model plus exact zeros
  try {
    t.is(frozen.info.trainableParameters, 0);
    const seqs = randomPairs(2, frozen.info.nVocab, 9);
    t.deepEqual(await frozen.logprobs(seqs), await base.logprobs(seqs));
    const refused = { message: /no trainable parameters \(LoRA with no targets\): it can score, not train/ };
    await t.throwsAsync(frozen.accumulate(seqs, lossSpec('aco', 2)), refused);
    await t.throwsAsync(frozen.step({ lr: 1e-3 }), refused);
    await t.throwsAsync(frozen.zeroGrad(), refused);
    await t.throwsAsync(frozen.saveState(join(tempDir(), 'frozen-state.gguf')), refused);
    await t.throwsAsync(frozen.saveAdapter(join(tempDir(), 'frozen-adapter.gguf')), { message: /no LoRA adapter to save/ });
    t.deepEqual(await frozen.logprobs(seqs), await base.logprobs(seqs), 'still scoring after the refusals');
  } finally {
    frozen.dispose();
    base.dispose();
  }
});

test('forward parity with Llama 3 rope_freqs and with linear rope scaling', async (t) => {
  const { extendGguf } = await import('../onnx/oracle.js');
  const plain = await makeTemp({ arch: 'llama', shape: 'tiny', seed: 8 });
  const dir = tempDir();
  const freqs = join(dir, 'freqs.gguf');
  extendGguf(plain, freqs, { tensors: [['rope_freqs.weight', Float32Array.from({ length: 8 }, (_, i) => 1 + i)]] });
  const linear = join(dir, 'linear.gguf');
  extendGguf(plain, linear, {
    kv: [
      ['llama.rope.scaling.type', 'linear'],
      ['llama.rope.scaling.factor', 4],
    ],
  });
  const seqs = randomSequences(3, 1196, 4, [4, 10], [8, 16]);
  const base = await engineLogprobs(plain, seqs, EXACT);
  for (const model of [freqs, linear]) {
    const engine = await engineLogprobs(model, seqs, EXACT);
    t.true(maxAbsDiff(engine, base) > 1e-3, 'the scaling changes the model');
    const trainer = await Trainer.create({ model, threads: 2 });
    try {
      t.true(maxAbsDiff(await trainer.logprobs(seqs), engine) < EXACT_TOL);
    } finally {
      trainer.dispose();
    }
  }
  // Full-weight training keeps the frequency factors constant (no gradient exists for them).
  const full = await Trainer.create({ model: freqs, full: true, threads: 2 });
  try {
    const r = await full.accumulate(seqs.slice(0, 2), { type: 'sft', beta: 0.1, scale: 0.1 });
    t.true(Number.isFinite(r.loss));
    t.is(full.info.trainableParameters, full.info.parameters - 8);
  } finally {
    full.dispose();
  }
  const yarn = join(dir, 'yarn.gguf');
  extendGguf(plain, yarn, { kv: [['llama.rope.scaling.type', 'yarn']] });
  await t.throwsAsync(Trainer.create({ model: yarn }), { message: /rope scaling 'yarn' is not supported/ });
});

test('F16 base weights stay F16 for LoRA and multiply as F32: LoRA log-probs equal the dequantized ones', async (t) => {
  const model = await makeTemp({ arch: 'qwen2', shape: 'tiny', seed: 13, dtype: 'f16' });
  const seqs = randomSequences(3, 1196, 6, [3, 8], [6, 12]);
  const engine = await engineLogprobs(model, seqs, EXACT);
  const trainer = await Trainer.create({ model, lora: { rank: 4 }, threads: 2 });
  const dequantized = await Trainer.create({ model, full: true, threads: 2 });
  try {
    // On the CPU the trainer's products widen F16 weights to F32 tile by tile and keep the
    // activations F32 (patch 0007), so LoRA over F16 weights computes exactly what the
    // full-weight trainer computes on the weights dequantized. The engine rounds activations to
    // F16 for its F16 products, which moves every token a little (median ~5e-4).
    const lora = await trainer.logprobs(seqs);
    const diff = maxAbsDiff(lora, await dequantized.logprobs(seqs));
    const engineDiff = medianAbsDiff(lora, engine);
    t.log(`F16 model: LoRA vs dequantized max |diff| ${diff.toExponential(2)}; vs the engine median ${engineDiff.toExponential(2)}`);
    t.true(diff < 1e-5);
    t.true(engineDiff > 1e-4, 'the contrast: F16-rounded activations move every token');
  } finally {
    trainer.dispose();
    dequantized.dispose();
  }
});
