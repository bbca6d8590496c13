/**
 * Copies every raw reading to InfluxDB (or anything that speaks its v2 write API), for
 * districts that keep long-term data in InfluxDB/Grafana.
 *
 * Line protocol: measurement `schoolops_device`, tags `school` and `device`, one field per
 * metric (numbers as floats, booleans as booleans, strings as strings), ms timestamps.
 * The rows of one device sample (same school, device and ts) share one point.
 *
 * The client library batches, sends in the background and retries with backoff. Nothing
 * here throws into ingest: write() only buffers, failures are logged (rate-limited) and
 * counted, and stats() says how many points were written, failed, dropped or are pending.
 *
 * Accounting, per point (= one line):
 *   queued   = accepted into the client's buffers
 *   written  = acknowledged by the server
 *   failed   = given up on: a non-retryable error (HTTP < 429), retries or retry time
 *              exhausted, pushed out of the full retry buffer, or still unsent at close()
 *   dropped  = refused before queueing: over maxPendingPoints, no valid field, or after close
 *   pending  = queued - written - failed (in the send buffer, in flight or awaiting retry)
 */
import { HttpError, InfluxDB, Point, setLogger, type WriteApi } from '@influxdata/influxdb-client';
import { silentLogger, type ReadingSink, type StorageLogger, type StoredRow } from './types.ts';

export const INFLUX_MEASUREMENT = 'schoolops_device';

export interface InfluxSinkOptions {
  /** Base URL, e.g. http://127.0.0.1:8086 */
  url: string;
  token?: string;
  org: string;
  bucket: string;
  /** Lines per request (default 1000). */
  batchSize?: number;
  /** Longest a line waits in the send buffer (default 1000 ms). */
  flushIntervalMs?: number;
  /** Retries after the first failed attempt of a batch (default 5). */
  maxRetries?: number;
  /** First retry delay (default 1000 ms); later ones grow exponentially up to maxRetryDelayMs. */
  minRetryDelayMs?: number;
  /** Cap on one retry delay (default 30 s). */
  maxRetryDelayMs?: number;
  /** A batch is given up on this long after its first attempt (default 180 s). */
  maxRetryTimeMs?: number;
  /** Lines the retry buffer holds; beyond it the oldest are dropped (default 50,000). */
  maxRetryBufferLines?: number;
  /** Points queued but not yet written or failed before new points are refused (default 100,000). */
  maxPendingPoints?: number;
  /** HTTP request timeout (default 10 s). */
  timeoutMs?: number;
  logger?: StorageLogger;
}

export interface InfluxSinkStats {
  rowsAccepted: number;
  pointsQueued: number;
  pointsWritten: number;
  pointsFailed: number;
  pointsDropped: number;
  pointsPending: number;
  /** Points currently waiting in the retry buffer. */
  pointsRetrying: number;
  /** Failed attempts (a batch retried three times counts three). */
  failedAttempts: number;
  lastError: string | null;
  lastErrorAt: number | null;
}

export interface InfluxSink extends ReadingSink {
  stats(): InfluxSinkStats;
}

/** The client library logs through one global logger; route it to the latest sink's logger. */
let clientLogTarget: StorageLogger = silentLogger;
setLogger({
  error: (message, err) => clientLogTarget.debug({ err }, `influxdb-client: ${message}`),
  warn: (message, err) => clientLogTarget.debug({ err }, `influxdb-client: ${message}`),
});

const LOG_EVERY_MS = 5_000;

export function createInfluxSink(options: InfluxSinkOptions): InfluxSink {
  return new InfluxSinkImpl(options);
}

class InfluxSinkImpl implements InfluxSink {
  readonly name = 'influx';
  private readonly api: WriteApi;
  private readonly logger: StorageLogger;
  private readonly maxRetries: number;
  private readonly maxPending: number;
  private readonly flushWaitMs: number;
  private closing: Promise<void> | null = null;
  /** Set once close() has counted every unwritten point as lost. */
  private finalized = false;

  private rowsAccepted = 0;
  private queued = 0;
  private written = 0;
  private failed = 0;
  private dropped = 0;
  private failedAttempts = 0;
  private lastError: string | null = null;
  private lastErrorAt: number | null = null;
  /** Batches (by array identity: the client retries the same array) that failed at least once. */
  private readonly retrying = new Set<string[]>();
  private retryingLines = 0;
  /** Lines whose first attempt has finished, either way; flush() waits on it. */
  private attempted = 0;
  private attemptWaiters: { target: number; resolve: () => void }[] = [];
  private readonly rateLimit = new Map<string, { at: number; suppressed: number }>();

  constructor(options: InfluxSinkOptions) {
    this.logger = options.logger ?? silentLogger;
    if (options.logger) clientLogTarget = options.logger;
    this.maxRetries = options.maxRetries ?? 5;
    this.maxPending = options.maxPendingPoints ?? 100_000;
    const timeout = options.timeoutMs ?? 10_000;
    this.flushWaitMs = 2 * timeout + 1_000;
    const influx = new InfluxDB({ url: options.url, token: options.token, timeout });
    const self = this;
    this.api = influx.getWriteApi(options.org, options.bucket, 'ms', {
      batchSize: options.batchSize ?? 1000,
      flushInterval: options.flushIntervalMs ?? 1000,
      maxRetries: this.maxRetries,
      minRetryDelay: options.minRetryDelayMs ?? 1000,
      maxRetryDelay: options.maxRetryDelayMs ?? 30_000,
      maxRetryTime: options.maxRetryTimeMs ?? 180_000,
      maxBufferLines: options.maxRetryBufferLines ?? 50_000,
      exponentialBase: 2,
      retryJitter: 200,
      writeSuccess(lines) {
        self.onSuccess(lines);
      },
      writeFailed(error, lines, attempt) {
        self.onFailed(error, lines, attempt);
        // undefined: let the client apply its own retry policy (mirrored in onFailed)
      },
      writeRetrySkipped(entry) {
        self.onSkipped(entry.lines);
      },
    });
  }

  write(rows: readonly StoredRow[]): Promise<void> {
    try {
      this.enqueue(rows);
    } catch (err) {
      // Never reaches the caller: the Influx copy must not break ingest.
      this.noteError(err);
      this.logLimited('write', 'error', { err }, 'InfluxDB sink: write failed before queueing');
    }
    return Promise.resolve();
  }

  private enqueue(rows: readonly StoredRow[]): void {
    this.rowsAccepted += rows.length;
    const points = toPoints(rows);
    if (this.closing) {
      this.dropped += points.length;
      this.logLimited('closed', 'warn', { points: points.length }, 'InfluxDB sink: write after close, points dropped');
      return;
    }
    const lines: string[] = [];
    for (const p of points) {
      const line = p.toLineProtocol(this.api); // ms timestamps, via the API's precision
      if (line) lines.push(line);
      else this.dropped++; // no field survived (e.g. a non-finite number)
    }
    const room = Math.max(0, this.maxPending - this.pending());
    if (lines.length > room) {
      this.dropped += lines.length - room;
      this.logLimited(
        'backlog',
        'error',
        { dropped: lines.length - room, pending: this.pending() },
        'InfluxDB sink: backlog full, newest points dropped',
      );
      lines.length = room;
    }
    if (lines.length === 0) return;
    this.queued += lines.length;
    this.api.writeRecords(lines);
  }

  async flush(): Promise<void> {
    const target = this.queued;
    try {
      await this.api.flush();
    } catch {
      // Already counted and logged by onFailed; the batch is retried or given up on.
    }
    // Batches sent earlier (batchSize reached) may still be in flight: wait for their first attempt.
    if (this.attempted < target) {
      // Bounded by the HTTP timeout; the extra bound only guards against a callback never coming.
      let timer: NodeJS.Timeout | undefined;
      const reached = new Promise<boolean>((resolve) => this.attemptWaiters.push({ target, resolve: () => resolve(true) }));
      const late = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), this.flushWaitMs);
      });
      const ok = await Promise.race([reached, late]);
      clearTimeout(timer);
      if (!ok) this.logger.warn({ waitedMs: this.flushWaitMs }, 'InfluxDB sink: flush gave up waiting for batches in flight');
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.flush();
        await this.api.close(); // cancels scheduled retries
      } catch (err) {
        this.noteError(err);
      }
      const lost = this.pending();
      if (lost > 0) {
        this.failed += lost;
        this.logger.error({ points: lost }, 'InfluxDB sink closed with points never written');
      }
      this.retrying.clear();
      this.retryingLines = 0;
      this.finalized = true;
      this.wakeFlushers(Number.POSITIVE_INFINITY);
    })();
    return this.closing;
  }

  stats(): InfluxSinkStats {
    return {
      rowsAccepted: this.rowsAccepted,
      pointsQueued: this.queued,
      pointsWritten: this.written,
      pointsFailed: this.failed,
      pointsDropped: this.dropped,
      pointsPending: this.pending(),
      pointsRetrying: this.retryingLines,
      failedAttempts: this.failedAttempts,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
    };
  }

  private pending(): number {
    return this.queued - this.written - this.failed;
  }

  private onSuccess(lines: string[]): void {
    if (this.finalized) {
      // close() already counted this batch as lost; a retry that was in flight made it after all.
      this.failed -= lines.length;
      this.written += lines.length;
      return;
    }
    this.written += lines.length;
    if (!this.leaveRetry(lines)) this.firstAttemptDone(lines.length);
  }

  private onFailed(error: Error, lines: string[], attempt: number): void {
    this.failedAttempts++;
    this.noteError(error);
    if (this.finalized) return; // counted as lost by close()
    if (attempt === 1) this.firstAttemptDone(lines.length);
    // Mirrors the client's decision in WriteApiImpl.sendBatch: a batch past its retry time is
    // reported with this plain Error and dropped; any other failure is retried unless attempts
    // are used up or the server refused the data itself (HTTP status below 429). Failures while
    // close() runs are left pending; close() counts whatever is still pending as lost.
    const expired = !(error instanceof HttpError) && error.message === 'Max retry time exceeded.';
    const refused = error instanceof HttpError && error.statusCode < 429;
    if (expired || refused || attempt > this.maxRetries) {
      this.leaveRetry(lines);
      this.failed += lines.length;
      this.logLimited(
        'final',
        'error',
        { err: error, points: lines.length, attempt },
        'InfluxDB sink: write failed for good, points lost from the InfluxDB copy',
      );
    } else {
      if (!this.retrying.has(lines)) {
        this.retrying.add(lines);
        this.retryingLines += lines.length;
      }
      this.logLimited('retry', 'warn', { err: error, points: lines.length, attempt }, 'InfluxDB sink: write failed, will retry');
    }
  }

  private onSkipped(lines: string[]): void {
    if (this.finalized) return;
    this.leaveRetry(lines);
    this.failed += lines.length;
    this.logLimited('skipped', 'error', { points: lines.length }, 'InfluxDB sink: retry buffer full, oldest points dropped');
  }

  /** True when the batch had been waiting for a retry. */
  private leaveRetry(lines: string[]): boolean {
    if (!this.retrying.delete(lines)) return false;
    this.retryingLines -= lines.length;
    return true;
  }

  private firstAttemptDone(n: number): void {
    this.attempted += n;
    this.wakeFlushers(this.attempted);
  }

  private wakeFlushers(reached: number): void {
    if (this.attemptWaiters.length === 0) return;
    const still: typeof this.attemptWaiters = [];
    for (const w of this.attemptWaiters) {
      if (w.target <= reached) w.resolve();
      else still.push(w);
    }
    this.attemptWaiters = still;
  }

  private noteError(err: unknown): void {
    this.lastError = err instanceof Error ? err.message : String(err);
    this.lastErrorAt = Date.now();
  }

  /** At most one log line per kind every LOG_EVERY_MS, saying how many were held back. */
  private logLimited(kind: string, level: 'warn' | 'error', obj: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const slot = this.rateLimit.get(kind);
    if (slot && now - slot.at < LOG_EVERY_MS) {
      slot.suppressed++;
      return;
    }
    this.rateLimit.set(kind, { at: now, suppressed: 0 });
    this.logger[level]({ ...obj, suppressedSinceLast: slot?.suppressed ?? 0 }, msg);
  }
}

/** Groups the rows of one device sample into one point. */
function toPoints(rows: readonly StoredRow[]): Point[] {
  const bySample = new Map<string, Point>();
  for (const row of rows) {
    const key = `${row.schoolId}\u0000${row.deviceId}\u0000${row.ts}`;
    let p = bySample.get(key);
    if (!p) {
      p = new Point(INFLUX_MEASUREMENT).tag('school', row.schoolId).tag('device', row.deviceId).timestamp(row.ts);
      bySample.set(key, p);
    }
    const v = row.value;
    if (typeof v === 'number') {
      if (Number.isFinite(v)) p.floatField(row.metric, v);
    } else if (typeof v === 'boolean') {
      p.booleanField(row.metric, v);
    } else if (typeof v === 'string') {
      p.stringField(row.metric, v);
    }
  }
  return [...bySample.values()];
}
