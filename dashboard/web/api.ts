// The cloud's HTTP and live contract, as the dashboard sees it. The cloud serves this page
// and these endpoints from the same origin, so every URL here is relative to the page's host.

import { toMe, type Me } from './auth.ts';

/** A human name in both UI languages. */
export interface LocalizedName {
  vi: string;
  en: string;
}

/** GET /api/district */
export interface District {
  id: string;
  name: LocalizedName;
  /** IANA zone, e.g. 'Asia/Ho_Chi_Minh'. */
  timezone: string;
}

export type SchoolLevel = 'primary' | 'lower-secondary' | 'upper-secondary';

export interface SchoolFigures {
  /** Internet link, bits per second, download direction. */
  inBps: number | null;
  /** Internet link, bits per second, upload direction. */
  outBps: number | null;
  latencyMs: number | null;
  lossPct: number | null;
  projectorsOn: number;
  boardsInSession: number;
  /** People counted by the classroom cameras. */
  headcount: number;
  /** Average temperature of the school's lab sensors, °C. */
  labTemperatureAvg: number | null;
}

/** GET /api/schools returns SchoolSummary[]; socket.io 'school' events carry one. */
export interface SchoolSummary {
  id: string;
  name: LocalizedName;
  level: SchoolLevel;
  ward: string;
  online: boolean;
  /** ms since epoch of the last message from the school's gateway; null if never seen. */
  lastSeen: number | null;
  /** problems: devices the gateway's drivers report unreachable or faulty. */
  devices: { total: number; reporting: number; problems?: number };
  /** Devices' health rules raised now, by severity (absent from clouds before 0.3). */
  alarms?: { critical: number; warning: number; info: number };
  /** Readings the cloud refused (invalid against the device profile). */
  rejected: number;
  figures: SchoolFigures;
}

/** socket.io 'reading' event. The overview page does not use it. */
export interface ReadingEvent {
  schoolId: string;
  deviceId: string;
  ts: number;
  values: Record<string, unknown>;
}

/** socket.io events the server emits to the dashboard. */
export interface ServerToClientEvents {
  school: (school: SchoolSummary) => void;
  reading: (reading: ReadingEvent) => void;
}

/** The dashboard sends nothing on the socket yet. */
export type ClientToServerEvents = Record<string, never>;

/** A metric's value as devices report it. */
export type MetricValue = number | boolean | string;

export type DeviceState = 'ok' | 'unreachable' | 'faulty' | 'silent' | 'unknown';
export const DEVICE_STATES: readonly DeviceState[] = ['ok', 'unreachable', 'faulty', 'silent', 'unknown'];

/** How the gateway's driver sees the device. */
export interface DeviceStatus {
  /** A state this page does not know is shown as 'unknown'. */
  state: DeviceState;
  /** refused, timeout, no_route, closed, auth_failed, protocol_error, device_error (or a newer one). */
  reason: string | null;
  /** The driver's own words, for the technically curious (not translated). */
  detail: string | null;
  since: number | null;
}

export type AlarmSeverity = 'critical' | 'warning' | 'info';

/** A device health rule raised now (GET /api/schools/{id}/alarms, and each device's `alarms`). */
export interface DeviceAlarm {
  deviceId: string;
  ruleId: string;
  /** The metric the rule watches; absent from older clouds. */
  metric?: string;
  severity: AlarmSeverity;
  message: LocalizedName;
  /** ms epoch at which the condition started to hold. */
  since: number;
  value: MetricValue | null;
}

/**
 * GET /api/schools/{id}/devices returns DeviceView[]. `kind` is one of display,
 * interactive-board, camera, network, lab today; a newer kind is kept and shown as sent.
 */
export interface DeviceView {
  id: string;
  roomId: string;
  profileId: string;
  kind: string;
  vendor: string;
  model: string;
  name: LocalizedName;
  reporting: boolean;
  status: DeviceStatus;
  alarms: DeviceAlarm[];
  /** Latest values; values of a type this page does not know are left out. */
  latest: { ts: number; values: Record<string, MetricValue> } | null;
  /** Names of the parameterless commands the device's profile lists; absent from older clouds. */
  commands?: string[];
}

export const API_DISTRICT = '/api/district';
export const API_SCHOOLS = '/api/schools';
export const apiSchoolDevices = (schoolId: string) => `${API_SCHOOLS}/${encodeURIComponent(schoolId)}/devices`;
export const apiSchoolAlarms = (schoolId: string) => `${API_SCHOOLS}/${encodeURIComponent(schoolId)}/alarms`;

export const apiSchoolAttendance = (schoolId: string, date?: string) =>
  `${API_SCHOOLS}/${encodeURIComponent(schoolId)}/attendance${date ? `?date=${encodeURIComponent(date)}` : ''}`;

/** One lesson of GET /api/schools/{id}/attendance. */
export interface LessonAttendance {
  period: number;
  start: string;
  end: string;
  classId: string;
  className: string;
  roomId: string;
  enrolled: number;
  /** How many times the room's camera counted during the period. */
  counts: number;
  headcount: number | null;
  attendancePct: number | null;
  /** Over, running, or still to come, on the school's time. */
  when: 'past' | 'now' | 'later';
}

export interface AttendanceDay {
  date: string;
  /** School time minus real time: non-zero only in a simulated district running a demo school day. */
  clockOffsetMs: number;
  lessons: LessonAttendance[];
}

/**
 * A response that was not 2xx; `status` lets the page tell "no such school" (404) from
 * "not yours" (403) from an outage, and `reason` is the cloud's own message, if it sent one.
 */
export class HttpError extends Error {
  readonly status: number;
  readonly reason: string | null;
  /** The Retry-After header of a 429 (or 503), as sent. */
  readonly retryAfter: string | null;
  constructor(url: string, status: number, reason: string | null = null, retryAfter: string | null = null) {
    super(`${url}: HTTP ${status}${reason ? ` (${reason})` : ''}`);
    this.name = 'HttpError';
    this.status = status;
    this.reason = reason;
    this.retryAfter = retryAfter;
  }
}

/** A JSON response together with the server's clock, read from the HTTP Date header. */
export interface Fetched<T> {
  body: T;
  /** ms epoch from the Date header, or null when absent. One-second resolution. */
  serverDate: number | null;
}

// ---- the session, as every request sees it ----

/** The header the cloud checks on every change made with the session cookie. */
export const CSRF_HEADER = 'x-csrf-token';
let csrfToken: string | null = null;
let signInNeeded: (() => void) | null = null;
let csrfRefresh: (() => Promise<string | null>) | null = null;

/**
 * main.ts says what a 401 means for the page (show the sign-in form) and how to fetch a
 * fresh CSRF token (GET /api/auth/me), used once when a change is refused for a stale one:
 * another tab may have signed in again, which gives the session a new token.
 */
export function configureSession(o: { onSignInNeeded: () => void; refreshCsrf: () => Promise<string | null> }): void {
  signInNeeded = o.onSignInNeeded;
  csrfRefresh = o.refreshCsrf;
}

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** The cloud's error body is { statusCode, error, message }; its message says why. */
async function reasonOf(res: Response): Promise<string | null> {
  try {
    const body = (await res.json()) as unknown;
    return isObject(body) && typeof body.message === 'string' ? body.message : null;
  } catch {
    return null;
  }
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
  /**
   * Sign-in and enrollment answer 401 for a wrong password or code: the form shows that,
   * so such a 401 must not also send the page to the sign-in form.
   */
  own401?: boolean;
}

/**
 * Every call to the cloud goes through here: the cookie rides along (same origin), every
 * change carries the CSRF token, a 401 sends the page to the sign-in form, and anything
 * not 2xx becomes an HttpError with the cloud's reason.
 */
export async function request(url: string, o: RequestOptions = {}): Promise<Response> {
  const method = o.method ?? 'GET';
  const send = () => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    if (!SAFE_METHODS.has(method) && csrfToken !== null) headers[CSRF_HEADER] = csrfToken;
    return fetch(url, {
      method,
      headers,
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
      cache: 'no-store',
      credentials: 'same-origin',
      signal: o.signal,
    });
  };
  let res = await send();
  if (res.status === 403 && !SAFE_METHODS.has(method) && csrfRefresh !== null) {
    const reason = await reasonOf(res.clone());
    // A stale token (the session was renewed in another tab): fetch the current one, try once more.
    if (reason !== null && /csrf/i.test(reason)) {
      const fresh = await csrfRefresh();
      if (fresh !== null && fresh !== csrfToken) {
        csrfToken = fresh;
        res = await send();
      }
    }
  }
  if (res.ok) return res;
  if (res.status === 401 && !o.own401) signInNeeded?.();
  throw new HttpError(url, res.status, await reasonOf(res), res.headers.get('retry-after'));
}

async function getJson(url: string, signal?: AbortSignal): Promise<Fetched<unknown>> {
  const res = await request(url, { signal });
  const date = res.headers.get('date');
  const parsed = date === null ? NaN : Date.parse(date);
  return { body: (await res.json()) as unknown, serverDate: Number.isFinite(parsed) ? parsed : null };
}

/** A change (POST, PATCH, DELETE) and its JSON answer, or null for 204. */
export async function sendJson(url: string, method: 'POST' | 'PATCH' | 'DELETE', body?: unknown, o: { own401?: boolean } = {}): Promise<unknown> {
  const res = await request(url, { method, body, ...o });
  if (res.status === 204) return null;
  return (await res.json()) as unknown;
}

export async function fetchDistrict(signal?: AbortSignal): Promise<District> {
  const { body } = await getJson(API_DISTRICT, signal);
  if (!isDistrict(body)) throw new Error(`${API_DISTRICT}: unexpected response shape`);
  return body;
}

/** Schools that fail the shape check are dropped (and counted) rather than breaking the page. */
export async function fetchSchools(
  signal?: AbortSignal,
): Promise<Fetched<SchoolSummary[]> & { malformed: number }> {
  const { body, serverDate } = await getJson(API_SCHOOLS, signal);
  if (!Array.isArray(body)) throw new Error(`${API_SCHOOLS}: expected an array`);
  const schools = body.filter(isSchoolSummary);
  return { body: schools, serverDate, malformed: body.length - schools.length };
}

/** Devices that fail the shape check are dropped (and counted); odd fields inside one are skipped. */
export async function fetchSchoolDevices(
  schoolId: string,
  signal?: AbortSignal,
): Promise<Fetched<DeviceView[]> & { malformed: number }> {
  const url = apiSchoolDevices(schoolId);
  const { body, serverDate } = await getJson(url, signal);
  if (!Array.isArray(body)) throw new Error(`${url}: expected an array`);
  const devices = parseList(body, toDeviceView);
  return { body: devices, serverDate, malformed: body.length - devices.length };
}

/** Raised alarms, most severe first (the cloud's order is kept). */
export async function fetchSchoolAlarms(
  schoolId: string,
  signal?: AbortSignal,
): Promise<Fetched<DeviceAlarm[]> & { malformed: number }> {
  const url = apiSchoolAlarms(schoolId);
  const { body, serverDate } = await getJson(url, signal);
  if (!Array.isArray(body)) throw new Error(`${url}: expected an array`);
  const alarms = parseList(body, toDeviceAlarm);
  return { body: alarms, serverDate, malformed: body.length - alarms.length };
}

// ---- shape checks: the page renders only data it understands ----

function parseList<T>(list: readonly unknown[], parse: (v: unknown) => T | null): T[] {
  const out: T[] = [];
  for (const item of list) {
    const parsed = parse(item);
    if (parsed !== null) out.push(parsed);
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}
function isNumberOrNull(v: unknown): v is number | null {
  return v === null || isFiniteNumber(v);
}
function isLocalizedName(v: unknown): v is LocalizedName {
  return isObject(v) && typeof v.vi === 'string' && typeof v.en === 'string';
}

export function isDistrict(v: unknown): v is District {
  return isObject(v) && typeof v.id === 'string' && isLocalizedName(v.name) && typeof v.timezone === 'string';
}

export function isSchoolSummary(v: unknown): v is SchoolSummary {
  if (!isObject(v)) return false;
  const { devices, figures } = v;
  return (
    typeof v.id === 'string' &&
    v.id.length > 0 &&
    isLocalizedName(v.name) &&
    // A level this page does not know yet is shown as sent rather than hiding the school.
    typeof v.level === 'string' &&
    typeof v.ward === 'string' &&
    typeof v.online === 'boolean' &&
    isNumberOrNull(v.lastSeen) &&
    isObject(devices) &&
    isFiniteNumber(devices.total) &&
    isFiniteNumber(devices.reporting) &&
    isFiniteNumber(v.rejected) &&
    isObject(figures) &&
    isNumberOrNull(figures.inBps) &&
    isNumberOrNull(figures.outBps) &&
    isNumberOrNull(figures.latencyMs) &&
    isNumberOrNull(figures.lossPct) &&
    isFiniteNumber(figures.projectorsOn) &&
    isFiniteNumber(figures.boardsInSession) &&
    isFiniteNumber(figures.headcount) &&
    isNumberOrNull(figures.labTemperatureAvg)
  );
}

function isMetricValue(v: unknown): v is MetricValue {
  return isFiniteNumber(v) || typeof v === 'boolean' || typeof v === 'string';
}
function stringOrNull(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}
function isSeverity(v: unknown): v is AlarmSeverity {
  return v === 'critical' || v === 'warning' || v === 'info';
}
function isDeviceState(v: unknown): v is DeviceState {
  return (DEVICE_STATES as readonly unknown[]).includes(v);
}

/** One alarm, or null when it lacks what the page needs to show it. */
/** A lesson's attendance, or null when its shape is not one this page understands. */
export function toLessonAttendance(v: unknown): LessonAttendance | null {
  if (!isObject(v)) return null;
  const { period, start, end, classId, className, roomId, enrolled, counts, headcount, attendancePct } = v;
  // An older cloud sends no `when`: the lesson is then taken as over (counted or not).
  const when = v.when === 'now' || v.when === 'later' ? v.when : 'past';
  if (!isFiniteNumber(period) || !isFiniteNumber(enrolled) || !isFiniteNumber(counts)) return null;
  if (typeof start !== 'string' || typeof end !== 'string' || typeof classId !== 'string' || typeof className !== 'string' || typeof roomId !== 'string') return null;
  if (!isNumberOrNull(headcount) || !isNumberOrNull(attendancePct)) return null;
  return { period, start, end, classId, className, roomId, enrolled, counts, headcount, attendancePct, when };
}

export async function fetchSchoolAttendance(schoolId: string, signal?: AbortSignal): Promise<Fetched<AttendanceDay>> {
  const url = apiSchoolAttendance(schoolId);
  const { body, serverDate } = await getJson(url, signal);
  if (!isObject(body) || typeof body.date !== 'string' || !Array.isArray(body.lessons)) throw new Error(`${url}: unexpected shape`);
  const clockOffsetMs = isFiniteNumber(body.clockOffsetMs) ? body.clockOffsetMs : 0;
  return { body: { date: body.date, clockOffsetMs, lessons: parseList(body.lessons, toLessonAttendance) }, serverDate };
}

export function toDeviceAlarm(v: unknown): DeviceAlarm | null {
  if (!isObject(v)) return null;
  const { deviceId, ruleId, metric, severity, message, since, value } = v;
  if (typeof deviceId !== 'string' || deviceId === '' || typeof ruleId !== 'string' || ruleId === '') return null;
  if (!isSeverity(severity) || !isLocalizedName(message) || !isFiniteNumber(since)) return null;
  const alarm: DeviceAlarm = { deviceId, ruleId, severity, message, since, value: isMetricValue(value) ? value : null };
  if (typeof metric === 'string') alarm.metric = metric;
  return alarm;
}

function toDeviceStatus(v: unknown): DeviceStatus | null {
  if (!isObject(v)) return null;
  return {
    state: isDeviceState(v.state) ? v.state : 'unknown',
    reason: stringOrNull(v.reason),
    detail: stringOrNull(v.detail),
    since: isFiniteNumber(v.since) ? v.since : null,
  };
}

function toLatest(v: unknown): DeviceView['latest'] {
  if (!isObject(v) || !isFiniteNumber(v.ts) || !isObject(v.values)) return null;
  const values: Record<string, MetricValue> = {};
  for (const [name, value] of Object.entries(v.values)) if (isMetricValue(value)) values[name] = value;
  return { ts: v.ts, values };
}

/**
 * One device, or null when its identity, name or status is missing. Inside a good device,
 * what the page does not understand is skipped: a broken alarm, a value of an odd type, a
 * status state from a newer cloud (shown as 'unknown').
 */
export function toDeviceView(v: unknown): DeviceView | null {
  if (!isObject(v)) return null;
  const { id, kind, name } = v;
  if (typeof id !== 'string' || id === '' || typeof kind !== 'string' || !isLocalizedName(name)) return null;
  const status = toDeviceStatus(v.status);
  if (status === null) return null;
  return {
    id,
    roomId: typeof v.roomId === 'string' ? v.roomId : '',
    profileId: typeof v.profileId === 'string' ? v.profileId : '',
    kind,
    vendor: typeof v.vendor === 'string' ? v.vendor : '',
    model: typeof v.model === 'string' ? v.model : '',
    name,
    reporting: v.reporting === true,
    status,
    alarms: Array.isArray(v.alarms) ? parseList(v.alarms, toDeviceAlarm) : [],
    latest: toLatest(v.latest),
    ...(Array.isArray(v.commands)
      ? { commands: v.commands.flatMap((c) => (isObject(c) && typeof c.name === 'string' && (c.params === undefined || (isObject(c.params) && Object.keys(c.params).length === 0)) ? [c.name] : [])) }
      : {}),
  };
}

// ---- signing in and out ----

export const API_ME = '/api/auth/me';
export const API_LOGIN = '/api/auth/login';
export const API_LOGOUT = '/api/auth/logout';
export const API_ENROLL = '/api/auth/enroll';

/** Who is signed in, or null when nobody is (401: the page then shows the sign-in form itself). */
export async function fetchMe(): Promise<Me | null> {
  try {
    const res = await request(API_ME, { own401: true });
    const me = toMe(await res.json());
    if (me === null) throw new Error(`${API_ME}: unexpected shape`);
    return me;
  } catch (error) {
    if (error instanceof HttpError && error.status === 401) return null;
    throw error;
  }
}

function meOrThrow(url: string, body: unknown): Me {
  const me = toMe(body);
  if (me === null) throw new Error(`${url}: unexpected shape`);
  return me;
}

/** Sign in; a wrong password is an HttpError 401, too many tries a 429 with Retry-After. */
export async function login(username: string, password: string): Promise<Me> {
  return meOrThrow(API_LOGIN, await sendJson(API_LOGIN, 'POST', { username, password }, { own401: true }));
}

/** A wall display trades its one-time code for its long-lived session. */
export async function enroll(code: string): Promise<Me> {
  return meOrThrow(API_ENROLL, await sendJson(API_ENROLL, 'POST', { code }, { own401: true }));
}

/** End this session (a 401: it had ended already, which is what was wanted). */
export async function logout(): Promise<void> {
  try {
    await sendJson(API_LOGOUT, 'POST', undefined, { own401: true });
  } catch (error) {
    if (!(error instanceof HttpError && error.status === 401)) throw error;
  }
}

// ---- device commands ----

export const apiDeviceCommands = (deviceId: string) => `/api/devices/${encodeURIComponent(deviceId)}/commands`;

/** POST /api/devices/{id}/commands answers 202: sent to the school's gateway, not yet done. */
export interface CommandAccepted {
  commandId: string;
  deviceId: string;
  name: string;
}

/**
 * What the district knows of a command (GET /api/devices/{id}/commands, newest first):
 * 'sent' until the gateway reports, then the gateway's outcome; 'unanswered' when no report
 * came although the command is past the time the gateway would still run it.
 */
export type CommandState = 'sent' | 'unanswered' | 'ok' | 'accepted' | 'failed' | 'expired' | 'duplicate' | 'unknown_device' | 'refused';

export interface CommandView {
  commandId: string;
  deviceId: string;
  name: string;
  params?: Record<string, MetricValue>;
  /** ms since the Unix epoch, the district's clock. */
  issuedAt: number;
  /** The gateway refuses the command after this. */
  expiresAt: number;
  /** Who sent it, as the audit log names them (a username, token:<id>). */
  sentBy: string | null;
  state: CommandState;
  /** failed/refused: why (device_error, timeout, no_such_command, clock_skew, interrupted...). */
  reason?: string;
  detail?: string;
  /** ok: what the device read right after the command. */
  values?: Record<string, MetricValue>;
  /** When the outcome reached the district (its clock), and when the gateway reached it (the gateway's). */
  resultAt?: number;
  gatewayTs?: number;
  /** Times the gateway got the command again and did not run it again. */
  duplicates: number;
}

export async function sendCommand(deviceId: string, name: string): Promise<CommandAccepted> {
  const url = apiDeviceCommands(deviceId);
  const body = await sendJson(url, 'POST', { name });
  if (!isObject(body) || typeof body.commandId !== 'string') throw new Error(`${url}: unexpected shape`);
  return { commandId: body.commandId, deviceId, name };
}
