/**
 * Paces the replayer's MQTT connects to what the district broker lets one address do.
 *
 * The broker checks every CONNECT's password with scrypt, and limits each source address to
 * a burst of checks and then a few a second (broker/src/admission.ts). Real gateways each
 * have their own address; the replayer speaks for a hundred and more schools from one, and
 * shares 127.0.0.1 with the simulated district's real gateways and its cloud. Connecting all
 * at once (at start, or after a broker restart) would get most of them CONNACK 3
 * (`auth_rate_limited`), each counted as a refusal on the wall display's ingest figures,
 * and then retried in a storm. So connects wait their turn here: a token bucket a little
 * smaller than the broker's, leaving room for everyone else on the address.
 */
import { DEFAULT_ADMISSION_LIMITS } from '@schoolops/broker';

export interface GateLimits {
  /** Connects that may go at once after a quiet spell. */
  burst: number;
  /** Connects a second in the long run. */
  perSecond: number;
}

/**
 * The broker's default limits minus headroom: 20 checks of the burst and one a second of the
 * refill are left to the real gateways, the cloud and whoever else connects from this machine.
 */
export const DEFAULT_GATE_LIMITS: GateLimits = {
  burst: Math.max(1, DEFAULT_ADMISSION_LIMITS.authBurst - 20),
  perSecond: Math.max(1, DEFAULT_ADMISSION_LIMITS.authPerSecond - 1),
};

export class ConnectGate {
  private tokens: number;
  private at: number;
  private readonly waiting: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly limits: GateLimits = DEFAULT_GATE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = limits.burst;
    this.at = now();
  }

  /** Run `go` once a connect may be made; in the order asked. */
  request(go: () => void): void {
    if (this.closed) return;
    this.waiting.push(go);
    this.drain();
  }

  /** Connects waiting their turn. */
  get queued(): number {
    return this.waiting.length;
  }

  close(): void {
    this.closed = true;
    this.waiting.length = 0;
    clearTimeout(this.timer);
  }

  private drain(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.now();
    this.tokens = Math.min(this.limits.burst, this.tokens + ((now - this.at) / 1000) * this.limits.perSecond);
    this.at = now;
    while (this.waiting.length > 0 && this.tokens >= 1) {
      this.tokens -= 1;
      this.waiting.shift()!();
    }
    if (this.waiting.length > 0 && !this.closed) {
      const waitMs = Math.ceil(((1 - this.tokens) / this.limits.perSecond) * 1000);
      this.timer = setTimeout(() => this.drain(), Math.max(waitMs, 10));
    }
  }
}
