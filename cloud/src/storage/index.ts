/**
 * The cloud's storage: DuckDB always stores and answers queries; when configured, every
 * row is also copied to InfluxDB. The copy is best effort by design: it never blocks,
 * fails or loses a DuckDB write (its own losses are counted in influx.stats()).
 */
import { join } from 'node:path';
import type { GatewayEvent, Reading } from '@schoolops/device-profiles';
import { openDuckDbStore, type DuckDbStore } from './duckdb-store.ts';
import { createInfluxSink, type InfluxSink, type InfluxSinkOptions } from './influx-sink.ts';
import type { RetentionDays } from './rollups.ts';
import {
  silentLogger,
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

export * from './types.ts';
export { openDuckDbStore, type DuckDbStore, type DuckDbStoreOptions } from './duckdb-store.ts';
export { DEFAULT_RETENTION, TIERS, type MaintenanceReport, type RetentionDays } from './rollups.ts';
export { createInfluxSink, INFLUX_MEASUREMENT, type InfluxSink, type InfluxSinkOptions, type InfluxSinkStats } from './influx-sink.ts';

export interface StorageConfig {
  /** DuckDB lives at `${dataDir}/readings.duckdb`. */
  dataDir: string;
  /** When present, every written row is also sent to InfluxDB. */
  influx?: Omit<InfluxSinkOptions, 'logger'>;
  logger?: StorageLogger;
  /** How long raw rows and each rollup tier are kept (days; DEFAULT_RETENTION for what is left out). */
  retention?: Partial<RetentionDays>;
  /** Roll up, compact and apply retention this often (ms; default 5 min). */
  rollupEveryMs?: number;
}

export interface Storage extends ReadingStore, CommandLog {
  readonly duckdb: DuckDbStore;
  /** null when no InfluxDB is configured. */
  readonly influx: InfluxSink | null;
}

export const DUCKDB_FILE_NAME = 'readings.duckdb';

export async function openStorage(config: StorageConfig): Promise<Storage> {
  const logger = config.logger ?? silentLogger;
  const duckdb = await openDuckDbStore({
    file: join(config.dataDir, DUCKDB_FILE_NAME),
    logger,
    ...(config.retention ? { retention: config.retention } : {}),
    ...(config.rollupEveryMs !== undefined ? { rollupEveryMs: config.rollupEveryMs } : {}),
  });
  const influx = config.influx ? createInfluxSink({ ...config.influx, logger }) : null;
  return new FanOutStorage(duckdb, influx, logger);
}

/**
 * Readings gateways dropped for their disk quota (telemetry-gap events reaching `since`)
 * that the district does not hold, per device: see ReadingStore.dropped.
 */
export function droppedSince(store: Pick<ReadingStore, 'dropped'>, since: number): Promise<Record<string, number>> {
  return store.dropped(since);
}

/** One uplink reading as rows: one per metric value, all at the reading's ts. */
export function readingToRows(schoolId: string, reading: Reading, batch?: BatchKey): StoredRow[] {
  const rows: StoredRow[] = [];
  for (const [metric, value] of Object.entries(reading.values)) {
    const row: StoredRow = { schoolId, deviceId: reading.deviceId, metric, ts: reading.ts, value, hist: reading.hist === true };
    if (batch) row.batch = batch;
    if (reading.n !== undefined) row.n = reading.n;
    rows.push(row);
  }
  return rows;
}

class FanOutStorage implements Storage {
  readonly name = 'storage';
  private closing: Promise<void> | null = null;

  constructor(
    readonly duckdb: DuckDbStore,
    readonly influx: InfluxSink | null,
    private readonly logger: StorageLogger,
  ) {}

  async write(rows: readonly StoredRow[]): Promise<void> {
    await this.duckdb.write(rows);
    // Only rows DuckDB holds are copied, so both stores see the same readings. The sink only
    // buffers and never rejects; the catch is a second guard for the hot path.
    this.influx?.write(rows).catch((err: unknown) => this.logger.error({ err }, 'InfluxDB copy failed'));
  }

  async flush(): Promise<void> {
    await Promise.all([this.duckdb.flush(), this.influx?.flush().catch(() => {})]);
  }

  history(q: HistoryQuery): Promise<HistoryBucket[]> {
    return this.duckdb.history(q);
  }

  historyTiers(): HistoryTier[] {
    return this.duckdb.historyTiers();
  }

  writeEvent(event: GatewayEvent): Promise<void> {
    return this.duckdb.writeEvent(event);
  }

  events(q: { schoolId?: string; since?: number; limit?: number }): Promise<GatewayEvent[]> {
    return this.duckdb.events(q);
  }

  dropped(since: number): Promise<Record<string, number>> {
    return this.duckdb.dropped(since);
  }

  deliveryReport(since: number): Promise<DeviceDelivery[]> {
    return this.duckdb.deliveryReport(since);
  }

  hasBoot(gatewayId: string, bootId: string): Promise<boolean> {
    return this.duckdb.hasBoot(gatewayId, bootId);
  }

  hasBatch(key: BatchKey): Promise<boolean> {
    return this.duckdb.hasBatch(key);
  }

  queryStats(): QueryStats {
    return this.duckdb.queryStats();
  }

  // Commands live in DuckDB only: they are the district's own record, not readings to copy.
  writeCommand(command: CommandRecord): Promise<void> {
    return this.duckdb.writeCommand(command);
  }

  forgetCommand(commandId: string): Promise<void> {
    return this.duckdb.forgetCommand(commandId);
  }

  command(commandId: string): Promise<CommandRecord | null> {
    return this.duckdb.command(commandId);
  }

  writeCommandResult(result: CommandResultRecord): Promise<boolean> {
    return this.duckdb.writeCommandResult(result);
  }

  commands(q: { deviceId: string; limit: number }): Promise<CommandWithResults[]> {
    return this.duckdb.commands(q);
  }

  count(): Promise<number> {
    return this.duckdb.count();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const [duck, influx] = await Promise.allSettled([this.duckdb.close(), this.influx?.close()]);
      if (influx.status === 'rejected') this.logger.error({ err: influx.reason }, 'closing the InfluxDB sink failed');
      if (duck.status === 'rejected') throw duck.reason;
    })();
    return this.closing;
  }
}
