/**
 * Attendance over a range of school days (GET /api/schools/:schoolId/attendance/summary),
 * through the real server (guard, audit log, DuckDB file) on a school whose figures are
 * worked out by hand in support/attendance-school.ts: by day, ISO week and month, per class
 * with its trend, the classes below a threshold, the cameras that did not count; who may
 * ask; and every bad question's code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ERRORS, apiPath, errorText, type ApiErrorCode, type AttendanceSummary } from '@schoolops/device-profiles/api';
import { StoreBusyError } from '../src/storage/index.ts';
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

const RANGE = { from: '2025-03-24', to: '2025-04-09' };

async function summary(query: Record<string, string | number>, schoolId = 'a'): Promise<AttendanceSummary> {
  const res = await principal.request({ method: 'GET', url: apiPath('/api/schools/:schoolId/attendance/summary', { schoolId }, query) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as AttendanceSummary;
}

/** Polls the audit log (written as the answer goes out) for an entry that passes `match`. */
async function auditEntry(match: (e: { action: string; actor: string | null; detail: Record<string, unknown> }) => boolean) {
  for (let i = 0; i < 100; i++) {
    const entries = await api.accounts.auditEntries({ action: 'attendance.read' });
    const found = entries.find(match);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no such audit entry');
}

describe('attendance by week, month and day', () => {
  it("takes today from the API's clock: without dates, the 30 days up to today; a lesson not over yet is later, not missed", async () => {
    // The test's clock is Thursday 2025-04-10 12:00 in Hanoi.
    expect(await summary({})).toMatchObject({ from: '2025-03-12', to: '2025-04-10' });
    const day = await principal.request({ method: 'GET', url: '/api/schools/a/attendance' });
    expect(day.json()).toMatchObject({ schoolId: 'a', date: '2025-04-10' });
    // Back to Wednesday 2025-04-09 08:00: period 1 is over (counted), period 2 is on (its
    // camera has not counted yet, and it still may) and period 3 has not begun.
    const saved = api.clock.now;
    api.clock.now = Date.parse('2025-04-09T08:00:00+07:00');
    try {
      const wednesday = await summary({ from: '2025-04-09', to: '2025-04-09', by: 'day' });
      // Lessons held: the two of period 1; the other two are later, neither missed.
      expect(wednesday.total).toMatchObject({ lessons: 2, counted: 2, later: 2, noCount: 0 });
    } finally {
      api.clock.now = saved;
    }
  });

  it('adds up ISO weeks, weighting each counted lesson by its enrolment', async () => {
    const s = await summary({ ...RANGE, by: 'week' });
    expect(s).toMatchObject({ schoolId: 'a', from: '2025-03-24', to: '2025-04-09', by: 'week', threshold: 90, classId: null, clockOffsetMs: 0, schoolDays: 6 });
    // 27 lessons: 20 counted, 3 of 7A1 in a room without a camera, 1 of 6A2 the lab camera missed, 3 of 8A1 whose camera never counted.
    // Rate: (40 x (3x100 + 3x95 + 3x90) + 30 x (4x70 + 4x85 + 3x90)) / (9x40 + 11x30) = 60900 / 690 = 88.26...
    expect(s.total).toEqual({ lessons: 27, counted: 20, noCamera: 3, noCount: 4, later: 0, attendancePct: 88.3 });
    expect(s.buckets).toEqual([
      // (3 x 100 x 40 + 4 x 70 x 30) / (3 x 40 + 4 x 30) = 20400 / 240
      { key: '2025-W13', from: '2025-03-24', to: '2025-03-30', schoolDays: 2, lessons: 9, counted: 7, noCamera: 1, noCount: 1, later: 0, attendancePct: 85 },
      { key: '2025-W14', from: '2025-03-31', to: '2025-04-06', schoolDays: 2, lessons: 9, counted: 7, noCamera: 1, noCount: 1, later: 0, attendancePct: 90 },
      // (3 x 90 x 40 + 3 x 90 x 30) / (120 + 90)
      { key: '2025-W15', from: '2025-04-07', to: '2025-04-09', schoolDays: 2, lessons: 9, counted: 6, noCamera: 1, noCount: 2, later: 0, attendancePct: 90 },
    ]);
  });

  it('adds up calendar months, clipped to the range', async () => {
    const s = await summary({ ...RANGE, by: 'month' });
    expect(s.buckets).toEqual([
      // 6A1: 100, 100, 100, 95, 95 (x40); 6A2: 70 x4, 85 x2 (x30): (19600 + 13500) / (200 + 180) = 87.10...
      { key: '2025-03', from: '2025-03-24', to: '2025-03-31', schoolDays: 3, lessons: 14, counted: 11, noCamera: 2, noCount: 1, later: 0, attendancePct: 87.1 },
      // 6A1: 95, 90, 90, 90 (x40); 6A2: 85 x2, 90 x3 (x30): (14600 + 13200) / (160 + 150) = 89.67...
      { key: '2025-04', from: '2025-04-01', to: '2025-04-09', schoolDays: 3, lessons: 13, counted: 9, noCamera: 1, noCount: 3, later: 0, attendancePct: 89.7 },
    ]);
  });

  it('by day lists the school days only (no Tuesday, no Sunday)', async () => {
    const s = await summary({ ...RANGE, by: 'day' });
    expect(s.buckets.map((b) => b.key)).toEqual(['2025-03-24', '2025-03-26', '2025-03-31', '2025-04-02', '2025-04-07', '2025-04-09']);
    expect(s.buckets.at(-1)).toEqual({ key: '2025-04-09', from: '2025-04-09', to: '2025-04-09', schoolDays: 1, lessons: 4, counted: 2, noCamera: 0, noCount: 2, later: 0, attendancePct: 90 });
    // Same lessons whatever the buckets.
    expect(s.total).toEqual((await summary({ ...RANGE, by: 'month' })).total);
  });

  it('gives every class its figures and its trend, one point per bucket', async () => {
    const s = await summary({ ...RANGE });
    expect(s.by).toBe('week');
    expect(s.classes.map((c) => c.className)).toEqual(['6A1', '6A2', '7A1', '8A1', '9A9']);
    const [a1, a2, b1, c1, none] = s.classes;
    expect(a1).toMatchObject({ classId: '6a1', grade: 6, enrolled: 40, total: { lessons: 9, counted: 9, attendancePct: 95 }, change: -10, below: false });
    expect(a1!.trend.map((p) => [p.key, p.attendancePct, p.counted])).toEqual([
      ['2025-W13', 100, 3],
      ['2025-W14', 95, 3],
      ['2025-W15', 90, 3],
    ]);
    // 6A2: (4x70 + 4x85 + 3x90) / 11 = 80.9; its lab lesson on April 9 was not counted.
    expect(a2).toMatchObject({ total: { lessons: 12, counted: 11, noCount: 1, attendancePct: 80.9 }, change: 20, below: true });
    expect(a2!.trend.map((p) => p.attendancePct)).toEqual([70, 85, 90]);
    // No camera, no rate: not "below", and the reason is in the figures.
    expect(b1).toMatchObject({ total: { lessons: 3, counted: 0, noCamera: 3, attendancePct: null }, change: null, below: false });
    expect(c1).toMatchObject({ total: { lessons: 3, counted: 0, noCount: 3, attendancePct: null }, below: false });
    expect(none).toMatchObject({ classId: '9a9', total: { lessons: 0, counted: 0, attendancePct: null }, change: null, below: false });
    expect(none!.trend).toHaveLength(3);
  });

  it('says which rooms had no camera, and which camera never counted', async () => {
    const s = await summary(RANGE);
    expect(s.cameras).toEqual([
      { roomId: 'lab-hoa', cameraId: 'a.lab.cam', lessons: 6, counted: 5, problem: 'some_not_counted' },
      { roomId: 'p101', cameraId: 'a.p101.cam', lessons: 6, counted: 6, problem: null },
      { roomId: 'p102', cameraId: 'a.p102.cam', lessons: 9, counted: 9, problem: null },
      { roomId: 'p103', cameraId: null, lessons: 3, counted: 0, problem: 'no_camera' },
      { roomId: 'p104', cameraId: 'a.p104.cam', lessons: 3, counted: 0, problem: 'never_counted' },
    ]);
  });

  it('narrows to one class', async () => {
    const s = await summary({ ...RANGE, classId: '6a1', by: 'month' });
    expect(s).toMatchObject({ classId: '6a1', schoolDays: 6, total: { lessons: 9, counted: 9, attendancePct: 95 } });
    expect(s.classes.map((c) => c.classId)).toEqual(['6a1']);
    // 6A1 in March: 100 x3, 95 x2 = 98; in April: 95, 90 x3 = 91.25
    expect(s.buckets.map((b) => [b.key, b.attendancePct])).toEqual([
      ['2025-03', 98],
      ['2025-04', 91.3],
    ]);
    expect(s.cameras.map((c) => c.roomId)).toEqual(['lab-hoa', 'p101']);
  });

  it('counts lessons still to come as later, not as missed', async () => {
    const s = await summary({ from: '2099-03-02', to: '2099-03-04' });
    expect(s.total).toEqual({ lessons: 0, counted: 0, noCamera: 0, noCount: 0, later: 9, attendancePct: null });
    expect(s.cameras).toEqual([]);
  });
});

describe('classes below the threshold', () => {
  it('lists the classes under 90 % by default, lowest first', async () => {
    const s = await summary(RANGE);
    expect(s.below).toEqual([{ classId: '6a2', className: '6A2', attendancePct: 80.9, counted: 11 }]);
  });

  it('takes the threshold from the question', async () => {
    expect((await summary({ ...RANGE, threshold: 96 })).below.map((c) => [c.className, c.attendancePct])).toEqual([
      ['6A2', 80.9],
      ['6A1', 95],
    ]);
    expect((await summary({ ...RANGE, threshold: 80 })).below).toEqual([]);
    // The comparison is with the rate as shown: 95 is not below 95.
    expect((await summary({ ...RANGE, threshold: 95 })).below.map((c) => c.classId)).toEqual(['6a2']);
    expect((await summary({ ...RANGE, threshold: 95.05 })).below.map((c) => c.classId)).toEqual(['6a2', '6a1']);
  });
});

describe('who may ask, and the audit log', () => {
  it('writes every summary read to the audit log, with who, which school and what was asked', async () => {
    await summary({ ...RANGE, by: 'month', threshold: 85 });
    const entry = await auditEntry((e) => e.detail.view === 'summary' && (e.detail.query as Record<string, unknown>)?.threshold === 85);
    expect(entry).toMatchObject({ actor: 'principal-a', schoolId: 'a', target: 'a', outcome: 'ok', detail: { status: 200, view: 'summary', query: { ...RANGE, by: 'month', threshold: 85 } } });
    // A refused question is in the log too.
    await principal.request({ method: 'GET', url: '/api/schools/a/attendance/summary?from=2025-04-09&to=2025-03-24' });
    expect(await auditEntry((e) => e.detail.status === 400 && (e.detail.query as Record<string, unknown>)?.from === '2025-04-09')).toMatchObject({ outcome: 'failed' });
  });

  it("refuses another school's principal, school IT and wall displays (403); the district's roles may read", async () => {
    const url = apiPath('/api/schools/:schoolId/attendance/summary', { schoolId: 'a' }, RANGE);
    const otherUrl = apiPath('/api/schools/:schoolId/attendance/summary', { schoolId: 'b' }, RANGE);
    expect((await principal.request({ method: 'GET', url: otherUrl })).statusCode).toBe(403);
    await api.accounts.createUser({ username: 'principal-b', displayName: 'Hiệu trưởng B', role: 'principal', scope: { all: false, schools: ['b'] }, password: 'mật-khẩu-thử-1234' });
    const principalB = await api.signIn('principal-b');
    const refused = await principalB.request({ method: 'GET', url });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('forbidden');
    expect((await principalB.request({ method: 'GET', url: otherUrl })).statusCode).toBe(200);
    for (const role of ['school-it', 'wall-display'] as const) {
      expect((await (await api.browserOf(role)).request({ method: 'GET', url })).statusCode, role).toBe(403);
    }
    for (const role of ['district-admin', 'district-operator'] as const) {
      expect((await (await api.browserOf(role)).request({ method: 'GET', url })).statusCode, role).toBe(200);
    }
    expect((await api.app.inject({ method: 'GET', url })).statusCode).toBe(401);
  });
});

describe('bad questions get a code of the catalog, and nothing else', () => {
  const cases: Array<[string, string, ApiErrorCode, Record<string, string | number>?]> = [
    ['a date that is not one', 'from=24/03/2025&to=2025-04-09', 'bad_date', { field: 'from', value: '24/03/2025' }],
    ['a day the calendar lacks', 'from=2025-02-29&to=2025-03-10', 'bad_date', { field: 'from', value: '2025-02-29' }],
    ['a bad end', 'to=tomorrow', 'bad_date', { field: 'to', value: 'tomorrow' }],
    ['a range backwards', 'from=2025-04-09&to=2025-03-24', 'range_backwards', { from: '2025-04-09', to: '2025-03-24' }],
    ['a range too long', 'from=2025-01-01&to=2025-04-09', 'range_too_long', { days: 99, max: 93 }],
    ['an unknown class', 'from=2025-03-24&to=2025-04-09&classId=12a7', 'unknown_class', { classId: '12a7' }],
    ['a class the timetable gives no lesson', 'from=2025-03-24&to=2025-04-09&classId=9a9', 'class_without_lessons', { classId: '9a9' }],
    ['a range without a school day', 'from=2025-03-25&to=2025-03-25', 'no_lessons_in_range', { from: '2025-03-25', to: '2025-03-25' }],
    ['a range without a lesson of the class', 'from=2025-03-24&to=2025-03-25&classId=8a1', 'no_lessons_in_range', { from: '2025-03-24', to: '2025-03-25', classId: '8a1' }],
    ['an unknown way to group', 'by=year', 'invalid_request'],
    ['a threshold over 100', 'threshold=150', 'invalid_request'],
    ['a threshold that is not a number', 'threshold=high', 'invalid_request'],
  ];
  it.each(cases)('%s: %s -> %s', async (_, query, code, params) => {
    const res = await principal.request({ method: 'GET', url: `/api/schools/a/attendance/summary?${query}` });
    const body = res.json();
    expect(res.statusCode, res.body).toBe(API_ERRORS[code].status);
    expect(body.code).toBe(code);
    if (params) expect(body.params).toEqual(params);
    expect(Object.keys(body).sort()).toEqual(['code', 'error', 'message', 'params', 'statusCode']);
    expect(res.body).not.toMatch(/ at .*\.ts:\d+/); // no stack trace
    expect(errorText(body, 'vi')).not.toBe(errorText(body, 'en'));
  });

  it('a busy store is 503 with Retry-After for every range route, and the next question is answered', async () => {
    const history = api.store.history;
    api.store.history = () => Promise.reject(new StoreBusyError(64, 2));
    try {
      for (const path of ['attendance/summary', 'attendance/export', 'room-usage', 'room-usage/export', 'attendance']) {
        const res = await principal.request({ method: 'GET', url: `/api/schools/a/${path}?from=2025-03-24&to=2025-03-26` });
        expect(res.statusCode, path).toBe(503);
        expect(res.headers['retry-after'], path).toBe('2');
        expect(res.json().code, path).toBe('store_busy');
      }
    } finally {
      api.store.history = history;
    }
    expect((await summary(RANGE)).total.counted).toBe(20);
  });

  it('an unknown school is 404 for the district, and the server still answers afterwards', async () => {
    const admin = await api.browserOf('district-admin');
    const res = await admin.request({ method: 'GET', url: '/api/schools/nowhere/attendance/summary' });
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('unknown_school');
    expect((await summary(RANGE)).total.counted).toBe(20);
  });
});
