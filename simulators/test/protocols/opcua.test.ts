/**
 * The OPC UA driver against the OPC UA lab simulator over real sockets on 127.0.0.1: the
 * agent's DriverHost (options checked against the driver's schema, one DeviceRunner per
 * device) opens the driver, which subscribes to the simulator's nodes. Checked: all five
 * metrics arrive in one report and fit the profile, deadbands hold back small changes,
 * the periodic snapshot, faults (fridge, printer), security and user names, recovery
 * after a restart and after an outage at start, an unknown node, hostile peers, and that
 * closing leaves no session, socket or timer behind.
 *
 * Tests wait for what they need to see (a status, a value, a retry in the log), never for a
 * guess of how long something takes; a time is asserted only as a bound the timers
 * guarantee (snapshots a report interval apart) or as a configured number.
 */
import childProcess from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino, type Logger } from 'pino';
import { checkValues, loadProfiles, type DeviceProfile, type MetricValues } from '@schoolops/device-profiles';
import { DriverError, DriverHost, type DeviceStatus, type Driver, type DriverDevice } from '@schoolops/edge-agent';
import { DataType, LocalizedText, Variant, VariantArrayType } from 'node-opcua';
import { metricValue, opcuaDriver, opcuaSettings, type OpcuaOptions } from '../../../edge-agent/src/drivers/opcua.ts';
import { LAB_NODES, OpcuaLabSimulator, type OpcuaLabOptions } from '../../src/protocols/opcua-lab.ts';
import { classById, deriveRng, generateDistrict, lessonsAt } from '../../src/district/index.ts';
import { labControllerModel, type LabControllerState } from '../../src/devices/index.ts';

const logger = pino({ level: 'silent' });
const baseProfile = loadProfiles().get('schoolops-lab-controller')!;
/** The profile with a short report interval, so the snapshot shows within a test. */
const withInterval = (seconds: number): DeviceProfile => ({ ...baseProfile, reportIntervalSeconds: seconds });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const pkiDir = mkdtempSync(join(tmpdir(), 'schoolops-opcua-test-pki-'));
const STEADY: MetricValues = { roomTemperature: 24.5, humidity: 60, fumeHoodAirflow: 0.5, fridgeTemperature: 4.5, printerState: 'idle' };

interface Recorded {
  values: { values: MetricValues; ts: number; at: number }[];
  statuses: DeviceStatus[];
  host: DriverHost;
}

const hosts: DriverHost[] = [];
const sims: OpcuaLabSimulator[] = [];
const peers: Server[] = [];

/** Drive one lab controller through the agent's DriverHost with the real OPC UA driver. */
function drive(port: number, options: OpcuaOptions = {}, profile: DeviceProfile = baseProfile, log: Logger = logger): Recorded {
  const values: Recorded['values'] = [];
  const statuses: DeviceStatus[] = [];
  const host = new DriverHost({
    devices: [
      {
        record: { id: 'lab-1', profileId: profile.id, roomId: 'room-1', address: { host: '127.0.0.1', port }, options: { pkiDir, samplingIntervalMs: 100, ...options } },
        profile,
      },
    ],
    drivers: new Map([['opcua', opcuaDriver as Driver]]),
    logger: log,
    onValues: (_id, v, ts) => values.push({ values: v, ts, at: Date.now() }),
    onStatus: (_id, status) => statuses.push(status),
  });
  hosts.push(host);
  host.start();
  return { values, statuses, host };
}

/** A simulator serving `lab` (mutable); stopped after the test unless `keep`. */
async function startSim(options: Partial<OpcuaLabOptions> = {}, keep = false): Promise<{ sim: OpcuaLabSimulator; port: number; lab: MetricValues }> {
  const lab: MetricValues = { ...STEADY };
  const sim = new OpcuaLabSimulator({ read: () => lab, sampleIntervalMs: 50, restartDelayMs: 500, ...options });
  if (!keep) sims.push(sim);
  return { sim, port: await sim.start(), lab };
}

/** Wait for a condition (never for a guess of how long it takes); the deadline only names what never came. */
async function waitFor<T>(what: string, probe: () => T | undefined | null | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A TCP peer that is not an OPC UA server; `sockets` are its open connections. */
async function peer(onConnection: (socket: Socket) => void): Promise<{ port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.resume(); // read (and drop) what comes, so the client's FIN is seen
    onConnection(socket);
  });
  peers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, sockets };
}

/** A TCP relay to `target` that can freeze: bytes stop moving both ways, sockets stay open (a pulled cable). */
async function relay(target: number): Promise<{ port: number; freeze(): void; thaw(): void }> {
  let frozen = false;
  const { port } = await peer((client) => {
    const upstream = connect(target, '127.0.0.1');
    upstream.on('error', () => undefined);
    client.on('data', (data: Buffer) => frozen || upstream.write(data));
    upstream.on('data', (data: Buffer) => frozen || client.write(data));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return { port, freeze: () => (frozen = true), thaw: () => (frozen = false) };
}

const allFive = (v: MetricValues) => LAB_NODES.every((n) => n.metric in v);
const lastState = (r: Recorded) => r.statuses.at(-1);
/**
 * The first status the driver reported after the `seen` it had reported already. Waiting on
 * the last status instead returns at once when an earlier one is there: under load a first
 * connect can time out and be followed by 'ok' before the test's step happens.
 */
const nextStatus = (r: Recorded, seen: number, what: string) => waitFor(what, () => r.statuses[seen]);

/** A logger that keeps the message of every line the driver logs at debug level and up. */
function recordingLogger(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  return { logger: pino({ level: 'debug' }, { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) }), messages };
}

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.stop()));
  await Promise.all(sims.splice(0).map((s) => s.stop()));
  await Promise.all(peers.splice(0).map((p) => new Promise((resolve) => p.close(resolve))));
});

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
let timersBefore = 0;
beforeAll(() => {
  timersBefore = timers(); // the test runner's own (a hook's timeout)
});

afterAll(async () => {
  rmSync(pkiDir, { recursive: true, force: true });
  // Every simulator, driver and peer is closed: no TCP socket or server of ours is left open
  // (a closed listener's handle goes at the next turn of the event loop, hence the short wait),
  // and no timer that would keep a process alive.
  const tcp = () => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP'));
  await waitFor('no TCP handle left', () => tcp().length === 0).catch(() => undefined);
  expect(tcp()).toEqual([]);
  await waitFor('no timer left', () => timers() <= timersBefore).catch(() => undefined);
  expect(timers()).toBeLessThanOrEqual(timersBefore);
});

describe('OPC UA lab simulator', () => {
  it('serves exactly the node ids the profile reads', () => {
    const nodes = Object.fromEntries(LAB_NODES.map((n) => [n.metric, `ns=1;s=${n.id}`]));
    expect(baseProfile.protocol.type).toBe('opcua');
    expect(nodes).toEqual((baseProfile.protocol as { nodes: Record<string, string> }).nodes);
  });

  it('survives garbage and half-open clients and still serves', async () => {
    const { sim, port } = await startSim();
    const junk: Socket[] = [];
    const hungUp: Promise<unknown>[] = [];
    for (const payload of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from('HELF\xff\xff\xff\x7f', 'latin1'), Buffer.from('HE')]) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.resume();
      await once(socket, 'connect');
      socket.write(payload);
      junk.push(socket);
      hungUp.push(once(socket, 'close'));
    }
    // The server has dealt with the garbage (hung up on it); the half message stays open.
    await Promise.all(hungUp.slice(0, 2));
    const r = drive(port);
    await waitFor('values after garbage', () => r.values.find((v) => allFive(v.values)));
    expect(sim.listening).toBe(true);
    for (const s of junk) s.destroy();
  });
});

describe('OPC UA driver against the lab simulator', () => {
  let shared: { sim: OpcuaLabSimulator; port: number; lab: MetricValues };
  beforeAll(async () => {
    shared = await startSim({}, true);
  });
  afterAll(async () => {
    await shared.sim.stop();
  });
  afterEach(() => {
    Object.assign(shared.lab, STEADY);
    shared.sim.sample();
  });

  it('reports the value model\'s five metrics in one report, in the profile\'s types and ranges', async () => {
    // Fed as the district launcher would: the lab-controller value model stepped through a school morning.
    const district = generateDistrict({ seed: 3, schools: 1 });
    const school = district.schools[0]!;
    const device = school.devices.find((d) => d.profileId === baseProfile.id)!;
    const rng = deriveRng(3, 'device', device.id);
    let state: LabControllerState = labControllerModel.init(rng, device, school);
    let t = Date.parse('2025-03-10T09:00:00+07:00');
    const modelValues: MetricValues[] = [];
    const read = () => {
      t += 60_000;
      const now = new Date(t);
      const lesson = lessonsAt(school, now).find((l) => l.roomId === device.roomId);
      const activity = lesson ? { lesson, schoolClass: classById(school, lesson.classId)! } : null;
      const next = labControllerModel.sample(state, { now, activity, schoolLoad: 0.5, rng });
      state = next.state;
      modelValues.push(next.values);
      return next.values;
    };
    const sim = new OpcuaLabSimulator({ read, sampleIntervalMs: 100 });
    sims.push(sim);
    const r = drive(await sim.start());
    const first = await waitFor('a first report', () => r.values[0]);
    // The initial values of all five monitored items arrive together, not one report each.
    expect(Object.keys(first.values).sort()).toEqual(LAB_NODES.map((n) => n.metric).sort());
    await waitFor('a few changes', () => r.values.length >= 4 && r.values);
    for (const { values } of r.values) expect(checkValues(baseProfile, values)).toBeNull();
    // What arrives is what the model produced (a change seen through the protocol, not made up).
    const seen = r.values.flatMap((v) => Object.entries(v.values));
    for (const [metric, value] of seen) expect(modelValues.some((m) => m[metric] === value)).toBe(true);
    expect(r.statuses).toEqual([]); // never anything but ok
    expect(sim.sessionCount).toBe(1);
  });

  it('holds back changes smaller than the deadband, reports larger ones', async () => {
    const r = drive(shared.port);
    await waitFor('initial values', () => r.values.find((v) => allFive(v.values)));
    const mark = r.values.length;
    // roomTemperature deadband 0.1, humidity 0.5: both moves are inside.
    shared.lab.roomTemperature = 24.55;
    shared.lab.humidity = 60.4;
    shared.sim.sample();
    // The printer state (no deadband) changes after them, twice: once both changes are
    // reported, the server has sampled every node since the small moves (all on the same
    // sampling interval), so a small move it did not hold back would have come by now.
    shared.lab.printerState = 'printing';
    shared.sim.sample();
    await waitFor('printer printing', () => r.values.slice(mark).find((v) => v.values.printerState === 'printing'));
    shared.lab.printerState = 'idle';
    shared.sim.sample();
    await waitFor('printer idle', () => r.values.slice(mark).find((v) => v.values.printerState === 'idle'));
    expect(r.values.slice(mark).map((v) => v.values)).toEqual([{ printerState: 'printing' }, { printerState: 'idle' }]);
    const afterMarkers = r.values.length;
    // Past the deadband (measured from the last reported value, 24.5 and 60).
    shared.lab.roomTemperature = 24.75;
    shared.lab.humidity = 61;
    shared.sim.sample();
    const change = await waitFor('the change', () => r.values.slice(afterMarkers).find((v) => 'roomTemperature' in v.values));
    // Both changes came in one publish response and went out as one report, without the quiet metrics.
    expect(change.values).toEqual({ roomTemperature: 24.75, humidity: 61 });
  });

  it('reports every metric\'s last value once per report interval although nothing changes', async () => {
    const r = drive(shared.port, {}, withInterval(1));
    await waitFor('initial values', () => r.values[0]);
    await waitFor('three snapshots', () => r.values.filter((v) => allFive(v.values)).length >= 4 && true);
    const snapshots = r.values.filter((v) => allFive(v.values)).slice(1);
    for (const s of snapshots) expect(s.values).toEqual(STEADY);
    // One a second, not a burst: a repeating 1 s timer fires on its own cadence, so n of its
    // turns span at least (n - 1) s. (Two turns may come closer than 1 s when a busy machine
    // delays one: the next keeps the cadence, not the distance.) The clock counts whole ms.
    const span = snapshots.at(-1)!.ts - snapshots[0]!.ts;
    expect(snapshots.length).toBeLessThanOrEqual(Math.floor((span + 2) / 1000) + 1);
    expect(r.values.filter((v) => !allFive(v.values))).toEqual([]);
  });

  it('shows a warm fridge and a printer error, and their end', async () => {
    const r = drive(shared.port);
    await waitFor('initial values', () => r.values[0]);
    await shared.sim.inject('fridge-warm');
    await shared.sim.inject('printer-error');
    await waitFor('warm fridge', () => r.values.find((v) => v.values.fridgeTemperature === 12));
    await waitFor('printer error', () => r.values.find((v) => v.values.printerState === 'error'));
    await shared.sim.clear();
    await waitFor('fridge back', () => r.values.find((v) => v.values.fridgeTemperature === 4.5 && v.values.printerState === 'idle'));
    for (const { values } of r.values) expect(checkValues(baseProfile, values)).toBeNull();
    expect(r.statuses).toEqual([]); // a warm fridge is a reading, not a link problem
  });

  it('names a node the server does not know, and keeps reporting the others', async () => {
    const profile: DeviceProfile = {
      ...baseProfile,
      protocol: { ...(baseProfile.protocol as Extract<DeviceProfile['protocol'], { type: 'opcua' }>) },
    };
    const protocol = profile.protocol as Extract<DeviceProfile['protocol'], { type: 'opcua' }>;
    protocol.nodes = { ...protocol.nodes, fridgeTemperature: 'ns=1;s=Lab.Fridge.Missing' };
    const r = drive(shared.port, {}, profile);
    const status = await waitFor('faulty', () => r.statuses.find((s) => s.state === 'faulty'));
    expect(status).toMatchObject({ state: 'faulty', reason: 'protocol_error' });
    expect(status.detail).toContain('ns=1;s=Lab.Fridge.Missing');
    expect(status.detail).toContain('BadNodeIdUnknown');
    const first = await waitFor('the other values', () => r.values[0]);
    expect(Object.keys(first.values).sort()).toEqual(['fumeHoodAirflow', 'humidity', 'printerState', 'roomTemperature']);
    // Values flowing do not clear the fault while the node stays unknown.
    shared.lab.roomTemperature = 26;
    shared.sim.sample();
    await waitFor('a change', () => r.values.find((v) => v.values.roomTemperature === 26));
    expect(lastState(r)?.state).toBe('faulty');
  });

  it('calls a value outside the profile\'s range faulty, and ok again when it is back', async () => {
    const r = drive(shared.port);
    await waitFor('values', () => r.values[0]);
    const seen = r.statuses.length;
    shared.lab.humidity = 150;
    shared.sim.sample();
    const status = await nextStatus(r, seen, 'faulty');
    expect(status).toMatchObject({ state: 'faulty', reason: 'protocol_error' });
    expect(status.detail).toContain('humidity');
    shared.lab.humidity = 55;
    shared.sim.sample();
    await waitFor('ok again', () => lastState(r)?.state === 'ok');
    // Nothing the agent would reject was reported.
    for (const { values } of r.values) expect(checkValues(baseProfile, values)).toBeNull();
    expect(r.values.some((v) => v.values.humidity === 55)).toBe(true);
  });

  it('closes its session and leaves the server nothing when the agent stops', async () => {
    const before = shared.sim.sessionCount;
    const r = drive(shared.port);
    await waitFor('values', () => r.values[0]);
    expect(shared.sim.sessionCount).toBe(before + 1);
    // A second gateway that stays, to see the change below.
    const witness = drive(shared.port);
    await waitFor('the witness\'s values', () => witness.values[0]);
    await r.host.stop();
    await waitFor('session closed', () => shared.sim.sessionCount === before + 1 && shared.sim.channelCount === 1);
    const count = r.values.length;
    // A change the stopped driver would have been sent with the witness, had it stayed subscribed.
    shared.lab.roomTemperature = 25.5;
    shared.sim.sample();
    await waitFor('the witness sees the change', () => witness.values.find((v) => v.values.roomTemperature === 25.5));
    expect(r.values.length).toBe(count);
    await witness.host.stop();
    await waitFor('every session closed', () => shared.sim.sessionCount === before && shared.sim.channelCount === 0);
  });
});

describe('OPC UA security and users', () => {
  it('connects with SignAndEncrypt / Basic256Sha256, its PKI in the given folder', async () => {
    const { port } = await startSim({ securityModes: ['SignAndEncrypt'], securityPolicies: ['Basic256Sha256'] });
    const dir = join(pkiDir, 'sae');
    // Creating the key and self-signed certificate is native: no openssl process (node-opcua's
    // other way, a process per step, seconds on a small gateway).
    const spawned: string[] = [];
    const spawn = childProcess.spawn;
    childProcess.spawn = ((file: string, ...rest: unknown[]) => {
      spawned.push(file);
      return (spawn as (...args: unknown[]) => unknown)(file, ...rest);
    }) as typeof spawn;
    let r: Recorded;
    try {
      r = drive(port, { securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', pkiDir: dir });
      await waitFor('values over an encrypted channel', () => r.values.find((v) => allFive(v.values)));
    } finally {
      childProcess.spawn = spawn;
    }
    expect(spawned).toEqual([]);
    expect(existsSync(join(dir, 'own', 'certs', 'client_certificate.pem'))).toBe(true);
    expect(readdirSync(join(dir, 'trusted', 'certs')).length).toBe(1); // the server's, trusted on first use
    expect(r.statuses).toEqual([]);

    // The same server refuses an unsecured channel: a security problem, reported as auth_failed.
    const plain = drive(port, { pkiDir: dir });
    expect(await waitFor('refusal', () => lastState(plain))).toMatchObject({ state: 'faulty', reason: 'auth_failed' });
  });

  it('refuses a wrong password and anonymous sessions, accepts the right account', async () => {
    const { port } = await startSim({ users: [{ userName: 'lab', password: 'secret' }] });
    const wrong = drive(port, { userName: 'lab', password: 'nope' });
    const anonymous = drive(port);
    const right = drive(port, { userName: 'lab', password: 'secret' });
    const w = await waitFor('wrong password refused', () => lastState(wrong));
    expect(w).toMatchObject({ state: 'faulty', reason: 'auth_failed' });
    expect(w.detail).toMatch(/BadUserAccessDenied|BadIdentityTokenRejected/);
    expect(await waitFor('anonymous refused', () => lastState(anonymous))).toMatchObject({ state: 'faulty', reason: 'auth_failed' });
    await waitFor('values for the right account', () => right.values.find((v) => allFive(v.values)));
    expect(right.statuses).toEqual([]);
    expect(wrong.values).toEqual([]);
  });

  it('refuses options the schema does not allow when the agent starts', () => {
    expect(() => drive(1, { securityMode: 'Encrypt' } as unknown as OpcuaOptions)).toThrow(/securityMode/);
    expect(() => drive(1, { pkiDir: '' })).toThrow(/pkiDir/);
  });
});

describe('OPC UA driver configuration and values', () => {
  const device = (address: Record<string, unknown>, options: OpcuaOptions = {}): DriverDevice<'opcua', OpcuaOptions> => ({
    record: { id: 'lab-1', profileId: baseProfile.id, roomId: 'room-1', address },
    profile: baseProfile,
    protocol: baseProfile.protocol as DriverDevice<'opcua'>['protocol'],
    options,
    host: address.host as string | undefined,
    port: (address.port as number | undefined) ?? 4840,
    intervalMs: baseProfile.reportIntervalSeconds * 1000,
    dataDir: undefined,
  });

  it('builds the endpoint, security and intervals from the device and its profile', () => {
    const s = opcuaSettings(device({ host: 'lab.school.local' }, { securityMode: 'Sign' }));
    expect(s.endpointUrl).toBe('opc.tcp://lab.school.local:4840');
    expect(s.securityPolicy).toBe('Basic256Sha256');
    expect(s.samplingIntervalMs).toBe(1000);
    expect(s.publishingIntervalMs).toBe(1000);
    expect(s.snapshotIntervalMs).toBe(30_000);
    expect(s.pkiDir).not.toContain(process.env.HOME ?? '/nonexistent-home');
    expect(s.items.find((i) => i.metric === 'fridgeTemperature')).toMatchObject({ nodeId: 'ns=1;s=Lab.Fridge.Temperature', deadband: 0.1 });
    expect(opcuaSettings(device({ url: 'opc.tcp://10.1.2.3:48010/lab' })).endpointUrl).toBe('opc.tcp://10.1.2.3:48010/lab');
    expect(opcuaSettings(device({ host: 'fd00::12', port: 4841 })).endpointUrl).toBe('opc.tcp://[fd00::12]:4841');
    expect(() => opcuaSettings(device({}))).toThrow(DriverError);
    expect(() => opcuaSettings(device({ url: 'http://lab/' }))).toThrow(/opc\.tcp/);
    expect(() => opcuaSettings(device({ host: 'x' }, { securityMode: 'None', securityPolicy: 'Basic256Sha256' }))).toThrow(/cannot go with/);
  });

  it('converts OPC UA values to the metric types, and says why when it cannot', async () => {
    const lib = await import('node-opcua');
    const metric = (name: string) => baseProfile.metrics.find((m) => m.name === name)!;
    const printer = metric('printerState');
    const temperature = metric('roomTemperature');
    expect(metricValue(lib, printer, new Variant({ dataType: DataType.String, value: 'printing' }))).toEqual({ value: 'printing' });
    // An Int32 enumeration: the index into the metric's values.
    expect(metricValue(lib, printer, new Variant({ dataType: DataType.Int32, value: 2 }))).toEqual({ value: 'error' });
    expect(metricValue(lib, printer, new Variant({ dataType: DataType.LocalizedText, value: new LocalizedText({ text: 'idle' }) }))).toEqual({ value: 'idle' });
    expect(metricValue(lib, printer, new Variant({ dataType: DataType.Int32, value: 9 }))).toHaveProperty('problem');
    expect(metricValue(lib, temperature, new Variant({ dataType: DataType.Float, value: 21.5 }))).toEqual({ value: 21.5 });
    expect(metricValue(lib, temperature, new Variant({ dataType: DataType.Int64, arrayType: VariantArrayType.Scalar, value: [0, 23] }))).toEqual({ value: 23 });
    expect(metricValue(lib, temperature, new Variant({ dataType: DataType.String, value: '21.5' }))).toHaveProperty('problem');
    expect(metricValue(lib, temperature, new Variant({ dataType: DataType.Boolean, value: true }))).toHaveProperty('problem');
    expect(metricValue(lib, temperature, new Variant({ dataType: DataType.Double, arrayType: VariantArrayType.Array, value: [1, 2] }))).toHaveProperty('problem');
  });
});

describe('OPC UA outages', () => {
  it('goes unreachable when the controller restarts, then ok again with values', async () => {
    const { sim, port, lab } = await startSim();
    const r = drive(port);
    await waitFor('values', () => r.values[0]);
    const t0 = Date.now();
    const restarted = sim.inject('restart');
    const down = await waitFor('unreachable', () => r.statuses.find((s) => s.state === 'unreachable'));
    expect(['closed', 'refused']).toContain(down.reason);
    await restarted;
    expect(sim.boundPort).toBe(port);
    lab.roomTemperature = 27;
    const back = await waitFor('ok again', () => r.statuses.find((s, i) => s.state === 'ok' && i > 0));
    await waitFor('values after the restart', () => r.values.find((v) => v.values.roomTemperature === 27));
    expect(back.state).toBe('ok');
    // A figure, not a bound: 0.5 s down + the server's start + the driver's 0.5 s -> 1 s -> 2 s retries.
    console.info(`opcua: restart to values again in ${Date.now() - t0} ms`);
    expect(sim.sessionCount).toBe(1); // the new session; the old one died with the old server
  });

  it('is unreachable (refused) while the controller is down at start and recovers after clear()', async () => {
    const { sim, port } = await startSim();
    await sim.inject('unreachable');
    expect(sim.listening).toBe(false);
    const { logger: debug, messages } = recordingLogger();
    const r = drive(port, {}, baseProfile, debug);
    const down = await waitFor('refused', () => lastState(r));
    expect(down).toMatchObject({ state: 'unreachable', reason: 'refused' });
    const attempts = () => messages.filter((m) => m === 'opcua connection down').length;
    await waitFor('two more attempts', () => attempts() >= 3);
    expect(r.statuses).toHaveLength(1); // retries do not repeat the same status
    await sim.clear('unreachable');
    await waitFor('ok', () => lastState(r)?.state === 'ok');
    await waitFor('values', () => r.values.find((v) => allFive(v.values)));
  });

  it('notices a link that goes silent without closing (no keep-alive) and rebuilds it', async () => {
    const { port: simPort, lab } = await startSim();
    const link = await relay(simPort);
    const r = drive(link.port, { keepAliveMs: 300, connectTimeoutMs: 1000 });
    await waitFor('values', () => r.values[0]);
    const seen = r.statuses.length;
    link.freeze();
    const down = await nextStatus(r, seen, 'timeout');
    expect(down).toMatchObject({ state: 'unreachable', reason: 'timeout' });
    // The driver's own watchdog noticed: three missed keep-alives (0.3 s each) and a second
    // of slack, not the TCP timeout of minutes.
    expect(down.detail).toMatch(new RegExp(`nothing from opc\\.tcp://127\\.0\\.0\\.1:${link.port} for ${3 * 300 + 1000} ms`));
    link.thaw();
    lab.fridgeTemperature = 5.5;
    await waitFor('ok again', () => lastState(r)?.state === 'ok');
    await waitFor('values again', () => r.values.find((v) => v.values.fridgeTemperature === 5.5));
  });

  it('times out on a peer that accepts and says nothing, and closes its sockets', async () => {
    let connections = 0;
    let mostOpen = 0;
    const { port, sockets } = await peer(() => {
      connections++;
      mostOpen = Math.max(mostOpen, sockets.size);
    });
    const r = drive(port, { connectTimeoutMs: 600 });
    expect(await waitFor('timeout', () => lastState(r))).toMatchObject({ state: 'unreachable', reason: 'timeout' });
    // The abandoned attempt's socket is closed before the retry opens the next one.
    await waitFor('the retry', () => connections >= 2);
    expect(mostOpen).toBe(1);
    // Stopping mid-handshake closes that one too.
    await r.host.stop();
    await waitFor('sockets closed', () => sockets.size === 0);
  });

  it('calls garbage a protocol error and a peer that hangs up at once closed', async () => {
    const garbage = await peer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
    const hangup = await peer((socket) => socket.end());
    const g = drive(garbage.port);
    const h = drive(hangup.port);
    expect(await waitFor('garbage', () => lastState(g))).toMatchObject({ state: 'faulty', reason: 'protocol_error' });
    expect(await waitFor('hang-up', () => lastState(h))).toMatchObject({ state: 'unreachable', reason: 'closed' });
    await Promise.all([g.host.stop(), h.host.stop()]);
    await waitFor('no connection left open', () => garbage.sockets.size + hangup.sockets.size === 0);
  });
});
