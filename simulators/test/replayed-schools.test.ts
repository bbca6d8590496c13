/**
 * Replayed schools (startDistrict's `replayedSchools`, npm start's --replayed-schools): one
 * process speaks for many schools to the real district broker, each with its own gateway
 * credentials, and the real cloud shows them as it shows a school with a real gateway.
 *
 * First, without processes: the readings model keeps every value of every shipped profile in
 * its type and range and clear of the profile's alarms (unless a fault is planned), and the
 * same seed gives the same readings and faults. Then a district of one real school and
 * twenty replayed ones: every replayed school online with every device reporting and its
 * figures, the planned faults showing, the broker's ACL pinning a replayed school's
 * credentials to its own school, and the replayed schools coming back by themselves after a
 * broker restart and after the replayer itself is killed and started again.
 *
 * Deterministic on a loaded machine: every step waits for a condition the API or the broker
 * shows (simulators/test/support/wait.ts), never for a guessed time, and nothing asserts how
 * long anything took (simulators/bench/replay-load.ts measures what the replayer costs).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ack, checkValues, decode, districtTopics, loadProfiles, localTime, zonedInstant, type DeviceProfile, type Lesson, type MetricValue, type School } from '@schoolops/device-profiles';
import type { DeviceView, SchoolSummary } from '@schoolops/cloud';
import { generateDistrict } from '../src/district/index.ts';
import { startDistrict, type RunningDistrict } from '../src/launcher/district.ts';
import { deviceFaults, faultCounts, planFaults } from '../src/replay/plan.ts';
import { RoomTimetable, type RoomUse } from '../src/replay/rooms.ts';
import { ReplayedDevice } from '../src/replay/values.ts';
import { SAFETY_DEADLINE_MS, waitFor } from './support/wait.ts';

const REAL = 1;
const REPLAYED = 20;
/** A Monday lesson whenever the test runs, so rooms are in use and figures have something to count. */
const SCHOOL_TIME = '2025-03-10 09:05';
const LONG = 2 * SAFETY_DEADLINE_MS;
const profiles = loadProfiles();

/** Does a health rule of `profile` hold for `values` (the cloud's check, without the hold time)? */
function rulesHolding(profile: DeviceProfile, values: Record<string, MetricValue>): string[] {
  return profile.health.rules
    .filter((rule) => {
      const value = values[rule.metric];
      if (value === undefined) return false;
      if (rule.op === 'eq') return value === rule.value;
      if (rule.op === 'ne') return value !== rule.value;
      return typeof value === 'number' && (rule.op === 'gt' ? value > (rule.value as number) : value < (rule.value as number));
    })
    .map((rule) => rule.id);
}

/** A lesson as the replayer's timetable gives it to a device in its room. */
const useOf = (school: School, lesson: Lesson): RoomUse => ({
  classId: lesson.classId,
  day: lesson.day,
  period: lesson.period,
  enrolment: school.classes.find((c) => c.id === lesson.classId)!.enrolment,
});

describe('replayed readings, without processes', () => {
  const district = generateDistrict({ seed: 7, schools: 12 });

  it('keeps every value of every device in its type and range, moving, and clear of its alarms', () => {
    const problems: string[] = [];
    let checked = 0;
    for (const school of district.schools)
      for (const record of school.devices) {
        const profile = profiles.get(record.profileId)!;
        const device = new ReplayedDevice(record, profile, 7);
        const lesson = school.timetable.lessons.find((l) => l.roomId === record.roomId);
        const seen = new Map<string, Set<string>>();
        // Two hours of readings at the profile's interval, the room in use half the time.
        const step = profile.reportIntervalSeconds * 1000;
        for (let t = 0; t < 2 * 3_600_000; t += step) {
          const use = lesson && Math.floor(t / 1_800_000) % 2 === 0 ? useOf(school, lesson) : null;
          const values = device.sample(1_700_000_000_000 + t, use);
          const problem = checkValues(profile, values);
          if (problem) problems.push(`${record.id}: ${problem.metric}: ${problem.detail}`);
          const raised = rulesHolding(profile, values);
          if (raised.length) problems.push(`${record.id}: raises ${raised.join(', ')} with ${JSON.stringify(values)}`);
          for (const [name, value] of Object.entries(values)) seen.set(name, (seen.get(name) ?? new Set()).add(JSON.stringify(value)));
          checked++;
        }
        // The numbers that are not held steady by design move from one reading to the next.
        const moving = ['inBps', 'latencyMs', 'roomTemperature', 'temperature', 'humidity'].filter((m) => seen.has(m));
        for (const m of moving) if (seen.get(m)!.size < 3) problems.push(`${record.id}: ${m} does not move (${[...seen.get(m)!].join(', ')})`);
      }
    expect(problems.slice(0, 10)).toEqual([]);
    expect(checked).toBeGreaterThan(10_000);
  });

  it('follows the timetable: projectors on, boards in session and the class counted in a lesson, nothing in an empty room', () => {
    const school = district.schools[0]!;
    const lesson = school.timetable.lessons[0]!;
    const schoolClass = school.classes.find((c) => c.id === lesson.classId)!;
    const inRoom = school.devices.filter((d) => d.roomId === lesson.roomId);
    const camera = inRoom.find((d) => profiles.get(d.profileId)!.kind === 'camera')!;
    const counted = new ReplayedDevice(camera, profiles.get(camera.profileId)!, 7).sample(1_700_000_000_000, useOf(school, lesson));
    expect(counted).toMatchObject({ occupied: true, classId: lesson.classId, period: lesson.period, enrolled: schoolClass.enrolment });
    expect(counted.headcount as number).toBeGreaterThan(schoolClass.enrolment - 4);
    const empty = new ReplayedDevice(camera, profiles.get(camera.profileId)!, 7).sample(1_700_000_000_000, null);
    expect(empty).toMatchObject({ occupied: false, headcount: 0 });
    expect(empty.classId).toBeUndefined();
    const projectorOn = (use: boolean) =>
      school.devices
        .filter((d) => profiles.get(d.profileId)!.kind === 'display' && d.roomId === lesson.roomId)
        .map((d) => new ReplayedDevice(d, profiles.get(d.profileId)!, 7).sample(1_700_000_000_000, use ? useOf(school, lesson) : null).power);
    expect(projectorOn(false).every((p) => p === 'off')).toBe(true);
    expect(projectorOn(true).length).toBeGreaterThan(0);
    // Most teachers switch the projector on (nine in ten, drawn once per device).
    const slot = school.timetable.lessons.filter((l) => l.day === lesson.day && l.period === lesson.period);
    const powers = slot.flatMap((l) =>
      school.devices
        .filter((d) => d.roomId === l.roomId && profiles.get(d.profileId)!.kind === 'display')
        .map((d) => new ReplayedDevice(d, profiles.get(d.profileId)!, 7).sample(1_700_000_000_000, useOf(school, l)).power),
    );
    expect(powers.filter((p) => p === 'on').length / powers.length).toBeGreaterThan(0.7);
    // The replayer's compact timetable finds the same lessons at that school time (2025-03-10 is a Monday).
    const period = school.timetable.periods.find((p) => p.n === lesson.period)!;
    const [h, m] = period.start.split(':').map(Number) as [number, number];
    const at = localTime(new Date(zonedInstant(`2025-03-${String(9 + lesson.day).padStart(2, '0')}`, h * 60 + m + 1)));
    const rooms = new RoomTimetable(school).at(at);
    expect(rooms.size).toBe(slot.length);
    expect(rooms.get(lesson.roomId)).toEqual(useOf(school, lesson));
    expect(new RoomTimetable(school).at(localTime(new Date(zonedInstant('2025-03-16', 9 * 60)))).size).toBe(0); // a Sunday
  });

  it('gives the same readings and faults for the same seed, and plans faults that show', () => {
    const school = district.schools[1]!;
    const sample = (seed: number) => school.devices.slice(0, 20).map((d) => new ReplayedDevice(d, profiles.get(d.profileId)!, seed).sample(1_700_000_000_000, null));
    expect(sample(7)).toEqual(sample(7));
    expect(sample(8)).not.toEqual(sample(7));
    const plan = planFaults(district.schools, profiles, 7);
    expect(planFaults(district.schools, profiles, 7)).toEqual(plan);
    const counts = faultCounts(district.schools.length);
    expect(plan.offline).toHaveLength(counts.offline);
    expect(plan.linkDown).toHaveLength(1);
    expect(plan.lampErrors).toHaveLength(counts.lampSchools);
    expect(faultCounts(147)).toEqual({ offline: 4, linkDown: 1, lampSchools: 15 });
    const faults = deviceFaults(district.schools, profiles, plan);
    for (const id of plan.lampErrors) {
      const record = district.schools.flatMap((s) => s.devices).find((d) => d.id === id)!;
      const values = new ReplayedDevice(record, profiles.get(record.profileId)!, 7, faults.get(id)).sample(1_700_000_000_000, null);
      expect(values.errorLamp).toBe('error');
      expect(checkValues(profiles.get(record.profileId)!, values)).toBeNull();
    }
    const probe = district.schools.find((s) => s.id === plan.linkDown[0])!.devices.find((d) => faults.get(d.id) === 'link-down')!;
    const down = new ReplayedDevice(probe, profiles.get(probe.profileId)!, 7, 'link-down').sample(1_700_000_000_000, null);
    expect(down).toMatchObject({ wanUp: false, lossPct: 100, httpOk: false });
    expect(checkValues(profiles.get(probe.profileId)!, down)).toBeNull();
  });
});

describe('a district with replayed schools', () => {
  let district: RunningDistrict;
  let dataDir: string;
  const api = async <T>(path: string): Promise<T> => {
    const response = await district.api(path);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return (await response.json()) as T;
  };
  const replayed = (): School[] => district.inventory.schools.slice(REAL);
  const plannedOffline = () => new Set(district.replay!.faults.offline);
  const onlineReplayed = () => replayed().filter((s) => !plannedOffline().has(s.id));
  type Detail = SchoolSummary & { gateway: { state: string; bootId: string | null; since: number | null } };

  /** Every replayed school meant to be online is, with every device reporting; says which are not. */
  const allReplayedReporting = async (after = 0): Promise<SchoolSummary[] | false> => {
    const list = await api<SchoolSummary[]>('/api/schools');
    const byId = new Map(list.map((s) => [s.id, s]));
    const wanted = onlineReplayed().map((s) => byId.get(s.id)!);
    if (!wanted.every((s) => s.online && s.devices.reporting === s.devices.total)) return false;
    if (after > 0) {
      // Online by a status sent after `after`: a new connection, not the cloud's memory of an old one.
      const details = await Promise.all(wanted.map((s) => api<Detail>(`/api/schools/${s.id}`)));
      if (!details.every((d) => d.gateway.state === 'online' && (d.gateway.since ?? 0) > after)) return false;
    }
    return wanted;
  };
  const explain = async (error: Error): Promise<never> => {
    const list = await api<SchoolSummary[]>('/api/schools');
    throw new Error(`${error.message}; schools: ${list.map((s) => `${s.id} ${s.online ? 'online' : 'OFFLINE'} ${s.devices.reporting}/${s.devices.total}`).join(', ')}`);
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'schoolops-replay-'));
    district = await startDistrict({
      schools: REAL,
      replayedSchools: REPLAYED,
      port: 0,
      mqttPort: 0,
      dataDir,
      cameraSchedule: 'on-request',
      schoolTime: SCHOOL_TIME,
    });
  }, LONG);

  afterAll(async () => {
    await district?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows every replayed school online with all its devices reporting and its figures, as a real gateway', async () => {
    expect(district.inventory.schools).toHaveLength(REAL + REPLAYED);
    expect(district.replay!.schools).toEqual(replayed().map((s) => s.id));
    expect(district.pid('replay')).toBeGreaterThan(0);
    // No gateway process for a replayed school: the replayer is its gateway.
    expect(() => district.pid(replayed()[0]!.id)).toThrow(/replayed/);
    const schools = await waitFor(() => allReplayedReporting(), 'every replayed school online with every device reporting').catch(explain);
    expect(schools).toHaveLength(REPLAYED - district.replay!.faults.offline.length);
    const linkDown = new Set(district.replay!.faults.linkDown);
    for (const s of schools) {
      expect(s.devices.total, s.id).toBeGreaterThan(20);
      expect(s.devices.problems, s.id).toBe(0);
      expect(s.figures.inBps, s.id).toBeGreaterThan(0);
      expect(s.figures.labTemperatureAvg, s.id).not.toBeNull();
      // A lesson is on: projectors are on and classes are counted.
      expect(s.figures.projectorsOn, s.id).toBeGreaterThan(0);
      expect(s.figures.headcount, s.id).toBeGreaterThan(0);
      if (!linkDown.has(s.id)) expect(s.figures.latencyMs, s.id).toBeGreaterThan(0);
    }
    // Health reports arrive as a gateway's do.
    const detail = await waitFor(async () => {
      const d = await api<Detail & { gateway: { health: { devicesConfigured: number } | null } }>(`/api/schools/${schools[0]!.id}`);
      return d.gateway.health && d;
    }, 'a replayed gateway health report');
    expect(detail.gateway.health!.devicesConfigured).toBe(detail.devices.total);
    // Every reading passed the district's checks, as a real gateway's do.
    const stats = await api<{ rejected: Record<string, number>; readings: number }>('/api/ingest/stats');
    expect(Object.entries(stats.rejected).filter(([, n]) => n > 0)).toEqual([]);
    expect(stats.readings).toBeGreaterThan(schools.reduce((n, s) => n + s.devices.total, 0));
  }, LONG);

  it('shows the planned faults: schools offline, a school without internet, failed projector lamps; no alarm elsewhere', async () => {
    const { offline, linkDown, lampErrors } = district.replay!.faults;
    expect(offline.length).toBeGreaterThan(0);
    expect(linkDown).toHaveLength(1);
    expect(lampErrors.length).toBeGreaterThan(0);
    await waitFor(() => allReplayedReporting(), 'every replayed school online').catch(explain);
    const list = await api<SchoolSummary[]>('/api/schools');
    for (const id of offline) {
      const detail = await waitFor(async () => {
        const d = await api<Detail>(`/api/schools/${id}`);
        return d.gateway.state === 'offline' && d;
      }, `${id}'s retained offline status`);
      expect(detail.online).toBe(false);
      expect(detail.devices.reporting).toBe(0);
    }
    const probe = await waitFor(async () => {
      const devices = await api<DeviceView[]>(`/api/schools/${linkDown[0]}/devices`);
      const p = devices.find((d) => d.profileId === 'schoolops-link-probe');
      return p?.latest?.values.wanUp === false && p.alarms.some((a) => a.ruleId === 'wan-down' && a.severity === 'critical') && p;
    }, 'the link-down school probe reporting wanUp false with its alarm');
    expect(probe.latest!.values.lossPct).toBe(100);
    for (const id of lampErrors) {
      const device = await waitFor(async () => {
        const d = await api<DeviceView>(`/api/devices/${id}`);
        return d.latest?.values.errorLamp === 'error' && d.alarms.some((a) => a.severity === 'critical') && d;
      }, `${id}'s failed lamp and its alarm`);
      expect(device.status.state).toBe('ok');
    }
    const summary = (await api<SchoolSummary[]>('/api/schools')).find((s) => lampErrors[0]!.startsWith(`${s.id}.`))!;
    expect(summary.alarms.critical).toBeGreaterThanOrEqual(1);
    // Everything else is healthy: no alarm in a replayed school without a planned fault.
    const faulted = new Set([...offline, ...linkDown, ...lampErrors.map((id) => replayed().find((s) => id.startsWith(`${s.id}.`))!.id)]);
    const quiet = list.filter((s) => district.replay!.schools.includes(s.id) && !faulted.has(s.id));
    expect(quiet.length).toBeGreaterThan(0);
    for (const s of quiet) expect(s.alarms, s.id).toEqual({ critical: 0, warning: 0, info: 0 });
  }, LONG);

  it("refuses a replayed school's readings on another school's topic: its credentials are its own school's", async () => {
    const [a, b] = onlineReplayed().filter((s) => !district.replay!.faults.linkDown.includes(s.id));
    const password = readFileSync(district.files.gatewayPasswordFiles.get(a!.id)!, 'utf8').trim();
    const refusedBefore = await brokerRefusals();
    // School A's replayed gateway credentials, under a client id of their own (the replayer's session stays up).
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${district.mqttPort}`, {
      username: a!.gatewayId,
      password,
      clientId: `${a!.gatewayId}-acl-test`,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    const acks: unknown[] = [];
    client.on('message', (_topic, payload) => {
      const ack = decode(Ack, payload);
      if (ack.ok) acks.push(ack.value);
    });
    await client.subscribeAsync(districtTopics.ack(a!.id), { qos: 1 });
    const bootId = `acl${randomBytes(6).toString('hex')}`;
    const batch = (school: School) => ({
      v: 1,
      gatewayId: school.gatewayId,
      schoolId: school.id,
      bootId,
      seq: 0,
      sentAt: Date.now(),
      readings: [{ deviceId: school.devices.find((d) => d.profileId === 'mikrotik-hex-s')!.id, ts: Date.now(), values: { linkUp: true } }],
    });
    // On its own school's topic the district stores it and says so.
    await client.publishAsync(districtTopics.telemetry(a!.id), JSON.stringify(batch(a!)), { qos: 1 });
    await waitFor(() => acks.some((x) => (x as { bootId?: string }).bootId === bootId && (x as { result: string }).result === 'stored'), "the district's ack of A's batch");
    // On school B's topic the broker refuses it: MQTT 3.1.1 has no refusal, it closes the connection.
    client.publish(districtTopics.telemetry(b!.id), JSON.stringify(batch(b!)), { qos: 1 });
    await waitFor(() => !client.connected, 'the broker to close the connection');
    client.end(true);
    const refusedAfter = await waitFor(async () => {
      const n = await brokerRefusals();
      return n > refusedBefore && n;
    }, 'the refusal counted by the broker');
    expect(refusedAfter).toBeGreaterThan(refusedBefore);
    const history = await api<unknown>(`/api/devices/${batch(b!).readings[0]!.deviceId}/history?from=${Date.now() - 120_000}&metric=linkUp`);
    expect(JSON.stringify(history)).not.toContain(bootId);
    // The replayer's own connection for A was not disturbed.
    expect((await api<SchoolSummary[]>('/api/schools')).find((s) => s.id === a!.id)!.online).toBe(true);
  }, LONG);

  async function brokerRefusals(): Promise<number> {
    const body = await api<{ broker: { refused: Record<string, number> } | null }>('/api/ingest/stats');
    return body.broker?.refused.publish_denied ?? 0;
  }

  it('brings the replayed schools back by themselves after the broker restarts', async () => {
    await waitFor(() => allReplayedReporting(), 'every replayed school online').catch(explain);
    await district.kill('broker');
    const restartedAt = Date.now();
    await district.start('broker');
    await waitFor(() => allReplayedReporting(restartedAt), 'every replayed school online again, by a new connection').catch(explain);
    // And they keep reporting: a reading after the restart from every device of one school
    // that reports at least once a minute (a camera counts every 15 minutes).
    const school = onlineReplayed()[0]!;
    await waitFor(async () => {
      const devices = await api<DeviceView[]>(`/api/schools/${school.id}/devices`);
      return devices.filter((d) => profiles.get(d.profileId)!.reportIntervalSeconds <= 60).every((d) => (d.latest?.ts ?? 0) > restartedAt);
    }, `${school.id}'s devices reporting after the restart`);
  }, LONG);

  it('marks them offline when the replayer dies, and online again when it starts', async () => {
    const before = await api<Detail>(`/api/schools/${onlineReplayed()[0]!.id}`);
    await district.kill('replay');
    // The OS closes its sockets at once: the broker publishes every school's last will.
    await waitFor(async () => {
      const list = await api<SchoolSummary[]>('/api/schools');
      return onlineReplayed().every((s) => !list.find((x) => x.id === s.id)!.online);
    }, 'every replayed school offline by its last will');
    expect((await api<SchoolSummary[]>('/api/schools')).find((s) => s.id === district.inventory.schools[0]!.id)!.online).toBe(true);
    const startedAt = Date.now();
    await district.start('replay');
    await waitFor(() => allReplayedReporting(startedAt), 'every replayed school online again').catch(explain);
    const after = await api<Detail>(`/api/schools/${onlineReplayed()[0]!.id}`);
    expect(after.gateway.bootId).not.toBe(before.gateway.bootId);
  }, LONG);
});
