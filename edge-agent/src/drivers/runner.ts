/**
 * One DeviceRunner per driven device: it owns the device's poll loop (or push handle),
 * its timeout, its backoff and its status. Every device has its own loop and timers, so a
 * device that hangs until its timeout delays nobody but itself.
 *
 * Schedule: the first poll comes at a random point within the first few seconds (a school's
 * devices are not polled in lockstep), then one per interval at a fixed rate. After a
 * failure the next attempt waits interval x 2^(failures-1), at most `maxBackoffMs` (4
 * intervals, at most 5 minutes, never less than one interval), with 10 % jitter. Polls and
 * commands to one device never overlap: many devices accept one control connection at a time.
 */
import type { DeviceFaultReason, DeviceLinkState, MetricValue, MetricValues } from '@schoolops/device-profiles';
import type { Logger } from 'pino';
import { classifyError, isUnreachable, type DeviceHandle, type Driver, type DriverContext, type DriverDevice } from './types.ts';

export interface DeviceStatus {
  state: DeviceLinkState;
  reason?: DeviceFaultReason;
  detail?: string;
  /** Consecutive failed attempts. */
  failures: number;
  /** When the state (or reason) last changed, ms since epoch. */
  since: number;
}

export interface RunnerOptions {
  driver: Driver;
  device: DriverDevice;
  logger: Logger;
  intervalMs: number;
  /** Values read from the device. */
  onValues(deviceId: string, values: MetricValues, ts: number): void;
  /** The device's status changed (a new problem, a different reason, or recovery). */
  onStatus(deviceId: string, status: DeviceStatus): void;
  /** Spread of the first poll (default: min(interval, 5 s)). */
  firstPollWithinMs?: number;
  /** The clock for schedules and status times, ms (default Date.now). */
  now?: () => number;
  /**
   * The timers the schedule, backoff and deadlines run on (default the global ones). With
   * their own, and `now` to match, tests see every delay the runner asks for and decide when
   * it has passed.
   */
  timers?: RunnerTimers;
  /** Uniform in [0, 1) (default Math.random): where the first poll falls, the backoff's jitter. */
  random?: () => number;
}

/** A one-shot timer: setTimeout and clearTimeout, or a test's stand-in for them. */
export interface RunnerTimers {
  setTimeout(fn: () => void, ms: number): RunnerTimer;
  clearTimeout(timer: RunnerTimer): void;
}
export interface RunnerTimer {
  unref?(): unknown;
}

const GLOBAL_TIMERS: RunnerTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/** The device's driver takes no commands at all: nothing was tried (unlike a device that refused). */
export class CommandNotSupportedError extends Error {
  override readonly name = 'CommandNotSupportedError';
}

const MAX_BACKOFF_MS = 5 * 60_000;
const DEFAULT_TIMEOUT_MS = 5_000;
const MIN_TIMEOUT_MS = 2_000;
const COMMAND_TIMEOUT_MS = 10_000;

export class DeviceRunner {
  private readonly abort = new AbortController();
  private handle: DeviceHandle | null = null;
  private timer: RunnerTimer | null = null;
  private readonly timers: RunnerTimers;
  private readonly random: () => number;
  private chain: Promise<unknown> = Promise.resolve();
  private nextDue = 0;
  private stopped = false;
  readonly status: DeviceStatus;
  polls = 0;
  failures = 0;

  constructor(private readonly opts: RunnerOptions) {
    this.timers = opts.timers ?? GLOBAL_TIMERS;
    this.random = opts.random ?? Math.random;
    this.status = { state: 'ok', failures: 0, since: this.now() };
  }

  get deviceId(): string {
    return this.opts.device.record.id;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** 4 intervals, at most 5 minutes, at least one interval. */
  get maxBackoffMs(): number {
    return Math.max(this.opts.intervalMs, Math.min(4 * this.opts.intervalMs, MAX_BACKOFF_MS));
  }

  get timeoutMs(): number {
    // Half the interval, within [2 s, 5 s]: a LAN device answers in milliseconds, but a gateway
    // busy counting faces or starting up must not call a device dead for a slow second.
    return this.opts.driver.pollTimeoutMs?.(this.opts.device) ?? Math.min(DEFAULT_TIMEOUT_MS, Math.max(MIN_TIMEOUT_MS, this.opts.intervalMs / 2));
  }

  start(): void {
    const ctx: DriverContext = {
      device: this.opts.device,
      logger: this.opts.logger,
      signal: this.abort.signal,
      report: (values, ts) => this.opts.onValues(this.deviceId, values, ts ?? this.now()),
      ok: () => this.succeeded(),
      fail: (error) => this.failed(error),
    };
    try {
      this.handle = this.opts.driver.open(ctx);
    } catch (error) {
      // Configuration that can never work (no host): say so once, do not retry.
      this.failed(error);
      return;
    }
    if (this.opts.driver.mode === 'poll') {
      const spread = this.opts.firstPollWithinMs ?? this.opts.driver.firstPollWithinMs?.(this.opts.device) ?? Math.min(this.opts.intervalMs, 5_000);
      this.nextDue = this.now() + this.random() * spread;
      this.schedule(this.nextDue - this.now());
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.timers.setTimeout(() => void this.tick(), Math.max(0, delayMs));
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    this.timer = null;
    const ok = (await this.exclusive(() => this.pollOnce())) !== null;
    if (this.stopped) return;
    const now = this.now();
    if (ok) {
      // Fixed rate: the next poll is one interval after the previous was due, not after it ended.
      this.nextDue += this.opts.intervalMs;
      if (this.nextDue < now) this.nextDue = now + this.opts.intervalMs; // fell behind (a long timeout): do not burst
    } else {
      const backoff = Math.min(this.opts.intervalMs * 2 ** Math.max(0, this.status.failures - 1), this.maxBackoffMs);
      this.nextDue = now + backoff * (0.9 + this.random() * 0.2);
    }
    this.schedule(this.nextDue - now);
  }

  /**
   * Read the device once now (also used after a command, so its effect shows at once).
   * Resolves with what it read ({} when the driver had nothing to report), or null when the
   * read failed or the runner stopped.
   */
  private async pollOnce(): Promise<MetricValues | null> {
    const handle = this.handle;
    if (!handle?.poll || this.stopped) return null;
    const { signal, done } = this.deadline(this.timeoutMs);
    this.polls++;
    try {
      const values = await withSignal(handle.poll(signal), signal).finally(done);
      if (this.stopped) return null;
      if (Object.keys(values).length > 0) this.opts.onValues(this.deviceId, values, this.now());
      this.succeeded();
      return values;
    } catch (error) {
      if (this.stopped) return null;
      this.failed(error);
      return null;
    }
  }

  private succeeded(): void {
    if (this.status.state === 'ok') {
      this.status.failures = 0;
      return;
    }
    this.set({ state: 'ok', failures: 0, since: this.now() });
  }

  private failed(error: unknown): void {
    if (this.stopped) return;
    this.failures++;
    const { reason, detail } = classifyError(error);
    const state: DeviceLinkState = isUnreachable(reason) ? 'unreachable' : 'faulty';
    const failures = this.status.failures + 1;
    if (this.status.state === state && this.status.reason === reason) {
      this.status.failures = failures;
      this.status.detail = detail;
      return;
    }
    this.set({ state, reason, detail, failures, since: this.now() });
  }

  private set(status: DeviceStatus): void {
    const before = this.status.state;
    Object.assign(this.status, { reason: undefined, detail: undefined }, status);
    const log = { state: status.state, reason: status.reason, detail: status.detail };
    if (status.state === 'ok') this.opts.logger.info(log, `device answers again (was ${before})`);
    else this.opts.logger.warn(log, `device ${status.state}: ${status.reason}`);
    this.opts.onStatus(this.deviceId, { ...this.status });
  }

  /**
   * Run a profile command on the device, then read it again so the change shows. Resolves
   * once the command is done with what that read returned (undefined when it returned nothing
   * or failed: the command itself succeeded, and the read's failure is the device's status),
   * so the district's record of the command says what the device did (power: cooling).
   */
  async command(name: string, params: Record<string, MetricValue>): Promise<MetricValues | undefined> {
    const handle = this.handle;
    if (!handle?.command) throw new CommandNotSupportedError(`the ${this.opts.driver.protocol} driver cannot send commands`);
    await this.exclusive(() => {
      const { signal, done } = this.deadline(COMMAND_TIMEOUT_MS);
      return withSignal(handle.command!(name, params, signal), signal).finally(done);
    });
    if (this.opts.driver.mode !== 'poll') return undefined;
    const values = await this.exclusive(() => this.pollOnce());
    return values && Object.keys(values).length > 0 ? values : undefined;
  }

  /**
   * A signal that fires after `ms` or when the runner stops. Hand-made rather than
   * AbortSignal.any(), which keeps every composed signal alive on Node 20 (nodejs/node#54614):
   * one per poll for the life of the agent would be a slow leak.
   */
  private deadline(ms: number): { signal: AbortSignal; done: () => void } {
    const controller = new AbortController();
    const onStop = () => controller.abort(this.abort.signal.reason);
    const timer = this.timers.setTimeout(() => controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')), ms);
    if (this.abort.signal.aborted) onStop();
    else this.abort.signal.addEventListener('abort', onStop, { once: true });
    return {
      signal: controller.signal,
      done: () => {
        this.timers.clearTimeout(timer);
        this.abort.signal.removeEventListener('abort', onStop);
      },
    };
  }

  /** One operation on the device at a time. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.timers.clearTimeout(this.timer);
    this.abort.abort();
    await this.chain;
    await this.handle?.close().catch((error: unknown) => this.opts.logger.warn({ device: this.deviceId, error: String(error) }, 'driver close failed'));
  }
}

/** Reject when the signal fires even if the driver's promise never settles. */
function withSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
