/**
 * What one HTTP question may cost the store: history ranges and delivery reports are bounded
 * (a clear 400 naming the limit), and a store whose query queue is full answers 503 with
 * Retry-After instead of queueing without end. The routes run through fastify's inject() on
 * a real DuckDB file; where the store must be busy on cue, a thin wrapper refuses as the
 * store's own full queue does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_PROFILES_DIR, loadProfiles, type Inventory } from '@schoolops/device-profiles';
import { attendanceRoutes } from '../src/api/attendance.ts';
import { historyRoutes } from '../src/api/history.ts';
import { statsRoutes } from '../src/api/stats.ts';
import { Ingest } from '../src/ingest.ts';
import { DistrictIndex } from '../src/inventory.ts';
import { LiveState } from '../src/live-state.ts';
import { openDuckDbStore, type DuckDbStore } from '../src/storage/duckdb-store.ts';
import { StoreBusyError, type ReadingStore } from '../src/storage/index.ts';

const DAY = 86_400_000;
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
      rooms: [{ id: 'p101', name: { vi: 'Phòng 101', en: 'Room 101' }, type: 'classroom', floor: 1, capacity: 45 }],
      classes: [],
      timetable: { periods: [{ n: 1, start: '07:00', end: '07:45' }], lessons: [] },
      devices: [
        { id: 'a.proj', profileId: 'epson-eb-x51', roomId: 'p101' },
        { id: 'a.cam', profileId: 'hikvision-ds-2cd2143', roomId: 'p101' },
      ],
    },
  ],
};

/** The real store; with `busy` set, every query is refused as the store refuses past its queue bound. */
function busyOnCue(real: DuckDbStore): ReadingStore & { busy: boolean } {
  const refuse = () => Promise.reject(new StoreBusyError(64, 2));
  const cued = Object.create(real) as ReadingStore & { busy: boolean };
  cued.busy = false;
  for (const method of ['history', 'count', 'deliveryReport', 'dropped'] as const)
    (cued as any)[method] = (...args: unknown[]) => (cued.busy ? refuse() : (real[method] as (...a: unknown[]) => unknown).apply(real, args));
  return cued;
}

describe('API bounds', () => {
  let dir: string;
  let real: DuckDbStore;
  let store: ReturnType<typeof busyOnCue>;
  let app: FastifyInstance;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'api-bounds-'));
    real = await openDuckDbStore({ file: join(dir, 'readings.duckdb'), readConnections: 1, maxQueuedQueries: 1 });
    store = busyOnCue(real);
    const district = new DistrictIndex(inventory, loadProfiles([BUILTIN_PROFILES_DIR]));
    const live = new LiveState(district);
    const context = { district, live, store, ingest: new Ingest(district, store, live, pino({ level: 'silent' })), schoolClockOffsetMs: 0 };
    const api = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>();
    await api.register(historyRoutes, { prefix: '/api', ...context });
    await api.register(statsRoutes, { prefix: '/api', ...context });
    await api.register(attendanceRoutes, { prefix: '/api', ...context });
    await api.ready();
    app = api as unknown as FastifyInstance;
    await real.write([{ schoolId: 'a', deviceId: 'a.proj', metric: 'lampHours', ts: Date.now() - 60_000, value: 10, n: 1 }]);
  });

  afterAll(async () => {
    await app?.close();
    await real?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (url: string) => {
    const response = await app.inject({ method: 'GET', url });
    return { status: response.statusCode, body: response.json(), headers: response.headers };
  };

  it('refuses a history range longer than the limit, saying the limit', async () => {
    const now = Date.now();
    const centuries = await get(`/api/devices/a.proj/history?from=0&to=${now}&bucket=2678400`);
    expect(centuries.status).toBe(400);
    expect(centuries.body.message).toMatch(/spans \d+ days; one question may span at most 92 days/);
    expect((await get(`/api/devices/a.proj/history?from=${now - 93 * DAY}&to=${now}&bucket=86400`)).status).toBe(400);
    const term = await get(`/api/devices/a.proj/history?from=${now - 92 * DAY}&to=${now}&bucket=86400`);
    expect(term.status).toBe(200);
    expect(term.body.series[0].points.reduce((n: number, p: { count: number }) => n + p.count, 0)).toBe(1);
    // A time no JS integer holds is not a time.
    const huge = await get('/api/devices/a.proj/history?to=99999999999999999999999&bucket=86400');
    expect(huge.status).toBe(400);
    expect(huge.body.message).toMatch(/"to" is not a time/);
  });

  it('refuses a delivery report reaching further back than a week, saying how far it may', async () => {
    const since0 = await get('/api/delivery?since=0');
    expect(since0.status).toBe(400);
    expect(since0.body.message).toMatch(/at most 7 days/);
    expect((await get(`/api/delivery?since=${Date.now() - 8 * DAY}`)).status).toBe(400);
    expect((await get('/api/delivery?since=1e400')).status).toBe(400);
    const recent = await get(`/api/delivery?since=${Date.now() - 3_600_000}`);
    expect(recent.status).toBe(200);
    expect(recent.body.devices).toEqual([{ deviceId: 'a.proj', samples: 1, distinct: 1, minN: 1, maxN: 1, outOfOrder: 0 }]);
  });

  it('answers 503 with Retry-After while the store refuses queries, and counts what its queue refused', async () => {
    store.busy = true;
    try {
      for (const url of [`/api/devices/a.proj/history`, `/api/delivery?since=${Date.now() - 3_600_000}`, '/api/ingest/stats', '/api/schools/a/attendance?date=2026-12-07']) {
        const answer = await get(url);
        expect(answer.status, url).toBe(503);
        expect(answer.headers['retry-after'], url).toBe('2');
        expect(answer.body.message, url).toMatch(/busy/);
      }
    } finally {
      store.busy = false;
    }
    // The store's own queue (1 connection, 1 waiting): a burst past it is refused, and the
    // operations view shows it.
    const ask = () => real.history({ deviceId: 'a.proj', from: 0, to: Date.now(), bucketMs: DAY });
    const burst = await Promise.allSettled([ask(), ask(), ask()]);
    expect(burst.map((b) => b.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    const stats = await get('/api/ingest/stats');
    expect(stats.status).toBe(200);
    expect(stats.body.storage).toEqual({ rows: 1, queries: { running: 0, queued: 0, maxQueued: 1, refused: 1 } });
  });
});
