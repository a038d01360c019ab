import type { ModelShape } from '../../src/modelmaker/index.js';
import { writeFileSync } from 'node:fs';
import type { NativeLossSpec } from '../../src/engine/native.js';
import type { Trainer, TrainSequence } from '../../src/train/trainer.js';
import { Rng } from '../../src/foresight/selection.js';

/**
 * A small shape whose matrix rows are whole blocks of every quantized type (256 columns: Q4_K's
 * super-block), for the native-type and CUDA tests.
 */
export const QUANT_SHAPE: ModelShape = {
  embeddingLength: 256,
  layerCount: 2,
  headCount: 4,
  headCountKv: 2,
  feedForwardLength: 512,
  contextLength: 512,
  ropeTheta: 10000,
  tiedEmbeddings: false,
};

/** Random token sequences inside the vocabulary (ids >= 3 skip the special tokens). */
/**
 * A shape that leaves a remainder in every tile dimension of the CPU's outer-product kernel
 * (patch 0007: 128 rows by 64 of the contraction): 200 = 3 x 64 + 8 of contraction, 136 = 128 + 8
 * rows, a 40-long head, 5 query heads over 1 KV head.
 */
export const TILE_REMAINDER_SHAPE: ModelShape = {
  embeddingLength: 200,
  layerCount: 2,
  headCount: 5,
  headCountKv: 1,
  feedForwardLength: 136,
  contextLength: 512,
  ropeTheta: 10000,
  tiedEmbeddings: false,
};

export function randomSequences(
  n: number,
  vocab: number,
  seed: number,
  promptLen: [number, number] = [2, 6],
  respLen: [number, number] = [2, 7],
): TrainSequence[] {
  const rng = new Rng(seed);
  const between = ([lo, hi]: [number, number]) => lo + rng.int(hi - lo + 1);
  const tokens = (k: number) => Array.from({ length: k }, () => 3 + rng.int(vocab - 3));
  return Array.from({ length: n }, () => ({ prompt: [1, ...tokens(between(promptLen) - 1)], response: tokens(between(respLen)) }));
}

/** P preference pairs as the trainer takes them: P chosen, then P rejected sequences (shared prompts). */
export function randomPairs(P: number, vocab: number, seed: number): TrainSequence[] {
  const chosen = randomSequences(P, vocab, seed);
  const rejected = randomSequences(P, vocab, seed + 1000).map((s, i) => ({ prompt: chosen[i]!.prompt, response: s.response }));
  return [...chosen, ...rejected];
}

export function lossSpec(type: NativeLossSpec['type'], P: number, extra: Partial<NativeLossSpec> = {}): NativeLossSpec {
  return {
    type,
    beta: type === 'simpo' ? 2 : type === 'ipo' ? 0.5 : 0.1,
    weight: Array.from({ length: P }, (_, i) => [1, 0.35, 0.8, 1][i % 4]!),
    refChosen: Array.from({ length: P }, (_, i) => -20 - 3 * i),
    refRejected: Array.from({ length: P }, (_, i) => -18 - 2 * i),
    scale: type === 'sft' ? 1 / 20 : 1 / P,
    ...extra,
  };
}

const WORDS = [
  'one',
  'two',
  'three',
  'add',
  'the',
  'answer',
  'is',
  'then',
  'we',
  'get',
  'so',
  'four',
  'five',
  'six',
  'seven',
  'total',
  'left',
  'more',
];

/** A pairs JSONL file in our (the reference's) format with seeded texts and advantages. */
export function pairsFile(path: string, n: number, seed: number): string {
  const rng = new Rng(seed);
  const sentence = (k: number) => Array.from({ length: k }, () => WORDS[rng.int(WORDS.length)]).join(' ');
  const lines = Array.from({ length: n }, () => {
    const aw = rng.next() * 2 - 1;
    const al = rng.next() * 2 - 1;
    return JSON.stringify({
      prompt: `what is ${sentence(3)}?`,
      chosen: [{ role: 'assistant', content: `${sentence(4)}.\n${sentence(3)}.` }],
      rejected: [{ role: 'assistant', content: `${sentence(5)}.\n${sentence(2)}.` }],
      chosen_weights: aw,
      rejected_weights: al,
      chosen_average_weights: (aw + al) / 2,
    });
  });
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/**
 * Analytic gradients vs central finite differences of the F32 loss. Along a direction d mixing the
 * gradient with noise (|d| = 1), g.d is O(|g|), so F32 rounding of the loss (~1e-7 relative, over
 * 2 * eps = 2e-2) costs ~1e-5 relative and the O(eps^2) truncation ~1e-4: 2e-3 is a tolerance
 * a wrong mask, a missing attention path or a wrong loss derivative cannot meet (they err by O(1)).
 */
export const EPS_FD = 1e-2;
export const TOL_FD = 2e-3;

/** The loss of `seqs` (gradients zeroed first, accumulated by the call). */
export async function lossAt(t: Trainer, seqs: TrainSequence[], spec: NativeLossSpec): Promise<number> {
  await t.zeroGrad();
  return (await t.accumulate(seqs, spec)).loss;
}

/** Euclidean norm. */
export function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

export async function directionalCheck(t: Trainer, seqs: TrainSequence[], spec: NativeLossSpec, seed: number) {
  const theta = await t.parameters();
  const loss0 = await lossAt(t, seqs, spec);
  const g = await t.gradients();
  const rng = new Rng(seed);
  const gNorm = norm(g) || 1;
  const d = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) d[i] = g[i]! / gNorm + (rng.next() - 0.5) * 2 * Math.sqrt(3 / g.length);
  const dNorm = norm(d);
  let analytic = 0;
  for (let i = 0; i < g.length; i++) analytic += (g[i]! * d[i]!) / dNorm;
  const shifted = (sign: number) => Float32Array.from(theta, (x, i) => x + (sign * EPS_FD * d[i]!) / dNorm);
  await t.setParameters(shifted(+1));
  const plus = await lossAt(t, seqs, spec);
  await t.setParameters(shifted(-1));
  const minus = await lossAt(t, seqs, spec);
  await t.setParameters(theta);
  const numeric = (plus - minus) / (2 * EPS_FD);
  return { loss0, analytic, numeric, rel: Math.abs(analytic - numeric) / Math.max(Math.abs(analytic), 1e-6), gNorm };
}
