/**
 * Load-time edit of the shipped BlazeFace ONNX model so it takes any input size, in NCHW.
 *
 * The network is fully convolutional; only three things pin it to its square input:
 * - channel padding built as Concat(x, ConstantOfShape(fixed NCHW shape)): replaced by a Pad
 *   of the channel axis, which works at any height and width;
 * - Reshapes of the head outputs to a fixed anchor count: the count becomes -1;
 * - the declared input/output shapes: height and width become symbolic, and the stored
 *   intermediate shapes (value_info) are dropped.
 * The input also becomes uint8 RGB (NHWC, as decoded): Cast, x/127.5 and -1 run inside the
 * graph ahead of the model's own NHWC->NCHW Transpose, so callers pass pixels as they are.
 * Nothing is written to disk; the edited bytes go straight to an InferenceSession.
 *
 * ONNX field numbers (onnx.proto): ModelProto graph=7, opset_import=8; GraphProto node=1,
 * initializer=5, input=11, output=12, value_info=13; NodeProto input=1, output=2, name=3,
 * op_type=4, attribute=5; AttributeProto name=1, i=3, s=4, ints=8, type=20; TensorProto
 * dims=1, data_type=2, int64_data=7, name=8, raw_data=9; ValueInfoProto name=1, type=2;
 * TypeProto tensor_type=1; TypeProto.Tensor elem_type=1, shape=2; TensorShapeProto dim=1;
 * Dimension dim_value=1, dim_param=2; OperatorSetIdProto domain=1, version=2.
 * TensorProto data types: FLOAT=1, UINT8=2, INT64=7; AttributeProto types: INT=2, STRING=3.
 */
import {
  bytesField,
  fieldsOf,
  getInts,
  getString,
  intField,
  messageField,
  parseMessage,
  stringField,
  writeMessage,
  type Field,
} from './protobuf.ts';

const FLOAT = 1;
const UINT8 = 2;
const INT64 = 7;
const ATTR_INT = 2;
const ATTR_STRING = 3;

export interface FlexibleModel {
  /** The edited model, for InferenceSession.create. */
  bytes: Uint8Array;
  /** Side of the square input the model was trained and exported for (256 or 128). */
  nativeSide: number;
}

interface Node {
  fields: Field[];
  op: string;
  inputs: string[];
  outputs: string[];
}

function readNode(f: Field): Node {
  const fields = parseMessage(f.data);
  return {
    fields,
    op: getString(fields, 4) ?? '',
    inputs: fieldsOf(fields, 1).map((x) => new TextDecoder().decode(x.data)),
    outputs: fieldsOf(fields, 2).map((x) => new TextDecoder().decode(x.data)),
  };
}

function attribute(node: Node, name: string): Field[] | undefined {
  for (const a of fieldsOf(node.fields, 5)) {
    const fields = parseMessage(a.data);
    if (getString(fields, 1) === name) return fields;
  }
  return undefined;
}

function withInputs(node: Node, inputs: string[]): Node {
  const fields = [...inputs.map((s) => stringField(1, s)), ...node.fields.filter((f) => f.no !== 1)];
  return { ...node, fields, inputs };
}

function tensorInts(fields: Field[]): bigint[] {
  const raw = fields.find((f) => f.no === 9);
  if (!raw) return getInts(fields, 7);
  const view = new DataView(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
  return Array.from({ length: raw.data.byteLength / 8 }, (_, i) => view.getBigInt64(i * 8, true));
}

function int64Tensor(name: string, values: readonly bigint[]): Field[] {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return [intField(1, values.length), intField(2, INT64), stringField(8, name), bytesField(9, raw)];
}

function floatScalar(name: string, value: number): Field[] {
  const raw = new Uint8Array(4);
  new DataView(raw.buffer).setFloat32(0, value, true);
  return [intField(2, FLOAT), stringField(8, name), bytesField(9, raw)];
}

function dim(value: number | string): Field[] {
  return [typeof value === 'number' ? intField(1, value) : stringField(2, value)];
}

/** TypeProto of a tensor with the given dims, or with no shape at all. */
function tensorType(elemType: bigint, dims: Array<number | string> | null): Field[] {
  const tensor: Field[] = [intField(1, elemType)];
  if (dims) tensor.push(messageField(2, dims.map((d) => messageField(1, dim(d)))));
  return [messageField(1, tensor)];
}

function shapeOf(valueInfo: Field[]): { elemType: bigint; dims: Array<bigint | string> } {
  const type = parseMessage(valueInfo.find((f) => f.no === 2)?.data ?? new Uint8Array());
  const tensor = parseMessage(type.find((f) => f.no === 1)?.data ?? new Uint8Array());
  const elemType = getInts(tensor, 1)[0] ?? 0n;
  const shape = parseMessage(tensor.find((f) => f.no === 2)?.data ?? new Uint8Array());
  const dims = fieldsOf(shape, 1).map((d) => {
    const df = parseMessage(d.data);
    return getInts(df, 1)[0] ?? getString(df, 2) ?? '?';
  });
  return { elemType, dims };
}

function unexpected(what: string): Error {
  return new Error(`face model: ${what}; not the BlazeFace export this loader knows`);
}

/** Rewrite a BlazeFace ONNX model (keijiro's barracuda export) for any input size, uint8 NHWC input. */
export function makeBlazeFaceFlexible(model: Uint8Array, shape?: { height: number; width: number }): FlexibleModel {
  const top = parseMessage(model);
  const opset = fieldsOf(top, 8)
    .map((f) => parseMessage(f.data))
    .find((o) => !getString(o, 1));
  const version = opset ? Number(getInts(opset, 2)[0] ?? 0n) : 0;
  if (version < 11) throw unexpected(`opset ${version} (Pad with a pads input needs 11)`);
  const graphField = top.find((f) => f.no === 7);
  if (!graphField) throw unexpected('no graph');
  const graph = parseMessage(graphField.data);

  let nodes = fieldsOf(graph, 1).map(readNode);
  const inits = new Map<string, Field[]>();
  for (const f of fieldsOf(graph, 5)) {
    const t = parseMessage(f.data);
    inits.set(getString(t, 8) ?? '', t);
  }
  const inputs = fieldsOf(graph, 11).map((f) => parseMessage(f.data));
  const input = inputs.find((vi) => !inits.has(getString(vi, 1) ?? ''));
  if (!input) throw unexpected('no image input');
  const inputName = getString(input, 1)!;
  const { elemType, dims } = shapeOf(input);
  if (dims.length !== 4 || dims[3] !== 3n || dims[1] !== dims[2] || typeof dims[1] !== 'bigint') {
    throw unexpected(`input shape [${dims.join(',')}] is not [1,side,side,3]`);
  }
  if (elemType !== BigInt(FLOAT)) throw unexpected('input is not float');
  const nativeSide = Number(dims[1]);

  // 1. uint8 pixels in: Cast -> x * (1/127.5) -> + (-1), then the model's Transpose.
  const transpose = nodes.find((n) => n.op === 'Transpose' && n.inputs[0] === inputName);
  const perm = transpose && attribute(transpose, 'perm');
  if (!transpose || !perm || getInts(perm, 8).join(',') !== '0,3,1,2') throw unexpected('no input transpose');
  const pre = (s: string) => `${inputName}/preprocess/${s}`;
  const node = (op: string, ins: string[], out: string, attrs: Field[][] = []): Node => ({
    fields: [...ins.map((i) => stringField(1, i)), stringField(2, out), stringField(3, pre(op)), stringField(4, op), ...attrs.map((a) => messageField(5, a))],
    op,
    inputs: ins,
    outputs: [out],
  });
  const prologue = [
    node('Cast', [inputName], pre('float'), [[stringField(1, 'to'), intField(3, FLOAT), intField(20, ATTR_INT)]]),
    node('Mul', [pre('float'), pre('scale')], pre('scaled')),
    node('Add', [pre('scaled'), pre('offset')], pre('normalized')),
  ];
  const added: Field[][] = [floatScalar(pre('scale'), 1 / 127.5), floatScalar(pre('offset'), -1)];
  nodes = [...prologue, ...nodes.map((n) => (n === transpose ? withInputs(n, [pre('normalized')]) : n))];

  // 2. Concat(x, ConstantOfShape(shape)) along channels -> Pad(x) along channels.
  const dropped = new Set<string>();
  for (const cos of nodes.filter((n) => n.op === 'ConstantOfShape')) {
    if (fieldsOf(cos.fields, 5).length > 0) throw unexpected('ConstantOfShape with a fill value');
    const shape = inits.get(cos.inputs[0]!);
    if (!shape) throw unexpected('ConstantOfShape of a computed shape');
    const channels = tensorInts(shape)[1]!;
    const padsName = `${cos.outputs[0]}/channel_pads`;
    added.push(int64Tensor(padsName, [0n, 0n, 0n, 0n, 0n, channels, 0n, 0n]));
    nodes = nodes.map((n) => {
      if (!n.inputs.includes(cos.outputs[0]!)) return n;
      const axis = attribute(n, 'axis');
      if (n.op !== 'Concat' || n.inputs.length !== 2 || n.inputs[1] !== cos.outputs[0] || !axis || getInts(axis, 3)[0] !== 1n) {
        throw unexpected(`${n.op} uses a ConstantOfShape`);
      }
      const mode = [stringField(1, 'mode'), bytesField(4, new TextEncoder().encode('constant')), intField(20, ATTR_STRING)];
      const name = getString(n.fields, 3);
      const fields = [stringField(1, n.inputs[0]!), stringField(1, padsName), stringField(2, n.outputs[0]!)];
      if (name) fields.push(stringField(3, name));
      fields.push(stringField(4, 'Pad'), messageField(5, mode));
      return { fields, op: 'Pad', inputs: [n.inputs[0]!, padsName], outputs: n.outputs };
    });
    nodes = nodes.filter((n) => n !== cos);
    dropped.add(cos.inputs[0]!);
  }

  // 3. Head Reshapes [1, anchors, k] -> [1, -1, k].
  for (const r of nodes.filter((n) => n.op === 'Reshape')) {
    const name = r.inputs[1]!;
    const shape = inits.get(name);
    if (!shape) throw unexpected('Reshape to a computed shape');
    const v = tensorInts(shape);
    if (v.length !== 3) throw unexpected(`Reshape to rank ${v.length}`);
    inits.set(name, int64Tensor(name, [v[0]!, -1n, v[2]!]));
  }
  for (const name of dropped) if (!nodes.some((n) => n.inputs.includes(name))) inits.delete(name);

  // 4. Shapes: symbolic height and width in, anchor counts unknown out, no stored intermediates.
  const newInput = [stringField(1, inputName), messageField(2, tensorType(BigInt(UINT8), [1, shape?.height ?? 'height', shape?.width ?? 'width', 3]))];
  const outputs = fieldsOf(graph, 12).map((f) => {
    const vi = parseMessage(f.data);
    return [stringField(1, getString(vi, 1)!), messageField(2, tensorType(shapeOf(vi).elemType, null))];
  });
  const rest = graph.filter((f) => ![1, 5, 11, 12, 13].includes(f.no));
  const newGraph: Field[] = [
    ...rest,
    ...nodes.map((n) => messageField(1, n.fields)),
    ...[...inits.values(), ...added].map((t) => messageField(5, t)),
    messageField(11, newInput),
    ...outputs.map((o) => messageField(12, o)),
  ];
  const newTop = top.map((f) => (f === graphField ? messageField(7, newGraph) : f));
  return { bytes: writeMessage(newTop), nativeSide };
}
