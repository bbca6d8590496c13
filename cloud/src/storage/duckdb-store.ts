/**
 * The embedded reading store: one DuckDB file, raw readings in one table, rolled up into
 * tiers of 1-minute, 15-minute and 1-hour buckets (rollups.ts), bucketed history answered
 * from the coarsest tier that fits plus raw rows for what is not rolled up yet.
 *
 * Writes go through one long-lived appender on a dedicated connection, one batch at a time
 * (a promise chain serializes callers). Each write() commits before it resolves, so a row
 * is queryable once write() has resolved. The appender works synchronously on the JS
 * thread; measured here it costs about 2 ms per 500-row batch, against 3-4x slower for a
 * multi-row INSERT ... SELECT unnest($lists) that runs off-thread (cloud/bench/storage.bench.ts).
 *
 * Checkpoints: DuckDB's automatic checkpoint runs inside whichever commit crosses the WAL
 * threshold; with the appender that is the JS thread, and it stalled the event loop for
 * 100-500 ms per checkpoint in the benchmark. So the automatic one is pushed out of the way
 * (checkpoint_threshold 1GB) and the write chain itself runs an asynchronous CHECKPOINT
 * every `checkpointEveryRows` rows and after `checkpointIdleMs` without writes. Writes that
 * arrive meanwhile wait in the chain, but the event loop stays free. (A CHECKPOINT from
 * another connection does not help: commits wait for it on the JS thread.)
 *
 * Queries run on a small pool of separate connections with the asynchronous API, so DuckDB
 * evaluates them on its own threads; a long history query does not hold the writer up. The
 * pool's queue is bounded (`maxQueuedQueries`): past it a query is refused at once with a
 * StoreBusyError (HTTP 503 with Retry-After) and counted, rather than piling up behind the
 * ones already waiting, each holding a request, its memory and its client.
 *
 * Batch keys: ingest asks, for a batch it has not seen in this process, whether it is stored
 * (a gateway resends what it has no ack for, across a cloud restart too). Answering from the
 * readings table meant a full-table SELECT DISTINCT seq per gateway boot, inside the district's
 * ingest chain. Now every write of a batch's rows also records its key in `batches` (one row
 * per batch, an ART index on the key) in the same transaction, and the boots that have any
 * stored batch are held in memory (one short string each). A boot never seen is answered
 * from memory (a gateway just rebooted: nothing of it can be stored), a known one by an
 * indexed point lookup per batch on a connection of its own, so neither the dashboards'
 * queries nor their queue bound can hold ingest up. Measured on one DuckDB thread, 3 million
 * keys: 0.76 ms per lookup with the index, 152 ms by a scan without it (the old full-table
 * scan read every reading row, about 5 per reading, ~2,500 per batch, instead). Recording
 * the key costs the write nothing measurable: 200 writes of 500 rows on one DuckDB thread,
 * median 2.6-2.8 ms with keys (BEGIN, appenders, an asynchronous COMMIT) against 4.1-4.5 ms
 * without (the appender's own synchronous commit), on a machine busy with other work.
 *
 * Rollups and retention (rollups.ts has the design): every raw row also gets `dev` (a small
 * integer per device, from `device_numbers`) and `arrival` (a counter this writer keeps, so
 * rows are numbered in the order they were committed). Rollup passes, compaction and
 * retention run on a maintenance connection of their own, every `rollupEveryMs` and on
 * maintain(): DuckDB does the work on its threads, the JS thread only waits, and ingest's
 * writes go on meanwhile (appends to `readings` never conflict with rollup inserts or with
 * retention's deletes of old rows). The write chain's CHECKPOINT needs no turn-taking with
 * it: DuckDB 1.5 checkpoints what is committed while another connection's write transaction
 * is open (tried: the WAL empties, the other transaction commits after). What maintenance
 * writes and deletes counts towards the chain's checkpoint like appended rows do.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { DuckDBInstance, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import type { CommandOutcome, CommandReason, GatewayEvent, MetricValue, MetricValues } from '@schoolops/device-profiles';
import {
  checkRetention,
  DEFAULT_RETENTION,
  LEVELS,
  planHistory,
  ROLLUP_SCHEMA,
  Rollups,
  TIERS,
  DAY_MS,
  type MaintenanceReport,
  type Marks,
  type RetentionDays,
  type Run,
  type TierName,
} from './rollups.ts';
import {
  silentLogger,
  StoreBusyError,
  type BatchKey,
  type CommandLog,
  type CommandRecord,
  type CommandResultRecord,
  type CommandWithResults,
  type DeviceDelivery,
  type HistoryBucket,
  type HistoryQuery,
  type HistoryTier,
  type QueryStats,
  type ReadingStore,
  type StorageLogger,
  type StoredRow,
} from './types.ts';

export interface DuckDbStoreOptions {
  /** Database file; parent directories are created. */
  file: string;
  logger?: StorageLogger;
  /** Connections available to concurrent queries (default 4). */
  readConnections?: number;
  /** DuckDB configuration options, passed as given (e.g. { threads: '2', memory_limit: '1GB' }). */
  duckdbConfig?: Record<string, string>;
  /** Run CHECKPOINT after this many rows (default 100,000; 0 = only when idle and at close). */
  checkpointEveryRows?: number;
  /** Run CHECKPOINT this long after the last write when rows are waiting in the WAL (default 30 s). */
  checkpointIdleMs?: number;
  /** Queries that may wait for a read connection; one more is refused with StoreBusyError (default 64). */
  maxQueuedQueries?: number;
  /** How long each level is kept (rollups.ts DEFAULT_RETENTION: raw 7 d, 1m 7 d, 15m 35 d, 1h 400 d). */
  retention?: Partial<RetentionDays>;
  /** Roll up, compact and apply retention this often (default 5 min); 0 = only when maintain() is called. */
  rollupEveryMs?: number;
  /** Runs per next-tier pass and per compaction (tests use small ones; default 1m 12, 15m 24, 1h 7). */
  rollupFanIn?: Partial<Record<TierName, number>>;
  /** Most raw rows one 1m pass reads (default 2,000,000). */
  maxPassRows?: number;
  /** Time retention deletes per statement (default 1 h). */
  retentionSliceMs?: number;
  /** The clock retention reads (tests inject one; default Date.now). */
  now?: () => number;
}

export interface DuckDbStore extends ReadingStore, CommandLog {
  readonly file: string;
  historyTiers(): HistoryTier[];
  /**
   * Rolls up everything written so far (flushes first), compacts, applies retention. Runs
   * on its own every `rollupEveryMs`; tests and tools call it to be sure it has run.
   */
  maintain(): Promise<MaintenanceReport>;
  /** The rollups' marks and runs as committed (for tests and the benchmark). */
  rollupState(): { marks: Marks; runs: Record<TierName, Run[]> };
}

/** Seconds a refused query is told to wait before it asks again (Retry-After). */
const BUSY_RETRY_AFTER_S = 2;

/** How a value is stored: `kind` says which column holds it and how to read it back. */
const KIND_NUMBER = 0;
const KIND_BOOLEAN = 1;
const KIND_STRING = 2;

const TABLE = 'readings';

/** Column order is the appender's order. */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS ${TABLE} (
  ts        BIGINT   NOT NULL, -- sample time, ms since the Unix epoch
  school_id VARCHAR  NOT NULL,
  device_id VARCHAR  NOT NULL,
  metric    VARCHAR  NOT NULL,
  kind      UTINYINT NOT NULL, -- 0 number, 1 boolean, 2 string
  num       DOUBLE,            -- numbers, and booleans as 1/0
  str       VARCHAR,           -- strings and enums
  hist      BOOLEAN  NOT NULL  -- replayed from a gateway backlog
);
-- Added with store-and-forward; a file from before gets them (NULL for its old rows).
ALTER TABLE ${TABLE} ADD COLUMN IF NOT EXISTS gateway_id VARCHAR; -- the batch the row came in:
ALTER TABLE ${TABLE} ADD COLUMN IF NOT EXISTS boot_id VARCHAR;    -- (gateway_id, boot_id, seq)
ALTER TABLE ${TABLE} ADD COLUMN IF NOT EXISTS seq BIGINT;
ALTER TABLE ${TABLE} ADD COLUMN IF NOT EXISTS n BIGINT;           -- the device's sample counter
-- Added with rollups (rollups.ts): NULL only in a file from before, numbered once at open.
ALTER TABLE ${TABLE} ADD COLUMN IF NOT EXISTS dev INTEGER;        -- device_numbers.dev
ALTER TABLE ${TABLE} ADD COLUMN IF NOT EXISTS arrival BIGINT;     -- commit order, the rollups' high-water mark
${ROLLUP_SCHEMA}
-- Gateway events (telemetry gaps, ...): few, kept whole as JSON, each stored once.
CREATE TABLE IF NOT EXISTS events (
  event_id   VARCHAR PRIMARY KEY,
  school_id  VARCHAR NOT NULL,
  gateway_id VARCHAR NOT NULL,
  ts         BIGINT  NOT NULL,
  type       VARCHAR NOT NULL,
  body       VARCHAR NOT NULL
);
-- The batches each telemetry-gap event says its gateway dropped, as seq ranges: the district
-- counts as dropped only the readings of those batches it does not hold (see dropped()).
CREATE TABLE IF NOT EXISTS gap_batches (
  event_id   VARCHAR NOT NULL,
  gateway_id VARCHAR NOT NULL,
  boot_id    VARCHAR NOT NULL,
  seq_from   BIGINT  NOT NULL,
  seq_to     BIGINT  NOT NULL,
  sample_to  BIGINT  NOT NULL, -- the event's "to": a report from "since" takes events with to >= since
  PRIMARY KEY (event_id, boot_id, seq_from)
);
-- One row per stored batch, written in the same transaction as its rows: lets ingest ask
-- "is this batch stored?" by an index lookup instead of scanning the readings. The key is
-- gateway_id/boot_id/seq ('/' appears in none of them). A batch split into several writes
-- (ingest isolating a reading storage refuses) has a row per write: only existence counts.
CREATE TABLE IF NOT EXISTS batches (
  batch_key  VARCHAR NOT NULL,
  gateway_id VARCHAR NOT NULL,
  boot_id    VARCHAR NOT NULL,
  seq        BIGINT  NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_by_key ON batches (batch_key);
-- Commands the district sent (recorded before sending, so no result can come first) and who
-- sent them; what the gateways answered, one row per report (a report resent because its
-- ack was lost is stored once, by its id). Few rows: people send commands.
CREATE TABLE IF NOT EXISTS commands (
  command_id VARCHAR PRIMARY KEY,
  school_id  VARCHAR NOT NULL,
  device_id  VARCHAR NOT NULL,
  name       VARCHAR NOT NULL,
  params     VARCHAR,          -- JSON, NULL without parameters
  issued_at  BIGINT  NOT NULL, -- the district's clock
  expires_at BIGINT  NOT NULL,
  sent_by    VARCHAR           -- the audit log's actor
);
CREATE INDEX IF NOT EXISTS commands_by_device ON commands (device_id);
CREATE TABLE IF NOT EXISTS command_results (
  result_id     VARCHAR PRIMARY KEY,
  command_id    VARCHAR NOT NULL,
  gateway_id    VARCHAR NOT NULL,
  outcome       VARCHAR NOT NULL,
  reason        VARCHAR,
  detail        VARCHAR,
  vals          VARCHAR,         -- JSON: what the device read right after
  first_outcome VARCHAR,         -- a 'duplicate' report: the command's first outcome
  gateway_ts    BIGINT  NOT NULL, -- the gateway's clock: shown, never compared
  received_at   BIGINT  NOT NULL  -- the district's clock
);
CREATE INDEX IF NOT EXISTS command_results_by_command ON command_results (command_id);
CREATE OR REPLACE VIEW ${TABLE}_v AS
  SELECT epoch_ms(ts) AS time, school_id, device_id, metric,
         CASE kind WHEN 0 THEN num::VARCHAR WHEN 1 THEN (num = 1)::VARCHAR ELSE str END AS value,
         hist
  FROM ${TABLE};
`;

/** The latest time a JS Date can name (ms): history bounds are held within +-this. */
const MAX_TIME_MS = 8_640_000_000_000_000;

/** Rows per INSERT of a gap event's batch ranges. */
const GAP_INSERT_ROWS = 200;

const batchKeyOf = (gatewayId: string, bootId: string, seq: number) => `${gatewayId}/${bootId}/${seq}`;
const bootKeyOf = (gatewayId: string, bootId: string) => `${gatewayId}/${bootId}`;

/** Files this process has open: two DuckDB instances on one file in one process corrupt it. */
const openFiles = new Set<string>();

export async function openDuckDbStore(options: DuckDbStoreOptions): Promise<DuckDbStore> {
  const file = resolve(options.file);
  if (openFiles.has(file)) throw new Error(`DuckDB store ${file} is already open in this process`);
  openFiles.add(file);
  try {
    await mkdir(dirname(file), { recursive: true });
    // The automatic checkpoint would run on the JS thread inside an appender flush; see above.
    const instance = await DuckDBInstance.create(file, { checkpoint_threshold: '1GB', ...options.duckdbConfig });
    try {
      const writer = await instance.connect();
      const hadBatches = (await writer.runAndReadAll(`SELECT count(*) FROM duckdb_tables() WHERE table_name = 'batches'`)).getRowsJS()[0]![0] !== 0n;
      await writer.run(SCHEMA);
      if (!hadBatches) {
        // A file from before the batch keys: derive them once, here at open, from the rows.
        await writer.run(`INSERT INTO batches
          SELECT DISTINCT gateway_id || '/' || boot_id || '/' || seq, gateway_id, boot_id, seq FROM ${TABLE} WHERE seq IS NOT NULL`);
      }
      const boots = new Set(
        (await writer.runAndReadAll('SELECT DISTINCT gateway_id, boot_id FROM batches')).getRowsJS().map(([g, b]) => bootKeyOf(g as string, b as string)),
      );
      await numberOldRows(writer);
      const devices = new Map(
        (await writer.runAndReadAll('SELECT device_id, dev FROM device_numbers')).getRowsJS().map(([id, dev]) => [id as string, Number(dev)]),
      );
      // Past every arrival ever used: the 1m mark (rows up to it may all be deleted), and the
      // rows above it (read from the table's tail only: arrival grows with the row groups).
      const mark = Number((await writer.runAndReadAll(`SELECT value FROM rollup_state WHERE name = '${TIERS[0]!.name}'`)).getRowsJS()[0]![0]);
      const newest = (await writer.runAndReadAll(`SELECT max(arrival) FROM ${TABLE} WHERE arrival > ${mark}`)).getRowsJS()[0]![0];
      const nextArrival = Math.max(mark, Number(newest ?? 0)) + 1;
      const appender = await writer.createAppender(TABLE);
      const batchAppender = await writer.createAppender('batches');
      const lookups = await instance.connect();
      const maintenance = await instance.connect();
      const store = new DuckDbReadingStore(file, instance, writer, appender, batchAppender, lookups, maintenance, boots, devices, nextArrival, options);
      await store.start();
      return store;
    } catch (err) {
      instance.closeSync();
      throw err;
    }
  } catch (err) {
    openFiles.delete(file);
    throw err;
  }
}

/**
 * A file from before rollups: its rows get device numbers and arrival numbers (in their
 * insertion order) once, here at open, so the first passes roll them up like any others.
 */
async function numberOldRows(writer: DuckDBConnection): Promise<void> {
  // Row groups without a NULL arrival are skipped by their statistics: cheap on a big file.
  if ((await writer.runAndReadAll(`SELECT 1 FROM ${TABLE} WHERE arrival IS NULL LIMIT 1`)).getRowsJS().length === 0) return;
  await writer.run('BEGIN TRANSACTION');
  try {
    await writer.run(`
      INSERT INTO device_numbers
      SELECT (SELECT coalesce(max(dev), 0) FROM device_numbers) + row_number() OVER (ORDER BY device_id), device_id
      FROM (SELECT DISTINCT device_id FROM ${TABLE} WHERE device_id NOT IN (SELECT device_id FROM device_numbers))`);
    const base = Number((await writer.runAndReadAll(`SELECT coalesce(max(arrival), 0) FROM ${TABLE}`)).getRowsJS()[0]![0]);
    await writer.run(`
      UPDATE ${TABLE} SET dev = d.dev, arrival = ${TABLE}.rowid + ${base + 1}
      FROM device_numbers d WHERE ${TABLE}.device_id = d.device_id AND ${TABLE}.arrival IS NULL`);
    await writer.run('COMMIT');
  } catch (err) {
    await writer.run('ROLLBACK').catch(() => {});
    throw err;
  }
}

class DuckDbReadingStore implements DuckDbStore {
  readonly name = 'duckdb';
  private readonly logger: StorageLogger;
  /** The tail of the write chain; never rejects. */
  private writeTail: Promise<void> = Promise.resolve();
  private readonly reads: ReadPool;
  private closing: Promise<void> | null = null;
  private readonly checkpointEveryRows: number;
  private readonly checkpointIdleMs: number;
  private rowsSinceCheckpoint = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  /** Ingest's batch lookups, one at a time on their own connection. */
  private lookupTail: Promise<unknown> = Promise.resolve();
  private readonly rollups: Rollups;
  private readonly retention: RetentionDays;
  private readonly rollupEveryMs: number;
  private readonly now: () => number;
  /** The maintenance running now, if any; maintain() calls share it. */
  private maintaining: Promise<MaintenanceReport> | null = null;
  private maintenanceTimer: NodeJS.Timeout | null = null;
  /** The highest device number given out (committed). */
  private maxDev: number;

  constructor(
    readonly file: string,
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private appender: DuckDBAppender,
    private batchAppender: DuckDBAppender,
    private readonly lookups: DuckDBConnection,
    private readonly maintenance: DuckDBConnection,
    /** `gatewayId/bootId` of every boot with a stored batch. */
    private readonly boots: Set<string>,
    /** device_id -> dev, as committed. */
    private readonly devices: Map<string, number>,
    /** The next row's arrival number. */
    private nextArrival: number,
    options: DuckDbStoreOptions,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.reads = new ReadPool(instance, options.readConnections ?? 4, options.maxQueuedQueries ?? 64);
    this.checkpointEveryRows = options.checkpointEveryRows ?? 100_000;
    this.checkpointIdleMs = options.checkpointIdleMs ?? 30_000;
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    checkRetention(this.retention);
    this.maxDev = Math.max(0, ...devices.values());
    this.rollupEveryMs = options.rollupEveryMs ?? 300_000;
    this.now = options.now ?? Date.now;
    const fanIn = Object.fromEntries(TIERS.map((t) => [t.name, options.rollupFanIn?.[t.name] ?? t.fanIn])) as Record<TierName, number>;
    for (const [tier, n] of Object.entries(fanIn)) if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`rollupFanIn.${tier} must be a whole number >= 1, got ${n}`);
    this.rollups = new Rollups(
      maintenance,
      { retention: this.retention, fanIn, maxPassRows: options.maxPassRows ?? 2_000_000, retentionSliceMs: options.retentionSliceMs ?? 3_600_000 },
      {
        checkpoint: () => this.enqueue(() => this.checkpoint()),
        stopping: () => this.closing !== null,
        newestArrival: () => this.nextArrival - 1,
        logger: this.logger,
      },
    );
  }

  /** Reads the rollups' state and starts the maintenance timer. */
  async start(): Promise<void> {
    await this.rollups.load();
    this.armMaintenance();
  }

  private armMaintenance(): void {
    if (this.rollupEveryMs <= 0 || this.closing) return;
    this.maintenanceTimer = setTimeout(() => {
      this.maintenanceTimer = null;
      this.maintain()
        .catch((err: unknown) => this.logger.error({ err }, 'DuckDB rollup maintenance failed; will try again'))
        .finally(() => this.armMaintenance());
    }, this.rollupEveryMs);
    this.maintenanceTimer.unref();
  }

  maintain(): Promise<MaintenanceReport> {
    if (this.closing) return Promise.reject(new Error('DuckDB store is closed'));
    this.maintaining ??= (async () => {
      try {
        await this.flush();
        const report = await this.rollups.maintain(this.now());
        // What maintenance changed counts towards the write chain's checkpoint like rows do.
        const changed = this.rollups.takeChanged();
        if (changed > 0)
          await this.enqueue(async () => {
            this.rowsSinceCheckpoint += changed;
            if (this.checkpointEveryRows > 0 && this.rowsSinceCheckpoint >= this.checkpointEveryRows) await this.checkpoint();
            else this.armIdleCheckpoint();
          });
        return report;
      } finally {
        this.maintaining = null;
      }
    })();
    return this.maintaining;
  }

  rollupState(): { marks: Marks; runs: Record<TierName, Run[]> } {
    return { marks: this.rollups.currentMarks(), runs: this.rollups.currentRuns() };
  }

  historyTiers(): HistoryTier[] {
    const now = this.now();
    return LEVELS.map((level, k) => ({
      name: level.name,
      bucketMs: level.widthMs,
      since: now - Math.round((k === 0 ? this.retention.rawDays : this.retention[TIERS[k - 1]!.retention]) * DAY_MS),
    }));
  }

  write(rows: readonly StoredRow[]): Promise<void> {
    if (this.closing) return Promise.reject(new Error('DuckDB store is closed'));
    // Check the whole batch first, so a bad row never leaves half a batch in the appender.
    try {
      for (const row of rows) checkRow(row);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue(() => this.append(rows));
  }

  /** Runs `step` after every step queued before it. */
  private enqueue(step: () => Promise<void>): Promise<void> {
    const done = this.writeTail.then(step);
    this.writeTail = done.catch(() => {});
    return done;
  }

  private async append(rows: readonly StoredRow[]): Promise<void> {
    if (rows.length === 0) return;
    const a = this.appender;
    const keys = new Map<string, { gatewayId: string; bootId: string; seq: number }>();
    for (const row of rows) if (row.batch) keys.set(batchKeyOf(row.batch.gatewayId, row.batch.bootId, row.batch.seq), row.batch);
    // A device seen for the first time gets its number in the same transaction as its rows.
    const fresh = new Map<string, number>();
    let nextDev = this.maxDev + 1;
    for (const row of rows) if (!this.devices.has(row.deviceId) && !fresh.has(row.deviceId)) fresh.set(row.deviceId, nextDev++);
    // Rows and their batch keys commit together: a batch is stored exactly when its key is.
    let inTransaction = false;
    try {
      if (keys.size > 0 || fresh.size > 0) {
        await this.writer.run('BEGIN TRANSACTION');
        inTransaction = true;
      }
      if (fresh.size > 0) {
        const list = [...fresh];
        await this.writer.run(`INSERT INTO device_numbers VALUES ${list.map(() => '(?, ?)').join(', ')}`, list.flatMap(([id, dev]) => [dev, id]));
      }
      for (const row of rows) {
        a.appendBigInt(BigInt(Math.trunc(row.ts)));
        a.appendVarchar(row.schoolId);
        a.appendVarchar(row.deviceId);
        a.appendVarchar(row.metric);
        const v = row.value;
        if (typeof v === 'number') {
          a.appendUTinyInt(KIND_NUMBER);
          a.appendDouble(v);
          a.appendNull();
        } else if (typeof v === 'boolean') {
          a.appendUTinyInt(KIND_BOOLEAN);
          a.appendDouble(v ? 1 : 0);
          a.appendNull();
        } else {
          a.appendUTinyInt(KIND_STRING);
          a.appendNull();
          a.appendVarchar(v);
        }
        a.appendBoolean(row.hist === true);
        if (row.batch) {
          a.appendVarchar(row.batch.gatewayId);
          a.appendVarchar(row.batch.bootId);
          a.appendBigInt(BigInt(row.batch.seq));
        } else {
          a.appendNull();
          a.appendNull();
          a.appendNull();
        }
        if (row.n === undefined) a.appendNull();
        else a.appendBigInt(BigInt(row.n));
        a.appendInteger(this.devices.get(row.deviceId) ?? fresh.get(row.deviceId)!);
        // Numbers used by a batch that fails are skipped: the marks need order, not density.
        a.appendBigInt(BigInt(this.nextArrival++));
        a.endRow();
      }
      a.flushSync(); // commits the batch (or, in a transaction, hands it to it)
      if (inTransaction) {
        const b = this.batchAppender;
        for (const [key, { gatewayId, bootId, seq }] of keys) {
          b.appendVarchar(key);
          b.appendVarchar(gatewayId);
          b.appendVarchar(bootId);
          b.appendBigInt(BigInt(seq));
          b.endRow();
        }
        b.flushSync();
        await this.writer.run('COMMIT');
        inTransaction = false;
        for (const { gatewayId, bootId } of keys.values()) this.boots.add(bootKeyOf(gatewayId, bootId));
      }
      for (const [id, dev] of fresh) {
        this.devices.set(id, dev);
        this.maxDev = Math.max(this.maxDev, dev);
      }
      this.rowsSinceCheckpoint += rows.length;
    } catch (err) {
      this.logger.error({ err, rows: rows.length }, 'DuckDB append failed; batch discarded');
      if (inTransaction) await this.writer.run('ROLLBACK').catch(() => {});
      // The appenders may hold part of the batch or be unusable: drop them and start afresh.
      for (const old of [a, this.batchAppender]) {
        try {
          old.clear();
          old.closeSync();
        } catch {
          /* already broken; replaced below */
        }
      }
      this.appender = await this.writer.createAppender(TABLE);
      this.batchAppender = await this.writer.createAppender('batches');
      throw err;
    }
    if (this.checkpointEveryRows > 0 && this.rowsSinceCheckpoint >= this.checkpointEveryRows) {
      await this.checkpoint();
    } else {
      this.armIdleCheckpoint();
    }
  }

  /** Asynchronous: DuckDB works off the JS thread while later writes wait in the chain. */
  private async checkpoint(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const pending = this.rowsSinceCheckpoint;
    try {
      await this.writer.run('CHECKPOINT');
      this.rowsSinceCheckpoint -= pending;
    } catch (err) {
      this.logger.warn({ err }, 'DuckDB checkpoint failed; will try again');
    }
  }

  private armIdleCheckpoint(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (!this.closing && this.rowsSinceCheckpoint > 0) void this.enqueue(() => this.checkpoint());
    }, this.checkpointIdleMs);
    this.idleTimer.unref();
  }

  async flush(): Promise<void> {
    await this.writeTail;
  }

  async history(q: HistoryQuery): Promise<HistoryBucket[]> {
    if (this.closing) throw new Error('DuckDB store is closed');
    checkQuery(q);
    if (q.metrics && q.metrics.length === 0) return [];
    if (q.to <= q.from) return [];
    const dev = this.devices.get(q.deviceId);
    if (dev === undefined) return []; // never stored a row
    const b = q.bucketMs;
    // ts is an integer, so ts >= from <=> ts >= ceil(from), and ts < to <=> ts < ceil(to);
    // both held within the times a JS Date can name, so every bound stays a safe integer.
    const clamp = (x: number) => Math.min(MAX_TIME_MS, Math.max(-MAX_TIME_MS, Math.ceil(x)));
    const query = {
      dev,
      ...(q.metrics ? { metrics: q.metrics } : {}),
      from: clamp(q.from),
      to: clamp(q.to),
      bucketMs: b,
      // Normalised into [0, bucketMs): the same buckets, and no negative arithmetic.
      origin: ((Math.trunc(q.origin ?? 0) % b) + b) % b,
    };
    if (query.to <= query.from) return [];
    const rows = await this.reads.use(async (c) => {
      // The marks and the rows they describe, read in one snapshot: a pass committing
      // meanwhile is either wholly seen (its run, its mark) or not at all.
      await c.run('BEGIN TRANSACTION');
      try {
        const state = (await c.runAndReadAll(`SELECT name, value FROM rollup_state WHERE name IN (${TIERS.map((t) => `'${t.name}'`).join(', ')})`)).getRowsJS();
        const marks = Object.fromEntries(state.map(([name, value]) => [name as string, Number(value as bigint)])) as Marks;
        const { sql, params } = planHistory(query, marks);
        return sql ? (await c.runAndReadAll(sql, params)).getRowsJS() : [];
      } finally {
        await c.run('COMMIT');
      }
    });
    return rows.map((r) => {
      const last = r[6] as { k: number; n: number | null; s: string | null } | null;
      return {
        metric: r[0] as string,
        t: Number(r[1] as bigint),
        count: Number(r[2] as bigint),
        avg: r[3] as number | null,
        min: r[4] as number | null,
        max: r[5] as number | null,
        last: last ? decodeValue(last.k, last.n, last.s) : null,
      };
    });
  }

  async count(): Promise<number> {
    if (this.closing) throw new Error('DuckDB store is closed');
    const rows = await this.reads.use(async (c) => (await c.runAndReadAll(`SELECT count(*) FROM ${TABLE}`)).getRowsJS());
    return Number(rows[0]![0] as bigint);
  }

  async deliveryReport(since: number): Promise<DeviceDelivery[]> {
    if (this.closing) throw new Error('DuckDB store is closed');
    // One row per stored sample: the rows of a sample share device, n and batch.
    const sql = `
      WITH samples AS (
        SELECT device_id, n, hist, min(arrival) AS arrived
        FROM ${TABLE} WHERE n IS NOT NULL AND ts >= ?
        GROUP BY device_id, n, hist, gateway_id, boot_id, seq
      ), ordered AS (
        SELECT device_id, n, max(n) OVER (PARTITION BY device_id, hist ORDER BY arrived
                                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS highest_before
        FROM samples
      )
      SELECT device_id, count(*), count(DISTINCT n), min(n), max(n),
             count(*) FILTER (WHERE highest_before > n)
      FROM ordered GROUP BY device_id ORDER BY device_id`;
    const rows = await this.reads.use(async (c) => (await c.runAndReadAll(sql, [BigInt(Math.trunc(since))])).getRowsJS());
    return rows.map(([deviceId, samples, distinct, minN, maxN, outOfOrder]) => ({
      deviceId: deviceId as string,
      samples: Number(samples as bigint),
      distinct: Number(distinct as bigint),
      minN: Number(minN as bigint),
      maxN: Number(maxN as bigint),
      outOfOrder: Number(outOfOrder as bigint),
    }));
  }

  writeEvent(event: GatewayEvent): Promise<void> {
    if (this.closing) return Promise.reject(new Error('DuckDB store is closed'));
    return this.enqueue(async () => {
      const gap = event.type === 'telemetry-gap' ? event : null;
      const ranges = gap?.batches ?? [];
      // One transaction: a report never sees an event without its batch ranges or the reverse.
      await this.writer.run('BEGIN TRANSACTION');
      try {
        await this.writer.run('INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?)', [
          event.eventId,
          event.schoolId,
          event.gatewayId,
          BigInt(event.ts),
          event.type,
          JSON.stringify(event),
        ]);
        for (let at = 0; at < ranges.length; at += GAP_INSERT_ROWS) {
          const part = ranges.slice(at, at + GAP_INSERT_ROWS);
          await this.writer.run(
            `INSERT OR IGNORE INTO gap_batches VALUES ${part.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}`,
            part.flatMap(([bootId, first, last]) => [event.eventId, event.gatewayId, bootId, BigInt(first), BigInt(last), BigInt(gap!.to)]),
          );
        }
        await this.writer.run('COMMIT');
      } catch (err) {
        await this.writer.run('ROLLBACK').catch(() => {});
        throw err;
      }
    });
  }

  async dropped(since: number): Promise<Record<string, number>> {
    if (this.closing) throw new Error('DuckDB store is closed');
    // What the gateways say they dropped, less what the district holds of the batches they
    // name (stored before the gap event came, or after it). One transaction: one snapshot.
    // A sample is one reading: its rows share device, batch and ts, one row per metric.
    const heldSql = `
      SELECT device_id, sum(samples) FROM (
        SELECT device_id, max(metric_rows) AS samples FROM (
          SELECT device_id, gateway_id, boot_id, seq, ts, metric, count(*) AS metric_rows
          FROM ${TABLE} r
          WHERE seq IS NOT NULL AND EXISTS (
            SELECT 1 FROM gap_batches g
            WHERE g.gateway_id = r.gateway_id AND g.boot_id = r.boot_id AND r.seq BETWEEN g.seq_from AND g.seq_to AND g.sample_to >= ?)
          GROUP BY ALL)
        GROUP BY device_id, gateway_id, boot_id, seq, ts)
      GROUP BY device_id`;
    const [gaps, held] = await this.reads.use(async (c) => {
      await c.run('BEGIN TRANSACTION');
      try {
        const gaps = (await c.runAndReadAll(`SELECT body FROM events WHERE type = 'telemetry-gap'`)).getRowsJS();
        const held = (await c.runAndReadAll(heldSql, [BigInt(Math.trunc(since))])).getRowsJS();
        return [gaps, held];
      } finally {
        await c.run('COMMIT');
      }
    });
    const dropped: Record<string, number> = {};
    for (const [body] of gaps) {
      const event = JSON.parse(body as string) as GatewayEvent;
      if (event.type === 'telemetry-gap' && event.to >= since)
        for (const [deviceId, count] of Object.entries(event.dropped)) dropped[deviceId] = (dropped[deviceId] ?? 0) + count;
    }
    for (const [deviceId, samples] of held) {
      const id = deviceId as string;
      if (dropped[id] !== undefined) dropped[id] = Math.max(0, dropped[id] - Number(samples as bigint | number));
    }
    for (const [deviceId, count] of Object.entries(dropped)) if (count === 0) delete dropped[deviceId];
    return dropped;
  }

  async events(q: { schoolId?: string; since?: number; limit?: number }): Promise<GatewayEvent[]> {
    if (this.closing) throw new Error('DuckDB store is closed');
    const params: (string | bigint)[] = [BigInt(Math.trunc(q.since ?? 0))];
    let where = 'ts >= ?';
    if (q.schoolId) {
      where += ' AND school_id = ?';
      params.push(q.schoolId);
    }
    const sql = `SELECT body FROM events WHERE ${where} ORDER BY ts DESC LIMIT ${Math.max(1, Math.min(10_000, Math.trunc(q.limit ?? 100)))}`;
    const rows = await this.reads.use(async (c) => (await c.runAndReadAll(sql, params)).getRowsJS());
    return rows.map((row) => JSON.parse(row[0] as string) as GatewayEvent);
  }

  writeCommand(command: CommandRecord): Promise<void> {
    if (this.closing) return Promise.reject(new Error('DuckDB store is closed'));
    return this.enqueue(async () => {
      await this.writer.run('INSERT INTO commands VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
        command.commandId,
        command.schoolId,
        command.deviceId,
        command.name,
        command.params && Object.keys(command.params).length > 0 ? JSON.stringify(command.params) : null,
        BigInt(command.issuedAt),
        BigInt(command.expiresAt),
        command.sentBy,
      ]);
    });
  }

  forgetCommand(commandId: string): Promise<void> {
    if (this.closing) return Promise.reject(new Error('DuckDB store is closed'));
    return this.enqueue(async () => {
      await this.writer.run('DELETE FROM commands WHERE command_id = ?', [commandId]);
    });
  }

  command(commandId: string): Promise<CommandRecord | null> {
    if (this.closing) return Promise.reject(new Error('DuckDB store is closed'));
    // Ingest asks this for every result: on the lookup connection, so the dashboards' queries
    // and their queue bound never hold it up.
    const lookup = this.lookupTail.then(async () => {
      const rows = (await this.lookups.runAndReadAll(`SELECT ${COMMAND_COLUMNS} FROM commands WHERE command_id = ?`, [commandId])).getRowsJS();
      return rows[0] ? commandFromRow(rows[0]) : null;
    });
    this.lookupTail = lookup.catch(() => {});
    return lookup;
  }

  async writeCommandResult(result: CommandResultRecord): Promise<boolean> {
    if (this.closing) throw new Error('DuckDB store is closed');
    let inserted = false;
    await this.enqueue(async () => {
      const done = await this.writer.run('INSERT OR IGNORE INTO command_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [
        result.resultId,
        result.commandId,
        result.gatewayId,
        result.outcome,
        result.reason ?? null,
        result.detail ?? null,
        result.values ? JSON.stringify(result.values) : null,
        result.first ?? null,
        BigInt(result.gatewayTs),
        BigInt(result.receivedAt),
      ]);
      inserted = done.rowsChanged > 0;
    });
    return inserted;
  }

  async commands(q: { deviceId: string; limit: number }): Promise<CommandWithResults[]> {
    if (this.closing) throw new Error('DuckDB store is closed');
    const limit = Math.max(1, Math.min(1000, Math.trunc(q.limit)));
    const sql = `
      SELECT ${COMMAND_COLUMNS.split(', ').map((c) => `c.${c}`).join(', ')},
             r.result_id, r.gateway_id, r.outcome, r.reason, r.detail, r.vals, r.first_outcome, r.gateway_ts, r.received_at
      FROM (SELECT *, rowid AS n FROM commands WHERE device_id = ? ORDER BY issued_at DESC, n DESC LIMIT ${limit}) c
      LEFT JOIN command_results r ON r.command_id = c.command_id
      ORDER BY c.issued_at DESC, c.n DESC, r.received_at, r.rowid`;
    const rows = await this.reads.use(async (c) => (await c.runAndReadAll(sql, [q.deviceId])).getRowsJS());
    const out: CommandWithResults[] = [];
    for (const row of rows) {
      const commandId = row[0] as string;
      let command = out.at(-1);
      if (command?.commandId !== commandId) out.push((command = { ...commandFromRow(row), results: [] }));
      const [resultId, gatewayId, outcome, reason, detail, vals, first, gatewayTs, receivedAt] = row.slice(8);
      if (resultId === null) continue; // no report yet (the LEFT JOIN's empty side)
      command.results.push({
        resultId: resultId as string,
        commandId,
        gatewayId: gatewayId as string,
        outcome: outcome as CommandOutcome,
        ...(reason !== null ? { reason: reason as CommandReason } : {}),
        ...(detail !== null ? { detail: detail as string } : {}),
        ...(vals !== null ? { values: JSON.parse(vals as string) as MetricValues } : {}),
        ...(first !== null ? { first: first as CommandOutcome } : {}),
        gatewayTs: Number(gatewayTs as bigint),
        receivedAt: Number(receivedAt as bigint),
      });
    }
    return out;
  }

  async hasBoot(gatewayId: string, bootId: string): Promise<boolean> {
    if (this.closing) throw new Error('DuckDB store is closed');
    return this.boots.has(bootKeyOf(gatewayId, bootId));
  }

  hasBatch(key: BatchKey): Promise<boolean> {
    if (this.closing) return Promise.reject(new Error('DuckDB store is closed'));
    if (!this.boots.has(bootKeyOf(key.gatewayId, key.bootId))) return Promise.resolve(false);
    const lookup = this.lookupTail.then(async () => {
      const rows = (await this.lookups.runAndReadAll('SELECT 1 FROM batches WHERE batch_key = ? LIMIT 1', [batchKeyOf(key.gatewayId, key.bootId, key.seq)])).getRowsJS();
      return rows.length > 0;
    });
    this.lookupTail = lookup.catch(() => {});
    return lookup;
  }

  queryStats(): QueryStats {
    return this.reads.stats();
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    try {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = null;
      if (this.maintenanceTimer) clearTimeout(this.maintenanceTimer);
      this.maintenanceTimer = null;
      // A running maintenance stops after its current step (rollups.ts checks `stopping`).
      await this.maintaining?.catch(() => {});
      await this.writeTail;
      // Checkpoint asynchronously now, so closeSync below has next to nothing left to do.
      if (this.rowsSinceCheckpoint > 0) await this.checkpoint();
      await this.reads.drain();
      await this.lookupTail;
      for (const appender of [this.appender, this.batchAppender]) {
        try {
          appender.closeSync();
        } catch (err) {
          this.logger.warn({ err }, 'closing a DuckDB appender failed');
        }
      }
      this.lookups.closeSync();
      this.maintenance.closeSync();
      this.reads.closeAll();
      this.writer.closeSync();
      this.instance.closeSync(); // checkpoints the WAL into the file and releases the lock
    } finally {
      openFiles.delete(this.file);
    }
  }
}

/** The columns of `commands`, in commandFromRow's order. */
const COMMAND_COLUMNS = 'command_id, school_id, device_id, name, params, issued_at, expires_at, sent_by';

function commandFromRow(row: readonly unknown[]): CommandRecord {
  const [commandId, schoolId, deviceId, name, params, issuedAt, expiresAt, sentBy] = row;
  return {
    commandId: commandId as string,
    schoolId: schoolId as string,
    deviceId: deviceId as string,
    name: name as string,
    ...(params !== null ? { params: JSON.parse(params as string) as Record<string, MetricValue> } : {}),
    issuedAt: Number(issuedAt as bigint),
    expiresAt: Number(expiresAt as bigint),
    sentBy: sentBy as string | null,
  };
}

function decodeValue(kind: number, num: number | null, str: string | null): MetricValue | null {
  switch (kind) {
    case KIND_NUMBER:
      return num;
    case KIND_BOOLEAN:
      return num === null ? null : num === 1;
    default:
      return str;
  }
}

/**
 * Refuses a row the appender could only half take: the whole batch is checked before any row
 * is appended. Integers must be safe (exact as JS numbers, far inside BIGINT).
 */
function checkRow(row: StoredRow): void {
  const t = typeof row.value;
  if (t !== 'number' && t !== 'boolean' && t !== 'string')
    throw new TypeError(`reading ${row.deviceId}/${row.metric}: unsupported value ${JSON.stringify(row.value)}`);
  if (t === 'number' && !Number.isFinite(row.value)) throw new TypeError(`reading ${row.deviceId}/${row.metric}: value ${row.value} is not finite`);
  if (!Number.isFinite(row.ts) || Math.abs(row.ts) > Number.MAX_SAFE_INTEGER) throw new TypeError(`reading ${row.deviceId}/${row.metric}: ts ${row.ts} is not a safe integer time`);
  if (row.n !== undefined && !Number.isSafeInteger(row.n)) throw new TypeError(`reading ${row.deviceId}/${row.metric}: counter n ${row.n} is not a safe integer`);
  if (row.batch && !(Number.isSafeInteger(row.batch.seq) && row.batch.seq >= 0)) throw new TypeError(`reading ${row.deviceId}/${row.metric}: batch seq ${row.batch.seq} is not a safe integer`);
}

function checkQuery(q: HistoryQuery): void {
  if (!Number.isInteger(q.bucketMs) || q.bucketMs <= 0) throw new RangeError(`bucketMs must be a positive integer, got ${q.bucketMs}`);
  if (!Number.isFinite(q.from) || !Number.isFinite(q.to)) throw new RangeError('from and to must be finite ms timestamps');
  if (q.origin !== undefined && !Number.isFinite(q.origin)) throw new RangeError('origin must be a finite ms timestamp');
}

/**
 * Up to `max` read connections, each running one query at a time; at most `maxQueued`
 * queries wait for one, and one more is refused at once (StoreBusyError) and counted.
 */
class ReadPool {
  private readonly idle: DuckDBConnection[] = [];
  private readonly all: DuckDBConnection[] = [];
  private readonly waiters: ((c: DuckDBConnection) => void)[] = [];
  private opening = 0;
  private readonly inFlight = new Set<Promise<unknown>>();
  private refused = 0;

  constructor(
    private readonly instance: DuckDBInstance,
    private readonly max: number,
    private readonly maxQueued: number,
  ) {}

  stats(): QueryStats {
    return { running: this.all.length - this.idle.length, queued: this.waiters.length, maxQueued: this.maxQueued, refused: this.refused };
  }

  use<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    // Only a query that would have to wait is refused: a free or openable connection always serves.
    if (this.idle.length === 0 && this.all.length + this.opening >= this.max && this.waiters.length >= this.maxQueued) {
      this.refused++;
      return Promise.reject(new StoreBusyError(this.waiters.length, BUSY_RETRY_AFTER_S));
    }
    const p = (async () => {
      const c = await this.acquire();
      try {
        return await fn(c);
      } finally {
        this.release(c);
      }
    })();
    this.inFlight.add(p);
    void p.then(
      () => this.inFlight.delete(p),
      () => this.inFlight.delete(p),
    );
    return p;
  }

  private async acquire(): Promise<DuckDBConnection> {
    const c = this.idle.pop();
    if (c) return c;
    if (this.all.length + this.opening < this.max) {
      this.opening++;
      try {
        const fresh = await this.instance.connect();
        this.all.push(fresh);
        return fresh;
      } finally {
        this.opening--;
      }
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(c: DuckDBConnection): void {
    const next = this.waiters.shift();
    if (next) next(c);
    else this.idle.push(c);
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  closeAll(): void {
    for (const c of this.all) c.closeSync();
    this.all.length = 0;
    this.idle.length = 0;
  }
}
