/**
 * The whole chain as a user runs it (startDistrict is what `npm start` calls): real broker,
 * cloud, one edge-agent process per school and simulated devices, on ephemeral ports. Checks
 * that readings from every school and every device kind reach the API and the live feed,
 * that bad input is counted and nothing else lost, that the ACL holds with the real
 * credentials, and that the dashboard shows it in a real browser.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { chromium, type Browser } from 'playwright-core';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_KINDS, districtTopics, localTopics, type DeviceKind, type School } from '@schoolops/device-profiles';
import type { DeviceView, SchoolSummary } from '@schoolops/cloud';
import { startDistrict, type RunningDistrict } from '../src/launcher/district.ts';

const SCHOOLS = 3;
const CHROMIUM = '/usr/bin/chromium';

async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('simulated district, end to end', () => {
  let district: RunningDistrict;
  let dataDir: string;
  let socket: Socket;
  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${district.url}${path}`);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return (await response.json()) as T;
  };
  const liveReadings: Array<{ schoolId: string; deviceId: string }> = [];
  const liveSchools = new Map<string, SchoolSummary>();
  const kindOf = new Map<string, DeviceKind>();
  const school = (i: number): School => district.inventory.schools[i]!;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'schoolops-e2e-'));
    district = await startDistrict({ schools: SCHOOLS, port: 0, mqttPort: 0, dataDir, deviceIntervalMs: 1000 });
    const profiles = (await import('@schoolops/device-profiles')).loadProfiles();
    for (const s of district.inventory.schools) for (const d of s.devices) kindOf.set(d.id, profiles.get(d.profileId)!.kind);
    socket = io(district.url, { transports: ['websocket'] });
    socket.on('connect', () => socket.emit('subscribe', { readings: '*' }));
    socket.on('reading', (r: { schoolId: string; deviceId: string }) => liveReadings.push(r));
    socket.on('school', (s: SchoolSummary) => liveSchools.set(s.id, s));
  }, 120_000);

  afterAll(async () => {
    socket?.close();
    await district?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists every school online, every device reporting', async () => {
    const schools = await waitFor(async () => {
      const list = await api<SchoolSummary[]>('/api/schools');
      return list.length === SCHOOLS && list.every((s) => s.online && s.devices.reporting === s.devices.total) && list;
    }, 'all schools online with all devices reporting');
    expect(schools.map((s) => s.id).sort()).toEqual(district.inventory.schools.map((s) => s.id).sort());
    for (const s of schools) {
      expect(s.figures.inBps).toBeGreaterThan(0);
      expect(s.figures.latencyMs).toBeGreaterThan(0);
      expect(s.figures.labTemperatureAvg).not.toBeNull();
    }
  });

  it('shows devices of all five kinds with a recent reading in every school', async () => {
    for (const s of district.inventory.schools) {
      const devices = await api<DeviceView[]>(`/api/schools/${s.id}/devices`);
      expect(devices).toHaveLength(s.devices.length);
      for (const kind of DEVICE_KINDS) {
        const ofKind = devices.filter((d) => d.kind === kind);
        expect(ofKind.length, `${s.id} has ${kind}`).toBeGreaterThan(0);
        for (const d of ofKind) expect(Date.now() - d.latest!.ts, `${d.id} is recent`).toBeLessThan(15_000);
      }
    }
  });

  it('pushes live readings from every school and every device kind over socket.io', async () => {
    await waitFor(() => {
      const seen = new Set(liveReadings.map((r) => `${r.schoolId}/${kindOf.get(r.deviceId)}`));
      return district.inventory.schools.every((s) => DEVICE_KINDS.every((k) => seen.has(`${s.id}/${k}`)));
    }, 'live readings of every kind from every school');
    await waitFor(() => liveSchools.size === SCHOOLS && [...liveSchools.values()].every((s) => s.online), "'school' events for every school");
  });

  it('answers history over the last 5 minutes in buckets', async () => {
    const router = school(0).devices.find((d) => kindOf.get(d.id) === 'network' && d.profileId === 'mikrotik-hex-s')!;
    const history = await waitFor(async () => {
      const h = await api<{ bucketSeconds: number; series: Array<{ metric: string; unit: string; points: Array<{ t: number; count: number; avg: number | null }> }> }>(
        `/api/devices/${router.id}/history?from=${Date.now() - 5 * 60_000}&bucket=2`,
      );
      const inBps = h.series.find((s) => s.metric === 'inBps');
      return inBps && inBps.points.length >= 3 && h;
    }, 'three buckets of router history');
    const inBps = history.series.find((s) => s.metric === 'inBps')!;
    expect(history.bucketSeconds).toBe(2);
    expect(inBps.unit).toBe('bit/s');
    for (const p of inBps.points) {
      expect(p.t % 2000).toBe(0);
      expect(p.count).toBeGreaterThan(0);
      expect(p.avg).toBeGreaterThan(0);
    }
    const bad = await fetch(`${district.url}/api/devices/${router.id}/history?from=yesterday`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).message).toContain('"from" is not a time');
    expect((await fetch(`${district.url}/api/devices/nope/history`)).status).toBe(404);
  });

  it('counts each kind of bad device input, visibly in the API, and loses nothing else', async () => {
    const s = school(1);
    const lab = s.devices.find((d) => kindOf.get(d.id) === 'lab')!;
    const gatewayPort = district.localPort(s.id);
    const before = await api<DeviceView>(`/api/devices/${lab.id}`);
    // A rogue client on the school LAN, using the lab controller's device id.
    const rogue = await mqtt.connectAsync(`mqtt://127.0.0.1:${gatewayPort}`, { clientId: `rogue-${lab.id}`, protocolVersion: 4 });
    const state = localTopics.deviceState(lab.id);
    await rogue.publishAsync(state, '{"values": {', { qos: 1 });
    await rogue.publishAsync(localTopics.deviceState(`${s.id}.nowhere.ghost`), JSON.stringify({ values: { humidity: 50 } }), { qos: 1 });
    await rogue.publishAsync(state, JSON.stringify({ values: { humidity: 'damp' } }), { qos: 1 });
    await rogue.publishAsync(state, JSON.stringify({ values: { humidity: 250 } }), { qos: 1 });
    await rogue.publishAsync(state, Buffer.alloc(100_000, 0x7b), { qos: 1 });
    await rogue.publishAsync('somewhere/else', JSON.stringify({ values: { humidity: 50 } }), { qos: 1 });
    // A good reading from the same client still gets through.
    await rogue.publishAsync(state, JSON.stringify({ ts: Date.now(), values: { humidity: 42.5 } }), { qos: 1 });
    expect(rogue.connected).toBe(true);
    await rogue.endAsync();

    const stats = await waitFor(async () => {
      const body = await api<{ gateways: Array<{ schoolId: string; rejected: Record<string, number> }> }>('/api/ingest/stats');
      const gw = body.gateways.find((g) => g.schoolId === s.id)!;
      return gw.rejected.oversized === 1 && gw.rejected.bad_topic === 1 && gw;
    }, "the gateway's health report with the rejections", 30_000);
    expect(stats.rejected).toMatchObject({ malformed_json: 1, unknown_device: 1, wrong_type: 1, out_of_range: 1, oversized: 1, bad_topic: 1 });
    const summary = (await api<SchoolSummary[]>('/api/schools')).find((x) => x.id === s.id)!;
    expect(summary.rejected).toBe(6);
    const after = await api<DeviceView>(`/api/devices/${lab.id}`);
    expect(after.latest!.ts).toBeGreaterThan(before.latest!.ts);
    // Every other school's devices kept reporting throughout.
    const schools = await api<SchoolSummary[]>('/api/schools');
    for (const x of schools) expect(x.devices.reporting, x.id).toBe(x.devices.total);
  });

  it('refuses a gateway with wrong credentials, and one publishing under another school', async () => {
    const [a, b] = [school(0), school(1)];
    await expect(
      mqtt.connectAsync(`mqtt://127.0.0.1:${district.mqttPort}`, { username: a.gatewayId, password: 'wrong', clientId: 'intruder', protocolVersion: 4, reconnectPeriod: 0 }),
    ).rejects.toThrow(/Bad username or password|Not authorized/);

    // School A's real gateway credentials, as an installer's file holds them.
    const password = readFileSync(join(dataDir, 'gateways', `${a.id}.secret`), 'utf8').trim();
    const impostor = await mqtt.connectAsync(`mqtt://127.0.0.1:${district.mqttPort}`, { username: a.gatewayId, password, clientId: `${a.gatewayId}-2`, protocolVersion: 4, reconnectPeriod: 0 });
    const forged = { v: 1, gatewayId: b.gatewayId, schoolId: b.id, bootId: 'forgedforged', seq: 0, sentAt: Date.now(), readings: [{ deviceId: b.devices[0]!.id, ts: Date.now(), values: { power: 'off' } }] };
    impostor.publish(districtTopics.telemetry(b.id), JSON.stringify(forged), { qos: 1 });
    await new Promise((r) => setTimeout(r, 500));
    impostor.end(true);

    const broker = await waitFor(async () => {
      const body = await api<{ broker: { refused: Record<string, number> } | null }>('/api/ingest/stats');
      return body.broker && body.broker.refused.bad_credentials! >= 1 && body.broker.refused.publish_denied! >= 1 && body.broker;
    }, 'broker refusals in the API', 30_000);
    expect(broker!.refused.bad_credentials).toBeGreaterThanOrEqual(1);
    const history = await api<{ series: Array<{ points: Array<{ last: unknown }> }> }>(`/api/devices/${b.devices[0]!.id}/history?from=${Date.now() - 60_000}&metric=power`);
    expect(JSON.stringify(history)).not.toContain('forged');
  });

  it('shows the district live in a real browser', async () => {
    expect(existsSync(CHROMIUM), 'Debian chromium is installed (apt-get install chromium)').toBe(true);
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      });
      const page = await browser.newPage();
      await page.goto(`${district.url}/`);
      for (const s of district.inventory.schools) {
        await page.locator(`[data-testid="online-${s.id}"][data-online="true"]`).waitFor({ timeout: 15_000 });
        await expect(page.locator(`[data-testid="name-${s.id}"]`).innerText()).resolves.toBe(s.name.vi);
      }
      await page.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout: 15_000 });
      const headcount = page.locator(`[data-testid="inbps-${school(0).id}"]`);
      const first = await headcount.getAttribute('data-value');
      await waitFor(async () => (await headcount.getAttribute('data-value')) !== first, 'a live figure to change on the page', 20_000);
    } finally {
      await browser?.close();
    }
  });

  it("marks a school offline by its gateway's last will when the gateway dies", async () => {
    const s = school(2);
    await district.kill(s.id);
    // keepalive 30 s: the broker notices within 1.5x keepalive and publishes the will.
    const offline = await waitFor(async () => {
      const list = await api<SchoolSummary[]>('/api/schools');
      return list.find((x) => x.id === s.id && !x.online);
    }, 'the school to go offline', 60_000);
    expect(offline.online).toBe(false);
  }, 90_000);
});
