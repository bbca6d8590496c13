/**
 * A classroom IP camera's HTTP snapshot endpoint on a real socket, for the camera driver
 * and the simulated district. Like a Hikvision DS-2CD2143G2-I it answers
 * GET /ISAPI/Streaming/channels/101/picture with a JPEG of the room; the number of people
 * in the picture is the camera value model's `headcount` (from `read()`), so the
 * gateway's face counter has a true answer to find, and attendance follows the timetable.
 *
 * Optional authentication: HTTP Digest (RFC 7616, qop=auth), what real units default to,
 * or Basic (their "basic" setting). Digest nonces expire after `nonceTtlMs` or `nonceMaxUses`
 * answers and are then refused with stale=true; a wrong response, a replayed or decreasing
 * nc, an unknown nonce or a wrong opaque/uri/realm get a plain 401. Faults a gateway must survive: the camera gone from the network, answering after 20 s, serving
 * bytes that are not a JPEG, HTTP 503, and a dark room (a valid, almost black frame in
 * which nobody is visible).
 *
 * Frames are composed in memory (camera-scene.ts) and cached per (people, dark), so a
 * camera polled twice a period with an unchanged class composes once.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { MetricValue } from '@schoolops/device-profiles';
import { mulberry32 } from '../district/random.ts';
import { sharedClassroomScene, type ClassroomScene, type ComposedFrame } from './camera-scene.ts';
import { FaultSwitch } from './fault-switch.ts';

export const CAMERA_FAULTS = ['unreachable', 'slow', 'garbage', 'http-error', 'dark'] as const;
/**
 * unreachable: the port refuses connections (clear() listens on the same port again).
 * slow: every snapshot is answered only after `slowMs` (20 s). garbage: 200 image/jpeg
 * whose body is junk, not a JPEG. http-error: 503 Service Unavailable. dark: a valid JPEG
 * of the room with the lights off, in which no face is visible.
 */
export type CameraFault = (typeof CAMERA_FAULTS)[number];

/** The snapshot path of the Hikvision profile (device-profiles/profiles/hikvision-ds-2cd2143.json). */
export const HIKVISION_SNAPSHOT_PATH = '/ISAPI/Streaming/channels/101/picture';

export interface CameraSimulatorOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** The camera's true values (value model output); `headcount` is how many people the picture shows. */
  read?: () => Readonly<Record<string, MetricValue>>;
  /** Seeds who sits where and how they look (default 1); the same seed and headcount give the same bytes. */
  seed?: number;
  /** Snapshot path (default the Hikvision one); the query string is ignored, as cameras do. */
  path?: string;
  /** Requires authentication with these (Digest unless `auth` says basic). */
  credentials?: { username: string; password: string };
  /** How credentials are asked for (default digest, like the real unit). */
  auth?: 'basic' | 'digest';
  /** Digest algorithms offered, one challenge each (default MD5, as the DS-2CD2143 offers). */
  digestAlgorithms?: readonly DigestAlgorithm[];
  /** A Digest nonce is stale this long after it was issued (default 60 s)... */
  nonceTtlMs?: number;
  /** ...or after this many accepted answers (default 100). */
  nonceMaxUses?: number;
  /** The camera's clock for nonce lifetimes, ms (default Date.now; tests move their own). */
  now?: () => number;
  /** How long the 'slow' fault holds an answer (default 20 s). */
  slowMs?: number;
  /** Close a connection whose request headers have not all arrived after this long (default 10 s). */
  headersTimeoutMs?: number;
  /** The scene composer (default one shared by every simulated camera in the process). */
  scene?: ClassroomScene;
}

/** The last frame served, for tests and the launcher (never sent anywhere). */
export type DigestAlgorithm = 'MD5' | 'SHA-256';

export interface ServedFrame {
  /** Faces visible in it: the count the gateway should report. */
  faces: number;
  /** People in the room when it was taken (in a dark frame they are there but not visible). */
  people: number;
  dark: boolean;
  bytes: number;
}

const REALM = 'IP Camera(DS-2CD2143G2-I)';
/** A snapshot request has no body; more than this is not a camera client. */
const MAX_BODY_BYTES = 16 * 1024;
const MAX_HEADER_BYTES = 8 * 1024;
/** Nonces remembered at most (the oldest are forgotten first; an answer to one then gets a plain 401). */
const MAX_NONCES = 1000;
const HASH_OF: Record<DigestAlgorithm, string> = { MD5: 'md5', 'SHA-256': 'sha256' };

interface IssuedNonce {
  algorithm: DigestAlgorithm;
  issuedAt: number;
  /** Highest nc accepted so far. */
  lastNc: number;
  uses: number;
}

export class CameraSimulator {
  private readonly opts: Required<Omit<CameraSimulatorOptions, 'credentials' | 'scene'>> & Pick<CameraSimulatorOptions, 'credentials'>;
  private readonly nonces = new Map<string, IssuedNonce>();
  private readonly opaque = randomBytes(12).toString('hex');
  private scene: ClassroomScene | null;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly switchboard = new FaultSwitch<CameraFault>({
    down: () => this.unlisten(),
    up: async () => {
      if (!this.server && !this.stopped && this.boundPort) await this.listen(this.boundPort);
    },
  });
  private readonly faults = this.switchboard.active;
  private readonly frames = new Map<string, Promise<ComposedFrame>>();
  private readonly junk = mulberry32(0x6a756e6b);
  private boundPort = 0;
  private stopped = false;
  lastFrame: ServedFrame | null = null;
  readonly stats = { requests: 0, snapshots: 0, unauthorized: 0, stale: 0, notFound: 0, badRequests: 0 };

  constructor(options: CameraSimulatorOptions = {}) {
    this.opts = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      read: options.read ?? (() => ({ headcount: 0 })),
      seed: options.seed ?? 1,
      path: options.path ?? HIKVISION_SNAPSHOT_PATH,
      credentials: options.credentials,
      auth: options.auth ?? 'digest',
      digestAlgorithms: options.digestAlgorithms?.length ? options.digestAlgorithms : ['MD5'],
      nonceTtlMs: options.nonceTtlMs ?? 60_000,
      nonceMaxUses: options.nonceMaxUses ?? 100,
      now: options.now ?? Date.now,
      slowMs: options.slowMs ?? 20_000,
      headersTimeoutMs: options.headersTimeoutMs ?? 10_000,
    };
    this.scene = options.scene ?? null;
  }

  get port(): number {
    return this.boundPort;
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  /** Prepares the scene (so the first poll is not slow), then listens. */
  async start(): Promise<number> {
    if (this.stopped) throw new Error('CameraSimulator was stopped');
    this.scene ??= await sharedClassroomScene();
    await this.listen(this.opts.port);
    return this.boundPort;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.unlisten();
  }

  inject(fault: CameraFault): Promise<void> {
    return this.switchboard.inject(fault);
  }

  /** Clear one fault, or all. 'unreachable' listens again on the same port. */
  clear(fault?: CameraFault): Promise<void> {
    return this.switchboard.clear(fault);
  }

  get activeFaults(): CameraFault[] {
    return this.switchboard.list();
  }

  /** People in the room now, from read(): a whole number within what a frame can show. */
  people(): number {
    const value = this.opts.read().headcount;
    const n = typeof value === 'number' && Number.isFinite(value) ? Math.floor(value) : 0;
    return Math.max(0, Math.min(this.requireScene().capacity, n));
  }

  /** The frame the camera would serve now (tests and the launcher); never written anywhere. */
  snapshot(): Promise<ComposedFrame> {
    return this.frame(this.people(), this.faults.has('dark'));
  }

  // -------------------------------------------------------------------------------------
  // Sockets
  // -------------------------------------------------------------------------------------

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      // Node checks header and request timeouts on an interval (30 s by default): check often
      // enough that a half-sent request is dropped close to headersTimeoutMs.
      const connectionsCheckingInterval = Math.max(50, Math.min(5_000, Math.floor(this.opts.headersTimeoutMs / 4)));
      const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, connectionsCheckingInterval }, (req, res) => this.handle(req, res));
      server.headersTimeout = this.opts.headersTimeoutMs;
      server.requestTimeout = this.opts.headersTimeoutMs + this.opts.slowMs + 5_000;
      server.keepAliveTimeout = 5_000;
      server.on('connection', (socket) => {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
      });
      // Malformed request lines, oversized headers, resets: answer if we still can, then hang up.
      server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
        this.stats.badRequests++;
        if (socket.writable && !socket.writableEnded) {
          const status =
            err.code === 'HPE_HEADER_OVERFLOW'
              ? '431 Request Header Fields Too Large'
              : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
                ? '408 Request Timeout'
                : '400 Bad Request';
          socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        }
        socket.destroy();
      });
      server.once('error', reject);
      server.listen(port, this.opts.host, () => {
        server.off('error', reject);
        // A failing accept (EMFILE) must not take the process down; the camera just misses that client.
        server.on('error', () => undefined);
        this.server = server;
        this.boundPort = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private async unlisten(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // -------------------------------------------------------------------------------------
  // Requests
  // -------------------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.stats.requests++;
    res.on('error', () => undefined);
    // Snapshot requests carry no body: drain a small one, hang up on a large one.
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length;
      if (bodyBytes > MAX_BODY_BYTES) req.socket.destroy();
    });
    req.on('error', () => undefined);

    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== this.opts.path) {
      this.stats.notFound++;
      return this.reply(res, 404, 'Not Found');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return this.reply(res, 405, 'Method Not Allowed');
    }
    const verdict = this.authorized(req);
    if (verdict !== 'ok') {
      this.stats.unauthorized++;
      if (verdict === 'stale') this.stats.stale++;
      res.setHeader('WWW-Authenticate', this.opts.auth === 'basic' ? [`Basic realm="${REALM}"`] : this.opts.digestAlgorithms.map((a) => this.challenge(a, verdict === 'stale')));
      return this.reply(res, 401, 'Unauthorized');
    }
    if (this.faults.has('slow')) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.answer(req, res);
      }, this.opts.slowMs);
      this.timers.add(timer);
      // The client gave up: no answer is owed, and no timer may outlive the connection.
      res.on('close', () => {
        clearTimeout(timer);
        this.timers.delete(timer);
      });
      return;
    }
    this.answer(req, res);
  }

  /** What an authorised snapshot request gets, faults applied. */
  private answer(req: IncomingMessage, res: ServerResponse): void {
    if (res.destroyed || res.writableEnded) return;
    if (this.faults.has('http-error')) {
      res.setHeader('Retry-After', '30');
      return this.reply(res, 503, 'Service Unavailable');
    }
    if (this.faults.has('garbage')) return this.send(req, res, this.garbage());
    let people: number;
    try {
      people = this.people();
    } catch {
      return this.reply(res, 500, 'Internal Server Error');
    }
    const dark = this.faults.has('dark');
    this.frame(people, dark).then(
      (frame) => {
        this.stats.snapshots++;
        this.lastFrame = { faces: frame.faces, people, dark, bytes: frame.jpeg.length };
        this.send(req, res, frame.jpeg);
      },
      () => this.reply(res, 500, 'Internal Server Error'),
    );
  }

  private send(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': body.length, 'Cache-Control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private reply(res: ServerResponse, status: number, text: string): void {
    if (res.destroyed || res.writableEnded) return;
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<ResponseStatus><statusCode>${status}</statusCode><statusString>${text}</statusString></ResponseStatus>\n`;
    res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  private authorized(req: IncomingMessage): 'ok' | 'stale' | 'refused' {
    const creds = this.opts.credentials;
    if (!creds) return 'ok';
    const header = req.headers.authorization ?? '';
    if (this.opts.auth === 'basic') {
      const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
      if (!match) return 'refused';
      const given = Buffer.from(match[1]!, 'base64');
      const expected = Buffer.from(`${creds.username}:${creds.password}`, 'utf8');
      return given.length === expected.length && timingSafeEqual(given, expected) ? 'ok' : 'refused';
    }
    return this.digestVerdict(req, header, creds);
  }

  /** A fresh Digest challenge (Hikvision style: quoted qop and stale). */
  private challenge(algorithm: DigestAlgorithm, stale: boolean): string {
    const now = this.opts.now();
    // Forget nonces long past their life, and the oldest beyond MAX_NONCES.
    for (const [nonce, issued] of this.nonces) {
      if (this.nonces.size >= MAX_NONCES || now - issued.issuedAt > 10 * this.opts.nonceTtlMs) this.nonces.delete(nonce);
      else break;
    }
    const nonce = randomBytes(16).toString('hex');
    this.nonces.set(nonce, { algorithm, issuedAt: now, lastNc: 0, uses: 0 });
    return `Digest qop="auth", realm="${REALM}", nonce="${nonce}", opaque="${this.opaque}", algorithm=${algorithm}, stale="${stale ? 'TRUE' : 'FALSE'}"`;
  }

  /**
   * Checks a Digest answer (qop=auth). 'stale' only for an otherwise correct answer to an
   * expired nonce, as RFC 7616 says: the client then knows its password is right.
   */
  private digestVerdict(req: IncomingMessage, header: string, creds: { username: string; password: string }): 'ok' | 'stale' | 'refused' {
    const match = /^Digest\s+(.*)$/is.exec(header);
    if (!match) return 'refused';
    const p = parseAuthParams(match[1]!);
    if (!p) return 'refused';
    const issued = p.nonce === undefined ? undefined : this.nonces.get(p.nonce);
    if (!issued || p.realm !== REALM || p.opaque !== this.opaque || p.username !== creds.username) return 'refused';
    if ((p.algorithm ?? 'MD5').toLowerCase() !== issued.algorithm.toLowerCase()) return 'refused';
    if (p.uri !== req.url || p.qop !== 'auth' || !p.cnonce || !/^[0-9a-f]{8}$/i.test(p.nc ?? '') || !p.response) return 'refused';
    const H = (text: string) => createHash(HASH_OF[issued.algorithm]).update(text).digest('hex');
    const ha1 = H(`${creds.username}:${REALM}:${creds.password}`);
    const ha2 = H(`${req.method}:${p.uri}`);
    const expected = Buffer.from(H(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:auth:${ha2}`));
    const given = Buffer.from(p.response.toLowerCase());
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'refused';
    const nc = parseInt(p.nc!, 16);
    if (nc <= issued.lastNc) return 'refused'; // a replay
    if (this.opts.now() - issued.issuedAt > this.opts.nonceTtlMs || issued.uses >= this.opts.nonceMaxUses) return 'stale';
    issued.lastNc = nc;
    issued.uses++;
    return 'ok';
  }

  /** Junk of a few kB that never starts like a JPEG (0xFF 0xD8), different each time. */
  private garbage(): Buffer {
    const length = 2048 + Math.floor(this.junk() * 4096);
    const bytes = Buffer.alloc(length);
    for (let i = 0; i < length; i++) bytes[i] = Math.floor(this.junk() * 256);
    bytes[0] = 0x3c; // '<': what a confused camera firmware page would start with
    return bytes;
  }

  /** Composed frames by (people, dark); only the latest two are kept (a district runs hundreds of cameras). */
  private frame(people: number, dark: boolean): Promise<ComposedFrame> {
    const key = `${people}:${dark}`;
    let frame = this.frames.get(key);
    if (!frame) {
      frame = this.requireScene().compose(this.opts.seed, people, { dark });
      frame.catch(() => this.frames.delete(key));
      this.frames.set(key, frame);
      while (this.frames.size > 2) this.frames.delete(this.frames.keys().next().value!);
    }
    return frame;
  }

  private requireScene(): ClassroomScene {
    if (!this.scene) throw new Error('CameraSimulator not started');
    return this.scene;
  }
}

/**
 * The auth-params of an Authorization header (name=token or name="quoted string" with
 * backslash escapes), names in lower case; null when malformed or a name repeats.
 */
function parseAuthParams(text: string): Record<string, string> | null {
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  const re = /\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([!#$%&'*+\-.^_`|~0-9A-Za-z]+))\s*(?:,|$)/gy;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m || m[0] === '') return null;
    const name = m[1]!.toLowerCase();
    if (name in params) return null;
    params[name] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
    at = re.lastIndex;
  }
  return params;
}
