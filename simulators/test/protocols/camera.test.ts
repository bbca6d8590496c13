/**
 * The simulated classroom camera over real HTTP on 127.0.0.1 (ephemeral ports): the
 * snapshot is a 1920x1080 JPEG whose true face count is the value model's headcount,
 * frames are deterministic per seed, faces sit at classroom scale without hiding each
 * other, each injected fault behaves as documented, and hostile clients do not hurt it.
 * How long a frame takes to compose is a figure for simulators/bench/camera-scene.ts, not
 * something a test bounds; tests here wait for what they need, never a guess of how long.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import sharp from 'sharp';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles } from '@schoolops/device-profiles';
import { CAMERA_FAULTS, CameraSimulator, HIKVISION_SNAPSHOT_PATH, type CameraSimulatorOptions } from '../../src/protocols/camera-http.ts';
import { ClassroomScene, SCENE_CAPACITY, SCENE_HEIGHT, SCENE_WIDTH } from '../../src/protocols/camera-scene.ts';

const profile = loadProfiles().get('hikvision-ds-2cd2143')!;
const PATH = HIKVISION_SNAPSHOT_PATH;
const sims: CameraSimulator[] = [];
let scene: ClassroomScene;

beforeAll(async () => {
  scene = await ClassroomScene.create();
});

afterEach(async () => {
  for (const sim of sims.splice(0)) await sim.stop();
});

async function camera(options: CameraSimulatorOptions = {}): Promise<CameraSimulator> {
  const sim = new CameraSimulator({ scene, ...options });
  sims.push(sim);
  await sim.start();
  return sim;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** WWW-Authenticate values, one per header line. */
  challenges: string[];
  body: Buffer;
}

/** One request on a fresh connection (no keep-alive pool to leak between tests). */
function get(port: number, path = PATH, options: { method?: string; headers?: http.OutgoingHttpHeaders; timeoutMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const challenges = res.rawHeaders.filter((_, i) => i % 2 === 1 && res.rawHeaders[i - 1]!.toLowerCase() === 'www-authenticate');
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, challenges, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** The quoted or bare value of one parameter of a challenge line. */
const param = (challenge: string, name: string) => new RegExp(`[\\s,]${name}=(?:"([^"]*)"|([^,\\s]+))`, 'i').exec(challenge)?.slice(1).find((v) => v !== undefined);

/** An RFC 7616 qop=auth answer to a challenge line, computed here with node:crypto. */
function digest(challenge: string, user: string, pass: string, o: { uri?: string; nc?: number; cnonce?: string; algorithm?: string; opaque?: string; nonce?: string } = {}): string {
  const algorithm = o.algorithm ?? param(challenge, 'algorithm') ?? 'MD5';
  const H = (s: string) => createHash(algorithm === 'SHA-256' ? 'sha256' : 'md5').update(s).digest('hex');
  const realm = param(challenge, 'realm')!;
  const nonce = o.nonce ?? param(challenge, 'nonce')!;
  const uri = o.uri ?? PATH;
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = o.cnonce ?? 'c0ffee';
  const response = H(`${H(`${user}:${realm}:${pass}`)}:${nonce}:${nc}:${cnonce}:auth:${H(`GET:${uri}`)}`);
  const opaque = o.opaque ?? param(challenge, 'opaque');
  return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", algorithm=${algorithm}, qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}", opaque="${opaque}"`;
}

describe('scene composer', () => {
  it('composes 1920x1080 JPEGs at classroom scale, nobody hidden', async () => {
    const frame = await scene.compose(3, 45);
    const meta = await sharp(frame.jpeg).metadata();
    expect(meta.format).toBe('jpeg');
    expect([meta.width, meta.height]).toEqual([SCENE_WIDTH, SCENE_HEIGHT]);
    expect(frame.faces).toBe(45);
    expect(frame.boxes).toHaveLength(45);

    // Over a few full rooms: near faces about 60 px, far ones about 20, all inside the frame, none hidden.
    for (const seed of [1, 2, 3]) {
      const full = await scene.compose(seed, SCENE_CAPACITY);
      expect(full.faces).toBe(SCENE_CAPACITY);
      const widths = full.boxes.map((b) => b.w);
      expect(Math.max(...widths)).toBeGreaterThanOrEqual(55);
      expect(Math.max(...widths)).toBeLessThanOrEqual(72);
      expect(Math.min(...widths)).toBeGreaterThanOrEqual(16);
      expect(Math.min(...widths)).toBeLessThanOrEqual(24);
      for (const b of full.boxes) {
        expect(b.x).toBeGreaterThanOrEqual(0);
        expect(b.y).toBeGreaterThanOrEqual(0);
        expect(b.x + b.w).toBeLessThanOrEqual(SCENE_WIDTH);
        expect(b.y + b.h).toBeLessThanOrEqual(SCENE_HEIGHT);
        expect(b.visible).toBeGreaterThanOrEqual(0.85);
      }
    }
  });

  it('is deterministic per (seed, count) and keeps people in their seats as the count grows', async () => {
    const a = await scene.compose(42, 30);
    const b = await scene.compose(42, 30);
    const other = await scene.compose(43, 30);
    expect(a.jpeg.equals(b.jpeg)).toBe(true);
    expect(a.jpeg.equals(other.jpeg)).toBe(false);
    const more = await scene.compose(42, 31);
    expect(more.faces).toBe(31);
    // 30 of the 31 faces are exactly where they were.
    const key = (r: { x: number; y: number; w: number }) => `${r.x.toFixed(2)},${r.y.toFixed(2)},${r.w.toFixed(2)}`;
    const before = new Set(a.boxes.map(key));
    expect(more.boxes.filter((r) => before.has(key(r)))).toHaveLength(30);
  });

  it('shows an empty room for 0 and clamps to capacity', async () => {
    const empty = await scene.compose(1, 0);
    expect(empty.faces).toBe(0);
    expect((await sharp(empty.jpeg).metadata()).width).toBe(SCENE_WIDTH);
    expect((await scene.compose(1, 500)).faces).toBe(SCENE_CAPACITY);
    expect((await scene.compose(1, -3)).faces).toBe(0);
    expect((await scene.compose(1, Number.NaN)).faces).toBe(0);
  });
});

describe('CameraSimulator over HTTP', () => {
  it("serves the profile's snapshot path as a JPEG whose true count is read().headcount", async () => {
    expect(profile.protocol).toMatchObject({ type: 'http-snapshot', path: PATH });
    let headcount = 37;
    const sim = await camera({ seed: 9, read: () => ({ reachable: true, headcount, occupied: true, snapshotMs: 200 }) });
    const reply = await get(sim.port, `${PATH}?snapShotImageType=JPEG`);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('image/jpeg');
    expect(Number(reply.headers['content-length'])).toBe(reply.body.length);
    const meta = await sharp(reply.body).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 1920, 1080]);
    // The served bytes are exactly the composed frame with 37 people, and it shows 37 faces.
    const truth = await scene.compose(9, 37);
    expect(reply.body.equals(truth.jpeg)).toBe(true);
    expect(truth.faces).toBe(37);
    expect(sim.lastFrame).toMatchObject({ faces: 37, people: 37, dark: false });

    headcount = 12;
    const later = await get(sim.port);
    expect(later.body.equals((await scene.compose(9, 12)).jpeg)).toBe(true);
    expect(sim.lastFrame?.faces).toBe(12);

    const head = await get(sim.port, PATH, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it('gives the same picture for the same seed on two cameras and a different one for another seed', async () => {
    const read = () => ({ headcount: 20 });
    const [a, b, c] = await Promise.all([camera({ seed: 5, read }), camera({ seed: 5, read }), camera({ seed: 6, read })]);
    const [ra, rb, rc] = await Promise.all([get(a.port), get(b.port), get(c.port)]);
    expect(ra.body.equals(rb.body)).toBe(true);
    expect(ra.body.equals(rc.body)).toBe(false);
  });

  it('treats a missing or nonsense headcount as an empty room', async () => {
    const sim = await camera({ read: () => ({ headcount: 'many' }) });
    expect((await get(sim.port)).status).toBe(200);
    expect(sim.lastFrame?.faces).toBe(0);
  });

  it('answers 500, not a crash, when read() throws', async () => {
    const sim = await camera({
      read: () => {
        throw new Error('value model broke');
      },
    });
    expect((await get(sim.port)).status).toBe(500);
  });

  it("requires Basic credentials when set to auth: 'basic'", async () => {
    const sim = await camera({ credentials: { username: 'admin', password: 'Cam3ra!' }, auth: 'basic', read: () => ({ headcount: 3 }) });
    const none = await get(sim.port);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic realm="/);
    expect((await get(sim.port, PATH, { headers: { authorization: basic('admin', 'wrong') } })).status).toBe(401);
    expect((await get(sim.port, PATH, { headers: { authorization: 'Digest username="admin"' } })).status).toBe(401);
    const ok = await get(sim.port, PATH, { headers: { authorization: basic('admin', 'Cam3ra!') } });
    expect(ok.status).toBe(200);
    expect(ok.body.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(sim.stats.unauthorized).toBe(3);
  });

  it('requires Digest by default when credentials are given, like the real unit, and refuses Basic', async () => {
    const sim = await camera({ credentials: { username: 'admin', password: 'Cam3ra!' }, read: () => ({ headcount: 3 }) });
    const none = await get(sim.port);
    expect(none.status).toBe(401);
    expect(none.challenges).toHaveLength(1);
    const challenge = none.challenges[0]!;
    expect(challenge).toMatch(/^Digest qop="auth", realm="IP Camera\(DS-2CD2143G2-I\)", nonce="[0-9a-f]{32}", opaque="[0-9a-f]+", algorithm=MD5, stale="FALSE"$/);
    expect((await get(sim.port, PATH, { headers: { authorization: basic('admin', 'Cam3ra!') } })).status).toBe(401);

    const ok = await get(sim.port, PATH, { headers: { authorization: digest(challenge, 'admin', 'Cam3ra!') } });
    expect(ok.status).toBe(200);
    expect(ok.body.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    // The nonce again with the next nc; a query string is part of the uri that is hashed.
    const uri = `${PATH}?snapShotImageType=JPEG`;
    expect((await get(sim.port, uri, { headers: { authorization: digest(challenge, 'admin', 'Cam3ra!', { nc: 2, uri }) } })).status).toBe(200);

    // Refused, not stale: a replayed nc, a wrong password, another uri than requested, an unknown nonce, a wrong opaque.
    const refused = [
      digest(challenge, 'admin', 'Cam3ra!', { nc: 2 }),
      digest(challenge, 'admin', 'wrong', { nc: 3 }),
      digest(challenge, 'admin', 'Cam3ra!', { nc: 4, uri: '/other' }),
      digest(challenge, 'admin', 'Cam3ra!', { nc: 5, nonce: 'feedfeedfeedfeedfeedfeedfeedfeed' }),
      digest(challenge, 'admin', 'Cam3ra!', { nc: 6, opaque: 'nope' }),
      digest(challenge, 'admin', 'Cam3ra!', { nc: 7, algorithm: 'SHA-256' }),
      'Digest username="admin", nonce=unterminated"',
    ];
    for (const authorization of refused) {
      const reply = await get(sim.port, PATH, { headers: { authorization } });
      expect(reply.status).toBe(401);
      expect(reply.challenges[0]).toMatch(/stale="FALSE"/);
    }
    // The nonce still works after refused attempts, with a higher nc.
    expect((await get(sim.port, PATH, { headers: { authorization: digest(challenge, 'admin', 'Cam3ra!', { nc: 8 }) } })).status).toBe(200);
    expect(sim.stats).toMatchObject({ unauthorized: 2 + refused.length, stale: 0, snapshots: 3 });
  });

  it('answers a correct Digest answer to an expired nonce with stale=true and a new nonce (after N uses or its lifetime)', async () => {
    // The camera's clock is the test's: the nonce's life ends when the test says, not when a
    // busy machine has taken 300 ms over three requests.
    const clock = { now: Date.parse('2025-03-10T02:00:00Z') };
    const sim = await camera({ credentials: { username: 'u', password: 'p' }, nonceMaxUses: 2, nonceTtlMs: 300, now: () => clock.now });
    const first = (await get(sim.port)).challenges[0]!;
    expect((await get(sim.port, PATH, { headers: { authorization: digest(first, 'u', 'p', { nc: 1 }) } })).status).toBe(200);
    expect((await get(sim.port, PATH, { headers: { authorization: digest(first, 'u', 'p', { nc: 2 }) } })).status).toBe(200);
    const used = await get(sim.port, PATH, { headers: { authorization: digest(first, 'u', 'p', { nc: 3 }) } });
    expect(used.status).toBe(401);
    expect(used.challenges[0]).toMatch(/stale="TRUE"/);
    // A wrong password on the spent nonce is not stale: stale says the password was right.
    expect((await get(sim.port, PATH, { headers: { authorization: digest(first, 'u', 'x', { nc: 4 }) } })).challenges[0]).toMatch(/stale="FALSE"/);

    const second = used.challenges[0]!;
    expect(param(second, 'nonce')).not.toBe(param(first, 'nonce'));
    expect((await get(sim.port, PATH, { headers: { authorization: digest(second, 'u', 'p') } })).status).toBe(200);
    // Past the nonce's 300 ms lifetime.
    clock.now += 301;
    const old = await get(sim.port, PATH, { headers: { authorization: digest(second, 'u', 'p', { nc: 2 }) } });
    expect(old.status).toBe(401);
    expect(old.challenges[0]).toMatch(/stale="TRUE"/);
    expect(sim.stats.stale).toBe(2);
  });

  it('offers one challenge per Digest algorithm configured, each nonce bound to its algorithm', async () => {
    const sim = await camera({ credentials: { username: 'u', password: 'p' }, digestAlgorithms: ['SHA-256', 'MD5'] });
    const { challenges } = await get(sim.port);
    expect(challenges.map((c) => param(c, 'algorithm'))).toEqual(['SHA-256', 'MD5']);
    const [sha, md5] = challenges as [string, string];
    expect((await get(sim.port, PATH, { headers: { authorization: digest(sha, 'u', 'p') } })).status).toBe(200);
    expect((await get(sim.port, PATH, { headers: { authorization: digest(md5, 'u', 'p') } })).status).toBe(200);
    expect((await get(sim.port, PATH, { headers: { authorization: digest(sha, 'u', 'p', { nc: 2, algorithm: 'MD5' }) } })).status).toBe(401);
  });

  it('404 for other paths, 405 for other methods', async () => {
    const sim = await camera();
    expect((await get(sim.port, '/ISAPI/Streaming/channels/102/picture')).status).toBe(404);
    const post = await get(sim.port, PATH, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });
});

describe('faults', () => {
  it('lists its faults', () => {
    expect([...CAMERA_FAULTS]).toEqual(['unreachable', 'slow', 'garbage', 'http-error', 'dark']);
  });

  it('unreachable refuses connections; clear() serves again on the same port', async () => {
    const sim = await camera({ read: () => ({ headcount: 4 }) });
    const port = sim.port;
    await sim.inject('unreachable');
    expect(sim.activeFaults).toEqual(['unreachable']);
    await expect(get(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await sim.clear('unreachable');
    expect(sim.port).toBe(port);
    expect((await get(port)).status).toBe(200);
  });

  it('slow holds the answer for slowMs (20 s by default) and still answers a patient client', async () => {
    const patient = await camera({ slowMs: 400, read: () => ({ headcount: 2 }) });
    await patient.inject('slow');
    const started = performance.now();
    const reply = await get(patient.port);
    // The camera's own 400 ms timer: never sooner (libuv counts whole milliseconds).
    expect(performance.now() - started).toBeGreaterThanOrEqual(400 - 1);
    expect(reply.status).toBe(200);
    expect((await sharp(reply.body).metadata()).format).toBe('jpeg');

    // Default: nothing within 1.5 s; the client giving up leaves no timer or socket behind.
    const sim = await camera();
    await sim.inject('slow');
    await expect(get(sim.port, PATH, { timeoutMs: 1500 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await waitFor(() => sim.openConnections === 0);
    // stop() does not wait for held answers: it cuts them (the client sees a reset, not the
    // snapshot it would get after 20 s).
    const pending = get(sim.port).catch((err: unknown) => err);
    await waitFor(() => sim.openConnections === 1);
    await sim.stop();
    expect(await pending).toMatchObject({ code: 'ECONNRESET' });
  });

  it('garbage serves 200 image/jpeg bytes that are not a JPEG', async () => {
    const sim = await camera({ read: () => ({ headcount: 10 }) });
    await sim.inject('garbage');
    const reply = await get(sim.port);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('image/jpeg');
    expect(reply.body.length).toBeGreaterThan(1000);
    expect(reply.body[0]).not.toBe(0xff);
    await expect(sharp(reply.body).metadata()).rejects.toThrow();
  });

  it('http-error answers 503', async () => {
    const sim = await camera();
    await sim.inject('http-error');
    const reply = await get(sim.port);
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('30');
  });

  it('dark serves a valid, almost black frame with no visible face', async () => {
    const sim = await camera({ read: () => ({ headcount: 40 }) });
    await sim.inject('dark');
    const reply = await get(sim.port);
    expect(reply.status).toBe(200);
    const meta = await sharp(reply.body).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 1920, 1080]);
    const stats = await sharp(reply.body).stats();
    for (const channel of stats.channels) {
      expect(channel.mean).toBeLessThan(10);
      expect(channel.max).toBeLessThan(40);
    }
    expect(sim.lastFrame).toMatchObject({ faces: 0, people: 40, dark: true });

    await sim.clear();
    expect(sim.activeFaults).toEqual([]);
    const lit = await sharp((await get(sim.port)).body).stats();
    expect(lit.channels[0]!.mean).toBeGreaterThan(80);
    expect(sim.lastFrame).toMatchObject({ faces: 40, dark: false });
  });

  it('503 wins over garbage and dark when several faults are active', async () => {
    const sim = await camera();
    await sim.inject('dark');
    await sim.inject('garbage');
    await sim.inject('http-error');
    expect((await get(sim.port)).status).toBe(503);
    await sim.clear('http-error');
    expect((await get(sim.port)).body[0]).not.toBe(0xff);
  });
});

describe('hostile clients', () => {
  it('survives junk, oversized headers, huge bodies and half-sent requests, and keeps serving', async () => {
    const sim = await camera({ headersTimeoutMs: 500, read: () => ({ headcount: 6 }) });

    const junk = await rawExchange(sim.port, Buffer.from('\x00\xff\x16\x03\x01 not http at all\r\n\r\n', 'latin1'));
    expect(junk).toMatch(/^HTTP\/1\.1 400/);

    const big = await rawExchange(sim.port, Buffer.from(`GET ${PATH} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(big).toMatch(/^HTTP\/1\.1 431/);

    // A body far larger than any snapshot request: the camera hangs up rather than buffer it.
    const flood = await rawExchange(
      sim.port,
      Buffer.concat([Buffer.from(`POST ${PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n`), Buffer.alloc(200_000, 0x41)]),
    );
    expect(flood === '' || flood.startsWith('HTTP/1.1 405')).toBe(true);

    // Headers never finished: dropped after headersTimeoutMs.
    const half = net.connect(sim.port, '127.0.0.1');
    half.on('error', () => undefined);
    let answer = '';
    half.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    half.write(`GET ${PATH} HTTP/1.1\r\nHost: x\r\n`);
    await waitFor(() => half.readableEnded);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    half.destroy();

    // Connections that open and vanish.
    for (let i = 0; i < 20; i++) {
      const s = net.connect(sim.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.on('connect', () => s.destroy());
    }

    const replies = await Promise.all(Array.from({ length: 8 }, () => get(sim.port)));
    expect(replies.every((r) => r.status === 200 && r.body[0] === 0xff && r.body[1] === 0xd8)).toBe(true);
    expect(sim.stats.badRequests).toBeGreaterThanOrEqual(2);
    await waitFor(() => sim.openConnections === 0);
  });

  it('stop() is idempotent and start() after stop() is refused', async () => {
    const sim = await camera();
    await sim.stop();
    await sim.stop();
    await expect(sim.start()).rejects.toThrow(/stopped/);
  });
});

/** Write bytes on a fresh connection; the text that comes back before the camera hangs up. */
function rawExchange(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = () => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.on('connect', () => socket.write(bytes));
  });
}

/** Wait for a condition (never for a guess of how long it takes); the deadline only says it never came. */
async function waitFor(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
