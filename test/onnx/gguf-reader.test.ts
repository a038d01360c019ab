import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { halfToFloat, readGguf, readTensorF32 } from '../../src/onnx/gguf-reader.js';
import { makeTemp, tempDir, tinyRandomLlama2 } from '../helpers.js';

/** A minimal GGUF v3 writer for the reader's tests: typed metadata and raw tensors. */
function gguf(
  kv: [string, number, Uint8Array][],
  tensors: { name: string; ne: number[]; type: number; data: Uint8Array }[],
  alignment = 32,
): Buffer {
  const str = (s: string) => {
    const b = Buffer.from(s);
    const n = Buffer.alloc(8);
    n.writeBigUInt64LE(BigInt(b.length));
    return Buffer.concat([n, b]);
  };
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };
  const u64 = (v: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return b;
  };
  const parts: Uint8Array[] = [Buffer.from('GGUF'), u32(3), u64(tensors.length), u64(kv.length)];
  for (const [k, type, value] of kv) parts.push(str(k), u32(type), value);
  let offset = 0;
  const data: Uint8Array[] = [];
  for (const t of tensors) {
    parts.push(str(t.name), u32(t.ne.length), ...t.ne.map(u64), u32(t.type), u64(offset));
    const padded = Math.ceil(t.data.length / alignment) * alignment;
    data.push(t.data, Buffer.alloc(padded - t.data.length));
    offset += padded;
  }
  const head = Buffer.concat(parts);
  return Buffer.concat([head, Buffer.alloc(Math.ceil(head.length / alignment) * alignment - head.length), ...data]);
}

const f32 = (xs: number[]) => Buffer.from(Float32Array.from(xs).buffer);
const u16 = (xs: number[]) => Buffer.from(Uint16Array.from(xs).buffer);

test('reads typed metadata and F32, F16 and BF16 tensors', async (t) => {
  const strArray = Buffer.concat([
    Buffer.from(Uint32Array.of(8).buffer),
    Buffer.from(BigUint64Array.of(2n).buffer),
    ...['ab', 'c'].map((s) => Buffer.concat([Buffer.from(BigUint64Array.of(BigInt(s.length)).buffer), Buffer.from(s)])),
  ]);
  const path = join(tempDir(), 'x.gguf');
  writeFileSync(
    path,
    gguf(
      [
        ['general.architecture', 8, Buffer.concat([Buffer.from(BigUint64Array.of(5n).buffer), Buffer.from('llama')])],
        ['a.u32', 4, Buffer.from(Uint32Array.of(7).buffer)],
        ['a.f32', 6, f32([0.5])],
        ['a.bool', 7, Buffer.of(1)],
        ['a.u64', 10, Buffer.from(BigUint64Array.of(2n ** 60n).buffer)],
        ['a.strs', 9, strArray],
      ],
      [
        { name: 'w32', ne: [3, 2], type: 0, data: f32([1, 2, 3, 4, 5, -6.5]) },
        { name: 'w16', ne: [4], type: 1, data: u16([0x3c00, 0xc000, 0x7bff, 0x0001]) },
        { name: 'wbf', ne: [2], type: 30, data: u16([0x3f80, 0xc0a0]) },
        { name: 'q8', ne: [32], type: 8, data: Buffer.alloc(34) },
      ],
    ),
  );
  const g = readGguf(path);
  t.is(g.version, 3);
  t.is(g.metadata.get('general.architecture'), 'llama');
  t.is(g.metadata.get('a.u32'), 7);
  t.is(g.metadata.get('a.f32'), 0.5);
  t.is(g.metadata.get('a.bool'), true);
  t.is(g.metadata.get('a.u64'), 2n ** 60n);
  t.deepEqual(g.metadata.get('a.strs'), ['ab', 'c']);
  t.deepEqual(g.tensors.get('w32')!.ne, [3, 2]);
  t.deepEqual(Array.from(await readTensorF32(g, 'w32')), [1, 2, 3, 4, 5, -6.5]);
  t.deepEqual(Array.from(await readTensorF32(g, 'w16')), [1, -2, 65504, 2 ** -24]);
  t.deepEqual(Array.from(await readTensorF32(g, 'wbf')), [1, -5]);
  await t.throwsAsync(readTensorF32(g, 'q8'), { message: /tensor q8 is Q8_0: only F32, F16 and BF16/ });
  await t.throwsAsync(readTensorF32(g, 'nope'), { message: /tensor nope not found/ });
});

test('half floats: normals, subnormals, infinities, NaN', (t) => {
  t.is(halfToFloat(0x3c00), 1);
  t.is(halfToFloat(0x3555), 0.333251953125);
  t.is(halfToFloat(0x8400), -(2 ** -14));
  t.is(halfToFloat(0x03ff), 1023 * 2 ** -24);
  t.is(halfToFloat(0xfc00), -Infinity);
  t.true(Number.isNaN(halfToFloat(0x7e00)));
});

test('agrees with the engine on a third-party file and a made model', async (t) => {
  const third = readGguf(tinyRandomLlama2);
  t.is(third.metadata.get('llama.embedding_length'), 8);
  t.deepEqual(third.tensors.get('token_embd.weight')!.ne, [8, 32000]);
  t.is((await readTensorF32(third, 'output.weight')).length, 8 * 32000);
  const made = readGguf(await makeTemp({ arch: 'qwen3', shape: 'tiny', seed: 2 }));
  t.is(made.metadata.get('general.architecture'), 'qwen3');
  t.deepEqual(Array.from(await readTensorF32(made, 'blk.0.attn_q_norm.weight')), new Array(16).fill(1));
});

test('bad files: missing, not GGUF, truncated, tensor past the end', (t) => {
  const dir = tempDir();
  t.throws(() => readGguf(join(dir, 'none.gguf')), { message: /model file not found: .*none\.gguf/ });
  writeFileSync(join(dir, 'text.gguf'), 'hello world, not a model');
  t.throws(() => readGguf(join(dir, 'text.gguf')), { message: /not a GGUF file \(bad magic\)/ });
  const good = gguf([], [{ name: 'w', ne: [64], type: 0, data: f32(new Array(64).fill(1)) }]);
  writeFileSync(join(dir, 'cut-header.gguf'), good.subarray(0, 30));
  t.throws(() => readGguf(join(dir, 'cut-header.gguf')), { message: /truncated GGUF header/ });
  writeFileSync(join(dir, 'cut-data.gguf'), good.subarray(0, good.length - 8));
  t.throws(() => readGguf(join(dir, 'cut-data.gguf')), { message: /truncated GGUF: tensor w ends at byte/ });
});
