import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDbStore, type DuckDbStore } from '../src/storage/duckdb-store.ts';
import { openStorage, readingToRows, type HistoryBucket, type StoredRow } from '../src/storage/index.ts';
import { waitFor } from '../../simulators/test/support/wait.ts';

const MIN = 60_000;
/** A minute boundary, so epoch-aligned one-minute buckets start at T0. */
const T0 = Date.UTC(2025, 0, 6, 8, 0, 0);

const row = (deviceId: string, metric: string, dt: number, value: StoredRow['value'], schoolId = 'sch-1'): StoredRow => ({
  schoolId,
  deviceId,
  metric,
  ts: T0 + dt,
  value,
});

/**
 * The known data set. For dev-1, bucket [T0, T0+1min):
 *   temp  10 @1s, 20 @30s, 30 @59.999s (written out of time order) -> n 3, avg 20, min 10, max 30, last 30
 *   on    true @0s, true @15s, false @30s, true @45s                  -> n 4, avg .75, min 0, max 1, last true
 *   mode  'eco' @10s, 'boost' @50s                                     -> n 2, no avg/min/max, last 'boost'
 * bucket [T0+1min, T0+2min): temp 5 @60s (the boundary belongs to the later bucket), on false @90s
 * dev-2 has its own temp values that must never show up in dev-1's history.
 */
const DATA: StoredRow[] = [
  row('dev-1', 'temp', 59_999, 30),
  row('dev-1', 'temp', 1_000, 10),
  row('dev-1', 'temp', 30_000, 20),
  row('dev-1', 'temp', 60_000, 5),
  row('dev-1', 'on', 0, true),
  row('dev-1', 'on', 15_000, true),
  row('dev-1', 'on', 30_000, false),
  row('dev-1', 'on', 45_000, true),
  row('dev-1', 'on', 90_000, false),
  row('dev-1', 'mode', 10_000, 'eco'),
  row('dev-1', 'mode', 50_000, 'boost'),
  row('dev-2', 'temp', 1_000, 1000, 'sch-2'),
  row('dev-2', 'temp', 2_000, -1000, 'sch-2'),
];

const bucket = (metric: string, t: number, count: number, avg: number | null, min: number | null, max: number | null, last: HistoryBucket['last']) => ({
  metric,
  t,
  count,
  avg,
  min,
  max,
  last,
});

/** Opens the file from a separate node process, as another program would, and counts rows. */
async function countInOtherProcess(file: string): Promise<number> {
  const script = `
    const { DuckDBInstance } = require('@duckdb/node-api');
    (async () => {
      const db = await DuckDBInstance.create(process.argv[1], { access_mode: 'READ_ONLY' });
      const c = await db.connect();
      const r = await c.runAndReadAll('SELECT count(*) FROM readings');
      process.stdout.write(String(r.getRows()[0][0]));
      c.closeSync();
      db.closeSync();
    })().catch((e) => { process.stderr.write(String(e)); process.exit(1); });`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script, file], { cwd: process.cwd() });
  return Number(stdout);
}

describe('DuckDB reading store (real database file)', () => {
  let dir: string;
  let file: string;
  let store: DuckDbStore;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'schoolops-duckdb-'));
    file = join(dir, 'nested', 'dir', 'readings.duckdb');
    store = await openDuckDbStore({ file });
    await store.write(DATA.slice(0, 6));
    await store.write(DATA.slice(6));
  });

  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the file under missing parent directories', () => {
    expect(statSync(file).isFile()).toBe(true);
    expect(store.file).toBe(file);
  });

  it('counts every row', async () => {
    expect(await store.count()).toBe(DATA.length);
  });

  it('aggregates numbers, booleans and strings per bucket, sorted by metric then t', async () => {
    const got = await store.history({ deviceId: 'dev-1', from: T0, to: T0 + 2 * MIN, bucketMs: MIN });
    expect(got).toEqual([
      bucket('mode', T0, 2, null, null, null, 'boost'),
      bucket('on', T0, 4, 0.75, 0, 1, true),
      bucket('on', T0 + MIN, 1, 0, 0, 0, false),
      bucket('temp', T0, 3, 20, 10, 30, 30),
      bucket('temp', T0 + MIN, 1, 5, 5, 5, 5),
    ]);
  });

  it('keeps devices apart', async () => {
    const got = await store.history({ deviceId: 'dev-2', from: T0, to: T0 + 2 * MIN, bucketMs: MIN });
    expect(got).toEqual([bucket('temp', T0, 2, 0, -1000, 1000, -1000)]);
    expect(await store.history({ deviceId: 'no-such-device', from: T0, to: T0 + 2 * MIN, bucketMs: MIN })).toEqual([]);
  });

  it('filters by metric', async () => {
    const got = await store.history({ deviceId: 'dev-1', metrics: ['temp', 'mode'], from: T0, to: T0 + 2 * MIN, bucketMs: MIN });
    expect(got.map((b) => `${b.metric}@${b.t - T0}`)).toEqual(['mode@0', 'temp@0', `temp@${MIN}`]);
    expect(await store.history({ deviceId: 'dev-1', metrics: ['nope'], from: T0, to: T0 + 2 * MIN, bucketMs: MIN })).toEqual([]);
    expect(await store.history({ deviceId: 'dev-1', metrics: [], from: T0, to: T0 + 2 * MIN, bucketMs: MIN })).toEqual([]);
  });

  it('treats from as inclusive and to as exclusive', async () => {
    // from = 30s includes temp 20 @30s; to = 60s excludes temp 5 @60s.
    const got = await store.history({ deviceId: 'dev-1', metrics: ['temp'], from: T0 + 30_000, to: T0 + 60_000, bucketMs: MIN });
    expect(got).toEqual([bucket('temp', T0, 2, 25, 20, 30, 30)]);
    // Moving each bound by one ms flips exactly one sample.
    const narrower = await store.history({ deviceId: 'dev-1', metrics: ['temp'], from: T0 + 30_001, to: T0 + 60_001, bucketMs: MIN });
    expect(narrower).toEqual([bucket('temp', T0, 1, 30, 30, 30, 30), bucket('temp', T0 + MIN, 1, 5, 5, 5, 5)]);
    expect(await store.history({ deviceId: 'dev-1', from: T0 + MIN, to: T0 + MIN, bucketMs: MIN })).toEqual([]);
  });

  it('aligns buckets to an origin (e.g. local midnight)', async () => {
    const got = await store.history({ deviceId: 'dev-1', metrics: ['temp'], from: T0, to: T0 + 2 * MIN, bucketMs: MIN, origin: 30_000 });
    expect(got).toEqual([bucket('temp', T0 - 30_000, 1, 10, 10, 10, 10), bucket('temp', T0 + 30_000, 3, 55 / 3, 5, 30, 5)]);
    // A whole day with a Vietnam (UTC+7) origin starts at 17:00 UTC the day before.
    const day = 86_400_000;
    const days = await store.history({ deviceId: 'dev-1', metrics: ['temp'], from: T0 - day, to: T0 + day, bucketMs: day, origin: -7 * 3_600_000 });
    expect(days).toHaveLength(1);
    expect(new Date(days[0]!.t).toISOString()).toBe('2025-01-05T17:00:00.000Z');
    expect(days[0]!.count).toBe(4);
  });

  it('picks the row written last when two samples share a ts', async () => {
    await store.write([row('dev-3', 'level', 5_000, 1)]);
    await store.write([row('dev-3', 'level', 5_000, 2)]);
    await store.write([row('dev-3', 'level', 4_000, 99)]); // later write, earlier sample
    const got = await store.history({ deviceId: 'dev-3', from: T0, to: T0 + MIN, bucketMs: MIN });
    expect(got).toEqual([bucket('level', T0, 3, 34, 1, 99, 2)]);
  });

  it('refuses a bad batch as a whole and keeps working', async () => {
    const before = await store.count();
    const bad = [row('dev-4', 'x', 0, 1), { ...row('dev-4', 'x', 1, 2), value: { nested: true } as unknown as number }];
    await expect(store.write(bad)).rejects.toThrow(/unsupported value/);
    await expect(store.write([{ ...row('dev-4', 'x', 0, 1), ts: Number.NaN }])).rejects.toThrow(/ts/);
    expect(await store.count()).toBe(before);
    await store.write([row('dev-4', 'x', 0, 1)]);
    expect(await store.count()).toBe(before + 1);
  });

  it('rejects nonsense queries', async () => {
    await expect(store.history({ deviceId: 'dev-1', from: T0, to: T0 + MIN, bucketMs: 0 })).rejects.toThrow(/bucketMs/);
    await expect(store.history({ deviceId: 'dev-1', from: T0, to: T0 + MIN, bucketMs: 1.5 })).rejects.toThrow(/bucketMs/);
    await expect(store.history({ deviceId: 'dev-1', from: Number.NaN, to: T0 + MIN, bucketMs: MIN })).rejects.toThrow(/finite/);
  });

  it('lands every row of many concurrent writes, with queries running alongside', async () => {
    const before = await store.count();
    const writers = 40;
    const perBatch = 250;
    const writes = Array.from({ length: writers }, (_, w) =>
      store.write(Array.from({ length: perBatch }, (_, i) => row('dev-load', `m${w % 4}`, w * perBatch + i, i % 2 === 0 ? i : i % 3 === 0))),
    );
    const queries = Array.from({ length: 10 }, () => store.history({ deviceId: 'dev-load', from: T0, to: T0 + 1_000 * MIN, bucketMs: MIN }));
    await Promise.all([...writes, ...queries]);
    expect(await store.count()).toBe(before + writers * perBatch);
    const buckets = await store.history({ deviceId: 'dev-load', from: T0, to: T0 + 1_000 * MIN, bucketMs: 1_000 * MIN });
    expect(buckets.map((b) => b.metric)).toEqual(['m0', 'm1', 'm2', 'm3']);
    expect(buckets.reduce((n, b) => n + b.count, 0)).toBe(writers * perBatch);
  });

  it('rejects a second open of the same file in this process', async () => {
    await expect(openDuckDbStore({ file })).rejects.toThrow(/already open/);
  });

  it('releases the file on close; reopening sees the data', async () => {
    const expected = await store.count();
    const history = await store.history({ deviceId: 'dev-1', from: T0, to: T0 + 2 * MIN, bucketMs: MIN });
    await store.close();
    await store.close(); // idempotent
    await expect(store.count()).rejects.toThrow(/closed/);
    await expect(store.write([row('dev-1', 'temp', 0, 1)])).rejects.toThrow(/closed/);

    // Another process can open the file only once this one has let go of its lock.
    expect(await countInOtherProcess(file)).toBe(expected);

    store = await openDuckDbStore({ file });
    expect(await store.count()).toBe(expected);
    expect(await store.history({ deviceId: 'dev-1', from: T0, to: T0 + 2 * MIN, bucketMs: MIN })).toEqual(history);
    await store.write([row('dev-1', 'temp', 2 * MIN, 7)]);
    expect(await store.count()).toBe(expected + 1);
  });
});

describe('DuckDB checkpoints', () => {
  const walSize = (file: string) => (existsSync(`${file}.wal`) ? statSync(`${file}.wal`).size : 0);
  const rows = (n: number, from = 0) => Array.from({ length: n }, (_, i) => row('dev-ck', 'v', from + i, i));

  it('checkpoints off the JS thread after checkpointEveryRows rows and when idle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'schoolops-duckdb-ck-'));
    const file = join(dir, 'r.duckdb');
    const store = await openDuckDbStore({ file, checkpointEveryRows: 1000, checkpointIdleMs: 200 });
    try {
      await store.write(rows(999));
      expect(walSize(file)).toBeGreaterThan(0); // committed into the WAL only
      await store.write(rows(1, 999)); // the 1,000th row triggers a checkpoint
      expect(walSize(file)).toBe(0);
      await store.write(rows(10, 1000));
      expect(walSize(file)).toBeGreaterThan(0); // 10 rows: no checkpoint by count
      // With no further write, only the idle checkpoint can empty the WAL.
      await waitFor(() => walSize(file) === 0, 'the idle checkpoint to empty the WAL', { everyMs: 20 });
      expect(await store.count()).toBe(1010);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('openStorage without InfluxDB', () => {
  it('stores at dataDir/readings.duckdb and flattens readings into rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'schoolops-storage-'));
    try {
      const storage = await openStorage({ dataDir: dir });
      expect(storage.influx).toBeNull();
      expect(storage.duckdb.file).toBe(join(dir, 'readings.duckdb'));
      const rows = readingToRows('sch-9', { deviceId: 'proj-1', ts: T0, values: { lampHours: 1200, power: true, input: 'hdmi1' }, hist: true });
      expect(rows).toEqual([
        { schoolId: 'sch-9', deviceId: 'proj-1', metric: 'lampHours', ts: T0, value: 1200, hist: true },
        { schoolId: 'sch-9', deviceId: 'proj-1', metric: 'power', ts: T0, value: true, hist: true },
        { schoolId: 'sch-9', deviceId: 'proj-1', metric: 'input', ts: T0, value: 'hdmi1', hist: true },
      ]);
      await storage.write(rows);
      await storage.flush();
      expect(await storage.count()).toBe(3);
      expect(await storage.history({ deviceId: 'proj-1', from: T0, to: T0 + 1, bucketMs: MIN })).toEqual([
        bucket('input', T0, 1, null, null, null, 'hdmi1'),
        bucket('lampHours', T0, 1, 1200, 1200, 1200, 1200),
        bucket('power', T0, 1, 1, 1, 1, true),
      ]);
      await storage.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
