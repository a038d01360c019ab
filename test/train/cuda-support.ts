// ggml-cuda's supports_op, read from the vendored source and evaluated on the nodes the trainer
// builds: which ops the CUDA backend would hand back to the CPU (a device-host round trip each).
// The C switch statement is translated to JavaScript (`->` to `.`, declarations to `let`, the
// preprocessor resolved as for a CUDA build without MUSA/HIP/CUB) and run against node
// descriptions from `Trainer.describe`; an identifier the translation does not model throws, so a
// change upstream cannot pass unseen.
import { join } from 'node:path';
import type { NativeNodeDesc, NativeTensorDesc } from '../../src/engine/native.js';

/** The vendored ggml-cuda source that holds supports_op. */
export function cudaSourcePath(root: string): string {
  return join(root, 'native', 'vendor', 'llama.cpp', 'ggml', 'src', 'ggml-cuda', 'ggml-cuda.cu');
}

/** The `switch (op->op) { ... }` of ggml_backend_cuda_device_supports_op. */
export function extractSwitch(source: string): string {
  const fn = source.indexOf('static bool ggml_backend_cuda_device_supports_op(');
  if (fn < 0) throw new Error('ggml_backend_cuda_device_supports_op not found in ggml-cuda.cu');
  const start = source.indexOf('switch (op->op) {', fn);
  if (start < 0) throw new Error('supports_op has no switch (op->op)');
  let depth = 0;
  for (let i = source.indexOf('{', start); i < source.length; i++) {
    if (source[i] === '{') depth++;
    else if (source[i] === '}' && --depth === 0) return source.slice(start, i + 1);
  }
  throw new Error('unbalanced braces in supports_op');
}

/** Keeps the lines a build with none of `defined` would compile (#if/#ifdef/#ifndef/#else/#endif). */
export function preprocess(code: string, defined: ReadonlySet<string> = new Set()): string {
  const isDefined = (expr: string) => {
    const js = expr.replace(/defined\s*\(\s*(\w+)\s*\)/g, (_, n: string) => String(defined.has(n))).replace(/\/\/.*$/, '');
    if (!/^[\strufalse|&!()]*$/.test(js)) throw new Error(`unmodelled preprocessor condition: ${expr}`);
    return Boolean(new Function(`return (${js});`)());
  };
  const out: string[] = [];
  const stack: { active: boolean; taken: boolean }[] = [];
  const active = () => stack.every((s) => s.active);
  for (const line of code.split('\n')) {
    const m = /^\s*#\s*(ifdef|ifndef|if|else|endif|elif)\b\s*(.*)$/.exec(line);
    if (!m) {
      if (active()) out.push(line);
      continue;
    }
    const [, dir, rest] = m;
    if (dir === 'ifdef' || dir === 'ifndef') {
      const on = defined.has(rest!.trim().split(/\s/)[0]!) === (dir === 'ifdef');
      stack.push({ active: on, taken: on });
    } else if (dir === 'if') {
      const on = isDefined(rest!);
      stack.push({ active: on, taken: on });
    } else if (dir === 'else') {
      const top = stack.at(-1)!;
      top.active = !top.taken;
    } else if (dir === 'endif') {
      stack.pop();
    } else {
      throw new Error(`unmodelled preprocessor directive: ${line.trim()}`);
    }
  }
  return out.join('\n');
}

/** The C switch as a JavaScript function body. */
export function translate(c: string): string {
  return c
    .replace(/->/g, '.')
    .replace(/memcpy\(&(\w+),\s*\(const float \*\)\s*op\.op_params\s*\+\s*(\d+),\s*sizeof\(float\)\);/g, '$1 = op.op_params_f32[$2];')
    .replace(
      /\b(?:const\s+)?(?:struct\s+)?(?:ggml_type|ggml_tensor|int32_t|int64_t|float|int|bool|size_t)\s*(?:\*\s*)?(\w+)\s*=/g,
      'let $1 =',
    )
    .replace(/\b(\d+\.\d*)f\b/g, '$1');
}

/** A tensor as the translated code reads it. */
interface CTensor {
  type: string;
  ne: number[];
  nb: number[];
  src: (CTensor | null)[];
  buffer: null;
  op?: string;
  op_params?: Int32Array;
  op_params_f32?: Float32Array;
  desc: NativeTensorDesc;
}

const typeEnum = (name: string) => `GGML_TYPE_${name.toUpperCase()}`;

function cTensor(d: NativeTensorDesc): CTensor {
  return { type: typeEnum(d.type), ne: d.ne, nb: d.nb, src: [], buffer: null, desc: d };
}

function cNode(n: NativeNodeDesc): CTensor {
  const t = cTensor(n);
  t.op = `GGML_OP_${n.op}`;
  t.src = n.src.map((s) => (s ? cTensor(s) : null));
  t.op_params = n.params;
  t.op_params_f32 = new Float32Array(n.params.buffer, n.params.byteOffset, n.params.length);
  return t;
}

/** The CUDA backend's verdict on graph nodes, from the vendored source. */
export class CudaSupport {
  readonly #fn: (scope: object, op: CTensor) => unknown;
  readonly #types = new Map<string, NativeTensorDesc>();

  constructor(source: string) {
    const body = translate(preprocess(extractSwitch(source)));
    this.#fn = new Function('scope', 'op', `with (scope) { ${body} } return undefined;`) as (scope: object, op: CTensor) => unknown;
  }

  /** Whether ggml-cuda runs `node` (a null entry of the trainer's graph description). */
  supports(node: NativeNodeDesc): boolean {
    for (const t of [node, ...node.src]) if (t) this.#types.set(typeEnum(t.type), t);
    const op = cNode(node);
    const typeInfo = (ty: string) => {
      const d = this.#types.get(ty);
      if (!d) throw new Error(`no tensor of type ${ty} seen to answer a size query`);
      return d;
    };
    const helpers: Record<string, unknown> = {
      ggml_get_unary_op: (_t: CTensor) => `GGML_UNARY_OP_${node.subOp}`,
      ggml_get_glu_op: (_t: CTensor) => `GGML_GLU_OP_${node.subOp}`,
      ggml_is_contiguous: (t: CTensor) => t.desc.contiguous,
      ggml_is_contiguous_1: (t: CTensor) => t.desc.contiguous1,
      ggml_is_contiguous_2: (t: CTensor) => t.desc.contiguous2,
      ggml_is_contiguous_rows: (t: CTensor) => t.desc.contiguousRows,
      ggml_is_transposed: (t: CTensor) => t.desc.transposed,
      ggml_element_size: (t: CTensor) => t.desc.typeSize,
      ggml_type_size: (ty: string) => typeInfo(ty).typeSize,
      ggml_blck_size: (ty: string) => typeInfo(ty).blckSize,
      ggml_is_quantized: (ty: string) => typeInfo(ty).quantized,
      ggml_get_op_params_i32: (t: CTensor, i: number) => t.op_params![i],
      QK_K: 256,
    };
    const scope = new Proxy(helpers, {
      has: (_, key) => key !== 'op' && typeof key === 'string',
      get: (target, key) => {
        if (typeof key !== 'string') return undefined;
        if (key in target) return target[key];
        if (/^GGML_[A-Z0-9_]+$/.test(key)) return key; // enum constants compare by name
        throw new Error(`supports_op uses ${key}, which this translation does not model (for ${node.op})`);
      },
    });
    return this.#fn(scope, op) === true;
  }
}

/** The nodes of `nodes` the CUDA backend would not run, as `OP(type <- src types)` strings. */
export function unsupported(cuda: CudaSupport, nodes: readonly NativeNodeDesc[]): string[] {
  const bad = new Set<string>();
  for (const n of nodes) {
    if (!cuda.supports(n)) bad.add(`${n.op}${n.subOp ? `:${n.subOp}` : ''}(${n.type} <- ${n.src.map((s) => s?.type ?? '-').join(', ')})`);
  }
  return [...bad];
}
