/**
 * The gateway's disk queue: every sealed telemetry batch is written here (one synced
 * LevelDB write, together with each device's latest sample time) before any device gets
 * its PUBACK, and leaves only when the district acknowledges that it stored the batch.
 *
 * Keys (classic-level, ordered byte-wise):
 *   q!<16-digit index>   a queued batch, in the order it was sealed
 *   d!<deviceId>         the ts of the device's latest accepted sample (dedups retransmits)
 *   m!dropped            readings dropped so far to stay within the quota
 *
 * Nothing else is stored: the in-memory index (which batches, how big, live or backlog)
 * is rebuilt from the keys at open, so a kill -9 at any point leaves a consistent queue.
 */
import { mkdirSync } from 'node:fs';
import { ClassicLevel } from 'classic-level';
import type { TelemetryBatch } from '@schoolops/device-profiles';
import type { Logger } from 'pino';

export interface QueuedBatch {
  index: number;
  batch: TelemetryBatch;
  bytes: number;
  /** Sealed while the district was unreachable (or by an earlier boot): drained as backfill. */
  backlog: boolean;
}

const QUEUE = 'q!';
const DEVICE = 'd!';
const DROPPED = 'm!dropped';
const indexKey = (index: number) => `${QUEUE}${String(index).padStart(16, '0')}`;

export class DiskOutbox {
  private readonly entries = new Map<number, QueuedBatch>();
  private readonly byBatch = new Map<string, number>();
  private nextIndex = 0;
  private queuedBytes = 0;
  private queuedReadings = 0;
  /** deviceId -> ts of its latest accepted sample */
  readonly lastTs = new Map<string, number>();
  droppedReadings = 0;

  private constructor(
    private readonly db: ClassicLevel<string, string>,
    readonly quotaBytes: number,
    private readonly logger: Logger,
  ) {}

  static async open(opts: { dir: string; quotaBytes: number; logger: Logger }): Promise<DiskOutbox> {
    mkdirSync(opts.dir, { recursive: true });
    const db = new ClassicLevel<string, string>(opts.dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.open();
    const outbox = new DiskOutbox(db, opts.quotaBytes, opts.logger);
    await outbox.load();
    return outbox;
  }

  private async load(): Promise<void> {
    for await (const [key, value] of this.db.iterator({ gte: QUEUE, lt: `${QUEUE}~` })) {
      const index = Number(key.slice(QUEUE.length));
      // Everything found at start was sealed by an earlier run: it is backlog by definition.
      this.track({ index, batch: JSON.parse(value) as TelemetryBatch, bytes: value.length, backlog: true });
      this.nextIndex = index + 1;
    }
    for await (const [key, value] of this.db.iterator({ gte: DEVICE, lt: `${DEVICE}~` })) this.lastTs.set(key.slice(DEVICE.length), Number(value));
    this.droppedReadings = Number((await this.db.get(DROPPED)) ?? 0);
    if (this.entries.size > 0)
      this.logger.info({ batches: this.entries.size, readings: this.queuedReadings, bytes: this.queuedBytes }, 'disk queue holds backlog from an earlier run');
  }

  private track(entry: QueuedBatch): void {
    this.entries.set(entry.index, entry);
    this.byBatch.set(`${entry.batch.bootId}/${entry.batch.seq}`, entry.index);
    this.queuedBytes += entry.bytes;
    this.queuedReadings += entry.batch.readings.length;
  }

  private untrack(entry: QueuedBatch): void {
    this.entries.delete(entry.index);
    this.byBatch.delete(`${entry.batch.bootId}/${entry.batch.seq}`);
    this.queuedBytes -= entry.bytes;
    this.queuedReadings -= entry.batch.readings.length;
  }

  /**
   * Durably queue a sealed batch, recording each device's latest sample time in the same
   * atomic write. Resolves once it is on disk; only then may devices be acknowledged.
   */
  async append(batch: TelemetryBatch, backlog: boolean): Promise<QueuedBatch> {
    const value = JSON.stringify(batch);
    const entry: QueuedBatch = { index: this.nextIndex++, batch, bytes: value.length, backlog };
    const latest = new Map<string, number>();
    for (const reading of batch.readings) latest.set(reading.deviceId, Math.max(latest.get(reading.deviceId) ?? 0, reading.ts));
    const ops = [
      { type: 'put' as const, key: indexKey(entry.index), value },
      ...[...latest].map(([deviceId, ts]) => ({ type: 'put' as const, key: `${DEVICE}${deviceId}`, value: String(ts) })),
    ];
    await this.db.batch(ops, { sync: true });
    for (const [deviceId, ts] of latest) this.lastTs.set(deviceId, ts);
    this.track(entry);
    return entry;
  }

  /** The district has the batch: forget it. Returns false if it was not (or no longer) queued. */
  async remove(bootId: string, seq: number): Promise<boolean> {
    const index = this.byBatch.get(`${bootId}/${seq}`);
    if (index === undefined) return false;
    const entry = this.entries.get(index)!;
    this.untrack(entry);
    await this.db.del(indexKey(index));
    return true;
  }

  /** Queued batches in the order they were sealed. */
  queued(): IterableIterator<QueuedBatch> {
    return this.entries.values();
  }

  get(bootId: string, seq: number): QueuedBatch | undefined {
    const index = this.byBatch.get(`${bootId}/${seq}`);
    return index === undefined ? undefined : this.entries.get(index);
  }

  get size(): { batches: number; readings: number; bytes: number } {
    return { batches: this.entries.size, readings: this.queuedReadings, bytes: this.queuedBytes };
  }

  backlogReadings(): number {
    let count = 0;
    for (const entry of this.entries.values()) if (entry.backlog) count += entry.batch.readings.length;
    return count;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
