/**
 * Minimal protobuf wire-format reader and writer: enough to edit an ONNX model's graph.
 *
 * A message is kept as its list of fields in wire order; each field keeps its raw value
 * bytes, so everything this code does not touch is written back byte for byte.
 */

export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  Bytes = 2,
  Fixed32 = 5,
}

export interface Field {
  no: number;
  wire: WireType;
  /** Varint bytes, fixed-width bytes, or a length-delimited payload (without its length). */
  data: Uint8Array;
}

function readVarint(buf: Uint8Array, pos: number): { value: bigint; end: number } {
  let value = 0n;
  let shift = 0n;
  for (let i = pos; i < buf.length && i < pos + 10; i++) {
    const b = buf[i]!;
    value |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) return { value, end: i + 1 };
    shift += 7n;
  }
  throw new RangeError('protobuf: truncated varint');
}

function varintBytes(value: bigint): number[] {
  // Negative int64 values are written as their 64-bit two's complement (10 bytes).
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? b | 0x80 : b);
  } while (v > 0n);
  return out;
}

/** Split a message into its fields. */
export function parseMessage(buf: Uint8Array): Field[] {
  const fields: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const tag = readVarint(buf, pos);
    pos = tag.end;
    const no = Number(tag.value >> 3n);
    const wire = Number(tag.value & 7n) as WireType;
    let end: number;
    let start = pos;
    if (wire === WireType.Varint) end = readVarint(buf, pos).end;
    else if (wire === WireType.Fixed64) end = pos + 8;
    else if (wire === WireType.Fixed32) end = pos + 4;
    else if (wire === WireType.Bytes) {
      const len = readVarint(buf, pos);
      start = len.end;
      end = start + Number(len.value);
    } else throw new RangeError(`protobuf: unsupported wire type ${wire}`);
    if (end > buf.length) throw new RangeError('protobuf: field runs past the end');
    fields.push({ no, wire, data: buf.subarray(start, end) });
    pos = end;
  }
  return fields;
}

/** Encode fields back into a message. */
export function writeMessage(fields: readonly Field[]): Uint8Array {
  const parts: Array<number[] | Uint8Array> = [];
  let size = 0;
  for (const f of fields) {
    const head = varintBytes(BigInt((f.no << 3) | f.wire));
    if (f.wire === WireType.Bytes) head.push(...varintBytes(BigInt(f.data.length)));
    parts.push(head, f.data);
    size += head.length + f.data.length;
  }
  const out = new Uint8Array(size);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

const utf8 = new TextDecoder();
const toUtf8 = new TextEncoder();

export function fieldsOf(fields: readonly Field[], no: number): Field[] {
  return fields.filter((f) => f.no === no);
}

export function stringOf(f: Field): string {
  return utf8.decode(f.data);
}

/** First string field `no`, or undefined. */
export function getString(fields: readonly Field[], no: number): string | undefined {
  const f = fields.find((x) => x.no === no);
  return f ? stringOf(f) : undefined;
}

/** Values of a repeated integer field, packed or not. */
export function getInts(fields: readonly Field[], no: number): bigint[] {
  const out: bigint[] = [];
  for (const f of fields) {
    if (f.no !== no) continue;
    if (f.wire === WireType.Varint) out.push(BigInt.asIntN(64, readVarint(f.data, 0).value));
    else if (f.wire === WireType.Bytes) {
      for (let pos = 0; pos < f.data.length; ) {
        const v = readVarint(f.data, pos);
        out.push(BigInt.asIntN(64, v.value));
        pos = v.end;
      }
    }
  }
  return out;
}

export function stringField(no: number, value: string): Field {
  return { no, wire: WireType.Bytes, data: toUtf8.encode(value) };
}

export function bytesField(no: number, data: Uint8Array): Field {
  return { no, wire: WireType.Bytes, data };
}

export function messageField(no: number, fields: readonly Field[]): Field {
  return { no, wire: WireType.Bytes, data: writeMessage(fields) };
}

export function intField(no: number, value: bigint | number): Field {
  return { no, wire: WireType.Varint, data: Uint8Array.from(varintBytes(BigInt(value))) };
}
