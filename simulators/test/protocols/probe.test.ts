/**
 * The link probe driver against the simulated internet, over real sockets on 127.0.0.1:
 * a healthy line, a lossy one, an outage and its end, services down, a slow resolver, the
 * throughput budget, garbage and silent peers, abort, and options the driver must refuse.
 *
 * No test here bounds a time by a guess of how fast this machine is. A time measured
 * through the simulated line is bounded below by what the line guarantees (a line that
 * delays 20 ms cannot measure less) and above by the wall time the poll took, measured
 * around it. The statistics (median, jitter, loss) and the throughput arithmetic are
 * checked with numbers and an injected clock. Timeouts in the options are long wherever
 * an answer is expected: a late answer on a busy machine must not count as lost.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { pino, type Logger } from 'pino';
import { FileError, checkOrThrow, checkValues, loadProfiles, type DeviceProfile, type MetricValues } from '@schoolops/device-profiles';
import { DriverError, DriverHost, type DeviceHandle, type Driver, type DriverDevice, type ProtocolOf } from '@schoolops/edge-agent';
import { DEAD_LINE_GRACE_MS, createProbeDriver, probeDriver, type ProbeOptions } from '../../../edge-agent/src/drivers/probe.ts';
import { measureThroughput } from '../../../edge-agent/src/drivers/probe-http.ts';
import { summarize } from '../../../edge-agent/src/drivers/probe-latency.ts';
import { mulberry32 } from '../../src/district/random.ts';
import { SimulatedInternet, lineDelay, type SimulatedInternetOptions } from '../../src/protocols/internet.ts';
import { RCODE, readDnsRequest, writeDnsQuery } from '../../src/protocols/internet-dns.ts';

const profile = loadProfiles().get('schoolops-link-probe')!;
const logger = pino({ level: 'silent' });
const KB = 1024;
/** The throughput endpoint's chunk: what may be on its way when the client hangs up. */
const CHUNK = 16 * KB;
/**
 * How much sooner than asked a timer may fire against performance.now(): libuv counts whole
 * milliseconds. The simulator's pacing also lets a chunk go 1 ms before it is due.
 */
const TIMER_ROUNDING_MS = 1;
const PACING_EARLY_MS = 1;

// ---- helpers ------------------------------------------------------------------------------

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function internet(options: SimulatedInternetOptions = {}): Promise<SimulatedInternet> {
  const sim = new SimulatedInternet({ seed: 7, ...options });
  cleanups.push(() => sim.stop());
  await sim.start();
  return sim;
}

function deviceFor(options: unknown, p: DeviceProfile = profile): DriverDevice<'probe', ProbeOptions> {
  return {
    record: { id: 'probe-1', profileId: p.id, roomId: 'server-room' },
    profile: p,
    protocol: p.protocol as ProtocolOf<'probe'>,
    options: checkOrThrow(probeDriver.options!, options, 'device probe-1 options') as ProbeOptions,
    host: undefined,
    port: undefined,
    intervalMs: p.reportIntervalSeconds * 1000,
    dataDir: undefined,
  };
}

interface Probe {
  handle: DeviceHandle;
  timeoutMs: number;
  /**
   * One poll, values checked against the profile; `ms` is the wall time it took, measured
   * around it. Under the driver's own timeout, as the runner does it, unless a signal is given.
   */
  poll(signal?: AbortSignal): Promise<{ values: MetricValues; ms: number }>;
}

function openProbe(options: unknown, o: { profile?: DeviceProfile; logger?: Logger; driver?: Driver<'probe', ProbeOptions> } = {}): Probe {
  const p = o.profile ?? profile;
  const driver = o.driver ?? probeDriver;
  const device = deviceFor(options, p);
  const stop = new AbortController();
  cleanups.push(() => stop.abort());
  const handle = driver.open({ device, logger: o.logger ?? logger, signal: stop.signal, report() {}, ok() {}, fail() {} });
  const timeoutMs = driver.pollTimeoutMs!(device);
  return {
    handle,
    timeoutMs,
    async poll(signal = AbortSignal.timeout(timeoutMs)) {
      const t0 = performance.now();
      const values = await handle.poll!(signal);
      const ms = performance.now() - t0;
      expect(checkValues(p, values)).toBeNull();
      return { values, ms };
    },
  };
}

/** A signal that never fires: a poll under it ends only when every check has ended by itself. */
const never = () => new AbortController().signal;

/**
 * Quick settings: short spacing keeps each poll well under a second. Timeouts are long: they
 * cost nothing when the answers come, and a late answer must not count as lost. Tests of
 * lost answers set their own.
 */
function quick(sim: SimulatedInternet, overrides: Partial<ProbeOptions> = {}): ProbeOptions {
  const o = sim.probeOptions();
  return {
    ...o,
    count: 10,
    spacingMs: 10,
    probeTimeoutMs: 5_000,
    dns: { ...o.dns, timeoutMs: 5_000 },
    http: o.http!.map((c) => ({ ...c, timeoutMs: 5_000 })),
    throughput: { url: o.throughput!.url, maxBytes: 512 * KB, maxSeconds: 10 },
    ...overrides,
  };
}

const udpOnly = (sim: SimulatedInternet) => sim.probeOptions().targets!.filter((t) => t.method === 'udp-echo');
const tcpOnly = (sim: SimulatedInternet) => sim.probeOptions().targets!.filter((t) => t.method === 'tcp-connect');

/**
 * A time measured through the line: no less than the line's delay (timer rounding aside),
 * no more than the wall time of the poll it was measured in (results are rounded to 0.01 ms).
 */
function expectTimed(value: unknown, lineMs: number, pollMs: number): void {
  expect(typeof value, `${String(value)}`).toBe('number');
  expect(value as number).toBeGreaterThanOrEqual(lineMs - TIMER_ROUNDING_MS);
  expect(value as number).toBeLessThanOrEqual(pollMs + 0.01);
}

/** The least time `bytes` take at `mbps` through the simulator's paced endpoint, ms. */
const pacedMs = (bytes: number, mbps: number) => (bytes * 8) / (mbps * 1000) - PACING_EARLY_MS - TIMER_ROUNDING_MS;
/** The most the paced endpoint can have written in `ms`: what is due by then, and the chunk going early. */
const pacedBytes = (ms: number, mbps: number) => ((ms + PACING_EARLY_MS + TIMER_ROUNDING_MS) * mbps * 1000) / 8 + CHUNK;
/** The least rate `bytes` downloaded within `ms` of wall time come to (rounded down as the driver rounds). */
const atLeastMbps = (bytes: number, ms: number) => Math.floor(((bytes * 8) / (ms / 1000) / 1e6) * 100) / 100 - 0.01;

/** Wait for a condition (never for a guess of how long it takes); the deadline only names what never came. */
async function until(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sockets of this process, by kind: a poll must leave none behind. */
function openSockets(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) if (/UDP|TCP/.test(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** Wait until this process has exactly these sockets open (those closed a moment ago go at a later turn of the loop). */
async function socketsBecome(expected: Record<string, number>, what: string): Promise<void> {
  await until(`${what}: ${JSON.stringify(expected)} sockets open`, () => isDeepStrictEqual(openSockets(), expected)).catch((error: Error) => {
    throw new Error(`${error.message}, found ${JSON.stringify(openSockets())}`);
  });
}

/** A logger that keeps what the driver logs at debug level. */
function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { logger: pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }), lines };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as AddressInfo).port;
}

/**
 * A UDP client that keeps every datagram it gets. Each send waits for a turn of the event
 * loop, in which the servers of this process read what came: a burst would overflow a
 * socket's buffer, and a datagram the kernel drops tests nothing.
 */
async function udpClient(): Promise<{ received: Buffer[]; send(packet: Buffer, port: number): Promise<void> }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  const received: Buffer[] = [];
  socket.on('message', (msg) => received.push(msg));
  return {
    received,
    async send(packet, port) {
      await new Promise<void>((resolve) => socket.send(packet, port, '127.0.0.1', () => resolve()));
      await new Promise<void>((resolve) => setImmediate(resolve));
    },
  };
}

// ---- the statistics -------------------------------------------------------------------------

describe('link probe statistics', () => {
  it('takes the median round trip, RFC 3550 style jitter within each target, and the share lost', () => {
    // A steady line: no jitter at all.
    expect(summarize([[20, 20, 20, 20]])).toEqual({ sent: 4, answered: 4, lossPct: 0, latencyMs: 20, jitterMs: 0 });
    // 20, 40, 20, 40, 20: every consecutive difference is 20; the median is 20.
    expect(summarize([[20, 40, 20, 40, 20]])).toEqual({ sent: 5, answered: 5, lossPct: 0, latencyMs: 20, jitterMs: 20 });
    // A lost probe counts as loss; the answers either side of it are still consecutive.
    expect(summarize([[10, null, 14, null]])).toEqual({ sent: 4, answered: 2, lossPct: 50, latencyMs: 12, jitterMs: 4 });
    expect(summarize([[10, null, 10]])).toMatchObject({ lossPct: 33.3 });
    // Two targets: the median over every answer, differences only within a target.
    expect(summarize([[10, 10, 10], [50, 50, 50]])).toEqual({ sent: 6, answered: 6, lossPct: 0, latencyMs: 30, jitterMs: 0 });
    // One answer: a latency but no pair for a jitter; none: neither.
    expect(summarize([[33.333]])).toEqual({ sent: 1, answered: 1, lossPct: 0, latencyMs: 33.33 });
    expect(summarize([[null, null]])).toEqual({ sent: 2, answered: 0, lossPct: 100 });
    expect(summarize([])).toEqual({ sent: 0, answered: 0, lossPct: 100 });
  });

  it("reads the simulated line's jitter back: delay ± 1.5 x jitter comes out near the jitter", () => {
    // The simulator's own draws (seeded), through the probe's statistics.
    const rng = mulberry32(7);
    const rtts = Array.from({ length: 2000 }, () => lineDelay(50, 20, rng));
    const { latencyMs, jitterMs } = summarize([rtts]);
    expect(latencyMs).toBeGreaterThan(47);
    expect(latencyMs).toBeLessThan(53);
    expect(jitterMs).toBeGreaterThan(19);
    expect(jitterMs).toBeLessThan(21);
    // A steady line draws the same delay every time.
    expect(summarize([Array.from({ length: 10 }, () => lineDelay(20, 0, rng))])).toMatchObject({ latencyMs: 20, jitterMs: 0 });
  });

  it('computes throughput as body bytes over the time from the response headers to the last byte', async () => {
    const sim = await internet({ impairments: { delayMs: 1, jitterMs: 0, bandwidthMbps: 0 } });
    const url = sim.probeOptions().throughput!.url;
    // The clock says: headers at 1000 ms, the last byte at 1100 ms.
    const clock = [1_000, 1_100];
    const result = await measureThroughput({ url, maxBytes: 256 * KB, maxSeconds: 10 }, never(), () => clock.shift()!);
    expect(clock).toEqual([]);
    expect(result).toEqual({ ok: true, bytes: 256 * KB, seconds: 0.1, mbps: (256 * KB * 8) / 0.1 / 1e6 });
  });
});

// ---- the line -------------------------------------------------------------------------------

describe('link probe on a healthy line', () => {
  it('measures latency, DNS, services and throughput, within the download budget', async () => {
    const sim = await internet({ impairments: { delayMs: 20, jitterMs: 0, lossPct: 0, bandwidthMbps: 40 } });
    const probe = openProbe(quick(sim, { targets: udpOnly(sim) }));
    const { values, ms } = await probe.poll();

    expect(values.wanUp).toBe(true);
    expect(values.lossPct).toBe(0);
    expectTimed(values.latencyMs, 20, ms);
    // A steady line's jitter is the machine's timer noise: some, never more than the poll.
    expectTimed(values.jitterMs, 0, ms);
    // The resolver answers after the line's delay.
    expectTimed(values.dnsMs, 20, ms);
    expect(values.dnsFailed).toBe(0);
    expect(values.httpOk).toBe(true);
    expect(values.httpFailed).toBe(0);
    // Two round trips: handshake and request.
    expectTimed(values.httpMs, 40, ms);
    // Paced at 40 Mbit/s: 512 KB take at least 105 ms (loopback unpaced would be far faster),
    // and the rate measured within the poll is at least the budget over the poll's time.
    expect(ms).toBeGreaterThanOrEqual(pacedMs(512 * KB, 40));
    expect(values.throughputMbps).toBeGreaterThanOrEqual(atLeastMbps(512 * KB, ms));
    // The budget: asked with a Range, the server sent what was asked for, not its 10 MB.
    expect(sim.stats.throughputBytes).toBe(512 * KB);

    // The throughput test runs once an hour, not every poll.
    const again = await probe.poll();
    expect(again.values.throughputMbps).toBeUndefined();
    expect(again.values.wanUp).toBe(true);
    expect(sim.stats.throughputBytes).toBe(512 * KB);
  });

  it('runs the throughput test again once everySeconds have passed on its clock', async () => {
    const sim = await internet({ impairments: { delayMs: 1, jitterMs: 0, bandwidthMbps: 0 } });
    let skippedMs = 0;
    const driver = createProbeDriver({ now: () => performance.now() + skippedMs });
    const url = sim.probeOptions().throughput!.url;
    const probe = openProbe(quick(sim, { targets: udpOnly(sim), dns: { names: [] }, http: [], throughput: { url, maxBytes: 64 * KB, everySeconds: 3600 } }), { driver });
    expect((await probe.poll()).values.throughputMbps).toBeGreaterThan(0);
    expect((await probe.poll()).values.throughputMbps).toBeUndefined();
    skippedMs += 3600 * 1000;
    expect((await probe.poll()).values.throughputMbps).toBeGreaterThan(0);
    expect((await probe.poll()).values.throughputMbps).toBeUndefined();
    expect(sim.stats.throughputBytes).toBe(2 * 64 * KB);
  });

  it('reports the jitter the line has', async () => {
    const sim = await internet({ impairments: { delayMs: 50, jitterMs: 20, lossPct: 0 } });
    const probe = openProbe(quick(sim, { targets: udpOnly(sim), count: 30, spacingMs: 10, dns: { names: [] }, http: [], throughput: undefined }));
    const { values, ms } = await probe.poll();
    expect(values.lossPct).toBe(0);
    // Every delay the line draws is within 50 ± 1.5 x 20 ms. (How near the jitter comes to
    // 20 ms is the statistics' part, checked above with the line's own draws.)
    expectTimed(values.latencyMs, 50 - 1.5 * 20, ms);
    expectTimed(values.jitterMs, 0, ms);
    expect(values.jitterMs).toBeGreaterThan(0);
  });

  it('cuts a download at the budget when the server ignores Range', async () => {
    const sim = await internet({ rangeRequests: false, impairments: { delayMs: 2, jitterMs: 0, bandwidthMbps: 20 } });
    const url = sim.probeOptions().throughput!.url;
    const probe = openProbe(quick(sim, { targets: udpOnly(sim), throughput: { url, maxBytes: 256 * KB, maxSeconds: 10 } }));
    const t0 = performance.now();
    const { values, ms } = await probe.poll();
    expect(ms).toBeGreaterThanOrEqual(pacedMs(256 * KB, 20));
    expect(values.throughputMbps).toBeGreaterThanOrEqual(atLeastMbps(256 * KB, ms));
    // The server would send 10 MB; the client hung up at its budget and the server stopped:
    // once nothing of it is in flight, what it sent is final, and no more than its pace
    // allowed in the time all this took (a chunk or two past the budget, whatever the load).
    await until('the download to end on the server', () => sim.inFlight === 0);
    const sent = sim.stats.throughputBytes;
    expect(sent).toBeGreaterThanOrEqual(256 * KB);
    expect(sent).toBeLessThanOrEqual(pacedBytes(performance.now() - t0, 20));
    // The client counts exactly its budget, whatever came in the last chunk.
    expect(await measureThroughput({ url, maxBytes: 100 * KB, maxSeconds: 10 }, never())).toMatchObject({ ok: true, bytes: 100 * KB });
    // A small page served with 200 is no measurement of the line.
    const sso = sim.probeOptions().http!.find((c) => c.name === 'sso')!.url;
    expect(await measureThroughput({ url: sso, maxBytes: 1024 * KB, maxSeconds: 10 }, never())).toMatchObject({ ok: false, error: /too few/ });
  });

  it('times TCP handshakes, and counts a refusal as an answer (the path works)', async () => {
    const sim = await internet();
    const closed = createServer();
    const closedPort = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    const probe = openProbe(
      quick(sim, { targets: [...tcpOnly(sim), { host: '127.0.0.1', port: closedPort, method: 'tcp-connect' }], dns: { names: [] }, http: [], throughput: undefined }),
    );
    const { values, ms } = await probe.poll();
    expect(values.wanUp).toBe(true);
    expect(values.lossPct).toBe(0);
    // Loopback completes a handshake in the kernel: no delay of the line's to bound it below.
    expectTimed(values.latencyMs, 0, ms);
  });
});

describe('link probe on a bad line', () => {
  it('measures 30 % loss as roughly 30 %', async () => {
    const sim = await internet({ impairments: { delayMs: 5, jitterMs: 0 } });
    await sim.inject('loss');
    const probe = openProbe(quick(sim, { targets: udpOnly(sim), count: 100, spacingMs: 2, probeTimeoutMs: 2_000, dns: { names: [] }, http: [], throughput: undefined }));
    const { values } = await probe.poll();
    expect(values.wanUp).toBe(true);
    // 100 probes at p = 0.3 (seeded): 15..45 is more than three standard deviations either side.
    expect(values.lossPct).toBeGreaterThan(15);
    expect(values.lossPct).toBeLessThan(45);

    await sim.clear('loss');
    expect((await probe.poll()).values.lossPct).toBe(0);
  });

  it('reports an outage as wanUp=false, 100 % loss, every check ending on its own, and recovers after it', async () => {
    const sim = await internet({ impairments: { delayMs: 5, jitterMs: 0 } });
    const url = sim.probeOptions().throughput!.url;
    const probe = openProbe(quick(sim, { count: 5, spacingMs: 20, probeTimeoutMs: 1_000, throughput: { url, maxBytes: 64 * KB, maxSeconds: 1 } }));
    await sim.inject('outage');

    // No deadline from outside: the poll ends only if every check gives up on its own timer,
    // so the runner never has to cut it.
    const down = await probe.poll(never());
    expect(down.values.wanUp).toBe(false);
    expect(down.values.lossPct).toBe(100);
    expect(down.values.latencyMs).toBeUndefined();
    expect(down.values.httpOk).toBe(false);
    expect(down.values.httpFailed).toBe(3);
    expect(down.values.dnsFailed).toBe(2);
    expect(down.values.dnsMs).toBeUndefined();
    expect(down.values.throughputMbps).toBeUndefined();

    await sim.clear();
    const up = await probe.poll();
    expect(up.values.wanUp).toBe(true);
    expect(up.values.lossPct).toBe(0);
    expect(up.values.httpOk).toBe(true);
    expect(up.values.dnsFailed).toBe(0);
  });

  it('reports a dead line without waiting out the DNS and HTTP timeouts', async () => {
    const sim = await internet({ impairments: { delayMs: 5, jitterMs: 0 } });
    // The checks' own timeouts as a real gateway has them: HTTP 5 s, DNS 2 s.
    const o = sim.probeOptions();
    const { logger: debug, lines } = recordingLogger();
    const probe = openProbe(
      { ...o, count: 5, spacingMs: 20, probeTimeoutMs: 300, dns: { ...o.dns, timeoutMs: 2_000 }, http: o.http!.map((c) => ({ ...c, timeoutMs: 5_000 })), throughput: undefined },
      { logger: debug },
    );
    await sim.inject('outage');
    const down = await probe.poll(never());
    expect(down.values).toMatchObject({ wanUp: false, lossPct: 100, httpOk: false, dnsFailed: 2 });
    // Every latency probe lost: the HTTP checks were cut after DEAD_LINE_GRACE_MS, shorter
    // than their own timeouts, rather than giving up after those.
    expect(DEAD_LINE_GRACE_MS).toBeLessThan(2_000);
    const httpFailures = lines.filter((l) => l.msg === 'http check failed');
    expect(httpFailures.map((l) => [l.check, l.error])).toEqual([
      ['moet', 'aborted'],
      ['lms', 'aborted'],
      ['sso', 'aborted'],
    ]);
  });

  it('still calls the line up when only the latency probes are blocked and the services answer', async () => {
    const sim = await internet({ impairments: { delayMs: 5, jitterMs: 0 } });
    // Latency probes at a UDP port where nothing answers, as behind a firewall dropping them.
    const blocked = await new Promise<number>((resolve) => {
      const s = createSocket('udp4');
      s.bind(0, '127.0.0.1', () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const probe = openProbe(quick(sim, { targets: [{ host: '127.0.0.1', port: blocked, method: 'udp-echo' }], probeTimeoutMs: 300, throughput: undefined }));
    const { values } = await probe.poll();
    expect(values.lossPct).toBe(100);
    expect(values.httpOk).toBe(true);
    expect(values.wanUp).toBe(true);
  });

  it('tells services down from a line down, and sees a slow resolver', async () => {
    const sim = await internet({ impairments: { delayMs: 5, jitterMs: 0 }, slowDnsMs: 400 });
    await sim.inject('http-down');
    await sim.inject('slow-dns');
    const probe = openProbe(quick(sim, { throughput: undefined }));
    const { values, ms } = await probe.poll();
    expect(values.wanUp).toBe(true);
    expect(values.lossPct).toBe(0);
    expect(values.httpOk).toBe(false);
    expect(values.httpFailed).toBe(3);
    expectTimed(values.httpMs, 2 * 5, ms);
    // The line's 5 ms and the resolver's 400 more.
    expectTimed(values.dnsMs, 5 + 400, ms);
    expect(values.dnsFailed).toBe(0);
  });

  it('follows the link-probe value model through read()', async () => {
    // The resolver's time is its own (dnsMs), not the line's (latencyMs): here the slower of
    // the two, so the bound below tells them apart.
    let line: MetricValues = { wanUp: true, latencyMs: 35, jitterMs: 0, lossPct: 0, dnsMs: 80 };
    const sim = await internet({ read: () => line });
    // Probes lost once the line is down wait 1 s each, not quick()'s 5 s.
    const probe = openProbe(quick(sim, { targets: udpOnly(sim), probeTimeoutMs: 1_000, http: [], throughput: undefined }));
    const { values, ms } = await probe.poll();
    expectTimed(values.latencyMs, 35, ms);
    expectTimed(values.dnsMs, 80, ms);
    line = { ...line, wanUp: false };
    const down = await probe.poll();
    expect(down.values.wanUp).toBe(false);
    expect(down.values.lossPct).toBe(100);
  });
});

// ---- the simulator's DNS server ----------------------------------------------------------------

describe('simulated DNS server', () => {
  it('answers A queries, NXDOMAIN and NODATA, and survives garbage', async () => {
    const sim = await internet({ impairments: { delayMs: 1, jitterMs: 0 } });
    const resolver = new Resolver({ timeout: 5_000, tries: 1 });
    resolver.setServers([`127.0.0.1:${sim.ports.dns}`]);
    expect(await resolver.resolve4('moet.gov.vn')).toEqual(['203.0.113.10']);
    expect(await resolver.resolve4('LMS.District.Edu.VN')).toEqual(['203.0.113.20']);
    await expect(resolver.resolve4('no-such-school.example')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve6('moet.gov.vn')).rejects.toMatchObject({ code: 'ENODATA' });

    // The server answers in the order it reads, each after the line's same 1 ms: once the
    // answer to a query sent last is in, every datagram before it has been dealt with.
    const client = await udpClient();
    const ids = () => client.received.map((b) => b.readUInt16BE(0));
    const answerTo = async (id: number): Promise<Buffer> => {
      await until(`the answer to query ${id}`, () => ids().includes(id));
      return client.received.find((b) => b.readUInt16BE(0) === id)!;
    };
    const ask = async (packet: Buffer, id: number): Promise<Buffer> => {
      await client.send(packet, sim.ports.dns);
      return answerTo(id);
    };

    // Garbage: random datagrams of every size, and one too big to read at all.
    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
    const malformedBefore = sim.stats.dnsMalformed;
    let notQueries = 0;
    for (let i = 0; i < 300; i++) {
      const b = Buffer.alloc(Math.floor(rand() * 600));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rand() * 256);
      if (readDnsRequest(b).kind !== 'query') notQueries++;
      await client.send(b, sim.ports.dns);
    }
    await client.send(Buffer.alloc(3000, 1), sim.ports.dns);
    await ask(writeDnsQuery(0x0101, 'moet.gov.vn'), 0x0101);
    // Every one was read, and refused or answered with an error code.
    expect(notQueries).toBeGreaterThan(290);
    expect(sim.stats.dnsMalformed - malformedBefore).toBe(notQueries);
    const malformedAfterFlood = sim.stats.dnsMalformed;

    const twoQuestions = writeDnsQuery(0x1234, 'moet.gov.vn');
    twoQuestions.writeUInt16BE(2, 4);
    const formErr = await ask(twoQuestions, 0x1234);
    expect(formErr.readUInt16BE(2) & 0x8000).toBe(0x8000);
    expect(formErr.readUInt16BE(2) & 0x0f).toBe(RCODE.formErr);

    const pointer = Buffer.concat([writeDnsQuery(0x2345, '').subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
    expect((await ask(pointer, 0x2345)).readUInt16BE(2) & 0x0f).toBe(RCODE.formErr);
    const truncated = writeDnsQuery(0x3456, 'moet.gov.vn').subarray(0, 20);
    expect((await ask(truncated, 0x3456)).readUInt16BE(2) & 0x0f).toBe(RCODE.formErr);
    const notQuery = writeDnsQuery(0x4567, 'moet.gov.vn');
    notQuery.writeUInt16BE(0x2100, 2); // opcode 4 (NOTIFY)
    expect((await ask(notQuery, 0x4567)).readUInt16BE(2) & 0x0f).toBe(RCODE.notImp);

    // A response is never answered (two servers would ping-pong), nor is a runt: by the time
    // the query sent after them is answered, an answer to them would have come first.
    const response = writeDnsQuery(0x5678, 'moet.gov.vn');
    response.writeUInt16BE(0x8000, 2);
    await client.send(response, sim.ports.dns);
    await client.send(Buffer.from([1, 2, 3]), sim.ports.dns);
    const answer = await ask(writeDnsQuery(0x6789, 'csdl.moet.gov.vn'), 0x6789);
    // (Before 0x0101 came the error answers to the flood, with whatever ids it carried.)
    expect(ids().slice(ids().indexOf(0x0101))).toEqual([0x0101, 0x1234, 0x2345, 0x3456, 0x4567, 0x6789]);
    expect(answer.readUInt16BE(6)).toBe(1);
    expect([...answer.subarray(-4)].join('.')).toBe('203.0.113.11');
    expect(sim.stats.dnsMalformed).toBeGreaterThan(malformedAfterFlood);
    // Still serving after all that.
    expect(await resolver.resolve4('sso.district.edu.vn')).toEqual(['203.0.113.30']);
  });
});

describe('simulated web and echo servers', () => {
  it('survive garbage, odd ranges and floods, and keep serving', async () => {
    const sim = await internet({ impairments: { delayMs: 1, jitterMs: 0, bandwidthMbps: 0 } });
    const base = `http://127.0.0.1:${sim.ports.http}`;
    // Not HTTP at all, then a header too big: each connection is dropped, the server lives.
    for (const junk of ['\x16\x03\x01 hello tls?\r\n\r\n', `GET / HTTP/1.1\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`]) {
      const closed = await new Promise<boolean>((resolve) => {
        const socket = createConnection(sim.ports.http, '127.0.0.1', () => socket.end(junk));
        socket.on('error', () => resolve(true)).on('close', () => resolve(true)).resume();
      });
      expect(closed).toBe(true);
    }
    expect((await fetch(`${base}/throughput?bytes=-5`, { headers: { range: 'bytes=0-99' } })).status).toBe(206);
    expect((await fetch(`${base}/throughput?bytes=1000`, { headers: { range: 'bytes=5000-' } })).status).toBe(416);
    const whole = await fetch(`${base}/throughput?bytes=70000`);
    expect((await whole.arrayBuffer()).byteLength).toBe(70_000);
    expect((await fetch(`${base}/moet`, { method: 'POST', body: 'x' })).status).toBe(405);
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
    expect(await (await fetch(`${base}/moet`)).text()).toContain('Bộ Giáo dục và Đào tạo');

    // The echo reflector echoes what it gets (RFC 862), ignores what is too big to be a probe:
    // it echoes in order after the same 1 ms, so the big one's echo would have come first.
    const client = await udpClient();
    await client.send(Buffer.alloc(4000, 1), sim.ports.echo);
    await client.send(Buffer.from('xin chào'), sim.ports.echo);
    await until('the echo', () => client.received.length > 0);
    expect(client.received.map((b) => b.toString())).toEqual(['xin chào']);
  });
});

// ---- misbehaving peers, abort, resources -----------------------------------------------------------

describe('link probe against misbehaving peers', () => {
  it('counts garbage echoes and silent or garbage HTTP peers as failures, and leaves no socket open', async () => {
    // Those of earlier tests closed (a closed handle goes at a later turn of the event loop).
    await socketsBecome({}, 'earlier tests closed');
    // An "echo" server that answers every datagram with junk, a short copy, and a wrong session.
    const liar: UdpSocket = createSocket('udp4');
    liar.on('message', (msg, rinfo) => {
      liar.send(Buffer.from('garbage'), rinfo.port, rinfo.address);
      liar.send(msg.subarray(0, 10), rinfo.port, rinfo.address);
      const wrong = Buffer.from(msg);
      wrong.writeUInt32BE((wrong.readUInt32BE(4) ^ 1) >>> 0, 4);
      liar.send(wrong, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => liar.bind(0, '127.0.0.1', resolve));
    // HTTP peers: one accepts and never says a word, one speaks nonsense.
    const held: Socket[] = [];
    const silent = createServer((s) => held.push(s.on('error', () => undefined)));
    const babbler = createServer((s) => s.on('error', () => undefined).resume().end('HELLO THERE\r\n\r\n'));
    const silentPort = await listen(silent);
    const babblerPort = await listen(babbler);

    const probe = openProbe({
      targets: [{ host: '127.0.0.1', port: liar.address().port, method: 'udp-echo' }],
      count: 5,
      spacingMs: 5,
      probeTimeoutMs: 200,
      dns: { names: [] },
      http: [
        { name: 'silent', url: `http://127.0.0.1:${silentPort}/`, timeoutMs: 300 },
        { name: 'babbler', url: `http://127.0.0.1:${babblerPort}/`, timeoutMs: 300 },
      ],
      throughput: { url: `http://127.0.0.1:${babblerPort}/throughput`, maxSeconds: 1 },
    });
    const { values } = await probe.poll();
    expect(values).toMatchObject({ wanUp: false, lossPct: 100, httpOk: false, httpFailed: 2 });
    expect(values.throughputMbps).toBeUndefined();

    for (const s of held) s.destroy();
    await new Promise<void>((resolve) => liar.close(() => resolve()));
    for (const fn of cleanups.splice(0).reverse()) await fn();
    await socketsBecome({}, 'the peers and every socket of the poll closed');
  });

  it('stops at once when aborted, closing its sockets', async () => {
    await socketsBecome({}, 'earlier tests closed');
    const sim = await internet({ impairments: { delayMs: 5, jitterMs: 0 } });
    const during = openSockets();
    const device = deviceFor(quick(sim, { count: 100, spacingMs: 20, throughput: undefined }));
    const handle = probeDriver.open({ device, logger, signal: new AbortController().signal, report() {}, ok() {}, fail() {} });
    const abort = new AbortController();
    const polling = handle.poll!(abort.signal);
    await until('probes on the line', () => sim.stats.echoRequests > 0);
    abort.abort(new Error('agent stopping'));
    // At once: the poll settles before the event loop turns again, waiting for no probe's
    // timer and no answer.
    const settled = await Promise.race([polling.then(() => 'resolved', (error: unknown) => error), new Promise((r) => setImmediate(() => r('still running')))]);
    expect(settled).toMatchObject({ message: 'agent stopping' });
    await socketsBecome(during, 'the poll\'s sockets closed');
  });
});

// ---- options ---------------------------------------------------------------------------------------

describe('link probe options', () => {
  it('refuses bad options with the field and the reason', () => {
    const bad: [unknown, RegExp][] = [
      [{ count: 0 }, /device probe-1 options: \/count: must be >= 1/],
      [{ targets: [{ host: '10.0.0.1', port: 70000, method: 'udp-echo' }] }, /\/targets\/0\/port: must be <= 65535/],
      [{ targets: [{ host: '10.0.0.1', port: 7, method: 'icmp' }] }, /\/targets\/0\/method/],
      [{ dns: { server: 'dns.google' } }, /\/dns\/server: must match pattern/],
      [{ http: [{ name: 'moet', url: 'ftp://moet.gov.vn/' }] }, /\/http\/0\/url: must match pattern/],
      [{ throughput: { url: 'http://district/speed', maxBytes: 10 } }, /\/throughput\/maxBytes: must be >= 1024/],
      [{ targets: [], pingCount: 3 }, /options: \/: (unknown field "pingCount"|must NOT have additional properties)/],
    ];
    for (const [options, message] of bad) expect(() => deviceFor(options)).toThrow(message);
    expect(() => deviceFor({ count: 0 })).toThrow(FileError);
  });

  it('applies defaults in code and bounds the poll by the checks configured', () => {
    const plain = deviceFor({});
    // Default: 10 TCP probes 100 ms apart, 1 s wait (1.9 s), DNS 2 s, no HTTP, no throughput, + 1 s.
    expect(probeDriver.pollTimeoutMs!(plain)).toBe(3_000);
    const withUrl = { ...plain, record: { ...plain.record, address: { url: 'https://moet.gov.vn/' } } };
    expect(probeDriver.pollTimeoutMs!(withUrl)).toBe(6_000);
    expect(probeDriver.pollTimeoutMs!(deviceFor({ throughput: { url: 'http://district.example/speed' } }))).toBe(13_000);
  });

  it('refuses at open what the schema cannot see, and reports only what the profile declares', async () => {
    expect(() => probeDriver.open({ device: deviceFor({ dns: { server: '999.1.1.1' } }), logger, signal: new AbortController().signal, report() {}, ok() {}, fail() {} })).toThrow(
      DriverError,
    );
    expect(() =>
      probeDriver.open({ device: deviceFor({ targets: [], dns: { names: [] }, http: [] }), logger, signal: new AbortController().signal, report() {}, ok() {}, fail() {} }),
    ).toThrow(/nothing to measure/);

    const sim = await internet({ impairments: { delayMs: 1, jitterMs: 0 } });
    const latencyOnly: DeviceProfile = { ...profile, id: 'acme-probe', protocol: { type: 'probe', checks: ['latency'] }, metrics: profile.metrics.filter((m) => m.name !== 'httpOk') };
    const { values } = await openProbe(quick(sim, { targets: udpOnly(sim) }), { profile: latencyOnly }).poll();
    expect(Object.keys(values).sort()).toEqual(['jitterMs', 'latencyMs', 'lossPct', 'wanUp']);
  });

  it('runs under the agent: options checked by the host, values accepted by the profile', async () => {
    const sim = await internet({ impairments: { delayMs: 2, jitterMs: 0 } });
    const drivers = new Map([['probe' as const, probeDriver as never]]);
    const record = { id: 'probe-1', profileId: profile.id, roomId: 'server-room', options: quick(sim) as unknown as Record<string, unknown> };
    expect(
      () => new DriverHost({ devices: [{ record: { ...record, options: { count: -1 } }, profile }], drivers, logger, onValues() {}, onStatus() {} }),
    ).toThrow(/device probe-1 \(devices\[0\]\) options: \/count/);

    const statuses: unknown[] = [];
    const got = new Promise<MetricValues>((resolve) => {
      const host = new DriverHost({
        devices: [{ record, profile }],
        drivers,
        logger,
        intervalMs: 60_000,
        firstPollWithinMs: 0,
        onValues: (_id, values) => resolve(values),
        onStatus: (_id, status) => statuses.push(status),
      });
      cleanups.push(() => host.stop());
      host.start();
    });
    const values = await got;
    expect(checkValues(profile, values)).toBeNull();
    expect(values).toMatchObject({ wanUp: true, lossPct: 0, httpOk: true, dnsFailed: 0 });
    expect(values.throughputMbps).toBeGreaterThan(0);
    expect(statuses).toEqual([]);
  });
});
