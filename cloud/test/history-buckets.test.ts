/**
 * The history route's choice of bucket width (cloud/src/api/history.ts): from the ladder, the
 * smallest with at most MAX_POINTS buckets that the store holds for the whole range, the
 * range widened to whole buckets; a named bucket kept as asked. On a real DuckDB file with
 * 40 days of a router's readings, rolled up and trimmed by retention on the test's clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_PROFILES_DIR, loadProfiles, type Inventory } from '@schoolops/device-profiles';
import { BUCKET_LADDER_S, MAX_POINTS, chooseBucketSeconds, historyRoutes } from '../src/api/history.ts';
import { Ingest } from '../src/ingest.ts';
import { DistrictIndex } from '../src/inventory.ts';
import { LiveState } from '../src/live-state.ts';
import { openDuckDbStore, type DuckDbStore } from '../src/storage/duckdb-store.ts';
import type { HistoryTier, StoredRow } from '../src/storage/index.ts';
import { DAY, HOUR, MIN, oracle, sameHistory } from './support/rollup-data.ts';

/** 10:00 in Vietnam, 2026-12-07. */
const NOW = Date.UTC(2026, 11, 7, 3, 0, 0);
/** Vietnam's midnight of that day. */
const TODAY = Date.UTC(2026, 11, 6, 17, 0, 0);
/** Two hours without readings (the router was off), two days ago. */
const GAP = { from: NOW - 2 * DAY - 3 * HOUR, to: NOW - 2 * DAY - HOUR };

const inventory: Inventory = {
  v: 1,
  district: { id: 'test', name: { vi: 'Quận Thử', en: 'Test District' }, timezone: 'Asia/Ho_Chi_Minh' },
  schools: [
    {
      id: 'a',
      name: { vi: 'Trường A', en: 'School A' },
      level: 'lower-secondary',
      ward: 'Phường 1',
      gatewayId: 'gw-a',
      rooms: [{ id: 'server', name: { vi: 'Phòng máy chủ', en: 'Server room' }, type: 'server-room', floor: 1, capacity: 2 }],
      classes: [],
      timetable: { periods: [{ n: 1, start: '07:00', end: '07:45' }], lessons: [] },
      devices: [{ id: 'a.router', profileId: 'mikrotik-hex-s', roomId: 'server' }],
    },
  ],
};

describe('the bucket width the history route picks', () => {
  let dir: string;
  let store: DuckDbStore;
  let app: FastifyInstance;
  const written: StoredRow[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'history-buckets-'));
    // Default retention (raw 7 d, 1m 7 d, 15m 35 d, 1h 400 d); fan-in 1 so one maintain()
    // rolls everything up through every tier.
    store = await openDuckDbStore({ file: join(dir, 'readings.duckdb'), rollupEveryMs: 0, rollupFanIn: { '1m': 1, '15m': 1, '1h': 1 }, now: () => NOW });
    for (let day = 40; day > 0; day--) {
      const rows: StoredRow[] = [];
      for (let ts = NOW - day * DAY; ts < NOW - (day - 1) * DAY; ts += MIN) {
        if (ts >= GAP.from && ts < GAP.to) continue;
        rows.push({ schoolId: 'a', deviceId: 'a.router', metric: 'inBps', ts, value: (ts / MIN) % 1000 });
        rows.push({ schoolId: 'a', deviceId: 'a.router', metric: 'linkUp', ts, value: (ts / MIN) % 7 !== 0 });
      }
      await store.write(rows);
      written.push(...rows);
    }
    await store.maintain();
    const district = new DistrictIndex(inventory, loadProfiles([BUILTIN_PROFILES_DIR]));
    const live = new LiveState(district);
    const context = { district, live, store, ingest: new Ingest(district, store, live, pino({ level: 'silent' })), schoolClockOffsetMs: 0 };
    const api = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>();
    await api.register(historyRoutes, { prefix: '/api', ...context });
    await api.ready();
    app = api as unknown as FastifyInstance;
  });

  afterAll(async () => {
    await app?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const history = async (from: number, to: number, extra = '') => {
    const response = await app.inject({ method: 'GET', url: `/api/devices/a.router/history?from=${from}&to=${to}${extra}` });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as { from: number; to: number; bucketSeconds: number; series: { metric: string; points: { t: number; count: number }[] }[] };
  };

  it.each([
    { what: 'the last hour', from: NOW - HOUR, to: NOW, bucketSeconds: 10 },
    { what: 'the last 6 hours', from: NOW - 6 * HOUR, to: NOW, bucketSeconds: 60 },
    { what: 'today (since local midnight)', from: TODAY, to: NOW, bucketSeconds: 300 },
    { what: 'the last 24 hours', from: NOW - DAY, to: NOW, bucketSeconds: 300 },
    { what: 'the last 3 days', from: NOW - 3 * DAY, to: NOW, bucketSeconds: 900 },
    { what: 'the last 7 days', from: NOW - 7 * DAY, to: NOW, bucketSeconds: 3_600 },
    { what: 'the last 30 days', from: NOW - 30 * DAY, to: NOW, bucketSeconds: 10_800 },
    { what: 'the last 92 days', from: NOW - 92 * DAY, to: NOW, bucketSeconds: 21_600 },
    { what: 'an hour 8 days ago (raw rows and 1-minute rollups gone)', from: NOW - 8 * DAY, to: NOW - 8 * DAY + HOUR, bucketSeconds: 900 },
    { what: 'a day 20 days ago', from: NOW - 20 * DAY, to: NOW - 19 * DAY, bucketSeconds: 900 },
    { what: 'a day 50 days ago (15-minute rollups gone)', from: NOW - 50 * DAY, to: NOW - 49 * DAY, bucketSeconds: 3_600 },
    { what: 'a day 500 days ago (nothing kept)', from: NOW - 500 * DAY, to: NOW - 499 * DAY, bucketSeconds: 3_600 },
  ])('$what: $bucketSeconds s buckets', async ({ from, to, bucketSeconds }) => {
    const answer = await history(from, to);
    expect(answer.bucketSeconds).toBe(bucketSeconds);
    const w = bucketSeconds * 1000;
    // Widened to whole buckets, said in the answer, within the points limit.
    expect(answer.from % w).toBe(0);
    expect(answer.to % w).toBe(0);
    expect(answer.from).toBeLessThanOrEqual(from);
    expect(answer.from).toBeGreaterThan(from - w);
    expect(answer.to).toBeGreaterThanOrEqual(to);
    expect(answer.to).toBeLessThan(to + w);
    expect((answer.to - answer.from) / w).toBeLessThanOrEqual(MAX_POINTS);
  });

  it('answers what was stored, whole buckets, with a gap where nothing was', async () => {
    for (const [from, to] of [
      [NOW - 3 * DAY, NOW],
      [NOW - 30 * DAY, NOW],
      [TODAY, NOW],
    ] as const) {
      const answer = await history(from, to, '&metric=inBps');
      const want = oracle(written, { deviceId: 'a.router', metrics: ['inBps'], from: answer.from, to: answer.to, bucketMs: answer.bucketSeconds * 1000 });
      const got = answer.series.flatMap((s) => s.points.map((p) => ({ metric: s.metric, ...p })));
      expect(sameHistory(got as never, want)).toBeNull();
    }
    // At 15 minutes over the last 3 days, the router's two silent hours are 8 absent buckets.
    const answer = await history(NOW - 3 * DAY, NOW, '&metric=inBps');
    const ts = answer.series[0]!.points.map((p) => p.t);
    const missing = [];
    for (let t = answer.from; t < answer.to; t += 15 * MIN) if (!ts.includes(t) && t < NOW) missing.push(t);
    expect(missing).toEqual(Array.from({ length: 8 }, (_, i) => GAP.from + i * 15 * MIN));
  });

  it('keeps a named bucket and the range as asked', async () => {
    const from = NOW - DAY + 12_345;
    const answer = await history(from, NOW, '&bucket=120');
    expect([answer.from, answer.to, answer.bucketSeconds]).toEqual([from, NOW, 120]);
    const want = oracle(written, { deviceId: 'a.router', from, to: NOW, bucketMs: 120_000 });
    expect(sameHistory(answer.series.flatMap((s) => s.points.map((p) => ({ metric: s.metric, ...p }))) as never, want)).toBeNull();
    const tooMany = await app.inject({ method: 'GET', url: `/api/devices/a.router/history?from=${NOW - 7 * DAY}&to=${NOW}&bucket=60` });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().code).toBe('too_many_buckets');
  });
});

describe('chooseBucketSeconds', () => {
  const now = NOW;
  const tiers = (rawDays: number, minuteDays: number, quarterDays: number, hourDays: number): HistoryTier[] => [
    { name: 'raw', bucketMs: 1, since: now - rawDays * DAY },
    { name: '1m', bucketMs: MIN, since: now - minuteDays * DAY },
    { name: '15m', bucketMs: 15 * MIN, since: now - quarterDays * DAY },
    { name: '1h', bucketMs: HOUR, since: now - hourDays * DAY },
  ];

  it('takes the smallest rung within the points limit when everything is kept', () => {
    const always: HistoryTier[] = [{ name: 'raw', bucketMs: 1, since: Number.NEGATIVE_INFINITY }];
    expect(chooseBucketSeconds(now - HOUR, now, always)).toBe(10);
    expect(chooseBucketSeconds(now - 2 * HOUR, now, always)).toBe(60);
    expect(chooseBucketSeconds(now - 92 * DAY, now, always)).toBe(21_600);
    expect(chooseBucketSeconds(now - 92 * DAY, now)).toBe(21_600); // a store that names no tiers
  });

  it('moves to a coarser rung when a finer one is not kept that far back', () => {
    expect(chooseBucketSeconds(now - 6 * HOUR, now, tiers(7, 7, 35, 400))).toBe(60);
    expect(chooseBucketSeconds(now - 6 * HOUR, now, tiers(0.1, 0.1, 35, 400))).toBe(900);
    expect(chooseBucketSeconds(now - HOUR, now, tiers(0.01, 7, 35, 400))).toBe(60);
    // 15-minute rollups kept 3 days: a range reaching a minute further back gets hours.
    expect(chooseBucketSeconds(now - 3 * DAY, now, tiers(1, 2, 3, 400))).toBe(900);
    expect(chooseBucketSeconds(now - 3 * DAY - MIN, now, tiers(1, 2, 3, 400))).toBe(3_600);
  });

  it('never gives more than MAX_POINTS buckets, whatever the range up to 92 days', () => {
    for (let minutes = 1; minutes <= 92 * 24 * 60; minutes = Math.ceil(minutes * 1.07)) {
      const s = chooseBucketSeconds(now - minutes * MIN - 1234, now, tiers(7, 7, 35, 400));
      expect(BUCKET_LADDER_S).toContain(s);
      const w = s * 1000;
      const from = Math.floor((now - minutes * MIN - 1234) / w) * w;
      expect((Math.ceil(now / w) * w - from) / w, `${minutes} min`).toBeLessThanOrEqual(MAX_POINTS);
    }
  });
});
