/**
 * The gateway's disk queue: every sealed telemetry batch is written here (one synced
 * LevelDB write, together with each device's latest sample time) before any device gets
 * its PUBACK, and leaves only when the district acknowledges that it stored the batch.
 *
 * Keys (classic-level, ordered byte-wise):
 *   q!<16-digit index>   a queued batch, in the order it was sealed
 *   d!<deviceId>         the ts of the device's latest accepted sample (dedups retransmits)
 *   e!<16-digit index>   a gateway event (telemetry gap, device status): never dropped, sent first
 *   m!dropped            readings dropped so far to stay within the quota
 *
 * Quota: when a new batch would take the queued bytes over `quotaBytes` (or the disk is
 * full), the oldest telemetry batches are dropped, and what was dropped (readings per
 * device, sample time range, the batches' keys) becomes a telemetry-gap event for the district.
 * A disk that fills anyway (ENOSPC) is survived with a ballast file kept beside the
 * database: LevelDB's write error is sticky and even deleting needs log space, so the
 * ballast is freed, the database reopened, the oldest telemetry dropped (gap event as above)
 * and the write tried again; the ballast comes back once there is room.
 * Bytes are counted as the JSON stored; LevelDB's files on disk are usually smaller
 * (it compresses) but lag behind deletions until it compacts.
 *
 * Nothing else is stored: the in-memory index (which batches, how big, live or backlog)
 * is rebuilt from the keys at open, so a kill -9 at any point leaves a consistent queue.
 */
import { mkdirSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { randomBytes } from 'node:crypto';
import { GAP_MAX_BATCH_RANGES, WIRE_VERSION, type GatewayEvent, type TelemetryBatch, type TelemetryGapEvent } from '@schoolops/device-profiles';
import type { Logger } from 'pino';

export interface QueuedBatch {
  index: number;
  batch: TelemetryBatch;
  bytes: number;
  /** Sealed while the district was unreachable (or by an earlier boot): drained as backfill. */
  backlog: boolean;
}

const QUEUE = 'q!';
const EVENT = 'e!';
const DEVICE = 'd!';
const DROPPED = 'm!dropped';
const indexKey = (index: number) => `${QUEUE}${String(index).padStart(16, '0')}`;
const eventKey = (index: number) => `${EVENT}${String(index).padStart(16, '0')}`;

/** Space kept in reserve so a full disk can still be cleaned up. */
const BALLAST_BYTES = 4 * 1024 * 1024;

const isDiskFull = (error: unknown) => /ENOSPC|No space left/i.test(String((error as Error)?.message ?? error));

export class DiskOutbox {
  private readonly entries = new Map<number, QueuedBatch>();
  private readonly byBatch = new Map<string, number>();
  private nextIndex = 0;
  private queuedBytes = 0;
  private queuedReadings = 0;
  /** deviceId -> ts of its latest accepted sample */
  readonly lastTs = new Map<string, number>();
  droppedReadings = 0;
  /** Set by the uplink: batches sent and not yet confirmed are not dropped. */
  isInFlight: (index: number) => boolean = () => false;
  /** index -> event, in the order they were raised */
  private readonly events = new Map<number, GatewayEvent>();
  private nextEventIndex = 0;

  /** Resolves when the database may be used (it is being reopened after a full disk otherwise). */
  private ready: Promise<void> = Promise.resolve();

  private constructor(
    private db: ClassicLevel<string, string>,
    private readonly dir: string,
    readonly quotaBytes: number,
    private readonly logger: Logger,
  ) {}

  static async open(opts: { dir: string; quotaBytes: number; logger: Logger }): Promise<DiskOutbox> {
    mkdirSync(opts.dir, { recursive: true });
    const db = DiskOutbox.database(opts.dir);
    await db.open();
    const outbox = new DiskOutbox(db, opts.dir, opts.quotaBytes, opts.logger);
    await outbox.load();
    await outbox.restoreBallast();
    return outbox;
  }

  private static database(dir: string): ClassicLevel<string, string> {
    return new ClassicLevel<string, string>(join(dir, 'leveldb'), { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  }

  private get ballastFile(): string {
    return join(this.dir, 'ballast');
  }

  /** Best effort: a disk too full for the ballast is not an error, only less reserve. */
  private async restoreBallast(): Promise<void> {
    try {
      await writeFile(this.ballastFile, Buffer.alloc(BALLAST_BYTES), { flag: 'wx' });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC') await rm(this.ballastFile, { force: true });
      else if (code !== 'EEXIST') throw error;
    }
  }

  /** Free the reserve and reopen the database, which clears LevelDB's sticky write error. */
  private async recoverFromFullDisk(): Promise<void> {
    let done!: () => void;
    this.ready = new Promise((resolve) => (done = resolve));
    try {
      await rm(this.ballastFile, { force: true });
      await this.db.close();
      this.db = DiskOutbox.database(this.dir);
      await this.db.open();
    } finally {
      done();
    }
  }

  private async load(): Promise<void> {
    for await (const [key, value] of this.db.iterator({ gte: QUEUE, lt: `${QUEUE}~` })) {
      const index = Number(key.slice(QUEUE.length));
      // Everything found at start was sealed by an earlier run: it is backlog by definition.
      this.track({ index, batch: JSON.parse(value) as TelemetryBatch, bytes: value.length, backlog: true });
      this.nextIndex = index + 1;
    }
    for await (const [key, value] of this.db.iterator({ gte: DEVICE, lt: `${DEVICE}~` })) this.lastTs.set(key.slice(DEVICE.length), Number(value));
    for await (const [key, value] of this.db.iterator({ gte: EVENT, lt: `${EVENT}~` })) {
      const index = Number(key.slice(EVENT.length));
      this.events.set(index, JSON.parse(value) as GatewayEvent);
      this.nextEventIndex = index + 1;
    }
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
    if (this.queuedBytes + entry.bytes > this.quotaBytes) await this.dropOldest(this.queuedBytes + entry.bytes - this.quotaBytes, batch);
    try {
      await this.write(entry, value);
    } catch (error) {
      if (!isDiskFull(error)) throw error;
      // The disk filled before the quota did: free the reserve, reopen, make room (a tenth of
      // the queue, compacted so the space really comes back) and try once more. If that fails
      // too, the device keeps its reading (no PUBACK) and the next append tries again.
      this.logger.error({ err: (error as Error).message, queued: this.size }, 'disk full: dropping the oldest telemetry to make room');
      await this.recoverFromFullDisk();
      await this.dropOldest(Math.max(entry.bytes, this.queuedBytes / 10), batch);
      await this.db.compactRange(QUEUE, `${QUEUE}~`);
      await this.write(entry, value);
      await this.restoreBallast();
    }
    return entry;
  }

  private async write(entry: QueuedBatch, value: string): Promise<void> {
    const { batch } = entry;
    const latest = new Map<string, number>();
    for (const reading of batch.readings) latest.set(reading.deviceId, Math.max(latest.get(reading.deviceId) ?? 0, reading.ts));
    const ops = [
      { type: 'put' as const, key: indexKey(entry.index), value },
      ...[...latest].map(([deviceId, ts]) => ({ type: 'put' as const, key: `${DEVICE}${deviceId}`, value: String(ts) })),
    ];
    await this.ready;
    await this.db.batch(ops, { sync: true });
    for (const [deviceId, ts] of latest) this.lastTs.set(deviceId, ts);
    this.track(entry);
  }

  /**
   * Drop the oldest telemetry batches until `bytes` are freed, and record what was dropped
   * as telemetry-gap events (written in the same atomic write, so they cannot be lost). Each
   * event names its batches (key ranges), so the district can leave out of the gap a batch
   * it stored although its ack never came, or that arrives after the event; a drop of more
   * than GAP_MAX_BATCH_RANGES ranges is reported as several events.
   */
  private async dropOldest(bytes: number, from: { gatewayId: string; schoolId: string; bootId: string }): Promise<void> {
    const victims: QueuedBatch[] = [];
    let freed = 0;
    for (const entry of this.entries.values()) {
      if (freed >= bytes) break;
      // A batch on its way stays until its ack (or its resend): the uplink counts it in its
      // window until then. Not for the count: a dropped batch the district holds is no gap.
      if (this.isInFlight(entry.index)) continue;
      victims.push(entry);
      freed += entry.bytes;
    }
    if (victims.length === 0) return;
    const events = gapEvents(victims, from);
    const readings = victims.reduce((n, v) => n + v.batch.readings.length, 0);
    const indices = events.map(() => this.nextEventIndex++);
    // Deleting frees space, so this write can succeed even on a full disk.
    await this.db.batch(
      [
        ...victims.map((v) => ({ type: 'del' as const, key: indexKey(v.index) })),
        ...events.map((event, i) => ({ type: 'put' as const, key: eventKey(indices[i]!), value: JSON.stringify(event) })),
        { type: 'put' as const, key: DROPPED, value: String(this.droppedReadings + readings) },
      ],
      { sync: true },
    );
    for (const victim of victims) this.untrack(victim);
    events.forEach((event, i) => this.events.set(indices[i]!, event));
    this.droppedReadings += readings;
    this.logger.warn(
      { readings, batches: victims.length, events: events.length, from: Math.min(...events.map((e) => e.from)), to: Math.max(...events.map((e) => e.to)), quotaBytes: this.quotaBytes },
      'disk queue full: dropped the oldest telemetry',
    );
  }

  /** Keep an event until the district confirms it (durable before this resolves). */
  async addEvent(event: GatewayEvent): Promise<void> {
    const eventIndex = this.nextEventIndex++;
    await this.ready;
    await this.db.put(eventKey(eventIndex), JSON.stringify(event), { sync: true });
    this.events.set(eventIndex, event);
  }

  /** Events waiting for the district's acknowledgement, oldest first. */
  pendingEvents(): GatewayEvent[] {
    return [...this.events.values()];
  }

  /** The district has stored the event. */
  async removeEvent(eventId: string): Promise<boolean> {
    for (const [index, event] of this.events)
      if (event.eventId === eventId) {
        this.events.delete(index);
        await this.ready;
        await this.db.del(eventKey(index));
        return true;
      }
    return false;
  }

  /** The district has the batch: forget it. Returns false if it was not (or no longer) queued. */
  async remove(bootId: string, seq: number): Promise<boolean> {
    const index = this.byBatch.get(`${bootId}/${seq}`);
    if (index === undefined) return false;
    const entry = this.entries.get(index)!;
    this.untrack(entry);
    await this.ready;
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
    await this.ready;
    await this.db.close();
  }
}

/**
 * The telemetry-gap events that report dropping `victims` (in queue order): readings per
 * device, sample time range and batch key ranges, at most GAP_MAX_BATCH_RANGES ranges each.
 */
export function gapEvents(victims: readonly QueuedBatch[], from: { gatewayId: string; schoolId: string; bootId: string }): TelemetryGapEvent[] {
  const events: TelemetryGapEvent[] = [];
  let event: TelemetryGapEvent | undefined;
  let ranges: [string, number, number][] = [];
  for (const { batch } of victims) {
    const last = ranges.at(-1);
    if (last && last[0] === batch.bootId && last[2] + 1 === batch.seq) last[2] = batch.seq;
    else {
      if (!event || ranges.length === GAP_MAX_BATCH_RANGES) {
        ranges = [];
        event = {
          v: WIRE_VERSION,
          gatewayId: from.gatewayId,
          schoolId: from.schoolId,
          bootId: from.bootId,
          eventId: randomBytes(12).toString('base64url'),
          ts: Date.now(),
          type: 'telemetry-gap',
          dropped: {},
          from: Infinity,
          to: 0,
          batches: ranges,
        };
        events.push(event);
      }
      ranges.push([batch.bootId, batch.seq, batch.seq]);
    }
    for (const reading of batch.readings) {
      event!.dropped[reading.deviceId] = (event!.dropped[reading.deviceId] ?? 0) + 1;
      event!.from = Math.min(event!.from, reading.ts);
      event!.to = Math.max(event!.to, reading.ts);
    }
  }
  return events;
}
