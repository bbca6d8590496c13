/**
 * The whole chain as a user runs it (startDistrict is what `npm start` calls): real broker,
 * cloud, one edge-agent process per school and simulated devices, on ephemeral ports. Checks
 * that readings from every school and every device kind reach the API and the live feed,
 * that bad input is counted and nothing else lost, that the ACL holds with the real
 * credentials, and that the dashboard shows it in a real browser.
 *
 * Deterministic on a loaded machine: every step waits for a condition the system exposes,
 * and no step asserts how long anything took (the fault detection times are measured by
 * simulators/bench/fault-detection.ts). The gateways count their cameras only when asked
 * (cameraSchedule 'on-request'): the test asks, through the district's command API, instead
 * of racing every gateway's face counter at once.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Browser } from 'playwright-core';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_KINDS, districtTopics, localTopics, type DeviceKind, type School } from '@schoolops/device-profiles';
import type { DeviceView, SchoolSummary } from '@schoolops/cloud';
import { startDistrict, type RunningDistrict } from '../src/launcher/district.ts';
import { signInThroughUi } from './support/sign-in.ts';
import { countCameras } from './support/cameras.ts';
import { SAFETY_DEADLINE_MS, waitFor } from './support/wait.ts';
import { launchChromium, newPage } from './support/browser.ts';

const SCHOOLS = 3;
/**
 * The district lives at a Monday lesson whenever the test runs (devices behave by school
 * time: projectors on, routers busy, boards in use), so no result depends on the hour CI runs.
 */
const SCHOOL_TIME = '2025-03-10 09:05';
/** A test's own limit: a safety net above the conditions' deadline, never a latency requirement. */
const LONG = 2 * SAFETY_DEADLINE_MS;

describe('simulated district, end to end', () => {
  let district: RunningDistrict;
  let dataDir: string;
  let socket: Socket;
  const api = async <T>(path: string): Promise<T> => {
    const response = await district.api(path);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return (await response.json()) as T;
  };
  /** Says which schools and devices are missing and how they are, not only that some are. */
  const explainMissing = async (error: Error): Promise<never> => {
    const list = await api<SchoolSummary[]>('/api/schools');
    const schools = list.map((s) => `${s.id} ${s.online ? 'online' : 'OFFLINE'} ${s.devices.reporting}/${s.devices.total}`);
    const silent: string[] = [];
    for (const s of list.filter((x) => x.devices.reporting < x.devices.total)) {
      const views = await api<DeviceView[]>(`/api/schools/${s.id}/devices`);
      for (const d of views) if (d.status.state !== 'ok') silent.push(`${d.id} ${JSON.stringify(d.status)} last ${d.latest ? `${Date.now() - d.latest.ts} ms ago` : 'never'}`);
    }
    throw new Error(`${error.message}; schools: ${schools.join(', ')}; devices not ok: ${silent.join(', ') || 'none'}`);
  };
  const liveReadings: Array<{ schoolId: string; deviceId: string }> = [];
  const liveSchools = new Map<string, SchoolSummary>();
  const kindOf = new Map<string, DeviceKind>();
  const school = (i: number): School => district.inventory.schools[i]!;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'schoolops-e2e-'));
    district = await startDistrict({ schools: SCHOOLS, port: 0, mqttPort: 0, dataDir, deviceIntervalMs: 1000, cameraSchedule: 'on-request', schoolTime: SCHOOL_TIME });
    const profiles = (await import('@schoolops/device-profiles')).loadProfiles();
    for (const s of district.inventory.schools) for (const d of s.devices) kindOf.set(d.id, profiles.get(d.profileId)!.kind);
    socket = io(district.url, { transports: ['websocket'], auth: { token: district.token } });
    socket.on('connect', () => socket.emit('subscribe', { readings: '*' }));
    socket.on('reading', (r: { schoolId: string; deviceId: string }) => liveReadings.push(r));
    socket.on('school', (s: SchoolSummary) => liveSchools.set(s.id, s));
  }, LONG);

  afterAll(async () => {
    socket?.close();
    await district?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists every school online, every device reporting, cameras once counted', async () => {
    const cameras = district.inventory.schools.flatMap((s) => s.devices.filter((d) => kindOf.get(d.id) === 'camera'));
    expect(cameras.length).toBeGreaterThanOrEqual(SCHOOLS);
    // Every school online and every device reporting, the cameras too: they count only when
    // asked, but each says it is there at its first poll, before any count.
    await waitFor(async () => {
      const list = await api<SchoolSummary[]>('/api/schools');
      return list.length === SCHOOLS && list.every((s) => s.online && s.devices.reporting === s.devices.total);
    }, 'all schools online with every device reporting, the cameras before their first count').catch(explainMissing);
    for (const camera of cameras) {
      const { latest } = await api<DeviceView>(`/api/devices/${camera.id}`);
      expect(latest?.values, camera.id).toEqual({ reachable: true });
    }
    // Ask every camera for a count, as an installer would from the district: one command each,
    // a few at a time per school.
    const counts = await countCameras(district.api, cameras.map((c) => c.id));
    expect(counts.size).toBe(cameras.length);
    const schools = await waitFor(async () => {
      const list = await api<SchoolSummary[]>('/api/schools');
      return list.length === SCHOOLS && list.every((s) => s.online && s.devices.reporting === s.devices.total) && list;
    }, 'all schools online with all devices reporting').catch(explainMissing);
    expect(schools.map((s) => s.id).sort()).toEqual(district.inventory.schools.map((s) => s.id).sort());
    for (const s of schools) {
      expect(s.figures.inBps).toBeGreaterThan(0);
      expect(s.figures.latencyMs).toBeGreaterThan(0);
      expect(s.figures.labTemperatureAvg).not.toBeNull();
    }
    for (const camera of cameras) expect((await api<DeviceView>(`/api/devices/${camera.id}`)).latest!.values.headcount, camera.id).toEqual(expect.any(Number));
  }, LONG);

  it('shows devices of all five kinds with a recent reading in every school', async () => {
    for (const s of district.inventory.schools) {
      const devices = await api<DeviceView[]>(`/api/schools/${s.id}/devices`);
      expect(devices).toHaveLength(s.devices.length);
      for (const kind of DEVICE_KINDS) {
        const ofKind = devices.filter((d) => d.kind === kind);
        expect(ofKind.length, `${s.id} has ${kind}`).toBeGreaterThan(0);
        // Read during this run (the store starts empty), not left over from anything else.
        for (const d of ofKind) expect(d.latest!.ts, `${d.id} read since the district started`).toBeGreaterThanOrEqual(district.since);
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

  it('reads every device through its own protocol: lamp hours and errors, bandwidth, link quality, lab temperatures, board status', async () => {
    for (const s of district.inventory.schools) {
      const devices = await api<DeviceView[]>(`/api/schools/${s.id}/devices`);
      const byProfile = (id: string) => devices.filter((d) => d.profileId === id);
      const values = (d: DeviceView) => d.latest?.values ?? {};
      // PJLink: every projector, lamp hours and the six error states.
      for (const p of [...byProfile('epson-eb-x51'), ...byProfile('panasonic-pt-tmz400')]) {
        expect(values(p), p.id).toMatchObject({ lampHours: expect.any(Number), errorLamp: expect.any(String), errorTemperature: expect.any(String), power: expect.any(String) });
        expect(p.status.state, p.id).toBe('ok');
      }
      // PJLink class 2, from the laser units.
      for (const p of byProfile('panasonic-pt-tmz400')) expect(values(p), p.id).toMatchObject({ filterHours: expect.any(Number), serialNumber: expect.stringMatching(/^DA\d+$/) });
      // SNMP: rates need two polls.
      const router = await waitFor(async () => {
        const r = await api<DeviceView>(`/api/devices/${byProfile('mikrotik-hex-s')[0]!.id}`);
        return r.latest?.values.inBps !== undefined && r;
      }, `${s.id}'s router bandwidth`);
      expect(values(router)).toMatchObject({ inBps: expect.any(Number), outBps: expect.any(Number), linkUp: true, uptimeS: expect.any(Number) });
      // Link probe: against the school's simulated internet line.
      const probe = byProfile('schoolops-link-probe')[0]!;
      expect(values(probe)).toMatchObject({ wanUp: true, latencyMs: expect.any(Number), lossPct: expect.any(Number), dnsMs: expect.any(Number), httpOk: true });
      // OPC UA: every lab.
      for (const lab of byProfile('schoolops-lab-controller'))
        expect(values(lab), lab.id).toMatchObject({ roomTemperature: expect.any(Number), fridgeTemperature: expect.any(Number), printerState: expect.any(String) });
      // MQTT, the board's own JSON through the profile's map.
      for (const board of byProfile('promethean-activpanel-9'))
        expect(values(board), board.id).toMatchObject({ power: expect.any(Boolean), osVersion: expect.stringContaining('Android'), freeStorageMb: expect.any(Number) });
    }
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
    const bad = await district.api(`/api/devices/${router.id}/history?from=yesterday`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).message).toContain('"from" is not a time');
    expect((await district.api(`/api/devices/nope/history`)).status).toBe(404);
  });

  it('counts each kind of bad device input, visibly in the API, and loses nothing else', async () => {
    const s = school(1);
    const board = s.devices.find((d) => d.profileId === 'promethean-activpanel-9')!;
    const lab = s.devices.find((d) => kindOf.get(d.id) === 'lab')!;
    const gatewayPort = district.localPort(s.id);
    const before = await api<DeviceView>(`/api/devices/${board.id}`);
    // A rogue client on the school LAN, using the board's device id. The board publishes its
    // own JSON; the profile maps panel.cpuTempC to temperature (-10..100 °C).
    const rogue = await mqtt.connectAsync(`mqtt://127.0.0.1:${gatewayPort}`, { clientId: `rogue-${board.id}`, protocolVersion: 4 });
    const state = localTopics.deviceState(board.id);
    await rogue.publishAsync(state, '{"panel": {', { qos: 1 });
    await rogue.publishAsync(localTopics.deviceState(`${s.id}.nowhere.ghost`), JSON.stringify({ values: { humidity: 50 } }), { qos: 1 });
    await rogue.publishAsync(state, JSON.stringify({ panel: { cpuTempC: 'hot' } }), { qos: 1 });
    await rogue.publishAsync(state, JSON.stringify({ panel: { cpuTempC: 250 } }), { qos: 1 });
    await rogue.publishAsync(state, Buffer.alloc(100_000, 0x7b), { qos: 1 });
    await rogue.publishAsync('somewhere/else', JSON.stringify({ values: { humidity: 50 } }), { qos: 1 });
    // The lab is read over OPC UA: a message in its name is not from it.
    await rogue.publishAsync(localTopics.deviceState(lab.id), JSON.stringify({ values: { fridgeTemperature: 30 } }), { qos: 1 });
    // A good reading from the same client still gets through.
    await rogue.publishAsync(state, JSON.stringify({ time: Date.now(), panel: { cpuTempC: 42.5 } }), { qos: 1 });
    expect(rogue.connected).toBe(true);
    await rogue.endAsync();

    const stats = await waitFor(async () => {
      const body = await api<{ gateways: Array<{ schoolId: string; rejected: Record<string, number> }> }>('/api/ingest/stats');
      const gw = body.gateways.find((g) => g.schoolId === s.id)!;
      return gw.rejected.oversized === 1 && gw.rejected.bad_topic === 1 && gw.rejected.wrong_protocol === 1 && gw;
    }, "the gateway's health report with the rejections");
    expect(stats.rejected).toMatchObject({ malformed_json: 1, unknown_device: 1, wrong_type: 1, out_of_range: 1, oversized: 1, bad_topic: 1, wrong_protocol: 1 });
    const summary = (await api<SchoolSummary[]>('/api/schools')).find((x) => x.id === s.id)!;
    expect(summary.rejected).toBe(7);
    const after = await api<DeviceView>(`/api/devices/${board.id}`);
    expect(after.latest!.ts).toBeGreaterThan(before.latest!.ts);
    expect((await api<DeviceView>(`/api/devices/${lab.id}`)).latest!.values.fridgeTemperature).toBeLessThan(15);
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
    // The broker answers the forged publish by closing the connection (MQTT 3.1.1 has no refusal).
    await waitFor(() => !impostor.connected, 'the broker to close the impostor');
    impostor.end(true);

    const broker = await waitFor(async () => {
      const body = await api<{ broker: { refused: Record<string, number> } | null }>('/api/ingest/stats');
      return body.broker && body.broker.refused.bad_credentials! >= 1 && body.broker.refused.publish_denied! >= 1 && body.broker;
    }, 'broker refusals in the API');
    expect(broker!.refused.bad_credentials).toBeGreaterThanOrEqual(1);
    const history = await api<{ series: Array<{ points: Array<{ last: unknown }> }> }>(`/api/devices/${b.devices[0]!.id}/history?from=${Date.now() - 60_000}&metric=power`);
    expect(JSON.stringify(history)).not.toContain('forged');
  });

  it('shows the district live in a real browser', async () => {
    let browser: Browser | undefined;
    try {
      browser = await launchChromium();
      // As the operations center's operator would: the sign-in form first, nothing of the
      // district before it, then every school.
      const page = await newPage(browser);
      await signInThroughUi(page, district, 'district-operator', '/');
      await expect(page.locator('[data-testid="who-role"]').innerText()).resolves.toBe('Điều hành viên quận/huyện');
      for (const s of district.inventory.schools) {
        await page.locator(`[data-testid="online-${s.id}"][data-online="true"]`).waitFor({ timeout: SAFETY_DEADLINE_MS });
        await expect(page.locator(`[data-testid="name-${s.id}"]`).innerText()).resolves.toBe(s.name.vi);
      }
      await page.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout: SAFETY_DEADLINE_MS });
      const headcount = page.locator(`[data-testid="inbps-${school(0).id}"]`);
      const first = await headcount.getAttribute('data-value');
      await waitFor(async () => (await headcount.getAttribute('data-value')) !== first, 'a live figure to change on the page');
    } finally {
      await browser?.close();
    }
  }, LONG);

  it('carries a command from the district API to a projector over PJLink, shows its outcome, and refuses ones its profile does not list', async () => {
    const projector = school(1).devices.filter((d) => d.profileId === 'epson-eb-x51')[1]!;
    const send = (body: unknown, id = projector.id) =>
      district.api(`/api/devices/${id}/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    // A projector whose lamp works (one with a dead lamp refuses to power on: ERR4).
    const view = await waitFor(async () => {
      const v = await api<DeviceView>(`/api/devices/${projector.id}`);
      return v.latest && v;
    }, 'a reading of the projector');
    expect(view!.latest!.values.errorLamp).not.toBe('error');
    const command = async (name: string, expected: string[]) => {
      const accepted = await send({ name });
      expect(accepted.status).toBe(202);
      expect(await accepted.json()).toMatchObject({ deviceId: projector.id, name, commandId: expect.any(String) });
      // The gateway reads the projector again right after the command.
      await waitFor(async () => expected.includes((await api<DeviceView>(`/api/devices/${projector.id}`)).latest!.values.power as string), `power ${expected.join('/')}`);
    };
    // (It stays on: a projector refuses POWR 0 while it warms up, as real ones do.)
    await command('powerOn', ['warming', 'on']);

    const refused = async (body: unknown, status: number, message: RegExp, id?: string) => {
      const response = await send(body, id);
      expect(response.status).toBe(status);
      expect((await response.json()).message).toMatch(message);
    };
    await refused({ name: 'selfDestruct' }, 400, /has no command "selfDestruct" \(it has: powerOn, powerOff, setInput, setAvMute\)/);
    await refused({ name: 'setAvMute', params: { mute: 'yes' } }, 400, /"mute" must be true or false/);
    await refused({ name: 'setInput' }, 400, /needs "input"/);
    await refused({ name: 'powerOff' }, 404, /no device/, 'no-such-device');

    // Once it is on, switch it off: the gateway reports the outcome, and it shows with the command.
    await waitFor(async () => (await api<DeviceView>(`/api/devices/${projector.id}`)).latest!.values.power === 'on', 'the projector on (warmed up)');
    const off = await send({ name: 'powerOff' });
    expect(off.status).toBe(202);
    const { commandId, state } = (await off.json()) as { commandId: string; state: string };
    expect(state).toBe('sent');
    type Listed = { commandId: string; name: string; state: string; sentBy: string | null; values?: Record<string, unknown> };
    const outcome = await waitFor(async () => {
      const listed = await api<Listed[]>(`/api/devices/${projector.id}/commands`);
      return listed.find((c) => c.commandId === commandId && c.state !== 'sent');
    }, 'the outcome of powerOff in the command list');
    expect(outcome).toMatchObject({ name: 'powerOff', state: 'ok', sentBy: expect.stringMatching(/^token:/) });
    // What the projector read right after: switching off (a lamp cools before it is off).
    expect(['cooling', 'off']).toContain(outcome.values?.power);
    // Newest first, the powerOn before it with its own outcome; the refused ones were never sent.
    const listed = await api<Listed[]>(`/api/devices/${projector.id}/commands`);
    expect(listed.map((c) => c.name)).toEqual(['powerOff', 'powerOn']);
    expect(listed[1]!.state).toBe('ok');
  });

  it('shows injected faults in the API, and clears them', async () => {
    // How soon each shows (the product's "one polling interval plus 10 s") is measured by
    // simulators/bench/fault-detection.ts; here each must show, and then clear.
    const pick = (i: number, protocol: string) => [...district.faults.values()].find((t) => t.protocol === protocol && t.deviceId.startsWith(`${school(i).id}.`))!.deviceId;
    const projector = pick(0, 'pjlink');
    const lab = pick(0, 'opcua');
    const router = pick(1, 'snmp');
    const probe = pick(2, 'probe');
    const device = (id: string) => api<DeviceView>(`/api/devices/${id}`);
    const uptimeBefore = (await device(router)).latest!.values.uptimeS as number;
    const post = (id: string, fault: string, method = 'POST') => fetch(`${district.controlUrl}/faults/${id}/${fault}`, { method }).then((r) => r.status);
    expect(await post(projector, 'lamp-failure')).toBe(200);
    expect(await post(lab, 'restart')).toBe(200);
    expect(await post(router, 'reboot')).toBe(200);
    expect(await post(probe, 'outage')).toBe(200);
    expect(await post(probe, 'no-such-fault')).toBe(400);

    const [, labDown] = await Promise.all([
      waitFor(async () => {
        const d = await device(projector);
        return d.latest?.values.errorLamp === 'error' && d.alarms.some((a) => a.severity === 'critical') && d;
      }, 'the lamp failure and its alarm'),
      waitFor(async () => {
        const d = await device(lab);
        return d.status.state === 'unreachable' && d;
      }, 'the OPC UA server restart'),
      waitFor(async () => (await device(router)).status.state === 'unreachable', 'the router reboot'),
      waitFor(async () => (await device(probe)).latest?.values.wanUp === false, 'the link outage'),
    ]);
    const summary = (await api<SchoolSummary[]>('/api/schools')).find((x) => x.id === school(0).id)!;
    expect(summary.alarms.critical).toBeGreaterThanOrEqual(1);
    expect(summary.devices.problems).toBeGreaterThanOrEqual(1);

    for (const [id, fault] of [[projector, 'lamp-failure'], [probe, 'outage']] as const) expect(await post(id, fault, 'DELETE')).toBe(200);
    // The lab's server comes back by itself after 15 s, the router after its 20 s reboot.
    await Promise.all([
      waitFor(async () => {
        const d = await device(projector);
        return d.latest?.values.errorLamp !== 'error' && !d.alarms.some((a) => a.ruleId === 'lamp-error') && d;
      }, 'the lamp to be replaced'),
      waitFor(async () => (await device(probe)).latest?.values.wanUp === true, 'the link back'),
      waitFor(async () => {
        const d = await device(lab);
        // A reading taken after the server went away: it answers again.
        return d.status.state === 'ok' && d.latest!.ts > (labDown.status.since ?? 0) && d;
      }, 'the lab answering again'),
      waitFor(async () => {
        const d = await device(router);
        return d.status.state === 'ok' && (d.latest!.values.uptimeS as number) < uptimeBefore && d;
      }, 'the router back, its uptime restarted'),
    ]);
  }, LONG);

  it("marks a school offline by its gateway's last will when the gateway dies", async () => {
    const s = school(2);
    await district.kill(s.id);
    // keepalive 30 s: the broker notices within 1.5x keepalive and publishes the will.
    const offline = await waitFor(async () => {
      const list = await api<SchoolSummary[]>('/api/schools');
      return list.find((x) => x.id === s.id && !x.online);
    }, 'the school to go offline');
    expect(offline.online).toBe(false);
  }, LONG);
});
