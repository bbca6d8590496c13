/**
 * Storage benchmark (a script, not a test): DuckDB write throughput and history query time.
 *
 *   cd /work/main && npx tsx cloud/bench/storage.bench.ts [rows=1000000] [batch=500] [checkpointEveryRows=100000|auto]
 *
 * Prints: rows/s through ReadingStore.write() (the appender path), write() latency and the
 * longest event-loop stall (batches arrive as separate events, as they would from MQTT, so
 * a 5 ms interval timer gets to run between them); the same rows through a multi-row
 * INSERT ... SELECT unnest($lists) for comparison (first 200k rows); history query times over
 * the full data set; and write latency while history queries run alongside.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIGINT, BOOLEAN, DOUBLE, DuckDBInstance, LIST, listValue, UTINYINT, VARCHAR } from '@duckdb/node-api';
import { openDuckDbStore } from '../src/storage/duckdb-store.ts';
import type { StoredRow } from '../src/storage/types.ts';

const TOTAL = Number(process.argv[2] ?? 1_000_000);
const BATCH = Number(process.argv[3] ?? 500);
/** `auto` = DuckDB's own automatic checkpoint (16MB WAL) instead of the store's; a number = checkpointEveryRows. */
const CHECKPOINT = process.argv[4] ?? '100000';
const DEVICES = 100;
const METRICS = 5; // temperature, humidity, lampHours, powerOn, input
const STEP_MS = 30_000;
const T0 = Date.UTC(2025, 0, 6, 0, 0, 0);
const SAMPLES_PER_DEVICE = Math.ceil(TOTAL / (DEVICES * METRICS));

/** Rows in arrival order: every device reports once per step. */
function* rowBatches(total: number, batch: number): Generator<StoredRow[]> {
  let out: StoredRow[] = [];
  let n = 0;
  for (let s = 0; s < SAMPLES_PER_DEVICE && n < total; s++) {
    const ts = T0 + s * STEP_MS;
    for (let d = 0; d < DEVICES && n < total; d++) {
      const schoolId = `sch-${d % 20}`;
      const deviceId = `dev-${d}`;
      const k = s * DEVICES + d;
      const sample: StoredRow[] = [
        { schoolId, deviceId, metric: 'temperature', ts, value: 20 + (k % 150) / 10 },
        { schoolId, deviceId, metric: 'humidity', ts, value: k % 100 },
        { schoolId, deviceId, metric: 'lampHours', ts, value: 1000 + s },
        { schoolId, deviceId, metric: 'powerOn', ts, value: k % 7 !== 0 },
        { schoolId, deviceId, metric: 'input', ts, value: k % 3 === 0 ? 'vga' : 'hdmi1' },
      ];
      for (const r of sample) {
        if (n++ >= total) break;
        out.push(r);
        if (out.length === batch) {
          yield out;
          out = [];
        }
      }
    }
  }
  if (out.length) yield out;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function timeIt<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await fn();
  return [v, performance.now() - t];
}

const dir = mkdtempSync(join(tmpdir(), 'schoolops-bench-'));
try {
  console.log(`node ${process.version}, ${TOTAL.toLocaleString('en-US')} rows, batches of ${BATCH}, ${DEVICES} devices x ${METRICS} metrics`);

  // 1. Through the store (appender).
  const file = join(dir, 'readings.duckdb');
  const store = await openDuckDbStore(
    CHECKPOINT === 'auto'
      ? { file, checkpointEveryRows: 0, checkpointIdleMs: 3_600_000, duckdbConfig: { checkpoint_threshold: '16MB' } }
      : { file, checkpointEveryRows: Number(CHECKPOINT) },
  );
  let lastTick = performance.now();
  let maxStall = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    maxStall = Math.max(maxStall, now - lastTick - 5);
    lastTick = now;
  }, 5);
  const writeLat: number[] = [];
  const started = performance.now();
  for (const batch of rowBatches(TOTAL, BATCH)) {
    const t = performance.now();
    await store.write(batch);
    writeLat.push(performance.now() - t);
    await new Promise((r) => setImmediate(r)); // the next batch is a new event
  }
  const writeMs = performance.now() - started;
  clearInterval(probe);
  writeLat.sort((a, b) => a - b);
  const pct = (p: number) => writeLat[Math.min(writeLat.length - 1, Math.floor(writeLat.length * p))]!.toFixed(1);
  console.log(
    `store.write (appender, checkpoints: ${CHECKPOINT === 'auto' ? 'DuckDB automatic' : `every ${CHECKPOINT} rows`}): ${fmt(TOTAL / (writeMs / 1000))} rows/s (${(writeMs / 1000).toFixed(2)} s); ` +
      `write() p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${pct(1)} ms; longest event-loop stall ${maxStall.toFixed(0)} ms`,
  );
  console.log(`count(): ${fmt(await store.count())}; file ${(statSync(file).size / 1e6).toFixed(1)} MB before close`);

  // 2. History queries over everything.
  const span = SAMPLES_PER_DEVICE * STEP_MS;
  const queries: [string, Parameters<typeof store.history>[0]][] = [
    ['1 device, all metrics, 1-min buckets', { deviceId: 'dev-42', from: T0, to: T0 + span, bucketMs: 60_000 }],
    ['1 device, all metrics, 1-h buckets', { deviceId: 'dev-42', from: T0, to: T0 + span, bucketMs: 3_600_000 }],
    ['1 device, 1 metric, 5-min buckets', { deviceId: 'dev-42', metrics: ['temperature'], from: T0, to: T0 + span, bucketMs: 300_000 }],
    ['1 device, last hour, 1-min buckets', { deviceId: 'dev-42', from: T0 + span - 3_600_000, to: T0 + span, bucketMs: 60_000 }],
  ];
  for (const [label, q] of queries) {
    await store.history(q); // warm
    const times: number[] = [];
    let buckets = 0;
    for (let i = 0; i < 5; i++) {
      const [b, ms] = await timeIt(() => store.history(q));
      buckets = b.length;
      times.push(ms);
    }
    times.sort((a, b) => a - b);
    console.log(`history ${label.padEnd(38)} ${buckets.toString().padStart(6)} buckets  median ${times[2]!.toFixed(1)} ms  max ${times[4]!.toFixed(1)} ms`);
  }

  // 3. Writes while queries run: do queries hold the writer up?
  const extra = [...rowBatches(100 * BATCH, BATCH)].map((b) => b.map((r) => ({ ...r, ts: r.ts + span })));
  let querying = true;
  let queriesDone = 0;
  const background = (async () => {
    while (querying) {
      await store.history({ deviceId: `dev-${queriesDone % DEVICES}`, from: T0, to: T0 + 2 * span, bucketMs: 60_000 });
      queriesDone++;
    }
  })();
  const lat: number[] = [];
  for (const b of extra) {
    const [, ms] = await timeIt(() => store.write(b));
    lat.push(ms);
    await new Promise((r) => setImmediate(r));
  }
  querying = false;
  await background;
  lat.sort((a, b) => a - b);
  console.log(
    `write() while queries run: ${extra.length} batches, p50 ${lat[Math.floor(lat.length / 2)]!.toFixed(1)} ms, p99 ${lat[Math.floor(lat.length * 0.99)]!.toFixed(1)} ms, max ${lat[lat.length - 1]!.toFixed(1)} ms (${queriesDone} queries ran meanwhile)`,
  );

  const [, closeMs] = await timeIt(() => store.close());
  console.log(`close(): ${closeMs.toFixed(0)} ms; file ${(statSync(file).size / 1e6).toFixed(1)} MB`);
  const [reopened, openMs] = await timeIt(() => openDuckDbStore({ file }));
  console.log(`reopen: ${openMs.toFixed(0)} ms, count ${fmt(await reopened.count())}`);
  await reopened.close();

  // 4. The alternative write path, for the record: one INSERT ... SELECT unnest(lists) per batch.
  const cmpRows = Math.min(TOTAL, 200_000);
  const inst = await DuckDBInstance.create(join(dir, 'insert.duckdb'));
  const c = await inst.connect();
  await c.run(
    'CREATE TABLE readings (ts BIGINT, school_id VARCHAR, device_id VARCHAR, metric VARCHAR, kind UTINYINT, num DOUBLE, str VARCHAR, hist BOOLEAN)',
  );
  const ins = await c.prepare(
    'INSERT INTO readings SELECT unnest($1), unnest($2), unnest($3), unnest($4), unnest($5), unnest($6), unnest($7), unnest($8)',
  );
  const t = performance.now();
  for (const b of rowBatches(cmpRows, BATCH)) {
    const kind = b.map((r) => (typeof r.value === 'number' ? 0 : typeof r.value === 'boolean' ? 1 : 2));
    ins.bindList(1, listValue(b.map((r) => BigInt(r.ts))), LIST(BIGINT));
    ins.bindList(2, listValue(b.map((r) => r.schoolId)), LIST(VARCHAR));
    ins.bindList(3, listValue(b.map((r) => r.deviceId)), LIST(VARCHAR));
    ins.bindList(4, listValue(b.map((r) => r.metric)), LIST(VARCHAR));
    ins.bindList(5, listValue(kind), LIST(UTINYINT));
    ins.bindList(6, listValue(b.map((r) => (typeof r.value === 'string' ? null : Number(r.value)))), LIST(DOUBLE));
    ins.bindList(7, listValue(b.map((r) => (typeof r.value === 'string' ? r.value : null))), LIST(VARCHAR));
    ins.bindList(8, listValue(b.map(() => false)), LIST(BOOLEAN));
    await ins.run();
  }
  const insMs = performance.now() - t;
  console.log(`INSERT ... unnest(lists): ${fmt(cmpRows / (insMs / 1000))} rows/s  (${fmt(cmpRows)} rows, same batches)`);
  c.closeSync();
  inst.closeSync();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
