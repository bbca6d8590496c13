/**
 * SNMP driver (poll): reads a router's WAN interface over SNMPv2c or SNMPv3 and turns its
 * counters into bandwidth, utilisation, link state and uptime.
 *
 * What it reads is the profile's data: protocol.oids names the raw inputs (ifHCInOctets,
 * ifHCOutOctets, ifHighSpeed, ifOperStatus, sysUpTime) and their OIDs, with '{ifIndex}'
 * taken from the device's address (the WAN port). Version and credentials are the device's
 * options. One UDP session per device, kept across polls and replaced after any failure
 * (cheap over UDP; a v3 session then discovers the engine again).
 *
 * Rates are differences of two samples over the router's own clock (sysUpTime), so network
 * delay does not skew them (below 2 s apart our clock serves: sysUpTime counts hundredths).
 * A counter that went backwards is a 64-bit wrap only when the router did not restart in
 * between and the wrapped difference is a plausible rate; a restart starts the sampling
 * over instead of reporting a huge or negative rate. Agents cache counters for a moment
 * (Net-SNMP's snmpd: 3 s), so polls much closer together than that give jumpy rates.
 *
 * What a status means, as seen from real agents:
 *  - 'timeout': nothing answered. SNMPv2c agents do not answer a wrong community at all,
 *    so a wrong community shows as 'timeout', never as 'auth_failed'.
 *  - 'refused': the host answered "port unreachable" (SNMP service off): the session's
 *    socket is connected to the device, so the kernel reports it.
 *  - 'auth_failed': an SNMPv3 report (wrong key: usmStatsWrongDigests, unknown user, ...).
 *    (A report about engine boots/time after an agent restart is not one: net-snmp resends.)
 *  - 'device_error': the agent answered but has no such object (wrong ifIndex, say).
 *  - 'protocol_error': the answer is not SNMP, or not what was asked.
 */
import dgram, { type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { createRequire } from 'node:module';
import { Type, type Static } from '@sinclair/typebox';
import { metricsOf, type MetricValues } from '@schoolops/device-profiles';
import { DriverError, classifyError, type DeviceHandle, type Driver, type DriverDevice } from './types.ts';

// ---------------------------------------------------------------------------------------
// The part of net-snmp (CommonJS, untyped) this driver uses.
// ---------------------------------------------------------------------------------------

interface Varbind {
  oid: string;
  type: number;
  value: unknown;
}
interface Session {
  get(oids: string[], callback: (error: Error | null, varbinds?: Varbind[]) => void): void;
  close(): void;
  on(event: 'error' | 'close', listener: (error?: Error) => void): void;
}
interface SessionOptions {
  port: number;
  retries: number;
  timeout: number;
  transport: 'udp4' | 'udp6';
  version?: number;
  reportOidMismatchErrors: boolean;
  dgramModule: { createSocket(type: 'udp4' | 'udp6'): Socket };
}
interface NetSnmpSessionModule {
  createSession(target: string, community: string, options: SessionOptions): Session;
  createV3Session(target: string, user: object, options: SessionOptions): Session;
  isVarbindError(varbind: Varbind): boolean;
  varbindError(varbind: Varbind): string;
  Version2c: number;
  ObjectType: Record<'Integer' | 'Gauge32' | 'TimeTicks' | 'Counter64', number>;
  ErrorStatus: Record<'AuthorizationError' | 'NoAccess', number>;
  SecurityLevel: Record<'noAuthNoPriv' | 'authNoPriv' | 'authPriv', number>;
  AuthProtocols: Record<string, number>;
  PrivProtocols: Record<string, number>;
  ResponseInvalidCode: Record<'ECouldNotDecrypt' | 'EAuthFailure', number>;
}
const snmp = createRequire(import.meta.url)('net-snmp') as NetSnmpSessionModule;

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------

const Transport = {
  /** Wait this long for an answer before sending again, ms (default 2000). */
  timeoutMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 60_000 })),
  /** Send again this many times before giving up: UDP datagrams get lost (default 1). */
  retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 5 })),
};

export const SnmpV2cOptions = Type.Object(
  {
    version: Type.Optional(Type.Literal('2c')),
    /** Default 'public'. */
    community: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    ...Transport,
  },
  { additionalProperties: false },
);

const AUTH_PROTOCOLS = ['md5', 'sha', 'sha224', 'sha256', 'sha384', 'sha512'] as const;
const PRIV_PROTOCOLS = ['des', 'aes', 'aes256b', 'aes256r'] as const;

/** The security level follows the keys given: none, authKey (authNoPriv), authKey + privKey (authPriv). */
export const SnmpV3Options = Type.Object(
  {
    version: Type.Literal('3'),
    user: Type.String({ minLength: 1, maxLength: 32 }),
    /** Default 'sha'. */
    authProtocol: Type.Optional(Type.Union(AUTH_PROTOCOLS.map((p) => Type.Literal(p)))),
    /** RFC 3414 passphrases are at least 8 characters; agents refuse shorter ones. */
    authKey: Type.Optional(Type.String({ minLength: 8, maxLength: 255 })),
    /** Default 'aes' (AES-128). */
    privProtocol: Type.Optional(Type.Union(PRIV_PROTOCOLS.map((p) => Type.Literal(p)))),
    privKey: Type.Optional(Type.String({ minLength: 8, maxLength: 255 })),
    ...Transport,
  },
  {
    additionalProperties: false,
    // Privacy without authentication does not exist in the USM; a protocol without its key is a typo.
    dependencies: { privKey: ['authKey'], authProtocol: ['authKey'], privProtocol: ['privKey'] },
  },
);

/** `{}` means SNMPv2c with community 'public'. */
export const SnmpOptions = Type.Union([SnmpV2cOptions, SnmpV3Options]);
export type SnmpOptions = Static<typeof SnmpOptions>;
/**
 * Options that are credentials: the v2c community (it grants reading the router) and the
 * USM keys. The gateway refuses a config holding them inline unless only its own user can
 * read it; they belong in the config's secretsFile (edge-agent/src/config.ts).
 */
export const SNMP_SECRET_OPTIONS = ['community', 'authKey', 'privKey'] as const satisfies readonly (
  | keyof Static<typeof SnmpV2cOptions>
  | keyof Static<typeof SnmpV3Options>
)[];

const DEFAULT_TIMEOUT_MS = 2000;
const DEFAULT_RETRIES = 1;
const DEFAULT_PORT = 161;

function attempts(options: SnmpOptions): number {
  return (options.retries ?? DEFAULT_RETRIES) + 1;
}

function sessionFor(host: string, port: number, options: SnmpOptions, dgramModule: SessionOptions['dgramModule']): Session {
  const common: SessionOptions = {
    port,
    retries: options.retries ?? DEFAULT_RETRIES,
    timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    transport: isIPv6(host) ? 'udp6' : 'udp4',
    reportOidMismatchErrors: true,
    dgramModule,
  };
  if (options.version !== '3') return snmp.createSession(host, options.community ?? 'public', { ...common, version: snmp.Version2c });
  const level = options.privKey ? 'authPriv' : options.authKey ? 'authNoPriv' : 'noAuthNoPriv';
  const user = {
    name: options.user,
    level: snmp.SecurityLevel[level],
    ...(options.authKey ? { authProtocol: snmp.AuthProtocols[options.authProtocol ?? 'sha'], authKey: options.authKey } : {}),
    ...(options.privKey ? { privProtocol: snmp.PrivProtocols[options.privProtocol ?? 'aes'], privKey: options.privKey } : {}),
  };
  return snmp.createV3Session(host, user, common);
}

// ---------------------------------------------------------------------------------------
// Inputs: what the profile's OIDs are, and what a reading of them is
// ---------------------------------------------------------------------------------------

const INPUTS = ['ifHCInOctets', 'ifHCOutOctets', 'ifHighSpeed', 'ifOperStatus', 'sysUpTime'] as const;
type Input = (typeof INPUTS)[number];
const isInput = (name: string): name is Input => (INPUTS as readonly string[]).includes(name);

/** One reading of the router, with the time it arrived (monotonic ms). */
export interface TrafficSample {
  at: number;
  /** sysUpTime, hundredths of a second (wraps at 2^32, after 497 days). */
  uptimeTicks?: number;
  inOctets?: bigint;
  outOctets?: bigint;
  speedMbps?: number;
  operStatus?: number;
}

/** The profile's OIDs with the device's ifIndex filled in; refuses what can never be read. */
function resolveInputs(device: DriverDevice<'snmp', SnmpOptions>): { name: Input; oid: string }[] {
  const ifIndex = device.record.address?.ifIndex;
  const inputs: { name: Input; oid: string }[] = [];
  for (const [name, template] of Object.entries(device.protocol.oids)) {
    if (!isInput(name))
      throw new DriverError('protocol_error', `profile ${device.profile.id}: the snmp driver cannot derive anything from oid "${name}" (it reads ${INPUTS.join(', ')})`);
    let oid = template;
    if (oid.includes('{ifIndex}')) {
      if (ifIndex === undefined)
        throw new DriverError('protocol_error', `configuration: device ${device.record.id} has no address.ifIndex (the router's WAN interface, e.g. 1 for ether1)`);
      oid = oid.replaceAll('{ifIndex}', String(ifIndex));
    }
    if (!/^\d+(\.\d+)+$/.test(oid))
      throw new DriverError('protocol_error', `profile ${device.profile.id}: oid ${name} "${template}" is not a numeric OID`);
    inputs.push({ name, oid });
  }
  if (inputs.length === 0) throw new DriverError('protocol_error', `profile ${device.profile.id} lists no oids to read`);
  return inputs;
}

/** Counter64 arrives as the BER content bytes: big-endian, maybe with a leading zero byte. */
export function counter64(bytes: Buffer): bigint | null {
  if (bytes.length === 0 || bytes.length > 16) return null;
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value < COUNTER64_MODULUS ? value : null;
}

function decodeSample(inputs: { name: Input; oid: string }[], varbinds: Varbind[], at: number): TrafficSample {
  if (varbinds.length !== inputs.length) throw new DriverError('protocol_error', `asked for ${inputs.length} values, got ${varbinds.length}`);
  const sample: TrafficSample = { at };
  const T = snmp.ObjectType;
  inputs.forEach(({ name, oid }, i) => {
    const varbind = varbinds[i]!;
    if (snmp.isVarbindError(varbind))
      throw new DriverError('device_error', `${name} (${oid}): ${snmp.varbindError(varbind).split(':')[0]}: the agent has no such object`);
    const wrong = (expected: string) => new DriverError('protocol_error', `${name} (${oid}): expected ${expected}, got type ${varbind.type}`);
    const { type, value } = varbind;
    const count = (types: number[]) => {
      if (!types.includes(type) || typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw wrong('a non-negative integer');
      return value;
    };
    switch (name) {
      case 'ifHCInOctets':
      case 'ifHCOutOctets': {
        const octets = type === T.Counter64 && Buffer.isBuffer(value) ? counter64(value) : null;
        if (octets === null) throw wrong('Counter64');
        if (name === 'ifHCInOctets') sample.inOctets = octets;
        else sample.outOctets = octets;
        break;
      }
      case 'ifHighSpeed':
        sample.speedMbps = count([T.Gauge32, T.Integer]);
        break;
      case 'ifOperStatus':
        sample.operStatus = count([T.Integer]);
        break;
      case 'sysUpTime':
        sample.uptimeTicks = count([T.TimeTicks]);
        break;
    }
  });
  return sample;
}

// ---------------------------------------------------------------------------------------
// Rates: two samples -> metrics (pure)
// ---------------------------------------------------------------------------------------

const COUNTER64_MODULUS = 2n ** 64n;
const TIMETICKS_MODULUS = 2 ** 32;
/** Below this the 10 ms resolution of sysUpTime costs more than 0.5 %: use our own clock. */
const MIN_UPTIME_BASE_S = 2;
/** Too close together to say anything about a rate (two polls in the same tick). */
const MIN_INTERVAL_S = 0.05;
/** A wrapped counter is believed only if the rate it implies fits the link with this margin. */
const WRAP_SPEED_MARGIN = 1.5;

export interface RateLimits {
  /** Highest rate the profile accepts, bit/s (the metric's max). */
  maxBps: number;
}

type Elapsed = { continuous: true; seconds: number } | { continuous: false; why: string };

/** How long between two samples, and whether the router ran all along. */
function elapsed(prev: TrafficSample, cur: TrafficSample): Elapsed {
  const wallS = (cur.at - prev.at) / 1000;
  if (prev.uptimeTicks === undefined || cur.uptimeTicks === undefined) return { continuous: true, seconds: wallS };
  // Both clocks see the same interval, give or take the requests' round trips.
  const slack = Math.max(1, wallS * 0.05);
  let ticks = cur.uptimeTicks - prev.uptimeTicks;
  if (ticks < 0 && Math.abs((ticks + TIMETICKS_MODULUS) / 100 - wallS) <= slack) ticks += TIMETICKS_MODULUS; // 497 days up
  const uptimeS = ticks / 100;
  if (uptimeS < wallS - slack)
    return {
      continuous: false,
      why: ticks < 0 ? `sysUpTime went back from ${prev.uptimeTicks} to ${cur.uptimeTicks}` : `sysUpTime advanced ${uptimeS} s in ${wallS.toFixed(1)} s`,
    };
  // An uptime that ran ahead of our clock is the agent's oddity, not a restart: trust ours.
  if (uptimeS > wallS + slack || wallS < MIN_UPTIME_BASE_S) return { continuous: true, seconds: wallS };
  return { continuous: true, seconds: uptimeS };
}

/** bit/s from two counter readings, or null when the difference is no rate (restart, reset). */
function rate(prev: bigint, cur: bigint, seconds: number, speedMbps: number | undefined, limits: RateLimits): number | null {
  let octets = cur - prev;
  let ceiling = limits.maxBps;
  if (octets < 0n) {
    // A 64-bit counter wraps after 46 years at 100 Gbit/s: a drop is far more often a reset,
    // so a wrap is believed only if it implies a rate the link can carry.
    octets += COUNTER64_MODULUS;
    if (speedMbps) ceiling = Math.min(ceiling, speedMbps * 1e6 * WRAP_SPEED_MARGIN);
  }
  const bps = (Number(octets) * 8) / seconds;
  return Number.isFinite(bps) && bps <= ceiling ? Math.round(bps) : null;
}

export interface Derived {
  values: MetricValues;
  /** The sample the next one is compared with. */
  baseline: TrafficSample;
  /** Why no rate was reported although there was a previous sample. */
  restarted?: string;
}

/** Metrics from the current sample and the previous one (none for the first poll). */
export function deriveTraffic(prev: TrafficSample | undefined, cur: TrafficSample, limits: RateLimits): Derived {
  const values: MetricValues = {};
  if (cur.operStatus !== undefined) values.linkUp = cur.operStatus === 1;
  if (cur.speedMbps !== undefined) values.linkSpeedMbps = cur.speedMbps;
  if (cur.uptimeTicks !== undefined) values.uptimeS = Math.floor(cur.uptimeTicks / 100);
  if (!prev) return { values, baseline: cur };

  const span = elapsed(prev, cur);
  if (!span.continuous) return { values, baseline: cur, restarted: span.why };
  if (span.seconds < MIN_INTERVAL_S) return { values, baseline: prev }; // keep the older base for the next poll

  const speed = cur.speedMbps;
  const directions = [
    ['inBps', 'utilisationIn', prev.inOctets, cur.inOctets],
    ['outBps', 'utilisationOut', prev.outOctets, cur.outOctets],
  ] as const;
  for (const [bpsName, utilisationName, before, now] of directions) {
    if (before === undefined || now === undefined) continue;
    const bps = rate(before, now, span.seconds, speed, limits);
    if (bps === null) return { values, baseline: cur, restarted: `${bpsName === 'inBps' ? 'in' : 'out'} octet counter went from ${before} to ${now}` };
    values[bpsName] = bps;
    // Sampling jitter can put a saturated link a hair over its nominal speed: cap at 100 %.
    if (speed) values[utilisationName] = Math.min(100, Math.round((bps / (speed * 1e6)) * 10_000) / 100);
  }
  return { values, baseline: cur };
}

// ---------------------------------------------------------------------------------------
// Errors: what net-snmp reports -> a reason from the wire contract
// ---------------------------------------------------------------------------------------

function describeError(error: unknown, where: string, options: SnmpOptions): DriverError {
  const e = error as { name?: string; code?: unknown; status?: unknown; message?: string };
  const message = e?.message ?? String(error);
  const codes = snmp.ResponseInvalidCode;
  switch (e?.name) {
    case 'RequestTimedOutError':
      return new DriverError(
        'timeout',
        `no answer from ${where} after ${attempts(options) === 1 ? 'one try' : `${attempts(options)} tries`}` +
          (options.version === '3' ? '' : ' (an SNMPv2c agent does not answer a wrong community at all)'),
      );
    case 'RequestFailedError':
      if (e.status === snmp.ErrorStatus.AuthorizationError || e.status === snmp.ErrorStatus.NoAccess)
        return new DriverError('auth_failed', `${where} refused access: ${message}`);
      return new DriverError('device_error', `${where} answered with an error: ${message}`);
    case 'ResponseInvalidError':
      if (e.code === codes.EAuthFailure) {
        // net-snmp resends by itself when a known engine reports new boots/time; a report
        // that still gets here right after discovery means the agent restarted in between:
        // the session is replaced and the next poll discovers it afresh.
        if (/Not In Time Window|Unknown Engine ID/i.test(message))
          return new DriverError('protocol_error', `${where} changed its SNMPv3 engine (restarted?): ${message}`);
        return new DriverError('auth_failed', `${where} rejected the SNMPv3 credentials: ${message}`);
      }
      if (e.code === codes.ECouldNotDecrypt) return new DriverError('auth_failed', `could not decrypt the answer of ${where}: wrong privKey or privProtocol?`);
      return new DriverError('protocol_error', `${where}: ${message}`);
    case 'RequestInvalidError':
      return new DriverError('protocol_error', `could not send the request to ${where}: ${message}`);
  }
  if (error instanceof DriverError) return error;
  // OpenSSL 3 ships DES in its legacy provider only: Node refuses it unless started with it.
  if (e?.code === 'ERR_OSSL_EVP_UNSUPPORTED') {
    const cipher = options.version === '3' && options.privProtocol === 'des' ? 'DES' : 'the cipher';
    return new DriverError('protocol_error', `${where}: this Node's OpenSSL refuses ${cipher}: use privProtocol 'aes', or start Node with --openssl-legacy-provider`);
  }
  const { reason } = classifyError(error); // socket errors: ECONNREFUSED, ENOTFOUND, ...
  return new DriverError(reason, `${where}: ${message}`, { cause: error });
}

// ---------------------------------------------------------------------------------------
// The device's session
// ---------------------------------------------------------------------------------------

/**
 * A dgram module for net-snmp whose sockets are connected to the one device: the kernel
 * drops datagrams from anyone else, and an ICMP port-unreachable comes back as ECONNREFUSED,
 * which tells "SNMP is off" from "the router is off".
 */
function connectedTo(host: string, port: number, onError: (error: Error) => void): SessionOptions['dgramModule'] {
  return {
    createSocket(type) {
      const socket = dgram.createSocket(type);
      const waiting: (() => void)[] = [];
      let connected = false;
      socket.on('error', onError);
      socket.once('connect', () => {
        connected = true;
        for (const send of waiting.splice(0)) send();
      });
      socket.connect(port, host);
      const send = socket.send.bind(socket);
      // net-snmp sends with an address; a connected socket takes none.
      const sendConnected = (buffer: Buffer, offset: number, length: number, _port: number, _address: string, callback: (error: Error | null) => void) => {
        const go = () => send(buffer.subarray(offset, offset + length), callback);
        if (connected) go();
        else waiting.push(go);
      };
      Object.assign(socket, { send: sendConnected });
      return socket;
    },
  };
}

class SnmpClient {
  private session: Session | null = null;
  /** Fails the request in flight (a socket error, a datagram that is not SNMP). */
  private failInFlight: ((error: Error) => void) | null = null;
  /** Sockets still closing. */
  private readonly closing = new Set<Promise<void>>();

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly options: SnmpOptions,
  ) {}

  get where(): string {
    return `${this.host}:${this.port}`;
  }

  get(oids: string[], signal: AbortSignal): Promise<Varbind[]> {
    return new Promise<Varbind[]>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      let settled = false;
      const settle = (error: unknown, varbinds?: Varbind[]) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        this.failInFlight = null;
        if (varbinds) return resolve(varbinds);
        this.reset(); // a fresh socket (and v3 discovery) for the next try
        reject(error);
      };
      const onAbort = () => settle(signal.reason ?? new DriverError('timeout', `${this.where}: aborted`));
      signal.addEventListener('abort', onAbort, { once: true });
      this.failInFlight = (error) => settle(error);
      try {
        this.open().get(oids, (error, varbinds) => {
          if (error || !varbinds) settle(describeError(error ?? new Error('no varbinds'), this.where, this.options));
          else settle(null, varbinds);
        });
      } catch (error) {
        settle(describeError(error, this.where, this.options));
      }
    });
  }

  private open(): Session {
    if (this.session) return this.session;
    const onSocketError = (error: Error) => {
      if (this.session === session) this.failInFlight?.(describeError(error, this.where, this.options));
    };
    const session = sessionFor(this.host, this.port, this.options, connectedTo(this.host, this.port, onSocketError));
    // net-snmp emits 'error' for a datagram it cannot parse; from the device, that is its answer.
    session.on('error', (error) => {
      if (this.session === session)
        this.failInFlight?.(new DriverError('protocol_error', `${this.where} answered with something that is not SNMP: ${error?.message ?? 'unparseable'}`));
    });
    this.session = session;
    return session;
  }

  /** Drop the session; the next request opens a new one. */
  reset(): void {
    const session = this.session;
    this.session = null;
    if (!session) return;
    const closed = new Promise<void>((resolve) => {
      session.on('close', () => resolve());
      try {
        session.close();
      } catch {
        resolve(); // already closed
      }
    });
    this.closing.add(closed);
    void closed.then(() => this.closing.delete(closed));
  }

  /** Close the session; resolves once every socket this client opened is closed. */
  async close(): Promise<void> {
    this.failInFlight?.(new DriverError('closed', `${this.where}: the driver was closed`));
    this.reset();
    await Promise.all(this.closing);
  }
}

// ---------------------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------------------

export interface SnmpDriverDeps {
  /**
   * Monotonic ms (default performance.now): when each reading arrived, which times the rates
   * of polls less than 2 s apart. A test that gives the same clock to a simulated router
   * checks the rates exactly.
   */
  now?: () => number;
}

export function createSnmpDriver(deps: SnmpDriverDeps = {}): Driver<'snmp', SnmpOptions> {
  const now = deps.now ?? (() => performance.now());
  return {
    protocol: 'snmp',
    mode: 'poll',
    options: SnmpOptions,

    /** Every try may take the full timeout; v3 first discovers the engine (one more exchange). */
    pollTimeoutMs(device) {
      const options = device.options ?? {};
      const exchanges = options.version === '3' ? 2 : 1;
      return exchanges * attempts(options) * (options.timeoutMs ?? DEFAULT_TIMEOUT_MS) + 500;
    },

    open(ctx): DeviceHandle {
      const { device, logger } = ctx;
      if (!device.host) throw new DriverError('protocol_error', `configuration: device ${device.record.id} has no address.host`);
      const options: SnmpOptions = device.options ?? {};
      const inputs = resolveInputs(device);
      const oids = inputs.map((i) => i.oid);
      const metrics = metricsOf(device.profile);
      const limits: RateLimits = {
        maxBps: Math.min(metrics.get('inBps')?.max ?? Infinity, metrics.get('outBps')?.max ?? Infinity),
      };
      const client = new SnmpClient(device.host, device.port ?? DEFAULT_PORT, options);
      let previous: TrafficSample | undefined;
      let closed = false;
      // The agent stopping ends the session even if nobody calls close().
      ctx.signal.addEventListener('abort', () => void client.close(), { once: true });

      return {
        async poll(signal) {
          if (closed) throw new DriverError('closed', 'the driver was closed');
          const varbinds = await client.get(oids, signal);
          const sample = decodeSample(inputs, varbinds, now());
          const derived = deriveTraffic(previous, sample, limits);
          if (derived.restarted) logger.info({ device: device.record.id, why: derived.restarted }, 'router restarted or reset its counters: rates start over');
          previous = derived.baseline;
          // Report only what the profile declares; a profile may leave some metrics out.
          return Object.fromEntries(Object.entries(derived.values).filter(([name]) => metrics.has(name)));
        },
        async close() {
          closed = true;
          await client.close();
        },
      };
    },
  };
}

export const snmpDriver: Driver<'snmp', SnmpOptions> = createSnmpDriver();
