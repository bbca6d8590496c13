/**
 * MQTT 3.1.1 packets written byte by byte, for what mqtt.js refuses to send: a CONNECT
 * with an empty client id and CleanSession=0, a PUBLISH whose declared length is huge
 * and whose body trickles in. Real TCP sockets to a real broker.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { SAFETY_DEADLINE_MS } from '../../simulators/test/support/wait.ts';

/** MQTT's variable byte integer (the Remaining Length), MQTT 3.1.1 section 2.2.3. */
export function remainingLength(value: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    bytes.push(byte);
  } while (value > 0);
  return Buffer.from(bytes);
}

const mqttString = (text: string | Buffer) => {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
};

export function connectPacket(opts: { clientId: string; clean: boolean; username?: string; password?: string; keepalive?: number }): Buffer {
  const flags = (opts.clean ? 0x02 : 0) | (opts.username !== undefined ? 0x80 : 0) | (opts.password !== undefined ? 0x40 : 0);
  const keepalive = Buffer.alloc(2);
  keepalive.writeUInt16BE(opts.keepalive ?? 60);
  const body = Buffer.concat([
    mqttString('MQTT'),
    Buffer.from([4, flags]),
    keepalive,
    mqttString(opts.clientId),
    ...(opts.username !== undefined ? [mqttString(opts.username)] : []),
    ...(opts.password !== undefined ? [mqttString(opts.password)] : []),
  ]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

/** The fixed header and topic of a QoS 0 PUBLISH whose payload is `payloadBytes` long. */
export function publishHead(topic: string, payloadBytes: number): Buffer {
  const topicBytes = mqttString(topic);
  return Buffer.concat([Buffer.from([0x30]), remainingLength(topicBytes.length + payloadBytes), topicBytes]);
}

/** A whole PUBLISH packet (MQTT 3.1.1 section 3.3); QoS 1 and 2 carry `messageId`. */
export function publishPacket(opts: { topic: string; payload: string | Buffer; qos: 0 | 1 | 2; messageId?: number; retain?: boolean }): Buffer {
  const payload = Buffer.isBuffer(opts.payload) ? opts.payload : Buffer.from(opts.payload, 'utf8');
  const id = Buffer.alloc(opts.qos > 0 ? 2 : 0);
  if (opts.qos > 0) id.writeUInt16BE(opts.messageId ?? 1);
  const body = Buffer.concat([mqttString(opts.topic), id, payload]);
  const flags = (opts.qos << 1) | (opts.retain ? 1 : 0);
  return Buffer.concat([Buffer.from([0x30 | flags]), remainingLength(body.length), body]);
}

export interface RawConnection {
  socket: Socket;
  /** Resolves when the broker has closed the connection. */
  closed: Promise<void>;
  /** Resolves when the broker has closed the connection; fails after the safety deadline (a hang, not a slow close). */
  closedWithin(timeoutMs?: number): Promise<void>;
  isClosed(): boolean;
  /** Everything received so far. */
  received(): Buffer;
}

/**
 * A TCP connection to the broker on 127.0.0.1. `from` picks the source address (any of
 * 127.0.0.0/8 works on Linux), so a test can be several clients on different addresses.
 */
export function rawConnection(port: number, from?: string): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ port, host: '127.0.0.1', ...(from !== undefined && { localAddress: from }) });
    let received = Buffer.alloc(0);
    let isClosed = false;
    socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    // A refused writer may see EPIPE or ECONNRESET; the close is what we look for.
    socket.on('error', () => {});
    const closed = new Promise<void>((resolveClosed) =>
      socket.once('close', () => {
        isClosed = true;
        resolveClosed();
      }),
    );
    const closedWithin = (timeoutMs = SAFETY_DEADLINE_MS) =>
      new Promise<void>((resolveClosed, rejectClosed) => {
        const timer = setTimeout(() => rejectClosed(new Error('the broker did not close the connection')), timeoutMs);
        void closed.then(() => {
          clearTimeout(timer);
          resolveClosed();
        });
      });
    socket.once('connect', () => resolve({ socket, closed, closedWithin, isClosed: () => isClosed, received: () => received }));
    socket.once('close', () => reject(new Error('could not connect')));
  });
}

/** Send CONNECT and wait for the CONNACK: its return code (MQTT 3.1.1 section 3.2.2.3). */
export async function rawConnect(
  port: number,
  opts: Parameters<typeof connectPacket>[0] & { from?: string },
  timeoutMs = SAFETY_DEADLINE_MS,
): Promise<{ connection: RawConnection; returnCode: number }> {
  const connection = await rawConnection(port, opts.from);
  connection.socket.write(connectPacket(opts));
  const deadline = Date.now() + timeoutMs;
  while (connection.received().length < 4) {
    if (connection.isClosed()) throw new Error('closed without CONNACK');
    if (Date.now() > deadline) throw new Error('no CONNACK');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const connack = connection.received().subarray(0, 4);
  if (connack[0] !== 0x20 || connack[1] !== 0x02) throw new Error(`not a CONNACK: ${connack.toString('hex')}`);
  return { connection, returnCode: connack[3]! };
}

/**
 * Trickle a body after `head`: `chunkBytes` at a time, one chunk every `intervalMs`,
 * until the broker closes the connection or `maxBytes` have been written. Returns the
 * body bytes written before the broker closed (or maxBytes).
 */
export async function trickle(
  connection: RawConnection,
  head: Buffer,
  opts: { chunkBytes: number; intervalMs: number; maxBytes: number },
): Promise<number> {
  const chunk = Buffer.alloc(opts.chunkBytes, 0x61); // one buffer, written again and again
  let written = 0;
  connection.socket.write(head);
  while (!connection.isClosed() && written < opts.maxBytes) {
    connection.socket.write(chunk);
    written += chunk.length;
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs));
  }
  return written;
}
