/**
 * A simulated internet as one school's link probe sees it: a UDP echo reflector, a TCP
 * port to time handshakes against, a DNS server, the web services schools depend on
 * (the Ministry's portal, the LMS, single sign-on) and a download endpoint for the
 * throughput test, all on 127.0.0.1 ephemeral ports, all behind one impaired "line".
 *
 * The line's impairments (delay, jitter, loss, bandwidth) come either from setImpairments()
 * or, when a `read` callback is given, from the link-probe value model's current values,
 * asked on every answer, so the launcher can replay a school day over real sockets.
 * Faults are layered on top: an outage (nothing answers, TCP handshakes time out), heavy
 * loss, a slow resolver, the services down while the line is up.
 *
 * What loopback cannot do: delay or drop a TCP handshake (the kernel completes it), so
 * tcp-connect times stay near zero and only an outage shows there. Delay and loss apply
 * to UDP echo, DNS and HTTP answers; HTTP pays two round trips (handshake + request) and a
 * 200 ms retransmission when a packet is "lost".
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricValues } from '@schoolops/device-profiles';
import type { ProbeOptions } from '../../../edge-agent/src/drivers/probe.ts';
import { mulberry32, type Rng } from '../district/random.ts';
import { QCLASS_IN, QTYPE_A, RCODE, readDnsRequest, writeDnsAnswer, writeDnsError } from './internet-dns.ts';
import { BlackHoleTcpTarget } from './internet-tcp.ts';

export const INTERNET_FAULTS = ['outage', 'loss', 'slow-dns', 'http-down'] as const;
export type InternetFault = (typeof INTERNET_FAULTS)[number];

export interface Impairments {
  /** Round trip the line adds to every answer, ms. */
  delayMs: number;
  /** Spread of the delay: drawn so that RFC 3550 jitter (mean |consecutive difference|) comes out near this. */
  jitterMs: number;
  /** Share of UDP answers dropped; for HTTP, the chance of a retransmission delay. */
  lossPct: number;
  /** Time the resolver takes to answer (its cache is near); default: delayMs. */
  dnsMs?: number;
  /** Download rate of the throughput endpoint; 0 = as fast as loopback goes. */
  bandwidthMbps: number;
}

export interface SimulatedInternetOptions {
  host?: string;
  /** The HTTP port (services and throughput); 0 = ephemeral. */
  port?: number;
  /** Other ports, 0 = ephemeral (the default). */
  ports?: { echo?: number; tcp?: number; dns?: number };
  impairments?: Partial<Impairments>;
  /**
   * The link's "true" values (the link-probe value model's latencyMs, jitterMs, lossPct,
   * dnsMs, wanUp, throughputMbps), asked on every answer; when given, they drive the line
   * instead of setImpairments(). wanUp=false is an outage.
   */
  read?: () => MetricValues;
  /** Names the DNS server knows, name -> IPv4; others are NXDOMAIN. */
  dnsRecords?: Record<string, string>;
  /** Loss while the 'loss' fault is injected (default 30 %). */
  faultLossPct?: number;
  /** Extra resolver delay while 'slow-dns' is injected (default 1500 ms). */
  slowDnsMs?: number;
  /** Honour Range requests on the throughput endpoint (default true; false tests a client's own cut-off). */
  rangeRequests?: boolean;
  seed?: number;
}

export interface InternetStats {
  echoRequests: number;
  echoReplies: number;
  dnsQueries: number;
  dnsAnswers: number;
  /** Datagrams the DNS server could not read as a query. */
  dnsMalformed: number;
  httpRequests: number;
  /** Body bytes the throughput endpoint has written, all downloads together. */
  throughputBytes: number;
}

/** The services, by path: what a school's staff open every day. */
export const SERVICES: Record<string, { name: string; title: string }> = {
  '/moet': { name: 'moet', title: 'Cổng thông tin Bộ Giáo dục và Đào tạo' },
  '/lms': { name: 'lms', title: 'Hệ thống quản lý học tập (LMS)' },
  '/sso': { name: 'sso', title: 'Đăng nhập một lần (SSO) ngành Giáo dục' },
};

/** Documentation addresses (RFC 5737 TEST-NET-3): never routed, never someone's real server. */
export const DEFAULT_DNS_RECORDS: Record<string, string> = {
  'moet.gov.vn': '203.0.113.10',
  'csdl.moet.gov.vn': '203.0.113.11',
  'lms.district.edu.vn': '203.0.113.20',
  'sso.district.edu.vn': '203.0.113.30',
};

const DEFAULT_IMPAIRMENTS: Impairments = { delayMs: 20, jitterMs: 2, lossPct: 0, bandwidthMbps: 100 };
const RETRANSMIT_MS = 200;
const MAX_DATAGRAM = 2048;
/** Answers waiting for their delay, per server: a flood is dropped beyond this, not queued. */
const MAX_PENDING = 4096;
const DEFAULT_DOWNLOAD_BYTES = 10 * 1024 * 1024;
const MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024;
const CHUNK = Buffer.alloc(16 * 1024, 0x5a);
/** How often a download stalled by an outage looks again. */
const STALL_RECHECK_MS = 50;

/**
 * One answer's delay on the line. Uniform over delay ± 1.5 x jitter: for a uniform spread of
 * width w the mean |difference| of two draws is w/3, so the probe's jitter comes out ~jitterMs.
 */
export function lineDelay(delayMs: number, jitterMs: number, rng: Rng): number {
  return Math.max(0, delayMs + (rng() - 0.5) * 3 * jitterMs);
}

export class SimulatedInternet {
  private readonly host: string;
  private readonly rng: Rng;
  private readonly records: Map<string, string>;
  private impairments: Impairments;
  private readonly faults = new Set<InternetFault>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Requests held unanswered during an outage, and downloads in progress. */
  private readonly open = new Set<ServerResponse>();
  private echo: UdpSocket | null = null;
  private dns: UdpSocket | null = null;
  private http: Server | null = null;
  private tcp: BlackHoleTcpTarget | null = null;
  private starting: Promise<number> | null = null;
  private stopping: Promise<void> | null = null;
  readonly ports = { echo: 0, tcp: 0, dns: 0, http: 0 };
  readonly stats: InternetStats = { echoRequests: 0, echoReplies: 0, dnsQueries: 0, dnsAnswers: 0, dnsMalformed: 0, httpRequests: 0, throughputBytes: 0 };

  constructor(private readonly options: SimulatedInternetOptions = {}) {
    this.host = options.host ?? '127.0.0.1';
    this.rng = mulberry32(options.seed ?? 862);
    this.records = new Map(Object.entries(options.dnsRecords ?? DEFAULT_DNS_RECORDS).map(([k, v]) => [k.toLowerCase(), v]));
    this.impairments = { ...DEFAULT_IMPAIRMENTS, ...options.impairments };
  }

  /** Bind everything; resolves to the HTTP port (all ports are in `ports`). */
  start(): Promise<number> {
    this.starting ??= this.bind().catch(async (error: unknown) => {
      await this.stop();
      throw error;
    });
    return this.starting;
  }

  private async bind(): Promise<number> {
    const p = this.options.ports ?? {};
    this.echo = await this.bindUdp(p.echo ?? 0, (msg, from) => this.onEcho(msg, from));
    this.ports.echo = this.echo.address().port;
    this.dns = await this.bindUdp(p.dns ?? 0, (msg, from) => this.onDns(msg, from));
    this.ports.dns = this.dns.address().port;
    this.tcp = new BlackHoleTcpTarget(this.host, p.tcp ?? 0);
    this.ports.tcp = await this.tcp.start();
    const http = createServer({ requestTimeout: 30_000, headersTimeout: 5_000, maxHeaderSize: 8 * 1024 }, (req, res) => this.onHttp(req, res));
    this.http = http;
    http.on('clientError', (_error, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.options.port ?? 0, this.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    this.ports.http = (http.address() as AddressInfo).port;
    return this.ports.http;
  }

  private bindUdp(port: number, onMessage: (msg: Buffer, from: { address: string; port: number }) => void): Promise<UdpSocket> {
    const socket = createSocket(this.host.includes(':') ? 'udp6' : 'udp4');
    // A send to a client that went away (ICMP unreachable) must not end the simulator.
    socket.on('error', () => undefined);
    socket.on('message', (msg, rinfo) => {
      if (msg.length <= MAX_DATAGRAM) onMessage(msg, rinfo);
    });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, this.host, () => {
        socket.off('error', reject);
        resolve(socket);
      });
    });
  }

  // ---- the line ------------------------------------------------------------------------

  /** Change the line (the launcher calls this from the link-probe value model). */
  setImpairments(change: Partial<Impairments>): void {
    this.impairments = { ...this.impairments, ...change };
  }

  /** The line as it is now: the value model's values when `read` is given, else setImpairments(). */
  currentImpairments(): Impairments & { down: boolean } {
    let line: Impairments = this.impairments;
    let down = this.faults.has('outage');
    const values = this.options.read?.();
    if (values) {
      const num = (key: string, fallback: number) => (typeof values[key] === 'number' ? (values[key] as number) : fallback);
      line = {
        delayMs: num('latencyMs', line.delayMs),
        jitterMs: num('jitterMs', line.jitterMs),
        lossPct: num('lossPct', line.lossPct),
        dnsMs: num('dnsMs', line.dnsMs ?? line.delayMs),
        bandwidthMbps: num('throughputMbps', line.bandwidthMbps),
      };
      if (values.wanUp === false) down = true;
    }
    const lossPct = Math.max(line.lossPct, this.faults.has('loss') ? (this.options.faultLossPct ?? 30) : 0);
    return { ...line, lossPct, down };
  }

  private delay(base: number, jitterMs: number): number {
    return lineDelay(base, jitterMs, this.rng);
  }

  private dropped(lossPct: number): boolean {
    return this.rng() * 100 < lossPct;
  }

  private later(ms: number, fn: () => void): boolean {
    if (this.stopping || this.timers.size >= MAX_PENDING) return false;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return true;
  }

  // ---- UDP echo (RFC 862) ----------------------------------------------------------------

  private onEcho(msg: Buffer, from: { address: string; port: number }): void {
    this.stats.echoRequests++;
    const line = this.currentImpairments();
    if (line.down || this.dropped(line.lossPct)) return;
    const copy = Buffer.from(msg);
    this.later(this.delay(line.delayMs, line.jitterMs), () => {
      this.stats.echoReplies++;
      this.echo?.send(copy, from.port, from.address, () => undefined);
    });
  }

  // ---- DNS ------------------------------------------------------------------------------

  private onDns(msg: Buffer, from: { address: string; port: number }): void {
    const request = readDnsRequest(msg);
    if (request.kind !== 'query') this.stats.dnsMalformed++;
    if (request.kind === 'drop') return;
    this.stats.dnsQueries++;
    const line = this.currentImpairments();
    if (line.down || this.dropped(line.lossPct)) return;
    let answer: Buffer;
    if (request.kind === 'error') answer = writeDnsError(request.id, request.opcode, request.rcode);
    else {
      const q = request.query;
      const address = this.records.get(q.name);
      if (!address) answer = writeDnsAnswer(q, RCODE.nxDomain);
      else if (q.qtype === QTYPE_A && q.qclass === QCLASS_IN) answer = writeDnsAnswer(q, RCODE.noError, address);
      else answer = writeDnsAnswer(q, RCODE.noError); // the name exists, not with this type: NODATA
    }
    const slow = this.faults.has('slow-dns') ? (this.options.slowDnsMs ?? 1500) : 0;
    this.later(this.delay(line.dnsMs ?? line.delayMs, line.jitterMs) + slow, () => {
      this.stats.dnsAnswers++;
      this.dns?.send(answer, from.port, from.address, () => undefined);
    });
  }

  // ---- HTTP -----------------------------------------------------------------------------

  private onHttp(req: IncomingMessage, res: ServerResponse): void {
    this.stats.httpRequests++;
    this.open.add(res);
    res.on('close', () => this.open.delete(res));
    const line = this.currentImpairments();
    // Down: the request is held unanswered until the client gives up (or the line returns: see clear()).
    if (line.down) return;
    const wait = this.delay(2 * line.delayMs, line.jitterMs) + (this.dropped(line.lossPct) ? RETRANSMIT_MS : 0);
    const scheduled = this.later(wait, () => {
      if (!res.destroyed) this.answerHttp(req, res);
    });
    if (!scheduled) res.destroy();
  }

  private answerHttp(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://internet.invalid');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url.pathname === '/throughput') return this.download(req, res, url);
    const service = SERVICES[url.pathname];
    if (!service) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    if (this.faults.has('http-down')) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '60' }).end('Dịch vụ tạm ngừng / service unavailable\n');
      return;
    }
    const body = `<!doctype html><html lang="vi"><meta charset="utf-8"><title>${service.title}</title><h1>${service.title}</h1></html>\n`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
  }

  /** GET /throughput?bytes=N: N bytes (default 10 MB), at the line's bandwidth, Range honoured. */
  private download(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const asked = Number(url.searchParams.get('bytes') ?? DEFAULT_DOWNLOAD_BYTES);
    const total = Number.isSafeInteger(asked) && asked > 0 ? Math.min(asked, MAX_DOWNLOAD_BYTES) : DEFAULT_DOWNLOAD_BYTES;
    let first = 0;
    let last = total - 1;
    const range = this.options.rangeRequests === false ? null : /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      first = Number(range[1]);
      last = range[2] ? Math.min(Number(range[2]), total - 1) : total - 1;
      if (first > last) {
        res.writeHead(416, { 'content-range': `bytes */${total}` }).end();
        return;
      }
      res.writeHead(206, { 'content-type': 'application/octet-stream', 'content-length': last - first + 1, 'content-range': `bytes ${first}-${last}/${total}` });
    } else res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total, 'accept-ranges': 'bytes' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    // Headers now, not with the first paced chunk: the client times the body from them.
    res.flushHeaders();
    const length = last - first + 1;
    const started = performance.now();
    let sent = 0;
    const pump = (): void => {
      if (res.destroyed || this.stopping) return;
      const line = this.currentImpairments();
      // The line went down mid-download: the transfer stalls, as TCP would.
      if (line.down) {
        this.later(STALL_RECHECK_MS, pump);
        return;
      }
      while (sent < length) {
        const n = Math.min(CHUNK.length, length - sent);
        if (line.bandwidthMbps > 0) {
          // Paced: byte k may leave no earlier than k bits / bandwidth after the start.
          const dueMs = ((sent + n) * 8) / (line.bandwidthMbps * 1000) - (performance.now() - started);
          if (dueMs > 1) {
            if (!this.later(dueMs, pump)) res.destroy();
            return;
          }
        }
        sent += n;
        this.stats.throughputBytes += n;
        if (!res.write(CHUNK.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  }

  // ---- faults ---------------------------------------------------------------------------

  async inject(fault: InternetFault): Promise<void> {
    this.faults.add(fault);
    if (fault === 'outage') await this.tcp?.blackHole();
  }

  /** Clear one fault, or all of them. */
  async clear(fault?: InternetFault): Promise<void> {
    const clearing = fault ? [fault] : [...this.faults];
    for (const f of clearing) this.faults.delete(f);
    if (clearing.includes('outage')) {
      await this.tcp?.restore();
      // Requests held while the line was down were given up on by now or will be: drop them
      // as a line coming back drops the dead connections.
      for (const res of this.open) if (!res.headersSent) res.destroy();
    }
  }

  activeFaults(): InternetFault[] {
    return [...this.faults];
  }

  /**
   * Answers still to be sent and requests or downloads still open. At 0 nothing more goes
   * out (tests wait for this instead of sleeping a guess).
   */
  get inFlight(): number {
    return this.timers.size + this.open.size;
  }

  /** What a gateway's probe should be configured with to measure this internet. */
  probeOptions(overrides: Partial<ProbeOptions> = {}): ProbeOptions {
    const base = `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.ports.http}`;
    return {
      targets: [
        { host: this.host, port: this.ports.echo, method: 'udp-echo' },
        { host: this.host, port: this.ports.tcp, method: 'tcp-connect' },
      ],
      dns: { server: this.host.includes(':') ? `[${this.host}]:${this.ports.dns}` : `${this.host}:${this.ports.dns}`, names: ['moet.gov.vn', 'lms.district.edu.vn'] },
      http: Object.entries(SERVICES).map(([path, s]) => ({ name: s.name, url: `${base}${path}` })),
      throughput: { url: `${base}/throughput` },
      ...overrides,
    };
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const timer of this.timers) clearTimeout(timer);
      this.timers.clear();
      for (const res of this.open) res.destroy();
      this.open.clear();
      const closeUdp = (socket: UdpSocket | null) =>
        new Promise<void>((resolve) => {
          if (!socket) return resolve();
          try {
            socket.close(() => resolve());
          } catch {
            resolve();
          }
        });
      const http = this.http;
      await Promise.all([
        closeUdp(this.echo),
        closeUdp(this.dns),
        this.tcp?.stop(),
        http &&
          new Promise<void>((resolve) => {
            http.closeAllConnections();
            http.close(() => resolve());
          }),
      ]);
    })();
    return this.stopping;
  }
}
