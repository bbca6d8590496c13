/**
 * Classroom camera driver (HTTP JPEG snapshots), poll mode: the gateway fetches a snapshot,
 * counts the faces in it on this box (edge-agent/src/vision/, in a worker thread), and
 * reports numbers only: how many people, whether the room is occupied, and during a lesson
 * which class it is, how many are enrolled and the attendance rate.
 *
 * Privacy by construction: the JPEG lives in memory for the length of one count and is then
 * dropped; it is never written, logged or sent, and the counter returns a count, nothing
 * image-like. See docs/PRIVACY.md.
 *
 * When: counts are tied to the timetable. During a lesson in the camera's room, twice a
 * period (a quarter and three quarters of the way through, after late arrivals settle and
 * before early leavers); outside lessons, once every 15 minutes, for room usage. The runner
 * polls every minute; a poll that is not due reports nothing and costs nothing.
 */
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { hhmmToMinutes, localTime, periodAt, type Lesson, type MetricValues, type Period, type SchoolClass } from '@schoolops/device-profiles';
import { DriverError, type Driver, type DriverDevice } from './types.ts';

export const CameraOptions = Type.Object(
  {
    /** HTTP Basic credentials of the camera's snapshot user (a read-only account). */
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    passwordFile: Type.Optional(Type.String({ minLength: 1 })),
    /** Full snapshot URL, when the address's host + the profile's path is not it. */
    url: Type.Optional(Type.String({ pattern: '^https?://' })),
  },
  { additionalProperties: false },
);
export type CameraOptions = Static<typeof CameraOptions>;

/**
 * Counts faces in a JPEG; implemented by the vision worker (vision-counter.ts). Returns a
 * number and nothing else, or null when the counter is busy with other cameras' frames:
 * the count is then tried again at the next poll.
 */
export interface FaceCounter {
  countFaces(jpeg: Uint8Array, signal: AbortSignal): Promise<number | null>;
}

/** The school's timetable as the gateway gets it in its config. */
export interface SchoolTimetable {
  timezone: string;
  periods: Period[];
  lessons: Lesson[];
  classes: SchoolClass[];
}

/** Largest snapshot accepted (a 4 MP JPEG is well under 2 MB). */
export const MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024;
const FREE_ROOM_EVERY_MIN = 15;
const POLL_EVERY_MS = 60_000;
/** People in a lesson who are not students: the teacher. */
const ADULTS_IN_LESSON = 1;

export interface Slot {
  /** Identifies one count (a room is counted once per slot). */
  key: string;
  lesson: Lesson | null;
  period: Period | null;
}

/** Which count is due for a room at a time, if any. */
export function slotAt(timetable: SchoolTimetable | null, roomId: string, at: Date): Slot {
  if (!timetable) return { key: `free/${Math.floor(at.getTime() / (FREE_ROOM_EVERY_MIN * 60_000))}`, lesson: null, period: null };
  const local = localTime(at, timetable.timezone);
  const period = periodAt(timetable.periods, local.minutes);
  const lesson = period ? timetable.lessons.find((l) => l.day === local.day && l.period === period.n && l.roomId === roomId) : undefined;
  if (period && lesson) {
    const start = hhmmToMinutes(period.start);
    const length = hhmmToMinutes(period.end) - start;
    const half = local.minutes - start < length / 2 ? 0 : 1;
    // The first count a quarter of the way in, the second at three quarters.
    const dueAt = start + length * (half === 0 ? 0.25 : 0.75);
    if (local.minutes < dueAt) return { key: '', lesson, period };
    return { key: `${local.date}/p${period.n}/${half}`, lesson, period };
  }
  return { key: `${local.date}/free/${Math.floor(local.minutes / FREE_ROOM_EVERY_MIN)}`, lesson: null, period: null };
}

function snapshotUrl(device: DriverDevice<'http-snapshot', CameraOptions>): string {
  if (device.options.url) return device.options.url;
  if (device.record.address?.url) return device.record.address.url;
  if (!device.host) throw new DriverError('no_route', `camera ${device.record.id} has no address (host or url)`);
  const host = device.host.includes(':') ? `[${device.host}]` : device.host;
  return `http://${host}:${device.port ?? 80}${device.protocol.path}`;
}

async function fetchSnapshot(url: string, authorization: string | undefined, signal: AbortSignal): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, { signal, headers: authorization ? { authorization } : {}, redirect: 'error' });
  } catch (error) {
    // undici wraps the socket error: its cause carries the code (ECONNREFUSED, ...).
    throw (error as { cause?: unknown }).cause ?? error;
  }
  if (response.status === 401 || response.status === 403) throw new DriverError('auth_failed', `camera answered HTTP ${response.status}`);
  if (!response.ok) throw new DriverError('device_error', `camera answered HTTP ${response.status}`);
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > MAX_SNAPSHOT_BYTES) throw new DriverError('protocol_error', `snapshot of ${declared} bytes is over ${MAX_SNAPSHOT_BYTES}`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body?.getReader();
  for (;;) {
    const next = reader ? await reader.read() : { done: true as const, value: undefined };
    if (next.done) break;
    size += next.value.byteLength;
    if (size > MAX_SNAPSHOT_BYTES) {
      await reader?.cancel();
      throw new DriverError('protocol_error', `snapshot over ${MAX_SNAPSHOT_BYTES} bytes`);
    }
    chunks.push(next.value);
  }
  const jpeg = Buffer.concat(chunks);
  // JPEG starts with SOI (FF D8 FF): anything else is not a snapshot.
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8 || jpeg[2] !== 0xff) throw new DriverError('protocol_error', 'the snapshot is not a JPEG');
  return jpeg;
}

/** The camera driver needs the gateway's face counter and the school's timetable. */
export function createCameraDriver(deps: { counter: FaceCounter; timetable: SchoolTimetable | null; now?: () => Date }): Driver<'http-snapshot', CameraOptions> {
  const now = deps.now ?? (() => new Date());
  const classes = new Map((deps.timetable?.classes ?? []).map((c) => [c.id, c]));
  return {
    protocol: 'http-snapshot',
    mode: 'poll',
    options: CameraOptions,
    pollIntervalMs: () => POLL_EVERY_MS,
    // A gateway that starts must not count all its cameras at once: spread the first counts
    // over a whole interval, so the box stays responsive for its devices while it starts.
    firstPollWithinMs: (device) => device.intervalMs,
    // Fetching a snapshot and counting it: a few seconds at most on a loaded gateway.
    pollTimeoutMs: () => 20_000,
    open(ctx) {
      const device = ctx.device;
      const url = snapshotUrl(device);
      const { username, password, passwordFile } = device.options;
      const secret = password ?? (passwordFile ? readFileSync(passwordFile, 'utf8').trim() : undefined);
      const authorization = username ? `Basic ${Buffer.from(`${username}:${secret ?? ''}`).toString('base64')}` : undefined;
      let lastKey = '';
      return {
        async poll(signal) {
          const slot = slotAt(deps.timetable, device.record.roomId, now());
          if (!slot.key || slot.key === lastKey) return {}; // not due: nothing to report
          const started = Date.now();
          let jpeg: Uint8Array | null = await fetchSnapshot(url, authorization, signal);
          let faces: number | null;
          try {
            faces = await deps.counter.countFaces(jpeg, signal);
          } finally {
            jpeg = null; // the frame is not kept past its count
          }
          if (faces === null) return {}; // the counter is busy: count at the next poll
          lastKey = slot.key;
          const values: MetricValues = { reachable: true, headcount: faces, occupied: faces > 0, snapshotMs: Date.now() - started };
          if (slot.lesson && slot.period) {
            const enrolled = classes.get(slot.lesson.classId)?.enrolment;
            values.classId = slot.lesson.classId;
            values.period = slot.period.n;
            if (enrolled) {
              const students = Math.min(enrolled, Math.max(0, faces - ADULTS_IN_LESSON));
              values.enrolled = enrolled;
              values.attendancePct = Math.round((1000 * students) / enrolled) / 10;
            }
          }
          return values;
        },
        close: async () => undefined,
      };
    },
  };
}
