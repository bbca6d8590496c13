/**
 * The little of DNS (RFC 1035) the simulated internet needs: read one query, write its
 * answer (one A record, NODATA, NXDOMAIN, or an error code). Written by hand so the probe's
 * DNS check talks to a real wire-format server. Every read is bounds-checked: a datagram
 * off the network is untrusted, and a malformed one is refused, never thrown on.
 */

export const RCODE = { noError: 0, formErr: 1, servFail: 2, nxDomain: 3, notImp: 4, refused: 5 } as const;
export const QTYPE_A = 1;
export const QCLASS_IN = 1;

const HEADER_BYTES = 12;
const QR = 0x8000;
const AA = 0x0400;
const RD = 0x0100;
const RA = 0x0080;
/** RFC 1035 2.3.4. */
const MAX_NAME_BYTES = 255;
const MAX_LABEL_BYTES = 63;

export interface DnsQuery {
  id: number;
  opcode: number;
  recursionDesired: boolean;
  /** Lower-cased, without the trailing dot. */
  name: string;
  qtype: number;
  qclass: number;
  /** The question section as received, echoed back in the answer (keeps the asker's letter case). */
  question: Buffer;
}

/**
 * What to do with a datagram: answer a query, answer with an error code only (the header
 * could be read but not the question), or drop it (too short to carry an id, or a response).
 */
export type DnsRequest = { kind: 'query'; query: DnsQuery } | { kind: 'error'; id: number; opcode: number; rcode: number } | { kind: 'drop' };

export function readDnsRequest(msg: Buffer): DnsRequest {
  if (msg.length < HEADER_BYTES) return { kind: 'drop' };
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  // Never answer an answer: two servers pointed at each other would loop for ever.
  if (flags & QR) return { kind: 'drop' };
  const opcode = (flags >> 11) & 0x0f;
  if (opcode !== 0) return { kind: 'error', id, opcode, rcode: RCODE.notImp };
  if (msg.readUInt16BE(4) !== 1) return { kind: 'error', id, opcode, rcode: RCODE.formErr };
  const labels: string[] = [];
  let offset = HEADER_BYTES;
  let nameBytes = 0;
  for (;;) {
    if (offset >= msg.length) return { kind: 'error', id, opcode, rcode: RCODE.formErr };
    const length = msg[offset]!;
    offset++;
    if (length === 0) break;
    // A question never needs compression; a pointer here is malformed (and could loop).
    if (length > MAX_LABEL_BYTES) return { kind: 'error', id, opcode, rcode: RCODE.formErr };
    nameBytes += length + 1;
    if (nameBytes > MAX_NAME_BYTES || offset + length > msg.length) return { kind: 'error', id, opcode, rcode: RCODE.formErr };
    labels.push(msg.toString('latin1', offset, offset + length));
    offset += length;
  }
  if (offset + 4 > msg.length) return { kind: 'error', id, opcode, rcode: RCODE.formErr };
  const qtype = msg.readUInt16BE(offset);
  const qclass = msg.readUInt16BE(offset + 2);
  offset += 4;
  return {
    kind: 'query',
    query: {
      id,
      opcode,
      recursionDesired: (flags & RD) !== 0,
      name: labels.join('.').toLowerCase(),
      qtype,
      qclass,
      question: Buffer.from(msg.subarray(HEADER_BYTES, offset)),
    },
  };
}

function header(id: number, opcode: number, rd: boolean, rcode: number, qdcount: number, ancount: number): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(QR | (opcode << 11) | AA | (rd ? RD : 0) | RA | rcode, 2);
  b.writeUInt16BE(qdcount, 4);
  b.writeUInt16BE(ancount, 6);
  return b;
}

/** An answer with only a header: for requests whose question could not be read. */
export function writeDnsError(id: number, opcode: number, rcode: number): Buffer {
  return header(id, opcode, false, rcode, 0, 0);
}

/** The answer to a query: one A record when `address` is given, else just the rcode. */
export function writeDnsAnswer(query: DnsQuery, rcode: number, address?: string, ttlSeconds = 60): Buffer {
  const parts = [header(query.id, query.opcode, query.recursionDesired, rcode, 1, address ? 1 : 0), query.question];
  if (address) {
    const record = Buffer.alloc(16);
    record.writeUInt16BE(0xc000 | HEADER_BYTES, 0); // the name: a pointer to the question's
    record.writeUInt16BE(QTYPE_A, 2);
    record.writeUInt16BE(QCLASS_IN, 4);
    record.writeUInt32BE(ttlSeconds, 6);
    record.writeUInt16BE(4, 10);
    address.split('.').forEach((octet, i) => record.writeUInt8(Number(octet) & 0xff, 12 + i));
    parts.push(record);
  }
  return Buffer.concat(parts);
}

/** A query as a stub resolver sends it (tests, and anyone probing the server by hand). */
export function writeDnsQuery(id: number, name: string, qtype = QTYPE_A): Buffer {
  const labels = name.split('.').filter(Boolean).map((label) => {
    const bytes = Buffer.from(label, 'latin1');
    return Buffer.concat([Buffer.from([bytes.length]), bytes]);
  });
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(qtype, 1);
  tail.writeUInt16BE(QCLASS_IN, 3);
  const head = Buffer.alloc(HEADER_BYTES);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(RD, 2);
  head.writeUInt16BE(1, 4);
  return Buffer.concat([head, ...labels, tail]);
}
