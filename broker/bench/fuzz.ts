/**
 * Fuzzing benchmark (issue 11): random and mutated MQTT 3.1.1 packets against the district
 * broker and a school gateway's local broker, while a well-behaved client keeps pinging.
 *
 *   node --import tsx broker/bench/fuzz.ts [--packets 1000000] [--target district|school|both]
 *       [--connections 32] [--seed 1] [--sources 16] [--progress-s 5] [--keep-going] [--clean-sessions-only]
 *   node --import tsx broker/bench/fuzz.ts --target district --replay 1234[,1240] [--dump]
 *
 * Per target, in turn: start it in child processes (fuzz-targets.ts), connect the
 * well-behaved client (fuzz-probe.ts, a process of its own: PINGREQ every 100 ms), then
 * run fuzz sessions (fuzz-packets.ts) over `--connections` concurrent connections, each
 * opened, used and closed, until `--packets` packets were written to the broker. Sessions
 * come from `--sources` loopback addresses (127.0.0.2, ...), as from several hosts: the
 * district broker limits password checks per address, and one address would hold the
 * authenticated share of the fuzz to its rate. The well-behaved client connects from
 * 127.0.0.1.
 *
 * A packet counts as sent once the kernel took it. A session that logged in (CONNACK 0) sends
 * a group of packets, then a PINGREQ, and the next group once the PINGRESP is back (see
 * runSession), so what it sends is what the broker reads and handles, not a backlog that dies
 * unread with the connection; the other sessions (refused, mutated CONNECTs, garbage) send
 * a few packets and are closed by the broker.
 *
 * Printed: progress every few seconds; then per broker packets and bytes sent, connections,
 * what the broker answered, crashes (a broker process that exited), its RSS before/after
 * and peak, the well-behaved client's ping round trip (median, p99, max) during the run,
 * and a health check after it. Exit code 1 if a process crashed, the broker hung (the
 * well-behaved client waited 30 s for a PINGRESP; the run stops there), the well-behaved
 * client lost its connection, or the health check failed.
 *
 * A crash stops that target's run; with --keep-going it is recorded (stack, the sessions then
 * connected) and the processes are started again, so the run still sends its packets and
 * counts every crash (grouped by stack). Either way the exit code is 1.
 *
 * --clean-sessions-only: every valid CONNECT asks for CleanSession=1, which leaves out the
 * district broker's known unbounded growth of abandoned persistent sessions (session-growth.ts)
 * so that a long run can show what else there is.
 *
 * Session k of a seed is the same bytes in every run (whichever connection runs it), so a
 * crash is replayed with --replay k (sessions run one at a time, the broker checked after
 * each); --dump prints every packet of those sessions.
 */
import { execFileSync, spawn } from 'node:child_process';
import { connect as tcpConnect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { FrameReader, PACKET_TYPES, Rng, WAITS_FOR_CONNACK, encode, session, type FuzzPacket, type Mutation, type PacketType, type SessionPlan } from './fuzz-packets.ts';
import { memoryOf, startTarget, stopChild, type Child, type RunningTarget, type TargetKind } from './fuzz-targets.ts';
import type { ProbeSpec } from './fuzz-probe.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const probeScript = fileURLToPath(new URL('./fuzz-probe.ts', import.meta.url));

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------

function integer(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new Error(`--${name} must be an integer >= ${min}, got "${value}"`);
  return Number(value);
}

const { values } = parseArgs({
  strict: true,
  options: {
    packets: { type: 'string' },
    target: { type: 'string', default: 'both' },
    connections: { type: 'string' },
    seed: { type: 'string' },
    sources: { type: 'string' },
    'progress-s': { type: 'string' },
    replay: { type: 'string' },
    dump: { type: 'boolean', default: false },
    'keep-going': { type: 'boolean', default: false },
    'clean-sessions-only': { type: 'boolean', default: false },
  },
});
if (!['district', 'school', 'both'].includes(values.target!)) throw new Error(`--target must be district, school or both, got "${values.target}"`);
const options = {
  packets: integer('packets', values.packets, 1_000_000),
  targets: (values.target === 'both' ? ['district', 'school'] : [values.target]) as TargetKind[],
  connections: integer('connections', values.connections, 32),
  seed: integer('seed', values.seed, 1, 0),
  sources: Math.min(integer('sources', values.sources, 16), 250),
  progressMs: integer('progress-s', values['progress-s'], 5) * 1000,
  replay: values.replay?.split(',').map((k) => integer('replay', k.trim(), 0, 0)),
  dump: values.dump ?? false,
  keepGoing: values['keep-going'] ?? false,
  cleanSessionsOnly: values['clean-sessions-only'] ?? false,
};

/** A session that neither ends nor gets written to for this long is counted as stalled and closed. */
const STALL_MS = 10_000;
const CONNACK_WAIT_MS = 10_000;
/** How long a logged-in session waits for the PINGRESP to the PINGREQ behind each group of packets. */
const MARKER_WAIT_MS = 1_000;
/** After its DISCONNECT, how long a session waits for the broker to close the connection. */
const DRAIN_WAIT_MS = 5_000;
const PINGREQ = encode({ type: 'pingreq' });
const PING_INTERVAL_MS = 100;
/** After the last session: the broker gets this long to settle before RSS and the health check. */
const SETTLE_MS = 3_000;

// ---------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------

const fmt = (n: number) => n.toLocaleString('en-US');
const mb = (bytes: number | undefined) =>
  bytes === undefined || Number.isNaN(bytes) ? '?' : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const ms = (x: number | undefined) => (x === undefined ? '-' : x < 10 ? `${x.toFixed(2)} ms` : `${x.toFixed(1)} ms`);

function quantile(sorted: number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
function sizes(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, v) => sum + v, 0) / Math.max(1, sorted.length);
  return `median ${fmt(quantile(sorted, 0.5) ?? 0)}, mean ${fmt(Math.round(mean))}, max ${fmt(sorted[sorted.length - 1] ?? 0)}`;
}
function rttSummary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  return `n=${fmt(sorted.length)} median ${ms(quantile(sorted, 0.5))}, p99 ${ms(quantile(sorted, 0.99))}, max ${ms(sorted[sorted.length - 1])}`;
}

interface Stats {
  /** Packets (and their bytes) written to the broker's socket: handed to the kernel. */
  packets: number;
  bytes: number;
  /** Packets generated but not written: the broker had closed the connection first. */
  unsent: number;
  mutated: number;
  byType: Map<PacketType, number>;
  byMutation: Map<Mutation, number>;
  sessions: number;
  connections: number;
  connectErrors: number;
  openNow: number;
  connack: Map<number, number>;
  noConnack: number;
  connackTimeouts: number;
  /** The broker ended the connection before the session did. */
  closedByBroker: number;
  stalled: number;
  bytesReceived: number;
  /** What the broker sent back, by packet type. */
  replies: Map<string, number>;
  /** Packets each logged-in (CONNACK 0) session wrote, and how many of those sessions the broker ended. */
  loggedIn: number[];
  loggedInClosedByBroker: number;
  /** PINGREQs sent behind groups of packets to pace logged-in sessions (not counted in packets). */
  markers: number;
  /** Logged-in sessions whose last group was answered: everything they sent was handled. */
  drained: number;
  /** Logged-in sessions that went on unpaced after a marker was not answered within MARKER_WAIT_MS. */
  unpaced: number;
}

const newStats = (): Stats => ({
  packets: 0,
  bytes: 0,
  unsent: 0,
  mutated: 0,
  byType: new Map(),
  byMutation: new Map(),
  sessions: 0,
  connections: 0,
  connectErrors: 0,
  openNow: 0,
  connack: new Map(),
  noConnack: 0,
  connackTimeouts: 0,
  closedByBroker: 0,
  stalled: 0,
  bytesReceived: 0,
  replies: new Map(),
  loggedIn: [],
  loggedInClosedByBroker: 0,
  markers: 0,
  drained: 0,
  unpaced: 0,
});

const CONNACK_NAMES: Record<number, string> = { 0: 'accepted', 1: 'bad protocol version', 2: 'identifier rejected', 3: 'server unavailable', 4: 'bad username or password', 5: 'not authorized' };

// ---------------------------------------------------------------------------------------
// The well-behaved client
// ---------------------------------------------------------------------------------------

interface Probe {
  child: Child;
  rtts: number[];
  /** Round trips since the last call. */
  recent(): number[];
  late: number[];
  /** How long a PINGREQ had gone unanswered when the client said the broker hung (30 s). */
  hung: number | null;
  /** A PINGREQ still unanswered when the client was stopped: how long it had waited. */
  outstandingAtStop: number | null;
  lost: string | null;
  stop(): Promise<{ lost: boolean; reason: string | null }>;
}

async function startProbe(running: RunningTarget): Promise<Probe> {
  const spec: ProbeSpec = { port: running.port, intervalMs: PING_INTERVAL_MS, ...running.probe };
  const proc = spawn(process.execPath, ['--import', 'tsx', probeScript, JSON.stringify(spec)], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-16_384)));
  const child: Child = { name: 'well-behaved client', pid: proc.pid ?? -1, process: proc, stderr: () => stderr, exit: null, exited: Promise.resolve() };
  child.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(void (child.exit = { code, signal, expected: true, at: Date.now() }))));
  let recentStart = 0;
  let stopped: ((v: { lost: boolean; reason: string | null }) => void) | undefined;
  const probe: Probe = {
    child,
    rtts: [],
    late: [],
    hung: null,
    outstandingAtStop: null,
    lost: null,
    recent() {
      const out = probe.rtts.slice(recentStart);
      recentStart = probe.rtts.length;
      return out;
    },
    stop() {
      return (stopping ??= stopOnce());
    },
  };
  let stopping: Promise<{ lost: boolean; reason: string | null }> | undefined;
  const stopOnce = async () => {
    const result = new Promise<{ lost: boolean; reason: string | null }>((resolve) => (stopped = resolve));
    if (proc.connected) proc.send({ type: 'stop' });
    else stopped?.({ lost: true, reason: probe.lost ?? 'the well-behaved client process is gone' });
    const timer = setTimeout(() => stopped?.({ lost: true, reason: 'the well-behaved client did not answer stop' }), 10_000);
    const outcome = await result;
    clearTimeout(timer);
    await stopChild(child).catch(() => {});
    await child.exited;
    return outcome;
  };
  const connected = new Promise<void>((resolve, reject) => {
    proc.on('message', (message: { type?: string; ms?: number[] | number; reason?: string; lost?: boolean; outstandingMs?: number }) => {
      if (message.type === 'ready') resolve();
      else if (message.type === 'rtts' && Array.isArray(message.ms)) probe.rtts.push(...message.ms);
      else if (message.type === 'late' && typeof message.ms === 'number') probe.late.push(message.ms);
      else if (message.type === 'hung' && typeof message.ms === 'number') probe.hung ??= message.ms;
      else if (message.type === 'lost') {
        probe.lost = message.reason ?? 'lost';
        reject(new Error(`well-behaved client: ${probe.lost}`));
      } else if (message.type === 'stopped') {
        if (typeof message.outstandingMs === 'number') probe.outstandingAtStop = message.outstandingMs;
        stopped?.({ lost: message.lost === true || probe.lost !== null, reason: message.reason ?? probe.lost });
      }
    });
    proc.once('exit', () => reject(new Error(`well-behaved client exited before it was connected: ${stderr}`)));
  });
  await connected.catch(async (error: unknown) => {
    await stopChild(child);
    throw error;
  });
  return probe;
}

// ---------------------------------------------------------------------------------------
// One fuzz session over one connection
// ---------------------------------------------------------------------------------------

interface Budget {
  /** Packets reserved for writing so far (written, or being written). */
  queued: number;
  limit: number;
}

const sleep = (msec: number) => new Promise<void>((resolve) => setTimeout(resolve, msec));

/** The promise's value, or 'timeout' after `msec` (the timer is cleared either way). */
async function within<T>(promise: Promise<T>, msec: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), msec)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** How a session's packets are cut into writes: deterministic per session, separate from its packets. */
function writesOf(plan: SessionPlan, seed: number, packets: FuzzPacket[]): Buffer[] {
  const rng = new Rng(seed ^ 0x2545f491, plan.index + 1);
  const joined = Buffer.concat(packets.map((p) => p.bytes));
  if (plan.chunking === 'packet') return packets.map((p) => p.bytes);
  if (plan.chunking === 'batch') return [joined];
  const pieces: Buffer[] = [];
  for (let at = 0; at < joined.length; ) {
    const size = rng.logRange(1, 256);
    pieces.push(joined.subarray(at, at + size));
    at += size;
  }
  return pieces;
}

interface SessionOptions {
  port: number;
  localAddress: string;
  seed: number;
  target: RunningTarget;
  stats: Stats;
  budget: Budget;
  /** Sessions by index: null while their connection is open, then when it closed (for crash reports). */
  live?: Map<number, number | null>;
  aborted: () => boolean;
  dump?: boolean;
}

async function runSession(index: number, o: SessionOptions): Promise<void> {
  const { plan, packets } = session(o.seed, index, o.target.target);
  const { stats } = o;
  stats.sessions++;
  const socket: Socket = tcpConnect({ port: o.port, host: '127.0.0.1', localAddress: o.localAddress });
  // The broker ended it (FIN, or a reset our write ran into) before we did.
  let endedByBroker = false;
  let endedByUs = false;
  socket.on('error', (error) => {
    endedByBroker ||= !endedByUs;
    if (o.dump) console.log(`    (socket error: ${error.message})`);
  });
  socket.on('end', () => {
    endedByBroker ||= !endedByUs;
    if (o.dump) console.log(`    (the ${endedByUs ? 'broker closed its side too' : 'broker closed the connection'})`);
  });
  const connected = await new Promise<boolean>((resolve) => {
    socket.once('connect', () => resolve(true));
    socket.once('close', () => resolve(false));
  });
  if (!connected) {
    stats.connectErrors++;
    return;
  }
  stats.connections++;
  stats.openNow++;
  o.live?.set(index, null);
  let closed = false;
  let connack: number | null = null;
  let written = 0;
  let connackSeen: () => void = () => {};
  const connackPromise = new Promise<void>((resolve) => (connackSeen = resolve));
  const closedPromise = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      stats.openNow--;
      o.live?.set(index, Date.now());
      if (endedByBroker) stats.closedByBroker++;
      if (connack === 0) {
        stats.loggedIn.push(written);
        if (endedByBroker) stats.loggedInClosedByBroker++;
      }
      resolve();
    }),
  );
  const replies = new FrameReader();
  /** Packet ids of the QoS 2 flows the broker answered with PUBREC. */
  const pubrecs = new Set<number>();
  let pingresps = 0;
  let pingrespSeen: () => void = () => {};
  socket.on('data', (chunk: Buffer) => {
    stats.bytesReceived += chunk.length;
    for (const frame of replies.push(chunk)) {
      const type = PACKET_TYPES[(frame.first >> 4) - 1] ?? `type ${frame.first >> 4}`;
      stats.replies.set(type, (stats.replies.get(type) ?? 0) + 1);
      if (o.dump) console.log(`    <- ${type} ${frame.body.subarray(0, 48).toString('hex')}`);
      if (type === 'connack' && connack === null && frame.body.length === 2) {
        connack = frame.body[1]!;
        stats.connack.set(connack, (stats.connack.get(connack) ?? 0) + 1);
        connackSeen();
      } else if (type === 'pingresp') {
        pingresps++;
        pingrespSeen();
      } else if (type === 'pubrec' && frame.body.length >= 2) pubrecs.add(frame.body.readUInt16BE(0));
    }
  });

  /** Write these packets; true when the kernel took them, false when the connection is gone. */
  const write = async (group: FuzzPacket[]): Promise<boolean> => {
    if (closed || socket.destroyed) return false;
    // Reserve before writing, so concurrent sessions stop at the budget together.
    o.budget.queued += group.length;
    const writes = writesOf(plan, o.seed, group).filter((b) => b.length > 0);
    let ok = true;
    for (const [i, bytes] of writes.entries()) {
      const done = new Promise<boolean>((resolve) => {
        if (closed || socket.destroyed) return resolve(false);
        socket.write(bytes, (error) => resolve(!error));
      });
      const outcome = await within(Promise.race([done, closedPromise.then(() => false)]), STALL_MS);
      if (outcome === 'timeout') {
        stats.stalled++;
        ok = false;
        break;
      }
      if (!outcome) {
        ok = false;
        break;
      }
      // Split writes go out as separate segments: give the socket a turn between pieces.
      if (plan.chunking === 'split' && i % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
    }
    if (ok) {
      written += group.length;
      stats.packets += group.length;
      for (const p of group) {
        stats.bytes += p.bytes.length;
        stats.byType.set(p.type, (stats.byType.get(p.type) ?? 0) + 1);
        if (p.mutation) {
          stats.mutated++;
          stats.byMutation.set(p.mutation, (stats.byMutation.get(p.mutation) ?? 0) + 1);
        }
      }
    } else {
      o.budget.queued -= group.length;
      stats.unsent += group.length;
    }
    return ok;
  };

  try {
    const iterator = packets[Symbol.iterator]();
    const opening = iterator.next();
    if (opening.done) return;
    if (o.dump) console.log(`  session ${index} ${JSON.stringify(plan)}`);
    const show = (p: FuzzPacket) => o.dump && console.log(`    ${p.type}${p.mutation ? ` [${p.mutation}]` : ''} ${p.bytes.length} B ${p.bytes.subarray(0, 96).toString('hex')}${p.bytes.length > 96 ? '…' : ''}`);
    show(opening.value);
    if (!(await write([opening.value]))) return;
    if (WAITS_FOR_CONNACK.has(plan.opening)) {
      const waited = await within(Promise.race([connackPromise.then(() => true), closedPromise.then(() => connack !== null)]), CONNACK_WAIT_MS);
      if (waited === 'timeout') stats.connackTimeouts++;
      else if (!waited) stats.noConnack++;
      if (waited !== true) return;
    }
    const rng = new Rng(o.seed ^ 0x6a09e667, index + 1);
    // Once logged in, each group of packets is followed by a PINGREQ, and the next group waits
    // for its PINGRESP: the broker answers it once it has read and dispatched everything before
    // it (aedes handles the packets of one read together, and reads on when all are done).
    // Without this pacing a fast fuzzer's packets pile up in the socket and die unread with
    // the connection when one of them gets it closed. A marker not answered within
    // MARKER_WAIT_MS (a mutation left the broker waiting for the rest of a packet) ends the
    // pacing for the session: the rest is sent as it comes.
    let paced = true;
    // QoS 2 flows this client completes, as a client does: PUBREL once the PUBREC is in (a
    // PUBREL sent before it can overtake the PUBLISH in the broker and leave the flow open;
    // brokers cut off a client with too many open). One in ten is left open on purpose.
    let owed: number[] = [];
    let pending = iterator.next();
    for (;;) {
      if (o.aborted() || o.budget.queued >= o.budget.limit) break;
      const group: FuzzPacket[] = [];
      const due = owed.filter((id) => pubrecs.has(id));
      owed = owed.filter((id) => !pubrecs.has(id));
      for (const id of due) {
        pubrecs.delete(id);
        if (o.budget.queued + group.length < o.budget.limit) group.push({ type: 'pubrel', mutation: null, bytes: encode({ type: 'pubrel', packetId: id }) });
      }
      const size = group.length + (plan.chunking === 'packet' ? 1 : rng.logRange(1, 64));
      while (group.length < size && !pending.done && o.budget.queued + group.length < o.budget.limit) {
        show(pending.value);
        group.push(pending.value);
        pending = iterator.next();
      }
      if (group.length === 0) break;
      if (!(await write(group))) return;
      for (const p of group) if (p.qos2Id !== undefined && paced && rng.chance(0.9)) owed.push(p.qos2Id);
      const last = pending.done === true;
      // After the DISCONNECT the broker closes the connection; an abrupt leaver does not wait.
      if (last && plan.ending !== 'end' && plan.ending !== 'linger') break;
      if (connack !== 0 || !paced || closed) continue;
      const before = pingresps;
      const answered = new Promise<boolean>((resolve) => (pingrespSeen = () => pingresps > before && resolve(true)));
      socket.write(PINGREQ);
      stats.markers++;
      const outcome = await within(Promise.race([answered, closedPromise.then(() => false)]), MARKER_WAIT_MS);
      if (outcome === 'timeout') {
        paced = false;
        stats.unpaced++;
      } else if (!outcome) return;
      else if (last) stats.drained++;
    }
  } finally {
    if (!closed) {
      endedByUs = true;
      if (plan.ending === 'destroy') socket.destroy();
      else {
        if (plan.ending === 'linger') await sleep(new Rng(o.seed, index + 1).int(300));
        socket.end();
        // After a DISCONNECT the broker closes the connection when it reaches it; otherwise a
        // broker that keeps a half-closed connection open is not waited for long.
        await within(closedPromise, plan.ending === 'disconnect' ? DRAIN_WAIT_MS : 2_000);
        if (!closed) socket.destroy();
      }
    }
    await closedPromise;
  }
}

// ---------------------------------------------------------------------------------------
// A run against one target
// ---------------------------------------------------------------------------------------

interface TargetResult {
  kind: TargetKind;
  ok: boolean;
  lines: string[];
}

function crashText(child: Child): string {
  const stderr = child.stderr().trim();
  return `${child.name} (pid ${child.pid}) exited with ${child.exit?.code ?? child.exit?.signal}${stderr ? `:\n${stderr.split('\n').slice(-60).join('\n')}` : ' (nothing on stderr)'}`;
}

interface Instance {
  running: RunningTarget;
  probe: Probe;
  before: { rss: number; peak: number } | null;
  /** A process of it exited without being asked to. */
  crashed: boolean;
}

interface CrashRecord {
  atS: number;
  text: string;
  /** Sessions connected when the exit was seen, or closed in the 2 s before. */
  sessions: number[];
}

/** The first lines of a crash's stderr that say where it happened (for grouping crashes alike). */
const crashSignature = (text: string) =>
  text
    .split('\n')
    .filter((line) => /^\s+at |Error/.test(line))
    .slice(0, 4)
    .join('\n');

async function fuzzTarget(kind: TargetKind): Promise<TargetResult> {
  console.log(`\n== ${kind} broker: starting`);
  const stats = newStats();
  const budget: Budget = { queued: 0, limit: options.packets };
  const lines: string[] = [];
  const crashes: CrashRecord[] = [];
  /** Round trips of the well-behaved clients of instances already stopped. */
  const rttsDone: number[] = [];
  let lateDone = 0;
  let progress: NodeJS.Timeout | undefined;
  let watch: NodeJS.Timeout | undefined;
  let aborted = false;
  let lostConnection: string | null = null;
  // Set from the watch timer (an object, so TypeScript does not narrow it to its initial null).
  const found: { hang: { atS: number; rss: number | undefined; sessions: number[] } | null } = { hang: null };
  let nextSession = 0;
  const live = new Map<number, number | null>();
  /** Sessions connected when a process died, or closed in the 2 s before (a crash takes a moment to be seen). */
  const suspects = () => {
    const since = Date.now() - 2_000;
    for (const [index, closedAt] of live) if (closedAt !== null && closedAt < since - 10_000) live.delete(index);
    return [...live].filter(([, closedAt]) => closedAt === null || closedAt >= since).map(([index]) => index).sort((a, b) => a - b);
  };
  let started = Date.now();
  let peak = 0;
  const sigint = () => {
    console.log('\ninterrupted: stopping');
    aborted = true;
    interrupted = true;
  };
  process.once('SIGINT', sigint);

  const startInstance = async (): Promise<Instance> => {
    const running = await startTarget(kind);
    if (options.cleanSessionsOnly) running.target.cleanSessionsOnly = true;
    console.log(`   ${running.children.map((c) => `${c.name} pid ${c.pid}`).join(', ')}; fuzzing port ${running.port}`);
    let probe: Probe;
    try {
      probe = await startProbe(running);
    } catch (error) {
      await running.stop();
      throw error;
    }
    const instance: Instance = { running, probe, before: memoryOf(running.fuzzed.pid), crashed: false };
    peak = Math.max(peak, instance.before?.peak ?? 0);
    for (const child of running.children)
      void child.exited.then(() => {
        if (child.exit?.expected) return;
        instance.crashed = true;
        const record: CrashRecord = { atS: (Date.now() - started) / 1000, text: crashText(child), sessions: suspects() };
        crashes.push(record);
        console.log(`[${kind}] CRASH at ${record.atS.toFixed(1)} s: ${record.text.split('\n').slice(0, 12).join('\n')}\n  sessions connected then or just before: ${record.sessions.join(',')}`);
        if (!options.keepGoing) aborted = true;
        else restart(instance);
      });
    return instance;
  };

  /** Stop an instance: its well-behaved client (keeping its round trips), then its processes. */
  const stopInstance = async (instance: Instance, pingsDuringFuzz = instance.probe.rtts.length) => {
    const outcome = await instance.probe.stop();
    rttsDone.push(...instance.probe.rtts.slice(0, pingsDuringFuzz));
    lateDone += instance.probe.late.length;
    await instance.running.stop();
    return outcome;
  };

  let current: Instance | undefined;
  let restarting: Promise<void> | null = null;
  /** --keep-going: a crashed instance is replaced and the fuzz goes on; sessions wait meanwhile. */
  const restart = (instance: Instance) => {
    if (restarting || aborted || instance !== current) return;
    restarting = (async () => {
      await sleep(200); // let the sessions of the dead instance fail
      await stopInstance(instance);
      if (aborted) return;
      console.log(`[${kind}] restarting after the crash (--keep-going)`);
      current = await startInstance();
    })()
      .catch((error: unknown) => {
        console.log(`[${kind}] could not restart: ${(error as Error).message}`);
        aborted = true;
      })
      .finally(() => (restarting = null));
  };

  try {
    current = await startInstance();
    const first = current;
    started = Date.now();
    let lastProgress = { at: started, packets: 0 };
    progress = setInterval(() => {
      const now = Date.now();
      const instance = current!;
      const recent = instance.probe.recent();
      const mem = memoryOf(instance.running.fuzzed.pid);
      peak = Math.max(peak, mem?.peak ?? 0);
      const rate = ((stats.packets - lastProgress.packets) * 1000) / (now - lastProgress.at);
      lastProgress = { at: now, packets: stats.packets };
      console.log(
        `[${kind} ${((now - started) / 1000).toFixed(0)}s] sent ${fmt(stats.packets)} pkts (${fmt(Math.round(rate))}/s) ${mb(stats.bytes)}, ` +
          `conns ${fmt(stats.connections)} (${stats.openNow} open), CONNACK 0: ${fmt(stats.connack.get(0) ?? 0)}, closed by broker ${fmt(stats.closedByBroker)}, ` +
          `rss ${mb(mem?.rss)}; ping last ${options.progressMs / 1000}s ${rttSummary(recent)}${instance.probe.late.length ? `, LATE ${instance.probe.late.length}` : ''}` +
          `${crashes.length ? `; CRASHES ${crashes.length}` : ''}`,
      );
    }, options.progressMs);

    const sources = Array.from({ length: options.sources }, (_, i) => `127.0.0.${i + 2}`);
    const sessionOptions = (worker: number, instance: Instance): SessionOptions => ({
      port: instance.running.port,
      localAddress: sources[worker % sources.length]!,
      seed: options.seed,
      target: instance.running,
      stats,
      budget,
      live,
      aborted: () => aborted,
    });
    // The well-behaved client cut off while its broker lives is a failure of the run; cut off
    // because the broker died, it is part of that crash. No packet written for a minute: the
    // broker takes connections and no data, or none at all.
    const NO_PROGRESS_MS = 60_000;
    let lastMove = { at: Date.now(), packets: 0 };
    let noProgress = false;
    let lostSeenAt: number | null = null;
    watch = setInterval(() => {
      const instance = current!;
      // The well-behaved client waited 30 s for a PINGRESP from a live broker: a hang.
      if (instance.probe.hung !== null && !instance.crashed && !found.hang && !restarting) {
        const hang = (found.hang = { atS: (Date.now() - started) / 1000, rss: memoryOf(instance.running.fuzzed.pid)?.rss, sessions: suspects() });
        console.log(`[${kind}] HANG at ${hang.atS.toFixed(1)} s: no PINGRESP for ${(instance.probe.hung / 1000).toFixed(0)} s, broker RSS ${mb(hang.rss)}`);
        aborted = true;
      }
      if (instance.probe.lost && !instance.crashed && !restarting) {
        lostSeenAt ??= Date.now();
        if (Date.now() - lostSeenAt > 1_000 && !instance.crashed) {
          lostConnection = instance.probe.lost;
          aborted = true;
        }
      } else lostSeenAt = null;
      if (stats.packets !== lastMove.packets || restarting) lastMove = { at: Date.now(), packets: stats.packets };
      else if (!options.replay && Date.now() - lastMove.at > NO_PROGRESS_MS && !aborted) {
        noProgress = true;
        aborted = true;
      }
    }, 100);

    if (options.replay) {
      for (const index of options.replay) {
        console.log(`replaying session ${index}`);
        await runSession(index, { ...sessionOptions(0, current), budget: { queued: 0, limit: Number.MAX_SAFE_INTEGER }, dump: options.dump });
        await sleep(500);
        console.log(`  after session ${index}: ${current.crashed ? 'CRASHED (above)' : 'broker alive'}`);
        if (current.crashed) break;
      }
    } else {
      const worker = async (w: number) => {
        while (!aborted && budget.queued < budget.limit) {
          if (restarting) {
            await restarting;
            continue;
          }
          const index = nextSession++;
          await runSession(index, sessionOptions(w, current!));
        }
      };
      // Sessions whose writes failed give their packets back: go on until the budget is really sent.
      while (!aborted && stats.packets < options.packets) {
        // A worker that fails (a bug of this script) stops the others before the error is reported.
        const outcomes = await Promise.allSettled(
          Array.from({ length: options.connections }, (_, w) =>
            worker(w).catch((error: unknown) => {
              aborted = true;
              throw error;
            }),
          ),
        );
        const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
        if (failure) throw failure.reason;
      }
    }
    while (restarting) await restarting;
    const fuzzMs = Date.now() - started;
    clearInterval(progress);
    const last = current;
    // Round trips timed while the fuzz ran (reported a second at a time), not during the settle.
    const pingsDuringFuzz = last.probe.rtts.length;

    // Settle, with the well-behaved client still pinging.
    if (!last.crashed) await sleep(SETTLE_MS);
    clearInterval(watch);
    const probeOutcome = await last.probe.stop();
    let health = 'not run (the broker process is gone)';
    let healthy = false;
    if (!last.crashed) {
      try {
        health = `ok: ${await last.running.healthCheck()}`;
        healthy = true;
      } catch (error) {
        health = `FAILED: ${(error as Error).message}`;
      }
    }
    const after = last.crashed ? null : memoryOf(last.running.fuzzed.pid);
    const extra = last.running.extra();
    await stopInstance(last, pingsDuringFuzz);
    current = undefined;
    const rtts = rttsDone;
    const rate = (stats.packets * 1000) / fuzzMs;
    if (!probeOutcome.lost || last.crashed) lostConnection ??= null;
    else lostConnection ??= probeOutcome.reason ?? 'lost';

    const connacks = [...stats.connack.entries()].sort(([a], [b]) => a - b).map(([code, n]) => `${code} ${CONNACK_NAMES[code] ?? '?'}: ${fmt(n)}`);
    const top = <K>(m: Map<K, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${String(k)} ${fmt(n)}`).join(', ');
    const bySignature = new Map<string, CrashRecord[]>();
    for (const crash of crashes) bySignature.set(crashSignature(crash.text), [...(bySignature.get(crashSignature(crash.text)) ?? []), crash]);
    const crashLines = [...bySignature.values()].flatMap((group) => [
      `  ${group.length} x ${group[0]!.text}`,
      `    at ${group.map((c) => `${c.atS.toFixed(1)} s`).join(', ')}; sessions connected then or just before (first crash): ${group[0]!.sessions.join(',')}`,
      `    replay one at a time: node --import tsx broker/bench/fuzz.ts --target ${kind} --seed ${options.seed} --replay ${group[0]!.sessions.join(',')}`,
    ]);
    lines.push(
      `${kind} broker (${first.running.fuzzed.name}), seed ${options.seed}:`,
      `  packets sent: ${fmt(stats.packets)} (${fmt(stats.packets - stats.mutated)} valid, ${fmt(stats.mutated)} mutated), ${mb(stats.bytes)}, in ${(fuzzMs / 1000).toFixed(1)} s = ${fmt(Math.round(rate))} packets/s`,
      `  by type: ${top(stats.byType)}`,
      `  by mutation: ${top(stats.byMutation)}`,
      `  connections opened: ${fmt(stats.connections)} (${options.connections} at a time, from ${options.sources} addresses; ${fmt(stats.sessions)} sessions, ${fmt(stats.connectErrors)} connects refused)`,
      `  broker answers: CONNACK ${connacks.join(', ') || 'none'}; closed by the broker first: ${fmt(stats.closedByBroker)}; ` +
        `sessions that waited for a CONNACK and got none: ${fmt(stats.noConnack)} closed, ${fmt(stats.connackTimeouts)} timed out (${CONNACK_WAIT_MS / 1000} s); ` +
        `stalled writes (${STALL_MS / 1000} s): ${fmt(stats.stalled)}`,
      `  logged-in sessions (CONNACK 0): ${fmt(stats.loggedIn.length)}, packets each ${sizes(stats.loggedIn)}; ended by the broker: ${fmt(stats.loggedInClosedByBroker)}`,
      `  replies: ${mb(stats.bytesReceived)}: ${top(stats.replies)}`,
      `  pacing of logged-in sessions: ${fmt(stats.markers)} PINGREQs behind groups of packets (not counted above); ` +
        `${fmt(stats.drained)} sessions had their last group answered (all they sent was handled); ` +
        `${fmt(stats.unpaced)} went on unpaced after a PINGREQ got no answer within ${MARKER_WAIT_MS / 1000} s (a packet left incomplete)`,
      `  packets not written (connection already closed by the broker): ${fmt(stats.unsent)}`,
      `  crashes: ${crashes.length}${crashes.length && options.keepGoing ? ' (each time the processes were started again: --keep-going)' : ''}`,
      ...crashLines,
      `  broker RSS: before ${mb(first.before?.rss)}, after ${mb(after?.rss)} (${SETTLE_MS / 1000} s after the last session), peak ${mb(Math.max(peak, after?.peak ?? 0))}` +
        `${after ? '' : ' (sampled until it died)'}${crashes.length ? ' (before: the first process; after: the last)' : ''}`,
      `  well-behaved client (PINGREQ→PINGRESP every ${PING_INTERVAL_MS} ms, own process, from 127.0.0.1) while the fuzz ran: ${rttSummary(rtts)}; ` +
        `over 5 s late: ${lateDone}; connection ${lostConnection ? `LOST (${lostConnection})` : crashes.length ? 'lost only when its broker crashed' : 'kept to the end'}`,
      ...(noProgress ? [`  NO PROGRESS: not one packet could be written for ${NO_PROGRESS_MS / 1000} s; the run was stopped`] : []),
      ...(found.hang
        ? [
            `  HANG at ${found.hang.atS.toFixed(1)} s: the broker answered no PINGREQ for 30 s (longest wait ${((last.probe.outstandingAtStop ?? 30_000) / 1000).toFixed(1)} s when the client was stopped), RSS then ${mb(found.hang.rss)}; the run was stopped`,
            `    sessions connected then or just before: ${found.hang.sessions.join(',')}`,
          ]
        : []),
      `  health check after the run: ${health}`,
      ...(extra ? [`  ${extra}`] : []),
    );
    const ok = crashes.length === 0 && !lostConnection && healthy && !interrupted && !noProgress && !found.hang;
    return { kind, ok, lines };
  } finally {
    aborted = true;
    clearInterval(progress);
    clearInterval(watch);
    process.off('SIGINT', sigint);
    while (restarting) await restarting;
    if (current) await stopInstance(current).catch(() => {});
  }
}

let interrupted = false;

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

function gitState(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'broker/src', 'edge-agent/src', 'device-profiles/src'], { cwd: repoRoot, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean).length;
    return `commit ${head}${dirty ? ` + ${dirty} uncommitted file(s) in broker/src, edge-agent/src, device-profiles/src` : ''}`;
  } catch {
    return 'commit unknown';
  }
}

console.log(
  `fuzz: ${fmt(options.packets)} packets per broker, targets ${options.targets.join(', ')}, ${options.connections} connections, ` +
    `${options.cleanSessionsOnly ? 'clean sessions only, ' : ''}` +
    `${options.sources} source addresses, seed ${options.seed}; node ${process.version}; ${gitState()}; ${new Date().toISOString()}`,
);
const results: TargetResult[] = [];
for (const kind of options.targets) {
  try {
    results.push(await fuzzTarget(kind));
  } catch (error) {
    results.push({ kind, ok: false, lines: [`${kind} broker: the run failed: ${(error as Error).stack ?? String(error)}`] });
  }
  if (interrupted) break;
}
console.log('\n== summary');
for (const result of results) console.log(result.lines.join('\n'));
const failed = results.filter((r) => !r.ok).map((r) => r.kind);
console.log(failed.length ? `FAILED: ${failed.join(', ')}` : 'OK: no crash, the well-behaved client kept its connection, the health checks passed');
process.exitCode = failed.length ? 1 : 0;
