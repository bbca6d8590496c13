/**
 * Rollups and retention for the DuckDB reading store (duckdb-store.ts owns the file, the
 * connections and the write chain; this file owns the SQL and the bookkeeping).
 *
 * Why: a device's chart over 30 days must not read raw rows. The full district (150 schools,
 * ~12,000 devices, ~108,000 metric series) stores ~209 million raw rows a day (2,400 a
 * second), in arrival order; a question about one device scans every device's rows of its
 * range, because DuckDB prunes only by the min/max of each row group. So history is kept
 * pre-aggregated in tiers of bucket width, and each tier is stored in *runs* sorted by
 * (device number, metric, t): within a run one device's rows sit in one or two row groups,
 * and DuckDB skips the others by their min/max of `dev`. A question then costs about one row
 * group per run it meets, not a scan of its range.
 *
 *   tier   width   fed from        a run is made               kept (default)
 *   raw    -       ingest          -                           7 days   (delivery checks reach back 7 days)
 *   1m     1 min   raw rows        every pass (5 min)          7 days, 130 for the attendance reports' metrics
 *   15m    15 min  runs of 1m      after 12 runs of 1m (~1 h)  35 days
 *   1h     1 h     runs of 15m     after 24 runs of 15m (~1 d) 400 days
 *
 * Runs are compacted: once the next tier has consumed `fanIn` level-0 runs of a tier, they
 * are merged into one level-1 run (1m: hourly runs, 15m: daily, 1h: weekly), re-sorted, so a
 * month of hourly history is about a dozen runs, not seven hundred.
 *
 * Rows are partial aggregates (count, numeric count, sum, min, max, and the latest sample
 * with its arrival number): several rows may exist for one (device, metric, bucket), e.g. a
 * bucket split between two passes or corrected by late data, and every reader merges them
 * (sums, min of mins, ...). That makes late data cheap and exact: a gateway's backlog
 * (hours of old readings, hist = true) is simply more raw rows with new arrival numbers; the
 * next pass aggregates them into the old buckets as extra partial rows. Nothing is
 * recomputed, and no bucket is ever "closed".
 *
 * Arrival numbers are the high-water marks. Every raw row gets an arrival number (a counter
 * the writer keeps, persisted as the rows themselves); each rollup row carries `blk`, the
 * mark of the pass that wrote it. `rollup_state` holds per tier how far it has consumed its
 * source (1m: raw arrivals; 15m: 1m runs up to that blk; ...). A pass inserts its run,
 * records it and moves the mark in one transaction, so a crash or restart at any point
 * either keeps all of a pass or none of it: nothing is lost and nothing counted twice.
 *
 * Reading: a question answered at tier k reads tier k's rows, plus of each finer tier only
 * the rows the next coarser tier has not consumed yet (blk/arrival above its mark), plus the
 * partial buckets at the range's ends from finer tiers. Every raw row then counts exactly
 * once, whatever has or has not been rolled up, inside one read transaction (one snapshot).
 *
 * Retention deletes a tier's rows older than its horizon, but only rows the next tier has
 * consumed (raw rows a pass has not reached yet stay until it has), in slices of an hour so
 * no single delete fills the WAL.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { StorageLogger } from './types.ts';

export const DAY_MS = 86_400_000;

/** How long each tier is kept, in days. */
export interface RetentionDays {
  /** Raw readings (every sample as received). */
  rawDays: number;
  /** 1-minute rollups. */
  minuteDays: number;
  /** 1-minute rollups of ATTENDANCE_METRICS (at least minuteDays). */
  attendanceDays: number;
  /** 15-minute rollups. */
  quarterHourDays: number;
  /** 1-hour rollups. */
  hourDays: number;
}

/**
 * From the simulated district at full size (150 schools, ~80 devices each; the profiles'
 * metrics and report intervals): raw ~209 M rows/day (~1.9 GB/day), 1m ~103 M rows/day,
 * 15m ~10 M/day, 1h ~2.6 M/day. Raw for a week (the delivery check's reach, and a week of
 * every sample for incident review), 1m for a week (1-5 minute buckets are for ranges of
 * hours to a day or two), 15m for a month and a bit, 1h for a school year and more. The
 * attendance reports' metrics at 1 minute for a semester (18 weeks) and a bit.
 */
export const DEFAULT_RETENTION: RetentionDays = { rawDays: 7, minuteDays: 7, attendanceDays: 130, quarterHourDays: 35, hourDays: 400 };

/**
 * Refuses a retention no chart could use well: each level must be kept at least as long as
 * the finer one it is fed from. Kept shorter, the finer level would answer long ranges alone
 * (a day's chart from a day of every device's raw rows), and the coarser one could not.
 */
export function checkRetention(r: RetentionDays): void {
  const keys = Object.keys(DEFAULT_RETENTION) as (keyof RetentionDays)[];
  for (const key of keys) if (!(typeof r[key] === 'number' && Number.isFinite(r[key]) && r[key] > 0)) throw new RangeError(`retention.${key} must be a positive number of days, got ${r[key]}`);
  const atLeast: [keyof RetentionDays, keyof RetentionDays][] = [
    ['minuteDays', 'rawDays'],
    ['attendanceDays', 'minuteDays'],
    ['quarterHourDays', 'minuteDays'],
    ['hourDays', 'quarterHourDays'],
  ];
  for (const [longer, shorter] of atLeast)
    if (r[longer] < r[shorter]) throw new RangeError(`retention.${longer} (${r[longer]} days) must be at least retention.${shorter} (${r[shorter]} days)`);
}

/**
 * Metrics whose 1-minute rollups are kept `attendanceDays` rather than `minuteDays`: what the
 * principal's attendance and room-usage reports read, per lesson, over up to a term
 * (cloud/src/api/attendance-data.ts CAMERA_METRICS in 1-minute buckets, and the lab
 * controllers' printerState in 5-minute ones). They are few (cameras report every 15 min):
 * ~1.9 M rows a day at full size, against ~103 M for every metric.
 */
export const ATTENDANCE_METRICS = ['headcount', 'attendancePct', 'occupied', 'printerState'] as const;

/** One thing retention deletes: rows of a level (0 raw, 1.. tiers) older than `days`, with its own cursor. */
interface RetentionRule {
  level: number;
  days: number;
  /** Its cursor in rollup_state ('cut:' + this). */
  cursor: string;
  /** More SQL conditions on the rows it may delete. */
  filter: string;
}

const attendanceList = ATTENDANCE_METRICS.map((m) => `'${m}'`).join(', ');

export function retentionRules(r: RetentionDays): RetentionRule[] {
  return [
    { level: 0, days: r.rawDays, cursor: 'raw', filter: '' },
    { level: 1, days: r.minuteDays, cursor: '1m', filter: ` AND metric NOT IN (${attendanceList})` },
    { level: 1, days: r.attendanceDays, cursor: '1m:attendance', filter: ` AND metric IN (${attendanceList})` },
    { level: 2, days: r.quarterHourDays, cursor: '15m', filter: '' },
    { level: 3, days: r.hourDays, cursor: '1h', filter: '' },
  ];
}

export type TierName = '1m' | '15m' | '1h';

export interface TierDef {
  name: TierName;
  table: string;
  widthMs: number;
  /** Runs of this tier that make one pass of the next tier, and one compaction of its own. */
  fanIn: number;
  retention: keyof RetentionDays;
}

/** Finest first; each width divides the next, and each tier is fed from the one before. */
export const TIERS: readonly TierDef[] = [
  { name: '1m', table: 'rollup_1m', widthMs: 60_000, fanIn: 12, retention: 'minuteDays' },
  { name: '15m', table: 'rollup_15m', widthMs: 900_000, fanIn: 24, retention: 'quarterHourDays' },
  { name: '1h', table: 'rollup_1h', widthMs: 3_600_000, fanIn: 7, retention: 'hourDays' },
];

/** Column order of every rollup table (the bench appends in this order). */
export const ROLLUP_COLUMNS = 'dev, metric, t, n, nn, sum, mn, mx, last_ts, last_arrival, last_kind, last_num, last_str, blk, run';

function rollupTable(table: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${table} (
  dev          INTEGER  NOT NULL, -- device_numbers.dev
  metric       VARCHAR  NOT NULL,
  t            BIGINT   NOT NULL, -- bucket start, ms since the epoch (epoch-aligned)
  n            INTEGER  NOT NULL, -- samples
  nn           INTEGER  NOT NULL, -- numeric (and boolean) samples: the avg's divisor
  sum          DOUBLE,
  mn           DOUBLE,
  mx           DOUBLE,
  last_ts      BIGINT   NOT NULL, -- the latest sample: its time, arrival and value
  last_arrival BIGINT   NOT NULL,
  last_kind    UTINYINT NOT NULL,
  last_num     DOUBLE,
  last_str     VARCHAR,
  blk          BIGINT   NOT NULL, -- the consumed-up-to mark of the pass that wrote the row
  run          BIGINT   NOT NULL  -- the run (rollup_runs) the row belongs to
);`;
}

/** Tables of the rollups; run after the readings table exists. */
export const ROLLUP_SCHEMA = `
-- Device ids as small integers: rollup rows are sorted and pruned by them (DuckDB keeps only
-- an 8-byte prefix of a string's min/max, which every device of a school shares).
CREATE TABLE IF NOT EXISTS device_numbers (
  dev       INTEGER PRIMARY KEY,
  device_id VARCHAR NOT NULL UNIQUE
);
${TIERS.map((t) => rollupTable(t.table)).join('\n')}
-- Per tier, how far it has consumed its source ('1m': raw arrival numbers; '15m', '1h': the
-- finer tier's blk); per level, how far retention has deleted ('cut:raw', 'cut:1m', ...).
CREATE TABLE IF NOT EXISTS rollup_state (
  name  VARCHAR PRIMARY KEY,
  value BIGINT
);
INSERT OR IGNORE INTO rollup_state VALUES ${TIERS.map((t) => `('${t.name}', 0)`).join(', ')},
  ${retentionRules(DEFAULT_RETENTION)
    .map((r) => `('cut:${r.cursor}', NULL)`)
    .join(', ')};
-- Every run of every tier: level 0 as a pass wrote it, level 1 when compacted.
CREATE TABLE IF NOT EXISTS rollup_runs (
  tier  VARCHAR  NOT NULL,
  run   BIGINT   NOT NULL,
  blk   BIGINT   NOT NULL,
  level UTINYINT NOT NULL,
  rows  BIGINT   NOT NULL,
  t_min BIGINT   NOT NULL,
  t_max BIGINT   NOT NULL
);
`;

/** A level of storage as the planner sees it: raw rows or one tier. */
interface Level {
  name: 'raw' | TierName;
  table: string;
  widthMs: number;
  /** Column holding the row's time (sample time or bucket start). */
  time: string;
  /** Column compared with the next tier's consumed-up-to mark. */
  fresh: string;
  /** The row as a partial aggregate, in ROLLUP_PART order. */
  part: string;
}

const RAW_LEVEL: Level = {
  name: 'raw',
  table: 'readings',
  widthMs: 1,
  time: 'ts',
  fresh: 'arrival',
  part: `metric, ts AS t, 1 AS n, CASE WHEN num IS NULL THEN 0 ELSE 1 END AS nn, num AS sum, num AS mn, num AS mx,
         ts AS last_ts, arrival AS last_arrival, kind AS last_kind, num AS last_num, str AS last_str`,
};

const tierLevel = (tier: TierDef): Level => ({
  name: tier.name,
  table: tier.table,
  widthMs: tier.widthMs,
  time: 't',
  fresh: 'blk',
  part: 'metric, t, n, nn, sum, mn, mx, last_ts, last_arrival, last_kind, last_num, last_str',
});

export const LEVELS: readonly Level[] = [RAW_LEVEL, ...TIERS.map(tierLevel)];

/** Integers go into SQL text as literals (so DuckDB prunes by them); this refuses anything else. */
function int(n: number): string {
  if (!Number.isSafeInteger(n)) throw new RangeError(`not a safe integer: ${n}`);
  return String(n);
}

const floorTo = (x: number, w: number) => x - (((x % w) + w) % w);
const ceilTo = (x: number, w: number) => -floorTo(-x, w);

/** `t` as the start of its bucket of width w from origin o, for any sign (SQL). */
const bucketExpr = (col: string, w: number, o = 0) => `${col} - (((${col} - ${int(o)}) % ${int(w)}) + ${int(w)}) % ${int(w)}`;

/** Merging partial aggregates (one output row per group). */
const MERGED = `sum(n) AS n, sum(nn) AS nn, sum(sum) AS sum, min(mn) AS mn, max(mx) AS mx,
  arg_max({'ts': last_ts, 'a': last_arrival, 'k': last_kind, 'n': last_num, 's': last_str}, {'ts': last_ts, 'a': last_arrival}) AS l`;

/** The merged row as rollup columns, given its t expression, blk and run. */
const mergedColumns = (blk: number, run: number) =>
  `dev, metric, t, n::INTEGER, nn::INTEGER, sum, mn, mx, l.ts, l.a, l.k, l.n, l.s, ${int(blk)}, ${int(run)}`;

export interface HistoryPlanQuery {
  dev: number;
  metrics?: readonly string[];
  /** Integer ms; from inclusive, to exclusive. */
  from: number;
  to: number;
  bucketMs: number;
  /** In [0, bucketMs). */
  origin: number;
}

/** The consumed-up-to mark of each tier. */
export type Marks = Record<TierName, number>;

/**
 * The SQL answering one history question: the coarsest tier whose width divides the bucket
 * (and whose buckets line up with the question's) answers the whole buckets it holds; finer
 * levels answer the ends of the range and whatever the coarser ones have not consumed yet.
 * Each part is a separate scan with plain range filters, so DuckDB can prune each by min/max.
 */
export function planHistory(q: HistoryPlanQuery, marks: Marks): { sql: string; params: string[] } {
  // Levels that can serve: widths dividing the bucket, aligned with its origin. Widths nest,
  // so these are a prefix of LEVELS; a tier with no whole bucket inside the range is dropped.
  const lo: number[] = [];
  const hi: number[] = [];
  const chain: Level[] = [];
  for (const level of LEVELS) {
    const w = level.widthMs;
    if (q.bucketMs % w !== 0 || q.origin % w !== 0) break;
    const l = ceilTo(q.from, w);
    const h = floorTo(q.to, w);
    if (chain.length > 0 && l >= h) break;
    chain.push(level);
    lo.push(l);
    hi.push(h);
  }
  const params: string[] = [];
  const metricFilter = q.metrics ? ` AND metric IN (${q.metrics.map(() => '?').join(', ')})` : '';
  const scans: string[] = [];
  const scan = (level: Level, from: number, to: number, freshAbove?: number) => {
    if (from >= to) return;
    const fresh = freshAbove === undefined ? '' : ` AND ${level.fresh} > ${int(freshAbove)}`;
    scans.push(`SELECT ${level.part} FROM ${level.table} WHERE dev = ${int(q.dev)} AND ${level.time} >= ${int(from)} AND ${level.time} < ${int(to)}${fresh}${metricFilter}`);
    if (q.metrics) params.push(...q.metrics);
  };
  const top = chain.length - 1;
  for (let k = 0; k <= top; k++) {
    const level = chain[k]!;
    if (k === top) {
      scan(level, lo[k]!, hi[k]!);
      continue;
    }
    const next = chain[k + 1]!;
    scan(level, lo[k]!, lo[k + 1]!); // the range's start, finer than the next level's buckets
    scan(level, hi[k + 1]!, hi[k]!); // its end
    scan(level, lo[k + 1]!, hi[k + 1]!, marks[next.name as TierName]); // what the next level has not consumed yet
  }
  if (scans.length === 0) return { sql: '', params };
  const b = q.bucketMs;
  const sql = `
    SELECT metric, ${bucketExpr('t', b, q.origin)} AS bt, sum(n) AS n, sum(sum) / nullif(sum(nn), 0) AS avg, min(mn) AS mn, max(mx) AS mx,
           arg_max({'k': last_kind, 'n': last_num, 's': last_str}, {'ts': last_ts, 'a': last_arrival}) AS last
    FROM (${scans.join('\n      UNION ALL ')})
    GROUP BY metric, bt
    ORDER BY metric, bt`;
  return { sql, params };
}

export interface RollupOptions {
  retention: RetentionDays;
  /** Per tier, runs per next-tier pass and per compaction. */
  fanIn: Record<TierName, number>;
  /** Most raw rows one 1m pass reads (a backlog or an old file is rolled up in slices). */
  maxPassRows: number;
  /** Retention deletes at most this much time per statement (then lets a checkpoint run). */
  retentionSliceMs: number;
}

export interface Run {
  run: number;
  blk: number;
  level: number;
  rows: number;
  tMin: number;
  tMax: number;
}

/** What one maintain() did. */
export interface MaintenanceReport {
  /** Runs written by passes, per tier. */
  passes: Record<TierName, number>;
  /** Compactions, per tier. */
  compactions: Record<TierName, number>;
  rowsWritten: number;
  /** Rows retention deleted, per level. */
  deleted: Record<'raw' | TierName, number>;
}

export interface MaintenanceHooks {
  /** Checkpoints through the store's write chain (after a large change). */
  checkpoint(): Promise<void>;
  /** True once the store is closing: maintenance stops before its next step. */
  stopping(): boolean;
  /** The highest arrival number handed out so far (committed or about to be). */
  newestArrival(): number;
  logger: StorageLogger;
}

/** Thrown by a step asked to run while the store closes; maintain() ends quietly on it. */
class Stopped extends Error {}

/** Rows written or deleted after which maintenance asks for a checkpoint before going on. */
const CHECKPOINT_AFTER_ROWS = 2_000_000;

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v as bigint | number));

/**
 * The rollup bookkeeping of one store: marks, runs and retention cursors, mirrored in memory
 * from the tables they are persisted in (re-read after any failed step).
 */
export class Rollups {
  private marks: Marks = { '1m': 0, '15m': 0, '1h': 0 };
  private cuts: Record<string, number | null> = {};
  private runs: Record<TierName, Run[]> = { '1m': [], '15m': [], '1h': [] };
  private nextRun = 1;
  private sinceCheckpoint = 0;
  /**
   * What a step changes in the in-memory mirror, applied by step() once its COMMIT succeeded:
   * the mirror never runs ahead of the file.
   */
  private afterCommit: (() => void) | null = null;

  constructor(
    private readonly c: DuckDBConnection,
    private readonly options: RollupOptions,
    private readonly hooks: MaintenanceHooks,
  ) {}

  /** Reads the persisted state; call once at open, and after a failed step. */
  async load(): Promise<void> {
    const state = (await this.c.runAndReadAll('SELECT name, value FROM rollup_state')).getRowsJS();
    const values = new Map(state.map(([name, value]) => [name as string, num(value)]));
    for (const tier of TIERS) this.marks[tier.name] = values.get(tier.name) ?? 0;
    this.cuts = {};
    for (const rule of retentionRules(this.options.retention)) this.cuts[rule.cursor] = values.get(`cut:${rule.cursor}`) ?? null;
    const rows = (await this.c.runAndReadAll('SELECT tier, run, blk, level, rows, t_min, t_max FROM rollup_runs ORDER BY run')).getRowsJS();
    this.runs = { '1m': [], '15m': [], '1h': [] };
    let maxRun = 0;
    for (const [tier, run, blk, level, count, tMin, tMax] of rows) {
      const r = { run: num(run)!, blk: num(blk)!, level: Number(level), rows: num(count)!, tMin: num(tMin)!, tMax: num(tMax)! };
      this.runs[tier as TierName]?.push(r);
      maxRun = Math.max(maxRun, r.run);
    }
    this.nextRun = maxRun + 1;
  }

  /** Each tier's consumed-up-to mark, as last committed (for reports and tests, not for queries). */
  currentMarks(): Marks {
    return { ...this.marks };
  }

  /** Each tier's runs, oldest first (a copy). */
  currentRuns(): Record<TierName, Run[]> {
    return { '1m': [...this.runs['1m']], '15m': [...this.runs['15m']], '1h': [...this.runs['1h']] };
  }

  /**
   * Rolls up everything stored so far, compacts and applies retention at `now`. Each step is
   * its own transaction; a step that fails is rolled back and the next call tries again.
   */
  async maintain(now: number): Promise<MaintenanceReport> {
    const report: MaintenanceReport = {
      passes: { '1m': 0, '15m': 0, '1h': 0 },
      compactions: { '1m': 0, '15m': 0, '1h': 0 },
      rowsWritten: 0,
      deleted: { raw: 0, '1m': 0, '15m': 0, '1h': 0 },
    };
    try {
      // Each step is taken only when there is work for it (a transaction costs even when empty).
      while (this.hooks.newestArrival() > this.marks['1m'] && (await this.step(() => this.passFromRaw(report)))) {
        /* a backlog is rolled up in slices of maxPassRows */
      }
      for (let k = 0; k < TIERS.length; k++) {
        if (k + 1 < TIERS.length && this.pendingFor(k).length >= this.options.fanIn[TIERS[k]!.name]) await this.step(() => this.passUp(k, report));
        if (this.compactable(k).length >= this.options.fanIn[TIERS[k]!.name]) await this.step(() => this.compact(k, report));
      }
      await this.retention(now, report);
      if (report.rowsWritten > 0 || Object.values(report.deleted).some((n) => n > 0)) this.hooks.logger.debug({ ...report }, 'rollups maintained');
    } catch (err) {
      if (err instanceof Stopped) return report;
      await this.load().catch(() => {});
      throw err;
    }
    return report;
  }

  /** One step in one transaction; a checkpoint follows when much has changed since the last. */
  private async step<T>(work: () => Promise<{ result: T; rows: number }>): Promise<T> {
    if (this.hooks.stopping()) throw new Stopped('the store is closing');
    this.afterCommit = null;
    await this.c.run('BEGIN TRANSACTION');
    let done: { result: T; rows: number };
    try {
      done = await work();
      await this.c.run('COMMIT');
    } catch (err) {
      this.afterCommit = null;
      await this.c.run('ROLLBACK').catch(() => {});
      throw err;
    }
    const apply = this.afterCommit as (() => void) | null;
    this.afterCommit = null;
    apply?.();
    const { result, rows } = done;
    this.sinceCheckpoint += rows;
    if (this.sinceCheckpoint >= CHECKPOINT_AFTER_ROWS) {
      this.sinceCheckpoint = 0;
      await this.hooks.checkpoint();
    }
    return result;
  }

  /** Rows written or deleted since the last checkpoint maintenance asked for (and resets the count). */
  takeChanged(): number {
    const changed = this.sinceCheckpoint;
    this.sinceCheckpoint = 0;
    return changed;
  }

  private async scalar(sql: string): Promise<number | null> {
    return num((await this.c.runAndReadAll(sql)).getRowsJS()[0]?.[0]);
  }

  /** Records a run just inserted (null when it holds no row, and then it is not recorded). */
  private async recordRun(tier: TierDef, run: number, blk: number, level: number): Promise<Run | null> {
    const [count, tMin, tMax] = (await this.c.runAndReadAll(`SELECT count(*), min(t), max(t) FROM ${tier.table} WHERE run = ${int(run)}`)).getRowsJS()[0]!;
    const rows = num(count)!;
    if (rows === 0) return null;
    const r: Run = { run, blk, level, rows, tMin: num(tMin)!, tMax: num(tMax)! };
    await this.c.run(`INSERT INTO rollup_runs VALUES ('${tier.name}', ${int(run)}, ${int(blk)}, ${level}, ${int(rows)}, ${int(r.tMin)}, ${int(r.tMax)})`);
    return r;
  }

  /** Raw rows not yet rolled up (at most maxPassRows of them) into one level-0 run of 1m. */
  private async passFromRaw(report: MaintenanceReport): Promise<{ result: boolean; rows: number }> {
    const tier = TIERS[0]!;
    const mark = this.marks[tier.name];
    const newest = await this.scalar(`SELECT max(arrival) FROM readings WHERE arrival > ${int(mark)}`);
    if (newest === null) return { result: false, rows: 0 };
    const upTo = Math.min(newest, mark + this.options.maxPassRows);
    const run = this.nextRun;
    const w = tier.widthMs;
    await this.c.run(`
      INSERT INTO ${tier.table}
      SELECT ${mergedColumns(upTo, run)} FROM (
        SELECT dev, metric, ${bucketExpr('ts', w)} AS t, count(*) AS n, count(num) AS nn, sum(num) AS sum, min(num) AS mn, max(num) AS mx,
               arg_max({'ts': ts, 'a': arrival, 'k': kind, 'n': num, 's': str}, {'ts': ts, 'a': arrival}) AS l
        FROM readings WHERE arrival > ${int(mark)} AND arrival <= ${int(upTo)}
        GROUP BY ALL)
      ORDER BY dev, metric, t`);
    const recorded = await this.recordRun(tier, run, upTo, 0);
    await this.c.run(`UPDATE rollup_state SET value = ${int(upTo)} WHERE name = '${tier.name}'`);
    // In memory only once committed: step() commits right after this returns.
    this.afterCommit = () => {
      this.nextRun = run + 1;
      this.marks[tier.name] = upTo;
      if (recorded) {
        this.runs[tier.name].push(recorded);
        report.passes[tier.name]++;
        report.rowsWritten += recorded.rows;
      }
    };
    return { result: upTo < newest, rows: recorded?.rows ?? 0 };
  }

  /** Tier k's runs that tier k+1 has not consumed yet. */
  private pendingFor(k: number): Run[] {
    const mark = this.marks[TIERS[k + 1]!.name];
    return this.runs[TIERS[k]!.name].filter((r) => r.blk > mark);
  }

  /** Tier k's level-0 runs the next tier has consumed (all of them for the top tier). */
  private compactable(k: number): Run[] {
    const next = TIERS[k + 1];
    const consumedUpTo = next ? this.marks[next.name] : Number.MAX_SAFE_INTEGER;
    return this.runs[TIERS[k]!.name].filter((r) => r.level === 0 && r.blk <= consumedUpTo);
  }

  /** Tier k's runs the next tier has not consumed (fanIn of them or more): one run of tier k+1. */
  private async passUp(k: number, report: MaintenanceReport): Promise<{ result: void; rows: number }> {
    const src = TIERS[k]!;
    const dst = TIERS[k + 1]!;
    const mark = this.marks[dst.name];
    const pending = this.pendingFor(k);
    const upTo = Math.max(...pending.map((r) => r.blk));
    const run = this.nextRun;
    await this.c.run(`
      INSERT INTO ${dst.table}
      SELECT ${mergedColumns(upTo, run)} FROM (
        SELECT dev, metric, ${bucketExpr('t', dst.widthMs)} AS t, ${MERGED}
        FROM ${src.table} WHERE blk > ${int(mark)} AND blk <= ${int(upTo)}
        GROUP BY ALL)
      ORDER BY dev, metric, t`);
    const recorded = await this.recordRun(dst, run, upTo, 0);
    await this.c.run(`UPDATE rollup_state SET value = ${int(upTo)} WHERE name = '${dst.name}'`);
    this.afterCommit = () => {
      this.nextRun = run + 1;
      this.marks[dst.name] = upTo;
      if (recorded) {
        this.runs[dst.name].push(recorded);
        report.passes[dst.name]++;
        report.rowsWritten += recorded.rows;
      }
    };
    return { result: undefined, rows: recorded?.rows ?? 0 };
  }

  /** Tier k's consumed level-0 runs (fanIn of them or more) merged into one level-1 run. */
  private async compact(k: number, report: MaintenanceReport): Promise<{ result: void; rows: number }> {
    const tier = TIERS[k]!;
    const merge = this.compactable(k);
    const ids = merge.map((r) => r.run);
    const inRuns = `run BETWEEN ${int(Math.min(...ids))} AND ${int(Math.max(...ids))} AND run IN (${ids.map(int).join(', ')})`;
    const run = this.nextRun;
    const blk = Math.max(...merge.map((r) => r.blk));
    await this.c.run(`
      INSERT INTO ${tier.table}
      SELECT dev, metric, t, n, nn, sum, mn, mx, last_ts, last_arrival, last_kind, last_num, last_str, ${int(blk)}, ${int(run)}
      FROM ${tier.table} WHERE ${inRuns}
      ORDER BY dev, metric, t`);
    await this.c.run(`DELETE FROM ${tier.table} WHERE ${inRuns}`);
    await this.c.run(`DELETE FROM rollup_runs WHERE tier = '${tier.name}' AND ${inRuns}`);
    const recorded = await this.recordRun(tier, run, blk, 1);
    this.afterCommit = () => {
      this.nextRun = run + 1;
      const gone = new Set(ids);
      this.runs[tier.name] = this.runs[tier.name].filter((r) => !gone.has(r.run));
      if (recorded) {
        this.runs[tier.name].push(recorded);
        this.runs[tier.name].sort((a, b) => a.run - b.run);
      }
      report.compactions[tier.name]++;
      report.rowsWritten += recorded?.rows ?? 0;
    };
    return { result: undefined, rows: 2 * (recorded?.rows ?? 0) };
  }

  /**
   * Removes from rollup_runs the runs of `rule`'s tier whose every row retention has deleted
   * (older than the cursors of all the tier's rules, `rule`'s moving to `cut`, and consumed).
   * Returns what to apply to the in-memory mirror once committed.
   */
  private async forgetEmptyRuns(rule: RetentionRule, cut: number): Promise<() => void> {
    const tier = TIERS[rule.level - 1]!;
    const others = retentionRules(this.options.retention).filter((r) => r.level === rule.level && r.cursor !== rule.cursor);
    const gone = Math.min(cut, ...others.map((r) => this.cuts[r.cursor] ?? Number.NEGATIVE_INFINITY));
    if (!Number.isFinite(gone)) return () => {};
    const next = TIERS[rule.level];
    const consumed = next ? this.marks[next.name] : Number.MAX_SAFE_INTEGER;
    await this.c.run(`DELETE FROM rollup_runs WHERE tier = '${tier.name}' AND t_max < ${int(gone)} AND blk <= ${int(consumed)}`);
    return () => (this.runs[tier.name] = this.runs[tier.name].filter((r) => !(r.tMax < gone && r.blk <= consumed)));
  }

  /**
   * Deletes what each level keeps no longer: rows older than its horizon that the next tier
   * has consumed, up to an hour of time per statement, moving a persisted cursor per rule.
   */
  private async retention(now: number, report: MaintenanceReport): Promise<void> {
    for (const rule of retentionRules(this.options.retention)) {
      const level = LEVELS[rule.level]!;
      const horizon = now - Math.round(rule.days * DAY_MS);
      const next = TIERS[rule.level]; // the tier fed from this level
      const guard = next ? ` AND ${level.fresh} <= ${int(this.marks[next.name])}` : '';
      let cursor = this.cuts[rule.cursor] ?? null;
      if (cursor === null) {
        // First run on this file: start from its oldest row (a file from before retention).
        const oldest = await this.scalar(`SELECT min(${level.time}) FROM ${level.table}`);
        const start = oldest === null ? horizon : Math.min(oldest, horizon);
        await this.step(async () => {
          await this.c.run(`UPDATE rollup_state SET value = ${int(start)} WHERE name = 'cut:${rule.cursor}'`);
          this.afterCommit = () => (this.cuts[rule.cursor] = start);
          return { result: undefined, rows: 0 };
        });
        cursor = start;
      }
      // Whole slices only (at most one partial one to reach the horizon), so a 5-minute
      // maintenance does not delete five minutes' worth from every level every time.
      if (horizon - cursor < this.options.retentionSliceMs) continue;
      // `< cut`, not a window: a late row older than the cursor goes with the next slice.
      while (cursor < horizon) {
        const cut = Math.min(horizon, cursor + this.options.retentionSliceMs);
        await this.step(async () => {
          const done = await this.c.run(`DELETE FROM ${level.table} WHERE ${level.time} < ${int(cut)}${guard}${rule.filter}`);
          const deleted = Number(done.rowsChanged);
          await this.c.run(`UPDATE rollup_state SET value = ${int(cut)} WHERE name = 'cut:${rule.cursor}'`);
          const forget = rule.level > 0 ? await this.forgetEmptyRuns(rule, cut) : () => {};
          this.afterCommit = () => {
            this.cuts[rule.cursor] = cut;
            report.deleted[level.name] += deleted;
            forget();
          };
          return { result: undefined, rows: deleted };
        });
        cursor = cut;
      }
    }
  }
}
