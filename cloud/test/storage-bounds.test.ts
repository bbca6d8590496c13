/**
 * The DuckDB store on a real file: batch keys are recorded with their rows and answered by
 * an index (a boot never stored without any query), a file from before them gets them at
 * open, rows with unbounded numbers are refused whole before anything is appended, and the
 * query queue is bounded (refused at once, counted).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { openDuckDbStore } from '../src/storage/duckdb-store.ts';
import { StoreBusyError, type BatchKey, type StoredRow } from '../src/storage/index.ts';

const T0 = Date.UTC(2026, 11, 7, 1, 0, 0);
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'schoolops-store-bounds-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const rowsOf = (batch: BatchKey, values: Record<string, number>, over: Partial<StoredRow> = {}): StoredRow[] =>
  Object.entries(values).map(([metric, value]) => ({ schoolId: 'a', deviceId: 'a.proj', metric, ts: T0 + batch.seq, value, batch, n: batch.seq, ...over }));
const key = (bootId: string, seq: number): BatchKey => ({ gatewayId: 'gw-a', bootId, seq });

describe('batch keys in the DuckDB store', () => {
  it('answers "is this boot / batch stored" from its keys, across a reopen', async () => {
    const file = join(tempDir(), 'readings.duckdb');
    const store = await openDuckDbStore({ file });
    try {
      expect(await store.hasBoot('gw-a', 'boot-one')).toBe(false);
      for (const seq of [0, 1, 3]) await store.write(rowsOf(key('boot-one', seq), { lampHours: seq, fanRpm: 1000 }));
      // A batch written in parts (ingest keeping what storage takes of it) is one key.
      await store.write(rowsOf(key('boot-one', 4), { lampHours: 4 }));
      await store.write(rowsOf(key('boot-one', 4), { lampHours: 5 }));
      expect(await store.hasBoot('gw-a', 'boot-one')).toBe(true);
      expect(await store.hasBoot('gw-a', 'boot-two')).toBe(false);
      expect(await store.hasBoot('gw-b', 'boot-one')).toBe(false);
      expect(await Promise.all([0, 1, 2, 3, 4, 5].map((seq) => store.hasBatch(key('boot-one', seq))))).toEqual([true, true, false, true, true, false]);
    } finally {
      await store.close();
    }
    const reopened = await openDuckDbStore({ file });
    try {
      expect(await reopened.hasBoot('gw-a', 'boot-one')).toBe(true);
      expect(await reopened.hasBatch(key('boot-one', 3))).toBe(true);
      expect(await reopened.hasBatch(key('boot-one', 2))).toBe(false);
      expect(await reopened.count()).toBe(8);
    } finally {
      await reopened.close();
    }
  });

  it('derives the keys of a file written before they were kept, once, when it opens', async () => {
    const file = join(tempDir(), 'readings.duckdb');
    // The readings table as the store created it before batch keys (no batches table).
    const old = await DuckDBInstance.create(file);
    const c = await old.connect();
    await c.run(`CREATE TABLE readings (ts BIGINT NOT NULL, school_id VARCHAR NOT NULL, device_id VARCHAR NOT NULL, metric VARCHAR NOT NULL,
                 kind UTINYINT NOT NULL, num DOUBLE, str VARCHAR, hist BOOLEAN NOT NULL, gateway_id VARCHAR, boot_id VARCHAR, seq BIGINT, n BIGINT)`);
    await c.run(`INSERT INTO readings VALUES (${T0}, 'a', 'a.proj', 'lampHours', 0, 1, NULL, false, 'gw-a', 'boot-old', 7, 1),
                                             (${T0}, 'a', 'a.proj', 'fanRpm', 0, 1, NULL, false, 'gw-a', 'boot-old', 7, 1),
                                             (${T0}, 'a', 'a.proj', 'lampHours', 0, 2, NULL, false, NULL, NULL, NULL, NULL)`);
    c.closeSync();
    old.closeSync();
    const store = await openDuckDbStore({ file });
    try {
      expect(await store.hasBoot('gw-a', 'boot-old')).toBe(true);
      expect(await store.hasBatch(key('boot-old', 7))).toBe(true);
      expect(await store.hasBatch(key('boot-old', 8))).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('refuses a batch with a number DuckDB cannot hold exactly, whole, and records no key for it', async () => {
    const store = await openDuckDbStore({ file: join(tempDir(), 'readings.duckdb') });
    try {
      await expect(store.write([...rowsOf(key('boot-x', 0), { lampHours: 1 }), ...rowsOf(key('boot-x', 0), { fanRpm: 1 }, { n: 1e20 })])).rejects.toThrow(/counter n 100000000000000000000/);
      await expect(store.write(rowsOf(key('boot-x', 1), { lampHours: 1 }, { ts: 1e300 }))).rejects.toThrow(/not a safe integer time/);
      await expect(store.write(rowsOf(key('boot-x', 1e20), { lampHours: 1 }, { ts: T0, n: 1 }))).rejects.toThrow(/batch seq/);
      expect(await store.count()).toBe(0);
      expect(await store.hasBoot('gw-a', 'boot-x')).toBe(false);
      // And keeps storing.
      await store.write(rowsOf(key('boot-x', 2), { lampHours: 1 }));
      expect(await store.count()).toBe(1);
      expect(await store.hasBatch(key('boot-x', 2))).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe('the query queue of the DuckDB store', () => {
  it('refuses a query at once, counted, when as many as allowed already wait, and serves again after', async () => {
    const store = await openDuckDbStore({ file: join(tempDir(), 'readings.duckdb'), readConnections: 1, maxQueuedQueries: 2 });
    try {
      await store.write(rowsOf(key('boot-q', 0), { lampHours: 1 }));
      const ask = () => store.history({ deviceId: 'a.proj', from: T0 - 60_000, to: T0 + 60_000, bucketMs: 60_000 });
      // Asked in one go: the first takes the one connection, two wait, the rest are refused.
      const answers = await Promise.allSettled([ask(), ask(), ask(), ask(), store.count()]);
      expect(answers.map((a) => a.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected']);
      const refusal = (answers[3] as PromiseRejectedResult).reason;
      expect(refusal).toBeInstanceOf(StoreBusyError);
      expect(refusal).toMatchObject({ statusCode: 503, headers: { 'retry-after': '2' } });
      expect(refusal.message).toMatch(/busy \(2 queries waiting\)/);
      expect(store.queryStats()).toEqual({ running: 0, queued: 0, maxQueued: 2, refused: 2 });
      // Ingest's batch lookups have a connection of their own: never refused as busy.
      const lookups = await Promise.all([ask(), ask(), ask(), store.hasBatch(key('boot-q', 0)), store.hasBatch(key('boot-q', 1))]);
      expect(lookups.slice(3)).toEqual([true, false]);
      expect(await store.count()).toBe(1);
    } finally {
      await store.close();
    }
  });
});
