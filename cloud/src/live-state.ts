/**
 * What the district knows right now: the latest values of every device, each gateway's
 * status and last health report. Emits 'school' (schoolId) when anything about a school
 * changes and 'reading' for every accepted sample; the live push and the API read it.
 */
import { EventEmitter } from 'node:events';
import { computeFigures, type DeviceStatusEvent, type GatewayEvent, type GatewayHealth, type GatewayStatus, type MetricValue, type Reading } from '@schoolops/device-profiles';
import type { DeviceStatusView, GatewayView, SchoolSummary } from '@schoolops/device-profiles/api';
import { AlarmBook, type ActiveAlarm } from './alarms.ts';
import type { DistrictIndex } from './inventory.ts';

export interface DeviceLatest {
  ts: number;
  values: Record<string, MetricValue>;
}

export type { GatewayView, SchoolSummary };

export interface LiveEvents {
  school: [schoolId: string];
  reading: [schoolId: string, reading: Reading];
}

export class LiveState extends EventEmitter<LiveEvents> {
  private readonly latest = new Map<string, DeviceLatest>();
  private readonly gateways = new Map<string, GatewayView>();
  /** deviceId -> the latest device-status event its gateway sent */
  private readonly deviceEvents = new Map<string, DeviceStatusEvent>();
  private readonly alarmBook = new AlarmBook();

  constructor(
    private readonly district: DistrictIndex,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  /** live: online with nothing waiting; catching-up: online and draining a backlog; offline. */
  link(schoolId: string): { state: 'live' | 'catching-up' | 'offline' | 'unknown'; backlog: number | null } {
    const view = this.gateway(schoolId);
    const backlog = view.health?.backlog ?? null;
    if (view.state !== 'online') return { state: view.state, backlog };
    return { state: backlog ? 'catching-up' : 'live', backlog };
  }

  gateway(schoolId: string): GatewayView {
    let view = this.gateways.get(schoolId);
    if (!view) {
      view = { state: 'unknown', bootId: null, since: null, lastSeen: null, health: null };
      this.gateways.set(schoolId, view);
    }
    return view;
  }

  applyReading(schoolId: string, reading: Reading): void {
    const entry = this.district.devices.get(reading.deviceId);
    if (entry) this.alarmBook.apply(reading.deviceId, entry.profile, reading.ts, reading.values);
    const current = this.latest.get(reading.deviceId);
    // A replayed or late sample must not overwrite something newer.
    if (!current || reading.ts >= current.ts) {
      this.latest.set(reading.deviceId, { ts: reading.ts, values: { ...current?.values, ...reading.values } });
    }
    this.touch(schoolId);
    this.emit('reading', schoolId, reading);
    this.emit('school', schoolId);
  }

  applyStatus(status: GatewayStatus): void {
    const view = this.gateway(status.schoolId);
    // An offline will from an earlier boot must not mark a newer, running boot offline.
    if (status.state === 'offline' && view.bootId && view.bootId !== status.bootId && view.state === 'online') return;
    view.state = status.state;
    view.bootId = status.bootId;
    view.since = status.ts;
    if (status.state === 'online') this.touch(status.schoolId);
    this.emit('school', status.schoolId);
  }

  /** Recent gateway events per school, newest last (kept in memory for now). */
  readonly events = new Map<string, GatewayEvent[]>();

  applyEvent(event: GatewayEvent): void {
    this.noteDeviceStatus(event);
    const list = this.events.get(event.schoolId) ?? [];
    if (!list.some((e) => e.eventId === event.eventId)) list.push(event);
    this.events.set(event.schoolId, list.slice(-100));
    this.touch(event.schoolId);
    this.emit('school', event.schoolId);
  }

  private noteDeviceStatus(event: GatewayEvent): void {
    if (event.type !== 'device-status') return;
    const before = this.deviceEvents.get(event.deviceId);
    if (!before || event.ts >= before.ts) this.deviceEvents.set(event.deviceId, event);
  }

  /**
   * At start: the device problems gateways reported before this process started (from the
   * store), so a device that stays unreachable across a cloud restart still shows why.
   * Nothing else is touched (a stored event says nothing about a gateway being online now).
   */
  restoreDeviceStatus(events: GatewayEvent[]): void {
    for (const event of events) this.noteDeviceStatus(event);
  }

  applyHealth(health: GatewayHealth): void {
    this.gateway(health.schoolId).health = health;
    this.touch(health.schoolId);
    this.emit('school', health.schoolId);
  }

  private touch(schoolId: string): void {
    this.gateway(schoolId).lastSeen = this.now();
  }

  deviceLatest(deviceId: string): DeviceLatest | null {
    return this.latest.get(deviceId) ?? null;
  }

  /** A device is reporting while its last sample is younger than offlineAfterMissed report intervals. */
  isReporting(deviceId: string): boolean {
    const entry = this.district.devices.get(deviceId);
    const latest = this.latest.get(deviceId);
    if (!entry || !latest) return false;
    const { reportIntervalSeconds } = entry.profile;
    const { offlineAfterMissed } = entry.profile.health;
    return this.now() - latest.ts <= reportIntervalSeconds * 1000 * offlineAfterMissed;
  }

  /**
   * How the device is doing: a problem its gateway's driver reported (unreachable, faulty)
   * wins; otherwise ok while it reports, silent once it stopped, unknown if never heard.
   * Only the running gateway boot's reports count: a new boot re-discovers its problems
   * within one poll, and a device fixed while the gateway restarted must not stay red.
   */
  deviceStatus(deviceId: string): DeviceStatusView {
    const entry = this.district.devices.get(deviceId);
    const event = this.deviceEvents.get(deviceId);
    if (event && event.state !== 'ok' && entry && this.gateway(entry.school.id).bootId === event.bootId)
      return { state: event.state, reason: event.reason ?? null, detail: event.detail ?? null, since: event.ts };
    if (this.isReporting(deviceId)) return { state: 'ok', reason: null, detail: null, since: event?.ts ?? null };
    return { state: this.latest.has(deviceId) ? 'silent' : 'unknown', reason: null, detail: null, since: this.latest.get(deviceId)?.ts ?? null };
  }

  /** The device's profile health rules that are raised now. */
  alarms(deviceId: string): ActiveAlarm[] {
    const entry = this.district.devices.get(deviceId);
    return entry ? this.alarmBook.active(deviceId, entry.profile) : [];
  }

  /** Every raised alarm in a school, most severe first, then oldest first. */
  schoolAlarms(schoolId: string): ActiveAlarm[] {
    const rank = { critical: 0, warning: 1, info: 2 };
    return this.district
      .devicesOf(schoolId)
      .flatMap((d) => this.alarms(d.record.id))
      .sort((a, b) => rank[a.severity] - rank[b.severity] || a.since - b.since);
  }

  summary(schoolId: string): SchoolSummary | null {
    const school = this.district.schools.get(schoolId);
    if (!school) return null;
    const gateway = this.gateway(schoolId);
    const devices = this.district.devicesOf(schoolId);
    const reporting = devices.filter((d) => this.isReporting(d.record.id));
    const rejected = Object.values(gateway.health?.rejected ?? {}).reduce((a, b) => a + b, 0);
    return {
      id: school.id,
      name: school.name,
      level: school.level,
      ward: typeof school.ward === 'string' ? { vi: school.ward, en: school.ward } : school.ward,
      online: gateway.state === 'online',
      lastSeen: gateway.lastSeen,
      devices: {
        total: devices.length,
        reporting: reporting.length,
        problems: devices.filter((d) => {
          const state = this.deviceStatus(d.record.id).state;
          return state === 'unreachable' || state === 'faulty';
        }).length,
      },
      rejected,
      alarms: this.alarmCounts(devices.map((d) => d.record.id)),
      figures: computeFigures(reporting.map((d) => ({ kind: d.profile.kind, values: this.latest.get(d.record.id)!.values }))),
    };
  }

  private alarmCounts(deviceIds: string[]): { critical: number; warning: number; info: number } {
    const counts = { critical: 0, warning: 0, info: 0 };
    for (const id of deviceIds) for (const alarm of this.alarms(id)) counts[alarm.severity]++;
    return counts;
  }

  summaries(): SchoolSummary[] {
    return [...this.district.schools.keys()].map((id) => this.summary(id)!);
  }
}
