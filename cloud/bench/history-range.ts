/**
 * History at the API for one device, over the ranges the dashboard charts, on the data set
 * the DuckDB store holds after `--days` days of a `--schools`-school district under the
 * default retention (a script, not a test: it prints figures and asserts nothing).
 *
 *   node --import tsx cloud/bench/history-range.ts [--schools 150] [--days 30] [--dir DIR]
 *        [--reps 40] [--device ID] [--seed 1] [--maintain]
 *
 * The data set is generated straight into the store's own tables with SQL (no MQTT, no
 * ingest): the seeded simulated district's devices (simulators/src/district), each metric of
 * its profile at the profile's reportIntervalSeconds, from `days` days before END to END.
 * What the store would hold then, and how it would be laid out:
 *  - raw rows for the last 7 days (every sample; arrival numbers in time order);
 *  - 1m rollups for the last 7 days: hourly level-1 runs, then 5-minute level-0 runs since
 *    the last 15m pass; the raw rows of the last few minutes not rolled up yet; and for the
 *    older days, the attendance reports' metrics only (kept 130 days);
 *  - 15m rollups for every day: daily level-1 runs, hourly level-0 runs today;
 *  - 1h rollups for every day: weekly level-1 runs, daily level-0 runs since;
 *  - marks, runs and retention cursors as the store's maintenance would have left them.
 * Rollup rows have the exact sample counts of their buckets, and plausible values (not the
 * aggregates of the raw rows: the timing does not depend on them). Not generated: the
 * `batches` keys, events and commands (history never reads them).
 *
 * The data set is kept in DIR (default: a folder under the OS temp dir named after the
 * scale) with a manifest; a rerun with the same scale reuses it. Then the API is built as the
 * server builds it (buildApi, an API token) and asked, through fastify's inject(), for one
 * device's history over the last hour, today, the last 7 and 30 days and a custom range, with
 * the bucket chosen by the route, `--reps` times each after a warm-up.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { pino } from 'pino';
import { BUILTIN_PROFILES_DIR, loadProfiles, type Inventory, type ProfileRegistry } from '@schoolops/device-profiles';
import { generateDistrict } from '../../simulators/src/district/index.ts';
import { buildApi } from '../src/api/app.ts';
import { AccountStore } from '../src/auth/accounts.ts';
import { Ingest } from '../src/ingest.ts';
import { DistrictIndex } from '../src/inventory.ts';
import { LiveState } from '../src/live-state.ts';
import { openDuckDbStore } from '../src/storage/duckdb-store.ts';
import { ATTENDANCE_METRICS, DEFAULT_RETENTION, ROLLUP_COLUMNS, TIERS } from '../src/storage/rollups.ts';
import type { StoredRow } from '../src/storage/types.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/**
 * The data set ends here: 16:57:30 in Vietnam, 2026-12-07, the end of a school day. Late in
 * an hour and in the UTC day, so the store holds about as many not-yet-compacted runs as it
 * ever does (11 five-minute runs of 1m, 9 hourly runs of 15m) and 2.5 minutes of raw tail.
 */
const END = Date.UTC(2026, 11, 7, 9, 57, 30);
/** Vietnam is UTC+7 all year. */
const VN_OFFSET = 7 * HOUR;
/** Bumped when the generated layout changes, so an old data set is not reused. */
const LAYOUT_VERSION = 3;

const { values: args } = parseArgs({
  options: {
    schools: { type: 'string', default: '150' },
    days: { type: 'string', default: '30' },
    dir: { type: 'string' },
    reps: { type: 'string', default: '40' },
    device: { type: 'string' },
    seed: { type: 'string', default: '1' },
    maintain: { type: 'boolean', default: false },
  },
});
const SCHOOLS = Number(args.schools);
const DAYS = Number(args.days);
const REPS = Number(args.reps);
const SEED = Number(args.seed);
const DIR = args.dir ?? join(tmpdir(), `schoolops-history-bench-${SCHOOLS}s-${DAYS}d`);
const FILE = join(DIR, 'readings.duckdb');
const MANIFEST = join(DIR, 'dataset.json');
const ORIGIN = END - DAYS * DAY - ((END - DAYS * DAY) % DAY); // data start: a UTC midnight

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s`;
const say = (line: string) => console.log(`[${elapsed()}] ${line}`);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const floorTo = (x: number, w: number) => x - (((x % w) + w) % w);

interface Manifest {
  layout: number;
  /** The attendance metrics' 1-minute runs older than minuteDays are in (added after layout 3). */
  attendance?: boolean;
  schools: number;
  days: number;
  seed: number;
  end: number;
  rows: Record<string, number>;
  runs: Record<string, number>;
  generatedS: number;
  fileBytes: number;
}

/** One metric of one device: what the generator needs to make its samples. */
interface Series {
  sidx: number;
  dev: number;
  deviceId: string;
  schoolId: string;
  metric: string;
  kind: number;
  intervalMs: number;
  phaseMs: number;
  lo: number;
  span: number;
  isInt: boolean;
  choices: string[];
}

function seriesOf(inventory: Inventory, profiles: ProfileRegistry): Series[] {
  const out: Series[] = [];
  let dev = 0;
  for (const school of inventory.schools)
    for (const device of school.devices) {
      dev++;
      const profile = profiles.get(device.profileId);
      if (!profile) throw new Error(`no profile ${device.profileId}`);
      const intervalMs = profile.reportIntervalSeconds * 1000;
      // Devices report on their own clocks: a phase per device, whole seconds.
      const phaseMs = ((dev * 7919) % profile.reportIntervalSeconds) * 1000;
      for (const m of profile.metrics) {
        const kind = m.type === 'boolean' ? 1 : m.type === 'enum' || m.type === 'string' ? 2 : 0;
        const lo = m.min ?? 0;
        const span = Math.min((m.max ?? lo + 1000) - lo, 1e6);
        const choices = m.type === 'enum' ? (m.values ?? ['?']) : m.type === 'string' ? [`${m.name}-${dev % 5}`] : [];
        out.push({ sidx: out.length, dev, deviceId: device.id, schoolId: school.id, metric: m.name, kind, intervalMs, phaseMs, lo, span, isInt: m.type === 'integer', choices });
      }
    }
  return out;
}

/**
 * arrival = (ts - ORIGIN) / 1000 * M + sidx (samples fall on whole seconds, one per series a
 * second at most): unique, in time order, and markAt(T) is the mark of "every row before T".
 */
let M = 1;
const markAt = (t: number) => Math.ceil((t - ORIGIN) / 1000) * M - 1;


async function loadSeries(c: DuckDBConnection, series: Series[]): Promise<void> {
  await c.run(`CREATE OR REPLACE TABLE bench_series (sidx INTEGER, dev INTEGER, device_id VARCHAR, school_id VARCHAR, metric VARCHAR, kind UTINYINT,
    ival BIGINT, phase BIGINT, lo DOUBLE, span DOUBLE, is_int BOOLEAN, choices VARCHAR[])`);
  const a = await c.createAppender('bench_series');
  for (const s of series) {
    a.appendInteger(s.sidx);
    a.appendInteger(s.dev);
    a.appendVarchar(s.deviceId);
    a.appendVarchar(s.schoolId);
    a.appendVarchar(s.metric);
    a.appendUTinyInt(s.kind);
    a.appendBigInt(BigInt(s.intervalMs));
    a.appendBigInt(BigInt(s.phaseMs));
    a.appendDouble(s.lo);
    a.appendDouble(s.span);
    a.appendBoolean(s.isInt);
    a.appendVarchar(`[${s.choices.map((x) => JSON.stringify(x).replaceAll('"', "'")).join(', ')}]`);
    a.endRow();
  }
  a.closeSync();
  // The choices went in as list literals; make them lists.
  await c.run(`CREATE OR REPLACE TABLE bench_series AS SELECT * REPLACE (CAST(choices AS VARCHAR[]) AS choices), 'gw-' || school_id AS gw FROM bench_series`);
}

/** Raw rows of [from, to): every sample of every series, in time order by chunk. */
async function insertRaw(c: DuckDBConnection, from: number, to: number): Promise<number> {
  // Slot k of a series is at ORIGIN + phase + k * ival; the chunk holds k in [k0, k1).
  const done = await c.run(`
    INSERT INTO readings
    SELECT ts, school_id, device_id, metric, kind,
           CASE kind WHEN 2 THEN NULL WHEN 1 THEN (h % 10 < 8)::DOUBLE
                ELSE CASE WHEN is_int THEN round(lo + span * (h % 10000) / 10000.0) ELSE round(lo + span * (h % 10000) / 10000.0, 2) END END,
           CASE WHEN kind = 2 THEN choices[CASE WHEN h % 20 = 0 THEN 1 + (h % len(choices))::INTEGER ELSE 1 END] END,
           false, gw, 'bench', (ts - ${ORIGIN}) // 1000, k, dev, ((ts - ${ORIGIN}) // 1000) * ${M} + sidx
    FROM (
      SELECT s.*, r.k, ${ORIGIN} + s.phase + r.k * s.ival AS ts, hash(s.sidx, r.k // 20) AS h
      FROM bench_series s,
           range((${from - ORIGIN} - s.phase + s.ival - 1) // s.ival, (${to - ORIGIN} - s.phase + s.ival - 1) // s.ival) r(k)
    )`);
  return Number(done.rowsChanged);
}

/**
 * One run of a rollup tier: buckets of width w in [from, to) for every series, with the
 * exact number of samples each holds (empty buckets make no row), sorted as a pass sorts.
 */
async function insertRun(c: DuckDBConnection, table: string, w: number, from: number, to: number, blk: number, run: number, onlyMetrics?: readonly string[]): Promise<number> {
  const only = onlyMetrics ? `WHERE s.metric IN (${onlyMetrics.map((m) => `'${m}'`).join(', ')})` : '';
  const done = await c.run(`
    INSERT INTO ${table} (${ROLLUP_COLUMNS})
    SELECT dev, metric, t, n::INTEGER, CASE WHEN kind = 2 THEN 0 ELSE n END::INTEGER,
           CASE kind WHEN 2 THEN NULL WHEN 1 THEN round(n * f) ELSE v * n END,
           CASE kind WHEN 2 THEN NULL WHEN 1 THEN (CASE WHEN round(n * f) < n THEN 0 ELSE 1 END) ELSE CASE WHEN n > 1 THEN v - span * 0.02 ELSE v END END,
           CASE kind WHEN 2 THEN NULL WHEN 1 THEN (CASE WHEN round(n * f) > 0 THEN 1 ELSE 0 END) ELSE CASE WHEN n > 1 THEN v + span * 0.02 ELSE v END END,
           last_ts, ((last_ts - ${ORIGIN}) // 1000) * ${M} + sidx, kind,
           CASE kind WHEN 2 THEN NULL WHEN 1 THEN (h % 2)::DOUBLE ELSE v END,
           CASE WHEN kind = 2 THEN choices[CASE WHEN h % 20 = 0 THEN 1 + (h % len(choices))::INTEGER ELSE 1 END] END,
           ${blk}, ${run}
    FROM (
      SELECT x.*, x.k1 - x.k0 AS n, ${ORIGIN} + x.phase + (x.k1 - 1) * x.ival AS last_ts, hash(x.sidx, x.t // 3600000) AS h,
             round(x.lo + x.span * (hash(x.sidx, x.t // 3600000) % 10000) / 10000.0, 2) AS v, (hash(x.sidx, x.t) % 100) / 100.0 AS f
      FROM (
        SELECT s.*, b.t,
               greatest(0, (b.t - ${ORIGIN} - s.phase + s.ival - 1) // s.ival) AS k0,
               greatest(0, (b.t + ${w} - ${ORIGIN} - s.phase + s.ival - 1) // s.ival) AS k1
        FROM bench_series s, range(${from}, ${to}, ${w}) b(t)
        ${only}
      ) x
      WHERE x.k1 > x.k0
    )
    ORDER BY dev, metric, t`);
  return Number(done.rowsChanged);
}

interface RunPlan {
  tier: (typeof TIERS)[number];
  from: number;
  to: number;
  level: 0 | 1;
  /** The mark of the pass that made it: every row with ts < this was consumed. */
  consumedTo: number;
}

/** The runs each tier holds at END, oldest first, as 5-minute passes and the default fan-ins leave them. */
function planRuns(): { runs: RunPlan[]; marks: Record<string, number> } {
  const [m1, m15, h1] = TIERS as unknown as [(typeof TIERS)[number], (typeof TIERS)[number], (typeof TIERS)[number]];
  const lastPass = floorTo(END, 5 * MIN); // the last 1m pass
  const last15 = floorTo(END, HOUR); // the last 15m pass (every 12 passes of 1m: on the hour)
  const last1h = floorTo(END, DAY); // the last 1h pass (every 24 runs of 15m: at midnight UTC)
  const runs: RunPlan[] = [];
  // Each tier holds whole buckets from its retention horizon on (and nothing before ORIGIN).
  const keptFrom = (days: number, w: number) => Math.max(ORIGIN, -floorTo(-(END - days * DAY), w));
  const minuteFrom = keptFrom(DEFAULT_RETENTION.minuteDays, MIN);
  const quarterFrom = keptFrom(DEFAULT_RETENTION.quarterHourDays, 15 * MIN);
  const hourFrom = keptFrom(DEFAULT_RETENTION.hourDays, HOUR);
  // 1m: hourly level-1 runs (what 12 passes make, compacted), then this hour's 5-minute runs.
  for (let t = floorTo(minuteFrom, HOUR); t < last15; t += HOUR) runs.push({ tier: m1, from: Math.max(t, minuteFrom), to: t + HOUR, level: 1, consumedTo: t + HOUR });
  for (let t = last15; t < lastPass; t += 5 * MIN) runs.push({ tier: m1, from: t, to: t + 5 * MIN, level: 0, consumedTo: t + 5 * MIN });
  // 15m: daily level-1 runs, then today's hourly runs.
  for (let t = floorTo(quarterFrom, DAY); t < last1h; t += DAY) runs.push({ tier: m15, from: Math.max(t, quarterFrom), to: t + DAY, level: 1, consumedTo: t + DAY });
  for (let t = last1h; t < last15; t += HOUR) runs.push({ tier: m15, from: t, to: t + HOUR, level: 0, consumedTo: t + HOUR });
  // 1h: weekly level-1 runs (7 daily passes compacted), then the days since.
  let t = floorTo(hourFrom, DAY);
  for (; t + 7 * DAY <= last1h; t += 7 * DAY) runs.push({ tier: h1, from: Math.max(t, hourFrom), to: t + 7 * DAY, level: 1, consumedTo: t + 7 * DAY });
  for (; t < last1h; t += DAY) runs.push({ tier: h1, from: Math.max(t, hourFrom), to: t + DAY, level: 0, consumedTo: t + DAY });
  runs.sort((a, b) => a.consumedTo - b.consumedTo || a.tier.widthMs - b.tier.widthMs);
  return { runs, marks: { [m1.name]: markAt(lastPass), [m15.name]: markAt(last15), [h1.name]: markAt(last1h) } };
}

/**
 * The attendance reports' metrics keep their 1-minute rollups attendanceDays (rollups.ts):
 * for the days older than minuteDays, hourly 1m runs holding only those metrics (what is left
 * of the runs once retention has deleted the rest), and the cursor of that retention.
 */
async function addAttendanceMinutes(c: DuckDBConnection, rows: Record<string, number>, runCounts: Record<string, number>): Promise<void> {
  const from = Math.max(ORIGIN, -floorTo(-(END - DEFAULT_RETENTION.attendanceDays * DAY), MIN));
  const to = Math.max(from, -floorTo(-(END - DEFAULT_RETENTION.minuteDays * DAY), MIN)); // where the full 1m runs start
  let run = Number((await c.runAndReadAll('SELECT coalesce(max(run), 0) FROM rollup_runs')).getRowsJS()[0]![0]);
  const m1 = TIERS[0]!;
  let lastSay = 0;
  for (let t = floorTo(from, HOUR); t < to; t += HOUR) {
    run++;
    const start = Math.max(t, from);
    const n = await insertRun(c, m1.table, m1.widthMs, start, Math.min(t + HOUR, to), markAt(t + HOUR), run, ATTENDANCE_METRICS);
    rows[m1.table] = (rows[m1.table] ?? 0) + n;
    runCounts[m1.name] = (runCounts[m1.name] ?? 0) + 1;
    await c.run(`INSERT INTO rollup_runs VALUES ('${m1.name}', ${run}, ${markAt(t + HOUR)}, 1, ${n}, ${start}, ${t + HOUR - m1.widthMs})`);
    if (Date.now() - lastSay > 20_000 || t + HOUR >= to) {
      lastSay = Date.now();
      say(`attendance metrics at 1 minute: ${new Date(t).toISOString().slice(0, 13)}h, ${fmt(rows[m1.table]!)} 1m rows in all`);
    }
  }
  await c.run(`UPDATE rollup_state SET value = ${END - DEFAULT_RETENTION.attendanceDays * DAY} WHERE name = 'cut:1m:attendance'`);
}

async function generate(series: Series[], devices: { dev: number; deviceId: string }[]): Promise<Manifest> {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  // The store makes its own tables, then is closed; the rows go in with SQL.
  const store = await openDuckDbStore({ file: FILE, rollupEveryMs: 0, now: () => END });
  await store.close();
  const instance = await DuckDBInstance.create(FILE, { checkpoint_threshold: '1GB', memory_limit: '8GB', temp_directory: join(DIR, 'tmp') });
  const c = await instance.connect();
  const t0 = Date.now();
  const rows: Record<string, number> = { readings: 0, rollup_1m: 0, rollup_15m: 0, rollup_1h: 0 };
  const runCounts: Record<string, number> = {};
  try {
    await loadSeries(c, series);
    const a = await c.createAppender('device_numbers');
    for (const d of devices) {
      a.appendInteger(d.dev);
      a.appendVarchar(d.deviceId);
      a.endRow();
    }
    a.closeSync();

    const { runs, marks } = planRuns();
    say(`rollups: ${runs.length} runs to write (${TIERS.map((t) => `${t.name} ${runs.filter((r) => r.tier === t).length}`).join(', ')})`);
    let run = 0;
    let lastSay = 0;
    for (const plan of runs) {
      run++;
      const n = await insertRun(c, plan.tier.table, plan.tier.widthMs, plan.from, plan.to, markAt(plan.consumedTo), run);
      rows[plan.tier.table]! += n;
      runCounts[plan.tier.name] = (runCounts[plan.tier.name] ?? 0) + 1;
      await c.run(`INSERT INTO rollup_runs VALUES ('${plan.tier.name}', ${run}, ${markAt(plan.consumedTo)}, ${plan.level}, ${n}, ${plan.from}, ${plan.to - plan.tier.widthMs})`);
      if (Date.now() - lastSay > 20_000 || run === runs.length) {
        lastSay = Date.now();
        say(`rollups: run ${run}/${runs.length} (${plan.tier.name}, ${new Date(plan.from).toISOString().slice(0, 16)}); rows so far ${TIERS.map((t) => `${t.name} ${fmt(rows[t.table]!)}`).join(', ')}`);
      }
      if (run % 50 === 0) await c.run('CHECKPOINT');
    }
    await c.run('CHECKPOINT');

    // Raw rows: the last rawDays, an hour at a time (arrival order is time order).
    const rawFrom = Math.max(ORIGIN, END - DEFAULT_RETENTION.rawDays * DAY);
    const chunks = Math.ceil((END - rawFrom) / HOUR);
    lastSay = 0;
    for (let i = 0; i < chunks; i++) {
      const from = rawFrom + i * HOUR;
      rows.readings! += await insertRaw(c, from, Math.min(END, from + HOUR));
      if (i % 12 === 11) await c.run('CHECKPOINT');
      if (Date.now() - lastSay > 20_000 || i === chunks - 1) {
        lastSay = Date.now();
        const rate = rows.readings! / ((Date.now() - t0) / 1000);
        say(`raw: hour ${i + 1}/${chunks}, ${fmt(rows.readings!)} rows (${fmt(rate)} rows/s overall)`);
      }
    }
    // Marks and retention cursors as maintenance at END leaves them.
    for (const [name, value] of Object.entries(marks)) await c.run(`UPDATE rollup_state SET value = ${value} WHERE name = '${name}'`);
    const cuts: Record<string, number> = {
      raw: END - DEFAULT_RETENTION.rawDays * DAY,
      '1m': END - DEFAULT_RETENTION.minuteDays * DAY,
      '15m': END - DEFAULT_RETENTION.quarterHourDays * DAY,
      '1h': END - DEFAULT_RETENTION.hourDays * DAY,
    };
    for (const [name, value] of Object.entries(cuts)) await c.run(`UPDATE rollup_state SET value = ${value} WHERE name = 'cut:${name}'`);
    await addAttendanceMinutes(c, rows, runCounts);
    await c.run('DROP TABLE bench_series');
    await c.run('CHECKPOINT');
  } finally {
    c.closeSync();
    instance.closeSync();
  }
  rmSync(join(DIR, 'tmp'), { recursive: true, force: true });
  const manifest: Manifest = { layout: LAYOUT_VERSION, attendance: true, schools: SCHOOLS, days: DAYS, seed: SEED, end: END, rows, runs: runCounts, generatedS: Math.round((Date.now() - t0) / 1000), fileBytes: statSync(FILE).size };
  writeFileSync(MANIFEST, JSON.stringify(manifest, null, 2));
  return manifest;
}

function readManifest(): Manifest | null {
  if (!existsSync(MANIFEST) || !existsSync(FILE)) return null;
  const m = JSON.parse(readFileSync(MANIFEST, 'utf8')) as Manifest;
  return m.layout === LAYOUT_VERSION && m.schools === SCHOOLS && m.days === DAYS && m.seed === SEED && m.end === END ? m : null;
}

/**
 * `--maintain`: the district's next 5 minutes of readings written through the store (500-row
 * batches, as ingest writes them), then one maintain() at END + 5 min: the 1m pass, and as
 * the data set stands (11 five-minute runs since the hour), the hourly 15m pass and the
 * compaction of 12 runs of 1m. It changes the data set (its raw tail is rolled up, the
 * marks move on), so later runs measure a store 5 minutes on; the manifest says so.
 */
async function timeMaintenance(store: Awaited<ReturnType<typeof openDuckDbStore>>, series: Series[]): Promise<void> {
  const manifest = JSON.parse(readFileSync(MANIFEST, 'utf8')) as Manifest & { maintainedMinutes?: number };
  const from = END + (manifest.maintainedMinutes ?? 0) * MIN;
  const to = from + 5 * MIN;
  const rows: StoredRow[] = [];
  for (const x of series) {
    for (let k = Math.ceil((from - ORIGIN - x.phaseMs) / x.intervalMs); ORIGIN + x.phaseMs + k * x.intervalMs < to; k++) {
      const ts = ORIGIN + x.phaseMs + k * x.intervalMs;
      const value = x.kind === 1 ? k % 5 !== 0 : x.kind === 2 ? x.choices[0]! : Math.round(x.lo + (x.span * ((k * 7919 + x.sidx) % 1000)) / 1000);
      rows.push({ schoolId: x.schoolId, deviceId: x.deviceId, metric: x.metric, ts, value, batch: { gatewayId: `gw-${x.schoolId}`, bootId: 'bench-maintain', seq: Math.floor((ts - ORIGIN) / 1000) } });
    }
  }
  rows.sort((a, b) => a.ts - b.ts);
  const writeStart = performance.now();
  for (let i = 0; i < rows.length; i += 500) await store.write(rows.slice(i, i + 500));
  await store.flush();
  const writeS = (performance.now() - writeStart) / 1000;
  say(`maintenance: ${fmt(rows.length)} rows (5 minutes of the district) written in ${writeS.toFixed(1)} s (${fmt(rows.length / writeS)} rows/s)`);
  const maintainStart = performance.now();
  const report = await store.maintain();
  say(`maintenance: maintain() took ${((performance.now() - maintainStart) / 1000).toFixed(1)} s: ${JSON.stringify(report)}`);
  writeFileSync(MANIFEST, JSON.stringify({ ...manifest, maintainedMinutes: (manifest.maintainedMinutes ?? 0) + 5 }, null, 2));
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function main(): Promise<void> {
  const inventory = generateDistrict({ seed: SEED, schools: SCHOOLS });
  const profiles = loadProfiles([BUILTIN_PROFILES_DIR]);
  const series = seriesOf(inventory, profiles);
  const devices = [...new Map(series.map((s) => [s.dev, { dev: s.dev, deviceId: s.deviceId }])).values()];
  M = 2 ** Math.ceil(Math.log2(series.length + 1));
  const perDay = series.reduce((n, s) => n + DAY / s.intervalMs, 0);
  say(`district: ${SCHOOLS} schools, ${fmt(devices.length)} devices, ${fmt(series.length)} metric series, ${fmt(perDay)} samples a day (${fmt(perDay / 86_400)} a second)`);
  say(`data: ${DAYS} days to ${new Date(END).toISOString()}, retention raw ${DEFAULT_RETENTION.rawDays} d, 1m ${DEFAULT_RETENTION.minuteDays} d, 15m ${DEFAULT_RETENTION.quarterHourDays} d, 1h ${DEFAULT_RETENTION.hourDays} d; in ${DIR}`);
  const df = execFileSync('df', ['-h', tmpdir()], { encoding: 'utf8' }).trim().split('\n').at(-1);
  say(`disk before: ${df}`);

  let manifest = readManifest();
  if (manifest) say(`reusing the data set generated in ${manifest.generatedS} s`);
  else manifest = await generate(series, devices);
  if (!manifest.attendance) {
    // A data set of layout 3, from before the attendance metrics' longer minute rollups.
    const t0 = Date.now();
    const instance = await DuckDBInstance.create(FILE, { checkpoint_threshold: '1GB', memory_limit: '8GB' });
    const c = await instance.connect();
    try {
      await loadSeries(c, series);
      await addAttendanceMinutes(c, manifest.rows, manifest.runs);
      await c.run('DROP TABLE bench_series');
      await c.run('CHECKPOINT');
    } finally {
      c.closeSync();
      instance.closeSync();
    }
    manifest = { ...manifest, attendance: true, generatedS: manifest.generatedS + Math.round((Date.now() - t0) / 1000), fileBytes: statSync(FILE).size };
    writeFileSync(MANIFEST, JSON.stringify(manifest, null, 2));
  }
  say(
    `data set: ${Object.entries(manifest.rows)
      .map(([t, n]) => `${t} ${fmt(n)} rows`)
      .join(', ')}; runs ${JSON.stringify(manifest.runs)}; file ${(manifest.fileBytes / 1e9).toFixed(2)} GB; generated in ${manifest.generatedS} s`,
  );

  // The API as the server builds it, with a district operator's token.
  const logger = pino({ level: 'silent' });
  const district = new DistrictIndex(inventory, profiles);
  const openStart = Date.now();
  // The store's clock: END, or later by what --maintain runs added.
  const maintained = (JSON.parse(readFileSync(MANIFEST, 'utf8')) as { maintainedMinutes?: number }).maintainedMinutes ?? 0;
  let clock = END + maintained * MIN;
  const store = await openDuckDbStore({ file: FILE, rollupEveryMs: 0, now: () => clock });
  say(`store opened in ${Date.now() - openStart} ms${maintained ? ` (the data set has run ${maintained} minutes past END: --maintain)` : ''}`);
  const accountsDir = join(DIR, 'accounts');
  rmSync(accountsDir, { recursive: true, force: true });
  const accounts = await AccountStore.open({ file: join(accountsDir, 'accounts.duckdb') });
  const live = new LiveState(district);
  const ingest = new Ingest(district, store, live, logger);
  const { app } = await buildApi({ district, live, store, ingest, schoolClockOffsetMs: 0, accounts }, { logger });
  const { token } = await accounts.createToken({ name: 'bench', role: 'district-operator', scope: { all: true }, createdBy: 'bench', expiresAt: null });

  const deviceId = args.device ?? inventory.schools[0]!.devices.find((d) => d.profileId === 'epson-eb-x51')!.id;
  const entry = district.devices.get(deviceId);
  if (!entry) throw new Error(`no device ${deviceId}`);
  const todayStart = floorTo(END + VN_OFFSET, DAY) - VN_OFFSET;
  const ranges: [string, number, number][] = [
    ['last hour', END - HOUR, END],
    ['today', todayStart, END],
    ['7 days', END - 7 * DAY, END],
    ['30 days', END - 30 * DAY, END],
    ['custom: 3 days, 2 weeks ago', todayStart - 16 * DAY, todayStart - 13 * DAY],
    ['custom: 10:00-14:00 yesterday', todayStart - DAY + 3 * HOUR, todayStart - DAY + 7 * HOUR],
  ];
  say(`device ${deviceId} (${entry.profile.id}: ${entry.profile.metrics.length} metrics every ${entry.profile.reportIntervalSeconds} s); ${REPS} repetitions per range after 3 warm-up`);
  const ask = async (from: number, to: number) => {
    const response = await app.inject({ method: 'GET', url: `/api/devices/${encodeURIComponent(deviceId)}/history?from=${from}&to=${to}`, headers: { authorization: `Bearer ${token}` } });
    if (response.statusCode !== 200) throw new Error(`${response.statusCode} ${response.body}`);
    return response.json() as { from: number; to: number; bucketSeconds: number; series: { metric: string; points: { count: number }[] }[] };
  };
  const table: string[] = [];
  for (const [name, from, to] of ranges) {
    const first = performance.now();
    const answer = await ask(from, to);
    const firstMs = performance.now() - first;
    for (let i = 0; i < 2; i++) await ask(from, to);
    const times: number[] = [];
    for (let i = 0; i < REPS; i++) {
      const t = performance.now();
      await ask(from, to);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    // The store alone, for the same question: what is left is the route (auth, checks, JSON).
    const storeTimes: number[] = [];
    for (let i = 0; i < REPS; i++) {
      const t = performance.now();
      await store.history({ deviceId, from: answer.from, to: answer.to, bucketMs: answer.bucketSeconds * 1000 });
      storeTimes.push(performance.now() - t);
    }
    storeTimes.sort((a, b) => a - b);
    // Every sample the generator made in the answer's range: the tiers must add up to it.
    const expected = series
      .filter((x) => x.deviceId === deviceId)
      .reduce((n, x) => {
        const lo = Math.max(answer.from, ORIGIN, ...(answer.bucketSeconds < 60 ? [END - DEFAULT_RETENTION.rawDays * DAY] : []));
        const hi = Math.min(answer.to, END);
        const slot = (t: number) => Math.max(0, Math.ceil((t - ORIGIN - x.phaseMs) / x.intervalMs));
        return n + Math.max(0, slot(hi) - slot(lo));
      }, 0);
    const points = answer.series.reduce((n, s) => n + s.points.length, 0);
    const perSeries = Math.max(0, ...answer.series.map((s) => s.points.length));
    const samples = answer.series.reduce((n, s) => n + s.points.reduce((m, p) => m + p.count, 0), 0);
    const ms = (x: number) => x.toFixed(1);
    const line = `| ${name} | ${answer.bucketSeconds} s | ${perSeries} x ${answer.series.length} = ${points} | ${fmt(samples)}${samples === expected ? '' : ` (expected ${fmt(expected)})`} | ${ms(firstMs)} | ${ms(percentile(times, 50))} | ${ms(percentile(times, 95))} | ${ms(times.at(-1)!)} | ${ms(percentile(storeTimes, 50))} |`;
    table.push(line);
    say(
      `${name}: bucket ${answer.bucketSeconds} s, ${points} points (${fmt(samples)} samples, ${samples === expected ? 'as generated' : `GENERATED ${fmt(expected)}`}); API first ${ms(firstMs)} ms, p50 ${ms(percentile(times, 50))}, p95 ${ms(percentile(times, 95))}, max ${ms(times.at(-1)!)}; store alone p50 ${ms(percentile(storeTimes, 50))}`,
    );
  }
  console.log(
    '\n| range | bucket | points (per metric x metrics) | samples | API first (ms) | API p50 (ms) | API p95 (ms) | API max (ms) | store alone p50 (ms) |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const line of table) console.log(line);
  if (args.maintain) {
    clock += 5 * MIN;
    await timeMaintenance(store, series);
  }
  await app.close();
  await store.close();
  await accounts.close();
  rmSync(accountsDir, { recursive: true, force: true });
  say(`files in ${DIR}: ${readdirSync(DIR).join(', ')}; disk after: ${execFileSync('df', ['-h', tmpdir()], { encoding: 'utf8' }).trim().split('\n').at(-1)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
