/**
 * Counts the district asks for (the camera profile's `countNow` command) and cameras that
 * count only when asked (`schedule: "on-request"`), against the camera simulator over real
 * HTTP. The school clock is injected: a count is due or not by the timetable, never by how
 * long the test ran. The face counter is a stand-in that can say "busy", as the gateway's
 * shared counter does when other cameras hold it.
 */
import type { Lesson, Period, SchoolClass } from '@schoolops/device-profiles';
import { checkOrThrow, loadProfiles } from '@schoolops/device-profiles';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CameraSimulator } from '../../simulators/src/protocols/camera-http.ts';
import { CameraOptions, createCameraDriver, type FaceCounter, type SchoolTimetable } from '../src/drivers/camera.ts';
import type { DeviceHandle, DriverContext, DriverDevice } from '../src/drivers/types.ts';

const logger = pino({ level: 'silent' });
const profile = loadProfiles().get('hikvision-ds-2cd2143')!;

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const periods: Period[] = [{ n: 1, start: '07:00', end: '07:45' }];
const lessons: Lesson[] = [{ day: 1, period: 1, roomId: 'r101', classId: '6a', subject: { vi: 'Toán', en: 'Mathematics' } }];
const classes: SchoolClass[] = [{ id: '6a', name: '6A', grade: 6, enrolment: 30, homeRoomId: 'r101' }];
const timetable: SchoolTimetable = { timezone: 'Asia/Ho_Chi_Minh', periods, lessons, classes };

/** A counter that answers 21 faces, or "busy" (null) while `busy` is set; it records each frame's place in line. */
function stubCounter() {
  const counter = {
    busy: false,
    frames: 0,
    dueSince: [] as number[],
    async countFaces(_jpeg: Uint8Array, _signal: AbortSignal, _faces?: unknown, dueSince?: number): Promise<number | null> {
      counter.dueSince.push(dueSince ?? NaN);
      if (counter.busy) return null;
      counter.frames++;
      return 21;
    },
  };
  return counter satisfies FaceCounter;
}

async function openCamera(options: Record<string, unknown>, schoolTime: string) {
  const sim = new CameraSimulator({ read: () => ({ headcount: 21 }) });
  cleanups.push(() => sim.stop());
  await sim.start();
  if (profile.protocol.type !== 'http-snapshot') throw new Error('profile is not a camera');
  const device: DriverDevice<'http-snapshot', CameraOptions> = {
    record: { id: 'cam-r101', profileId: profile.id, roomId: 'r101', address: { host: '127.0.0.1', port: sim.port } },
    profile,
    protocol: profile.protocol,
    options: checkOrThrow(CameraOptions, options, 'test options'),
    host: '127.0.0.1',
    port: sim.port,
    intervalMs: 60_000,
    dataDir: undefined,
  };
  const counter = stubCounter();
  const clock = { school: new Date(schoolTime), elapsed: 1_000_000 };
  const driver = createCameraDriver({ counter, timetable, now: () => clock.school, elapsedMs: () => clock.elapsed });
  const ctx = { device, logger, signal: new AbortController().signal, report: () => undefined, ok: () => undefined, fail: () => undefined };
  const handle: DeviceHandle = driver.open(ctx as DriverContext<'http-snapshot', CameraOptions>);
  cleanups.push(() => handle.close());
  return {
    counter,
    clock,
    poll: () => handle.poll!(AbortSignal.timeout(20_000)),
    command: (name: string) => handle.command!(name, {}, AbortSignal.timeout(10_000)),
    countNow: () => handle.command!('countNow', {}, AbortSignal.timeout(10_000)),
  };
}

describe('camera driver: counts on request', () => {
  it('counts at the next poll after countNow, with the lesson it falls in, even before the lesson is due a count', async () => {
    // Monday 07:05: period 1 (07:00-07:45) has begun, its first count is due at a quarter (07:11).
    const cam = await openCamera({}, '2025-03-10T07:05:00+07:00');
    // Not due yet: the first poll only says the camera is there (it took a TCP connection).
    expect(await cam.poll()).toEqual({ reachable: true });
    expect(cam.counter.frames).toBe(0);
    await cam.countNow();
    expect(await cam.poll()).toMatchObject({ headcount: 21, classId: '6a', period: 1, enrolled: 30, attendancePct: 66.7 });
    // One request, one count.
    expect(await cam.poll()).toEqual({});
    expect(cam.counter.frames).toBe(1);
  });

  it('keeps a request while the counter is busy, and its place in line from when it was asked', async () => {
    const cam = await openCamera({ schedule: 'on-request' }, '2025-03-10T07:20:00+07:00');
    await cam.countNow();
    cam.counter.busy = true;
    // The snapshot came, the counter had no room: the camera is there (said once), no count yet.
    expect(await cam.poll()).toEqual({ reachable: true });
    expect(await cam.poll()).toEqual({});
    cam.counter.busy = false;
    expect(await cam.poll()).toMatchObject({ headcount: 21 });
    // Every try went to the counter as due since the request, so later cameras do not pass it.
    expect(new Set(cam.counter.dueSince).size).toBe(1);
    expect(await cam.poll()).toEqual({});
  });

  it('on-request: never counts by the timetable, only when asked', async () => {
    const cam = await openCamera({ schedule: 'on-request' }, '2025-03-10T07:20:00+07:00');
    // 07:20 is past period 1's first count (07:11) and a free room is due every 15 minutes after it.
    for (const at of ['07:20', '07:40', '08:00', '08:30']) {
      cam.clock.school = new Date(`2025-03-10T${at}:00+07:00`);
      cam.clock.elapsed += 20 * 60_000;
      // Only the first presence check is reported (the camera is there); the later ones say nothing new.
      expect(await cam.poll(), at).toEqual(at === '07:20' ? { reachable: true } : {});
    }
    expect(cam.counter.frames).toBe(0);
    await cam.countNow();
    expect(await cam.poll()).toMatchObject({ headcount: 21, occupied: true });
    expect(cam.counter.frames).toBe(1);
  });

  it('timetable: a requested count stands for the slot it falls in, so the slot is not counted twice', async () => {
    const cam = await openCamera({}, '2025-03-10T07:12:00+07:00');
    await cam.countNow();
    expect(await cam.poll()).toMatchObject({ period: 1 });
    expect(await cam.poll()).toEqual({});
    // Three quarters in (07:34): the second count of the period is due by itself.
    cam.clock.school = new Date('2025-03-10T07:35:00+07:00');
    expect(await cam.poll()).toMatchObject({ period: 1 });
    expect(cam.counter.frames).toBe(2);
  });

  it('refuses a command it does not have, and a schedule it does not know', async () => {
    const cam = await openCamera({}, '2025-03-10T07:12:00+07:00');
    await expect(cam.command('selfDestruct')).rejects.toThrow(/no command "selfDestruct"/);
    expect(await cam.poll()).toMatchObject({ period: 1 }); // the slot's own count, nothing else
    expect(cam.counter.frames).toBe(1);
    expect(() => checkOrThrow(CameraOptions, { schedule: 'hourly' }, 'options')).toThrow(/schedule/);
    expect(profile.commands.map((c) => c.name)).toEqual(['countNow']);
  });
});
