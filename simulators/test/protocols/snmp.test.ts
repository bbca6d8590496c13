/**
 * The SNMP driver against the simulated school router, over real UDP on 127.0.0.1: rates
 * from 64-bit counters (v2c and v3 authPriv), a counter wrap, a reboot, a link going down,
 * an agent that stops answering, wrong credentials, peers that answer garbage, and junk
 * thrown at the simulator. Also the pure rate arithmetic on edge cases a router rarely shows.
 *
 * The router and the driver read one clock the test moves on by hand, so a rate test says
 * exactly how much time passed between two polls instead of sleeping and allowing for
 * how late the replies came. Nothing waits for a guess of how long something takes.
 */
import dgram, { type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { checkOrThrow, checkValues, loadProfiles, type MetricValues } from '@schoolops/device-profiles';
import { DeviceRunner, DriverError, classifyError, type DeviceHandle, type DeviceStatus, type Driver, type DriverDevice } from '@schoolops/edge-agent';
import { createSnmpDriver, deriveTraffic, snmpDriver, type SnmpOptions, type TrafficSample } from '../../../edge-agent/src/drivers/snmp.ts';
import { SnmpRouterSimulator, type SnmpRouterSimulatorOptions } from '../../src/protocols/snmp-agent.ts';

const profile = loadProfiles().get('mikrotik-hex-s')!;
const quiet = pino({ level: 'silent' });
const IN_BPS = 40_000_000;
const OUT_BPS = 8_000_000;
const USER = { name: 'schoolops', authProtocol: 'sha256', authKey: 'auth-secret-1', privProtocol: 'aes', privKey: 'priv-secret-1' } as const;
const V3: SnmpOptions = { version: '3', user: USER.name, authProtocol: 'sha256', authKey: USER.authKey, privProtocol: 'aes', privKey: USER.privKey };
/** Below 2 s apart the driver times rates with its own clock, at 2 s and more with the router's (sysUpTime). */
const OWN_CLOCK_MS = 1000;
const ROUTER_CLOCK_MS = 2100;
/** Fail fast where nothing will answer. */
const FAST = { timeoutMs: 200, retries: 0 } as const;
/**
 * One try where an answer (or the lack of one) is the point: long enough that an answer late
 * on a busy machine is never taken for silence.
 */
const ONE_TRY = { timeoutMs: 2000, retries: 0 } as const;

/**
 * The clock of the router and of the driver tests poll with: it moves only when the test
 * moves it (with nothing in flight), so both see exactly the same interval.
 */
const clock = { ms: 1_000_000 };
const elapse = (ms: number) => void (clock.ms += ms);
/** The driver on the test's clock; `snmpDriver` (real clock) runs under the DeviceRunner. */
const driver = createSnmpDriver({ now: () => clock.ms });

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function router(options: Partial<SnmpRouterSimulatorOptions> = {}): Promise<{ sim: SnmpRouterSimulator; port: number }> {
  const sim = new SnmpRouterSimulator({
    read: () => ({ inBps: IN_BPS, outBps: OUT_BPS, linkSpeedMbps: 100, linkUp: true }),
    uptimeS: 86_400,
    user: USER,
    now: () => clock.ms,
    ...options,
  });
  const port = await sim.start();
  cleanups.push(() => sim.stop());
  return { sim, port };
}

function device(port: number, options: SnmpOptions = {}, address: { ifIndex?: number; host?: string } = { ifIndex: 1 }): DriverDevice<'snmp', SnmpOptions> {
  const host = 'host' in address ? address.host : '127.0.0.1';
  return {
    record: { id: 'router-1', profileId: profile.id, roomId: 'server-room', address: { ...address, host, port } },
    profile,
    protocol: profile.protocol as DriverDevice<'snmp'>['protocol'],
    options,
    host,
    port,
    intervalMs: profile.reportIntervalSeconds * 1000,
    dataDir: undefined,
  };
}

function open(port: number, options: SnmpOptions = {}): DeviceHandle {
  const handle = driver.open({
    device: device(port, options),
    logger: quiet,
    signal: new AbortController().signal,
    report: () => undefined,
    ok: () => undefined,
    fail: () => undefined,
  });
  cleanups.push(() => handle.close());
  return handle;
}

/** A poll under a deadline as the runner sets one: long, answers on loopback take milliseconds. */
const poll = (handle: DeviceHandle) => handle.poll!(AbortSignal.timeout(10_000));
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The reason a poll failed with, as the runner would classify it. */
async function failure(promise: Promise<unknown>): Promise<{ reason: string; detail: string }> {
  try {
    await promise;
  } catch (error) {
    return classifyError(error);
  }
  throw new Error('the poll succeeded');
}

function near(actual: unknown, expected: number, tolerance: number): void {
  expect(typeof actual).toBe('number');
  expect(Math.abs((actual as number) - expected) / expected, `${actual} vs ${expected}`).toBeLessThan(tolerance);
}

/** Wait for a condition (never for a guess of how long it takes); the deadline only names what never came. */
async function until(what: string, condition: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A plain UDP server on an ephemeral port that answers every datagram with `reply(request)`. */
async function udpPeer(reply: (request: Buffer) => Buffer | null): Promise<{ port: number; received: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (message, rinfo) => {
    received.push(message);
    const answer = reply(message);
    if (answer) socket.send(answer, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, received };
}

/** Open UDP sockets of this process. */
const udpHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
/**
 * Open UDP sockets once those closed so far are gone: a socket's 'close' comes before its
 * handle goes, which is in the closing phase of the event loop, so let it turn twice.
 */
async function settledUdpHandles(): Promise<number> {
  await nextTurn();
  await nextTurn();
  return udpHandles();
}
/** Wait until exactly `n` are open. */
async function udpHandlesBecome(n: number): Promise<void> {
  await until(`${n} UDP sockets open`, () => udpHandles() === n).catch((error: Error) => {
    throw new Error(`${error.message}, ${udpHandles()} are`);
  });
}

describe('SNMP driver against the router simulator', () => {
  it('v2c: first poll reports link, speed and uptime; the next the model rates, over the router clock', async () => {
    const { port } = await router();
    const handle = open(port); // {} = v2c, community 'public'
    const first = await poll(handle);
    expect(first).toEqual({ linkUp: true, linkSpeedMbps: 100, uptimeS: expect.any(Number) });
    expect(first.uptimeS).toBeGreaterThanOrEqual(86_400);
    elapse(ROUTER_CLOCK_MS); // >= 2 s: the rate is taken over sysUpTime (hundredths of a second)
    const second = await poll(handle);
    near(second.inBps, IN_BPS, 0.01);
    near(second.outBps, OUT_BPS, 0.01);
    near(second.utilisationIn, 40, 0.01);
    near(second.utilisationOut, 8, 0.01);
    expect(second.uptimeS).toBe((first.uptimeS as number) + 2);
    expect(checkValues(profile, second)).toBeNull();
  });

  it('v3 authPriv (SHA-256, AES): the same rates over short intervals (our clock)', async () => {
    const { port } = await router();
    const handle = open(port, V3);
    await poll(handle);
    for (let i = 0; i < 2; i++) {
      elapse(OWN_CLOCK_MS);
      const values = await poll(handle);
      expect(values).toMatchObject({ inBps: IN_BPS, outBps: OUT_BPS, utilisationIn: 40, utilisationOut: 8 });
      expect(checkValues(profile, values)).toBeNull();
    }
  });

  it('a 64-bit counter that wraps between two polls still gives the right rate', async () => {
    // 40 Mbit/s is 5 MB/s: ifHCInOctets passes 2^64 0.8 s after start; ifHCOutOctets does not.
    const start = 2n ** 64n - 4_000_000n;
    const { sim, port } = await router({ counterStart: start });
    const handle = open(port);
    await poll(handle);
    expect(sim.counters().inOctets).toBe(start);
    elapse(OWN_CLOCK_MS);
    const values = await poll(handle);
    expect(sim.counters().inOctets).toBe(1_000_000n); // it did wrap
    expect(values).toMatchObject({ inBps: IN_BPS, outBps: OUT_BPS });
  });

  it('a reboot gives no rate and a small uptime, then rates resume', async () => {
    const { sim, port } = await router();
    const handle = open(port, V3);
    await poll(handle);
    elapse(OWN_CLOCK_MS);
    expect((await poll(handle)).inBps).toBe(IN_BPS);
    sim.inject('reboot');
    elapse(300);
    const rebooted = await poll(handle);
    expect(rebooted.inBps).toBeUndefined();
    expect(rebooted.outBps).toBeUndefined();
    expect(rebooted.uptimeS).toBe(0);
    expect(rebooted.linkUp).toBe(true);
    elapse(OWN_CLOCK_MS);
    const after = await poll(handle);
    expect(after).toMatchObject({ inBps: IN_BPS, outBps: OUT_BPS });
  });

  it('link down: linkUp false and no traffic; back up when cleared', async () => {
    const { sim, port } = await router();
    const handle = open(port);
    await poll(handle);
    elapse(300);
    sim.inject('link-down');
    expect(sim.active()).toEqual(['link-down']);
    elapse(300);
    // The interval that straddles the fault: traffic for the half before it.
    expect((await poll(handle)).inBps).toBe(IN_BPS / 2);
    elapse(300);
    const down = await poll(handle);
    expect(down).toMatchObject({ linkUp: false, inBps: 0, outBps: 0, utilisationIn: 0 });
    sim.clear('link-down');
    elapse(300);
    const up = await poll(handle);
    expect(up).toMatchObject({ linkUp: true, inBps: IN_BPS });
  });

  it('an agent that stops answering: the runner reports unreachable (timeout), then ok on the same port', async () => {
    const { sim, port } = await router();
    const statuses: DeviceStatus[] = [];
    const readings: MetricValues[] = [];
    const runner = new DeviceRunner({
      driver: snmpDriver as unknown as Driver,
      device: device(port, ONE_TRY) as unknown as DriverDevice,
      logger: quiet,
      intervalMs: 200,
      firstPollWithinMs: 0,
      onValues: (_id, values) => readings.push(values),
      onStatus: (_id, status) => statuses.push(status),
    });
    runner.start();
    cleanups.push(() => runner.stop());
    await until('a first reading', () => readings.length > 0);
    sim.inject('unreachable');
    await until('status unreachable', () => statuses.length > 0);
    expect(statuses[0]).toMatchObject({ state: 'unreachable', reason: 'timeout' });
    expect(sim.stats.dropped).toBeGreaterThan(0);
    const before = readings.length;
    sim.clear('unreachable');
    await until('status ok', () => statuses.at(-1)?.state === 'ok');
    await until('readings again', () => readings.length > before);
  });

  it('a reboot with downtime: the runner sees the router go silent and come back, and no rate spans the reboot', async () => {
    // The router boots until the test says it is up (clear), however long the runner takes to notice.
    const { sim, port } = await router({ rebootDowntimeMs: 3_600_000, now: undefined });
    const statuses: DeviceStatus[] = [];
    const readings: MetricValues[] = [];
    const restarts: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void restarts.push(String((JSON.parse(line) as { why?: string }).why)) });
    const runner = new DeviceRunner({
      driver: snmpDriver as unknown as Driver,
      device: device(port, { ...V3, ...ONE_TRY }) as unknown as DriverDevice,
      logger,
      intervalMs: 150,
      firstPollWithinMs: 0,
      onValues: (_id, values) => readings.push(values),
      onStatus: (_id, status) => statuses.push(status),
    });
    runner.start();
    cleanups.push(() => runner.stop());
    await until('rates', () => readings.some((r) => r.inBps !== undefined));
    sim.inject('reboot');
    expect(sim.active()).toEqual(['reboot']);
    const beforeReboot = readings.length;
    await until('status unreachable', () => statuses.some((s) => s.state === 'unreachable'));
    sim.clear('reboot');
    await until('status ok', () => statuses.at(-1)?.state === 'ok');
    await until('rates after the reboot', () => readings.slice(beforeReboot).some((r) => r.inBps !== undefined));
    for (const reading of readings) expect(checkValues(profile, reading)).toBeNull();
    // The first reading after the reboot (the one whose uptime went back; a reply on its way
    // as the router rebooted may still come after it was told to) has no rate: the driver
    // started over instead of differencing counters across the reboot.
    const uptimes = readings.map((r) => r.uptimeS as number);
    const rebooted = uptimes.findIndex((uptime, i) => i > 0 && uptime < uptimes[i - 1]!);
    expect(rebooted).toBeGreaterThanOrEqual(beforeReboot);
    expect(readings[rebooted]!.inBps).toBeUndefined();
    expect(uptimes.filter((uptime, i) => i > 0 && uptime < uptimes[i - 1]!)).toHaveLength(1);
    expect(restarts.filter((why) => /sysUpTime went back/.test(why))).toHaveLength(1);
  });

  it('SNMPv3 with a wrong key or an unknown user: faulty, auth_failed (the agent sends a USM report)', async () => {
    const { sim, port } = await router();
    const statuses: DeviceStatus[] = [];
    const runner = new DeviceRunner({
      driver: snmpDriver as unknown as Driver,
      device: device(port, { ...V3, authKey: 'not-the-key' }) as unknown as DriverDevice,
      logger: quiet,
      intervalMs: 200,
      firstPollWithinMs: 0,
      onValues: () => undefined,
      onStatus: (_id, status) => statuses.push(status),
    });
    runner.start();
    cleanups.push(() => runner.stop());
    await until('a status', () => statuses.length > 0);
    expect(statuses[0]).toMatchObject({ state: 'faulty', reason: 'auth_failed' });
    expect(statuses[0]!.detail).toMatch(/Wrong Digest/);
    expect(sim.stats.authFailures).toBeGreaterThan(0);

    expect(await failure(poll(open(port, { ...V3, privKey: 'not-the-privacy-key' })))).toMatchObject({ reason: 'auth_failed' });
    expect(await failure(poll(open(port, { ...V3, user: 'nobody' })))).toMatchObject({ reason: 'auth_failed', detail: expect.stringMatching(/Unknown User Name/) });
  });

  it('SNMPv2c with a wrong community: no answer at all, so timeout', async () => {
    const { port } = await router({ community: 'school-secret' });
    const wrong = await failure(poll(open(port, { community: 'public', ...FAST })));
    expect(wrong.reason).toBe('timeout');
    expect(wrong.detail).toMatch(/wrong community/);
    expect(await poll(open(port, { community: 'school-secret' }))).toMatchObject({ linkUp: true });
  });

  it('DES privacy: works where OpenSSL still has DES, else a protocol_error that says what to do', async () => {
    const { port } = await router({ user: { ...USER, privProtocol: 'des' } });
    const handle = open(port, { ...V3, privProtocol: 'des', ...ONE_TRY });
    try {
      expect(await poll(handle)).toMatchObject({ linkUp: true });
    } catch (error) {
      expect(classifyError(error)).toMatchObject({ reason: 'protocol_error', detail: expect.stringMatching(/DES.*privProtocol 'aes'.*openssl-legacy-provider/) });
    }
  });

  it('an interface the router does not have: device_error naming the OID', async () => {
    const { port } = await router();
    const handle = snmpDriver.open({
      device: device(port, {}, { ifIndex: 7 }),
      logger: quiet,
      signal: new AbortController().signal,
      report: () => undefined,
      ok: () => undefined,
      fail: () => undefined,
    });
    cleanups.push(() => handle.close());
    const error = await failure(poll(handle));
    expect(error.reason).toBe('device_error');
    expect(error.detail).toMatch(/1\.3\.6\.1\.2\.1\.31\.1\.1\.1\.6\.7/);
  });

  it('a peer that answers garbage: protocol_error, no crash, no socket left behind', async () => {
    const baseline = await settledUdpHandles();
    const junk = await udpPeer(() => Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const echo = await udpPeer((request) => request); // valid BER, but a request, not a response
    for (const peer of [junk, echo]) {
      const handle = open(peer.port, ONE_TRY);
      const error = await failure(poll(handle));
      expect(error.reason).toBe('protocol_error');
      // The session is replaced after a failure: the next poll asks again on a fresh socket.
      expect((await failure(poll(handle))).reason).toBe('protocol_error');
      await handle.close();
    }
    expect(junk.received.length).toBe(2);
    await udpHandlesBecome(baseline + 2); // the two peers, nothing of the driver's
  });

  it('nothing listening on the port: refused (ICMP port unreachable on the connected socket)', async () => {
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', () => resolve()));
    const port = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const error = await failure(poll(open(port, { timeoutMs: 10_000, retries: 0 })));
    expect(error.reason).toBe('refused');
  });

  it('an abort mid-request settles the poll at once and closes its socket', async () => {
    const { sim, port } = await router();
    sim.inject('unreachable');
    const baseline = await settledUdpHandles();
    const handle = open(port, { timeoutMs: 10_000, retries: 0 });
    const abort = new AbortController();
    const pending = handle.poll!(abort.signal);
    await udpHandlesBecome(baseline + 1); // the request's socket, bound
    abort.abort(new DriverError('timeout', 'test gave up'));
    // At once: settled before the event loop turns again, not after the 10 s timeout.
    const settled = await Promise.race([pending.then(() => 'answered', (error: unknown) => classifyError(error)), nextTurn().then(() => 'still waiting')]);
    expect(settled).toMatchObject({ reason: 'timeout', detail: 'test gave up' });
    await udpHandlesBecome(baseline);
  });

  it('the simulator survives junk datagrams and keeps answering', async () => {
    const { sim, port } = await router();
    // Real requests to mangle: what the driver sends (v2c GET, v3 discovery), caught by a silent peer.
    const recorder = await udpPeer(() => null);
    await failure(poll(open(recorder.port, FAST)));
    await failure(poll(open(recorder.port, { ...V3, ...FAST })));
    expect(recorder.received.length).toBe(2);
    const junk: Buffer[] = [Buffer.alloc(0), Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.alloc(60_000, 0x30), Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])];
    for (const real of recorder.received) {
      for (let cut = 1; cut < real.length; cut += 3) junk.push(real.subarray(0, cut));
      for (let i = 0; i < real.length; i++) {
        const flipped = Buffer.from(real);
        flipped[i] = flipped[i]! ^ 0xff;
        junk.push(flipped);
      }
    }
    for (let i = 0; i < 50; i++) junk.push(Buffer.from(Array.from({ length: 1 + ((i * 37) % 500) }, (_, j) => (i * 131 + j * 7) & 0xff)));
    const client: Socket = dgram.createSocket('udp4');
    cleanups.push(() => new Promise<void>((resolve) => client.close(() => resolve())));
    // One per turn of the event loop, in which the simulator reads what came: a burst would
    // overflow the socket's buffer, and a lost datagram tests nothing.
    for (const datagram of junk) {
      await new Promise((resolve) => client.send(datagram, port, '127.0.0.1', resolve));
      await nextTurn();
    }
    await until('the simulator read the junk', () => sim.stats.datagrams >= junk.length);
    expect(sim.stats.datagrams).toBe(junk.length);
    expect(sim.stats.malformed).toBeGreaterThan(0);
    const handle = open(port, V3);
    expect(await poll(handle)).toMatchObject({ linkUp: true, linkSpeedMbps: 100 });
    elapse(OWN_CLOCK_MS);
    expect((await poll(handle)).inBps).toBe(IN_BPS);
  });
});

describe('router simulator lifecycle', () => {
  it('start() on a port already taken rejects; stop() closes everything and can be called twice', async () => {
    const { sim, port } = await router();
    const baseline = await settledUdpHandles();
    const second = new SnmpRouterSimulator({ read: () => ({}), port });
    await expect(second.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await udpHandlesBecome(baseline);
    await sim.stop();
    await sim.stop();
    await udpHandlesBecome(baseline - 1);
  });
});

describe('SNMP driver configuration', () => {
  it('refuses at open a device without an ifIndex or a host', () => {
    const ctx = (d: DriverDevice<'snmp', SnmpOptions>) => ({
      device: d,
      logger: quiet,
      signal: new AbortController().signal,
      report: () => undefined,
      ok: () => undefined,
      fail: () => undefined,
    });
    expect(() => snmpDriver.open(ctx(device(161, {}, {})))).toThrow(/address\.ifIndex/);
    expect(() => snmpDriver.open(ctx(device(161, {}, { ifIndex: 1, host: undefined })))).toThrow(/address\.host/);
  });

  it('checks options as the agent does at start', () => {
    const check = (options: unknown) => checkOrThrow(snmpDriver.options!, options, 'router-1 options');
    expect(check({})).toEqual({});
    expect(check({ version: '2c', community: 'c' })).toBeTruthy();
    expect(check({ version: '3', user: 'u' })).toBeTruthy(); // noAuthNoPriv
    expect(check({ version: '3', user: 'u', authKey: '12345678', privKey: '12345678', privProtocol: 'aes256r' })).toBeTruthy();
    expect(() => check({ version: '3', user: 'u', privKey: '12345678' })).toThrow(); // privacy needs authentication
    expect(() => check({ version: '3', user: 'u', authKey: 'short' })).toThrow();
    expect(() => check({ version: '3', user: 'u', authKey: '12345678', authProtocol: 'sha1' })).toThrow();
    expect(() => check({ community: 'c', user: 'u' })).toThrow();
  });

  it('poll timeout leaves room for every try (and v3 discovery)', () => {
    expect(snmpDriver.pollTimeoutMs!(device(161, { timeoutMs: 1000, retries: 2 }))).toBeGreaterThanOrEqual(3000);
    expect(snmpDriver.pollTimeoutMs!(device(161, { ...V3, timeoutMs: 1000, retries: 2 }))).toBeGreaterThanOrEqual(6000);
  });
});

describe('rates from two samples', () => {
  const limits = { maxBps: 100e9 };
  const sample = (at: number, uptimeTicks: number, inOctets: bigint, extra: Partial<TrafficSample> = {}): TrafficSample => ({
    at,
    uptimeTicks,
    inOctets,
    outOctets: 0n,
    speedMbps: 100,
    operStatus: 1,
    ...extra,
  });

  it('uses sysUpTime over ten seconds even when the replies were delayed', () => {
    const prev = sample(0, 1_000_000, 0n);
    const cur = sample(10_400, 1_001_000, 50_000_000n); // 10 s of router time, 10.4 s of ours
    expect(deriveTraffic(prev, cur, limits).values).toMatchObject({ inBps: 40_000_000, utilisationIn: 40, linkUp: true, uptimeS: 10_010 });
  });

  it('keeps going across the 497-day sysUpTime wrap', () => {
    const prev = sample(0, 2 ** 32 - 500, 0n);
    const cur = sample(10_000, 500, 50_000_000n);
    expect(deriveTraffic(prev, cur, limits).values.inBps).toBe(40_000_000);
  });

  it('starts over when the uptime advanced less than the time that passed (rebooted between polls)', () => {
    const prev = sample(0, 3000, 900_000_000n);
    const cur = sample(60_000, 4000, 10_000_000n);
    const derived = deriveTraffic(prev, cur, limits);
    expect(derived.values.inBps).toBeUndefined();
    expect(derived.restarted).toMatch(/sysUpTime/);
    expect(derived.baseline).toBe(cur);
  });

  it('does not take a counter reset for a wrap', () => {
    const prev = sample(0, 0, 5_000_000_000n);
    const cur = sample(10_000, 1000, 1_000n);
    const derived = deriveTraffic(prev, cur, limits);
    expect(derived.values.inBps).toBeUndefined();
    expect(derived.restarted).toMatch(/in octet counter/);
  });

  it('omits utilisation when the speed is unknown, caps it at 100 %', () => {
    const zero = deriveTraffic(sample(0, 0, 0n, { speedMbps: 0 }), sample(10_000, 1000, 1_000_000n, { speedMbps: 0 }), limits).values;
    expect(zero.inBps).toBe(800_000);
    expect(zero.utilisationIn).toBeUndefined();
    const over = deriveTraffic(sample(0, 0, 0n, { speedMbps: 1 }), sample(10_000, 1000, 1_300_000n, { speedMbps: 1 }), limits).values;
    expect(over.utilisationIn).toBe(100);
  });

  it('reports link down for any ifOperStatus but up(1)', () => {
    for (const status of [2, 3, 5, 7]) expect(deriveTraffic(undefined, sample(0, 0, 0n, { operStatus: status }), limits).values.linkUp).toBe(false);
  });
});
