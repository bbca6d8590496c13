/**
 * The cloud on its own: a bare aedes as the district broker (the ACL is broker/'s job),
 * a small hand-written district, a real DuckDB file, the real HTTP API.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { districtTopics, type Inventory, type Reading, type TelemetryBatch } from '@schoolops/device-profiles';
import { parseCloudConfig, startCloud, type Cloud } from '../src/index.ts';
import { startProbeEcho } from '../src/probe-echo.ts';
import { PROBE_DOWNLOADS_PER_HOUR } from '../src/api/probe.ts';
import { waitFor as waitUntil } from '../../simulators/test/support/wait.ts';

const school = (id: string, devices: Inventory['schools'][number]['devices']): Inventory['schools'][number] => ({
  id,
  name: { vi: `Trường ${id}`, en: `School ${id}` },
  level: 'lower-secondary',
  ward: 'Phường 1',
  gatewayId: `gw-${id}`,
  rooms: [{ id: 'p101', name: { vi: 'Phòng 101', en: 'Room 101' }, type: 'classroom', floor: 1, capacity: 45 }],
  classes: [],
  timetable: { periods: [], lessons: [] },
  devices,
});
const inventory: Inventory = {
  v: 1,
  district: { id: 'test', name: { vi: 'Quận Thử', en: 'Test District' }, timezone: 'Asia/Ho_Chi_Minh' },
  schools: [
    school('a', [
      { id: 'a.proj', profileId: 'epson-eb-x51', roomId: 'p101' },
      { id: 'a.router', profileId: 'mikrotik-hex-s', roomId: 'p101' },
    ]),
    {
      ...school('b', [
        { id: 'b.proj', profileId: 'epson-eb-x51', roomId: 'p101' },
        { id: 'b.cam', profileId: 'hikvision-ds-2cd2143', roomId: 'p101' },
      ]),
      classes: [{ id: '6a1', name: '6A1', grade: 6, enrolment: 40, homeRoomId: 'p101' }],
      timetable: {
        periods: [
          { n: 1, start: '07:00', end: '07:45' },
          { n: 2, start: '07:50', end: '08:35' },
        ],
        // Monday (day 1), period 1.
        lessons: [{ day: 1, period: 1, classId: '6a1', roomId: 'p101', subject: { vi: 'Toán', en: 'Maths' } }],
      },
    },
  ],
};

/** Polls until the probe returns something; the deadline only turns a hang into a message. */
function waitFor<T>(probe: () => Promise<T | false | undefined>, what: string): Promise<T> {
  return waitUntil(probe, what, { everyMs: 50 });
}

describe('cloud', () => {
  let dir: string;
  let aedes: Aedes;
  let server: Server;
  let cloud: Cloud;
  let gateway: MqttClient;
  /** Before any reading of these tests: every sample time they send is later, less at most a second. */
  let startedAt: number;
  /** A district operator's API token: it lives in the account file, so it outlasts a cloud restart. */
  let token: string;
  const get = async (path: string) => {
    const response = await fetch(`${cloud.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, body: (await response.json()) as any };
  };
  const batch = (seq: number, readings: TelemetryBatch['readings'], over: Partial<TelemetryBatch> = {}): string =>
    JSON.stringify({ v: 1, gatewayId: 'gw-a', schoolId: 'a', bootId: 'boot-one-1', seq, sentAt: Date.now(), readings, ...over });

  beforeAll(async () => {
    startedAt = Date.now();
    dir = mkdtempSync(join(tmpdir(), 'cloud-test-'));
    aedes = await Aedes.createBroker();
    server = createServer(aedes.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    writeFileSync(join(dir, 'inventory.json'), JSON.stringify(inventory));
    cloud = await startCloud(
      parseCloudConfig({
        v: 1,
        http: { host: '127.0.0.1', port: 0 },
        mqtt: { url: `mqtt://127.0.0.1:${port}`, username: 'cloud', password: 'x' },
        dataDir: dir,
        inventoryFile: join(dir, 'inventory.json'),
        probeEcho: { host: '127.0.0.1', port: 0, perSourcePerSecond: 20 },
      }),
      { logger: pino({ level: 'silent' }) },
    );
    token = (await cloud.accounts.createToken({ name: 'cloud test', role: 'district-operator', scope: { all: true }, createdBy: 'test', expiresAt: null })).token;
    gateway = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: 'gw-a' });
  });

  afterAll(async () => {
    await gateway?.endAsync();
    await cloud?.close();
    await new Promise<void>((r) => aedes.close(() => r()));
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('knows the district before any gateway speaks', async () => {
    const { body } = await get('/api/schools');
    expect(body.map((s: any) => [s.id, s.online, s.devices.total, s.lastSeen])).toEqual([
      ['a', false, 2, null],
      ['b', false, 2, null],
    ]);
    expect((await get('/api/district')).body.name.vi).toBe('Quận Thử');
  });

  it('stores a batch, shows it live, and never counts a redelivered batch twice', async () => {
    const now = Date.now();
    await gateway.publishAsync(districtTopics.status('a'), JSON.stringify({ v: 1, gatewayId: 'gw-a', schoolId: 'a', bootId: 'boot-one-1', state: 'online', ts: now }), { qos: 1 });
    const readings: Reading[] = [
      { deviceId: 'a.proj', ts: now - 1000, values: { power: 'on', lampHours: 1200 } },
      { deviceId: 'a.router', ts: now - 1000, values: { inBps: 5e6, outBps: 1e6, linkUp: true } },
    ];
    await gateway.publishAsync(districtTopics.telemetry('a'), batch(0, readings), { qos: 1 });
    await gateway.publishAsync(districtTopics.telemetry('a'), batch(0, readings), { qos: 1 }); // a replay
    const stats = await waitFor(async () => {
      const { body } = await get('/api/ingest/stats');
      return body.duplicateBatches === 1 && body;
    }, 'the duplicate to be seen');
    expect(stats).toMatchObject({ batches: 1, readings: 2, storage: { rows: 5 } });
    const a = (await get('/api/schools')).body.find((s: any) => s.id === 'a');
    expect(a).toMatchObject({ online: true, devices: { total: 2, reporting: 2 }, figures: { inBps: 5e6, projectorsOn: 1 } });
    const device = (await get('/api/devices/a.proj')).body;
    expect(device).toMatchObject({ kind: 'display', reporting: true, latest: { values: { power: 'on', lampHours: 1200 } } });
  });

  it('counts every kind of bad uplink by reason and stores none of it', async () => {
    const now = Date.now();
    const good = { deviceId: 'a.proj', ts: now, values: { lampHours: 1201 } };
    await gateway.publishAsync(districtTopics.telemetry('a'), '{"v":1,', { qos: 1 });
    await gateway.publishAsync(districtTopics.telemetry('a'), JSON.stringify({ v: 1, readings: [] }), { qos: 1 });
    await gateway.publishAsync(districtTopics.telemetry('b'), batch(1, [good]), { qos: 1 }); // body says school a
    await gateway.publishAsync(districtTopics.telemetry('a'), batch(2, [good], { gatewayId: 'gw-b' }), { qos: 1 });
    await gateway.publishAsync(districtTopics.telemetry('zz'), batch(3, [good], { schoolId: 'zz' }), { qos: 1 });
    await gateway.publishAsync(
      districtTopics.telemetry('a'),
      batch(4, [
        { deviceId: 'a.ghost', ts: now, values: { power: 'on' } },
        { deviceId: 'b.proj', ts: now, values: { power: 'on' } },
        { deviceId: 'a.proj', ts: now, values: { lampHours: 'lots' } },
        { deviceId: 'a.proj', ts: now, values: { lampHours: -5 } },
        { deviceId: 'a.proj', ts: now, values: { zoom: 2 } },
        good,
      ]),
      { qos: 1 },
    );
    const stats = await waitFor(async () => {
      const { body } = await get('/api/ingest/stats');
      return body.readings === 3 && body;
    }, 'the good reading among the bad');
    expect(stats.rejected).toMatchObject({
      malformed_json: 1,
      bad_schema: 1,
      wrong_gateway: 2,
      unknown_school: 1,
      unknown_device: 1,
      wrong_school: 1,
      wrong_type: 1,
      out_of_range: 1,
      unknown_metric: 1,
    });
    expect(stats.storage.rows).toBe(6);
  });

  it('answers history in buckets and refuses bad questions clearly', async () => {
    // From before the first reading, however long the tests before this one took.
    const { body } = await get(`/api/devices/a.proj/history?from=${startedAt - 1000}&bucket=3600&metric=lampHours`);
    expect(body.series).toHaveLength(1);
    expect(body.series[0]).toMatchObject({ metric: 'lampHours', unit: 'h' });
    expect(body.series[0].points.reduce((n: number, p: any) => n + p.count, 0)).toBe(2);
    expect((await get('/api/devices/a.proj/history?metric=zoom')).body.message).toContain('no metric "zoom"');
    expect((await get('/api/devices/a.proj/history?from=2026-01-02&to=2026-01-01')).status).toBe(400);
    expect((await get('/api/devices/a.proj/history?from=0&bucket=1')).body.message).toContain('more than 5000 buckets');
    expect((await get('/api/devices/a.proj/history?bucket=-1')).status).toBe(400);
    expect((await get('/api/schools/nowhere/devices')).status).toBe(404);
  });

  it('recognises a batch stored before a restart, and confirms it to the gateway again', async () => {
    const acks: unknown[] = [];
    await gateway.subscribeAsync(districtTopics.ack('a'), { qos: 1 });
    gateway.on('message', (topic, payload) => topic === districtTopics.ack('a') && acks.push(JSON.parse(payload.toString())));
    const reading = { deviceId: 'a.proj', ts: Date.now(), values: { lampHours: 1300 }, n: 77 };
    const stored = batch(9, [reading], { bootId: 'boot-two-2' });
    await gateway.publishAsync(districtTopics.telemetry('a'), stored, { qos: 1 });
    await waitFor(async () => acks.length === 1, 'the first ack');
    const rowsBefore = (await get('/api/ingest/stats')).body.storage.rows;

    // A new cloud on the same data directory: its dedup memory is empty, the store is not.
    const config = parseCloudConfig({
      v: 1,
      http: { host: '127.0.0.1', port: 0 },
      mqtt: { url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, username: 'cloud', password: 'x' },
      dataDir: dir,
      inventoryFile: join(dir, 'inventory.json'),
      probeEcho: { host: '127.0.0.1', port: 0, perSourcePerSecond: 20 },
    });
    await cloud.close();
    cloud = await startCloud(config, { logger: pino({ level: 'silent' }) });
    await gateway.publishAsync(districtTopics.telemetry('a'), stored, { qos: 1 });
    await waitFor(async () => acks.length === 2, 'the second ack');
    expect(acks).toEqual([
      { v: 1, gatewayId: 'gw-a', bootId: 'boot-two-2', seq: 9, result: 'stored' },
      { v: 1, gatewayId: 'gw-a', bootId: 'boot-two-2', seq: 9, result: 'duplicate' },
    ]);
    const stats = (await get('/api/ingest/stats')).body;
    expect(stats).toMatchObject({ duplicateBatches: 1, batches: 0, storage: { rows: rowsBefore } });
    const delivery = (await get(`/api/delivery?since=${reading.ts}`)).body.devices;
    expect(delivery).toEqual([{ deviceId: 'a.proj', samples: 1, distinct: 1, minN: 77, maxN: 77, outOfOrder: 0 }]);
  });

  it("serves the link probes' throughput download, exactly the size asked, within a cap", async () => {
    const response = await fetch(`${cloud.url}/api/probe/download?bytes=300000`);
    expect(response.status).toBe(200);
    const body = Buffer.from(await response.arrayBuffer());
    expect(body.length).toBe(300000);
    // Not a run of zeros a compressing proxy could shrink.
    expect(new Set(body.subarray(0, 4096)).size).toBeGreaterThan(200);
    expect((await fetch(`${cloud.url}/api/probe/download?bytes=999999999`)).status).toBe(400);
    expect((await fetch(`${cloud.url}/api/probe/download`)).status).toBe(400);
    // Public (gateways have no HTTP account), so one address gets a budget of downloads an hour.
    let status = 200;
    let tries = 0;
    while (status !== 429 && tries < 50) {
      tries++;
      const r = await fetch(`${cloud.url}/api/probe/download?bytes=10`);
      status = r.status;
      await r.arrayBuffer();
    }
    expect(status).toBe(429);
    expect(tries).toBeLessThanOrEqual(PROBE_DOWNLOADS_PER_HOUR);
  });

  it("echoes the link probes' datagrams, but nothing large and not without limit", async () => {
    const stats = cloud.probeEcho!.stats;
    const before = { ...stats };
    const handled = () => stats.echoed + stats.rateLimited - before.echoed - before.rateLimited;
    const socket = createSocket('udp4');
    const echoes: Buffer[] = [];
    socket.on('message', (message) => echoes.push(message));
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    const send = (payload: Buffer) => new Promise<void>((r) => socket.send(payload, cloud.probeEcho!.port, '127.0.0.1', () => r()));
    const firstSecond = Math.floor(Date.now() / 1000);
    await send(Buffer.from('probe 1 1700000000000'));
    await send(Buffer.alloc(500)); // not a probe: would make the reflector an amplifier's friend
    await waitFor(async () => echoes.length === 1 && stats.oversized === before.oversized + 1, 'the echo, and the large datagram counted');
    expect(echoes[0]!.toString()).toBe('probe 1 1700000000000');
    for (let i = 0; i < 60; i++) await send(Buffer.from(`probe ${i}`));
    // Every datagram is answered or counted as cut, and every answer comes back.
    await waitFor(async () => handled() === 61 && echoes.length === stats.echoed - before.echoed, 'every probe answered or cut');
    const seconds = Math.floor(Date.now() / 1000) - firstSecond + 1;
    socket.close();
    // The configured 20 per second per source, in each second of the clock the probes spanned
    // (on a busy machine that may be more than one; the cap's arithmetic is tested below on a clock of its own).
    expect(echoes.length).toBeLessThanOrEqual(20 * seconds);
  });

  it("answers a day's attendance per lesson and room usage per period from the cameras' counts", async () => {
    // A Monday two to three weeks back in Ho Chi Minh City (sample times older than the district's
    // window are refused): two counts in period 1 (the 6A1 maths lesson), one empty room in period 2.
    const DAY = 86_400_000;
    const vietnamDate = (ms: number) => new Date(ms + 7 * 3_600_000).toISOString().slice(0, 10);
    let mondayMs = Date.now() - 14 * DAY;
    while (new Date(mondayMs + 7 * 3_600_000).getUTCDay() !== 1) mondayMs -= DAY;
    const [monday, tuesday, followingMonday] = [0, 1, 7].map((days) => vietnamDate(mondayMs + days * DAY));
    const at = (hhmm: string) => Date.parse(`${monday}T${hhmm}:00+07:00`);
    const readings: Reading[] = [
      { deviceId: 'b.cam', ts: at('07:12'), values: { headcount: 38, occupied: true, classId: '6a1', period: 1, enrolled: 40, attendancePct: 92.5 } },
      { deviceId: 'b.cam', ts: at('07:34'), values: { headcount: 40, occupied: true, classId: '6a1', period: 1, enrolled: 40, attendancePct: 97.5 } },
      { deviceId: 'b.cam', ts: at('08:00'), values: { headcount: 0, occupied: false } },
    ];
    await gateway.publishAsync(districtTopics.telemetry('b'), batch(0, readings, { gatewayId: 'gw-b', schoolId: 'b', bootId: 'boot-b-0001' }), { qos: 1 });
    const day = await waitFor(async () => {
      const { body } = await get(`/api/schools/b/attendance?date=${monday}`);
      return body.lessons?.[0]?.counts === 2 && body;
    }, 'the attendance of the day');
    expect(day.lessons).toEqual([
      { period: 1, start: '07:00', end: '07:45', classId: '6a1', className: '6A1', roomId: 'p101', enrolled: 40, counts: 2, headcount: 39, attendancePct: 95, when: 'past' },
    ]);
    expect(day.rooms).toEqual([{ roomId: 'p101', periods: { '1': true, '2': false } }]);
    expect(day.clockOffsetMs).toBe(0); // a real district reads its timetable on the real clock
    // Another day: the lesson is there, not counted.
    expect((await get(`/api/schools/b/attendance?date=${tuesday}`)).body.lessons).toEqual([]);
    const nextMonday = (await get(`/api/schools/b/attendance?date=${followingMonday}`)).body;
    expect(nextMonday.lessons[0]).toMatchObject({ counts: 0, headcount: null, attendancePct: null, when: 'past' });
    // A lesson far ahead is still to come: no counts yet, and the API says why.
    const later = (await get('/api/schools/b/attendance?date=2099-03-16')).body;
    expect(later.lessons[0]).toMatchObject({ counts: 0, when: 'later' });
    expect((await get('/api/schools/b/attendance?date=10-03-2025')).status).toBe(400);
  });

  it('publishes an OpenAPI document of its routes', async () => {
    const { body } = await get('/docs/json');
    expect(Object.keys(body.paths)).toEqual(
      expect.arrayContaining(['/api/schools', '/api/schools/{schoolId}/devices', '/api/devices/{deviceId}/history', '/api/ingest/stats']),
    );
  });
  it("shows a device problem its gateway reports, and the device's raised health rules", async () => {
    const now = Date.now();
    await gateway.publishAsync(districtTopics.status('a'), JSON.stringify({ v: 1, gatewayId: 'gw-a', schoolId: 'a', bootId: 'boot-one-1', state: 'online', ts: now }), { qos: 1 });
    await gateway.publishAsync(districtTopics.telemetry('a'), batch(49, [{ deviceId: 'a.proj', ts: now - 1000, values: { power: 'on', lampHours: 1000 } }]), { qos: 1 });
    const event = (eventId: string, over: Record<string, unknown>) =>
      JSON.stringify({ v: 1, gatewayId: 'gw-a', schoolId: 'a', bootId: 'boot-one-1', eventId, ts: Date.now(), type: 'device-status', deviceId: 'a.proj', failures: 1, ...over });
    await gateway.publishAsync(districtTopics.event('a'), event('ev-1', { state: 'faulty', reason: 'auth_failed', detail: 'PJLink ERRA' }), { qos: 1 });
    const faulty = await waitFor(async () => {
      const { body } = await get('/api/devices/a.proj');
      return body.status.state === 'faulty' && body;
    }, 'the device to show faulty');
    expect(faulty.status).toMatchObject({ reason: 'auth_failed', detail: 'PJLink ERRA' });
    expect((await get('/api/schools')).body.find((s: any) => s.id === 'a').devices.problems).toBe(1);
    // An event of an earlier boot of the gateway no longer counts.
    await gateway.publishAsync(districtTopics.event('a'), event('ev-0', { bootId: 'boot-zero-0', state: 'unreachable', reason: 'timeout', ts: Date.now() + 1 }), { qos: 1 });
    await gateway.publishAsync(districtTopics.event('a'), event('ev-2', { state: 'ok', failures: 0, ts: Date.now() + 2 }), { qos: 1 });
    await waitFor(async () => (await get('/api/devices/a.proj')).body.status.state === 'ok', 'the device to recover');
    // Live state changes before the event is in the store: wait for the store, then count exactly.
    const stored = await waitFor(async () => {
      const events = (await get('/api/schools/a/events')).body.filter((e: any) => e.type === 'device-status');
      return events.length >= 3 && events;
    }, 'the three events in the store');
    expect(stored).toHaveLength(3);

    await gateway.publishAsync(districtTopics.telemetry('a'), batch(50, [{ deviceId: 'a.proj', ts: now, values: { errorLamp: 'error', lampHours: 5400 } }]), { qos: 1 });
    const alarms = await waitFor(async () => {
      const { body } = await get('/api/schools/a/alarms');
      return body.length === 2 && body;
    }, 'two alarms');
    expect(alarms.map((a: any) => [a.deviceId, a.ruleId, a.severity])).toEqual([
      ['a.proj', 'lamp-error', 'critical'],
      ['a.proj', 'lamp-end-of-life', 'warning'],
    ]);
    expect(alarms[0].message.vi).toBe('Bóng đèn máy chiếu hỏng');
    expect((await get('/api/schools')).body.find((s: any) => s.id === 'a').alarms).toEqual({ critical: 1, warning: 1, info: 0 });
    await gateway.publishAsync(districtTopics.telemetry('a'), batch(51, [{ deviceId: 'a.proj', ts: now + 1000, values: { errorLamp: 'ok', lampHours: 3 } }]), { qos: 1 });
    await waitFor(async () => (await get('/api/devices/a.proj')).body.alarms.length === 0, 'the alarms to clear after a lamp change');

    // A problem reported before a cloud restart is still shown after it, without the gateway repeating it.
    await gateway.publishAsync(districtTopics.event('a'), event('ev-3', { state: 'unreachable', reason: 'timeout', ts: Date.now() + 3 }), { qos: 1 });
    await waitFor(async () => (await get('/api/devices/a.proj')).body.status.state === 'unreachable', 'the device to show unreachable');
    const config = parseCloudConfig({
      v: 1,
      http: { host: '127.0.0.1', port: 0 },
      mqtt: { url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, username: 'cloud', password: 'x' },
      dataDir: dir,
      inventoryFile: join(dir, 'inventory.json'),
      probeEcho: { host: '127.0.0.1', port: 0 },
    });
    await cloud.close();
    cloud = await startCloud(config, { logger: pino({ level: 'silent' }) });
    await gateway.publishAsync(districtTopics.status('a'), JSON.stringify({ v: 1, gatewayId: 'gw-a', schoolId: 'a', bootId: 'boot-one-1', state: 'online', ts: Date.now() }), { qos: 1 });
    const restored = await waitFor(async () => {
      const { body } = await get('/api/devices/a.proj');
      return body.status.state === 'unreachable' && body;
    }, 'the restored status');
    expect(restored.status.reason).toBe('timeout');
  });
});

describe('probe echo', () => {
  it('answers at most perSourcePerSecond datagrams a source sends in one second of its clock, and counts the rest', async () => {
    let now = Date.UTC(2025, 0, 6, 8, 0, 0); // the start of a second
    const echo = await startProbeEcho({ host: '127.0.0.1', port: 0, perSourcePerSecond: 20, logger: pino({ level: 'silent' }), now: () => now });
    const socket = createSocket('udp4');
    const echoes: string[] = [];
    socket.on('message', (message) => echoes.push(message.toString()));
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    const send = (text: string) => new Promise<void>((r) => socket.send(Buffer.from(text), echo.port, '127.0.0.1', () => r()));
    /** Sends probes and waits until the echo has answered or cut each, and its answers are back. */
    const burst = async (tag: string, n: number) => {
      const handled = echo.stats.echoed + echo.stats.rateLimited + n;
      for (let i = 0; i < n; i++) await send(`probe ${tag} ${i}`);
      await waitUntil(() => echo.stats.echoed + echo.stats.rateLimited === handled && echoes.length === echo.stats.echoed, `the ${n} probes of burst ${tag}`, { everyMs: 20 });
    };
    try {
      await burst('a', 60);
      expect(echo.stats).toEqual({ echoed: 20, oversized: 0, rateLimited: 40 });
      now += 999; // the same second
      await burst('b', 5);
      expect(echo.stats).toEqual({ echoed: 20, oversized: 0, rateLimited: 45 });
      now += 1; // the next second: a fresh allowance
      await burst('c', 25);
      expect(echo.stats).toEqual({ echoed: 40, oversized: 0, rateLimited: 50 });
      expect(echoes.filter((e) => e.startsWith('probe b '))).toEqual([]);
      expect(echoes.filter((e) => e.startsWith('probe c '))).toHaveLength(20);
    } finally {
      socket.close();
      await echo.close();
    }
  });

  it('answers at most totalPerSecond datagrams over every source, however many sources (spoofed) there are', async () => {
    const now = Date.UTC(2025, 0, 6, 8, 0, 0);
    const echo = await startProbeEcho({ host: '127.0.0.1', port: 0, perSourcePerSecond: 100, totalPerSecond: 10, logger: pino({ level: 'silent' }), now: () => now });
    // Two sources: 127.0.0.1 and 127.0.0.2 (all of 127/8 is this machine on Linux).
    const sockets = await Promise.all(
      ['127.0.0.1', '127.0.0.2'].map(async (address) => {
        const socket = createSocket('udp4');
        await new Promise<void>((r) => socket.bind(0, address, () => r()));
        return socket;
      }),
    );
    try {
      for (let i = 0; i < 8; i++) for (const socket of sockets) await new Promise<void>((r) => socket.send(Buffer.from(`probe ${i}`), echo.port, '127.0.0.1', () => r()));
      await waitUntil(() => echo.stats.echoed + echo.stats.rateLimited === 16, 'every probe answered or cut', { everyMs: 20 });
      expect(echo.stats).toEqual({ echoed: 10, oversized: 0, rateLimited: 6 });
    } finally {
      for (const socket of sockets) socket.close();
      await echo.close();
    }
  });
});
