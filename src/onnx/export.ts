import { existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { GeniusError } from '../errors.js';
import { attr, DT, GraphBuilder, INLINE_LIMIT_BYTES, type Dim } from './graph.js';
import { ggmlTypeName, readGguf, readTensorF32, type GgufFile, type GgufTensorInfo } from './gguf-reader.js';

/** Architectures the exporter writes, with llama.cpp's RoPE layout for each. */
export const ONNX_ARCHITECTURES = { llama: 'norm', qwen2: 'neox', qwen3: 'neox' } as const;
export type OnnxArchitecture = keyof typeof ONNX_ARCHITECTURES;

/** The ONNX opset the exporter targets (LessOrEqual needs 16; ReduceMean keeps its axes attribute until 18). */
export const ONNX_OPSET = 17;

/** An `exportOnnx` job: GGUF in, ONNX out, KV-cache inputs, external data. */
export interface ExportOnnxOptions {
  /** GGUF model (llama, qwen2 or qwen3; F32, F16 or BF16 tensors). */
  model: string;
  /** Output .onnx path (written atomically). */
  out: string;
  /**
   * Optimum's cache convention: `past_key_values.{i}.key|value` inputs (empty for a first pass)
   * and `present.{i}.key|value` outputs. Default true.
   */
  kvCache?: boolean;
  /**
   * Store the weights in `<out>.data` (ONNX external data) instead of inside the protobuf, which
   * cannot exceed 2 GiB. Default `'auto'`: external when the weights pass 1.8 GiB.
   */
  externalData?: boolean | 'auto';
  /**
   * @internal
   * Fault injection for testing the cross-engine oracle itself: a wrong RoPE base, or an
   * attention mask without its causal or its padding part. Never use for real exports.
   */
  faults?: { ropeBase?: number; mask?: 'no-causal' | 'no-padding' };
}

/** What `exportOnnx` wrote. */
export interface OnnxExport {
  path: string;
  /** The external data file, when the weights went there. */
  dataPath?: string;
  architecture: OnnxArchitecture;
  vocabSize: number;
  layerCount: number;
  parameterCount: number;
  bytes: number;
}

/** A decoder's hyper-parameters as llama.cpp reads them from GGUF metadata. */
interface Hparams {
  arch: OnnxArchitecture;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  nFf: number;
  nVocab: number;
  rmsEps: number;
  ropeBase: number;
  ropeScale: number;
  attentionScale: number;
}

function readHparams(g: GgufFile): Hparams {
  const arch = g.metadata.get('general.architecture');
  if (typeof arch !== 'string') throw new GeniusError(`GGUF has no general.architecture: ${g.path}`);
  if (!(arch in ONNX_ARCHITECTURES)) {
    throw new GeniusError(
      `architecture '${arch}' cannot be exported to ONNX (supported: ${Object.keys(ONNX_ARCHITECTURES).join(', ')}): ${g.path}`,
    );
  }
  const num = (key: string, fallback?: number): number => {
    const v = g.metadata.get(`${arch}.${key}`);
    if (v === undefined && fallback !== undefined) return fallback;
    if (Array.isArray(v)) throw new GeniusError(`${arch}.${key} varies per layer, which the ONNX exporter does not support: ${g.path}`);
    if (typeof v !== 'number') throw new GeniusError(`GGUF lacks a numeric ${arch}.${key}: ${g.path}`);
    return v;
  };
  if (num('expert_count', 0) > 0) throw new GeniusError(`mixture-of-experts models cannot be exported to ONNX: ${g.path}`);
  const nEmbd = num('embedding_length');
  const nHead = num('attention.head_count');
  const headDim = num('attention.key_length', nEmbd / nHead);
  if (num('attention.value_length', headDim) !== headDim)
    throw new GeniusError(`key and value head sizes differ, which the ONNX exporter does not support: ${g.path}`);
  if (num('rope.dimension_count', headDim) !== headDim)
    throw new GeniusError(`partial RoPE (rope.dimension_count < head size) is not supported by the ONNX exporter: ${g.path}`);
  // As llama.cpp: the scaling type defaults to linear, and a factor applies whatever the type.
  const scaling = g.metadata.get(`${arch}.rope.scaling.type`) ?? 'linear';
  if (scaling !== 'none' && scaling !== 'linear') {
    throw new GeniusError(
      `RoPE scaling '${String(scaling)}' is not supported by the ONNX exporter (none, linear, or Llama 3 frequency factors): ${g.path}`,
    );
  }
  if (num('rope.scaling.attn_factor', 1) !== 1)
    throw new GeniusError(`RoPE attention factors are not supported by the ONNX exporter: ${g.path}`);
  const factor = num('rope.scaling.factor', num('rope.scale_linear', 0));
  const ropeScale = factor === 0 ? 1 : 1 / factor;
  const embd = g.tensors.get('token_embd.weight');
  if (!embd || embd.ne.length !== 2) throw new GeniusError(`GGUF lacks a 2-D token_embd.weight: ${g.path}`);
  const attentionScale = num('attention.scale', 0);
  const hp: Hparams = {
    arch: arch as OnnxArchitecture,
    nEmbd,
    nLayer: num('block_count'),
    nHead,
    nHeadKv: num('attention.head_count_kv', nHead),
    headDim,
    nFf: num('feed_forward_length'),
    nVocab: embd.ne[1]!,
    rmsEps: num('attention.layer_norm_rms_epsilon'),
    ropeBase: num('rope.freq_base', 10000),
    ropeScale,
    attentionScale: attentionScale === 0 ? 1 / Math.sqrt(headDim) : attentionScale,
  };
  for (const [k, v] of Object.entries(hp)) {
    if (typeof v === 'number' && !(v > 0 && Number.isFinite(v)))
      throw new GeniusError(`GGUF hyper-parameter ${k} = ${v} is invalid: ${g.path}`);
  }
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new GeniusError(`head size ${headDim} must be an even integer: ${g.path}`);
  if (hp.nHead % hp.nHeadKv !== 0)
    throw new GeniusError(`head count ${hp.nHead} is not a multiple of the KV head count ${hp.nHeadKv}: ${g.path}`);
  return hp;
}

/**
 * Writes a GGUF decoder (llama, qwen2, qwen3; GQA, tied embeddings, Llama 3 RoPE frequency
 * factors) as an ONNX model with Optimum's conventions: inputs `input_ids`, `attention_mask`
 * (batch x total length, 1 = token, 0 = padding), `position_ids`, optional
 * `past_key_values.{i}.key|value`; outputs `logits` and `present.*`. The graph recomputes the
 * forward pass llama.cpp runs (same RMSNorm, RoPE layout, GQA head mapping, attention scale),
 * so ONNX Runtime can check the native engine. Weights are widened to float32. Cost: one read
 * of the weights; memory about the model's float32 size.
 */
export async function exportOnnx(options: ExportOnnxOptions): Promise<OnnxExport> {
  const out = resolve(options.out);
  if (!existsSync(dirname(out))) throw new GeniusError(`output folder does not exist: ${dirname(out)}`);
  const g = readGguf(options.model);
  const hp = readHparams(g);
  const tensor = (name: string, ne: number[], optional = false): GgufTensorInfo | undefined => {
    const t = g.tensors.get(name);
    if (!t) {
      if (optional) return undefined;
      throw new GeniusError(`GGUF lacks tensor ${name}: ${g.path}`);
    }
    if (t.ne.length !== ne.length || t.ne.some((d, i) => d !== ne[i])) {
      throw new GeniusError(`tensor ${name} has shape [${t.ne.join(', ')}], expected [${ne.join(', ')}] (ggml order): ${g.path}`);
    }
    if (![0, 1, 30].includes(t.type)) {
      throw new GeniusError(
        `tensor ${name} is ${ggmlTypeName(t.type)}: only F32, F16 and BF16 models can be exported to ONNX (requantize to F32 or F16 first): ${g.path}`,
      );
    }
    return t;
  };
  // Check every tensor before writing anything.
  const { nEmbd: E, nHead: H, nHeadKv: Hkv, headDim: hd, nFf: F, nVocab: V } = hp;
  tensor('token_embd.weight', [E, V]);
  tensor('output_norm.weight', [E]);
  const outputName = tensor('output.weight', [E, V], true) ? 'output.weight' : 'token_embd.weight';
  const ropeFreqs = hp.arch === 'llama' ? tensor('rope_freqs.weight', [hd / 2], true) : undefined;
  const layerTensors = (l: number) => {
    const b = `blk.${l}.`;
    return {
      attnNorm: tensor(`${b}attn_norm.weight`, [E])!,
      q: tensor(`${b}attn_q.weight`, [E, H * hd])!,
      k: tensor(`${b}attn_k.weight`, [E, Hkv * hd])!,
      v: tensor(`${b}attn_v.weight`, [E, Hkv * hd])!,
      qBias: tensor(`${b}attn_q.bias`, [H * hd], hp.arch !== 'qwen2'),
      kBias: tensor(`${b}attn_k.bias`, [Hkv * hd], hp.arch !== 'qwen2'),
      vBias: tensor(`${b}attn_v.bias`, [Hkv * hd], hp.arch !== 'qwen2'),
      qNorm: tensor(`${b}attn_q_norm.weight`, [hd], hp.arch !== 'qwen3'),
      kNorm: tensor(`${b}attn_k_norm.weight`, [hd], hp.arch !== 'qwen3'),
      o: tensor(`${b}attn_output.weight`, [H * hd, E])!,
      oBias: tensor(`${b}attn_output.bias`, [E], true),
      ffnNorm: tensor(`${b}ffn_norm.weight`, [E])!,
      gate: tensor(`${b}ffn_gate.weight`, [E, F])!,
      up: tensor(`${b}ffn_up.weight`, [E, F])!,
      down: tensor(`${b}ffn_down.weight`, [F, E])!,
    };
  };
  const layers = Array.from({ length: hp.nLayer }, (_, l) => layerTensors(l));
  let weightBytes = 0;
  for (const t of g.tensors.values()) weightBytes += t.ne.reduce((a, b) => a * b, 1) * 4;
  const external = options.externalData === true || ((options.externalData ?? 'auto') === 'auto' && weightBytes > INLINE_LIMIT_BYTES);

  const tmp = `${out}.tmp`;
  const dataPath = external ? `${out}.data` : undefined;
  const dataTmp = dataPath ? `${dataPath}.tmp` : undefined;
  const gb = new GraphBuilder(dataPath && dataTmp ? { path: dataTmp, location: basename(dataPath) } : undefined);
  let parameterCount = 0;
  const weights = new Map<string, string>();
  /** A GGUF tensor as an initializer, ONNX dims = reversed ggml dims ([out, in] for matrices). */
  const weight = async (t: GgufTensorInfo): Promise<string> => {
    const known = weights.get(t.name);
    if (known) return known;
    const data = await readTensorF32(g, t.name);
    parameterCount += data.length;
    const name = gb.float32(t.name, data, [...t.ne].reverse());
    weights.set(t.name, name);
    return name;
  };
  try {
    await buildDecoder(
      gb,
      hp,
      { kvCache: options.kvCache ?? true, faults: options.faults ?? {} },
      {
        weight,
        embd: g.tensors.get('token_embd.weight')!,
        outputNorm: g.tensors.get('output_norm.weight')!,
        output: g.tensors.get(outputName)!,
        ropeFreqs: ropeFreqs ? await readTensorF32(g, ropeFreqs.name) : undefined,
        layers,
      },
    );
    const bytes = gb.encode(
      ONNX_OPSET,
      {
        'genius.source': basename(g.path),
        'genius.architecture': hp.arch,
        'genius.rope': ONNX_ARCHITECTURES[hp.arch],
        'genius.vocab_size': String(V),
        ...(options.faults && Object.keys(options.faults).length > 0 ? { 'genius.faults': JSON.stringify(options.faults) } : {}),
      },
      '0.1.0',
    );
    writeFileSync(tmp, bytes);
    if (dataPath && dataTmp) renameSync(dataTmp, dataPath);
    renameSync(tmp, out);
  } catch (err) {
    gb.abort();
    rmSync(tmp, { force: true });
    if (dataTmp) rmSync(dataTmp, { force: true });
    throw err;
  }
  return {
    path: out,
    ...(dataPath ? { dataPath } : {}),
    architecture: hp.arch,
    vocabSize: V,
    layerCount: hp.nLayer,
    parameterCount,
    bytes: statSync(out).size + (dataPath ? statSync(dataPath).size : 0),
  };
}

type LayerTensors = Record<'attnNorm' | 'q' | 'k' | 'v' | 'o' | 'ffnNorm' | 'gate' | 'up' | 'down', GgufTensorInfo> &
  Record<'qBias' | 'kBias' | 'vBias' | 'qNorm' | 'kNorm' | 'oBias', GgufTensorInfo | undefined>;

interface DecoderWeights {
  weight: (t: GgufTensorInfo) => Promise<string>;
  embd: GgufTensorInfo;
  outputNorm: GgufTensorInfo;
  output: GgufTensorInfo;
  ropeFreqs: Float32Array | undefined;
  layers: LayerTensors[];
}

/** The decoder graph. Hidden states are kept flat as [tokens, embd] so every projection is one Gemm. */
async function buildDecoder(
  gb: GraphBuilder,
  hp: Hparams,
  opts: { kvCache: boolean; faults: NonNullable<ExportOnnxOptions['faults']> },
  w: DecoderWeights,
): Promise<void> {
  const { nEmbd: E, nHead: H, nHeadKv: Hkv, headDim: hd, nVocab: V } = hp;
  const G = H / Hkv;
  const B: Dim = 'batch_size';
  const S: Dim = 'sequence_length';
  const P: Dim = 'past_sequence_length';
  const T: Dim = 'total_sequence_length';
  const ids = gb.input('input_ids', DT.INT64, [B, S]);
  const mask = gb.input('attention_mask', DT.INT64, [B, opts.kvCache ? T : S]);
  const positions = gb.input('position_ids', DT.INT64, [B, S]);
  const past: { key: string; value: string }[] = [];
  if (opts.kvCache) {
    for (let l = 0; l < hp.nLayer; l++) {
      past.push({
        key: gb.input(`past_key_values.${l}.key`, DT.FLOAT, [B, Hkv, P, hd]),
        value: gb.input(`past_key_values.${l}.value`, DT.FLOAT, [B, Hkv, P, hd]),
      });
    }
  }

  // Dynamic shapes: S (new tokens) and T (past + new, the key axis).
  const seqLen = gb.op('Slice', [gb.op('Shape', [ids]), gb.constInt64([1]), gb.constInt64([2])], [], 'seq_len');
  const totalLen = gb.op('Slice', [gb.op('Shape', [mask]), gb.constInt64([1]), gb.constInt64([2])], [], 'total_len');
  const shapeOf = (...parts: (number | string)[]) =>
    gb.op(
      'Concat',
      parts.map((p) => (typeof p === 'number' ? gb.constInt64([p]) : p)),
      [attr.int('axis', 0)],
      'shape',
    );
  const qShape = shapeOf(-1, seqLen, H, hd);
  const kvShape = shapeOf(-1, seqLen, Hkv, hd);

  // Additive attention mask [B, 1, 1, S, T]: query i (absolute position T - S + i in the key
  // axis) sees key j when j <= T - S + i and attention_mask[b, j] = 1.
  const sScalar = gb.op('Squeeze', [seqLen]);
  const tScalar = gb.op('Squeeze', [totalLen]);
  const zero = gb.constInt64([0], []);
  const one = gb.constInt64([1], []);
  const rows = gb.op('Range', [gb.op('Sub', [tScalar, sScalar]), tScalar, one], [], 'query_pos');
  const cols = gb.op('Range', [zero, tScalar, one], [], 'key_pos');
  const causal = gb.op(
    'LessOrEqual',
    [gb.op('Unsqueeze', [cols, gb.constInt64([0])]), gb.op('Unsqueeze', [rows, gb.constInt64([1])])],
    [],
    'causal',
  );
  const padding = gb.op('Unsqueeze', [gb.op('Cast', [mask], [attr.int('to', DT.BOOL)]), gb.constInt64([1])], [], 'padding');
  const allowed =
    opts.faults.mask === 'no-causal'
      ? padding
      : opts.faults.mask === 'no-padding'
        ? gb.op('Unsqueeze', [causal, gb.constInt64([0])])
        : gb.op('And', [causal, padding], [], 'allowed');
  // The most negative float rather than -inf: a fully masked row (left padding) stays finite.
  const additive = gb.op('Where', [allowed, gb.constFloat([0], []), gb.constFloat([-3.4028234663852886e38], [])], [], 'mask_add');
  const maskAdd = gb.op('Unsqueeze', [additive, gb.constInt64([1, 2])], [], 'mask5');

  // RoPE angles position * base^(-2i/d) / freq_factor[i] * linear scale, as ggml's rope_yarn with
  // no extrapolation; the frequencies are computed in float64, the products in float32.
  const base = opts.faults.ropeBase ?? hp.ropeBase;
  const invFreq = new Float32Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) invFreq[i] = (base ** ((-2 * i) / hd) / (w.ropeFreqs?.[i] ?? 1)) * hp.ropeScale;
  const angles = gb.op(
    'Mul',
    [
      gb.op('Unsqueeze', [gb.op('Cast', [positions], [attr.int('to', DT.FLOAT)]), gb.constInt64([2])]),
      gb.float32('rope.inv_freq', invFreq, [hd / 2]),
    ],
    [],
    'rope_angles',
  );
  const norm = ONNX_ARCHITECTURES[hp.arch] === 'norm';
  // [B, S, 1, hd/2] (NEOX halves) or [B, S, 1, hd/2, 1] (interleaved pairs): broadcast over heads.
  const ropeAxes = gb.constInt64(norm ? [2, 4] : [2]);
  const cos = gb.op('Unsqueeze', [gb.op('Cos', [angles]), ropeAxes], [], 'rope_cos');
  const sin = gb.op('Unsqueeze', [gb.op('Sin', [angles]), ropeAxes], [], 'rope_sin');
  const pairShape = gb.constInt64([0, 0, 0, hd / 2, 2]);
  const headShape = gb.constInt64([0, 0, 0, hd]);
  /** x [B, S, heads, hd] rotated: (x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos) per pair. */
  const rope = (x: string): string => {
    const src = norm ? gb.op('Reshape', [x, pairShape]) : x;
    const [x0, x1] = gb.node('Split', [src], [attr.int('axis', -1)], 'rope_half', 2) as [string, string];
    const r0 = gb.op('Sub', [gb.op('Mul', [x0, cos]), gb.op('Mul', [x1, sin])]);
    const r1 = gb.op('Add', [gb.op('Mul', [x0, sin]), gb.op('Mul', [x1, cos])]);
    const joined = gb.op('Concat', [r0, r1], [attr.int('axis', -1)], 'roped');
    return norm ? gb.op('Reshape', [joined, headShape], [], 'roped') : joined;
  };

  const eps = gb.constFloat([hp.rmsEps], []);
  const unit = gb.constFloat([1], []);
  /** RMSNorm over the last axis, in ggml's order: x * (1 / sqrt(mean(x^2) + eps)) * weight. */
  const rmsNorm = (x: string, weight: string, stem: string): string => {
    const ms = gb.op('ReduceMean', [gb.op('Mul', [x, x])], [attr.ints('axes', [-1]), attr.int('keepdims', 1)]);
    const inv = gb.op('Div', [unit, gb.op('Sqrt', [gb.op('Add', [ms, eps])])]);
    return gb.op('Mul', [gb.op('Mul', [x, inv]), weight], [], stem);
  };
  /** x [N, in] times a GGUF matrix ([out, in] in ONNX order), plus an optional bias. */
  const linear = async (x: string, m: GgufTensorInfo, bias: GgufTensorInfo | undefined, stem: string): Promise<string> => {
    const inputs = [x, await w.weight(m)];
    if (bias) inputs.push(await w.weight(bias));
    return gb.op('Gemm', inputs, [attr.int('transB', 1)], stem);
  };

  const flat = gb.constInt64([-1, E]);
  let x = gb.op('Reshape', [gb.op('Gather', [await w.weight(w.embd), ids], [attr.int('axis', 0)]), flat], [], 'embd');
  const scale = gb.constFloat([hp.attentionScale], []);
  const groupedShape = gb.constInt64([0, Hkv, G, -1, hd]);
  const headsShape = gb.constInt64([0, H, -1, hd]);
  const mergedShape = gb.constInt64([-1, H * hd]);
  for (let l = 0; l < hp.nLayer; l++) {
    const t = w.layers[l]!;
    const p = `blk.${l}`;
    const h = rmsNorm(x, await w.weight(t.attnNorm), `${p}.attn_norm`);
    let q = gb.op('Reshape', [await linear(h, t.q, t.qBias, `${p}.q`), qShape]);
    let k = gb.op('Reshape', [await linear(h, t.k, t.kBias, `${p}.k`), kvShape]);
    const v = gb.op('Reshape', [await linear(h, t.v, t.vBias, `${p}.v`), kvShape]);
    if (t.qNorm) q = rmsNorm(q, await w.weight(t.qNorm), `${p}.q_norm`);
    if (t.kNorm) k = rmsNorm(k, await w.weight(t.kNorm), `${p}.k_norm`);
    const perm = [attr.ints('perm', [0, 2, 1, 3])];
    // [B, heads, S, hd]; query heads grouped as [B, Hkv, G, S, hd]: query head h reads KV head
    // h / G, as ggml's broadcast in mul_mat does.
    const qg = gb.op('Reshape', [gb.op('Transpose', [rope(q)], perm), groupedShape], [], `${p}.q_grouped`);
    let kAll = gb.op('Transpose', [rope(k)], perm, `${p}.k_heads`);
    let vAll = gb.op('Transpose', [v], perm, `${p}.v_heads`);
    if (opts.kvCache) {
      gb.op('Concat', [past[l]!.key, kAll], [attr.int('axis', 2)]);
      gb.nameLastOutput(`present.${l}.key`);
      kAll = `present.${l}.key`;
      gb.op('Concat', [past[l]!.value, vAll], [attr.int('axis', 2)]);
      gb.nameLastOutput(`present.${l}.value`);
      vAll = `present.${l}.value`;
    }
    const kT = gb.op('Unsqueeze', [gb.op('Transpose', [kAll], [attr.ints('perm', [0, 1, 3, 2])]), gb.constInt64([2])], [], `${p}.k_t`);
    const scores = gb.op('Add', [gb.op('Mul', [gb.op('MatMul', [qg, kT]), scale]), maskAdd], [], `${p}.scores`);
    const probs = gb.op('Softmax', [scores], [attr.int('axis', -1)], `${p}.probs`);
    const ctx = gb.op('MatMul', [probs, gb.op('Unsqueeze', [vAll, gb.constInt64([2])])], [], `${p}.attn`);
    const merged = gb.op('Reshape', [gb.op('Transpose', [gb.op('Reshape', [ctx, headsShape])], perm), mergedShape], [], `${p}.attn_merged`);
    x = gb.op('Add', [x, await linear(merged, t.o, t.oBias, `${p}.attn_out`)], [], `${p}.ffn_inp`);
    const f = rmsNorm(x, await w.weight(t.ffnNorm), `${p}.ffn_norm`);
    const gate = await linear(f, t.gate, undefined, `${p}.gate`);
    const act = gb.op(
      'Mul',
      [gb.op('Mul', [gate, gb.op('Sigmoid', [gate])]), await linear(f, t.up, undefined, `${p}.up`)],
      [],
      `${p}.swiglu`,
    );
    x = gb.op('Add', [x, await linear(act, t.down, undefined, `${p}.down`)], [], `${p}.out`);
  }
  const final = rmsNorm(x, await w.weight(w.outputNorm), 'output_norm');
  gb.op('Reshape', [await linear(final, w.output, undefined, 'output'), shapeOf(-1, seqLen, V)]);
  gb.nameLastOutput('logits');

  gb.output('logits', DT.FLOAT, [B, S, V]);
  if (opts.kvCache) {
    for (let l = 0; l < hp.nLayer; l++) {
      gb.output(`present.${l}.key`, DT.FLOAT, [B, Hkv, T, hd]);
      gb.output(`present.${l}.value`, DT.FLOAT, [B, Hkv, T, hd]);
    }
  }
}
