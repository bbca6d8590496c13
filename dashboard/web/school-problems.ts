// What school IT looks at first, and how they narrow a long list: the school's problems
// ranked by how much of the school they take down (the school offline, then its router, then
// its internet link, then single devices), and the filters of the device list (kind, room,
// status, a search box). No DOM here: unit-tested in Node.

import type { DeviceAlarm, DeviceView, RoomView, SchoolSummary } from './api.ts';
import { deviceName, hasProblem } from './device-values.ts';
import { collator } from './format.ts';
import type { Lang } from './i18n.ts';

/** From the widest to the narrowest: what a problem of this kind takes down. */
export type ProblemKind = 'school-offline' | 'router-down' | 'link-down' | 'device-down' | 'critical-alarm' | 'device-unknown';
const RANK: Record<ProblemKind, number> = { 'school-offline': 0, 'router-down': 1, 'link-down': 2, 'device-down': 3, 'critical-alarm': 4, 'device-unknown': 5 };

export interface Problem {
  kind: ProblemKind;
  /** The device it is about; null for the school itself. */
  deviceId: string | null;
  /** When it started, when known (ms epoch). */
  since: number | null;
  /** The device's state or the alarm's rule, for the words. */
  detail: string | null;
}

/** A device is the school's router when it is a network device that reports a link (linkUp), its probe when it reports wanUp. */
export function networkRole(device: DeviceView): 'router' | 'probe' | null {
  if (device.kind !== 'network') return null;
  const values = device.latest?.values ?? {};
  if ('wanUp' in values || 'latencyMs' in values) return 'probe';
  if ('linkUp' in values || 'inBps' in values) return 'router';
  return device.profileId.includes('probe') ? 'probe' : 'router';
}

/**
 * The school's problems, widest first: the school's gateway offline (nothing it says is
 * current); its router unreachable or its uplink down; its internet unreachable (the probe
 * sees no WAN or no web); then every other device that is not answering, then critical
 * alarms of devices that answer, then devices the gateway has said nothing of yet (just
 * started, or polled only on request): a known fault outranks an unknown. Within a kind,
 * oldest first.
 */
export function rankProblems(summary: SchoolSummary | undefined, devices: readonly DeviceView[], alarms: readonly DeviceAlarm[]): Problem[] {
  const out: Problem[] = [];
  if (summary && !summary.online) out.push({ kind: 'school-offline', deviceId: null, since: summary.lastSeen, detail: null });
  const down = new Set<string>();
  for (const device of devices) {
    const role = networkRole(device);
    const values = device.latest?.values ?? {};
    if (role === 'router' && (hasProblem(device) || values.linkUp === false)) {
      out.push({ kind: 'router-down', deviceId: device.id, since: device.status.since, detail: hasProblem(device) ? device.status.state : 'linkUp' });
      down.add(device.id);
    } else if (role === 'probe' && (values.wanUp === false || values.httpOk === false)) {
      out.push({ kind: 'link-down', deviceId: device.id, since: device.latest?.ts ?? null, detail: values.wanUp === false ? 'wanUp' : 'httpOk' });
      down.add(device.id);
    } else if (device.status.state === 'unknown') {
      out.push({ kind: 'device-unknown', deviceId: device.id, since: device.status.since, detail: null });
      down.add(device.id);
    } else if (hasProblem(device)) {
      out.push({ kind: 'device-down', deviceId: device.id, since: device.status.since, detail: device.status.state });
      down.add(device.id);
    }
  }
  for (const alarm of alarms) {
    if (alarm.severity !== 'critical' || down.has(alarm.deviceId)) continue;
    out.push({ kind: 'critical-alarm', deviceId: alarm.deviceId, since: alarm.since, detail: alarm.ruleId });
  }
  return out.sort((a, b) => RANK[a.kind] - RANK[b.kind] || (a.since ?? Infinity) - (b.since ?? Infinity));
}

export type StatusFilter = 'all' | 'problems' | 'alarms' | 'ok';
export const STATUS_FILTERS: readonly StatusFilter[] = ['all', 'problems', 'alarms', 'ok'];

export interface DeviceFilter {
  /** '' for every kind. */
  kind: string;
  /** '' for every room. */
  roomId: string;
  status: StatusFilter;
  /** Words to find in the device's name (either language), id, model or room. */
  search: string;
}

export const NO_FILTER: DeviceFilter = { kind: '', roomId: '', status: 'all', search: '' };

/** Lower case, accents gone ('Phòng' matches 'phong'), đ as d: how Vietnamese is searched. */
export function folded(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').replace(/đ/g, 'd').replace(/Đ/g, 'D').toLowerCase();
}

/** The devices that pass the filter, in the order given. */
export function filterDevices(devices: readonly DeviceView[], filter: DeviceFilter, rooms: ReadonlyMap<string, RoomView>): DeviceView[] {
  const words = folded(filter.search).split(/\s+/).filter(Boolean);
  return devices.filter((d) => {
    if (filter.kind !== '' && d.kind !== filter.kind) return false;
    if (filter.roomId !== '' && d.roomId !== filter.roomId) return false;
    if (filter.status === 'problems' && !hasProblem(d)) return false;
    if (filter.status === 'alarms' && d.alarms.length === 0) return false;
    if (filter.status === 'ok' && (hasProblem(d) || d.alarms.length > 0)) return false;
    if (words.length === 0) return true;
    const room = rooms.get(d.roomId);
    const haystack = folded([d.name.vi, d.name.en, d.id, d.vendor, d.model, d.roomId, room?.name.vi ?? '', room?.name.en ?? '', ...d.alarms.map((a) => `${a.message.vi} ${a.message.en}`)].join(' '));
    return words.every((w) => haystack.includes(w));
  });
}

/** Rooms that hold at least one of the devices, in name order. */
export function roomsOf(devices: readonly DeviceView[], rooms: ReadonlyMap<string, RoomView>, lang: Lang): Array<{ id: string; name: string }> {
  const c = collator(lang);
  const ids = [...new Set(devices.map((d) => d.roomId).filter(Boolean))];
  return ids.map((id) => ({ id, name: rooms.get(id)?.name[lang] || rooms.get(id)?.name.vi || id })).sort((a, b) => c.compare(a.name, b.name));
}

/** A device's name for the problem list. */
export function problemDevice(devices: readonly DeviceView[], id: string | null, lang: Lang): string {
  if (id === null) return '';
  const device = devices.find((d) => d.id === id);
  return device ? deviceName(device, lang) : id;
}

/** The highest value and the 95th percentile (nearest rank) of a series, nulls left out. */
export function peakAndP95(values: ReadonlyArray<number | null>): { peak: number | null; p95: number | null } {
  const numbers = values.filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (numbers.length === 0) return { peak: null, p95: null };
  return { peak: numbers[numbers.length - 1]!, p95: numbers[Math.ceil(0.95 * numbers.length) - 1]! };
}
