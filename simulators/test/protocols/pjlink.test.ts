/**
 * The PJLink driver against the PJLink projector simulator, over real TCP on 127.0.0.1
 * (ephemeral ports): every metric of class 1 and class 2 profiles, authentication, each
 * injected fault as the DeviceRunner reports it, commands changing the unit, the
 * simulator surviving hostile clients, and a new projector model added as a profile file.
 *
 * Tests wait for what they need to see, never for a guess of how long something takes; a
 * lamp's warm-up and cool-down run on a clock the test moves on by hand.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BUILTIN_PROFILES_DIR,
  checkValues,
  loadProfiles,
  type DeviceProfile,
  type MetricValue,
  type MetricValues,
} from '@schoolops/device-profiles';
import { DriverHost } from '../../../edge-agent/src/drivers/host.ts';
import { authDigest } from '../../../edge-agent/src/drivers/pjlink-protocol.ts';
import { pjlinkDriver, type PjlinkOptions } from '../../../edge-agent/src/drivers/pjlink.ts';
import { DeviceRunner, type DeviceStatus } from '../../../edge-agent/src/drivers/runner.ts';
import { DriverError, classifyError, type DeviceHandle, type Driver, type DriverDevice } from '../../../edge-agent/src/drivers/types.ts';
import { PjlinkSimulator, type PjlinkSetCommand, type PjlinkSimulatorOptions } from '../../src/protocols/pjlink-server.ts';

const profiles = loadProfiles();
const epson = profiles.get('epson-eb-x51')!;
const panasonic = profiles.get('panasonic-pt-tmz400')!;
const logger = pino({ level: 'silent' });

const sims: PjlinkSimulator[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  for (const sim of sims.splice(0)) await sim.stop();
});

/** A projector in a lesson: on, HDMI 1, lamp part way through its life, a dusty filter. */
function lessonTruth(): Record<string, MetricValue> {
  return {
    power: 'on',
    input: '31',
    avMute: false,
    lampHours: 1234,
    errorFan: 'ok',
    errorLamp: 'ok',
    errorTemperature: 'ok',
    errorCover: 'ok',
    errorFilter: 'warning',
    errorOther: 'ok',
  };
}

async function simulator(options: PjlinkSimulatorOptions = {}): Promise<PjlinkSimulator> {
  const sim = new PjlinkSimulator(options);
  sims.push(sim);
  await sim.start();
  return sim;
}

function deviceFor(profile: DeviceProfile, port: number, options: PjlinkOptions = {}): DriverDevice {
  if (profile.protocol.type !== 'pjlink') throw new Error('not a PJLink profile');
  return {
    record: { id: 'proj-101', profileId: profile.id, roomId: 'r101', address: { host: '127.0.0.1', port } },
    profile,
    protocol: profile.protocol,
    options,
    host: '127.0.0.1',
    port,
    intervalMs: profile.reportIntervalSeconds * 1000,
    dataDir: undefined,
  };
}

function open(profile: DeviceProfile, port: number, options: PjlinkOptions = {}): DeviceHandle {
  const handle = pjlinkDriver.open({
    device: deviceFor(profile, port, options) as DriverDevice<'pjlink', PjlinkOptions>,
    logger,
    signal: new AbortController().signal,
    report: () => undefined,
    ok: () => undefined,
    fail: () => undefined,
  });
  cleanups.push(() => handle.close());
  return handle;
}

/** Under a deadline as the runner sets one: long, the simulator answers on loopback in milliseconds. */
const poll = (handle: DeviceHandle, ms = 10_000) => handle.poll!(AbortSignal.timeout(ms));
const command = (handle: DeviceHandle, name: string, params: Record<string, MetricValue> = {}) =>
  handle.command!(name, params, AbortSignal.timeout(10_000));

/** The reason a rejected driver call carries. */
async function reasonOf(promise: Promise<unknown>): Promise<{ reason: string; detail: string }> {
  try {
    await promise;
  } catch (error) {
    return classifyError(error);
  }
  throw new Error('expected the call to fail');
}

/** Wait for a condition (never for a guess of how long it takes); the deadline only names what never came. */
async function until<T>(check: () => T | undefined | null | false, ms = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A DeviceRunner polling every 300 ms, as the agent runs it. */
function run(profile: DeviceProfile, port: number, options: PjlinkOptions = {}) {
  const statuses: DeviceStatus[] = [];
  const readings: MetricValues[] = [];
  const runner = new DeviceRunner({
    driver: pjlinkDriver as Driver,
    device: deviceFor(profile, port, options),
    logger,
    intervalMs: 300,
    firstPollWithinMs: 0,
    onValues: (_id, values) => readings.push(values),
    onStatus: (_id, status) => statuses.push(status),
  });
  runner.start();
  cleanups.push(() => runner.stop());
  return {
    runner,
    statuses,
    readings,
    /** Wait for a status with this state (and reason), newer than `after` statuses. */
    status: (state: string, reason?: string, after = 0) =>
      until(() => statuses.slice(after).find((s) => s.state === state && (reason === undefined || s.reason === reason)), undefined, `${state}/${reason}`),
    /** Wait for a reading, after the first `after`, that passes `check`. */
    reading: (check: (v: MetricValues) => boolean, after = 0) =>
      until(() => readings.slice(after).find(check), undefined, 'a matching reading'),
  };
}

/** A bare TCP client for speaking PJLink to the simulator by hand. */
async function rawClient(port: number) {
  const socket: Socket = net.connect({ host: '127.0.0.1', port });
  let received = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  cleanups.push(async () => void socket.destroy());
  return {
    socket,
    send: (text: string | Buffer) => socket.write(text),
    /** The next CR-terminated line. */
    line: async () => {
      const end = await until(() => (received.includes('\r') ? received.indexOf('\r') + 1 : 0), undefined, 'a line');
      const line = received.slice(0, end - 1);
      received = received.slice(end);
      return line;
    },
    closed: () => until(() => closed, undefined, 'the server to close the connection'),
  };
}

describe('PJLink driver reads the simulator', () => {
  it('class 1 with authentication: every metric of the Epson profile, valid for the profile', async () => {
    const truth = lessonTruth();
    const sim = await simulator({ password: 'secret1', read: () => truth });
    const values = await poll(open(epson, sim.port, { password: 'secret1' }));
    expect(values).toEqual(truth);
    expect(checkValues(epson, values)).toBeNull();
    // A class 1 profile never asks class 2 queries, nor the class.
    expect(sim.received.some((l) => l.startsWith('%2') || l.startsWith('%1CLSS'))).toBe(false);
    expect(sim.stats.authFailures).toBe(0);
  });

  it('class 1 without authentication, with and without a password configured', async () => {
    const truth = { ...lessonTruth(), power: 'off', avMute: false, input: '11' };
    const sim = await simulator({ read: () => truth });
    expect(await poll(open(epson, sim.port))).toEqual(truth);
    expect(await poll(open(epson, sim.port, { password: 'unused' }))).toEqual(truth);
  });

  it('class 2: filter hours, freeze and identity; identity is read once, the rest every poll', async () => {
    const truth = { ...lessonTruth(), lampHours: 8021, filterHours: 321, freeze: true };
    const sim = await simulator({
      pjlinkClass: 2,
      password: 'panasonic',
      read: () => truth,
      inputs: ['11', '12', '31', '32', '41', '51'],
      identity: { manufacturer: 'Panasonic', product: 'PT-TMZ400', serialNumber: 'DA1234567', softwareVersion: '1.10', filterModel: 'ET-RFL400' },
    });
    const handle = open(panasonic, sim.port, { password: 'panasonic' });
    const first = await poll(handle);
    expect(first).toEqual({ ...truth, serialNumber: 'DA1234567', softwareVersion: '1.10', filterModel: 'ET-RFL400' });
    expect(checkValues(panasonic, first)).toBeNull();
    truth.filterHours = 322;
    const second = await poll(handle);
    expect(second.filterHours).toBe(322);
    expect(second.serialNumber).toBe('DA1234567');
    const count = (line: string) => sim.received.filter((l) => l === line).length;
    expect(count('%1CLSS ?')).toBe(1);
    expect(count('%2SNUM ?')).toBe(1);
    expect(count('%2SVER ?')).toBe(1);
    expect(count('%2FILT ?')).toBe(2);
    // Class 2 devices are asked the class 2 form of INPT (inputs 6x and 1-9A-Z).
    expect(count('%2INPT ?')).toBe(2);
    expect(count('%1INPT ?')).toBe(0);
  });

  it('a class 2 profile on a class 1 unit reads the class 1 metrics and sends no class 2 query', async () => {
    const truth = lessonTruth();
    const sim = await simulator({ read: () => truth });
    const values = await poll(open(panasonic, sim.port));
    expect(values).toEqual(truth);
    expect(sim.received.filter((l) => l.startsWith('%2'))).toEqual([]);
  });

  it('skips a metric the unit cannot give now (ERR3 in standby), and fails only when every query is refused', async () => {
    const truth = { ...lessonTruth(), power: 'off' };
    const sim = await simulator({ read: () => truth, unavailableInStandby: ['LAMP', 'INPT'] });
    const values = await poll(open(epson, sim.port));
    expect(values.power).toBe('off');
    expect(values.errorFilter).toBe('warning');
    expect(values).not.toHaveProperty('lampHours');
    expect(values).not.toHaveProperty('input');

    const lampOnly: DeviceProfile = { ...epson, id: 'lamp-only', metrics: epson.metrics.filter((m) => m.name === 'lampHours') };
    const failure = await reasonOf(poll(open(lampOnly, sim.port)));
    expect(failure.reason).toBe('device_error');
    expect(failure.detail).toMatch(/LAMP=ERR3/);
  });

  it('destroys its socket when the poll is aborted (a unit that never greets)', async () => {
    const sim = await simulator({ read: lessonTruth });
    await sim.inject('hang');
    const handle = open(epson, sim.port);
    const failure = await reasonOf(poll(handle, 150));
    expect(failure.reason).toBe('timeout');
    expect(failure.detail).toMatch(/greeting/);
    await until(() => sim.openConnections === 0, undefined, 'the connection to close');
  });
});

describe('faults, as the DeviceRunner reports them', () => {
  it('lamp failure and overheat show in the values, and clear', async () => {
    const sim = await simulator({ password: 'pw', read: lessonTruth });
    const r = run(epson, sim.port, { password: 'pw' });
    await r.reading((v) => v.errorLamp === 'ok');
    await sim.inject('lamp-failure');
    const failed = await r.reading((v) => v.errorLamp === 'error');
    expect(failed.power).toBe('off'); // a dead lamp cannot stay lit
    await sim.inject('overheat');
    await r.reading((v) => v.errorTemperature === 'error');
    let seen = r.readings.length;
    await sim.clear('lamp-failure');
    await r.reading((v) => v.errorLamp === 'ok' && v.power === 'on' && v.errorTemperature === 'error', seen);
    seen = r.readings.length;
    await sim.clear();
    await r.reading((v) => v.errorTemperature === 'ok', seen);
    expect(r.statuses).toEqual([]); // the link itself was fine throughout
  });

  const linkFaults = [
    ['unreachable', 'unreachable', 'refused'],
    ['hang', 'unreachable', 'timeout'],
    ['garbage', 'faulty', 'protocol_error'],
    ['half-close', 'unreachable', 'closed'],
  ] as const;

  for (const [fault, state, reason] of linkFaults) {
    it(`${fault} -> ${state}/${reason}, and back to ok after clear()`, async () => {
      const sim = await simulator({ read: lessonTruth });
      const port = sim.port;
      const r = run(epson, port);
      await r.reading(() => true);
      await sim.inject(fault);
      await r.status(state, reason);
      const seen = r.statuses.length;
      const readings = r.readings.length;
      await sim.clear(fault);
      expect(sim.port).toBe(port);
      await r.status('ok', undefined, seen);
      await r.reading((v) => v.power === 'on', readings);
    });
  }

  it('garbage comes as binary lines and as endless lines; both are protocol errors', async () => {
    const sim = await simulator({ read: lessonTruth });
    await sim.inject('garbage');
    const handle = open(epson, sim.port);
    const details = [(await reasonOf(poll(handle))).detail, (await reasonOf(poll(handle))).detail];
    expect(details.some((d) => /longer than PJLink/.test(d))).toBe(true);
    expect(details.some((d) => /control or undecodable|not a PJLink answer/.test(d))).toBe(true);
    await until(() => sim.openConnections === 0, undefined, 'connections to close');
  });

  it('a wrong password -> faulty/auth_failed; no password for a unit that asks -> auth_failed saying so', async () => {
    const sim = await simulator({ password: 'right', read: lessonTruth });
    const wrong = run(epson, sim.port, { password: 'wrong' });
    const status = await wrong.status('faulty', 'auth_failed');
    expect(status.detail).toMatch(/ERRA/);
    expect(sim.stats.authFailures).toBeGreaterThan(0);

    const none = run(epson, sim.port);
    const missing = await none.status('faulty', 'auth_failed');
    expect(missing.detail).toMatch(/none is configured/);
    expect(wrong.readings).toEqual([]);
    expect(none.readings).toEqual([]);
  });

  it('reads the password from passwordFile, and refuses an unreadable one at open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pjlink-'));
    writeFileSync(join(dir, 'pw'), 'from-file\n');
    const sim = await simulator({ password: 'from-file', read: lessonTruth });
    expect((await poll(open(epson, sim.port, { passwordFile: join(dir, 'pw') }))).power).toBe('on');
    expect(() => open(epson, sim.port, { passwordFile: join(dir, 'missing') })).toThrow(DriverError);
  });
});

describe('commands', () => {
  it('travel to the unit and change what it reports', async () => {
    const truth = lessonTruth();
    const commands: PjlinkSetCommand[] = [];
    // The unit's clock: a lamp cools down and warms up only when the test moves it on.
    const clock = { ms: 1_000_000 };
    const sim = await simulator({ password: 'pw', read: () => truth, coolingMs: 400, warmingMs: 300, now: () => clock.ms, onCommand: (c) => commands.push(c) });
    const r = run(epson, sim.port, { password: 'pw' });
    await r.reading((v) => v.power === 'on');

    await r.runner.command('setInput', { input: '11' });
    await r.runner.command('setAvMute', { mute: true });
    await r.reading((v) => v.input === '11' && v.avMute === true);

    let seen = r.readings.length;
    await r.runner.command('powerOff', {});
    await r.reading((v) => v.power === 'cooling' && v.avMute === false, seen);
    clock.ms += 400;
    await r.reading((v) => v.power === 'off', seen);
    expect(sim.current().power).toBe('off');

    seen = r.readings.length;
    await r.runner.command('powerOn', {});
    await r.reading((v) => v.power === 'warming', seen);
    clock.ms += 300;
    await r.reading((v) => v.power === 'on', seen);
    expect(commands).toEqual([
      { type: 'input', input: '11' },
      { type: 'mute', video: true, audio: true },
      { type: 'power', on: false },
      { type: 'power', on: true },
    ]);

    // The room changes the input itself (a teacher at the remote): reality wins over the old command.
    truth.input = '32';
    expect(sim.current().input).toBe('32');
  });

  it('a refused command rejects with the reason, and bad parameters never reach the unit', async () => {
    const sim = await simulator({ read: () => ({ ...lessonTruth(), power: 'off' }) });
    const handle = open(epson, sim.port);
    // In standby a unit cannot switch input: ERR3.
    const standby = await reasonOf(command(handle, 'setInput', { input: '31' }));
    expect(standby).toMatchObject({ reason: 'device_error' });
    expect(standby.detail).toMatch(/ERR3/);
    // An input the unit does not have: ERR2.
    expect((await reasonOf(command(handle, 'setInput', { input: '59' }))).detail).toMatch(/ERR2/);
    // An injection attempt is refused before anything is sent.
    const before = sim.received.length;
    expect((await reasonOf(command(handle, 'setInput', { input: '3\r%1POWR 1' }))).reason).toBe('protocol_error');
    expect((await reasonOf(command(handle, 'reboot'))).reason).toBe('protocol_error');
    expect(sim.received.length).toBe(before);
    // A failed lamp cannot be switched on: ERR4.
    await sim.inject('lamp-failure');
    expect((await reasonOf(command(handle, 'powerOn'))).detail).toMatch(/ERR4/);
  });

  it('class 2 commands need a class 2 unit; a wrong password rejects a command with auth_failed', async () => {
    const class2 = await simulator({ pjlinkClass: 2, read: lessonTruth });
    const handle = open(panasonic, class2.port);
    await command(handle, 'setFreeze', { freeze: true });
    expect((await poll(handle)).freeze).toBe(true);
    expect(class2.received).toContain('%2FREZ 1');

    const class1 = await simulator({ read: lessonTruth, password: 'pw' });
    expect((await reasonOf(command(open(panasonic, class1.port, { password: 'pw' }), 'setFreeze', { freeze: true }))).reason).toBe(
      'device_error',
    );
    expect((await reasonOf(command(open(epson, class1.port, { password: 'nope' }), 'powerOff'))).reason).toBe('auth_failed');
  });
});

describe('PJLink simulator', () => {
  it('speaks PJLink: greeting, answers, ERR1/ERR2, class 2 only when class 2, idle close', async () => {
    const sim = await simulator({ read: lessonTruth });
    const c = await rawClient(sim.port);
    expect(await c.line()).toBe('PJLINK 0');
    c.send('%1POWR ?\r');
    expect(await c.line()).toBe('%1POWR=1');
    c.send('%1LAMP ?\r');
    expect(await c.line()).toBe('%1LAMP=1234 1');
    c.send('%1ERST ?\r');
    expect(await c.line()).toBe('%1ERST=000010');
    c.send('%1XYZW ?\r');
    expect(await c.line()).toBe('%1XYZW=ERR1');
    c.send('%1POWR 7\r');
    expect(await c.line()).toBe('%1POWR=ERR2');
    c.send('%1ERST 1\r');
    expect(await c.line()).toBe('%1ERST=ERR2');
    c.send('%2SNUM ?\r');
    expect(await c.line()).toBe('%2SNUM=ERR1');
    c.send('%1CLSS ?\r');
    expect(await c.line()).toBe('%1CLSS=1');
    // A connection that says nothing is closed after idleTimeoutMs. (Not the one above: a
    // short idle timeout would close it whenever a busy machine paused the test between lines.)
    const idle = await simulator({ read: lessonTruth, idleTimeoutMs: 300 });
    const quiet = await rawClient(idle.port);
    expect(await quiet.line()).toBe('PJLINK 0');
    await quiet.closed();
  });

  it('authenticates with MD5(random + password), and hangs up on a wrong digest', async () => {
    // The spec's own example.
    expect(authDigest('498e4a67', 'JBMIAProjectorLink')).toBe('5d8409bc1c3fa39749434aa3a5c38682');
    const sim = await simulator({ password: 'JBMIAProjectorLink', read: lessonTruth });
    const good = await rawClient(sim.port);
    const greeting = await good.line();
    expect(greeting).toMatch(/^PJLINK 1 [0-9a-f]{8}$/);
    const digest = createHash('md5').update(greeting.slice(9) + 'JBMIAProjectorLink').digest('hex');
    good.send(`${digest}%1INPT ?\r`);
    expect(await good.line()).toBe('%1INPT=31');
    good.send('%1AVMT ?\r'); // later commands on the same connection carry no digest
    expect(await good.line()).toBe('%1AVMT=30');

    const bad = await rawClient(sim.port);
    await bad.line();
    bad.send(`${'0'.repeat(32)}%1POWR ?\r`);
    expect(await bad.line()).toBe('PJLINK ERRA');
    await bad.closed();
  });

  it('survives oversized lines, binary junk and abrupt disconnects, and keeps serving', async () => {
    const sim = await simulator({ read: lessonTruth });
    const big = await rawClient(sim.port);
    await big.line();
    big.send(Buffer.alloc(4096, 0x41));
    await big.closed();
    expect(sim.stats.oversized).toBe(1);

    const junk = await rawClient(sim.port);
    await junk.line();
    junk.send(Buffer.from([0x00, 0xff, 0xfe, 0x25, 0x31, 0x0a, 0x0d, 0x80, 0x0d]));
    junk.send('%1POWR ?\r');
    expect(await junk.line()).toBe('%1POWR=1'); // junk lines get no answer; the connection lives on
    expect(sim.stats.badLines).toBeGreaterThan(0);

    const abrupt = await rawClient(sim.port);
    abrupt.send('%1PO');
    abrupt.socket.resetAndDestroy();
    for (let i = 0; i < 5; i++) {
      const hit = net.connect({ host: '127.0.0.1', port: sim.port });
      hit.on('error', () => undefined);
      hit.on('connect', () => hit.destroy());
    }

    expect((await poll(open(epson, sim.port))).power).toBe('on');
    await until(() => sim.openConnections === 1, undefined, 'only the junk client to stay connected');
  });
});

describe('a new PJLink projector model is a profile file, no code', () => {
  it('loads a profile from another folder and the same driver reads a unit through it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pjlink-profiles-'));
    const sony: DeviceProfile = {
      id: 'sony-vpl-ex455',
      kind: 'display',
      vendor: 'Sony',
      model: 'VPL-EX455',
      name: { vi: 'Máy chiếu Sony VPL-EX455', en: 'Sony VPL-EX455 projector' },
      protocol: { type: 'pjlink', port: 4352, pjlinkClass: 1, auth: true },
      reportIntervalSeconds: 60,
      metrics: [
        { name: 'power', type: 'enum', unit: '', values: ['off', 'on', 'cooling', 'warming'], description: { vi: 'Nguồn', en: 'Power' } },
        { name: 'lampHours', type: 'integer', unit: 'h', min: 0, max: 99999, description: { vi: 'Giờ bóng đèn', en: 'Lamp hours' } },
        { name: 'lampOn', type: 'boolean', unit: '', description: { vi: 'Bóng đèn sáng', en: 'Lamp lit' } },
        { name: 'errorLamp', type: 'enum', unit: '', values: ['ok', 'warning', 'error'], description: { vi: 'Lỗi bóng đèn', en: 'Lamp error' } },
        { name: 'productName', type: 'string', unit: '', description: { vi: 'Tên sản phẩm', en: 'Product name' } },
      ],
      health: { offlineAfterMissed: 3, rules: [] },
      commands: [{ name: 'powerOff', description: { vi: 'Tắt', en: 'Power off' } }],
    };
    writeFileSync(join(dir, 'sony-vpl-ex455.json'), JSON.stringify(sony, null, 2));
    writeFileSync(join(dir, 'password'), 'JBMIAProjectorLink\n');
    const registry = loadProfiles([BUILTIN_PROFILES_DIR, dir]);
    const profile = registry.get('sony-vpl-ex455')!;
    expect(registry.has('epson-eb-x51')).toBe(true);

    const sim = await simulator({
      password: 'JBMIAProjectorLink',
      read: () => ({ ...lessonTruth(), lampHours: 2750 }),
      identity: { manufacturer: 'SONY', product: 'VPL-EX455' },
    });
    const readings: MetricValues[] = [];
    const record = {
      id: 'proj-201',
      profileId: profile.id,
      roomId: 'r201',
      address: { host: '127.0.0.1', port: sim.port },
      options: { passwordFile: join(dir, 'password') },
    };
    const drivers = new Map([['pjlink', pjlinkDriver as Driver]] as const);
    const hostOptions = {
      drivers,
      logger,
      intervalMs: 300,
      firstPollWithinMs: 0,
      onValues: (_id: string, values: MetricValues) => readings.push(values),
      onStatus: () => undefined,
    };
    // The driver's options schema guards the gateway config.
    expect(() => new DriverHost({ ...hostOptions, devices: [{ record: { ...record, options: { pasword: 'x' } }, profile }] })).toThrow(
      /proj-201.*options.*unknown field/,
    );

    const host = new DriverHost({ ...hostOptions, devices: [{ record, profile }] });
    host.start();
    cleanups.push(() => host.stop());
    const values = await until(() => readings[0], undefined, 'a reading');
    expect(values).toEqual({ power: 'on', lampHours: 2750, lampOn: true, errorLamp: 'ok', productName: 'VPL-EX455' });
    expect(checkValues(profile, values)).toBeNull();
    // Only what the profile asks for goes on the wire.
    expect(new Set(sim.received)).toEqual(new Set(['%1POWR ?', '%1LAMP ?', '%1ERST ?', '%1INF2 ?']));
    await host.command('proj-201', 'powerOff', {});
    expect(sim.current().power).toBe('cooling');
  });
});
