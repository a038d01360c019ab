import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { GeniusError } from '../errors.js';

/** A metadata value as GGUF stores it (integers beyond 2^53 come back as bigint). */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

/** One tensor's entry in the tensor table: ggml order of dims (`ne[0]` varies fastest). */
export interface GgufTensorInfo {
  name: string;
  ne: number[];
  type: number;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  bytes: number;
}

export interface GgufFile {
  path: string;
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: Map<string, GgufTensorInfo>;
  /** End of the metadata, end of the tensor table, and the (aligned) start of the data section. */
  metadataEnd: number;
  headerBytes: number;
  dataStart: number;
  alignment: number;
}

/** ggml type ids this reader can turn into float32, with their element sizes. */
const FLOAT_TYPES: Record<number, { name: string; size: number }> = {
  0: { name: 'F32', size: 4 },
  1: { name: 'F16', size: 2 },
  30: { name: 'BF16', size: 2 },
};

/** Names of the other ggml types, for error messages only. */
const OTHER_TYPES: Record<number, string> = {
  2: 'Q4_0',
  3: 'Q4_1',
  6: 'Q5_0',
  7: 'Q5_1',
  8: 'Q8_0',
  9: 'Q8_1',
  10: 'Q2_K',
  11: 'Q3_K',
  12: 'Q4_K',
  13: 'Q5_K',
  14: 'Q6_K',
  15: 'Q8_K',
  16: 'IQ2_XXS',
  17: 'IQ2_XS',
  18: 'IQ3_XXS',
  19: 'IQ1_S',
  20: 'IQ4_NL',
  21: 'IQ3_S',
  22: 'IQ2_S',
  23: 'IQ4_XS',
  24: 'I8',
  25: 'I16',
  26: 'I32',
  27: 'I64',
  28: 'F64',
  29: 'IQ1_M',
  34: 'TQ1_0',
  35: 'TQ2_0',
  39: 'MXFP4',
};

export function ggmlTypeName(type: number): string {
  return FLOAT_TYPES[type]?.name ?? OTHER_TYPES[type] ?? `type ${type}`;
}

const MAX_COUNT = 1 << 24;

/** A forward cursor over the file's header, reading more of the file as parsing needs it. */
class HeaderCursor {
  #buf = Buffer.alloc(0);
  #start = 0; // file offset of #buf[0]
  pos = 0; // file offset of the next byte to parse

  constructor(
    readonly fd: number,
    readonly size: number,
    readonly path: string,
  ) {}

  #need(n: number): number {
    if (this.pos + n > this.size)
      throw new GeniusError(`truncated GGUF header (needs ${this.pos + n} bytes, file has ${this.size}): ${this.path}`);
    const end = this.pos + n;
    if (end > this.#start + this.#buf.length) {
      const len = Math.min(this.size - this.pos, Math.max(n, 1 << 20));
      const buf = Buffer.alloc(len);
      readSync(this.fd, buf, 0, len, this.pos);
      this.#buf = buf;
      this.#start = this.pos;
    } else if (this.pos < this.#start) {
      throw new Error('cursor moved backwards');
    }
    const at = this.pos - this.#start;
    this.pos = end;
    return at;
  }

  u8(): number {
    const at = this.#need(1);
    return this.#buf.readUInt8(at);
  }
  i8(): number {
    const at = this.#need(1);
    return this.#buf.readInt8(at);
  }
  u16(): number {
    const at = this.#need(2);
    return this.#buf.readUInt16LE(at);
  }
  i16(): number {
    const at = this.#need(2);
    return this.#buf.readInt16LE(at);
  }
  u32(): number {
    const at = this.#need(4);
    return this.#buf.readUInt32LE(at);
  }
  i32(): number {
    const at = this.#need(4);
    return this.#buf.readInt32LE(at);
  }
  f32(): number {
    const at = this.#need(4);
    return this.#buf.readFloatLE(at);
  }
  f64(): number {
    const at = this.#need(8);
    return this.#buf.readDoubleLE(at);
  }
  u64(): number | bigint {
    const at = this.#need(8);
    return narrow(this.#buf.readBigUInt64LE(at));
  }
  i64(): number | bigint {
    const at = this.#need(8);
    return narrow(this.#buf.readBigInt64LE(at));
  }

  /** A u64 that must be a sane count or size. */
  count(what: string, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.u64();
    if (typeof v !== 'number' || v > max) throw new GeniusError(`corrupt GGUF: ${what} ${v} is out of range: ${this.path}`);
    return v;
  }

  string(): string {
    const n = this.count('string length', this.size);
    const at = this.#need(n);
    return this.#buf.toString('utf8', at, at + n);
  }
}

function narrow(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}

function readValue(c: HeaderCursor, type: number, key: string): GgufValue {
  switch (type) {
    case 0:
      return c.u8();
    case 1:
      return c.i8();
    case 2:
      return c.u16();
    case 3:
      return c.i16();
    case 4:
      return c.u32();
    case 5:
      return c.i32();
    case 6:
      return c.f32();
    case 7:
      return c.u8() !== 0;
    case 8:
      return c.string();
    case 9: {
      const itemType = c.u32();
      const n = c.count(`length of array ${key}`, c.size);
      const out: GgufValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue(c, itemType, key);
      return out;
    }
    case 10:
      return c.u64();
    case 11:
      return c.i64();
    case 12:
      return c.f64();
    default:
      throw new GeniusError(`corrupt GGUF: metadata ${key} has unknown value type ${type}: ${c.path}`);
  }
}

/**
 * Reads a GGUF file's header: metadata and tensor table (no tensor data), validating that every
 * tensor lies within the file. Cost: one pass over the header (a few MB for large vocabularies).
 */
export function readGguf(path: string): GgufFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new GeniusError(
      code === 'ENOENT' ? `model file not found: ${path}` : `cannot open model file ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  try {
    const size = fstatSync(fd).size;
    const c = new HeaderCursor(fd, size, path);
    if (size < 4 || c.u32() !== 0x46554747) throw new GeniusError(`not a GGUF file (bad magic): ${path}`);
    const version = c.u32();
    if (version !== 2 && version !== 3) throw new GeniusError(`unsupported GGUF version ${version} (this reader takes 2 and 3): ${path}`);
    const nTensors = c.count('tensor count', MAX_COUNT);
    const nKv = c.count('metadata count', MAX_COUNT);
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < nKv; i++) {
      const key = c.string();
      metadata.set(key, readValue(c, c.u32(), key));
    }
    const metadataEnd = c.pos;
    const infos: { name: string; ne: number[]; type: number; rel: number }[] = [];
    for (let i = 0; i < nTensors; i++) {
      const name = c.string();
      const nDims = c.u32();
      if (nDims < 1 || nDims > 4) throw new GeniusError(`corrupt GGUF: tensor ${name} has ${nDims} dimensions: ${path}`);
      const ne: number[] = [];
      for (let d = 0; d < nDims; d++) ne.push(c.count(`dimension of tensor ${name}`, size));
      const type = c.u32();
      const rel = c.count(`offset of tensor ${name}`, size);
      infos.push({ name, ne, type, rel });
    }
    const alignment = metadata.get('general.alignment') ?? 32;
    if (typeof alignment !== 'number' || alignment <= 0 || (alignment & (alignment - 1)) !== 0)
      throw new GeniusError(`corrupt GGUF: general.alignment ${String(alignment)}: ${path}`);
    const dataStart = Math.ceil(c.pos / alignment) * alignment;
    const tensors = new Map<string, GgufTensorInfo>();
    for (const t of infos) {
      const elements = t.ne.reduce((a, b) => a * b, 1);
      const size1 = FLOAT_TYPES[t.type]?.size;
      // Non-float types are listed with unknown size: they are rejected when read, not here.
      const bytes = size1 === undefined ? 0 : elements * size1;
      const offset = dataStart + t.rel;
      if (offset + bytes > size)
        throw new GeniusError(`truncated GGUF: tensor ${t.name} ends at byte ${offset + bytes}, file has ${size}: ${path}`);
      tensors.set(t.name, { name: t.name, ne: t.ne, type: t.type, offset, bytes });
    }
    return { path, version, metadata, tensors, metadataEnd, headerBytes: c.pos, dataStart, alignment };
  } finally {
    closeSync(fd);
  }
}

/** IEEE half -> float. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * A tensor's values as float32 in ggml order (row-major with `ne[0]` innermost). F16 and BF16
 * are widened exactly; quantized types are refused (dequantizing is llama.cpp's job).
 */
export async function readTensorF32(file: GgufFile, name: string): Promise<Float32Array> {
  const t = file.tensors.get(name);
  if (!t) throw new GeniusError(`tensor ${name} not found in ${file.path}`);
  const kind = FLOAT_TYPES[t.type];
  if (!kind)
    throw new GeniusError(
      `tensor ${name} is ${ggmlTypeName(t.type)}: only F32, F16 and BF16 tensors can be exported (convert the model to F32 or F16 first): ${file.path}`,
    );
  if (endianness() !== 'LE') throw new GeniusError('reading GGUF tensors needs a little-endian machine');
  const n = t.bytes / kind.size;
  const raw = t.type === 0 ? new Float32Array(n) : new Uint16Array(n);
  const bytes = new Uint8Array(raw.buffer);
  const fh = await open(file.path, 'r');
  try {
    for (let done = 0; done < t.bytes;) {
      const { bytesRead } = await fh.read(bytes, done, Math.min(t.bytes - done, 1 << 30), t.offset + done);
      if (bytesRead === 0) throw new GeniusError(`short read of tensor ${name} (${done} of ${t.bytes} bytes): ${file.path}`);
      done += bytesRead;
    }
  } finally {
    await fh.close();
  }
  if (raw instanceof Float32Array) return raw;
  const out = new Float32Array(n);
  if (t.type === 1) {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(raw[i]!);
  } else {
    const widened = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) widened[i] = raw[i]! << 16;
  }
  return out;
}
