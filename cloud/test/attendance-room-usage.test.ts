/**
 * Room usage from the cameras' counts (GET /api/schools/:schoolId/room-usage, and the day's
 * rooms x periods grid of GET .../attendance), and lab usage, on the hand-worked school of
 * support/attendance-school.ts: Monday 2025-03-24 and Wednesday 2025-03-26 (the Tuesday
 * between has no lessons, so it is no school day).
 *
 * The rooms' periods on those two days (L = a lesson by the timetable, O = in use, E = empty,
 * - = no data):
 *
 *               Mon P1   Mon P2   Mon P3   Wed P1   Wed P2   Wed P3
 *   p101        L O      E        O        L O      -        E
 *   p102        L O      L O      -        L O      E        E
 *   p103        L -      -        -        -        -        -        (no camera)
 *   p104        -        -        -        -        L -      -        (camera never counts)
 *   lab-hoa     E        L O      E        E        O        L O
 *   thu-vien    -        -        -        -        -        -        (no camera)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiPath, type AttendanceDay, type RoomUsageRange } from '@schoolops/device-profiles/api';
import { startTestApi, type Browser, type TestApi } from './support/api-app.ts';
import { AFTER_THE_DATA, attendanceInventory, attendanceRows } from './support/attendance-school.ts';

let api: TestApi;
let principal: Browser;

beforeAll(async () => {
  api = await startTestApi({ inventory: attendanceInventory, now: AFTER_THE_DATA });
  await api.store.write(attendanceRows());
  principal = await api.browserOf('principal');
});
afterAll(async () => api?.close());

async function get<T>(url: string): Promise<T> {
  const res = await principal.request({ method: 'GET', url });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as T;
}

const usage = (query: Record<string, string>) => get<RoomUsageRange>(apiPath('/api/schools/:schoolId/room-usage', { schoolId: 'a' }, query));
const TWO_DAYS = { from: '2025-03-24', to: '2025-03-26' };
const figures = (periods: number, counted: number, inUse: number, scheduled: number, scheduledCounted: number, scheduledInUse: number, unscheduledInUse: number) => ({
  periods,
  counted,
  inUse,
  usePct: counted ? Math.round((1000 * inUse) / counted) / 10 : null,
  scheduled,
  scheduledCounted,
  scheduledInUse,
  scheduledUsePct: scheduledCounted ? Math.round((1000 * scheduledInUse) / scheduledCounted) / 10 : null,
  unscheduledInUse,
});

describe("one day's rooms x periods grid", () => {
  it('says per room with a camera and period: in use (true), empty (false), or nothing when not counted', async () => {
    const day = await get<AttendanceDay>(apiPath('/api/schools/:schoolId/attendance', { schoolId: 'a' }, { date: '2025-03-24' }));
    expect(day.rooms).toEqual([
      { roomId: 'p101', periods: { '1': true, '2': false, '3': true } },
      { roomId: 'p102', periods: { '1': true, '2': true } },
      { roomId: 'p104', periods: {} },
      { roomId: 'lab-hoa', periods: { '1': false, '2': true, '3': false } },
    ]);
    expect(day.lessons.map((l) => [l.period, l.classId, l.counts, l.attendancePct])).toEqual([
      [1, '6a1', 2, 100],
      [1, '6a2', 2, 70],
      [1, '7a1', 0, null],
      [2, '6a1', 2, 100],
      [2, '6a2', 2, 70],
    ]);
  });

  it('refuses a day the calendar lacks with bad_date', async () => {
    const res = await principal.request({ method: 'GET', url: '/api/schools/a/attendance?date=2025-02-30' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'bad_date', params: { field: 'date', value: '2025-02-30' } });
  });
});

describe('room usage over a range', () => {
  it('adds up every room, and the school, over the periods of the school days', async () => {
    const u = await usage(TWO_DAYS);
    expect(u).toMatchObject({ schoolId: 'a', from: '2025-03-24', to: '2025-03-26', schoolDays: 2, clockOffsetMs: 0 });
    expect(u.basis).toMatch(/occupied/);
    expect(u.periods).toEqual([
      { n: 1, start: '07:00', end: '07:45' },
      { n: 2, start: '07:50', end: '08:35' },
      { n: 3, start: '08:40', end: '09:25' },
    ]);
    expect(u.weeks).toEqual([{ key: '2025-W13', from: '2025-03-24', to: '2025-03-26', schoolDays: 2 }]);
    const room = (id: string) => u.rooms.find((r) => r.roomId === id)!;
    expect(u.rooms.map((r) => r.roomId)).toEqual(['lab-hoa', 'p101', 'p102', 'p103', 'p104', 'thu-vien']);
    // periods, counted, in use, scheduled, scheduled counted, scheduled in use, in use without a lesson
    expect(room('p101').total).toEqual(figures(6, 5, 3, 2, 2, 2, 1));
    expect(room('p102').total).toEqual(figures(6, 5, 3, 3, 3, 3, 0));
    expect(room('p103')).toMatchObject({ cameraId: null, total: figures(6, 0, 0, 1, 0, 0, 0) });
    expect(room('p104')).toMatchObject({ cameraId: 'a.p104.cam', total: figures(6, 0, 0, 1, 0, 0, 0) });
    expect(room('lab-hoa').total).toEqual(figures(6, 6, 3, 2, 2, 2, 1));
    expect(room('thu-vien')).toMatchObject({ name: { vi: 'Thư viện', en: 'Library' }, type: 'library', cameraId: null, total: figures(6, 0, 0, 0, 0, 0, 0) });
    expect(room('p101').weeks).toEqual([{ key: '2025-W13', from: '2025-03-24', to: '2025-03-26', ...figures(6, 5, 3, 2, 2, 2, 1) }]);
    // 36 room-periods; 16 counted, 9 of them in use (56.25 %); 9 timetable slots, 7 counted, all in use.
    expect(u.total).toEqual(figures(36, 16, 9, 9, 7, 7, 2));
    expect(u.total.usePct).toBe(56.3);
  });

  it('gives the weekday x period grid of the whole school', async () => {
    const u = await usage(TWO_DAYS);
    expect(u.grid.map((c) => [c.day, c.period])).toEqual([
      [1, 1], [1, 2], [1, 3],
      [3, 1], [3, 2], [3, 3],
    ]);
    const cell = (day: number, period: number) => u.grid.find((c) => c.day === day && c.period === period)!;
    // Monday P1: p101 and p102 in use, the lab empty; p103 scheduled but not counted.
    expect(cell(1, 1)).toEqual({ day: 1, period: 1, ...figures(6, 3, 2, 3, 2, 2, 0) });
    expect(cell(1, 3)).toEqual({ day: 1, period: 3, ...figures(6, 2, 1, 0, 0, 0, 1) });
    expect(cell(3, 2)).toEqual({ day: 3, period: 2, ...figures(6, 2, 1, 1, 0, 0, 1) });
  });

  it('spreads weeks over a longer range, one entry per ISO week in every room', async () => {
    const u = await usage({ from: '2025-03-24', to: '2025-04-09' });
    expect(u.weeks.map((w) => [w.key, w.schoolDays])).toEqual([
      ['2025-W13', 2],
      ['2025-W14', 2],
      ['2025-W15', 2],
    ]);
    const p102 = u.rooms.find((r) => r.roomId === 'p102')!;
    // Weeks 14 and 15: only its lessons were counted (Mon P1, P2, Wed P1), all in use.
    expect(p102.weeks.map((w) => [w.key, w.periods, w.counted, w.inUse, w.scheduledUsePct])).toEqual([
      ['2025-W13', 6, 5, 3, 100],
      ['2025-W14', 6, 3, 3, 100],
      ['2025-W15', 6, 3, 3, 100],
    ]);
  });

  it('leaves periods still to come out of every figure', async () => {
    const u = await usage({ from: '2099-03-02', to: '2099-03-04' });
    expect(u.total).toEqual(figures(0, 0, 0, 0, 0, 0, 0));
    expect(u.schoolDays).toBe(2);
  });

  it('refuses a range without a school day, and bad dates, with their codes', async () => {
    for (const [query, code] of [
      ['from=2025-03-25&to=2025-03-25', 'no_lessons_in_range'],
      ['from=2025-03-26&to=2025-03-24', 'range_backwards'],
      ['from=2024-12-01&to=2025-03-26', 'range_too_long'],
      ['from=2025-3-24', 'bad_date'],
    ] as const) {
      const res = await principal.request({ method: 'GET', url: `/api/schools/a/room-usage?${query}` });
      expect(res.json().code, query).toBe(code);
    }
  });
});

describe('lab usage', () => {
  it('says how often the lab was in use by its camera, with its grid and the controller beside it', async () => {
    const u = await usage(TWO_DAYS);
    expect(u.labs).toHaveLength(1);
    const lab = u.labs[0]!;
    expect(lab).toMatchObject({ roomId: 'lab-hoa', name: { vi: 'Phòng thí nghiệm Hoá học', en: 'Chemistry laboratory' }, cameraId: 'a.lab.cam' });
    // In use Mon P2 (6A1's lesson), Wed P2 (no lesson: 3 people), Wed P3 (6A2's lesson): 3 of 6 counted periods.
    expect(lab.total).toEqual(figures(6, 6, 3, 2, 2, 2, 1));
    expect(lab.total.usePct).toBe(50);
    expect(lab.grid.find((c) => c.day === 3 && c.period === 2)).toEqual({ day: 3, period: 2, ...figures(1, 1, 1, 0, 0, 0, 1) });
    expect(lab.grid.find((c) => c.day === 1 && c.period === 1)).toEqual({ day: 1, period: 1, ...figures(1, 1, 0, 0, 0, 0, 0) });
    // The controller reported in Monday's three periods (silent on Wednesday); its printer printed in P2.
    expect(lab.controller).toEqual({ deviceId: 'a.lab.ctl', periodsReporting: 3, periodsPrinting: 1 });
  });

  it('is attendance: audited, and refused to school IT and to another school', async () => {
    await usage({ ...TWO_DAYS });
    const entries = async () => (await api.accounts.auditEntries({ action: 'attendance.read' })).filter((e) => e.detail.view === 'room-usage');
    for (let i = 0; i < 100 && (await entries()).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await entries())[0]).toMatchObject({ actor: 'principal-a', schoolId: 'a', outcome: 'ok', detail: { status: 200, query: TWO_DAYS } });
    const it = await api.browserOf('school-it');
    expect((await it.request({ method: 'GET', url: '/api/schools/a/room-usage' })).statusCode).toBe(403);
    expect((await principal.request({ method: 'GET', url: '/api/schools/b/room-usage' })).statusCode).toBe(403);
  });
});
