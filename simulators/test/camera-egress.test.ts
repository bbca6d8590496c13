/**
 * Privacy by construction, checked from the outside: a simulated school whose cameras show
 * a class in every room (the district runs on school time, a Monday lesson), its gateway
 * fetching and counting their snapshots, and a listener on the district broker capturing
 * everything the gateway sends upstream. Counts must arrive; nothing image-like may: no JPEG
 * bytes, no base64 of them, no long strings, no value the camera's profile does not define.
 * The counts must then make the principal's attendance for that lesson.
 *
 * The gateway counts when the district asks (each camera's countNow command, the school's
 * cameras on 'on-request'), so the test waits for counts it asked for, not for a race of 31
 * cameras at the face counter.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { districtTopics, loadProfiles, parseDistrictTopic } from '@schoolops/device-profiles';
import { startDistrict, type RunningDistrict } from '../src/launcher/district.ts';
import { countCameras } from './support/cameras.ts';
import { SAFETY_DEADLINE_MS, waitFor } from './support/wait.ts';

const LONG = 2 * SAFETY_DEADLINE_MS;

const JPEG_SOI = Buffer.from([0xff, 0xd8, 0xff]);
/** The start of a JPEG in base64 ("/9j/") and in hex. */
const ENCODED_JPEG = [/\/9j\//, /ffd8ff/i];

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('camera attendance: what leaves the school', () => {
  let district: RunningDistrict;
  let dataDir: string;
  const captured: { topic: string; payload: Buffer }[] = [];
  let listener: mqtt.MqttClient;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'schoolops-egress-'));
    // Monday 09:05 in Ho Chi Minh City, a third into period 3: classes in their rooms, and the
    // gateway's first count of the period due. Devices, gateway and cloud share this time.
    district = await startDistrict({ schools: 1, port: 0, mqttPort: 0, dataDir, deviceIntervalMs: 1000, schoolTime: '2025-03-10 09:05', cameraSchedule: 'on-request' });
    const password = readFileSync(join(dataDir, 'cloud', 'mqtt.secret'), 'utf8').trim();
    listener = await mqtt.connectAsync(`mqtt://127.0.0.1:${district.mqttPort}`, { username: 'cloud', password, clientId: 'egress-listener', protocolVersion: 4 });
    listener.on('message', (topic, payload) => captured.push({ topic, payload: Buffer.from(payload) }));
    await listener.subscribeAsync(districtTopics.allUplink, { qos: 1 });
  }, LONG);

  afterAll(async () => {
    await listener?.endAsync();
    await district?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('sends counts of the faces in each room, and nothing image-like, upstream or to disk or logs', async () => {
    const school = district.inventory.schools[0]!;
    const profile = loadProfiles().get('hikvision-ds-2cd2143')!;
    const cameras = new Set(school.devices.filter((d) => d.profileId === profile.id).map((d) => d.id));
    // Commands reach a gateway once it is connected: wait until the district sees it online.
    await waitFor(async () => {
      const schools = (await (await district.api(`/api/schools`)).json()) as Array<{ id: string; online: boolean }>;
      return schools.some((s) => s.id === school.id && s.online);
    }, 'the school online');
    // The cameras count when asked: each one, a few at a time.
    const counted = await countCameras(district.api, [...cameras]);
    expect(counted.size, 'every camera counted').toBe(cameras.size);
    // What the gateway sent upstream carries every count too (the listener saw it).
    await waitFor(() => {
      const seen = new Set<string>();
      for (const { topic, payload } of captured) {
        if (parseDistrictTopic(topic)?.rest[0] !== 'telemetry') continue;
        for (const r of JSON.parse(payload.toString()).readings as { deviceId: string; values: Record<string, unknown> }[])
          if (cameras.has(r.deviceId) && typeof r.values.headcount === 'number') seen.add(r.deviceId);
      }
      return seen.size === cameras.size;
    }, 'every count in what the gateway sent upstream');
    // The snapshots showed classes: the counts are of real faces found in them.
    const withPeople = [...counted.values()].filter((n) => n >= 10);
    expect(withPeople.length, 'rooms counted with a class in them').toBeGreaterThan(cameras.size / 3);

    const metrics = new Set(profile.metrics.map((m) => m.name));
    let bytes = 0;
    for (const { topic, payload } of captured) {
      bytes += payload.length;
      expect(payload.includes(JPEG_SOI), `JPEG bytes on ${topic}`).toBe(false);
      const text = payload.toString('utf8');
      for (const pattern of ENCODED_JPEG) expect(pattern.test(text), `${pattern} on ${topic}`).toBe(false);
      const body = JSON.parse(text) as { readings?: { deviceId: string; values: Record<string, unknown> }[] };
      for (const reading of body.readings ?? []) {
        for (const [name, value] of Object.entries(reading.values)) {
          if (typeof value === 'string') expect(value.length, `${reading.deviceId}.${name}`).toBeLessThanOrEqual(64);
          if (cameras.has(reading.deviceId)) expect(metrics.has(name), `camera value "${name}"`).toBe(true);
        }
      }
    }
    // A whole school's uplink in this run is readings, not frames (one 1080p JPEG is ~150 kB).
    console.log(`egress: ${captured.length} messages, ${bytes} bytes, ${counted.size} cameras counted, ${withPeople.length} with a class`);

    // Nor on the gateway's disk (its queue) or in any log.
    const gatewayFiles = [...filesUnder(join(dataDir, 'gateways')).filter((f) => f.includes('.queue')), ...filesUnder(join(dataDir, 'logs'))].filter(
      (f) => !f.includes('opcua-pki') && !f.endsWith('devices.log'),
    );
    for (const file of gatewayFiles) {
      const content = readFileSync(file);
      expect(content.includes(JPEG_SOI), `JPEG bytes in ${file}`).toBe(false);
      expect(/\/9j\//.test(content.toString('latin1')), `base64 JPEG in ${file}`).toBe(false);
    }
  }, LONG);

  it("makes the principal's attendance for the lesson, on the district's school time", async () => {
    const school = district.inventory.schools[0]!;
    type Lesson = { period: number; classId: string; enrolled: number; counts: number; attendancePct: number | null };
    type Day = { date: string; clockOffsetMs: number; lessons: Lesson[] };
    const lessonsNow = school.timetable.lessons.filter((l) => l.day === 1 && l.period === 3);
    // Every room of a period-3 lesson with a camera in it was counted (the first test asked each camera).
    const rooms = new Set(school.devices.filter((d) => d.profileId === 'hikvision-ds-2cd2143').map((d) => d.roomId));
    const watched = lessonsNow.filter((l) => rooms.has(l.roomId));
    expect(watched.length).toBeGreaterThan(0);
    let counted: Lesson[] = [];
    const day = await waitFor(async () => {
      const body = (await (await district.api(`/api/schools/${school.id}/attendance`)).json()) as Day;
      counted = body.lessons.filter((l) => l.period === 3 && l.counts > 0);
      return counted.length === watched.length && body;
    }, 'attendance for every watched period-3 lesson');
    // "Today" is the school's day, not the machine's, and the API says its clock is moved.
    expect(day.date).toBe('2025-03-10');
    expect(day.clockOffsetMs).not.toBe(0);
    console.log(`attendance: ${counted.length} of ${lessonsNow.length} period-3 lessons counted`);
    expect(counted.map((l) => l.classId).sort()).toEqual(watched.map((l) => l.classId).sort());
    // The simulated rooms hold most of the class: rates are plausible, not zero or 300 %.
    for (const l of counted) expect(l.attendancePct, l.classId).toSatisfy((pct: number | null) => pct !== null && pct >= 40 && pct <= 110);
  }, LONG);
});
