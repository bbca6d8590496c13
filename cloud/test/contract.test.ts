/**
 * One contract, two readers: the cloud answers with the schemas of device-profiles/src/api,
 * and the dashboard's shape checks (dashboard/web/api.ts) must take every such answer as it
 * is: nothing dropped, nothing changed. A field added to a schema and not to the page's
 * checks (or the other way round) fails here, not in a browser.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ERRORS, apiPath, errorText, type ApiErrorCode } from '@schoolops/device-profiles/api';
import { isDistrict, isSchoolSummary, toDeviceAlarm, toDeviceView, toLessonAttendance } from '../../dashboard/web/api.ts';
import { startTestApi, type Browser, type TestApi } from './support/api-app.ts';

let api: TestApi;
let admin: Browser;

beforeAll(async () => {
  api = await startTestApi();
  admin = await api.browserOf('district-admin');
  const ts = Date.now();
  // A projector with a failed lamp (an alarm), a camera's count, the router's figures.
  api.live.applyReading('a', { deviceId: 'a.proj', ts, values: { power: 'on', lampHours: 4600, errorLamp: 'error', errorFan: 'ok' } });
  api.live.applyReading('a', { deviceId: 'a.cam', ts, values: { reachable: true, headcount: 31 } });
  api.live.applyReading('a', { deviceId: 'a.router', ts, values: { inBps: 5e6, outBps: 1e6, linkUp: true } });
});
afterAll(async () => api?.close());

async function get(url: string): Promise<unknown> {
  const res = await admin.request({ method: 'GET', url });
  expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
  return res.json();
}

describe("the dashboard reads the cloud's answers whole", () => {
  it('the district and every school summary', async () => {
    expect(isDistrict(await get(apiPath('/api/district')))).toBe(true);
    const schools = (await get(apiPath('/api/schools'))) as unknown[];
    expect(schools).toHaveLength(2);
    for (const school of schools) expect(isSchoolSummary(school), JSON.stringify(school)).toBe(true);
    const a = schools.find((s) => (s as { id: string }).id === 'a') as { figures: Record<string, unknown>; alarms: { critical: number; warning: number } };
    expect(a.figures).toMatchObject({ inBps: 5e6, headcount: 31, projectorsOn: 1 });
    expect(a.alarms.critical + a.alarms.warning).toBeGreaterThan(0);
  });

  it("a school's devices, with their alarms, latest values and commands", async () => {
    const devices = (await get(apiPath('/api/schools/:schoolId/devices', { schoolId: 'a' }))) as unknown[];
    expect(devices).toHaveLength(3);
    for (const device of devices) expect(toDeviceView(device)).toEqual(device);
    const projector = devices.map(toDeviceView).find((d) => d?.id === 'a.proj')!;
    expect(projector.alarms.map((x) => x.ruleId)).toEqual(expect.arrayContaining(['lamp-error', 'lamp-end-of-life']));
    expect(projector.commands.map((c) => c.name)).toEqual(expect.arrayContaining(['powerOn', 'powerOff', 'setInput']));
  });

  it("a school's alarms", async () => {
    const alarms = (await get(apiPath('/api/schools/:schoolId/alarms', { schoolId: 'a' }))) as unknown[];
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) expect(toDeviceAlarm(alarm)).toEqual(alarm);
  });

  it("a day's attendance", async () => {
    const day = (await get(apiPath('/api/schools/:schoolId/attendance', { schoolId: 'a' }, { date: '2025-03-10' }))) as { lessons: unknown[] };
    expect(day.lessons).toHaveLength(1);
    for (const lesson of day.lessons) expect(toLessonAttendance(lesson)).toEqual(lesson);
  });
});

describe('apiPath', () => {
  it('fills and encodes parameters and adds a query, leaving out what is undefined', () => {
    expect(apiPath('/api/devices/:deviceId/history', { deviceId: 'a b/c' }, { from: '2025-01-01', metric: ['inBps', 'outBps'], to: undefined })).toBe(
      '/api/devices/a%20b%2Fc/history?from=2025-01-01&metric=inBps&metric=outBps',
    );
    expect(apiPath('/api/schools')).toBe('/api/schools');
  });
});

describe('every refusal carries a code of the error catalog, worded in both languages', () => {
  const cases: Array<{ what: string; url: string; method?: string; body?: unknown; signedIn?: boolean; code: string }> = [
    { what: 'an unknown school', url: '/api/schools/nowhere/devices', code: 'unknown_school' },
    { what: 'an unknown device', url: '/api/devices/nothing/history', code: 'unknown_device' },
    { what: 'a time that is not one', url: '/api/devices/a.proj/history?from=yesterday', code: 'bad_time' },
    { what: 'a backwards range', url: '/api/devices/a.proj/history?from=2025-03-10T10:00:00Z&to=2025-03-10T09:00:00Z', code: 'range_backwards' },
    { what: 'an unknown metric', url: '/api/devices/a.proj/history?metric=colour', code: 'unknown_metric' },
    { what: 'a query the schema refuses', url: '/api/schools/a/attendance?date=10/03/2025', code: 'invalid_request' },
    { what: 'an unknown route', url: '/api/nothing-here', code: 'unknown_route' },
    { what: 'an unknown command', url: '/api/devices/a.proj/commands', method: 'POST', body: { name: 'launch' }, code: 'unknown_command' },
    { what: 'no sign-in', url: '/api/schools', signedIn: false, code: 'not_signed_in' },
  ];
  it.each(cases)('$what: $code', async ({ url, method = 'GET', body, signedIn = true, code }) => {
    const res = signedIn ? await admin.request({ method, url, body }) : await api.app.inject({ method: 'GET', url });
    const answer = res.json() as { statusCode: number; code: string; message: string; params?: Record<string, string | number> };
    expect(answer.code, res.body).toBe(code);
    expect(answer.statusCode).toBe(res.statusCode);
    expect(res.statusCode).toBe(API_ERRORS[code as ApiErrorCode].status);
    const vi = errorText(answer, 'vi')!;
    const en = errorText(answer, 'en')!;
    expect(en).toBe(answer.message);
    expect(vi.trim()).not.toBe('');
    expect(vi).not.toBe(en);
  });

  it('has a Vietnamese and an English text for every code', () => {
    for (const [code, def] of Object.entries(API_ERRORS)) {
      // Every parameter a text asks for has a value.
      const params = new Proxy({}, { get: (_, key) => (typeof key === 'string' ? `<${key}>` : undefined) }) as Record<string, string>;
      expect(def.vi(params).trim(), code).not.toBe('');
      expect(def.en(params).trim(), code).not.toBe('');
      expect(def.vi(params).includes('undefined'), `${code}: ${def.vi(params)}`).toBe(false);
    }
  });
});
