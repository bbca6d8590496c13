import { describe, expect, it } from 'vitest';
import type { History } from '@schoolops/device-profiles/api';
import { chartableMetrics, localDate, parseDateInput, rangeFor, startOfLocalDay, trendColumns } from '../web/trend.ts';

const VN = 'Asia/Ho_Chi_Minh';
const at = (iso: string) => Date.parse(iso);

describe('ranges', () => {
  const now = at('2025-03-10T02:30:00Z'); // 09:30 in Hà Nội

  it('today starts at local midnight, in Vietnam and in a zone with summer time', () => {
    expect(startOfLocalDay(now, VN)).toBe(at('2025-03-09T17:00:00Z'));
    expect(rangeFor('today', now, VN)).toEqual({ ok: true, from: at('2025-03-09T17:00:00Z'), to: now });
    // Berlin on the day clocks go forward: midnight is still 23:00 UTC the day before.
    expect(startOfLocalDay(at('2025-03-30T12:00:00Z'), 'Europe/Berlin')).toBe(at('2025-03-29T23:00:00Z'));
    expect(localDate(at('2025-03-09T17:00:00Z'), VN)).toBe('2025-03-10');
  });

  it('the last hour, 7 days and 30 days end now', () => {
    expect(rangeFor('hour', now, VN)).toEqual({ ok: true, from: now - 3_600_000, to: now });
    expect(rangeFor('week', now, VN)).toEqual({ ok: true, from: now - 7 * 86_400_000, to: now });
    expect(rangeFor('month', now, VN)).toEqual({ ok: true, from: now - 30 * 86_400_000, to: now });
  });

  it('a custom range covers both its days, and is refused backwards, too long or not dates', () => {
    expect(rangeFor('custom', now, VN, { from: '2025-03-03', to: '2025-03-07' })).toEqual({ ok: true, from: at('2025-03-02T17:00:00Z'), to: at('2025-03-07T17:00:00Z') });
    // A day that is today runs to its end: the part still to come is simply empty.
    expect(rangeFor('custom', now, VN, { from: '2025-03-10', to: '2025-03-10' })).toEqual({ ok: true, from: at('2025-03-09T17:00:00Z'), to: at('2025-03-10T17:00:00Z') });
    expect(rangeFor('custom', now, VN, { from: '2025-03-07', to: '2025-03-03' })).toMatchObject({ ok: false, code: 'range_backwards' });
    expect(rangeFor('custom', now, VN, { from: '2025-01-01', to: '2025-03-01' })).toMatchObject({ ok: false, code: 'range_too_long', params: { days: 60 } });
    expect(rangeFor('custom', now, VN, { from: '', to: '2025-03-01' })).toMatchObject({ ok: false, code: 'bad_date' });
    expect(parseDateInput('2025-02-30', VN)).toBeNull();
  });
});

describe('chart columns', () => {
  const history = (points: History['series'][number]['points'], extra: History['series'] = []): History => ({
    deviceId: 'd',
    from: 0,
    to: 600_000,
    bucketSeconds: 60,
    series: [{ metric: 'inBps', unit: 'bit/s', points }, ...extra],
  });
  const point = (minute: number, avg: number) => ({ t: minute * 60_000, count: 2, avg, min: avg - 1, max: avg + 1, last: avg });

  it('have a column per bucket, null where nothing was stored: a gap, not a line', () => {
    const columns = trendColumns(history([point(0, 10), point(1, 20), point(5, 50)]), 'inBps')!;
    expect(columns.xs).toEqual([0, 60, 120, 180, 240, 300, 360, 420, 480, 540]);
    expect(columns.avg).toEqual([10, 20, null, null, null, 50, null, null, null, null]);
    expect(columns.min[5]).toBe(49);
    expect(columns.max[5]).toBe(51);
    expect(columns.filled).toBe(3);
  });

  it('keep a point off the grid, and make no chart of strings or of a metric not answered', () => {
    const h = history([point(0, 1), { t: 90_000, count: 1, avg: 7, min: 7, max: 7, last: 7 }], [
      { metric: 'power', unit: '', points: [{ t: 0, count: 1, avg: null, min: null, max: null, last: 'on' }] },
    ]);
    expect(trendColumns(h, 'inBps')!.xs).toContain(90);
    expect(trendColumns(h, 'power')).toBeNull();
    expect(trendColumns(h, 'nothing')).toBeNull();
    expect(chartableMetrics(h, ['power', 'inBps'])).toEqual(['inBps']);
  });
});
