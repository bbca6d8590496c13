/**
 * Latency, jitter and loss without raw sockets: `count` spaced probes to each target,
 * each either a UDP datagram a reflector echoes back (RFC 862) or a TCP handshake. A
 * probe that gets no answer within its timeout is lost; nothing here ever rejects, an
 * unreachable link is a result (everything lost), not an error.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { connect, isIP } from 'node:net';
import type { LatencySettings, ProbeTarget } from './probe-options.ts';

/** Round-trip time of each probe to one target, ms; null when it was lost. */
export type RttSeries = (number | null)[];

/** A monotonic clock in ms: what round trips are timed with (performance.now unless a test gives its own). */
export type Clock = () => number;
const monotonic: Clock = () => performance.now();

export interface LatencyResult {
  sent: number;
  answered: number;
  lossPct: number;
  /** Median round trip of the answered probes. */
  latencyMs?: number;
  /** Mean absolute difference of consecutive round trips to the same target (RFC 3550's idea). */
  jitterMs?: number;
}

/** Probe every target side by side and sum them up. */
export async function measureLatency(s: LatencySettings, signal: AbortSignal, now: Clock = monotonic): Promise<LatencyResult> {
  const series = await Promise.all(s.targets.map((target) => probeTarget(target, s, signal, now)));
  return summarize(series);
}

export function probeTarget(target: ProbeTarget, s: Omit<LatencySettings, 'targets'>, signal: AbortSignal, now: Clock = monotonic): Promise<RttSeries> {
  return target.method === 'udp-echo' ? udpEcho(target, s, signal, now) : tcpConnect(target, s, signal, now);
}

/** The statistics of a poll's round trips (pure): loss, median latency, RFC 3550 style jitter. */
export function summarize(series: RttSeries[]): LatencyResult {
  const all = series.flat();
  const rtts = all.filter((r): r is number => r !== null);
  const result: LatencyResult = {
    sent: all.length,
    answered: rtts.length,
    lossPct: all.length === 0 ? 100 : round(((all.length - rtts.length) / all.length) * 100, 1),
  };
  if (rtts.length > 0) result.latencyMs = round(median(rtts), 2);
  let diffs = 0;
  let pairs = 0;
  for (const one of series) {
    // Across a lost probe the neighbours are still consecutive answers of the same path.
    const answered = one.filter((r): r is number => r !== null);
    for (let i = 1; i < answered.length; i++) {
      diffs += Math.abs(answered[i]! - answered[i - 1]!);
      pairs++;
    }
  }
  if (pairs > 0) result.jitterMs = round(diffs / pairs, 2);
  return result;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/** Resolve a target's name once up front, so name lookup time is not counted as latency. */
async function resolveTarget(host: string, timeoutMs: number, signal: AbortSignal): Promise<{ address: string; family: 4 | 6 } | null> {
  const family = isIP(host);
  if (family === 4 || family === 6) return { address: host, family };
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  // getaddrinfo cannot be cancelled: stop waiting for it instead.
  const giveUp = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
    onAbort = () => resolve(null);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const found = lookup(host).then(
      (r) => ({ address: r.address, family: r.family === 6 ? (6 as const) : (4 as const) }),
      () => null,
    );
    return await Promise.race([found, giveUp]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Runs `count` probes spaced `spacingMs` apart and settles once all are answered or the
 * last one has had its `timeoutMs`; `start(seq, answer)` sends one probe, `answer(rtt)`
 * records it. Owns every timer, so abort and finish clean up in one place.
 */
function spacedProbes(
  s: Omit<LatencySettings, 'targets'>,
  signal: AbortSignal,
  now: Clock,
  hooks: { send(seq: number, sentAt: number): void; cleanup(): void },
): { rtts: RttSeries; answer(seq: number, at: number): void; lose(seq: number): void; done: Promise<RttSeries> } {
  const rtts: RttSeries = new Array<number | null>(s.count).fill(null);
  const sentAt: (number | undefined)[] = new Array<number | undefined>(s.count);
  const settled: boolean[] = new Array<boolean>(s.count).fill(false);
  const timers = new Set<NodeJS.Timeout>();
  let open = s.count;
  let finished = false;
  let resolveDone!: (r: RttSeries) => void;
  const done = new Promise<RttSeries>((resolve) => (resolveDone = resolve));

  const finish = () => {
    if (finished) return;
    finished = true;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    signal.removeEventListener('abort', finish);
    hooks.cleanup();
    resolveDone(rtts);
  };
  const settle = (seq: number, rtt: number | null) => {
    if (finished || settled[seq] || sentAt[seq] === undefined) return;
    settled[seq] = true;
    rtts[seq] = rtt;
    if (--open === 0) finish();
  };
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  if (signal.aborted) queueMicrotask(finish);
  else signal.addEventListener('abort', finish, { once: true });
  for (let seq = 0; seq < s.count; seq++) {
    later(seq * s.spacingMs, () => {
      if (finished) return;
      const at = now();
      sentAt[seq] = at;
      later(s.timeoutMs, () => settle(seq, null));
      hooks.send(seq, at);
    });
  }

  return {
    rtts,
    answer: (seq, at) => {
      const t0 = sentAt[seq];
      if (t0 === undefined) return;
      const rtt = at - t0;
      settle(seq, rtt <= s.timeoutMs ? rtt : null);
    },
    lose: (seq) => settle(seq, null),
    done,
  };
}

const MAGIC = 0x534f5031; // 'SOP1'
const PACKET_BYTES = 20;

/** magic, session, sequence number, send timestamp: small enough for any path's MTU. */
function echoPacket(session: number, seq: number, sentAt: number): Buffer {
  const b = Buffer.alloc(PACKET_BYTES);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt32BE(session, 4);
  b.writeUInt32BE(seq, 8);
  b.writeDoubleBE(sentAt, 12);
  return b;
}

async function udpEcho(target: ProbeTarget, s: Omit<LatencySettings, 'targets'>, signal: AbortSignal, now: Clock): Promise<RttSeries> {
  const resolved = await resolveTarget(target.host, s.timeoutMs, signal);
  if (!resolved || signal.aborted) return new Array<number | null>(s.count).fill(null);
  // A fresh random session per poll: a late echo from an earlier poll (or someone else's
  // datagram on a reused port) can never be taken for an answer.
  const session = randomBytes(4).readUInt32BE(0);
  const socket: UdpSocket = createSocket(resolved.family === 6 ? 'udp6' : 'udp4');
  let closed = false;
  const probes = spacedProbes(s, signal, now, {
    send: (seq, sentAt) => {
      if (closed) return;
      // A send error (no route, ICMP refusal) leaves the probe unanswered: it is lost.
      socket.send(echoPacket(session, seq, sentAt), target.port, resolved.address, () => undefined);
    },
    cleanup: () => {
      closed = true;
      try {
        socket.close();
      } catch {
        // already closed
      }
    },
  });
  socket.on('error', () => undefined);
  socket.on('message', (msg, rinfo) => {
    const at = now();
    if (rinfo.port !== target.port || msg.length !== PACKET_BYTES) return;
    if (msg.readUInt32BE(0) !== MAGIC || msg.readUInt32BE(4) !== session) return;
    const seq = msg.readUInt32BE(8);
    if (seq < s.count) probes.answer(seq, at);
  });
  return probes.done;
}

async function tcpConnect(target: ProbeTarget, s: Omit<LatencySettings, 'targets'>, signal: AbortSignal, now: Clock): Promise<RttSeries> {
  const resolved = await resolveTarget(target.host, s.timeoutMs, signal);
  if (!resolved || signal.aborted) return new Array<number | null>(s.count).fill(null);
  const sockets = new Set<ReturnType<typeof connect>>();
  const probes = spacedProbes(s, signal, now, {
    send: (seq) => {
      const socket = connect({ host: resolved.address, port: target.port, family: resolved.family });
      sockets.add(socket);
      const end = () => {
        sockets.delete(socket);
        socket.destroy();
      };
      socket.once('connect', () => {
        probes.answer(seq, now());
        end();
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        // A refusal is a RST from the far end: the path works, the port is merely closed.
        if (error.code === 'ECONNREFUSED') probes.answer(seq, now());
        else probes.lose(seq);
        end();
      });
    },
    cleanup: () => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
  });
  return probes.done;
}
