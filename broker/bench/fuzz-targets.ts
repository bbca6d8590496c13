/**
 * The two brokers the fuzzing benchmark (fuzz.ts) attacks, each started the way it runs in
 * production, in child processes, so that a crash is the process dying:
 *
 *  - district: the district broker (src/cli.ts) with a credentials file of real scrypt hashes:
 *    three fuzz schools' gateways and the cloud, whose passwords the fuzzer knows (so its
 *    sessions get past CONNECT and fuzz what follows), and one more gateway for the
 *    well-behaved client only.
 *  - school: a school gateway (edge-agent/src/cli.ts) with six MQTT interactive boards, a PJLink
 *    projector and a board for the well-behaved client; its local broker is the target. The
 *    gateway uplinks to a district broker of its own (another child) where a small in-process
 *    cloud acknowledges every batch and event, so the gateway runs as it would in a school.
 *
 * Processes are started with spawn() and stopped by their ChildProcess handle (their pid),
 * SIGTERM first; nothing else is ever signalled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { LIMITS, UPLINK_CHANNELS, districtTopics, localTopics } from '@schoolops/device-profiles';
import { hashPassword, type CredentialsFile } from '../src/index.ts';
import { FrameReader, encode, oddJson, type FuzzTarget, type Login, type Rng } from './fuzz-packets.ts';

export type TargetKind = 'district' | 'school';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const brokerCli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const agentCli = fileURLToPath(new URL('../../edge-agent/src/cli.ts', import.meta.url));
const STDERR_KEEP = 64 * 1024;
const READY_DEADLINE_MS = 60_000;

// ---------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------

export interface Child {
  name: string;
  pid: number;
  process: ChildProcess;
  /** The last 64 KB of its stderr (a crash's stack is there). */
  stderr(): string;
  /** Set once it exited; `expected` when we asked it to stop. */
  exit: { code: number | null; signal: NodeJS.Signals | null; expected: boolean; at: number } | null;
  exited: Promise<void>;
}

async function startChild(name: string, script: string, args: string[]): Promise<{ child: Child; ready: Record<string, unknown> }> {
  // Both log connects and refusals to stdout as JSON; only stderr tells of a crash. With
  // FUZZ_LOG_DIR set (when reducing a finding), each one's stdout goes to a file there.
  const logDir = process.env.FUZZ_LOG_DIR;
  const stdout = logDir ? openSync(join(logDir, `${name.replace(/[^a-z0-9]+/gi, '-')}-${Date.now()}.log`), 'a') : 'ignore';
  // FUZZ_CHILD_NODE_FLAGS adds node flags to these processes, e.g.
  // "--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=/tmp/snapshots" to look at their memory.
  const nodeFlags = process.env.FUZZ_CHILD_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  const proc = spawn(process.execPath, ['--stack-trace-limit=40', ...nodeFlags, '--import', 'tsx', script, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', stdout, 'pipe', 'ipc'],
  });
  if (typeof stdout === 'number') closeSync(stdout);
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-STDERR_KEEP);
  });
  let stopping = false;
  const child: Child = {
    name,
    pid: proc.pid ?? -1,
    process: proc,
    stderr: () => stderr,
    exit: null,
    exited: new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        child.exit = { code, signal, expected: stopping, at: Date.now() };
        resolve();
      }),
    ),
  };
  stopFlags.set(child, () => (stopping = true));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} sent no ready message within ${READY_DEADLINE_MS} ms`)), READY_DEADLINE_MS);
    void child.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${child.exit?.code ?? child.exit?.signal}) before it was ready:\n${stderr}`));
    });
    proc.on('message', (message: Record<string, unknown>) => {
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      resolve(message);
    });
  }).catch(async (error: unknown) => {
    await stopChild(child);
    throw error;
  });
  return { child, ready };
}

const stopFlags = new WeakMap<Child, () => void>();

/** SIGTERM to this child's pid; SIGKILL to the same pid if it has not exited 10 s later. */
export async function stopChild(child: Child): Promise<void> {
  if (child.exit) return;
  stopFlags.get(child)?.();
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), 10_000);
  await child.exited;
  clearTimeout(timer);
}

/** Resident set size now and at its peak, of a process of ours (Linux /proc), in bytes. */
export function memoryOf(pid: number): { rss: number; peak: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------
// A raw MQTT conversation, for the health check
// ---------------------------------------------------------------------------------------

/** Send each step's packet and wait for a packet of type `expect` (a CONNACK must say 0); then DISCONNECT. */
export async function rawConversation(
  port: number,
  steps: { send: Buffer; expect: number; what: string }[],
  timeoutMs = 15_000,
  localAddress?: string,
): Promise<string> {
  const socket = tcpConnect({ port, host: '127.0.0.1', noDelay: true, ...(localAddress && { localAddress }) });
  socket.on('error', () => {});
  const reader = new FrameReader();
  const frames: { first: number; body: Buffer }[] = [];
  let closed = false;
  socket.on('data', (chunk: Buffer) => frames.push(...reader.push(chunk)));
  socket.on('close', () => (closed = true));
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    for (const step of steps) {
      const started = Date.now();
      socket.write(step.send);
      for (;;) {
        const index = frames.findIndex((f) => f.first >> 4 === step.expect);
        if (index >= 0) {
          const [frame] = frames.splice(index, 1);
          if (step.expect === 2 && frame!.body[1] !== 0) throw new Error(`${step.what}: CONNACK return code ${frame!.body[1]}`);
          break;
        }
        if (closed) throw new Error(`${step.what}: the broker closed the connection`);
        if (Date.now() - started > timeoutMs) throw new Error(`${step.what}: no answer within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    return steps.map((s) => s.what).join(', ');
  } finally {
    if (!socket.destroyed) socket.end(encode({ type: 'disconnect' }));
  }
}

function connectPacket(clientId: string, username?: string, password?: string): Buffer {
  return encode({
    type: 'connect',
    protocolName: Buffer.from('MQTT'),
    level: 4,
    clean: true,
    keepalive: 30,
    clientId: Buffer.from(clientId),
    ...(username !== undefined && { username: Buffer.from(username) }),
    ...(password !== undefined && { password: Buffer.from(password) }),
  });
}

// ---------------------------------------------------------------------------------------
// The targets
// ---------------------------------------------------------------------------------------

export interface RunningTarget {
  kind: TargetKind;
  /** The port under fuzz, and the process listening on it. */
  port: number;
  fuzzed: Child;
  /** Every process started for this target. */
  children: Child[];
  target: FuzzTarget;
  /** The well-behaved client's identity (never used by a fuzz session). */
  probe: { clientId: string; username?: string; password?: string };
  /** After the run: a fresh client connects, pings and publishes at QoS 1 (and, at the school, the reading reaches the district). */
  healthCheck(): Promise<string>;
  /** What else this target can tell (the school gateway's uplink). */
  extra(): string;
  stop(): Promise<void>;
}

const secret = () => randomBytes(12).toString('base64url');

function district(rng: Rng, schoolIds: readonly string[]): Buffer {
  const schoolId = rng.pick(schoolIds);
  const readings = Array.from({ length: rng.chance(0.95) ? rng.range(1, 5) : rng.logRange(5, 200) }, (_, i) => ({
    deviceId: `${schoolId}.r${100 + (i % 20)}.board`,
    ts: Date.now() - rng.int(60_000),
    values: { power: rng.chance(0.5), temperature: rng.range(20, 60), touchCount: rng.int(10_000) },
  }));
  return Buffer.from(
    JSON.stringify({ v: 1, gatewayId: `gw-${schoolId}`, schoolId, bootId: secret(), seq: rng.int(1_000_000), sentAt: Date.now(), readings }),
  );
}

/** A payload for the district broker (which routes payloads and never reads them). */
function districtPayload(rng: Rng, schoolIds: readonly string[]): Buffer {
  const roll = rng.float();
  if (roll < 0.5) return district(rng, schoolIds);
  if (roll < 0.6) return oddJson(rng);
  if (roll < 0.98) return rng.bytes(rng.logRange(0, 512));
  if (roll < 0.999) return rng.bytes(rng.logRange(512, 64 * 1024));
  return rng.bytes(rng.range(LIMITS.districtPacketBytes - 64 * 1024, LIMITS.districtPacketBytes + 64 * 1024));
}

async function startDistrictTarget(): Promise<RunningTarget> {
  const schools = ['fuzz-a', 'fuzz-b', 'fuzz-c'];
  const probeSchool = 'fuzz-probe';
  const passwords = new Map<string, string>([...schools, probeSchool].map((s) => [`gw-${s}`, secret()]));
  const cloudPassword = secret();
  const credentials: CredentialsFile = {
    v: 1,
    clients: [
      ...(await Promise.all(
        [...schools, probeSchool].map(async (schoolId) => ({
          username: `gw-${schoolId}`,
          role: 'gateway' as const,
          schoolId,
          passwordHash: await hashPassword(passwords.get(`gw-${schoolId}`)!),
        })),
      )),
      { username: 'cloud', role: 'cloud' as const, passwordHash: await hashPassword(cloudPassword) },
    ],
  };
  const dir = await mkdtemp(join(tmpdir(), 'schoolops-fuzz-district-'));
  const file = join(dir, 'credentials.json');
  await writeFile(file, JSON.stringify(credentials), { mode: 0o600 });

  const gatewayLogin = (schoolId: string, fixedId: boolean): Login => ({
    username: `gw-${schoolId}`,
    password: passwords.get(`gw-${schoolId}`)!,
    // A real gateway keeps one client id; other sessions pick random ones.
    ...(fixedId && { clientId: `gw-${schoolId}` }),
    topics: UPLINK_CHANNELS.map((channel) => districtTopics[channel](schoolId)),
    filters: [districtTopics.schoolDownlink(schoolId), districtTopics.ack(schoolId), districtTopics.command(schoolId, '+')],
  });
  const logins: Login[] = [
    // One identity with a fixed client id: its sessions take each other over now and then
    // (aedes disconnects the older one), as a gateway reconnecting does.
    gatewayLogin(schools[0]!, true),
    ...schools.map((s) => gatewayLogin(s, false)),
    {
      username: 'cloud',
      password: cloudPassword,
      topics: schools.flatMap((s) => [districtTopics.ack(s), districtTopics.command(s, `${s}.r101.proj`)]),
      filters: [districtTopics.allUplink, districtTopics.brokerStats, `${districtTopics.schoolDownlink('fuzz-a').replace('/down/#', '/up/#')}`],
    },
  ];
  const target: FuzzTarget = {
    name: 'district',
    logins,
    topics: [
      ...schools.map((s) => districtTopics.command(s, `${s}.r101.proj`)),
      districtTopics.telemetry('other-school'),
      districtTopics.brokerStats,
      'schoolops/v1/fuzz-a/sideways/telemetry',
      'schoolops/v1/FUZZ-A/up/telemetry',
      'schoolops/v1/fuzz-a/up/telemetry/extra',
      '$SYS/broker/clients',
      'schoolops',
    ],
    filters: [districtTopics.allUplink, districtTopics.schoolDownlink('other-school'), '#', '+/+/+/+', '$SYS/#', 'schoolops/v1/+/down/#'],
    payload: (rng) => districtPayload(rng, schools),
    maxPacketBytes: LIMITS.districtPacketBytes,
  };

  const { child, ready } = await startChild('district broker', brokerCli, ['--port', '0', '--credentials', file]);
  const port = ready.port as number;
  const probe = { clientId: `probe-${secret()}`, username: `gw-${probeSchool}`, password: passwords.get(`gw-${probeSchool}`)! };
  return {
    kind: 'district',
    port,
    fuzzed: child,
    children: [child],
    target,
    probe,
    healthCheck: () =>
      rawConversation(port, [
        { send: connectPacket(`health-${secret()}`, probe.username, probe.password), expect: 2, what: 'CONNECT→CONNACK 0' },
        { send: encode({ type: 'pingreq' }), expect: 13, what: 'PINGREQ→PINGRESP' },
        {
          send: encode({ type: 'publish', qos: 1, dup: false, retain: false, topic: Buffer.from(districtTopics.health(probeSchool)), packetId: 7, payload: Buffer.from('{}') }),
          expect: 4,
          what: 'PUBLISH QoS 1→PUBACK',
        },
      ]),
    extra: () => '',
    stop: async () => {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A board's own JSON (the Promethean profile's map), well-formed or subtly not. */
function boardState(rng: Rng, seq: number): Record<string, unknown> {
  const body: Record<string, unknown> = {
    panel: { powerOn: rng.chance(0.8), cpuTempC: rng.range(20, 70) + rng.int(10) / 10, firmware: 'ActivPanel 9 v2.1', storageFreeMB: rng.range(100, 60_000) },
    session: { active: rng.chance(0.7), touches: rng.int(50_000), app: rng.pick(['ActivInspire', 'Chrome', 'HDMI 1', 'none']) },
    time: Date.now(),
    seq,
  };
  if (rng.chance(0.3)) {
    // One thing wrong: out of range, wrong type, odd time or counter, a nested value, an unknown field.
    const panel = body.panel as Record<string, unknown>;
    switch (rng.int(8)) {
      case 0:
        panel.cpuTempC = rng.pick([1e300, -1e300, 101, -11, 0.1e-320]);
        break;
      case 1:
        panel.powerOn = rng.pick(['yes', 1, null, { on: true }, [true]]);
        break;
      case 2:
        body.time = rng.pick([1e300, -1, 9e15, 1.5, '2026-11-23', null]);
        break;
      case 3:
        body.seq = rng.pick([-1, 1.5, 2 ** 60, 'x']);
        break;
      case 4:
        (body.session as Record<string, unknown>).touches = rng.pick([-5, 10_000_001, 1e20]);
        break;
      case 5:
        (body.session as Record<string, unknown>).app = 'x'.repeat(rng.pick([256, 257, 10_000]));
        break;
      case 6:
        body.panel = rng.pick([null, 'panel', 42, []]);
        break;
      default:
        body.extra = { deep: { deeper: [1, 2, 3] } };
    }
  }
  return body;
}

async function startSchoolTarget(): Promise<RunningTarget> {
  const schoolId = 'fuzz-school';
  const gatewayId = `gw-${schoolId}`;
  const boards = Array.from({ length: 12 }, (_, i) => `${schoolId}.r${101 + i}.board`);
  const projector = `${schoolId}.r101.proj`;
  const probeBoard = `${schoolId}.probe.board`;
  const gatewayPassword = secret();
  const cloudPassword = secret();

  const dir = await mkdtemp(join(tmpdir(), 'schoolops-fuzz-school-'));
  const credentialsFile = join(dir, 'credentials.json');
  const credentials: CredentialsFile = {
    v: 1,
    clients: [
      { username: gatewayId, role: 'gateway', schoolId, passwordHash: await hashPassword(gatewayPassword) },
      { username: 'cloud', role: 'cloud', passwordHash: await hashPassword(cloudPassword) },
    ],
  };
  await writeFile(credentialsFile, JSON.stringify(credentials), { mode: 0o600 });
  const children: Child[] = [];
  let cloud: MqttClient | undefined;
  const stop = async () => {
    await cloud?.endAsync(true).catch(() => {});
    // The gateway first, then its district: as the district launcher stops them.
    for (const child of [...children].reverse()) await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const uplink = await startChild('district broker (the gateway uplink)', brokerCli, ['--port', '0', '--credentials', credentialsFile]);
    children.push(uplink.child);
    const districtPort = uplink.ready.port as number;

    // The cloud's part: acknowledge every batch and event, so the gateway deletes what it sent.
    const acked = { batches: 0, readings: 0, events: 0, probeSeqs: new Set<number>() };
    cloud = await mqtt.connectAsync(`mqtt://127.0.0.1:${districtPort}`, {
      protocolVersion: 4,
      clientId: `fuzz-cloud-${secret()}`,
      username: 'cloud',
      password: cloudPassword,
      reconnectPeriod: 1000,
    });
    const cloudClient = cloud;
    cloudClient.on('message', (topic, payload) => {
      let body: { gatewayId?: string; bootId?: string; seq?: number; eventId?: string; readings?: { deviceId: string; n?: number }[] };
      try {
        body = JSON.parse(payload.toString('utf8')) as typeof body;
      } catch {
        return;
      }
      if (topic === districtTopics.telemetry(schoolId) && typeof body.seq === 'number') {
        acked.batches++;
        acked.readings += body.readings?.length ?? 0;
        for (const r of body.readings ?? []) if (r.deviceId === probeBoard && typeof r.n === 'number') acked.probeSeqs.add(r.n);
        cloudClient.publish(districtTopics.ack(schoolId), JSON.stringify({ v: 1, gatewayId, bootId: body.bootId, seq: body.seq, result: 'stored' }), { qos: 1 });
      } else if (topic === districtTopics.event(schoolId) && typeof body.eventId === 'string') {
        acked.events++;
        cloudClient.publish(districtTopics.ack(schoolId), JSON.stringify({ v: 1, gatewayId, eventId: body.eventId, result: 'stored' }), { qos: 1 });
      }
    });
    await cloudClient.subscribeAsync(districtTopics.allUplink, { qos: 1 });

    const configFile = join(dir, 'gateway.json');
    await writeFile(
      configFile,
      JSON.stringify({
        v: 1,
        gatewayId,
        schoolId,
        district: { url: `mqtt://127.0.0.1:${districtPort}`, username: gatewayId, password: gatewayPassword },
        local: { host: '127.0.0.1', port: 0 },
        dataDir: join(dir, 'queue'),
        // Nothing listens on port 9: the projector stays unreachable, as an unplugged one does.
        devices: [
          ...[...boards, probeBoard].map((id, i) => ({ id, profileId: 'promethean-activpanel-9', roomId: `r${101 + (i % 6)}` })),
          { id: projector, profileId: 'epson-eb-x51', roomId: 'r101', address: { host: '127.0.0.1', port: 9 } },
        ],
        queue: { quotaBytes: 256 * 1024 * 1024 },
      }),
      { mode: 0o600 },
    );
    const agent = await startChild('school gateway (edge agent)', agentCli, ['--config', configFile]);
    children.push(agent.child);
    const port = agent.ready.localPort as number;

    let seq = 0;
    const payload = (rng: Rng, topic: string): Buffer => {
      const roll = rng.float();
      if (topic.endsWith('/state') && roll < 0.75) {
        const body = boardState(rng, seq++);
        // Now and then the other envelope (DeviceStateMessage), which a mapped board does not speak.
        return Buffer.from(JSON.stringify(rng.chance(0.1) ? { ts: Date.now(), values: { power: true }, n: seq } : body));
      }
      if (roll < 0.9) return oddJson(rng);
      if (roll < 0.98) return rng.bytes(rng.logRange(0, 2048));
      return rng.bytes(rng.range(LIMITS.devicePayloadBytes - 16, LIMITS.devicePayloadBytes + 4096)); // around the 16 KB limit
    };
    // The school broker has no passwords: a device is its client id. A session as the device
    // itself takes over that device's connection if one is open (aedes drops the older one),
    // so most sessions speak for a device under a client id of their own.
    const deviceLogin = (id: string, asItself: boolean): Login => ({
      ...(asItself && { clientId: id }),
      topics: [localTopics.deviceState(id)],
      filters: [localTopics.deviceCommand(id)],
    });
    const target: FuzzTarget = {
      name: 'school',
      logins: [...boards, projector].flatMap((id) => [deviceLogin(id, true), deviceLogin(id, false), deviceLogin(id, false)]),
      topics: [
        ...boards.slice(0, 2).map((id) => localTopics.deviceCommand(id)),
        localTopics.deviceState('nobody.here'),
        localTopics.deviceState(''),
        'local/v1/device/a/b/state',
        'local/v1/device/fuzz-school.r101.board/state/extra',
        districtTopics.telemetry(schoolId),
        '$SYS/broker/clients',
      ],
      filters: [localTopics.allDeviceState, '#', 'local/v1/device/+/command', '$SYS/#', localTopics.deviceCommand(probeBoard)],
      payload,
      maxPacketBytes: 16 * LIMITS.devicePayloadBytes,
    };

    let probeSeq = 1_000_000;
    return {
      kind: 'school',
      port,
      fuzzed: agent.child,
      children,
      target,
      probe: { clientId: probeBoard },
      healthCheck: async () => {
        const n = probeSeq++;
        const state = JSON.stringify({ panel: { powerOn: true, cpuTempC: 40 }, session: { active: true }, time: Date.now(), seq: n });
        const done = await rawConversation(port, [
          { send: connectPacket(probeBoard), expect: 2, what: 'CONNECT→CONNACK 0' },
          { send: encode({ type: 'pingreq' }), expect: 13, what: 'PINGREQ→PINGRESP' },
          {
            send: encode({ type: 'publish', qos: 1, dup: false, retain: false, topic: Buffer.from(localTopics.deviceState(probeBoard)), packetId: 7, payload: Buffer.from(state) }),
            expect: 4,
            what: 'a reading QoS 1→PUBACK (queued on disk)',
          },
        ]);
        // And on to the district: the gateway's batch with it reaches the cloud.
        const deadline = Date.now() + 30_000;
        while (!acked.probeSeqs.has(n)) {
          if (Date.now() > deadline) throw new Error(`${done}; but the reading did not reach the district within 30 s`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return `${done}, the reading reached the district`;
      },
      extra: () => `gateway uplink: ${acked.batches} batches (${acked.readings} readings) and ${acked.events} events reached the district and were acked`,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export function startTarget(kind: TargetKind): Promise<RunningTarget> {
  return kind === 'district' ? startDistrictTarget() : startSchoolTarget();
}
