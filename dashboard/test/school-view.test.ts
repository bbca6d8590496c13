import { describe, expect, it } from 'vitest';
import { toDeviceAlarm, toDeviceView, type DeviceAlarm, type DeviceView } from '../web/api.ts';
import {
  alarmsOfDevices,
  formatRaw,
  groupByKind,
  keyValues,
  metricLabel,
  schoolCounts,
  statusWords,
  type KeyValue,
} from '../web/device-values.ts';
import { MISSING, formatDuration, formatMegabytes, formatSince } from '../web/format.ts';
import { STRINGS } from '../web/i18n.ts';
import { schoolFromSearch, searchWithSchool } from '../web/route.ts';

const NBSP = '\u00a0';

function device(id: string, patch: Partial<DeviceView> = {}): DeviceView {
  return {
    id,
    schoolId: 'thcs-le-loi',
    roomId: 'r101',
    profileId: 'epson-eb-x51',
    kind: 'display',
    vendor: 'Epson',
    model: 'EB-X51',
    name: { vi: `Máy chiếu ${id}`, en: `Projector ${id}` },
    reporting: true,
    status: { state: 'ok', reason: null, detail: null, since: null },
    alarms: [],
    latest: { ts: 1_000, values: {} },
    commands: [],
    metrics: [],
    ...patch,
  };
}
// A kind the page does not know is kept as sent, so tests may name any.
const withValues = (kind: string, values: Record<string, number | boolean | string>) =>
  device('d', { kind: kind as DeviceView['kind'], latest: { ts: 1_000, values } });
const alarm = (deviceId: string, ruleId: string, severity: DeviceAlarm['severity'], since: number): DeviceAlarm => ({
  deviceId,
  ruleId,
  severity,
  since,
  metric: 'errorLamp',
  message: { vi: 'Bóng đèn máy chiếu hỏng', en: 'Projector lamp failure' },
  value: 'error',
});
/** metric -> shown text, the compact way to compare key values. */
const texts = (kv: KeyValue[]) => Object.fromEntries(kv.map((v) => [v.metric, v.text]));

describe('toDeviceView: shape checks', () => {
  const wire = {
    id: 'thcs-le-loi.r101.proj',
    schoolId: 'thcs-le-loi',
    roomId: 'r101',
    profileId: 'epson-eb-x51',
    kind: 'display',
    vendor: 'Epson',
    model: 'EB-X51',
    name: { vi: 'Máy chiếu Phòng 101', en: 'Projector, Room 101' },
    reporting: true,
    status: { state: 'faulty', reason: 'auth_failed', detail: 'PJLink ERRA', since: 5 },
    alarms: [{ deviceId: 'thcs-le-loi.r101.proj', ruleId: 'lamp-error', metric: 'errorLamp', severity: 'critical', message: { vi: 'a', en: 'b' }, since: 4, value: 'error' }],
    latest: { ts: 7, values: { power: 'on', lampHours: 2964 } },
  };

  it('accepts the API shape', () => {
    const d = toDeviceView(wire)!;
    expect(d).toMatchObject({ id: wire.id, kind: 'display', status: { state: 'faulty', reason: 'auth_failed', since: 5 }, latest: { ts: 7 } });
    expect(d.alarms).toHaveLength(1);
    expect(d.alarms[0]).toMatchObject({ ruleId: 'lamp-error', severity: 'critical', metric: 'errorLamp', value: 'error' });
  });

  it('drops a device without identity, name or status', () => {
    expect(toDeviceView(null)).toBeNull();
    expect(toDeviceView([])).toBeNull();
    expect(toDeviceView({ ...wire, id: '' })).toBeNull();
    expect(toDeviceView({ ...wire, id: 42 })).toBeNull();
    expect(toDeviceView({ ...wire, name: 'Máy chiếu' })).toBeNull();
    expect(toDeviceView({ ...wire, kind: undefined })).toBeNull();
    expect(toDeviceView({ ...wire, status: 'ok' })).toBeNull();
  });

  it('keeps a good device and skips what it does not understand inside it', () => {
    const d = toDeviceView({
      ...wire,
      kind: 'drone',
      status: { state: 'exploded', reason: 7, since: 'yesterday' },
      alarms: [{ ruleId: 'x' }, wire.alarms[0], { ...wire.alarms[0], severity: 'apocalyptic' }],
      latest: { ts: 7, values: { ok: 1, nested: { a: 1 }, nan: Number.NaN, list: [1], flag: false, text: 'x' } },
    })!;
    expect(d.kind).toBe('drone');
    expect(d.status).toEqual({ state: 'unknown', reason: null, detail: null, since: null });
    expect(d.alarms.map((a) => a.ruleId)).toEqual(['lamp-error']);
    expect(d.latest!.values).toEqual({ ok: 1, flag: false, text: 'x' });
    expect(toDeviceView({ ...wire, alarms: 'none', latest: { ts: 'now', values: {} } })).toMatchObject({ alarms: [], latest: null });
  });

  it('checks alarms on their own (GET /alarms)', () => {
    expect(toDeviceAlarm(wire.alarms[0])).not.toBeNull();
    expect(toDeviceAlarm({ ...wire.alarms[0], since: null })).toBeNull();
    expect(toDeviceAlarm({ ...wire.alarms[0], message: 'x' })).toBeNull();
    expect(toDeviceAlarm({ ...wire.alarms[0], value: { a: 1 } })).toBeNull();
  });
});

describe('key values per kind', () => {
  it('projector: power and lamp hours; only errors that are not ok, with a tone', () => {
    const kv = keyValues(
      withValues('display', { power: 'on', input: '31', lampHours: 2964, errorLamp: 'error', errorFan: 'warning', errorTemperature: 'ok', errorCover: 'ok', errorFilter: 'ok', errorOther: 'ok' }),
      'vi',
    );
    expect(texts(kv)).toEqual({ power: 'Bật', lampHours: `2.964${NBSP}giờ`, errorLamp: 'Lỗi', errorFan: 'Cảnh báo' });
    expect(kv.find((v) => v.metric === 'errorLamp')).toMatchObject({ label: 'Bóng đèn', tone: 'bad', raw: 'error' });
    expect(kv.find((v) => v.metric === 'errorFan')?.tone).toBe('warn');
    expect(texts(keyValues(withValues('display', { power: 'cooling', lampHours: 2964 }), 'en'))).toEqual({ power: 'Cooling down', lampHours: `2,964${NBSP}h` });
  });

  it('router: bit rates, utilisation, uptime; the WAN port only when down', () => {
    const router = withValues('network', { inBps: 12_500_000, outBps: 850_000, utilisationIn: 4.2, utilisationOut: 0.3, linkUp: true, linkSpeedMbps: 300, uptimeS: 946_166 });
    expect(texts(keyValues(router, 'vi'))).toEqual({
      inBps: `12,5${NBSP}Mbit/s`,
      outBps: `850${NBSP}kbit/s`,
      utilisationIn: '4,2%',
      utilisationOut: '0,3%',
      uptimeS: `10${NBSP}ngày 22${NBSP}giờ`,
    });
    const down = keyValues(withValues('network', { linkUp: false, inBps: 0 }), 'en');
    expect(down[0]).toMatchObject({ metric: 'linkUp', text: 'Link down', tone: 'bad' });
  });

  it('link probe: WAN, latency, loss, jitter, DNS, online services', () => {
    const probe = withValues('network', { wanUp: false, latencyMs: 9.96, lossPct: 100, jitterMs: 0.73, dnsMs: 7.61, dnsFailed: 0, httpOk: false, httpMs: 46 });
    const kv = keyValues(probe, 'vi');
    expect(texts(kv)).toEqual({
      wanUp: 'Mất kết nối',
      latencyMs: `10${NBSP}ms`,
      lossPct: '100%',
      jitterMs: `0,7${NBSP}ms`,
      dnsMs: `7,6${NBSP}ms`,
      httpOk: 'Không truy cập được',
    });
    expect(kv.filter((v) => v.tone === 'bad').map((v) => v.metric)).toEqual(['wanUp', 'httpOk']);
    expect(texts(keyValues(withValues('network', { wanUp: true, httpOk: true }), 'en'))).toEqual({ wanUp: 'Up', httpOk: 'Reachable' });
  });

  it('lab, board and camera', () => {
    expect(texts(keyValues(withValues('lab', { roomTemperature: 29.94, humidity: 71.7, fumeHoodAirflow: 0.5, fridgeTemperature: 12, printerState: 'error' }), 'vi'))).toEqual({
      roomTemperature: `29,9${NBSP}°C`,
      humidity: '71,7%',
      fumeHoodAirflow: `0,5${NBSP}m/s`,
      fridgeTemperature: `12,0${NBSP}°C`,
      printerState: 'Lỗi',
    });
    expect(texts(keyValues(withValues('interactive-board', { power: true, sessionActive: false, appInUse: 'none', temperature: 30.8, freeStorageMb: 30_396, osVersion: 'Android 11' }), 'en'))).toEqual({
      power: 'On',
      sessionActive: 'None',
      appInUse: 'none',
      temperature: `30.8${NBSP}°C`,
      freeStorageMb: `29.7${NBSP}GB`,
    });
    expect(texts(keyValues(withValues('camera', { reachable: true, headcount: 1234, occupied: true, snapshotMs: 300 }), 'vi'))).toEqual({ headcount: '1.234' });
    expect(keyValues(withValues('camera', { reachable: false, headcount: 0 }), 'vi')[0]).toMatchObject({ metric: 'reachable', tone: 'bad' });
  });

  it('shows a value of an unexpected type as sent, not as garbage', () => {
    expect(texts(keyValues(withValues('display', { lampHours: 'many', power: 7 }), 'en'))).toEqual({ power: '7', lampHours: 'many' });
  });

  it('falls back to raw values for an unknown kind or profile, compactly', () => {
    const many = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`m${i}`, i + 0.125]));
    const kv = keyValues(withValues('drone', many), 'vi');
    expect(kv).toHaveLength(9);
    expect(kv[1]).toMatchObject({ metric: 'm1', label: 'm1', text: '1,13' });
    expect(kv[8]).toMatchObject({ metric: '', text: '+2 số liệu khác' });
    // A known kind whose device has none of the key metrics.
    expect(texts(keyValues(withValues('lab', { co2Ppm: 800, open: true }), 'en'))).toEqual({ co2Ppm: '800', open: 'yes' });
    expect(keyValues(device('x', { latest: null }), 'vi')).toEqual([]);
    expect(formatRaw('x'.repeat(100), 'vi')).toHaveLength(40);
    expect(formatRaw('', 'vi')).toBe(MISSING);
  });
});

describe('status wording', () => {
  const status = (state: DeviceView['status']['state'], reason: string | null) => ({ state, reason, detail: null, since: 1 });
  it('translates every state and every driver reason, Vietnamese and English', () => {
    expect(statusWords(status('faulty', 'auth_failed'), 'vi')).toMatchObject({ label: 'Bị lỗi', reason: 'Sai mật khẩu/thông tin xác thực' });
    expect(statusWords(status('faulty', 'auth_failed'), 'en')).toMatchObject({ label: 'Faulty', reason: 'Wrong password or credentials' });
    expect(statusWords(status('unreachable', 'timeout'), 'vi').label).toBe('Mất kết nối');
    for (const lang of ['vi', 'en'] as const) {
      for (const state of ['ok', 'unreachable', 'faulty', 'silent', 'unknown'] as const) {
        const words = statusWords(status(state, null), lang);
        expect(words.label, `${lang} ${state}`).not.toBe(state);
        expect(words.hint, `${lang} ${state}`).not.toBe('');
      }
      for (const reason of ['refused', 'timeout', 'no_route', 'closed', 'auth_failed', 'protocol_error', 'device_error']) {
        const text = statusWords(status('unreachable', reason), lang).reason;
        expect(text, `${lang} ${reason}`).toBeTruthy();
        expect(text, `${lang} ${reason}`).not.toBe(reason);
      }
    }
    expect(STRINGS.vi.reason).not.toEqual(STRINGS.en.reason);
  });

  it('shows an unknown reason as sent, and no reason for a device that is ok', () => {
    expect(statusWords(status('faulty', 'cosmic_ray'), 'vi').reason).toBe('cosmic_ray');
    expect(statusWords(status('ok', 'timeout'), 'vi').reason).toBeNull();
  });
});

describe('grouping, order and counts', () => {
  it('groups by kind in the fixed order, unknown kinds last; problems and alarms first, then by name', () => {
    const list = [
      device('cam', { kind: 'camera', name: { vi: 'Camera', en: 'Camera' } }),
      device('p10', { name: { vi: 'Máy chiếu Phòng 10', en: '' } }),
      device('p2', { name: { vi: 'Máy chiếu Phòng 2', en: '' } }),
      device('p9', { name: { vi: 'Máy chiếu Phòng 9', en: '' }, status: { state: 'unreachable', reason: 'timeout', detail: null, since: 1 } }),
      device('p11', { name: { vi: 'Máy chiếu Phòng 11', en: '' }, alarms: [alarm('p11', 'lamp-error', 'critical', 1)] }),
      device('zz', { kind: 'drone' as DeviceView['kind'] }),
      device('lab', { kind: 'lab' }),
      device('net', { kind: 'network' }),
    ];
    const groups = groupByKind(list, 'vi');
    expect(groups.map((g) => g.kind)).toEqual(['display', 'camera', 'network', 'lab', 'drone']);
    expect(groups[0]!.devices.map((d) => d.id)).toEqual(['p9', 'p11', 'p2', 'p10']);
    // Names fall back to the other language.
    expect(groupByKind(list, 'en')[0]!.devices.map((d) => d.id)).toEqual(['p9', 'p11', 'p2', 'p10']);
  });

  it('counts devices with problems and alarms; orders alarms most severe, then oldest first', () => {
    const list = [
      device('a', { status: { state: 'silent', reason: null, detail: null, since: 1 }, alarms: [alarm('a', 'w', 'warning', 5)] }),
      device('b', { alarms: [alarm('b', 'c2', 'critical', 9), alarm('b', 'c1', 'critical', 3)] }),
      device('c', { status: { state: 'faulty', reason: 'auth_failed', detail: null, since: 1 } }),
      device('d'),
    ];
    const alarms = alarmsOfDevices(list);
    expect(alarms.map((a) => a.ruleId)).toEqual(['c1', 'c2', 'w']);
    expect(schoolCounts(list, alarms)).toEqual({ devices: 4, problems: 2, alarms: 3, critical: 2 });
  });
});

describe('formatting helpers for the device view', () => {
  it('durations in their two largest units', () => {
    expect(formatDuration(946_166, 'vi')).toBe(`10${NBSP}ngày 22${NBSP}giờ`);
    expect(formatDuration(3 * 3600 + 5 * 60 + 7, 'en')).toBe(`3${NBSP}h 5${NBSP}min`);
    expect(formatDuration(86_400 + 30, 'en')).toBe(`1${NBSP}d`);
    expect(formatDuration(40, 'vi')).toBe(`40${NBSP}giây`);
    expect(formatDuration(0, 'en')).toBe(`0${NBSP}s`);
    expect(formatDuration(-1, 'en')).toBe(MISSING);
  });
  it('storage in MB, then GB', () => {
    expect(formatMegabytes(850, 'vi')).toBe(`850${NBSP}MB`);
    expect(formatMegabytes(30_396, 'vi')).toBe(`29,7${NBSP}GB`);
  });
  it('since when, without "từ vừa xong"', () => {
    const now = 10_000_000;
    expect(formatSince(now - 5_000, now, 'vi')).toBe('vừa xong');
    expect(formatSince(now - 3 * 60_000, now, 'vi')).toBe('từ 3 phút trước');
    expect(formatSince(now - 3 * 60_000, now, 'en')).toBe('since 3 min ago');
  });
});

describe('route', () => {
  it('reads and writes ?school= and keeps other parameters', () => {
    expect(schoolFromSearch('')).toBeNull();
    expect(schoolFromSearch('?school=')).toBeNull();
    expect(schoolFromSearch('?lang=en&school=thcs-le-loi')).toBe('thcs-le-loi');
    expect(searchWithSchool('?lang=en', 'thcs-le-loi')).toBe('?lang=en&school=thcs-le-loi');
    expect(searchWithSchool('?lang=en&school=a', null)).toBe('?lang=en');
    expect(searchWithSchool('?school=a', null)).toBe('');
    expect(schoolFromSearch(searchWithSchool('', 'a&b=c d'))).toBe('a&b=c d');
  });
});

describe('metricLabel', () => {
  const metrics: DeviceView['metrics'] = [{ name: 'avMute', type: 'boolean', unit: '', description: { vi: 'Tắt hình/tiếng', en: 'Audio/video mute' } }];
  it("uses the page's own short word, else the profile's description in the page's language, else the id", () => {
    expect(metricLabel('lampHours', 'vi', metrics)).toBe('Giờ đèn');
    expect(metricLabel('avMute', 'vi', metrics)).toBe('Tắt hình/tiếng');
    expect(metricLabel('avMute', 'en', metrics)).toBe('Audio/video mute');
    expect(metricLabel('avMute', 'en')).toBe('avMute');
  });
  it('reads the metrics of a device answer, and drops one it cannot use', () => {
    const answer = { ...device('p1'), metrics: [...metrics, { name: 'odd', type: 'colour', unit: '', description: { vi: 'x', en: 'x' } }] };
    expect(toDeviceView(JSON.parse(JSON.stringify(answer)))?.metrics).toEqual(metrics);
  });
});
