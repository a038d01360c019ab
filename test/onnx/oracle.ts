// The cross-engine oracle shared by the ONNX tests: the native engine and ONNX Runtime score the
// same batch, and their log-probs must agree within TOLERANCE.
import type { ExecutionContext } from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import type { ContextOptions } from '../../src/engine/context.js';
import type { ScoreItem, Scorer } from '../../src/engine/scorer.js';
import { readGguf } from '../../src/onnx/gguf-reader.js';

/** Exact engine arithmetic (no flash attention, F32 KV cache), as the engine's own tests use. */
export const EXACT: ContextOptions = { flashAttention: 'off', kvType: 'f32' };

/**
 * Largest allowed |log p_native - log p_onnx| on F32 models. Both sides compute in float32 with
 * different summation orders (ggml vs MLAS kernels, float64 vs float32 RoPE frequencies); the
 * differences measured on the generated models are ~1e-6 to 4e-6, and a deliberately broken
 * export (RoPE base, mask) differs by 1e-2 or more, so 1e-4 separates the two by 25x both ways.
 */
export const TOLERANCE = 1e-4;

/** Seeded ordinary token ids (ids below 5 are the built-in vocabulary's control tokens). */
export function tokens(n: number, seed: number, vocabSize: number): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 5 + (s % (vocabSize - 5));
  });
}

/** A batch with prompts of different lengths (1 to 64 tokens), and one item with nothing to score. */
export function batch(vocabSize: number, seed = 1): ScoreItem[] {
  const shapes: [number, number][] = [[1, 9], [7, 5], [33, 16], [64, 8], [12, 1], [20, 0], [3, 24]];
  return shapes.map(([p, c], i) => ({ prefix: tokens(p, seed * 100 + i, vocabSize), continuation: tokens(c, seed * 100 + 50 + i, vocabSize) }));
}

export async function maxDiff(a: Scorer, b: Scorer, items: readonly ScoreItem[]): Promise<number> {
  const [x, y] = [await a.scoreBatch(items), await b.scoreBatch(items)];
  let m = 0;
  items.forEach((it, i) => {
    if (x[i]!.length !== it.continuation.length || y[i]!.length !== it.continuation.length) throw new Error(`item ${i}: wrong number of log-probs`);
    x[i]!.forEach((v, j) => {
      const d = Math.abs(v - y[i]![j]!);
      m = Number.isNaN(d) ? Infinity : Math.max(m, d);
    });
  });
  return m;
}

/** The oracle assertion: native == ONNX within TOLERANCE. Returns the measured difference. */
export async function assertAgree(t: ExecutionContext, native: Scorer, onnx: Scorer, items: readonly ScoreItem[], tolerance = TOLERANCE): Promise<number> {
  const d = await maxDiff(native, onnx, items);
  t.true(d <= tolerance, `native vs ONNX log-probs: max |diff| ${d} > ${tolerance}`);
  return d;
}

/**
 * Copies a GGUF and adds a `rope_freqs.weight` tensor (Llama 3 RoPE frequency factors): the
 * model maker does not write one. Existing tensor offsets are relative to the data section, so
 * they stay valid; the new tensor goes after the last one.
 */
export function withRopeFreqs(src: string, dst: string, factors: Float32Array): void {
  const g = readGguf(src);
  const bytes = readFileSync(src);
  const align = (n: number) => Math.ceil(n / g.alignment) * g.alignment;
  let dataEnd = g.dataStart;
  for (const t of g.tensors.values()) dataEnd = Math.max(dataEnd, t.offset + t.bytes);
  const rel = align(dataEnd) - g.dataStart;
  const name = Buffer.from('rope_freqs.weight');
  const info = Buffer.alloc(8 + name.length + 4 + 8 + 4 + 8);
  let o = info.writeBigUInt64LE(BigInt(name.length), 0);
  o += name.copy(info, o);
  o = info.writeUInt32LE(1, o);
  o = info.writeBigUInt64LE(BigInt(factors.length), o);
  o = info.writeUInt32LE(0, o);
  info.writeBigUInt64LE(BigInt(rel), o);
  const head = Buffer.concat([bytes.subarray(0, g.headerBytes), info]);
  head.writeBigUInt64LE(BigInt(g.tensors.size + 1), 8);
  const dataStart = align(head.length);
  const out = Buffer.alloc(dataStart + rel + factors.byteLength);
  head.copy(out, 0);
  bytes.copy(out, dataStart, g.dataStart, dataEnd);
  Buffer.from(factors.buffer, factors.byteOffset, factors.byteLength).copy(out, dataStart + rel);
  writeFileSync(dst, out);
}
