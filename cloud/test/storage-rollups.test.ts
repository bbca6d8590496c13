/**
 * Rollups and retention of the DuckDB store, on real files: whatever mix of raw rows and
 * rollup tiers answers a history question, the answer equals history computed in plain JS
 * from every row written (support/rollup-data.ts). Time is the test's: the store reads an
 * injected clock, maintenance runs only when the test calls maintain(), and fan-ins are small
 * so a few simulated hours make runs at every tier and compact them.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCloudConfig, storageOptions } from '../src/config.ts';
import { openDuckDbStore, type DuckDbStore, type DuckDbStoreOptions } from '../src/storage/duckdb-store.ts';
import type { HistoryQuery, StoredRow } from '../src/storage/index.ts';
import { DAY, HOUR, MIN, deviceRows, oracle, rng, sameHistory } from './support/rollup-data.ts';
import { WRITER_BATCH, WRITER_T0, writerBatch } from './support/rollup-writer.ts';

/** A Monday, on an hour. */
const T0 = Date.UTC(2026, 10, 2, 0, 0, 0);
/** Small fan-ins: 3 runs of 1m make a 15m pass, 2 of 15m a 1h pass, and each compacts at that count. */
const FAN_IN = { '1m': 3, '15m': 2, '1h': 2 };

const BUCKETS = [10_000, MIN, 90_000, 5 * MIN, 15 * MIN, HOUR, 3 * HOUR, DAY];

/** Every question the comparisons ask of a range: each bucket width, whole and ragged ends, one metric. */
function questions(deviceId: string, from: number, to: number): HistoryQuery[] {
  const out: HistoryQuery[] = [];
  for (const bucketMs of BUCKETS) {
    out.push({ deviceId, from, to, bucketMs });
    out.push({ deviceId, from: from + 12_345, to: to - 6_789, bucketMs });
    out.push({ deviceId, from: from + 37 * MIN + 500, to: from + 5 * HOUR + 3 * MIN, bucketMs, metrics: ['temp', 'inBps'] });
  }
  out.push({ deviceId, from, to, bucketMs: MIN, origin: 30_000 }); // not aligned with any tier: raw only
  out.push({ deviceId, from, to, bucketMs: HOUR, origin: -7 * HOUR }); // Vietnam-local hours: tiers still line up
  return out;
}

async function expectSameAsOracle(store: DuckDbStore, written: readonly StoredRow[], qs: readonly HistoryQuery[]): Promise<void> {
  for (const q of qs) {
    const problem = sameHistory(await store.history(q), oracle(written, q));
    expect(problem, JSON.stringify({ ...q, from: new Date(q.from).toISOString(), to: new Date(q.to).toISOString() })).toBeNull();
  }
}

/**
 * Runs the district for `hours` from `start`: every 20 simulated minutes, that period's
 * readings in batches of 500, then maintenance.
 */
async function operate(store: DuckDbStore, clock: { now: number }, written: StoredRow[], start: number, hours: number, random: () => number, silentFrom?: number) {
  for (let t = start; t < start + hours * HOUR; t += 20 * MIN) {
    const rows = deviceRows(t, t + 20 * MIN, random, silentFrom);
    for (let i = 0; i < rows.length; i += 500) {
      await store.write(rows.slice(i, i + 500));
      written.push(...rows.slice(i, i + 500));
    }
    clock.now = t + 20 * MIN + 5_000;
    await store.maintain();
  }
}

describe('rollups (real DuckDB files, the test clock)', () => {
  let dir: string;
  let file: string;
  let store: DuckDbStore;
  const clock = { now: T0 };
  const written: StoredRow[] = [];
  const random = rng(7);
  const options = (): DuckDbStoreOptions => ({ file, rollupEveryMs: 0, rollupFanIn: FAN_IN, now: () => clock.now });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'schoolops-rollups-'));
    file = join(dir, 'readings.duckdb');
    store = await openDuckDbStore(options());
    // 14 hours with d1 silent from 05:00 to 06:00 (a gap the answers must leave as one).
    await operate(store, clock, written, T0, 14, random, T0 + 5 * HOUR);
  });

  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes runs at every tier, compacts them, and answers exactly what the raw rows say', async () => {
    const { marks, runs } = store.rollupState();
    expect(marks['1m']).toBeGreaterThan(0);
    expect(marks['15m']).toBeGreaterThan(0);
    expect(marks['1h']).toBeGreaterThan(0);
    for (const tier of ['1m', '15m', '1h'] as const) expect(runs[tier].some((r) => r.level === 1), `${tier} has a compacted run`).toBe(true);
    expect(Object.values(runs).flat().some((r) => r.level === 0), 'some run not compacted yet').toBe(true);
    await expectSameAsOracle(store, written, [...questions('d1', T0, T0 + 14 * HOUR), ...questions('d2', T0, T0 + 14 * HOUR)]);
  });

  it('leaves a bucket without samples out of the answer (a gap)', async () => {
    const got = await store.history({ deviceId: 'd1', metrics: ['temp'], from: T0 + 4 * HOUR, to: T0 + 7 * HOUR, bucketMs: 15 * MIN });
    const quarters = got.map((b) => (b.t - T0) / (15 * MIN));
    expect(quarters).toEqual([16, 17, 18, 19, 24, 25, 26, 27]); // 05:00-06:00 absent
  });

  it('includes rows written since the last pass (the raw tail), exactly once', async () => {
    const rows = deviceRows(T0 + 14 * HOUR, T0 + 14 * HOUR + 7 * MIN, random);
    await store.write(rows);
    written.push(...rows);
    await expectSameAsOracle(store, written, questions('d1', T0, T0 + 15 * HOUR));
    await store.maintain();
    await expectSameAsOracle(store, written, questions('d1', T0, T0 + 15 * HOUR));
  });

  it('folds a gateway backlog (old readings arriving late) into buckets already rolled up', async () => {
    // The silent hour's readings arrive now, replayed from the gateway's disk, plus one sample
    // at the very time of an existing one: stored later, it becomes its bucket's last.
    const backlog = deviceRows(T0 + 5 * HOUR, T0 + 6 * HOUR, rng(99)).filter((r) => r.deviceId === 'd1').map((r) => ({ ...r, hist: true }));
    const twin = written.find((r) => r.deviceId === 'd1' && r.metric === 'temp' && r.ts >= T0 + 2 * HOUR)!;
    backlog.push({ ...twin, value: -40, hist: true });
    const before = await store.history({ deviceId: 'd1', from: T0, to: T0 + 14 * HOUR, bucketMs: HOUR });
    for (let i = 0; i < backlog.length; i += 100) {
      await store.write(backlog.slice(i, i + 100));
      written.push(...backlog.slice(i, i + 100));
    }
    // Right away (the backlog still raw) and after it is rolled up and compacted in.
    await expectSameAsOracle(store, written, questions('d1', T0, T0 + 15 * HOUR));
    for (let i = 0; i < 6; i++) {
      clock.now += 20 * MIN;
      await store.maintain();
    }
    await expectSameAsOracle(store, written, questions('d1', T0, T0 + 15 * HOUR));
    const after = await store.history({ deviceId: 'd1', from: T0, to: T0 + 14 * HOUR, bucketMs: HOUR });
    const at = (list: typeof after, hour: number, metric: string) => list.find((b) => b.metric === metric && b.t === T0 + hour * HOUR);
    expect(at(before, 5, 'temp')).toBeUndefined();
    expect(at(after, 5, 'temp')!.count).toBe(120);
    expect(at(after, 2, 'temp')!.count).toBe(at(before, 2, 'temp')!.count + 1);
    expect(at(after, 2, 'temp')!.min).toBe(-40);
    const minute = await store.history({ deviceId: 'd1', metrics: ['temp'], from: twin.ts, to: twin.ts + 1, bucketMs: MIN });
    expect(minute.map((b) => [b.count, b.last])).toEqual([[2, -40]]);
  });

  it('resumes after a restart without losing or counting anything twice', async () => {
    // Rows written but not rolled up when the store closes are rolled up after it opens.
    const rows = deviceRows(T0 + 15 * HOUR, T0 + 15 * HOUR + 50 * MIN, random);
    await store.write(rows);
    written.push(...rows);
    const marks = store.rollupState().marks;
    await store.close();
    store = await openDuckDbStore(options());
    expect(store.rollupState().marks).toEqual(marks);
    await expectSameAsOracle(store, written, questions('d2', T0, T0 + 16 * HOUR));
    await operate(store, clock, written, T0 + 16 * HOUR, 2, random);
    await store.close();
    store = await openDuckDbStore(options());
    await expectSameAsOracle(store, written, [...questions('d1', T0, T0 + 18 * HOUR), ...questions('d2', T0, T0 + 18 * HOUR)]);
  });
});

describe('retention settings', () => {
  it('are taken from the cloud config, and a level kept shorter than the one it is fed from is refused', async () => {
    const base = { v: 1, http: { host: '127.0.0.1', port: 0 }, mqtt: { url: 'mqtt://127.0.0.1:1', username: 'cloud', password: 'x' }, dataDir: '/tmp/x', inventoryFile: '/tmp/x.json' };
    const config = parseCloudConfig({ ...base, storage: { retention: { rawDays: 3, hourDays: 800 }, rollupEverySeconds: 60 } });
    expect(storageOptions(config)).toEqual({ retention: { rawDays: 3, hourDays: 800 }, rollupEveryMs: 60_000 });
    expect(storageOptions(parseCloudConfig(base))).toEqual({});
    expect(() => parseCloudConfig({ ...base, storage: { retention: { rawDays: 0 } } })).toThrow(/rawDays/);
    expect(() => parseCloudConfig({ ...base, storage: { retention: { weeks: 2 } } })).toThrow();

    const dir = mkdtempSync(join(tmpdir(), 'schoolops-retention-cfg-'));
    try {
      await expect(openDuckDbStore({ file: join(dir, 'a.duckdb'), retention: { rawDays: 30 } })).rejects.toThrow(/minuteDays \(7 days\) must be at least retention.rawDays \(30 days\)/);
      // The file is free again after a refused open.
      const store = await openDuckDbStore({ file: join(dir, 'a.duckdb'), retention: { rawDays: 30, minuteDays: 30 }, rollupEveryMs: 0 });
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a file from before rollups', () => {
  it('numbers its rows once at open, in the order they were stored, and rolls them up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'schoolops-rollups-old-'));
    const file = join(dir, 'readings.duckdb');
    try {
      // The readings table as the store made it before rollups (no dev, no arrival).
      const rows = deviceRows(T0, T0 + 3 * HOUR, rng(5));
      const twin = { ...rows.find((r) => r.metric === 'temp')!, value: 99 }; // same time, stored later: the last
      const old = await DuckDBInstance.create(file);
      const c = await old.connect();
      await c.run(`CREATE TABLE readings (ts BIGINT NOT NULL, school_id VARCHAR NOT NULL, device_id VARCHAR NOT NULL, metric VARCHAR NOT NULL,
                   kind UTINYINT NOT NULL, num DOUBLE, str VARCHAR, hist BOOLEAN NOT NULL, gateway_id VARCHAR, boot_id VARCHAR, seq BIGINT, n BIGINT)`);
      const appender = await c.createAppender('readings');
      for (const r of [...rows, twin]) {
        appender.appendBigInt(BigInt(r.ts));
        appender.appendVarchar(r.schoolId);
        appender.appendVarchar(r.deviceId);
        appender.appendVarchar(r.metric);
        const kind = typeof r.value === 'number' ? 0 : typeof r.value === 'boolean' ? 1 : 2;
        appender.appendUTinyInt(kind);
        if (kind === 2) appender.appendNull();
        else appender.appendDouble(typeof r.value === 'boolean' ? (r.value ? 1 : 0) : (r.value as number));
        if (kind === 2) appender.appendVarchar(r.value as string);
        else appender.appendNull();
        appender.appendBoolean(false);
        for (let i = 0; i < 4; i++) appender.appendNull();
        appender.endRow();
      }
      appender.closeSync();
      c.closeSync();
      old.closeSync();

      const written = [...rows, twin];
      const store = await openDuckDbStore({ file, rollupEveryMs: 0, rollupFanIn: FAN_IN, now: () => T0 + 3 * HOUR });
      try {
        await expectSameAsOracle(store, written, questions('d1', T0, T0 + 4 * HOUR));
        await store.maintain();
        expect(store.rollupState().marks['1m']).toBe(written.length);
        const more = deviceRows(T0 + 3 * HOUR, T0 + 4 * HOUR, rng(6));
        await store.write(more);
        written.push(...more);
        await store.maintain();
        await expectSameAsOracle(store, written, [...questions('d1', T0, T0 + 4 * HOUR), ...questions('d2', T0, T0 + 4 * HOUR)]);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rollups after a kill -9', () => {
  it('loses no committed row and counts none twice, wherever the writer died', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'schoolops-rollups-kill-'));
    const file = join(dir, 'readings.duckdb');
    try {
      // A separate process writes batches and maintains after every third; it dies by
      // SIGKILL once it has said it did 40 batches (some of it mid-maintenance, mid-write).
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'support', 'rollup-writer.ts'), file], { stdio: ['ignore', 'pipe', 'inherit'] });
      const lines = createInterface({ input: child.stdout! });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await new Promise<void>((resolve, reject) => {
        lines.on('line', (line) => {
          if (Number(line) >= 40) {
            child.kill('SIGKILL');
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`the writer exited (${code}) before it was killed`)));
      });
      await exited;

      const store = await openDuckDbStore({ file, rollupEveryMs: 0, rollupFanIn: FAN_IN, now: () => WRITER_T0 + DAY });
      try {
        // Each batch commits whole: the stored rows are exactly the first k batches.
        const rows = await store.count();
        expect(rows % WRITER_BATCH).toBe(0);
        const k = rows / WRITER_BATCH;
        expect(k).toBeGreaterThanOrEqual(40);
        const written = Array.from({ length: k }, (_, i) => writerBatch(i)).flat();
        await expectSameAsOracle(store, written, questions('d1', WRITER_T0, WRITER_T0 + 2 * DAY)); // whatever the writer had rolled up
        await store.maintain();
        expect(store.rollupState().marks['1m']).toBeGreaterThan(0);
        await expectSameAsOracle(store, written, [...questions('d1', WRITER_T0, WRITER_T0 + 2 * DAY), ...questions('d2', WRITER_T0, WRITER_T0 + 2 * DAY)]);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('retention', () => {
  let dir: string;
  let store: DuckDbStore;
  const clock = { now: T0 };
  const written: StoredRow[] = [];
  const retention = { rawDays: 1, minuteDays: 2, attendanceDays: 4, quarterHourDays: 3, hourDays: 30 };
  const DAYS = 5;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'schoolops-retention-'));
    // Retention in slices of the maintenance interval, so every maintenance reaches the horizon.
    store = await openDuckDbStore({ file: join(dir, 'r.duckdb'), rollupEveryMs: 0, rollupFanIn: FAN_IN, now: () => clock.now, retention, retentionSliceMs: HOUR });
    // Five days of d2 only (every 10 s), maintained every hour.
    const random = rng(3);
    for (let t = T0; t < T0 + DAYS * DAY; t += HOUR) {
      const rows = deviceRows(t, t + HOUR, random).filter((r) => r.deviceId === 'd2');
      // And a camera's count every 15 minutes: a metric the attendance reports read.
      for (let ts = t; ts < t + HOUR; ts += 15 * MIN) rows.push({ schoolId: 's2', deviceId: 'cam', metric: 'occupied', ts: ts + 7_000, value: random() < 0.5 });
      await store.write(rows);
      written.push(...rows);
      clock.now = t + HOUR;
      await store.maintain();
    }
  });

  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const now = () => clock.now;
  const since = (days: number) => now() - days * DAY;
  const from = T0;
  const to = T0 + DAYS * DAY;

  it('keeps raw rows for rawDays, and says how far back each tier reaches', async () => {
    expect(await store.count()).toBe(written.filter((r) => r.ts >= since(1)).length);
    // The tiers as a chart sees them (the attendance metrics' longer minute rollups are not a tier).
    expect(store.historyTiers()).toEqual([
      { name: 'raw', bucketMs: 1, since: since(1) },
      { name: '1m', bucketMs: MIN, since: since(2) },
      { name: '15m', bucketMs: 15 * MIN, since: since(3) },
      { name: '1h', bucketMs: HOUR, since: since(30) },
    ]);
  });

  it('answers hourly buckets over the whole time, across the raw and rollup horizons', async () => {
    await expectSameAsOracle(store, written, [
      { deviceId: 'd2', from, to, bucketMs: HOUR },
      { deviceId: 'd2', from, to, bucketMs: DAY },
      { deviceId: 'd2', from: since(1.5), to, bucketMs: HOUR }, // across the raw horizon
      { deviceId: 'd2', from: since(4), to: since(0.5), bucketMs: 3 * HOUR },
    ]);
  });

  it('answers finer buckets as far back as their tier reaches, and nothing older', async () => {
    for (const [bucketMs, days] of [
      [10_000, 1],
      [MIN, 2],
      [5 * MIN, 2],
      [15 * MIN, 3],
    ] as const) {
      const got = await store.history({ deviceId: 'd2', from, to, bucketMs });
      const want = oracle(written, { deviceId: 'd2', from, to, bucketMs }).filter((b) => b.t >= since(days));
      expect(sameHistory(got, want), `${bucketMs} ms buckets`).toBeNull();
    }
    // Across the raw horizon at 1 minute: the 1m tier holds both sides.
    await expectSameAsOracle(store, written, [{ deviceId: 'd2', from: since(1.25), to, bucketMs: MIN }]);
  });

  it('keeps the attendance reports\' metrics at 1 minute for attendanceDays', async () => {
    for (const [bucketMs, days] of [
      [MIN, 4],
      [5 * MIN, 4],
      [15 * MIN, 3], // answered from the 15m tier (the coarsest that fits), kept 3 days
      [HOUR, DAYS],
    ] as const) {
      const got = await store.history({ deviceId: 'cam', from, to, bucketMs });
      const want = oracle(written, { deviceId: 'cam', from, to, bucketMs }).filter((b) => b.t >= since(days));
      expect(sameHistory(got, want), `${bucketMs} ms buckets`).toBeNull();
    }
  });

  it('keeps a late reading older than the raw horizon in the tiers that still cover its time', async () => {
    const late: StoredRow = { schoolId: 's2', deviceId: 'd2', metric: 'inBps', ts: since(1.5) + 1234, value: 1e9, hist: true };
    await store.write([late]);
    written.push(late);
    clock.now += HOUR;
    await store.maintain();
    expect(await store.count()).toBe(written.filter((r) => r.ts >= since(1)).length); // gone from raw...
    await expectSameAsOracle(store, written, [
      { deviceId: 'd2', from, to, bucketMs: HOUR }, // ...kept in the 1h tier
      { deviceId: 'd2', from: since(2), to, bucketMs: MIN }, // and in the 1m tier
    ]);
  });
});
