/**
 * Group commit: accepted readings wait here at most `maxDelayMs` (or until `maxReadings`
 * have gathered), are sealed into one TelemetryBatch with the next seq, and written to the
 * disk queue in one synced write. Each reading's promise resolves only then, and the local
 * broker holds the device's PUBACK until it does: a reading a device saw acknowledged is on
 * disk, whatever happens to the gateway next.
 */
import { TIME_WINDOWS, WIRE_VERSION, type Reading, type TelemetryBatch, type TimeWindow } from '@schoolops/device-profiles';
import type { DiskOutbox } from './outbox.ts';

interface Pending {
  reading: Reading;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class Batcher {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private writing: Promise<void> = Promise.resolve();
  /** deviceId -> ts of its latest reading accepted (sealed or still pending) */
  private readonly lastTs: Map<string, number>;
  private readonly now: () => number;
  /** How far ahead of `now` a sample time may be (the intake's window). */
  private readonly aheadMs: number;

  constructor(
    private readonly opts: {
      gatewayId: string;
      schoolId: string;
      bootId: string;
      maxReadings: number;
      maxDelayMs: number;
      outbox: DiskOutbox;
      /** Is the district reachable now? Batches sealed while it is not are backlog. */
      connected: () => boolean;
      onQueued: () => void;
      /** The gateway's clock (default Date.now): stamps sentAt, bounds remembered sample times. */
      now?: () => number;
      /** Sample times the intake accepts (default TIME_WINDOWS.device). */
      timeWindow?: TimeWindow;
    },
  ) {
    this.now = opts.now ?? Date.now;
    this.aheadMs = (opts.timeWindow ?? TIME_WINDOWS.device).futureMs;
    // A sample time far ahead, stored by an agent from before the intake bounded them, would
    // make every later sample of its device look like a repeat, on every start: forget it.
    const limit = this.now() + this.aheadMs;
    this.lastTs = new Map([...opts.outbox.lastTs].filter(([, ts]) => ts <= limit));
  }

  /**
   * Has a reading of this device at this time (or later) already been accepted? A device
   * resends unacknowledged QoS 1 messages after a reconnect; if the gateway stored them
   * before it died, they must not be stored twice.
   */
  isRepeat(reading: Reading): boolean {
    return reading.ts <= (this.lastTs.get(reading.deviceId) ?? -1);
  }

  /** Resolves once the reading is on disk. */
  add(reading: Reading): Promise<void> {
    // The intake refuses such a time; should one come another way, it still stores the
    // reading, but never becomes the mark every later sample of the device is held against.
    if (reading.ts <= this.now() + this.aheadMs) this.lastTs.set(reading.deviceId, Math.max(reading.ts, this.lastTs.get(reading.deviceId) ?? 0));
    return new Promise((resolve, reject) => {
      this.pending.push({ reading, resolve, reject });
      if (this.pending.length >= this.opts.maxReadings) this.seal();
      else this.timer ??= setTimeout(() => this.seal(), this.opts.maxDelayMs);
    });
  }

  private seal(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const sealed = this.pending.splice(0, this.opts.maxReadings);
    if (this.pending.length > 0) this.timer = setTimeout(() => this.seal(), 0);
    const { gatewayId, schoolId, bootId } = this.opts;
    const batch: TelemetryBatch = {
      v: WIRE_VERSION,
      gatewayId,
      schoolId,
      bootId,
      seq: this.seq++,
      sentAt: this.now(),
      readings: sealed.map((p) => p.reading),
    };
    const backlog = !this.opts.connected();
    // Writes are chained so the disk order is the seq order.
    this.writing = this.writing.then(async () => {
      try {
        await this.opts.outbox.append(batch, backlog);
      } catch (error) {
        for (const p of sealed) p.reject(error as Error);
        return;
      }
      for (const p of sealed) p.resolve();
      this.opts.onQueued();
    });
  }

  /** Seal and write whatever is pending. */
  async flush(): Promise<void> {
    this.seal();
    await this.writing;
  }
}
