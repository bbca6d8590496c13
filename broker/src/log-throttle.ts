/**
 * Decides which refusal lines reach the log, so that a flood of bad input cannot become a
 * flood of log lines (disk, the operator's attention) or a map that grows without end.
 *
 *  - A given key (a refusal reason with who and what) is written at most once per
 *    `everyMs`. Keys are remembered in a map of at most `maxKeys`, least recently written
 *    first out, so junk that never repeats (200 000 different topics) costs a bounded map.
 *  - All keys together write at most `maxLinesPerWindow` lines per `everyMs` window, so
 *    junk that never repeats cannot write a line each either.
 *  - Every line not written is counted; the next line written says how many were
 *    suppressed before it, and `suppressed` is the running total for stats.
 *
 * The counters the lines are about are kept by the caller and see every event.
 */
/**
 * Text a client chose (a topic, a username, a client id), cut to `max` characters for a log
 * line or a throttle key: MQTT strings run to 64 KiB and topics to a whole packet.
 */
export function clip(text: string, max: number): string;
export function clip(text: string | null | undefined, max: number): string | undefined;
export function clip(text: string | null | undefined, max: number): string | undefined {
  if (text === null || text === undefined) return undefined;
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length} chars)`;
}

export interface LogThrottleOptions {
  everyMs: number;
  maxKeys: number;
  maxLinesPerWindow: number;
  /** Milliseconds; injected so tests move time instead of waiting. */
  now: () => number;
}

export class LogThrottle {
  /** Lines not written, in all. */
  suppressed = 0;
  private suppressedSinceLine = 0;
  private readonly lastWritten = new Map<string, number>();
  private windowStart = Number.NEGATIVE_INFINITY;
  private linesInWindow = 0;

  constructor(private readonly opts: LogThrottleOptions) {}

  /**
   * May a line for `key` be written now? If so, returns how many lines were suppressed
   * since the last one written (0 or more), for the line to say; if not, undefined.
   */
  admit(key: string): number | undefined {
    const now = this.opts.now();
    const last = this.lastWritten.get(key);
    if (now - this.windowStart >= this.opts.everyMs) {
      this.windowStart = now;
      this.linesInWindow = 0;
    }
    if ((last !== undefined && now - last < this.opts.everyMs) || this.linesInWindow >= this.opts.maxLinesPerWindow) {
      this.suppressed++;
      this.suppressedSinceLine++;
      return undefined;
    }
    this.linesInWindow++;
    // Re-inserted so the map's order is least recently written first.
    this.lastWritten.delete(key);
    this.lastWritten.set(key, now);
    if (this.lastWritten.size > this.opts.maxKeys) {
      const oldest = this.lastWritten.keys().next().value;
      if (oldest !== undefined) this.lastWritten.delete(oldest);
    }
    const before = this.suppressedSinceLine;
    this.suppressedSinceLine = 0;
    return before;
  }

  /** Keys remembered now (never more than maxKeys). */
  get size(): number {
    return this.lastWritten.size;
  }
}
