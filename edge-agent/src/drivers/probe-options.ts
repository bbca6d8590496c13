/**
 * What a link probe measures and against what: the device's `options` schema, and the
 * defaults applied to it in code (ajv checks the options but does not fill them in).
 *
 * The probe has no address of its own: it runs on the gateway and measures the school's
 * internet link. Everything it needs comes from here, and nothing needs root: latency
 * uses UDP echo or TCP connect times (Node cannot open raw ICMP sockets unprivileged).
 * Each check has its own time bound, so the poll's timeout is their sum, never a guess.
 */
import { isIP } from 'node:net';
import { Resolver } from 'node:dns';
import { Type, type Static } from '@sinclair/typebox';
import { DriverError, type DriverDevice } from './types.ts';

const Host = Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9._:-]+$' });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
/** http(s) only; ajv runs without format plugins, so a pattern stands in for format: 'uri'. */
const HttpUrl = Type.String({ maxLength: 2048, pattern: '^https?://[^\\s/?#@]+([/?#]\\S*)?$' });
/** An IP address with an optional port (node:dns setServers takes addresses, not names). */
const DnsServer = Type.String({
  maxLength: 64,
  pattern: '^(([0-9]{1,3}\\.){3}[0-9]{1,3}(:[0-9]{1,5})?|\\[[0-9A-Fa-f:.]+\\](:[0-9]{1,5})?|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*)$',
});
const Millis = (minimum: number, maximum: number, description: string) => Type.Integer({ minimum, maximum, description });

export const ProbeTarget = Type.Object(
  {
    host: Host,
    port: Port,
    /** udp-echo: RFC 862 style echo or a district reflector; tcp-connect: handshake time (a refusal still proves the path). */
    method: Type.Union([Type.Literal('udp-echo'), Type.Literal('tcp-connect')]),
  },
  { additionalProperties: false },
);
export type ProbeTarget = Static<typeof ProbeTarget>;

export const HttpCheck = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    url: HttpUrl,
    /** Exact status expected; without it any 2xx or 3xx is fine. */
    expectStatus: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
    timeoutMs: Type.Optional(Millis(100, 30_000, 'default 5000')),
  },
  { additionalProperties: false },
);
export type HttpCheck = Static<typeof HttpCheck>;

export const ProbeOptions = Type.Object(
  {
    /** Latency, jitter and loss targets; [] turns the latency check off. Default: 1.1.1.1 and 8.8.8.8, TCP 443. */
    targets: Type.Optional(Type.Array(ProbeTarget, { maxItems: 8 })),
    /** Probes sent to each target per poll (default 10). */
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    spacingMs: Type.Optional(Millis(1, 5_000, 'gap between probes, default 100')),
    /** How long one probe waits for its answer before it counts as lost (default 1000). */
    probeTimeoutMs: Type.Optional(Millis(20, 10_000, 'default 1000')),
    dns: Type.Optional(
      Type.Object(
        {
          /** Resolver to ask, 'ip' or 'ip:port' ('[v6]:port'); default: the gateway's own resolvers. */
          server: Type.Optional(DnsServer),
          /** Names to resolve (A records); default moet.gov.vn. [] turns the DNS check off. */
          names: Type.Optional(Type.Array(Host, { maxItems: 8 })),
          timeoutMs: Type.Optional(Millis(50, 10_000, 'default 2000')),
        },
        { additionalProperties: false },
      ),
    ),
    /** Services the school depends on; default: the device address's url, if any. [] turns the check off. */
    http: Type.Optional(Type.Array(HttpCheck, { maxItems: 8 })),
    /** Download test against a district endpoint; off unless configured. */
    throughput: Type.Optional(
      Type.Object(
        {
          url: HttpUrl,
          /** Run at most this often (default 3600). */
          everySeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86_400 })),
          /** Budget of one test; the download is asked for with a Range and cut at this size (default 5 MB). */
          maxBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 100 * 1024 * 1024 })),
          /** Longest one test may run (default 10). */
          maxSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 60 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ProbeOptions = Static<typeof ProbeOptions>;
/**
 * Options that are credentials: none. Targets and resolvers are public addresses, and an
 * HttpUrl cannot carry user:password@ (its pattern refuses '@' before the path).
 */
export const PROBE_SECRET_OPTIONS = [] as const satisfies readonly (keyof ProbeOptions)[];

export const DEFAULTS = {
  /** Two independent anycast networks that answer on 443 everywhere, domestic PoPs included. */
  targets: [
    { host: '1.1.1.1', port: 443, method: 'tcp-connect' },
    { host: '8.8.8.8', port: 443, method: 'tcp-connect' },
  ] as ProbeTarget[],
  count: 10,
  spacingMs: 100,
  probeTimeoutMs: 1_000,
  dnsNames: ['moet.gov.vn'],
  dnsTimeoutMs: 2_000,
  httpTimeoutMs: 5_000,
  throughputEverySeconds: 3_600,
  throughputMaxBytes: 5 * 1024 * 1024,
  throughputMaxSeconds: 10,
} as const;

/** Slack on top of the checks' own bounds, for the event loop and closing sockets. */
const POLL_MARGIN_MS = 1_000;

export interface LatencySettings {
  targets: ProbeTarget[];
  count: number;
  spacingMs: number;
  timeoutMs: number;
}
export interface DnsSettings {
  server: string | undefined;
  names: string[];
  timeoutMs: number;
}
export interface HttpSettings {
  checks: (HttpCheck & { timeoutMs: number })[];
}
export interface ThroughputSettings {
  url: string;
  everySeconds: number;
  maxBytes: number;
  maxSeconds: number;
}

/** The options with every default applied; a check is null when it is off. */
export interface ProbeSettings {
  latency: LatencySettings | null;
  dns: DnsSettings | null;
  http: HttpSettings | null;
  throughput: ThroughputSettings | null;
}

/** Apply defaults, keeping only the checks the device's profile lists. */
export function resolveSettings(device: DriverDevice<'probe', ProbeOptions>): ProbeSettings {
  const o = device.options ?? {};
  const checks = new Set(device.protocol.checks);
  const targets = o.targets ?? DEFAULTS.targets;
  const latency: LatencySettings | null =
    checks.has('latency') && targets.length > 0
      ? { targets, count: o.count ?? DEFAULTS.count, spacingMs: o.spacingMs ?? DEFAULTS.spacingMs, timeoutMs: o.probeTimeoutMs ?? DEFAULTS.probeTimeoutMs }
      : null;

  const names = o.dns?.names ?? [...DEFAULTS.dnsNames];
  const dns: DnsSettings | null =
    checks.has('dns') && names.length > 0 ? { server: o.dns?.server, names, timeoutMs: o.dns?.timeoutMs ?? DEFAULTS.dnsTimeoutMs } : null;

  const addressUrl = device.record.address?.url;
  const httpChecks = o.http ?? (addressUrl ? [{ name: 'address', url: addressUrl }] : []);
  const http: HttpSettings | null =
    checks.has('http') && httpChecks.length > 0
      ? { checks: httpChecks.map((c) => ({ ...c, timeoutMs: c.timeoutMs ?? DEFAULTS.httpTimeoutMs })) }
      : null;

  const t = o.throughput;
  const throughput: ThroughputSettings | null =
    checks.has('throughput') && t
      ? {
          url: t.url,
          everySeconds: t.everySeconds ?? DEFAULTS.throughputEverySeconds,
          maxBytes: t.maxBytes ?? DEFAULTS.throughputMaxBytes,
          maxSeconds: t.maxSeconds ?? DEFAULTS.throughputMaxSeconds,
        }
      : null;
  return { latency, dns, http, throughput };
}

/**
 * Refuse, once at open, what the schema cannot see: nothing left to measure, a URL that
 * does not parse, a resolver address node:dns will not take.
 */
export function assertUsable(s: ProbeSettings, device: DriverDevice<'probe', ProbeOptions>): void {
  if (!s.latency && !s.dns && !s.http && !s.throughput)
    throw new DriverError('protocol_error', `probe has nothing to measure: its profile lists ${device.protocol.checks.join(', ')} and none of them is configured`);
  if (s.dns?.server !== undefined) {
    try {
      new Resolver().setServers([s.dns.server]);
    } catch (error) {
      throw new DriverError('protocol_error', `probe option dns.server "${s.dns.server}" is not a resolver address: ${(error as Error).message}`);
    }
  }
  for (const check of s.http?.checks ?? []) assertHttpUrl(check.url, `http check "${check.name}"`);
  if (s.throughput) assertHttpUrl(s.throughput.url, 'throughput');
}

function assertHttpUrl(url: string, what: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DriverError('protocol_error', `probe ${what}: "${url}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new DriverError('protocol_error', `probe ${what}: "${url}" is not http(s)`);
}

/** Longest the latency check can take: a name lookup, the spaced probes, the last one's wait. */
export function latencyBoundMs(s: LatencySettings): number {
  const lookup = s.targets.some((t) => isIP(t.host) === 0) ? s.timeoutMs : 0;
  return lookup + (s.count - 1) * s.spacingMs + s.timeoutMs;
}

/**
 * How long one poll may take: latency, DNS and HTTP run side by side, then the throughput
 * test (alone, so it neither skews nor is skewed by the latency probes).
 */
export function pollBoundMs(s: ProbeSettings): number {
  const concurrent = Math.max(
    s.latency ? latencyBoundMs(s.latency) : 0,
    s.dns?.timeoutMs ?? 0,
    ...(s.http?.checks.map((c) => c.timeoutMs) ?? [0]),
  );
  return concurrent + (s.throughput ? s.throughput.maxSeconds * 1000 : 0) + POLL_MARGIN_MS;
}
