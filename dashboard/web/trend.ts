// What a trend chart shows: the time range a person picked (last hour, today, 7 days,
// 30 days, or two dates), and a metric's history as columns for the chart, with a gap (null)
// for every bucket that holds no sample, so a chart never draws a line across an outage.
// No DOM here: unit-tested in Node.

import type { History } from '@schoolops/device-profiles/api';

export type RangeKind = 'hour' | 'today' | 'week' | 'month' | 'custom';
export const RANGE_KINDS: readonly RangeKind[] = ['hour', 'today', 'week', 'month', 'custom'];

/** The longest range one chart asks for (the API's own limit is longer). */
export const MAX_RANGE_DAYS = 31;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export type Range = { ok: true; from: number; to: number } | { ok: false; code: 'bad_date' | 'range_backwards' | 'range_too_long'; params: Record<string, string | number> };

/** ms a zone is ahead of UTC at `at` (+7 h for Vietnam), read from Intl. */
export function zoneOffsetMs(at: number, timeZone: string): number {
  const parts: Record<string, number> = {};
  for (const p of new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(at))
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return asUtc - Math.floor(at / 1000) * 1000;
}

/** Midnight of the local day that holds `at`, in `timeZone`. */
export function startOfLocalDay(at: number, timeZone: string): number {
  const offset = zoneOffsetMs(at, timeZone);
  const local = at + offset;
  const midnightLocal = local - (((local % DAY_MS) + DAY_MS) % DAY_MS);
  return midnightLocal - zoneOffsetMs(midnightLocal - offset, timeZone);
}

/** 'YYYY-MM-DD' (a date input's value) to the local midnight it starts at, or null. */
export function parseDateInput(value: string, timeZone: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return null;
  const utcMidnight = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (!Number.isFinite(utcMidnight) || new Date(utcMidnight).getUTCDate() !== Number(m[3])) return null;
  return utcMidnight - zoneOffsetMs(utcMidnight, timeZone);
}

/** The local date of `at` as 'YYYY-MM-DD'. */
export function localDate(at: number, timeZone: string): string {
  return new Date(at + zoneOffsetMs(at, timeZone)).toISOString().slice(0, 10);
}

/**
 * The range a choice stands for at `now`. A custom range runs from the start of its first
 * day to the end of its last (both dates included), and is refused when backwards, too long
 * or not dates: the page says so instead of drawing an empty chart.
 */
export function rangeFor(kind: RangeKind, now: number, timeZone: string, custom?: { from: string; to: string }): Range {
  // (A custom range that reaches today runs to the day's end: the rest of the day is empty.)
  if (kind === 'hour') return { ok: true, from: now - HOUR_MS, to: now };
  if (kind === 'today') return { ok: true, from: startOfLocalDay(now, timeZone), to: now };
  if (kind === 'week') return { ok: true, from: now - 7 * DAY_MS, to: now };
  if (kind === 'month') return { ok: true, from: now - 30 * DAY_MS, to: now };
  const from = parseDateInput(custom?.from ?? '', timeZone);
  if (from === null) return { ok: false, code: 'bad_date', params: { value: custom?.from ?? '' } };
  const lastDay = parseDateInput(custom?.to ?? '', timeZone);
  if (lastDay === null) return { ok: false, code: 'bad_date', params: { value: custom?.to ?? '' } };
  if (lastDay < from) return { ok: false, code: 'range_backwards', params: { from: custom!.from, to: custom!.to } };
  const to = lastDay + DAY_MS;
  const days = Math.round((lastDay + DAY_MS - from) / DAY_MS);
  if (days > MAX_RANGE_DAYS) return { ok: false, code: 'range_too_long', params: { days, max: MAX_RANGE_DAYS } };
  return { ok: true, from, to };
}

/** One metric's columns for the chart: x in seconds (uPlot's unit), a null where there is no data. */
export interface TrendColumns {
  metric: string;
  unit: string;
  xs: number[];
  avg: Array<number | null>;
  min: Array<number | null>;
  max: Array<number | null>;
  /** Buckets that hold at least one sample. */
  filled: number;
}

/** Most columns one chart gets; a range with more buckets is charted from its points alone. */
const MAX_GRID = 20_000;

/**
 * A series of the history answer as chart columns: one column per bucket of the range, so a
 * bucket the answer leaves out (nothing was stored in it) is a null, a gap in the line.
 * Strings have no avg/min/max and make no chart: null for a metric without any number.
 */
export function trendColumns(history: History, metric: string): TrendColumns | null {
  const series = history.series.find((s) => s.metric === metric);
  if (!series) return null;
  const numeric = series.points.filter((p) => p.avg !== null);
  if (numeric.length === 0) return null;
  const step = history.bucketSeconds * 1000;
  const byT = new Map(numeric.map((p) => [p.t, p]));
  let ts: number[];
  if ((history.to - history.from) / step <= MAX_GRID) {
    // The grid of bucket starts over the range, plus any point off it (another origin).
    const first = Math.floor(history.from / step) * step;
    const grid = new Set<number>();
    for (let t = first; t < history.to; t += step) grid.add(t);
    for (const p of numeric) grid.add(p.t);
    ts = [...grid].sort((a, b) => a - b);
  } else {
    ts = numeric.map((p) => p.t);
  }
  const avg: Array<number | null> = [];
  const min: Array<number | null> = [];
  const max: Array<number | null> = [];
  for (const t of ts) {
    const p = byT.get(t);
    avg.push(p?.avg ?? null);
    min.push(p?.min ?? null);
    max.push(p?.max ?? null);
  }
  return { metric, unit: series.unit, xs: ts.map((t) => t / 1000), avg, min, max, filled: numeric.length };
}

/** The metrics of a history answer that can be charted (have a number somewhere), in the given order first. */
export function chartableMetrics(history: History, preferred: readonly string[] = []): string[] {
  const numeric = history.series.filter((s) => s.points.some((p) => p.avg !== null)).map((s) => s.metric);
  const first = preferred.filter((m) => numeric.includes(m));
  return [...first, ...numeric.filter((m) => !first.includes(m)).sort()];
}
