/**
 * Readings for the rollup tests, and the oracle they are checked against: history computed
 * in plain JS from every row written, in the order written, exactly as the store's contract
 * says (HistoryBucket in storage/types.ts). The store's answers come from raw rows, rollups
 * or both; whichever it used, they must equal this.
 */
import type { HistoryBucket, HistoryQuery, StoredRow } from '../../src/storage/index.ts';

export const MIN = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

/** A small deterministic generator (mulberry32), so every run writes the same values. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The rows two devices report in [from, to): d1 a temperature and an on/off every 30 s and a
 * mode (string) every 5 min, d2 a throughput every 10 s, with jitter of up to a second and
 * a silent hour (d1 off the network) from `silentFrom` when given.
 */
export function deviceRows(from: number, to: number, random: () => number, silentFrom?: number): StoredRow[] {
  const rows: StoredRow[] = [];
  const silent = (ts: number) => silentFrom !== undefined && ts >= silentFrom && ts < silentFrom + HOUR;
  for (let ts = from; ts < to; ts += 10_000) {
    const jitter = Math.floor(random() * 1000);
    rows.push({ schoolId: 's2', deviceId: 'd2', metric: 'inBps', ts: ts + jitter, value: Math.round(random() * 1e6) / 10 });
    if ((ts - from) % 30_000 === 0 && !silent(ts)) {
      rows.push({ schoolId: 's1', deviceId: 'd1', metric: 'temp', ts: ts + jitter, value: 20 + Math.round(random() * 150) / 10 });
      rows.push({ schoolId: 's1', deviceId: 'd1', metric: 'on', ts: ts + jitter, value: random() < 0.7 });
    }
    if ((ts - from) % 300_000 === 0 && !silent(ts)) rows.push({ schoolId: 's1', deviceId: 'd1', metric: 'mode', ts, value: random() < 0.5 ? 'eco' : 'boost' });
  }
  return rows;
}

/** History computed from `written` (in write order) for one question. */
export function oracle(written: readonly StoredRow[], q: HistoryQuery): HistoryBucket[] {
  const b = q.bucketMs;
  const origin = q.origin ?? 0;
  const groups = new Map<string, { metric: string; t: number; n: number; nn: number; sum: number; min: number | null; max: number | null; lastTs: number; last: StoredRow }>();
  for (const row of written) {
    if (row.deviceId !== q.deviceId || row.ts < q.from || row.ts >= q.to) continue;
    if (q.metrics && !q.metrics.includes(row.metric)) continue;
    const t = row.ts - ((((row.ts - origin) % b) + b) % b);
    const key = `${row.metric}\u0000${t}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { metric: row.metric, t, n: 0, nn: 0, sum: 0, min: null, max: null, lastTs: -Infinity, last: row }));
    g.n++;
    const v = typeof row.value === 'boolean' ? (row.value ? 1 : 0) : row.value;
    if (typeof v === 'number') {
      g.nn++;
      g.sum += v;
      g.min = g.min === null ? v : Math.min(g.min, v);
      g.max = g.max === null ? v : Math.max(g.max, v);
    }
    // The latest sample; on equal ts the row written later.
    if (row.ts >= g.lastTs) {
      g.lastTs = row.ts;
      g.last = row;
    }
  }
  return [...groups.values()]
    .sort((x, y) => (x.metric < y.metric ? -1 : x.metric > y.metric ? 1 : x.t - y.t))
    .map((g) => ({ metric: g.metric, t: g.t, count: g.n, avg: g.nn > 0 ? g.sum / g.nn : null, min: g.min, max: g.max, last: g.last.value }));
}

/**
 * Compares a store's answer with the oracle's: everything exact but the average, which may
 * differ in the last bits (sums taken in another order).
 */
export function sameHistory(got: readonly HistoryBucket[], want: readonly HistoryBucket[]): string | null {
  if (got.length !== want.length) return `${got.length} buckets, expected ${want.length}: first difference ${firstDifference(got, want)}`;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const avgOk = g.avg === null || w.avg === null ? g.avg === w.avg : Math.abs(g.avg - w.avg) <= 1e-9 * Math.max(1, Math.abs(w.avg));
    if (g.metric !== w.metric || g.t !== w.t || g.count !== w.count || g.min !== w.min || g.max !== w.max || g.last !== w.last || !avgOk)
      return `bucket ${i}: got ${JSON.stringify(g)}, expected ${JSON.stringify(w)}`;
  }
  return null;
}

function firstDifference(got: readonly HistoryBucket[], want: readonly HistoryBucket[]): string {
  const key = (b: HistoryBucket) => `${b.metric}@${new Date(b.t).toISOString()}`;
  const g = new Set(got.map(key));
  const w = new Set(want.map(key));
  const missing = [...w].find((k) => !g.has(k));
  const extra = [...g].find((k) => !w.has(k));
  return `missing ${missing ?? '-'}, extra ${extra ?? '-'}`;
}
