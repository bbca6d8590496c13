/**
 * The abusive-client load of issue 3 item 6 (DESIGN.md section 8), as a library shared by
 * the reproducer script (abuse-repro.ts) and the regression test
 * (test/abuse.test.ts):
 *
 *  - the broker runs in a CHILD process, so that a crash is observed as the process
 *    dying (exit code, signal, the stack on its stderr), exactly as it would in
 *    production;
 *  - one subscriber process subscribes to everything the publishers send;
 *  - four publisher processes each keep 100 publishes of 200 bytes in flight on a topic
 *    of their own, for 5 s (and on until a minimum load was carried, when one is asked
 *    for), then every client calls process.exit() (no DISCONNECT, publishes in flight);
 *  - the broker gets 1.5 s to work off what they left behind (the crash came here);
 *  - the same again at QoS 1;
 *  - then: is the broker process still alive, and does it still serve a fresh client?
 *
 * Two brokers can be targeted: 'aedes', a plain aedes (bench/plain-aedes.ts; topics
 * bench/<n>, subscriber on bench/#), to reproduce the aedes bug itself; and 'district',
 * our district broker (src/cli.ts) with real gateway credentials, each gateway publishing
 * on its school's uplink telemetry topic and the cloud subscribed to all uplink.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { districtTopics } from '@schoolops/device-profiles';
import { hashPassword, type CredentialsFile } from '../src/index.ts';
import type { ClientSpec } from './abuse-client.ts';

export type BrokerKind = 'aedes' | 'district';

export interface AbuseOptions {
  broker: BrokerKind;
  /** Publisher processes. Default 4. */
  publishers?: number;
  /** Publishes each publisher keeps in flight. Default 100. */
  inflight?: number;
  /** Payload bytes per publish. Default 200. */
  payloadBytes?: number;
  /** How long each phase publishes before the clients exit. Default 5000. */
  phaseMs?: number;
  /** The phases, in order. Default [0, 1]. */
  qos?: readonly (0 | 1)[];
  /** After each phase, how long the broker gets to work off its backlog. Default 1500. */
  settleMs?: number;
  /**
   * A phase goes on after phaseMs until the publishers together completed at least this many
   * publishes and the subscriber received at least minReceived (default 0 each): on a slow
   * machine a phase takes longer instead of carrying less.
   */
  minPublished?: number;
  minReceived?: number;
  /**
   * A safety net, not a measure: how long the broker may take to start, a client to connect,
   * a phase to reach its minimum load, and the check with a fresh client, before the run gives
   * up on it. Default 30 s.
   */
  deadlineMs?: number;
}

export interface PhaseResult {
  qos: 0 | 1;
  /** Publishes the publishers completed (QoS 0: written; QoS 1: acknowledged). */
  published: number;
  /** Messages the subscriber received. */
  received: number;
}

export interface RunResult {
  /** The broker process is still running and served a fresh client after the load. */
  survived: boolean;
  alive: boolean;
  served: boolean;
  phases: PhaseResult[];
  /** When the broker process died: when, how, and the first lines of its stderr. */
  crash?: { during: string; code: number | null; signal: NodeJS.Signals | null; error: string };
  ms: number;
}

const benchDir = fileURLToPath(new URL('./', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const cliPath = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

/** Frames kept in the broker's crash stack, enough to show the recursion. */
const STACK_TRACE_LIMIT = 40;
const STDERR_KEEP = 16 * 1024;

interface Principal {
  username?: string;
  password?: string;
}

/** Everything a run needs to know about the broker under test. */
interface Target {
  kind: BrokerKind;
  publisherTopic(index: number): string;
  publisher(index: number): Principal;
  subscriberTopic: string;
  subscriber: Principal;
  /** Starts the broker child process. */
  args: string[];
  cleanup(): Promise<void>;
}

const schoolOf = (index: number) => `bench-school-${index + 1}`;

async function makeTarget(kind: BrokerKind, publishers: number): Promise<Target> {
  if (kind === 'aedes') {
    return {
      kind,
      publisherTopic: (index) => `bench/${index + 1}`,
      publisher: () => ({}),
      subscriberTopic: 'bench/#',
      subscriber: {},
      args: [join(benchDir, 'plain-aedes.ts')],
      cleanup: async () => {},
    };
  }
  // One real gateway per publisher and the cloud, with fresh random passwords.
  const password = () => randomBytes(12).toString('base64url');
  const gateways = Array.from({ length: publishers }, (_, index) => ({
    username: `gw-${schoolOf(index)}`,
    password: password(),
    schoolId: schoolOf(index),
  }));
  const cloud = { username: 'cloud', password: password() };
  const credentials: CredentialsFile = {
    v: 1,
    clients: [
      ...(await Promise.all(
        gateways.map(async (gw) => ({
          username: gw.username,
          role: 'gateway' as const,
          schoolId: gw.schoolId,
          passwordHash: await hashPassword(gw.password),
        })),
      )),
      { username: cloud.username, role: 'cloud' as const, passwordHash: await hashPassword(cloud.password) },
    ],
  };
  const dir = await mkdtemp(join(tmpdir(), 'schoolops-abuse-'));
  const file = join(dir, 'credentials.json');
  await writeFile(file, JSON.stringify(credentials));
  return {
    kind,
    publisherTopic: (index) => districtTopics.telemetry(schoolOf(index)),
    publisher: (index) => ({ username: gateways[index]!.username, password: gateways[index]!.password }),
    subscriberTopic: districtTopics.allUplink,
    subscriber: cloud,
    args: [cliPath, '--port', '0', '--credentials', file],
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

interface BrokerChild {
  child: ChildProcess;
  port: number;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isAlive(): boolean;
}

function startBroker(target: Target, deadlineMs: number): Promise<BrokerChild> {
  const child = spawn(process.execPath, [`--stack-trace-limit=${STACK_TRACE_LIMIT}`, '--import', 'tsx', ...target.args], {
    cwd: repoRoot,
    // The district broker logs every connect to stdout; only stderr tells of a crash.
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    if (stderr.length < STDERR_KEEP) stderr += chunk.toString();
  });
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve((exitInfo = { code, signal }))),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`broker child sent no ready message within ${deadlineMs} ms`)), deadlineMs);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`broker child exited (${code ?? signal}) before ready: ${stderr}`));
    });
    child.on('message', (message: { type?: string; port?: number }) => {
      if (message.type === 'ready' && typeof message.port === 'number') {
        clearTimeout(timer);
        resolve({ child, port: message.port, stderr: () => stderr, exited, isAlive: () => exitInfo === undefined });
      }
    });
  });
}

interface ClientChild {
  child: ChildProcess;
  ready: Promise<void>;
  /** The count it last reported (publishes completed, or messages received). */
  latest(): number;
  /** Ask it to report its count and exit at once; resolves with the count (0 if it died). */
  stop(): Promise<number>;
}

function startClient(spec: ClientSpec): ClientChild {
  const child = spawn(process.execPath, ['--import', 'tsx', join(benchDir, 'abuse-client.ts'), JSON.stringify(spec)], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    if (stderr.length < STDERR_KEEP) stderr += chunk.toString();
  });
  let count = 0;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    void exited.then(() => reject(new Error(`${spec.role} ${spec.clientId} exited before ready: ${stderr.trim()}`)));
    child.on('message', (message: { type?: string; count?: number }) => {
      if (message.type === 'ready') resolve();
      if (message.type === 'count' && typeof message.count === 'number') count = message.count;
    });
  });
  ready.catch(() => {}); // observed by whoever awaits it
  return {
    child,
    ready,
    latest: () => count,
    async stop() {
      if (child.connected) child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      return count;
    },
  };
}

/** Resolves when the broker dies, never otherwise. */
const deathOf = (broker: BrokerChild) => broker.exited.then(() => 'died' as const);
const sleep = (ms: number) => new Promise<'slept'>((resolve) => setTimeout(() => resolve('slept'), ms));

/** What the run is doing now; recorded when the broker dies. */
interface Stage {
  now: string;
}

async function runPhase(
  target: Target,
  broker: BrokerChild,
  qos: 0 | 1,
  opts: Required<Omit<AbuseOptions, 'broker' | 'qos' | 'settleMs'>>,
  stage: Stage,
): Promise<PhaseResult> {
  stage.now = `QoS ${qos}: clients connecting`;
  const tag = randomBytes(3).toString('hex');
  let counts: number[] = [];
  const subscriber = startClient({
    role: 'subscriber',
    port: broker.port,
    topic: target.subscriberTopic,
    qos,
    clientId: `abuse-sub-${tag}`,
    connectTimeoutMs: opts.deadlineMs,
    ...target.subscriber,
  });
  const publishers: ClientChild[] = [];
  try {
    await Promise.race([subscriber.ready, broker.exited]);
    for (let index = 0; index < opts.publishers; index++) {
      publishers.push(
        startClient({
          role: 'publisher',
          port: broker.port,
          topic: target.publisherTopic(index),
          qos,
          clientId: `abuse-pub-${index + 1}-${tag}`,
          inflight: opts.inflight,
          payloadBytes: opts.payloadBytes,
          connectTimeoutMs: opts.deadlineMs,
          ...target.publisher(index),
        }),
      );
    }
    await Promise.race([Promise.all(publishers.map((p) => p.ready)), broker.exited]);
    stage.now = `QoS ${qos}: publishing`;
    await Promise.race([sleep(opts.phaseMs), deathOf(broker)]);
    // Then on until the minimum load was carried (the deadline only ends a phase that never gets there).
    const carried = () =>
      publishers.reduce((sum, p) => sum + p.latest(), 0) >= opts.minPublished && subscriber.latest() >= opts.minReceived;
    const giveUpAt = Date.now() + opts.deadlineMs;
    while (broker.isAlive() && !carried() && Date.now() < giveUpAt) await sleep(50);
  } finally {
    // Everyone exits at once, abruptly (process.exit in each client). Also on failure:
    // no client process outlives the phase.
    counts = await Promise.all([subscriber, ...publishers].map((client) => client.stop()));
    stage.now = `QoS ${qos}: after its clients exited`;
  }
  const [received = 0, ...sent] = counts;
  return { qos, published: sent.reduce((sum, n) => sum + n, 0), received };
}

/** Does the broker still route a message from a fresh publisher to a fresh subscriber? */
async function serves(target: Target, port: number, timeoutMs: number): Promise<boolean> {
  const options = { protocolVersion: 4 as const, reconnectPeriod: 0, connectTimeout: timeoutMs };
  const url = `mqtt://127.0.0.1:${port}`;
  const tag = randomBytes(3).toString('hex');
  const sub = mqtt.connect(url, { ...options, clientId: `check-sub-${tag}`, ...target.subscriber });
  const pub = mqtt.connect(url, { ...options, clientId: `check-pub-${tag}`, ...target.publisher(0) });
  sub.on('error', () => {});
  pub.on('error', () => {});
  try {
    const body = `alive-${tag}`;
    const arrived = new Promise<boolean>((resolve) => {
      sub.on('message', (_topic, payload) => payload.toString() === body && resolve(true));
    });
    const work = (async () => {
      await new Promise<void>((resolve, reject) => {
        sub.once('connect', () => resolve());
        sub.once('close', () => reject(new Error('check subscriber could not connect')));
      });
      await sub.subscribeAsync(target.subscriberTopic, { qos: 1 });
      await new Promise<void>((resolve, reject) => {
        if (pub.connected) return resolve();
        pub.once('connect', () => resolve());
        pub.once('close', () => reject(new Error('check publisher could not connect')));
      });
      await pub.publishAsync(target.publisherTopic(0), body, { qos: 1 });
      return arrived;
    })();
    return await Promise.race([work, sleep(timeoutMs).then(() => false)]);
  } catch {
    return false;
  } finally {
    sub.end(true);
    pub.end(true);
  }
}

/** The first line of the error and the frames under it, from a crashed broker's stderr. */
function crashText(stderr: string): string {
  const lines = stderr.split('\n');
  const start = lines.findIndex((line) => /\b(RangeError|Error|TypeError)\b/.test(line));
  return lines
    .slice(Math.max(0, start), start < 0 ? 20 : start + STACK_TRACE_LIMIT + 1)
    .join('\n')
    .trim();
}

/** One run: start a broker child, apply the phases, check it survived, stop it. */
export async function runAbuse(options: AbuseOptions): Promise<RunResult> {
  const started = Date.now();
  const opts = {
    publishers: options.publishers ?? 4,
    inflight: options.inflight ?? 100,
    payloadBytes: options.payloadBytes ?? 200,
    phaseMs: options.phaseMs ?? 5_000,
    minPublished: options.minPublished ?? 0,
    minReceived: options.minReceived ?? 0,
    deadlineMs: options.deadlineMs ?? 30_000,
  };
  const phasesQos = options.qos ?? [0, 1];
  const target = await makeTarget(options.broker, opts.publishers);
  const broker = await startBroker(target, opts.deadlineMs);
  const phases: PhaseResult[] = [];
  const stage: Stage = { now: 'starting' };
  let crashedDuring: string | undefined;
  void broker.exited.then(() => (crashedDuring = stage.now));
  try {
    for (const qos of phasesQos) {
      if (!broker.isAlive()) break;
      phases.push(await runPhase(target, broker, qos, opts, stage));
      // The backlog the exited clients left behind is worked off now: give it time, so
      // that a crash is attributed to the phase that caused it.
      if (broker.isAlive()) await Promise.race([sleep(options.settleMs ?? 1_500), deathOf(broker)]);
    }
    stage.now = 'the check with a fresh client';
    const served = broker.isAlive() && (await serves(target, broker.port, opts.deadlineMs));
    const alive = broker.isAlive();
    const result: RunResult = { survived: alive && served, alive, served, phases, ms: Date.now() - started };
    if (!alive) {
      const { code, signal } = await broker.exited;
      result.crash = { during: crashedDuring ?? stage.now, code, signal, error: crashText(broker.stderr()) };
    }
    return result;
  } finally {
    if (broker.isAlive()) {
      broker.child.kill('SIGTERM');
      const timer = setTimeout(() => broker.child.kill('SIGKILL'), 5_000);
      await broker.exited;
      clearTimeout(timer);
    }
    await target.cleanup();
  }
}
