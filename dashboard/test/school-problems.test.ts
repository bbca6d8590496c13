import { describe, expect, it } from 'vitest';
import type { DeviceAlarm, DeviceView, RoomView, SchoolSummary } from '../web/api.ts';
import { NO_FILTER, filterDevices, folded, peakAndP95, rankProblems, roomsOf } from '../web/school-problems.ts';

function device(id: string, patch: Partial<DeviceView> = {}): DeviceView {
  return {
    id,
    schoolId: 's',
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
const down = (since: number) => ({ state: 'unreachable' as const, reason: 'timeout', detail: null, since });
const alarm = (deviceId: string, severity: DeviceAlarm['severity'], since: number): DeviceAlarm => ({
  deviceId,
  ruleId: 'lamp-error',
  metric: 'errorLamp',
  severity,
  since,
  message: { vi: 'Bóng đèn máy chiếu hỏng', en: 'Projector lamp failure' },
  value: 'error',
});
const summary = (online: boolean) => ({ online, lastSeen: 500 }) as SchoolSummary;

describe('problems, widest first', () => {
  it('ranks the school offline, then its router, then its internet, then devices, then critical alarms, then devices not heard of yet', () => {
    const devices = [
      device('p1', { status: down(30) }),
      device('cam', { kind: 'camera', status: down(10) }),
      device('router', { kind: 'network', profileId: 'mikrotik-hex-s', latest: { ts: 1, values: { linkUp: false, inBps: 0 } } }),
      device('probe', { kind: 'network', profileId: 'schoolops-link-probe', latest: { ts: 7, values: { wanUp: false, latencyMs: 0 } } }),
      device('p2'),
      device('p3'),
      device('new-cam', { kind: 'camera', status: { state: 'unknown', reason: null, detail: null, since: null } }),
    ];
    const problems = rankProblems(summary(false), devices, [alarm('p2', 'critical', 5), alarm('p3', 'warning', 1), alarm('p1', 'critical', 2)]);
    expect(problems.map((p) => [p.kind, p.deviceId])).toEqual([
      ['school-offline', null],
      ['router-down', 'router'],
      ['link-down', 'probe'],
      // Oldest first among devices.
      ['device-down', 'cam'],
      ['device-down', 'p1'],
      // A critical alarm of a device already down is not listed twice; warnings are not problems.
      ['critical-alarm', 'p2'],
      // Never heard of yet: after what is known to be wrong.
      ['device-unknown', 'new-cam'],
    ]);
    expect(rankProblems(summary(true), [device('p2')], [])).toEqual([]);
  });
});

describe('the device list filters', () => {
  const rooms = new Map<string, RoomView>([
    ['r101', { id: 'r101', name: { vi: 'Phòng 101', en: 'Room 101' }, type: 'classroom', floor: 1, capacity: 40, devices: [] }],
    ['lab1', { id: 'lab1', name: { vi: 'Phòng thí nghiệm Hóa', en: 'Chemistry lab' }, type: 'lab', floor: 2, capacity: 30, devices: [] }],
  ]);
  const list = [
    device('p1'),
    device('p2', { status: down(1) }),
    device('p3', { alarms: [alarm('p3', 'critical', 1)], roomId: 'lab1' }),
    device('board', { kind: 'interactive-board', name: { vi: 'Bảng tương tác Đông', en: 'Board East' } }),
  ];
  const ids = (f: Partial<typeof NO_FILTER>) => filterDevices(list, { ...NO_FILTER, ...f }, rooms).map((d) => d.id);

  it('by kind, room and status', () => {
    expect(ids({})).toEqual(['p1', 'p2', 'p3', 'board']);
    expect(ids({ kind: 'interactive-board' })).toEqual(['board']);
    expect(ids({ roomId: 'lab1' })).toEqual(['p3']);
    expect(ids({ status: 'problems' })).toEqual(['p2']);
    expect(ids({ status: 'alarms' })).toEqual(['p3']);
    expect(ids({ status: 'ok' })).toEqual(['p1', 'board']);
  });

  it('by words in any order, accents and case ignored, in names, rooms and alarm messages', () => {
    expect(folded('Đông Phòng')).toBe('dong phong');
    expect(ids({ search: 'bang dong' })).toEqual(['board']);
    expect(ids({ search: 'hoa' })).toEqual(['p3']);
    expect(ids({ search: 'bóng đèn' })).toEqual(['p3']);
    expect(ids({ search: 'EB-X51 p2' })).toEqual(['p2']);
    expect(ids({ search: 'nothing like it' })).toEqual([]);
    expect(roomsOf(list, rooms, 'vi').map((r) => r.name)).toEqual(['Phòng 101', 'Phòng thí nghiệm Hóa']);
  });
});

describe('peak and 95th percentile', () => {
  it('over the buckets that hold data', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(peakAndP95([...values, null, null])).toEqual({ peak: 100, p95: 95 });
    expect(peakAndP95([null])).toEqual({ peak: null, p95: null });
    expect(peakAndP95([7])).toEqual({ peak: 7, p95: 7 });
  });
});
