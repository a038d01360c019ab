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
 * different summation orders (ggml vs MLAS kernels, float64 vs float32 RoPE frequencies).
 * Measured: 1.5e-6 to 2.4e-6 on the tiny generated models here, 1.0e-5 to 1.9e-5 on the `small`
 * shape (512 wide, 8 layers, prompts up to 320 tokens; bench/onnx.ts). A broken export (RoPE
 * base, mask) differs by 0.5 or more. 1e-4 leaves 5x headroom above the larger models' noise and
 * is 5,000x below the faults.
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
  const shapes: [number, number][] = [
    [1, 9],
    [7, 5],
    [33, 16],
    [64, 8],
    [12, 1],
    [20, 0],
    [3, 24],
  ];
  return shapes.map(([p, c], i) => ({
    prefix: tokens(p, seed * 100 + i, vocabSize),
    continuation: tokens(c, seed * 100 + 50 + i, vocabSize),
  }));
}

export async function maxDiff(a: Scorer, b: Scorer, items: readonly ScoreItem[]): Promise<number> {
  const [x, y] = [await a.scoreBatch(items), await b.scoreBatch(items)];
  let m = 0;
  items.forEach((it, i) => {
    if (x[i]!.length !== it.continuation.length || y[i]!.length !== it.continuation.length)
      throw new Error(`item ${i}: wrong number of log-probs`);
    x[i]!.forEach((v, j) => {
      const d = Math.abs(v - y[i]![j]!);
      m = Number.isNaN(d) ? Infinity : Math.max(m, d);
    });
  });
  return m;
}

/** The oracle assertion: native == ONNX within TOLERANCE. Returns the measured difference. */
export async function assertAgree(
  t: ExecutionContext,
  native: Scorer,
  onnx: Scorer,
  items: readonly ScoreItem[],
  tolerance = TOLERANCE,
): Promise<number> {
  const d = await maxDiff(native, onnx, items);
  t.true(d <= tolerance, `native vs ONNX log-probs: max |diff| ${d} > ${tolerance}`);
  return d;
}

/** GGUF metadata values the tests add: strings and float32. */
export type ExtraKv = [key: string, value: string | number];

/**
 * Copies a GGUF, adding metadata (strings, float32) and F32 tensors, for features the model maker
 * does not write (Llama 3 `rope_freqs.weight`, RoPE scaling keys). Existing tensor offsets are
 * relative to the data section, so they stay valid; new tensors go after the last one.
 */
export function extendGguf(src: string, dst: string, extra: { kv?: ExtraKv[]; tensors?: [name: string, data: Float32Array][] }): void {
  const g = readGguf(src);
  const bytes = readFileSync(src);
  const align = (n: number) => Math.ceil(n / g.alignment) * g.alignment;
  const str = (s: string) => {
    const b = Buffer.from(s);
    const n = Buffer.alloc(8);
    n.writeBigUInt64LE(BigInt(b.length));
    return Buffer.concat([n, b]);
  };
  const u32 = (v: number) => Buffer.from(Uint32Array.of(v).buffer);
  const u64 = (v: number) => Buffer.from(BigUint64Array.of(BigInt(v)).buffer);
  const kvs = (extra.kv ?? []).map(([k, v]) =>
    Buffer.concat(typeof v === 'string' ? [str(k), u32(8), str(v)] : [str(k), u32(6), Buffer.from(Float32Array.of(v).buffer)]),
  );
  let dataEnd = g.dataStart;
  for (const t of g.tensors.values()) dataEnd = Math.max(dataEnd, t.offset + t.bytes);
  const blobs: Buffer[] = [Buffer.alloc(align(dataEnd) - dataEnd)];
  let rel = align(dataEnd) - g.dataStart;
  const infos = (extra.tensors ?? []).map(([name, data]) => {
    const info = Buffer.concat([str(name), u32(1), u64(data.length), u32(0), u64(rel)]);
    const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    blobs.push(raw, Buffer.alloc(align(raw.length) - raw.length));
    rel += align(raw.length);
    return info;
  });
  const head = Buffer.concat([bytes.subarray(0, g.metadataEnd), ...kvs, bytes.subarray(g.metadataEnd, g.headerBytes), ...infos]);
  head.writeBigUInt64LE(BigInt(g.tensors.size + infos.length), 8);
  head.writeBigUInt64LE(BigInt(g.metadata.size + kvs.length), 16);
  writeFileSync(dst, Buffer.concat([head, Buffer.alloc(align(head.length) - head.length), bytes.subarray(g.dataStart, dataEnd), ...blobs]));
}
