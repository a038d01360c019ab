// A small builder for ONNX graphs: nodes in topological order, initializers inline or in an
// external data file, and the model written with the ONNX schema's protobuf code (onnx-proto).
import { closeSync, openSync, writeSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { GeniusError } from '../errors.js';

export const { onnx } = onnxProto;
type Attribute = InstanceType<typeof onnx.AttributeProto>;
type NodeProto = InstanceType<typeof onnx.NodeProto>;
type TensorProto = InstanceType<typeof onnx.TensorProto>;
type ValueInfo = InstanceType<typeof onnx.ValueInfoProto>;

export const DT = { FLOAT: 1, INT64: 7, BOOL: 9 } as const;

/** A dimension: a number, or a symbolic name such as `batch_size`. */
export type Dim = number | string;

export const attr = {
  int: (name: string, i: number): Attribute => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i }),
  ints: (name: string, ints: number[]): Attribute =>
    onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints }),
  float: (name: string, f: number): Attribute => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f }),
};

/** Initializers of at least this many bytes go to the external data file when there is one. */
const EXTERNAL_MIN_BYTES = 1024;
/** Protobuf messages cannot exceed 2 GiB; stay clear of it. */
export const INLINE_LIMIT_BYTES = 1.8 * 2 ** 30;

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  inlineBytes = 0;
  externalBytes = 0;
  #counter = 0;
  #dataFd: number | undefined;
  #dataName = '';

  /**
   * `data`: write large initializers to `data.path` (ONNX external data), which the model names
   * as `data.location`, relative to its own folder (the file may be renamed there later).
   */
  constructor(data?: { path: string; location: string }) {
    if (data) {
      this.#dataFd = openSync(data.path, 'w');
      this.#dataName = data.location;
    }
  }

  fresh(stem: string): string {
    return `${stem}_${this.#counter++}`;
  }

  /** Adds a node; returns its output names (`outputs` of them, named after `stem`). */
  node(op: string, inputs: string[], attributes: Attribute[] = [], stem = op.toLowerCase(), outputs = 1): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(stem));
    this.nodes.push(
      onnx.NodeProto.create({ opType: op, input: inputs, output: names, attribute: attributes, name: this.fresh(`n_${op}`) }),
    );
    return names;
  }

  /** One-output node. */
  op(op: string, inputs: string[], attributes: Attribute[] = [], stem?: string): string {
    return this.node(op, inputs, attributes, stem)[0]!;
  }

  /** Renames the last node's output (so graph outputs keep their conventional names). */
  nameLastOutput(name: string): void {
    const last = this.nodes[this.nodes.length - 1]!;
    last.output[0] = name;
  }

  float32(name: string, data: Float32Array, dims: number[]): string {
    return this.#tensor(name, DT.FLOAT, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), dims);
  }

  int64(name: string, values: number[], dims = [values.length]): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    return this.#tensor(name, DT.INT64, new Uint8Array(data.buffer), dims);
  }

  /** A constant with a generated name. */
  constInt64(values: number[], dims?: number[]): string {
    return this.int64(this.fresh('const'), values, dims);
  }

  constFloat(values: number[], dims = [values.length]): string {
    return this.float32(this.fresh('const'), Float32Array.from(values), dims);
  }

  #tensor(name: string, dataType: number, bytes: Uint8Array, dims: number[]): string {
    const t = onnx.TensorProto.create({ name, dataType, dims });
    if (this.#dataFd !== undefined && bytes.byteLength >= EXTERNAL_MIN_BYTES) {
      const offset = this.externalBytes;
      for (let done = 0; done < bytes.byteLength;) done += writeSync(this.#dataFd, bytes, done, bytes.byteLength - done, offset + done);
      // Page-aligned offsets let ONNX Runtime map the data instead of copying it.
      const padded = Math.ceil(bytes.byteLength / 4096) * 4096;
      this.externalBytes += padded;
      t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      t.externalData = [
        onnx.StringStringEntryProto.create({ key: 'location', value: this.#dataName }),
        onnx.StringStringEntryProto.create({ key: 'offset', value: String(offset) }),
        onnx.StringStringEntryProto.create({ key: 'length', value: String(bytes.byteLength) }),
      ];
    } else {
      t.rawData = bytes; // owned by the builder from here on
      this.inlineBytes += bytes.byteLength;
    }
    this.initializers.push(t);
    return name;
  }

  input(name: string, dataType: number, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, dataType, dims));
    return name;
  }

  output(name: string, dataType: number, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, dataType, dims));
  }

  /** Encodes the model (ONNX IR 8, the given default-domain opset). */
  encode(opset: number, metadata: Record<string, string>, producerVersion: string): Uint8Array {
    if (this.#dataFd !== undefined) {
      closeSync(this.#dataFd);
      this.#dataFd = undefined;
    }
    if (this.inlineBytes > INLINE_LIMIT_BYTES) {
      throw new GeniusError(
        `the weights (${(this.inlineBytes / 2 ** 30).toFixed(2)} GiB) exceed what one ONNX protobuf can hold (2 GiB): export with external data`,
      );
    }
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: opset })],
      producerName: 'genius',
      producerVersion,
      graph: onnx.GraphProto.create({
        name: 'decoder',
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      }),
      metadataProps: Object.entries(metadata).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }

  /** Closes the external data file if encode() was never reached. */
  abort(): void {
    if (this.#dataFd !== undefined) closeSync(this.#dataFd);
    this.#dataFd = undefined;
  }
}

function valueInfo(name: string, elemType: number, dims: Dim[]): ValueInfo {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType,
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) => onnx.TensorShapeProto.Dimension.create(typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        }),
      }),
    }),
  });
}
