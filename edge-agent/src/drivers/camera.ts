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
 * When: counts are tied to the timetable (unless the camera's `schedule` is on-request), and
 * the district can ask for one at any time with the profile's `countNow` command. During a lesson in the camera's room, twice a
 * period (a quarter and three quarters of the way through, after late arrivals settle and
 * before early leavers); outside lessons, once every 15 minutes, for room usage. The runner
 * polls every minute; a poll that is not due reports nothing, but (at most once a minute) it
 * checks that the camera's port takes a TCP connection (no HTTP, no image), so an unplugged
 * camera shows as unreachable at the next poll rather than at its next count (up to 15 min).
 * Until its first count, the first poll that reaches the camera reports `reachable: true`
 * alone: the district hears of every camera within a minute of the gateway's start, not when
 * the counter (one camera at a time) gets to it.
 *
 * Authentication: HTTP Digest (RFC 7616, http-digest.ts), what real units default to, or
 * Basic. With a username the driver sends what worked last time for that camera (at first
 * nothing, or Basic when `auth: "basic"`) and answers the camera's challenge on a 401.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import { hhmmToMinutes, localTime, periodAt, type Lesson, type MetricValues, type Period, type SchoolClass } from '@schoolops/device-profiles';
import { bestDigestChallenge, DigestSession, parseChallenges, type Challenge } from './http-digest.ts';
import { classifyError, DriverError, type Driver, type DriverDevice } from './types.ts';
// tiling.ts is plain arithmetic (no onnxruntime, no sharp): the main thread may load it.
import { CLASSROOM_TILING, FACE_SIZE_LIMITS, withFaceSizes, type FaceSizes } from '../vision/tiling.ts';

export const CameraOptions = Type.Object(
  {
    /** Credentials of the camera's snapshot user (a read-only account), for HTTP Digest or Basic. */
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    passwordFile: Type.Optional(Type.String({ minLength: 1 })),
    /** Full snapshot URL, when the address's host + the profile's path is not it. */
    url: Type.Optional(Type.String({ pattern: '^https?://' })),
    /**
     * auto (default): what the camera asks for, Digest preferred; Basic only when the camera
     * offers no Digest we can answer, and never over plain HTTP to a camera that asked for
     * Digest. digest: Digest only. basic: Basic only, sent from the first request.
     */
    auth: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('digest'), Type.Literal('basic')])),
    /**
     * This camera's face sizes, for its installer to set after checking a snapshot with
     * `count-faces --min-face-px ...`: the back row's smallest face and the front row's
     * largest (frame pixels), and the top of the region where faces are (fraction of the
     * height). Defaults suit a 1080p camera high on the front wall of a 40-seat room.
     */
    /**
     * When the gateway counts on its own. timetable (default): twice a lesson, every 15
     * minutes in a free room. on-request: only when the district sends the camera's
     * `countNow` command (a room where the school counts by hand, or a camera being set up).
     * `countNow` works in both.
     */
    schedule: Type.Optional(Type.Union([Type.Literal('timetable'), Type.Literal('on-request')])),
    faces: Type.Optional(
      Type.Object(
        {
          minPx: Type.Optional(Type.Number({ minimum: FACE_SIZE_LIMITS.minPx[0], maximum: FACE_SIZE_LIMITS.minPx[1] })),
          maxPx: Type.Optional(Type.Number({ minimum: FACE_SIZE_LIMITS.maxPx[0], maximum: FACE_SIZE_LIMITS.maxPx[1] })),
          roiTop: Type.Optional(Type.Number({ minimum: FACE_SIZE_LIMITS.roiTop[0], maximum: FACE_SIZE_LIMITS.roiTop[1] })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type CameraOptions = Static<typeof CameraOptions>;
/**
 * Options that are credentials. The gateway refuses a config holding them inline unless only
 * its own user can read it; they belong in the config's secretsFile (edge-agent/src/config.ts).
 * `url` is not one: fetch refuses a URL with user:password@ in it.
 */
export const CAMERA_SECRET_OPTIONS = ['password'] as const satisfies readonly (keyof CameraOptions)[];

/**
 * Counts faces in a JPEG; implemented by the vision worker (vision-counter.ts). Returns a
 * number and nothing else, or null when the counter is busy with other cameras' frames:
 * the count is then tried again at the next poll.
 */
export interface FaceCounter {
  /**
   * `dueSince` (ms, performance.now) is when this camera's count first became due: a camera
   * that was told "not now" keeps its place ahead of later ones when it tries again.
   */
  countFaces(jpeg: Uint8Array, signal: AbortSignal, faces?: FaceSizes, dueSince?: number): Promise<number | null>;
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

/** Requests to one camera in one poll, at most: a remembered nonce refused, a fresh one, a stale one. */
const MAX_REQUESTS_PER_POLL = 3;
/** Presence checks at most this often: once per runner poll (every 60 s), with slack for timer jitter. */
export const PRESENCE_CHECK_EVERY_MS = 55_000;
/** A camera on the school LAN takes a TCP connection in milliseconds. */
const PRESENCE_TIMEOUT_MS = 5_000;

type AuthMode = 'auto' | 'digest' | 'basic';
type Sent = { kind: 'none' } | { kind: 'basic' } | { kind: 'digest'; session: DigestSession };

/**
 * One camera's login: what to send, and what to do with a 401. It remembers what worked (the
 * Digest challenge, its nonce reused with a growing nc), so a poll is one request while the
 * nonce lasts.
 */
export class CameraAuth {
  private digest: DigestSession | null = null;
  private basic: boolean;

  constructor(
    private readonly credentials: { username: string; password: string },
    private readonly mode: AuthMode,
    /** HTTPS: Basic is no worse than Digest there. */
    private readonly secure: boolean,
  ) {
    this.basic = mode === 'basic';
  }

  /** What goes in the next request. */
  next(method: string, uri: string): { header: string | undefined; sent: Sent } {
    if (this.digest) return { header: this.digest.authorize(method, uri), sent: { kind: 'digest', session: this.digest } };
    if (this.basic) return { header: `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`, sent: { kind: 'basic' } };
    return { header: undefined, sent: { kind: 'none' } };
  }

  /**
   * The camera answered 401 to `sent`. Sets up the answer to send next, or throws
   * auth_failed when sending again cannot help. `fresh` sessions were challenged in this poll.
   */
  unauthorized(challenges: Challenge[], sent: Sent, fresh: ReadonlySet<DigestSession>): DigestSession | null {
    const digest = bestDigestChallenge(challenges);
    const asksDigest = challenges.some((c) => c.scheme === 'digest');
    const offersBasic = challenges.some((c) => c.scheme === 'basic');
    const realm = (digest?.realm ?? challenges.find((c) => c.params.realm !== undefined)?.params.realm ?? '').slice(0, 80);
    const where = realm ? `, realm "${realm}"` : '';

    if (sent.kind === 'digest' && digest && fresh.has(sent.session) && !digest.stale) {
      // Our answer to a challenge of this very poll was refused: the password is wrong.
      this.digest = new DigestSession(digest, this.credentials);
      throw new DriverError('auth_failed', `camera refused the username or password (HTTP Digest${where}): check the camera's credentials in the gateway config`);
    }
    if (sent.kind === 'basic' && (this.mode === 'basic' || !digest)) {
      this.digest = null;
      if (this.mode === 'basic' && asksDigest && !offersBasic)
        throw new DriverError('auth_failed', `camera asks for HTTP Digest${where}, but the device's options say auth "basic"`);
      throw new DriverError('auth_failed', `camera refused the username or password (HTTP Basic${where}): check the camera's credentials in the gateway config`);
    }
    if (digest && this.mode !== 'basic') {
      // First challenge, a new nonce (stale, or the remembered one forgotten), or Basic refused.
      this.digest = new DigestSession(digest, this.credentials);
      this.basic = false;
      return this.digest;
    }
    this.digest = null;
    if (offersBasic && this.mode !== 'digest' && (this.secure || !asksDigest)) {
      this.basic = true;
      return null;
    }
    if (this.mode === 'basic') throw new DriverError('auth_failed', `camera asks for HTTP Digest${where}, but the device's options say auth "basic"`);
    if (asksDigest) {
      const algorithms = challenges.filter((c) => c.scheme === 'digest').map((c) => c.params.algorithm ?? 'MD5');
      const basicNote = offersBasic ? '; Basic is not sent over plain HTTP to a camera that asks for Digest' : '';
      throw new DriverError('auth_failed', `camera asks for HTTP Digest in a form this gateway cannot answer (algorithm ${algorithms.join(', ')}${where})${basicNote}`);
    }
    if (offersBasic) throw new DriverError('auth_failed', `camera offers only HTTP Basic${where}, but the device's options say auth "digest"`);
    throw new DriverError('auth_failed', `camera answered HTTP 401 without a usable challenge (${challenges.map((c) => c.scheme).join(', ') || 'none'})`);
  }
}

/** The camera's host and port, for the presence check. */
function endpointOf(url: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DriverError('no_route', `camera URL ${JSON.stringify(url.slice(0, 200))} is not a valid URL`);
  }
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80 };
}

/** Resolves when the camera's port takes a TCP connection (closed at once); rejects as a poll failure otherwise. */
export function tcpCheck(host: string, port: number, signal: AbortSignal, timeoutMs = PRESENCE_TIMEOUT_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const finish = (error?: unknown) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error === undefined) return resolve();
      const { reason, detail } = classifyError(error);
      reject(new DriverError(reason, `camera ${host}:${port} does not take a connection: ${detail}`, { cause: error }));
    };
    const onAbort = () => finish(signal.reason ?? new DOMException('aborted', 'AbortError'));
    const timer = setTimeout(() => finish(new DriverError('timeout', `no answer within ${timeoutMs} ms`)), timeoutMs);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish());
    socket.once('error', (error) => finish(error));
  });
}

async function request(url: string, authorization: string | undefined, signal: AbortSignal): Promise<Response> {
  try {
    return await fetch(url, { signal, headers: authorization ? { authorization } : {}, redirect: 'error' });
  } catch (error) {
    // undici wraps the socket error: its cause carries the code (ECONNREFUSED, ...).
    throw (error as { cause?: unknown }).cause ?? error;
  }
}

/** Reads the snapshot; `onAnswer` is told as soon as the camera answers at all. */
async function fetchSnapshot(url: string, auth: CameraAuth | null, signal: AbortSignal, onAnswer: () => void): Promise<Uint8Array> {
  const target = new URL(url);
  const uri = `${target.pathname}${target.search}`;
  const fresh = new Set<DigestSession>();
  let response: Response;
  for (let attempt = 1; ; attempt++) {
    const { header, sent } = auth ? auth.next('GET', uri) : { header: undefined, sent: { kind: 'none' as const } };
    response = await request(url, header, signal);
    onAnswer();
    if (response.status !== 401) break;
    await response.body?.cancel().catch(() => undefined);
    if (!auth) throw new DriverError('auth_failed', 'camera asks for a login (HTTP 401) and the device has no username in its options');
    const challenges = parseChallenges(response.headers.get('www-authenticate'));
    const session = auth.unauthorized(challenges, sent, fresh);
    if (session) fresh.add(session);
    if (attempt >= MAX_REQUESTS_PER_POLL) throw new DriverError('auth_failed', `camera still answers HTTP 401 after ${attempt} answers to its challenges`);
  }
  if (response.status === 403) {
    await response.body?.cancel().catch(() => undefined);
    throw new DriverError('auth_failed', 'camera answered HTTP 403: the user may not read snapshots');
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new DriverError('device_error', `camera answered HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > MAX_SNAPSHOT_BYTES) {
    await response.body?.cancel().catch(() => undefined);
    throw new DriverError('protocol_error', `snapshot of ${declared} bytes is over ${MAX_SNAPSHOT_BYTES}`);
  }
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
export function createCameraDriver(deps: {
  counter: FaceCounter;
  timetable: SchoolTimetable | null;
  /** The school's clock, for the timetable (moved in demos). */
  now?: () => Date;
  /** A monotonic clock in ms, for how often the presence check runs (default performance.now). */
  elapsedMs?: () => number;
}): Driver<'http-snapshot', CameraOptions> {
  const now = deps.now ?? (() => new Date());
  const elapsedMs = deps.elapsedMs ?? (() => performance.now());
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
      const auth = username ? new CameraAuth({ username, password: secret ?? '' }, device.options.auth ?? 'auto', url.startsWith('https:')) : null;
      const endpoint = endpointOf(url);
      const sizes = device.options.faces;
      try {
        withFaceSizes(CLASSROOM_TILING, sizes); // the worker applies them with each frame; refuse bad ones now
      } catch (error) {
        throw new DriverError('protocol_error', `camera option ${(error as Error).message}`);
      }
      const onRequestOnly = device.options.schedule === 'on-request';
      let lastKey = '';
      /** The slot being tried, and since when (its count may wait for the counter). */
      let pending = { key: '', since: 0 };
      /**
       * A count the district asked for (countNow), kept until one is done: a counter busy with
       * other cameras makes it wait for a later poll, never forgets it.
       */
      let requested: { since: number } | null = null;
      let lastContact = Number.NEGATIVE_INFINITY;
      const answered = () => (lastContact = elapsedMs());
      /** Something was reported since the driver opened (a count, or that the camera is there). */
      let reported = false;
      /** Nothing counted this poll, but the camera answered: said once, so it is known before its first count. */
      const presence = (): MetricValues => {
        if (reported) return {};
        reported = true;
        return { reachable: true };
      };
      return {
        async command(name) {
          if (name !== 'countNow') throw new DriverError('protocol_error', `the camera driver has no command "${name}"`);
          // The runner polls right after a command: the count happens there, in the poll's turn.
          requested ??= { since: performance.now() };
        },
        async poll(signal) {
          const slot = slotAt(deps.timetable, device.record.roomId, now());
          const due = !onRequestOnly && slot.key !== '' && slot.key !== lastKey;
          if (!due && !requested) {
            // Not due: nothing to report, but is the camera still there?
            if (elapsedMs() - lastContact < PRESENCE_CHECK_EVERY_MS) return {};
            await tcpCheck(endpoint.host, endpoint.port, signal);
            answered();
            return presence();
          }
          if (due && pending.key !== slot.key) pending = { key: slot.key, since: performance.now() };
          const dueSince = Math.min(due ? pending.since : Infinity, requested?.since ?? Infinity);
          const started = Date.now();
          let jpeg: Uint8Array | null = await fetchSnapshot(url, auth, signal, answered);
          let faces: number | null;
          try {
            faces = await deps.counter.countFaces(jpeg, signal, sizes, dueSince);
          } finally {
            jpeg = null; // the frame is not kept past its count
          }
          if (faces === null) return presence(); // the counter is busy: count at the next poll
          requested = null;
          reported = true;
          // A requested count during a lesson's counting window stands for that window's count.
          if (slot.key) lastKey = slot.key;
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
