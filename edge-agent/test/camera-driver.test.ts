/**
 * The camera driver against the camera simulator over real HTTP on 127.0.0.1 (ephemeral
 * ports): Digest as real units ask for it (nonce reused with a growing nc, stale nonces
 * renewed, a wrong password reported once per poll, not looped on), Basic only where it is
 * allowed, and an unplugged camera noticed by a TCP check between counts. The face counter
 * is a stand-in: these tests are about the camera link, not about vision.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { checkOrThrow, loadProfiles, type MetricValues } from '@schoolops/device-profiles';
import { CameraSimulator, type CameraSimulatorOptions } from '../../simulators/src/protocols/camera-http.ts';
import { CameraOptions, createCameraDriver, PRESENCE_CHECK_EVERY_MS, type FaceCounter } from '../src/drivers/camera.ts';
import { DeviceRunner, type DeviceStatus } from '../src/drivers/runner.ts';
import { classifyError, type DeviceHandle, type DriverContext, type DriverDevice } from '../src/drivers/types.ts';

const logger = pino({ level: 'silent' });
const profile = loadProfiles().get('hikvision-ds-2cd2143')!;
const USER = { username: 'schoolops', password: 'cam-§"ok"\\' };

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function camera(options: CameraSimulatorOptions = {}): Promise<CameraSimulator> {
  const sim = new CameraSimulator({ read: () => ({ headcount: 5 }), ...options });
  cleanups.push(() => sim.stop());
  await sim.start();
  return sim;
}

/** A counter that says how many bytes it was given, so a test sees a real JPEG arrived. */
const counter: FaceCounter & { frames: number; sizes: unknown } = {
  frames: 0,
  sizes: undefined,
  async countFaces(jpeg, _signal, faces) {
    this.frames++;
    this.sizes = faces;
    return jpeg[0] === 0xff && jpeg[1] === 0xd8 ? 5 : -1;
  },
};

interface Clocks {
  /** School time, for the timetable: each +15 min makes a count due. */
  school: Date;
  /** Monotonic ms, for the presence check. */
  elapsed: number;
}

function device(port: number, options: Record<string, unknown>): DriverDevice<'http-snapshot', CameraOptions> {
  if (profile.protocol.type !== 'http-snapshot') throw new Error('profile is not a camera');
  return {
    record: { id: 'cam-r101', profileId: profile.id, roomId: 'r101', address: { host: '127.0.0.1', port } },
    profile,
    protocol: profile.protocol,
    options: checkOrThrow(CameraOptions, options, 'test options'),
    host: '127.0.0.1',
    port,
    intervalMs: 60_000,
    dataDir: undefined,
  };
}

/** Opens the driver on one camera; poll() reads it as the runner would, with a 20 s deadline. */
function open(port: number, options: Record<string, unknown> = {}) {
  const clocks: Clocks = { school: new Date('2025-03-10T07:12:00+07:00'), elapsed: 1_000_000 };
  const driver = createCameraDriver({ counter, timetable: null, now: () => clocks.school, elapsedMs: () => clocks.elapsed });
  const ctx = { device: device(port, options), logger, signal: new AbortController().signal, report: () => undefined, ok: () => undefined, fail: () => undefined };
  const handle: DeviceHandle = driver.open(ctx as DriverContext<'http-snapshot', CameraOptions>);
  cleanups.push(() => handle.close());
  return {
    clocks,
    poll: () => handle.poll!(AbortSignal.timeout(20_000)),
    /** The next count is due: a quarter of an hour later. */
    nextCount() {
      clocks.school = new Date(clocks.school.getTime() + 15 * 60_000);
      clocks.elapsed += 15 * 60_000;
    },
  };
}

async function failure(promise: Promise<unknown>): Promise<{ reason: string; detail: string }> {
  try {
    await promise;
  } catch (error) {
    return classifyError(error);
  }
  throw new Error('the poll succeeded');
}

describe("camera driver: the camera's face sizes", () => {
  it('hands its faces option to the counter with each frame', async () => {
    const sim = await camera();
    const cam = open(sim.port, { faces: { minPx: 30, maxPx: 90, roiTop: 0.25 } });
    expect(await cam.poll()).toMatchObject({ headcount: 5 });
    expect(counter.sizes).toEqual({ minPx: 30, maxPx: 90, roiTop: 0.25 });
  });

  it('refuses sizes out of bounds in the options, and a largest face below the smallest when opened', async () => {
    expect(() => device(1, { faces: { minPx: 2 } })).toThrow(/minPx/);
    expect(() => device(1, { faces: { roiTop: 1 } })).toThrow(/roiTop/);
    const sim = await camera();
    expect(() => open(sim.port, { faces: { minPx: 40, maxPx: 30 } })).toThrow(/faces.maxPx \(30\) is below faces.minPx \(40\)/);
  });
});

describe('camera driver: HTTP Digest', () => {
  it('answers the Digest challenge, then reuses the nonce with a growing nc: one request per count', async () => {
    const sim = await camera({ credentials: USER });
    const cam = open(sim.port, USER);
    const first = await cam.poll();
    expect(first).toMatchObject({ reachable: true, headcount: 5, occupied: true });
    expect(sim.stats).toMatchObject({ requests: 2, unauthorized: 1, snapshots: 1 });
    for (let i = 0; i < 3; i++) {
      cam.nextCount();
      expect(await cam.poll()).toMatchObject({ headcount: 5 });
    }
    // The simulator refuses a replayed or non-increasing nc: three more snapshots, no more 401s.
    expect(sim.stats).toMatchObject({ requests: 5, unauthorized: 1, snapshots: 4 });
  });

  it('prefers SHA-256 when the camera offers it next to MD5', async () => {
    const sim = await camera({ credentials: USER, digestAlgorithms: ['MD5', 'SHA-256'] });
    const seen: string[] = [];
    const proxy = await recordingProxy(sim.port, seen);
    const cam = open(proxy, USER);
    expect(await cam.poll()).toMatchObject({ headcount: 5 });
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBe('');
    expect(seen[1]).toMatch(/^Digest .*algorithm=SHA-256,/);
  });

  it('takes a new nonce when the camera says stale=true (after N uses or its lifetime), without reporting a failure', async () => {
    const sim = await camera({ credentials: USER, nonceMaxUses: 2 });
    const cam = open(sim.port, USER);
    for (let i = 0; i < 5; i++) {
      expect(await cam.poll()).toMatchObject({ headcount: 5 });
      cam.nextCount();
    }
    // Uses: 401 + 1, 2, stale 401 + 1, 2, stale 401 + 1.
    expect(sim.stats).toMatchObject({ snapshots: 5, unauthorized: 3, stale: 2, requests: 8 });
  });

  it('starts over when the camera forgot the remembered nonce (a camera reboot): one retry, no failure', async () => {
    const sim = await camera({ credentials: USER });
    const cam = open(sim.port, USER);
    await cam.poll();
    const port = sim.port;
    await sim.stop();
    // Let the HTTP client see its kept-alive connection closed (a minute passes between real
    // polls): the camera's end of it is closed by now, so the close is waiting at the client's
    // end, and the event loop reads it at its next turn (twice, whatever phase this is).
    for (let turn = 0; turn < 2; turn++) await new Promise((r) => setImmediate(r));
    const rebooted = await camera({ credentials: USER, port });
    cam.nextCount();
    expect(await cam.poll()).toMatchObject({ headcount: 5 });
    // The old nonce refused (not stale: the camera does not know it), the new one answered.
    expect(rebooted.stats).toMatchObject({ requests: 2, unauthorized: 1, stale: 0, snapshots: 1 });
  });

  it('reports a wrong password as auth_failed with a clear detail, and does not loop', async () => {
    const sim = await camera({ credentials: USER });
    const cam = open(sim.port, { username: USER.username, password: 'wrong' });
    const first = await failure(cam.poll());
    expect(first.reason).toBe('auth_failed');
    expect(first.detail).toBe(`camera refused the username or password (HTTP Digest, realm "IP Camera(DS-2CD2143G2-I)"): check the camera's credentials in the gateway config`);
    expect(sim.stats.requests).toBe(2); // no Authorization, then one answer
    cam.nextCount();
    expect((await failure(cam.poll())).reason).toBe('auth_failed');
    expect(sim.stats.requests).toBeLessThanOrEqual(4);
    expect(sim.stats.snapshots).toBe(0);
  });

  it('says when no username is configured for a camera that asks for one', async () => {
    const sim = await camera({ credentials: USER });
    const cam = open(sim.port);
    expect(await failure(cam.poll())).toEqual({ reason: 'auth_failed', detail: expect.stringMatching(/no username/) });
    expect(sim.stats.requests).toBe(1);
  });

  it("auth: 'basic' against a Digest camera fails clearly rather than answering", async () => {
    const sim = await camera({ credentials: USER });
    const cam = open(sim.port, { ...USER, auth: 'basic' });
    expect(await failure(cam.poll())).toEqual({ reason: 'auth_failed', detail: expect.stringMatching(/asks for HTTP Digest.*auth "basic"/) });
    expect(sim.stats.requests).toBe(1);
  });
});

describe('camera driver: HTTP Basic', () => {
  it('auto: Basic to a camera that offers only Basic, remembered for the next counts', async () => {
    const sim = await camera({ credentials: USER, auth: 'basic' });
    const cam = open(sim.port, USER);
    expect(await cam.poll()).toMatchObject({ headcount: 5 });
    cam.nextCount();
    expect(await cam.poll()).toMatchObject({ headcount: 5 });
    expect(sim.stats).toMatchObject({ requests: 3, unauthorized: 1, snapshots: 2 });
  });

  it("auth: 'basic' sends Basic from the first request; a wrong password is auth_failed", async () => {
    const sim = await camera({ credentials: USER, auth: 'basic' });
    const cam = open(sim.port, { ...USER, auth: 'basic' });
    expect(await cam.poll()).toMatchObject({ headcount: 5 });
    expect(sim.stats).toMatchObject({ requests: 1, unauthorized: 0 });
    const wrong = open(sim.port, { username: USER.username, password: 'nope', auth: 'basic' });
    expect(await failure(wrong.poll())).toEqual({ reason: 'auth_failed', detail: expect.stringMatching(/refused the username or password \(HTTP Basic/) });
    expect(sim.stats.requests).toBe(2);
  });

  it("auth: 'digest' never sends Basic, even to a camera that only offers it", async () => {
    const sim = await camera({ credentials: USER, auth: 'basic' });
    const cam = open(sim.port, { ...USER, auth: 'digest' });
    expect(await failure(cam.poll())).toEqual({ reason: 'auth_failed', detail: expect.stringMatching(/offers only HTTP Basic.*auth "digest"/) });
    expect(sim.stats).toMatchObject({ requests: 1, snapshots: 0 });
  });

  it('never sends Basic over plain HTTP to a camera that asked for Digest, even one it cannot answer', async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.headers.authorization ?? '');
      res.writeHead(401, { 'WWW-Authenticate': ['Digest realm="cam", nonce="n1", algorithm=SHA-1', 'Basic realm="cam"'] });
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const cam = open((server.address() as AddressInfo).port, USER);
    const result = await failure(cam.poll());
    expect(result.reason).toBe('auth_failed');
    expect(result.detail).toMatch(/cannot answer \(algorithm SHA-1, realm "cam"\); Basic is not sent over plain HTTP/);
    expect(seen).toEqual(['']);
  });
});

describe('camera driver: an unplugged camera between counts', () => {
  it("checks the camera's port at most once a minute when no count is due, with no HTTP request", async () => {
    const sim = await camera({ credentials: USER });
    const cam = open(sim.port, USER);
    await cam.poll(); // the count of this quarter hour
    const requests = sim.stats.requests;

    // Not due, and the camera answered just now: nothing to do.
    cam.clocks.elapsed += 30_000;
    expect(await cam.poll()).toEqual({});
    await sim.inject('unreachable');
    cam.clocks.elapsed += 20_000; // 50 s since it last answered: not checked yet
    expect(await cam.poll()).toEqual({});

    cam.clocks.elapsed += 10_000; // a minute: checked, and gone
    expect(await failure(cam.poll())).toEqual({ reason: 'refused', detail: expect.stringMatching(/^camera 127\.0\.0\.1:\d+ does not take a connection: .*ECONNREFUSED/) });
    cam.clocks.elapsed += 60_000;
    expect((await failure(cam.poll())).reason).toBe('refused');

    await sim.clear('unreachable');
    cam.clocks.elapsed += 60_000;
    expect(await cam.poll()).toEqual({}); // there again
    await sim.inject('unreachable');
    cam.clocks.elapsed += 30_000;
    expect(await cam.poll()).toEqual({}); // checked 30 s ago: not again yet
    await sim.clear('unreachable');

    // The checks were TCP connections only: no request, nothing the camera took as a bad one.
    expect(sim.stats).toMatchObject({ requests, badRequests: 0 });
  });

  it('is reported unreachable by the runner at its next poll after the camera goes', async () => {
    const sim = await camera({ credentials: USER });
    const INTERVAL = 200;
    // Driver time moves a minute per poll (polls counts a poll as it starts): every poll is
    // due a presence check, however late a busy machine runs it.
    let runner: DeviceRunner | undefined;
    const perPoll = () => 1_000_000 + (runner?.polls ?? 0) * 60_000;
    // Each status with the poll that reported it.
    const statuses: { poll: number; status: DeviceStatus }[] = [];
    const values: MetricValues[] = [];
    const driver = createCameraDriver({ counter, timetable: null, now: () => new Date('2025-03-10T07:12:00+07:00'), elapsedMs: perPoll });
    runner = new DeviceRunner({
      driver: driver as never,
      device: device(sim.port, USER) as DriverDevice,
      logger,
      intervalMs: INTERVAL,
      firstPollWithinMs: 0,
      onValues: (_id, v) => values.push(v),
      onStatus: (_id, status) => statuses.push({ poll: runner!.polls, status }),
    });
    runner.start();
    cleanups.push(() => runner.stop());
    await waitFor(() => values.length === 1 && runner.polls >= 3);
    expect(values[0]).toMatchObject({ headcount: 5 });
    expect(PRESENCE_CHECK_EVERY_MS).toBeLessThanOrEqual(60_000);

    await sim.inject('unreachable');
    // Every poll from the next one on starts after the camera went.
    const unplugged = runner.polls;
    await waitFor(() => statuses.length > 0);
    // Refused; or reset, when a check's connection was in the camera's accept queue as it went.
    expect(statuses[0]!.status.state).toBe('unreachable');
    expect(['refused', 'closed']).toContain(statuses[0]!.status.reason);
    // Noticed by the poll under way as it went, or by the next.
    expect(statuses[0]!.poll).toBeLessThanOrEqual(unplugged + 1);

    await sim.clear('unreachable');
    const pluggedIn = runner.polls;
    await waitFor(() => statuses.length > 1);
    // Back at the first poll after it returned, which comes within the backoff: at most 4 intervals.
    expect(statuses[1]!.status.state).toBe('ok');
    expect(statuses[1]!.poll).toBeLessThanOrEqual(pluggedIn + 1);
    expect(runner.maxBackoffMs).toBe(4 * INTERVAL);
    expect(values).toHaveLength(1); // no count was due in all this
  });
});

/** A pass-through HTTP proxy to the camera that records each request's Authorization header. */
async function recordingProxy(target: number, seen: string[]): Promise<number> {
  const server = http.createServer((req, res) => {
    seen.push(req.headers.authorization ?? '');
    const upstream = http.request({ host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers, agent: false }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.rawHeaders);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as AddressInfo).port;
}

/** Wait for a condition (never for a guess of how long it takes); the deadline only says it never came. */
async function waitFor(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
