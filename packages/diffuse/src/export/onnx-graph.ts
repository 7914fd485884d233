// A small builder for ONNX graphs: nodes, float32/int64 initializers, typed inputs/outputs, and
// the serialised ModelProto. The protobuf itself is written by onnx-proto (the official onnx.proto
// compiled with protobufjs); this file only decides names, types and attributes.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** The opset we emit: 17 (ONNX 1.12: LayerNormalization yes, GroupNormalization not yet). */
export const ONNX_OPSET = 17;
/** IR version 8 goes with opset 17 (ONNX 1.12). */
const IR_VERSION = 8;

/** An attribute value with its ONNX type spelled out (JS numbers do not tell int from float). */
export type AttrValue = { int: number } | { float: number } | { ints: number[] } | { str: string };

/** A dimension: a fixed size or a symbolic name (dynamic). */
export type Dim = number | string;

/** The element types the graphs here use. */
export type ElemType = 'float32' | 'int64';

const DATA_TYPE: Record<ElemType, number> = { float32: onnx.TensorProto.DataType.FLOAT, int64: onnx.TensorProto.DataType.INT64 };

/** Builds one ONNX graph; every op returns the name of its (first) output. */
export class OnnxGraph {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly used = new Set<string>();
  private readonly int64Consts = new Map<string, string>();

  /** A fresh value name from a readable prefix (module path + what). */
  fresh(prefix: string): string {
    let name = prefix;
    for (let i = 1; this.used.has(name); i++) name = `${prefix}_${i}`;
    this.used.add(name);
    return name;
  }

  /**
   * Appends a node.
   * @param opType the ONNX operator (default domain).
   * @param inputs value names ('' for an omitted optional input).
   * @param attrs typed attributes.
   * @param prefix names the node and its outputs.
   * @param numOutputs how many outputs.
   * @returns the output names.
   */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, prefix = opType, numOutputs = 1): string[] {
    const outs = Array.from({ length: numOutputs }, (_, i) => this.fresh(numOutputs === 1 ? prefix : `${prefix}_out${i}`));
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        name: this.fresh(`${prefix}/${opType}`),
        input: inputs,
        output: outs,
        attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
      }),
    );
    return outs;
  }

  /** node() with one output. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, prefix = opType): string {
    return this.node(opType, inputs, attrs, prefix)[0]!;
  }

  /**
   * A float32 initializer (weights, constants).
   * @param name a readable name (made unique).
   * @param data the values, row-major.
   * @param dims the shape.
   */
  float(name: string, data: Float32Array, dims: number[]): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new RangeError(`OnnxGraph: ${name} has ${data.length} values for shape [${dims.join(', ')}]`);
    const id = this.fresh(name);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(); // little-endian on every platform Node runs
    this.initializers.push(onnx.TensorProto.create({ name: id, dims, dataType: DATA_TYPE.float32, rawData: bytes }));
    return id;
  }

  /** An int64 initializer (shapes, axes, indices); equal constants are shared. */
  int64(values: number[], dims: number[] = [values.length]): string {
    const key = `${dims.join('x')}:${values.join(',')}`;
    const known = this.int64Consts.get(key);
    if (known !== undefined) return known;
    const id = this.fresh(`const_i64_${values.join('_').replace(/-/g, 'm')}`);
    const data = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push(onnx.TensorProto.create({ name: id, dims, dataType: DATA_TYPE.int64, rawData: new Uint8Array(data.buffer) }));
    this.int64Consts.set(key, id);
    return id;
  }

  /** Declares a graph input. */
  input(name: string, type: ElemType, dims: Dim[]): string {
    this.used.add(name);
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Declares a graph output (an Identity renames the value to `name`). */
  output(value: string, name: string, type: ElemType, dims: Dim[]): void {
    this.nodes.push(onnx.NodeProto.create({ opType: 'Identity', name: this.fresh(`${name}/Identity`), input: [value], output: [name] }));
    this.used.add(name);
    this.outputs.push(valueInfo(name, type, dims));
  }

  /**
   * The serialised model.
   * @param graphName the graph's name.
   * @param metadata metadata_props (string → string).
   * @param docString what the model is.
   */
  serialize(graphName: string, metadata: Record<string, string>, docString: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'diffuse',
      producerVersion: '0.1.0',
      docString,
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: ONNX_OPSET })],
      metadataProps: Object.entries(metadata).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })),
      graph: onnx.GraphProto.create({
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      }),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function attribute(name: string, v: AttrValue): InstanceType<typeof onnx.AttributeProto> {
  const T = onnx.AttributeProto.AttributeType;
  if ('int' in v) return onnx.AttributeProto.create({ name, type: T.INT, i: v.int });
  if ('float' in v) return onnx.AttributeProto.create({ name, type: T.FLOAT, f: v.float });
  if ('ints' in v) return onnx.AttributeProto.create({ name, type: T.INTS, ints: v.ints });
  return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(v.str) });
}

function valueInfo(name: string, type: ElemType, dims: Dim[]): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: DATA_TYPE[type],
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) => (typeof d === 'number' ? onnx.TensorShapeProto.Dimension.create({ dimValue: d }) : onnx.TensorShapeProto.Dimension.create({ dimParam: d }))),
        }),
      }),
    }),
  });
}

/**
 * Reads the metadata_props of a serialised model (for `diffuse info`-like checks and the web page).
 * @param bytes an ONNX file's contents.
 * @returns its metadata as a plain object.
 */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const model = onnx.ModelProto.decode(bytes);
  return Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
}
