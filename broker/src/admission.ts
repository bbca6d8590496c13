/**
 * Per-source-address admission for the district broker: how many connections one address
 * may hold, and how often it may make the broker check a password.
 *
 * Every CONNECT that reaches authentication costs one scrypt (16 MiB and tens of ms of a
 * libuv thread, by design: credentials.ts). Without a limit, one address sending CONNECTs
 * in a loop keeps the thread pool busy, and every honest gateway's connect waits behind
 * it; one address opening sockets without end runs the broker out of file descriptors.
 * Both limits are per address, so a flood from one address leaves everyone else alone.
 *
 * Addresses: an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, how a dual-stack listener
 * sees IPv4) counts as its IPv4 address, and an IPv6 address counts by its /64, since one
 * host usually holds a whole /64 and could otherwise take a fresh bucket per address.
 *
 * Behind a TLS-terminating proxy on the same host every client has the proxy's address and
 * shares its limits: raise them there, or limit at the proxy.
 */
import { isIPv6 } from 'node:net';

export interface AdmissionLimits {
  /** Open TCP connections one address may hold; the next is closed at accept. Default 256. */
  maxConnectionsPerAddress: number;
  /** Password checks one address may make at once after being idle (the bucket's size). Default 60. */
  authBurst: number;
  /** Password checks per second one address may make in the long run (the bucket's refill). Default 5. */
  authPerSecond: number;
}

/**
 * Chosen for a district of schools with one gateway each: a restart of the broker makes
 * every gateway reconnect at once, and in the simulated district (and in tests) every
 * gateway and the cloud share 127.0.0.1, so 150 schools on one machine reconnect within
 * the burst and a few seconds of refill. A flooding address gets 60 checks, then 5 a
 * second: a fraction of one of libuv's four threads.
 */
export const DEFAULT_ADMISSION_LIMITS: AdmissionLimits = {
  maxConnectionsPerAddress: 256,
  authBurst: 60,
  authPerSecond: 5,
};

/**
 * Most addresses whose buckets are remembered. Past it the least recently used bucket is
 * forgotten; a forgotten address starts again with a full bucket, which only matters for
 * an attacker holding more addresses than this, whom a per-address limit cannot stop anyway.
 */
const MAX_TRACKED_ADDRESSES = 10_000;

/** The key an address is limited under (see the module comment). */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice('::ffff:'.length);
  if (!isIPv6(lower)) return lower;
  return `${expandIPv6(lower).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, zero-filled ('::' expanded, zone dropped). */
function expandIPv6(address: string): string[] {
  const [withoutZone = ''] = address.split('%');
  const [head = '', tail] = withoutZone.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - headGroups.length - tailGroups.length;
  return [...headGroups, ...Array<string>(Math.max(missing, 0)).fill('0'), ...tailGroups].map((group) => group.replace(/^0+(?=.)/, ''));
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date, by the injected clock. */
  at: number;
}

export class Admission {
  private readonly connections = new Map<string, number>();
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly limits: AdmissionLimits,
    /** Milliseconds, monotonic enough; injected so tests move time instead of waiting. */
    private readonly now: () => number,
  ) {
    for (const [name, value] of Object.entries(limits)) {
      if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`admission limit ${name} must be a positive number, got ${value}`);
    }
  }

  /**
   * A new TCP connection from `key`: true if it may stay. An admitted connection must be
   * released exactly once when it closes.
   */
  openConnection(key: string): boolean {
    const open = this.connections.get(key) ?? 0;
    if (open >= this.limits.maxConnectionsPerAddress) return false;
    this.connections.set(key, open + 1);
    return true;
  }

  releaseConnection(key: string): void {
    const open = this.connections.get(key) ?? 0;
    // Only addresses with open connections are kept: the map is as big as the open sockets.
    if (open <= 1) this.connections.delete(key);
    else this.connections.set(key, open - 1);
  }

  openConnections(key: string): number {
    return this.connections.get(key) ?? 0;
  }

  /** May `key` have a password checked now? Takes a token when it may. */
  takeAuthAttempt(key: string): boolean {
    const now = this.now();
    const { authBurst, authPerSecond } = this.limits;
    const known = this.buckets.get(key);
    const bucket = known ?? { tokens: authBurst, at: now };
    // A clock that went backwards (an injected one, a wall clock set back) refills nothing.
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(authBurst, bucket.tokens + (elapsed * authPerSecond) / 1000);
    bucket.at = now;
    // Re-inserted so the map's order is least recently used first.
    if (known) this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > MAX_TRACKED_ADDRESSES) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** How many addresses are tracked (for tests and stats). */
  tracked(): { connections: number; buckets: number } {
    return { connections: this.connections.size, buckets: this.buckets.size };
  }
}
