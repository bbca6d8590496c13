// One school's device view while it is open: loads GET /api/schools/{id}/devices and
// /alarms, refreshes them every few seconds, and sooner when the school's live summary
// says its alarms or problems changed. Only the latest request for the open school counts.
// Attendance is asked for only by roles that may read it: every refused read is an audit
// entry, and a refresh every few seconds would fill the log with them. A school outside
// the signed-in principal's scope is not asked for at all: it says "not allowed".

import { HttpError, fetchRooms, fetchSchoolAlarms, fetchSchoolAttendance, fetchSchoolDevices, type DeviceAlarm, type SchoolSummary } from './api.ts';
import { alarmsOfDevices } from './device-values.ts';
import type { SchoolView, SchoolViewState } from './school-view.ts';
import type { RenderContext } from './view.ts';

/** Devices and alarms are read this often while the view is open. */
const REFRESH_MS = 5_000;
/** A live event asks for a refresh; several in a row make one. */
const SOON_MS = 250;

export interface SchoolPageDeps {
  view: SchoolView;
  ctx: () => RenderContext;
  /** The overview's copy of the school's summary (name, online), if loaded. */
  summary: (schoolId: string) => SchoolSummary | undefined;
  /** May the signed-in principal see this school at all (its scope)? */
  allowed: (schoolId: string) => boolean;
  /** May it read attendance? */
  attendance: () => boolean;
}

export class SchoolPage {
  readonly #deps: SchoolPageDeps;
  #state: SchoolViewState | null = null;
  /** Bumped on every open and close: answers for an older one are dropped. */
  #generation = 0;
  #abort: AbortController | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight = false;
  #again = false;
  /** What in the live summary makes a refresh worth doing now. */
  #summaryKey = '';

  constructor(deps: SchoolPageDeps) {
    this.#deps = deps;
  }

  /** The open school's id, or null while the overview shows. */
  get schoolId(): string | null {
    return this.#state?.schoolId ?? null;
  }

  open(schoolId: string): void {
    if (this.#state?.schoolId === schoolId) return;
    this.close();
    const summary = this.#deps.summary(schoolId);
    this.#summaryKey = summaryKey(summary);
    const problem = this.#deps.allowed(schoolId) ? 'none' : 'forbidden';
    this.#state = { schoolId, summary, devices: null, alarms: [], attendance: null, rooms: new Map(), loadedAt: null, problem };
    this.render();
    void this.refresh();
  }

  close(): void {
    this.#generation += 1;
    this.#abort?.abort();
    this.#abort = null;
    clearTimeout(this.#timer);
    this.#inFlight = false;
    this.#again = false;
    this.#state = null;
  }

  /** Re-draw with the current language and clock. */
  render(): void {
    if (this.#state !== null) this.#deps.view.render(this.#state, this.#deps.ctx());
  }

  /** The overview store has a new summary of some school. */
  onSummary(summary: SchoolSummary | undefined, schoolId: string): void {
    if (this.#state === null || this.#state.schoolId !== schoolId) return;
    this.#state.summary = summary;
    this.render();
    const key = summaryKey(summary);
    if (key !== this.#summaryKey) {
      this.#summaryKey = key;
      this.#schedule(SOON_MS);
    }
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.refresh(), ms);
  }

  async refresh(): Promise<void> {
    const state = this.#state;
    if (state === null || state.problem === 'not-found' || state.problem === 'forbidden') return;
    if (this.#inFlight) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#inFlight = true;
    const generation = this.#generation;
    const abort = new AbortController();
    this.#abort = abort;
    const { schoolId } = state;
    try {
      const [devices, alarms, attendance, rooms] = await Promise.allSettled([
        fetchSchoolDevices(schoolId, abort.signal),
        fetchSchoolAlarms(schoolId, abort.signal),
        this.#deps.attendance() ? fetchSchoolAttendance(schoolId, abort.signal) : Promise.resolve(null),
        // Rooms change with the district record only: read once per opening.
        state.rooms.size === 0 ? fetchRooms(schoolId, abort.signal) : Promise.resolve(null),
      ]);
      if (generation !== this.#generation) return;
      if (devices.status === 'rejected') throw devices.reason;
      if (devices.value.malformed > 0) console.warn(`SchoolOps: ignored ${devices.value.malformed} device(s) with an unexpected shape`);
      let alarmList: DeviceAlarm[];
      if (alarms.status === 'fulfilled') {
        alarmList = alarms.value.body;
      } else {
        // Each device carries its own alarms: the list stays right without /alarms.
        console.warn('SchoolOps: loading alarms failed; using the devices’ own', alarms.reason);
        alarmList = alarmsOfDevices(devices.value.body);
      }
      state.devices = devices.value.body;
      state.alarms = alarmList;
      // Attendance is a section of its own: without it the devices still show.
      if (attendance.status === 'fulfilled') state.attendance = attendance.value?.body ?? null;
      else console.warn('SchoolOps: loading attendance failed', attendance.reason);
      if (rooms.status === 'fulfilled' && rooms.value) state.rooms = new Map(rooms.value.map((r) => [r.id, r]));
      state.loadedAt = devices.value.serverDate ?? this.#deps.ctx().now;
      state.problem = 'none';
    } catch (error) {
      if (generation !== this.#generation) return;
      if (error instanceof HttpError && error.status === 404) {
        state.problem = 'not-found';
      } else if (error instanceof HttpError && error.status === 403) {
        state.problem = 'forbidden';
      } else {
        console.warn('SchoolOps: loading devices failed', error);
        state.problem = 'failed';
      }
    } finally {
      if (generation === this.#generation) {
        this.#inFlight = false;
        this.#abort = null;
      }
    }
    this.render();
    if (state.problem === 'not-found' || state.problem === 'forbidden') return;
    if (this.#again) {
      this.#again = false;
      this.#schedule(0);
    } else {
      this.#schedule(REFRESH_MS);
    }
  }
}

function summaryKey(summary: SchoolSummary | undefined): string {
  if (summary === undefined) return '';
  const a = summary.alarms;
  return [a?.critical, a?.warning, a?.info, summary.devices.problems, summary.devices.reporting, summary.online].join('/');
}
