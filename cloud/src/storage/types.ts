/**
 * The storage layer's contracts. Ingest hands rows to a ReadingSink; the API asks a
 * ReadingStore for history. One device sample (a wire `Reading`) becomes one StoredRow per
 * metric value, all with the sample's ts.
 */
import type { CommandOutcome, CommandReason, GatewayEvent, MetricValue, MetricValues } from '@schoolops/device-profiles';

/** One metric value of one device sample. */
export interface StoredRow {
  schoolId: string;
  deviceId: string;
  metric: string;
  /** Sample time, ms since the Unix epoch. */
  ts: number;
  value: MetricValue;
  /** Replayed from a gateway's backlog (wire `Reading.hist`). Stored, not otherwise special. */
  hist?: boolean;
  /** The uplink batch the row came in: lets ingest recognise a redelivered batch after a restart. */
  batch?: BatchKey;
  /** The device's own sample counter, when it sends one (lets the delivery checker count). */
  n?: number;
}

/** Names one uplink batch for ever: (gatewayId, bootId, seq). */
export interface BatchKey {
  gatewayId: string;
  bootId: string;
  seq: number;
}

/** Somewhere raw rows go. Implementations serialize their own writes. */
export interface ReadingSink {
  readonly name: string;
  /** Resolves when the rows are accepted (for the DuckDB store: committed and queryable). */
  write(rows: readonly StoredRow[]): Promise<void>;
  /** Resolves when everything accepted so far has been handed on (committed / sent). */
  flush(): Promise<void>;
  /** Flushes, then releases files, connections and timers. Idempotent. */
  close(): Promise<void>;
}

/**
 * A bucketed history question about one device.
 * Bounds: `from` is inclusive, `to` is exclusive (from <= ts < to).
 * Buckets start at `origin + k * bucketMs` (origin defaults to 0, the Unix epoch, which
 * aligns buckets to UTC). For Asia/Ho_Chi_Minh local days use origin = -7 * 3_600_000
 * (the zone has no DST, so a fixed offset is exact). A store with rollups answers whole
 * buckets whose width and origin line up with a rollup's (1 min, 15 min, 1 h from the
 * epoch) from it, and anything else from raw rows, which it keeps for less long.
 */
export interface HistoryQuery {
  deviceId: string;
  /** Only these metrics; omitted = every metric the device has. An empty array yields []. */
  metrics?: readonly string[];
  from: number;
  to: number;
  /** Bucket width in ms, a positive integer. */
  bucketMs: number;
  origin?: number;
}

/**
 * Aggregates of one metric over one bucket.
 * avg/min/max cover numeric and boolean samples (a boolean counts as 1/0, so avg is the
 * share of samples that were true - the share of time when samples are evenly spaced);
 * they are null when the bucket holds only strings. `last` is the value of the latest
 * sample in the bucket, in its own type; on equal ts the row written last wins.
 */
export interface HistoryBucket {
  metric: string;
  /** Bucket start, ms since the Unix epoch. */
  t: number;
  count: number;
  avg: number | null;
  min: number | null;
  max: number | null;
  last: MetricValue | null;
}

/**
 * What a store can answer in whole buckets: a bucket width that is a multiple of `bucketMs`
 * (and buckets aligned to it from the epoch) is answered from rows the store keeps for
 * every bucket starting at or after `since` (ms since the epoch). bucketMs 1 stands for the
 * raw readings (any width); `since` moves forward as retention deletes older rows.
 */
export interface HistoryTier {
  name: string;
  bucketMs: number;
  since: number;
}

/** The store that answers the dashboard's queries. */
export interface ReadingStore extends ReadingSink {
  /**
   * Buckets that hold at least one sample, sorted by metric, then t. A bucket with no sample
   * is absent (a gap). Buckets older than a tier's `since` may hold fewer samples than were
   * stored (retention deleted them); see historyTiers().
   */
  history(q: HistoryQuery): Promise<HistoryBucket[]>;
  /**
   * The bucket widths the store keeps pre-aggregated and how far back each reaches, finest
   * first. Optional: a store without it answers only from raw rows.
   */
  historyTiers?(): HistoryTier[];
  /** Total number of stored rows. */
  count(): Promise<number>;
  /**
   * Per device, what the district holds of the samples that carry a device counter `n`,
   * with sample time >= since: for proving nothing was lost, duplicated or reordered.
   */
  deliveryReport(since: number): Promise<DeviceDelivery[]>;
  /**
   * Readings gateways dropped for their disk quota that the district does not hold, per
   * device (devices with none are left out), from the telemetry-gap events whose sample time
   * range reaches `since`: what an event says its gateway dropped, less the readings the
   * district stored of the batches it names, whether they came before or after the event.
   */
  dropped(since: number): Promise<Record<string, number>>;
  /** Store a gateway event once (an event id already stored is ignored). */
  writeEvent(event: GatewayEvent): Promise<void>;
  /** Gateway events, newest first; `schoolId` narrows to one school. */
  events(q: { schoolId?: string; since?: number; limit?: number }): Promise<GatewayEvent[]>;
  /**
   * Has any batch of this gateway boot been stored? Cheap (no scan of readings): ingest asks
   * it for every boot it meets, and a boot never stored needs no further question.
   */
  hasBoot(gatewayId: string, bootId: string): Promise<boolean>;
  /** Is this batch stored? An indexed lookup, on a connection of its own (never refused as busy). */
  hasBatch(key: BatchKey): Promise<boolean>;
  /** The query queue: running, waiting, its bound and how many queries it refused. */
  queryStats(): QueryStats;
}

export interface QueryStats {
  running: number;
  queued: number;
  maxQueued: number;
  /** Queries refused with StoreBusyError since start. */
  refused: number;
}

/**
 * A query refused because too many already wait for the store. Carries what an HTTP answer
 * needs (fastify's error handler reads statusCode and headers): 503 with Retry-After.
 */
export class StoreBusyError extends Error {
  readonly statusCode = 503;
  readonly headers: Record<string, string>;

  constructor(
    readonly queued: number,
    readonly retryAfterS: number,
  ) {
    super(`the reading store is busy (${queued} queries waiting); try again in ${retryAfterS} s`);
    this.name = 'StoreBusyError';
    this.headers = { 'retry-after': String(retryAfterS) };
  }
}

/** Minimal structured logger; pino's Logger satisfies it. */
export interface StorageLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: StorageLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** What the district stored of one device's numbered samples. */
export interface DeviceDelivery {
  deviceId: string;
  /** Samples stored (one per device sample, however many metrics it had). */
  samples: number;
  /** Distinct sample counters among them; samples - distinct = stored more than once. */
  distinct: number;
  minN: number;
  maxN: number;
  /**
   * Samples stored after one with a higher counter, within the same stream (live or
   * replayed backlog): live data is sent ahead of backlog on purpose, so only order
   * within each stream counts.
   */
  outOfOrder: number;
}

/** A command the district sent to a device, as the district recorded it before sending. */
export interface CommandRecord {
  commandId: string;
  schoolId: string;
  deviceId: string;
  name: string;
  params?: Record<string, MetricValue>;
  /** By the district's clock, ms since the Unix epoch. */
  issuedAt: number;
  expiresAt: number;
  /** Who sent it, as the audit log names them (a username, token:<id>), or null. */
  sentBy: string | null;
}

/** One report a gateway made about a command (the wire CommandResult, as stored). */
export interface CommandResultRecord {
  resultId: string;
  commandId: string;
  gatewayId: string;
  outcome: CommandOutcome;
  reason?: CommandReason;
  detail?: string;
  values?: MetricValues;
  /** For a 'duplicate' report: the outcome the command got the first time. */
  first?: CommandOutcome;
  /** When the gateway reached the outcome, by the gateway's clock (shown, never compared). */
  gatewayTs: number;
  /** When the district stored the report, by its clock. */
  receivedAt: number;
}

/** A command with every report about it, oldest report first. */
export interface CommandWithResults extends CommandRecord {
  results: CommandResultRecord[];
}

/**
 * The district's record of the commands it sent and what their gateways answered. Commands
 * are few (people send them), so this is small next to the readings.
 */
export interface CommandLog {
  /** Record a command before it is sent, so its result can never arrive first. */
  writeCommand(command: CommandRecord): Promise<void>;
  /** The command was never sent (the district broker refused it): forget it. */
  forgetCommand(commandId: string): Promise<void>;
  /** One command by id: an indexed lookup on a connection of its own (never refused as busy). */
  command(commandId: string): Promise<CommandRecord | null>;
  /** Store a gateway's report; false when a report of this resultId was stored before. */
  writeCommandResult(result: CommandResultRecord): Promise<boolean>;
  /** A device's latest commands, newest first, each with its reports. */
  commands(q: { deviceId: string; limit: number }): Promise<CommandWithResults[]>;
}
