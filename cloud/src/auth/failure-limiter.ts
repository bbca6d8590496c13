/**
 * Counts failed sign-ins per key (an account, an address) in a sliding window and says when
 * a key has had too many. Only failures count: a person who signs in correctly every minute
 * is never slowed down, while guessing stops after a handful of tries.
 *
 * The clock is injected (tests advance it instead of waiting). Memory is bounded: past
 * `maxKeys` the key that failed longest ago is forgotten first, so a flood of random
 * usernames cannot grow the map without end (it can only make the oldest entries leave).
 */
export interface FailureLimiterOptions {
  /** Failures allowed within the window; the next attempt is refused. */
  maxFailures: number;
  windowMs: number;
  /** Keys remembered at most (default 10,000). */
  maxKeys?: number;
  now?: () => number;
}

export class FailureLimiter {
  /** Failure times per key, oldest first; Map order is the order keys last failed. */
  private readonly failures = new Map<string, number[]>();
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(private readonly options: FailureLimiterOptions) {
    this.now = options.now ?? Date.now;
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  /** 0 when `key` may try now; otherwise the ms until its oldest counted failure leaves the window. */
  retryAfterMs(key: string): number {
    const times = this.recent(key);
    if (times.length < this.options.maxFailures) return 0;
    return Math.max(1, times[times.length - this.options.maxFailures]! + this.options.windowMs - this.now());
  }

  fail(key: string): void {
    const times = this.recent(key);
    times.push(this.now());
    // Re-insert so the map's order stays "least recently failed first".
    this.failures.delete(key);
    this.failures.set(key, times.slice(-this.options.maxFailures));
    while (this.failures.size > this.maxKeys) this.failures.delete(this.failures.keys().next().value!);
  }

  /** A success clears the key (the person knew the password). */
  clear(key: string): void {
    this.failures.delete(key);
  }

  get size(): number {
    return this.failures.size;
  }

  private recent(key: string): number[] {
    const cutoff = this.now() - this.options.windowMs;
    const times = (this.failures.get(key) ?? []).filter((t) => t > cutoff);
    if (times.length === 0) this.failures.delete(key);
    return times;
  }
}
