/**
 * The link probe driver against the simulated internet, over real sockets on 127.0.0.1:
 * a healthy line, a lossy one, an outage and its end, services down, a slow resolver, the
 * throughput budget, garbage and silent peers, abort, and options the driver must refuse.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { FileError, checkOrThrow, checkValues, loadProfiles, type DeviceProfile, type MetricValues } from '@schoolops/device-profiles';
import { DriverError, DriverHost, type DeviceHandle, type DriverDevice, type ProtocolOf } from '@schoolops/edge-agent';
import { probeDriver, type ProbeOptions } from '../../../edge-agent/src/drivers/probe.ts';
import { measureThroughput } from '../../../edge-agent/src/drivers/probe-http.ts';
import { SimulatedInternet, type SimulatedInternetOptions } from '../../src/protocols/internet.ts';
import { RCODE, writeDnsQuery } from '../../src/protocols/internet-dns.ts';

const profile = loadProfiles().get('schoolops-link-probe')!;
const logger = pino({ level: 'silent' });
const KB = 1024;

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
  /** One poll under the driver's own timeout, as the runner does it; values checked against the profile. */
  poll(): Promise<{ values: MetricValues; ms: number }>;
}

function openProbe(options: unknown, p: DeviceProfile = profile): Probe {
  const device = deviceFor(options, p);
  const stop = new AbortController();
  cleanups.push(() => stop.abort());
  const handle = probeDriver.open({ device, logger, signal: stop.signal, report() {}, ok() {}, fail() {} });
  const timeoutMs = probeDriver.pollTimeoutMs!(device);
  return {
    handle,
    timeoutMs,
    async poll() {
      const t0 = performance.now();
      const values = await handle.poll!(AbortSignal.timeout(timeoutMs));
      expect(checkValues(p, values)).toBeNull();
      return { values, ms: performance.now() - t0 };
    },
  };
}

/** Quick settings: short spacing and timeouts keep each poll well under a second. */
function quick(sim: SimulatedInternet, overrides: Partial<ProbeOptions> = {}): ProbeOptions {
  const o = sim.probeOptions();
  return {
    ...o,
    count: 10,
    spacingMs: 10,
    probeTimeoutMs: 400,
    dns: { ...o.dns, timeoutMs: 400 },
    http: o.http!.map((c) => ({ ...c, timeoutMs: 600 })),
    throughput: { url: o.throughput!.url, maxBytes: 512 * KB, maxSeconds: 2 },
    ...overrides,
  };
}

const udpOnly = (sim: SimulatedInternet) => sim.probeOptions().targets!.filter((t) => t.method === 'udp-echo');
const tcpOnly = (sim: SimulatedInternet) => sim.probeOptions().targets!.filter((t) => t.method === 'tcp-connect');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sockets of this process, by kind: a poll must leave none behind. */
function openSockets(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) if (/UDP|TCP/.test(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as AddressInfo).port;
}

// ---- the line -------------------------------------------------------------------------------

describe('link probe on a healthy line', () => {
  it('measures latency, DNS, services and throughput, within the download budget', async () => {
    const sim = await internet({ impairments: { delayMs: 20, jitterMs: 0, lossPct: 0, bandwidthMbps: 40 } });
    const probe = openProbe(quick(sim, { targets: udpOnly(sim) }));
    const { values } = await probe.poll();

    expect(values.wanUp).toBe(true);
    expect(values.lossPct).toBe(0);
    expect(values.latencyMs).toBeGreaterThanOrEqual(19.5);
    expect(values.latencyMs).toBeLessThan(50);
    // A steady line: what is left is timer noise (more of it on a busy machine).
    expect(values.jitterMs).toBeLessThan(10);
    // The resolver answers after the line's delay (upper bounds leave room for a busy machine).
    expect(values.dnsMs).toBeGreaterThanOrEqual(19);
    expect(values.dnsMs).toBeLessThan(150);
    expect(values.dnsFailed).toBe(0);
    expect(values.httpOk).toBe(true);
    expect(values.httpFailed).toBe(0);
    // Two round trips: handshake and request.
    expect(values.httpMs).toBeGreaterThanOrEqual(39);
    // Paced at 40 Mbit/s: a busy machine only makes it slower, loopback unpaced would be far faster.
    expect(values.throughputMbps).toBeGreaterThan(40 * 0.5);
    expect(values.throughputMbps).toBeLessThan(40 * 1.2);
    // The budget: the server sent what was asked for, not its 10 MB.
    expect(sim.stats.throughputBytes).toBeGreaterThanOrEqual(512 * KB);
    expect(sim.stats.throughputBytes).toBeLessThanOrEqual(512 * KB + 16 * KB);

    // The throughput test runs once an hour, not every poll.
    const again = await probe.poll();
    expect(again.values.throughputMbps).toBeUndefined();
    expect(again.values.wanUp).toBe(true);
    expect(sim.stats.throughputBytes).toBeLessThanOrEqual(512 * KB + 16 * KB);
  });

  it('reports the jitter the line has', async () => {
    const sim = await internet({ impairments: { delayMs: 50, jitterMs: 20, lossPct: 0 } });
    const probe = openProbe(quick(sim, { targets: udpOnly(sim), count: 30, spacingMs: 10, dns: { names: [] }, http: [], throughput: undefined }));
    const { values } = await probe.poll();
    // Wide bounds: a busy machine adds its own delay and jitter to every timer.
    expect(values.latencyMs).toBeGreaterThan(40);
    expect(values.latencyMs).toBeLessThan(90);
    // RFC 3550 style jitter of delay ± 1.5 x 20 ms comes out near 20 ms; a steady line gives ~0.
    expect(values.jitterMs).toBeGreaterThan(12);
    expect(values.jitterMs).toBeLessThan(40);
  });

  it('cuts a download at the budget when the server ignores Range', async () => {
    const sim = await internet({ rangeRequests: false, impairments: { delayMs: 2, jitterMs: 0, bandwidthMbps: 20 } });
    const probe = openProbe(quick(sim, { targets: udpOnly(sim), throughput: { url: sim.probeOptions().throughput!.url, maxBytes: 256 * KB, maxSeconds: 5 } }));
    const { values } = await probe.poll();
    expect(values.throughputMbps).toBeGreaterThan(20 * 0.5);
    expect(values.throughputMbps).toBeLessThan(20 * 1.3);
    const sent = sim.stats.throughputBytes;
    // The server would send 10 MB; the client hung up at its budget (a chunk or two in flight).
    expect(sent).toBeGreaterThanOrEqual(256 * KB);
    expect(sent).toBeLessThanOrEqual(256 * KB + 64 * KB);
    // ... and the server stopped there: a loaded machine may flush a chunk it had queued, no more.
    await sleep(300);
    expect(sim.stats.throughputBytes).toBeLessThanOrEqual(256 * KB + 64 * KB);
    // A small page served with 200 is no measurement of the line.
    const sso = sim.probeOptions().http!.find((c) => c.name === 'sso')!.url;
    expect(await measureThroughput({ url: sso, maxBytes: 1024 * KB, maxSeconds: 1 }, new AbortController().signal)).toMatchObject({ ok: false, error: /too few/ });
  });

  it('times TCP handshakes, and counts a refusal as an answer (the path works)', async () => {
    const sim = await internet();
    const closed = createServer();
    const closedPort = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    const probe = openProbe(
      // 2 s per handshake, not quick()'s 400 ms: on a loaded CI machine one in twenty took longer.
      quick(sim, { targets: [...tcpOnly(sim), { host: '127.0.0.1', port: closedPort, method: 'tcp-connect' }], probeTimeoutMs: 2_000, dns: { names: [] }, http: [], throughput: undefined }),
    );
    const { values } = await probe.poll();
    expect(values.wanUp).toBe(true);
    expect(values.lossPct).toBe(0);
    expect(values.latencyMs).toBeLessThan(20);
  });
});

describe('link probe on a bad line', () => {
  it('measures 30 % loss as roughly 30 %', async () => {
    const sim = await internet({ impairments: { delayMs: 5, jitterMs: 0 } });
    await sim.inject('loss');
    const probe = openProbe(quick(sim, { targets: udpOnly(sim), count: 100, spacingMs: 2, probeTimeoutMs: 300, dns: { names: [] }, http: [], throughput: undefined }));
    const { values } = await probe.poll();
    expect(values.wanUp).toBe(true);
    // 100 probes at p = 0.3: 15..45 is more than three standard deviations either side.
    expect(values.lossPct).toBeGreaterThan(15);
    expect(values.lossPct).toBeLessThan(45);

    await sim.clear('loss');
    expect((await probe.poll()).values.lossPct).toBe(0);
  });

  it('reports an outage as wanUp=false, 100 % loss, within its poll timeout, and recovers after it', async () => {
    const sim = await internet({ impairments: { delayMs: 5, jitterMs: 0 } });
    const probe = openProbe(quick(sim, { count: 5, spacingMs: 20, probeTimeoutMs: 300, throughput: { url: sim.probeOptions().throughput!.url, maxBytes: 64 * KB, maxSeconds: 1 } }));
    await sim.inject('outage');

    const down = await probe.poll();
    expect(down.values.wanUp).toBe(false);
    expect(down.values.lossPct).toBe(100);
    expect(down.values.latencyMs).toBeUndefined();
    expect(down.values.httpOk).toBe(false);
    expect(down.values.httpFailed).toBe(3);
    expect(down.values.dnsFailed).toBe(2);
    expect(down.values.dnsMs).toBeUndefined();
    expect(down.values.throughputMbps).toBeUndefined();
    // Every check gave up on its own timer: the poll ended before the runner had to cut it.
    expect(down.ms).toBeLessThan(probe.timeoutMs);
    expect(probe.timeoutMs).toBeLessThan(5_000);

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
    const probe = openProbe({ ...o, count: 5, spacingMs: 20, probeTimeoutMs: 300, dns: { ...o.dns, timeoutMs: 2_000 }, http: o.http!.map((c) => ({ ...c, timeoutMs: 5_000 })), throughput: undefined });
    await sim.inject('outage');
    const down = await probe.poll();
    expect(down.values).toMatchObject({ wanUp: false, lossPct: 100, httpOk: false, dnsFailed: 2 });
    // Latency gives up after ~0.4 s; DNS and HTTP then get DEAD_LINE_GRACE_MS (1 s), not 2-5 s.
    expect(down.ms).toBeLessThan(2_500);
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
    const probe = openProbe(quick(sim, { targets: [{ host: '127.0.0.1', port: blocked, method: 'udp-echo' }], throughput: undefined }));
    const { values } = await probe.poll();
    expect(values.lossPct).toBe(100);
    expect(values.httpOk).toBe(true);
    expect(values.wanUp).toBe(true);
  });

  it('tells services down from a line down, and sees a slow resolver', async () => {
    const sim = await internet({ impairments: { delayMs: 5, jitterMs: 0 }, slowDnsMs: 400 });
    await sim.inject('http-down');
    await sim.inject('slow-dns');
    const probe = openProbe(quick(sim, { dns: { ...sim.probeOptions().dns, timeoutMs: 2_000 }, throughput: undefined }));
    const { values } = await probe.poll();
    expect(values.wanUp).toBe(true);
    expect(values.lossPct).toBe(0);
    expect(values.httpOk).toBe(false);
    expect(values.httpFailed).toBe(3);
    expect(values.httpMs).toBeGreaterThanOrEqual(9);
    expect(values.dnsMs).toBeGreaterThanOrEqual(400);
    expect(values.dnsFailed).toBe(0);
  });

  it('follows the link-probe value model through read()', async () => {
    let line: MetricValues = { wanUp: true, latencyMs: 35, jitterMs: 0, lossPct: 0, dnsMs: 4 };
    const sim = await internet({ read: () => line });
    const probe = openProbe(quick(sim, { targets: udpOnly(sim), http: [], throughput: undefined }));
    const { values } = await probe.poll();
    expect(values.latencyMs).toBeGreaterThanOrEqual(34.5);
    expect(values.latencyMs).toBeLessThan(45);
    // The resolver's own 4 ms, not the line's 35 ms (a loaded CI machine adds ~10 ms).
    expect(values.dnsMs).toBeLessThan(30);
    line = { ...line, wanUp: false };
    const down = await probe.poll();
    expect(down.values.wanUp).toBe(false);
    expect(down.values.lossPct).toBe(100);
  });
});

// ---- the simulator's DNS server ----------------------------------------------------------------

describe('simulated DNS server', () => {
  async function ask(port: number, packet: Buffer, waitMs = 300): Promise<Buffer | null> {
    const socket = createSocket('udp4');
    try {
      return await new Promise<Buffer | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), waitMs);
        socket.on('message', (msg) => {
          clearTimeout(timer);
          resolve(msg);
        });
        socket.send(packet, port, '127.0.0.1');
      });
    } finally {
      socket.close();
    }
  }

  it('answers A queries, NXDOMAIN and NODATA, and survives garbage', async () => {
    const sim = await internet({ impairments: { delayMs: 1, jitterMs: 0 } });
    const resolver = new Resolver({ timeout: 500, tries: 1 });
    resolver.setServers([`127.0.0.1:${sim.ports.dns}`]);
    expect(await resolver.resolve4('moet.gov.vn')).toEqual(['203.0.113.10']);
    expect(await resolver.resolve4('LMS.District.Edu.VN')).toEqual(['203.0.113.20']);
    await expect(resolver.resolve4('no-such-school.example')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve6('moet.gov.vn')).rejects.toMatchObject({ code: 'ENODATA' });

    // Garbage: random datagrams of every size, and crafted malformed queries.
    const junk = createSocket('udp4');
    cleanups.push(() => new Promise<void>((resolve) => junk.close(() => resolve())));
    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
    for (let i = 0; i < 300; i++) {
      const b = Buffer.alloc(Math.floor(rand() * 600));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rand() * 256);
      junk.send(b, sim.ports.dns, '127.0.0.1');
    }
    junk.send(Buffer.alloc(3000, 1), sim.ports.dns, '127.0.0.1');
    // Let the flood drain: the kernel drops datagrams beyond the socket's buffer, ours too.
    await sleep(100);
    expect(sim.stats.dnsMalformed).toBeGreaterThan(100);
    const malformedBefore = sim.stats.dnsMalformed;

    const twoQuestions = writeDnsQuery(0x1234, 'moet.gov.vn');
    twoQuestions.writeUInt16BE(2, 4);
    const formErr = await ask(sim.ports.dns, twoQuestions);
    expect(formErr?.readUInt16BE(0)).toBe(0x1234);
    expect(formErr!.readUInt16BE(2) & 0x8000).toBe(0x8000);
    expect(formErr!.readUInt16BE(2) & 0x0f).toBe(RCODE.formErr);

    const pointer = Buffer.concat([writeDnsQuery(0x2345, '').subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
    expect(((await ask(sim.ports.dns, pointer))!.readUInt16BE(2) & 0x0f)).toBe(RCODE.formErr);
    const truncated = writeDnsQuery(0x3456, 'moet.gov.vn').subarray(0, 20);
    expect(((await ask(sim.ports.dns, truncated))!.readUInt16BE(2) & 0x0f)).toBe(RCODE.formErr);
    const notQuery = writeDnsQuery(0x4567, 'moet.gov.vn');
    notQuery.writeUInt16BE(0x2100, 2); // opcode 4 (NOTIFY)
    expect(((await ask(sim.ports.dns, notQuery))!.readUInt16BE(2) & 0x0f)).toBe(RCODE.notImp);
    // A response is never answered (two servers would ping-pong), nor is a runt.
    const response = writeDnsQuery(0x5678, 'moet.gov.vn');
    response.writeUInt16BE(0x8000, 2);
    expect(await ask(sim.ports.dns, response, 150)).toBeNull();
    expect(await ask(sim.ports.dns, Buffer.from([1, 2, 3]), 150)).toBeNull();

    const answer = await ask(sim.ports.dns, writeDnsQuery(0x6789, 'csdl.moet.gov.vn'));
    expect(answer?.readUInt16BE(6)).toBe(1);
    expect([...answer!.subarray(-4)].join('.')).toBe('203.0.113.11');
    expect(sim.stats.dnsMalformed).toBeGreaterThan(malformedBefore);
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

    // The echo reflector echoes what it gets (RFC 862), ignores what is too big to be a probe.
    const client = createSocket('udp4');
    cleanups.push(() => new Promise<void>((resolve) => client.close(() => resolve())));
    const echoed: Buffer[] = [];
    client.on('message', (msg) => echoed.push(msg));
    client.send(Buffer.alloc(4000, 1), sim.ports.echo, '127.0.0.1');
    client.send(Buffer.from('xin chào'), sim.ports.echo, '127.0.0.1');
    await sleep(100);
    expect(echoed.map((b) => b.toString())).toEqual(['xin chào']);
  });
});

// ---- misbehaving peers, abort, resources -----------------------------------------------------------

describe('link probe against misbehaving peers', () => {
  it('counts garbage echoes and silent or garbage HTTP peers as failures, and leaves no socket open', async () => {
    await sleep(50); // handles of earlier tests finish closing
    const before = openSockets();
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
    await sleep(50);
    expect(openSockets()).toEqual(before);
  });

  it('stops at once when aborted, closing its sockets', async () => {
    const sim = await internet({ impairments: { delayMs: 5, jitterMs: 0 } });
    const during = openSockets();
    const device = deviceFor(quick(sim, { count: 100, spacingMs: 20, throughput: undefined }));
    const handle = probeDriver.open({ device, logger, signal: new AbortController().signal, report() {}, ok() {}, fail() {} });
    const abort = new AbortController();
    const polling = handle.poll!(abort.signal);
    await sleep(100);
    const t0 = performance.now();
    abort.abort(new Error('agent stopping'));
    await expect(polling).rejects.toThrow('agent stopping');
    expect(performance.now() - t0).toBeLessThan(100);
    await sleep(50);
    expect(openSockets()).toEqual(during);
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
    const { values } = await openProbe(quick(sim, { targets: udpOnly(sim) }), latencyOnly).poll();
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
