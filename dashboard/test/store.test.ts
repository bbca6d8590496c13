import { describe, expect, it } from 'vitest';
import { isSchoolSummary, type SchoolSummary } from '../web/api.ts';
import { SchoolStore, districtTotals, sortForDisplay, type SchoolChange } from '../web/store.ts';

function school(id: string, vi: string, patch: Partial<SchoolSummary> = {}): SchoolSummary {
  return {
    id,
    name: { vi, en: `${vi} (en)` },
    level: 'primary',
    ward: { vi: 'Phường 1', en: 'Ward 1' },
    online: true,
    lastSeen: 1_000,
    devices: { total: 10, reporting: 10, problems: 0 },
    alarms: { critical: 0, warning: 0, info: 0 },
    rejected: 0,
    figures: {
      inBps: 1_000_000,
      outBps: 500_000,
      latencyMs: 20,
      lossPct: 0,
      linksDown: 0,
      projectorsOn: 1,
      boardsInSession: 1,
      headcount: 30,
      labTemperatureAvg: 26,
    },
    ...patch,
  };
}

describe('sortForDisplay', () => {
  it('puts offline schools first, then orders by the Vietnamese name', () => {
    const list = [
      school('c', 'Trường Tiểu học Võ Thị Sáu'),
      school('a', 'Trường THCS Đống Đa', { online: false }),
      school('b', 'Trường Tiểu học An Phú'),
      school('d', 'Trường Tiểu học Ánh Dương'),
      school('e', 'Trường THCS Bến Nghé', { online: false }),
    ];
    expect(sortForDisplay(list, 'vi').map((s) => s.id)).toEqual(['e', 'a', 'b', 'd', 'c']);
  });
});

describe('SchoolStore', () => {
  it('reports online transitions and ignores identical updates', () => {
    const store = new SchoolStore();
    const seen: SchoolChange[][] = [];
    store.onChange((c) => seen.push(c));
    store.applySnapshot(store.beginSnapshot(), [school('a', 'A')]);
    store.applyEvent(school('a', 'A'));
    store.applyEvent(school('a', 'A', { online: false }));
    expect(seen).toHaveLength(2);
    expect(seen[1]?.[0]?.before?.online).toBe(true);
    expect(seen[1]?.[0]?.after?.online).toBe(false);
  });

  it('keeps live events that arrive while a snapshot is in flight when they are newer', () => {
    const store = new SchoolStore();
    const token = store.beginSnapshot();
    store.applyEvent(school('a', 'A', { lastSeen: 5_000, rejected: 7 }));
    store.applyEvent(school('b', 'B', { lastSeen: 1_000, rejected: 1 }));
    // The snapshot was taken before a's event but after b's.
    store.applySnapshot(token, [school('a', 'A', { lastSeen: 4_000 }), school('b', 'B', { lastSeen: 2_000 })]);
    expect(store.get('a')?.rejected).toBe(7);
    expect(store.get('b')?.rejected).toBe(0);
  });

  it('drops a snapshot superseded by a newer request and removes schools the snapshot lacks', () => {
    const store = new SchoolStore();
    store.applySnapshot(store.beginSnapshot(), [school('a', 'A'), school('b', 'B')]);
    const old = store.beginSnapshot();
    const latest = store.beginSnapshot();
    expect(store.applySnapshot(old, [])).toBe(false);
    expect(store.size).toBe(2);
    expect(store.applySnapshot(latest, [school('a', 'A')])).toBe(true);
    expect(store.all().map((s) => s.id)).toEqual(['a']);
  });
});

describe('districtTotals', () => {
  it('counts every school but sums live figures of online schools only', () => {
    const totals = districtTotals([school('a', 'A'), school('b', 'B', { online: false })]);
    expect(totals).toMatchObject({ schools: 2, online: 1, offline: 1, devicesTotal: 20, headcount: 30, inBps: 1_000_000 });
  });
});

describe('isSchoolSummary', () => {
  it('accepts the contract shape and rejects broken payloads', () => {
    expect(isSchoolSummary(school('a', 'A'))).toBe(true);
    expect(isSchoolSummary({ ...school('a', 'A'), figures: { ...school('a', 'A').figures, headcount: '3' } })).toBe(false);
    expect(isSchoolSummary({ ...school('a', 'A'), name: 'A' })).toBe(false);
    expect(isSchoolSummary(null)).toBe(false);
  });
});
