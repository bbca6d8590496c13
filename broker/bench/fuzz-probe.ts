/**
 * The well-behaved client of the fuzzing benchmark (fuzz.ts), in a process of its own so that
 * the fuzzer's busy event loop does not count in its round trips:
 *
 *   node --import tsx broker/bench/fuzz-probe.ts '<json ProbeSpec>'
 *
 * Connects (raw MQTT 3.1.1, CleanSession=1, keepalive 30 s), then sends PINGREQ every
 * `intervalMs` (one at a time) and times each PINGRESP. Over IPC: { type: 'ready' } once
 * CONNACK accepted it, { type: 'rtts', ms: number[] } every second, { type: 'late', ms } when
 * a PINGRESP is over 5 s late and { type: 'hung', ms } when over 30 s (once per ping each),
 * { type: 'lost', reason } if the connection goes while it should not. On { type: 'stop' } it sends what it has, then DISCONNECT, then
 * { type: 'stopped', lost: boolean, outstandingMs? } and exits.
 */
import { connect as tcpConnect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { FrameReader, encode } from './fuzz-packets.ts';

export interface ProbeSpec {
  port: number;
  clientId: string;
  username?: string;
  password?: string;
  intervalMs: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as ProbeSpec;
const send = (message: object) => new Promise<void>((resolve) => (process.send ? process.send(message, () => resolve()) : resolve()));
const LATE_MS = 5_000;
/** A PINGREQ unanswered this long: the broker is hung (its event loop blocked), not slow. */
const HUNG_MS = 30_000;
const KEEPALIVE_S = 30;

const socket = tcpConnect({ port: spec.port, host: '127.0.0.1', noDelay: true });
const reader = new FrameReader();
let stopping = false;
let lost: string | null = null;
let connected = false;
let pingSentAt: number | null = null;
let lateReported = false;
let hungReported = false;
let rtts: number[] = [];

function reportLost(reason: string): void {
  if (stopping || lost !== null) return;
  lost = reason;
  void send({ type: 'lost', reason });
}

socket.on('error', (error) => reportLost(`socket error: ${error.message}`));
socket.on('close', () => reportLost(connected ? 'the broker closed the connection' : 'closed before CONNACK'));
socket.on('data', (chunk: Buffer) => {
  for (const frame of reader.push(chunk)) {
    const type = frame.first >> 4;
    if (type === 2) {
      const code = frame.body[1];
      if (code !== 0) {
        reportLost(`CONNACK refused it (return code ${code})`);
        socket.destroy();
        return;
      }
      connected = true;
      void send({ type: 'ready' });
      ping();
    } else if (type === 13 && pingSentAt !== null) {
      rtts.push(performance.now() - pingSentAt);
      pingSentAt = null;
      lateReported = false;
      hungReported = false;
      setTimeout(ping, spec.intervalMs);
    }
  }
});
socket.once('connect', () => {
  socket.write(
    encode({
      type: 'connect',
      protocolName: Buffer.from('MQTT'),
      level: 4,
      clean: true,
      keepalive: KEEPALIVE_S,
      clientId: Buffer.from(spec.clientId),
      ...(spec.username !== undefined && { username: Buffer.from(spec.username) }),
      ...(spec.password !== undefined && { password: Buffer.from(spec.password) }),
    }),
  );
});

function ping(): void {
  if (stopping || lost || socket.destroyed) return;
  pingSentAt = performance.now();
  socket.write(encode({ type: 'pingreq' }));
}

setInterval(() => {
  if (rtts.length > 0) {
    void send({ type: 'rtts', ms: rtts });
    rtts = [];
  }
  if (pingSentAt !== null && !lateReported && performance.now() - pingSentAt > LATE_MS) {
    lateReported = true;
    void send({ type: 'late', ms: performance.now() - pingSentAt });
  }
  if (pingSentAt !== null && !hungReported && performance.now() - pingSentAt > HUNG_MS) {
    hungReported = true;
    void send({ type: 'hung', ms: performance.now() - pingSentAt });
  }
}, 1000).unref();

process.on('message', async (message: { type?: string }) => {
  if (message.type !== 'stop' || stopping) return;
  stopping = true;
  if (rtts.length > 0) await send({ type: 'rtts', ms: rtts });
  // Still connected at the end is what "kept its connection" means.
  const wasLost = lost !== null || socket.destroyed;
  if (!socket.destroyed) socket.end(encode({ type: 'disconnect' }));
  // A PINGREQ still unanswered counts with its age so far (a hang must show in the maximum).
  await send({ type: 'stopped', lost: wasLost, reason: lost, ...(pingSentAt !== null && { outstandingMs: performance.now() - pingSentAt }) });
  process.exit(0);
});
process.on('disconnect', () => process.exit(0));
