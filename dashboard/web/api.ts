// The cloud's HTTP and live contract, as the dashboard sees it. The cloud serves this page
// and these endpoints from the same origin, so every URL here is relative to the page's host.

import { toMe, type Me } from './auth.ts';
import type { Lang } from './i18n.ts';

// The shapes are the contract's (device-profiles/src/api): the cloud validates and serialises
// with the same schemas. The page still checks every answer before it draws it, so a shape
// it does not understand is dropped and counted, never drawn half.
import type {
  AlarmView,
  AttendanceSummary,
  RoomUsageRange,
  RoomView,
  History,
  HistoryPoint,
  AttendanceDay,
  ClientToServerEvents,
  CommandAccepted,
  CommandState,
  CommandView,
  DeviceStatusView,
  DeviceView,
  District,
  LessonAttendance,
  RoomUsage,
  SchoolSummary,
  ServerToClientEvents,
} from '@schoolops/device-profiles/api';
import { apiPath } from '@schoolops/device-profiles/api/paths';
import { errorText, type ErrorParams } from '@schoolops/device-profiles/api/errors';
import { DEVICE_STATES, FIGURE_NAMES, FIGURES } from '@schoolops/device-profiles/kinds';

export { DEVICE_STATES };
export type { AttendanceSummary, History, RoomUsageRange, RoomView };
export type { AttendanceDay, ClientToServerEvents, CommandAccepted, CommandState, CommandView, DeviceView, District, LessonAttendance, SchoolSummary, ServerToClientEvents };
export type LocalizedName = District['name'];
export type SchoolFigures = SchoolSummary['figures'];
/** A metric's value as devices report it. */
export type MetricValue = number | boolean | string;
export type DeviceStatus = DeviceStatusView;
export type DeviceState = DeviceStatusView['state'];
export type DeviceAlarm = AlarmView;
export type AlarmSeverity = AlarmView['severity'];

const apiSchoolAttendance = (schoolId: string, date?: string) => apiPath('/api/schools/:schoolId/attendance', { schoolId }, { date });

/** What the cloud says when it refuses: a code of the error catalog, its parameters, its English message. */
export interface ErrorAnswer {
  code: string | null;
  params: ErrorParams;
  message: string | null;
}

/**
 * A response that was not 2xx; `status` lets the page tell "no such school" (404) from
 * "not yours" (403) from an outage, `reason` is the cloud's own (English) message and `code`
 * its code in the error catalog, if it sent them; text() words it for a person.
 */
export class HttpError extends Error {
  readonly status: number;
  readonly reason: string | null;
  readonly code: string | null;
  readonly params: ErrorParams;
  /** The Retry-After header of a 429 (or 503), as sent. */
  readonly retryAfter: string | null;
  constructor(url: string, status: number, answer: ErrorAnswer | null = null, retryAfter: string | null = null) {
    const reason = answer?.message ?? null;
    super(`${url}: HTTP ${status}${reason ? ` (${reason})` : ''}`);
    this.name = 'HttpError';
    this.status = status;
    this.reason = reason;
    this.code = answer?.code ?? null;
    this.params = answer?.params ?? {};
    this.retryAfter = retryAfter;
  }

  /** What the page says about it in `lang`: the catalog's words for its code, else the cloud's message. */
  text(lang: Lang): string {
    return errorText({ code: this.code, params: this.params, message: this.reason }, lang) ?? `HTTP ${this.status}`;
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

/** The cloud's error body is { statusCode, error, message, code, params }: why, and its code in the catalog. */
async function answerOf(res: Response): Promise<ErrorAnswer | null> {
  try {
    const body = (await res.json()) as unknown;
    if (!isObject(body)) return null;
    const params: ErrorParams = {};
    if (isObject(body.params)) for (const [k, v] of Object.entries(body.params)) if (typeof v === 'string' || isFiniteNumber(v)) params[k] = v;
    return { code: typeof body.code === 'string' ? body.code : null, params, message: typeof body.message === 'string' ? body.message : null };
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
    const answer = await answerOf(res.clone());
    // A stale token (the session was renewed in another tab): fetch the current one, try once more.
    if (answer?.code === 'csrf') {
      const fresh = await csrfRefresh();
      if (fresh !== null && fresh !== csrfToken) {
        csrfToken = fresh;
        res = await send();
      }
    }
  }
  if (res.ok) return res;
  if (res.status === 401 && !o.own401) signInNeeded?.();
  throw new HttpError(url, res.status, await answerOf(res), res.headers.get('retry-after'));
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
  const { body } = await getJson(apiPath('/api/district'), signal);
  if (!isDistrict(body)) throw new Error(`${apiPath('/api/district')}: unexpected response shape`);
  return body;
}

/** Schools that fail the shape check are dropped (and counted) rather than breaking the page. */
export async function fetchSchools(
  signal?: AbortSignal,
): Promise<Fetched<SchoolSummary[]> & { malformed: number }> {
  const url = apiPath('/api/schools');
  const { body, serverDate } = await getJson(url, signal);
  if (!Array.isArray(body)) throw new Error(`${url}: expected an array`);
  const schools = body.filter(isSchoolSummary);
  return { body: schools, serverDate, malformed: body.length - schools.length };
}

/** Devices that fail the shape check are dropped (and counted); odd fields inside one are skipped. */
export async function fetchSchoolDevices(
  schoolId: string,
  signal?: AbortSignal,
): Promise<Fetched<DeviceView[]> & { malformed: number }> {
  const url = apiPath('/api/schools/:schoolId/devices', { schoolId });
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
  const url = apiPath('/api/schools/:schoolId/alarms', { schoolId });
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

/** Every figure of the kind registry: counts are numbers, the others numbers or null. */
function isFigures(v: unknown): v is SchoolFigures {
  return isObject(v) && FIGURE_NAMES.every((name) => (FIGURES[name].aggregate === 'count-equal' ? isFiniteNumber(v[name]) : isNumberOrNull(v[name])));
}

export function isSchoolSummary(v: unknown): v is SchoolSummary {
  if (!isObject(v)) return false;
  const { devices, alarms } = v;
  return (
    typeof v.id === 'string' &&
    v.id.length > 0 &&
    isLocalizedName(v.name) &&
    // A level this page does not know yet is shown as sent rather than hiding the school.
    typeof v.level === 'string' &&
    isLocalizedName(v.ward) &&
    typeof v.online === 'boolean' &&
    isNumberOrNull(v.lastSeen) &&
    isObject(devices) &&
    isFiniteNumber(devices.total) &&
    isFiniteNumber(devices.reporting) &&
    isFiniteNumber(devices.problems) &&
    isObject(alarms) &&
    isFiniteNumber(alarms.critical) &&
    isFiniteNumber(alarms.warning) &&
    isFiniteNumber(alarms.info) &&
    isFiniteNumber(v.rejected) &&
    isFigures(v.figures)
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

/** A lesson's attendance, or null when its shape is not one this page understands. */
export function toLessonAttendance(v: unknown): LessonAttendance | null {
  if (!isObject(v)) return null;
  const { period, start, end, classId, className, roomId, enrolled, counts, headcount, attendancePct, when } = v;
  if (when !== 'past' && when !== 'now' && when !== 'later') return null;
  if (!isFiniteNumber(period) || !isFiniteNumber(enrolled) || !isFiniteNumber(counts)) return null;
  if (typeof start !== 'string' || typeof end !== 'string' || typeof classId !== 'string' || typeof className !== 'string' || typeof roomId !== 'string') return null;
  if (!isNumberOrNull(headcount) || !isNumberOrNull(attendancePct)) return null;
  return { period, start, end, classId, className, roomId, enrolled, counts, headcount, attendancePct, when };
}

/** A room's use per period; periods with a value other than true or false are left out. */
function toRoomUsage(v: unknown): RoomUsage | null {
  if (!isObject(v) || typeof v.roomId !== 'string' || !isObject(v.periods)) return null;
  const periods: Record<string, boolean> = {};
  for (const [period, used] of Object.entries(v.periods)) if (typeof used === 'boolean') periods[period] = used;
  return { roomId: v.roomId, periods };
}

export async function fetchSchoolAttendance(schoolId: string, signal?: AbortSignal, date?: string): Promise<Fetched<AttendanceDay>> {
  const url = apiSchoolAttendance(schoolId, date);
  const { body, serverDate } = await getJson(url, signal);
  if (!isObject(body) || typeof body.date !== 'string' || !Array.isArray(body.lessons)) throw new Error(`${url}: unexpected shape`);
  return {
    body: {
      schoolId: typeof body.schoolId === 'string' ? body.schoolId : schoolId,
      date: body.date,
      clockOffsetMs: isFiniteNumber(body.clockOffsetMs) ? body.clockOffsetMs : 0,
      lessons: parseList(body.lessons, toLessonAttendance),
      rooms: Array.isArray(body.rooms) ? parseList(body.rooms, toRoomUsage) : [],
    },
    serverDate,
  };
}

/** One alarm, or null when it lacks what the page needs to show it. */
export function toDeviceAlarm(v: unknown): DeviceAlarm | null {
  if (!isObject(v)) return null;
  const { deviceId, ruleId, metric, severity, message, since, value } = v;
  if (typeof deviceId !== 'string' || deviceId === '' || typeof ruleId !== 'string' || ruleId === '' || typeof metric !== 'string') return null;
  if (!isSeverity(severity) || !isLocalizedName(message) || !isFiniteNumber(since) || !isMetricValue(value)) return null;
  return { deviceId, ruleId, metric, severity, message, since, value };
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

type MetricView = DeviceView['metrics'][number];
const METRIC_TYPES: ReadonlySet<string> = new Set(['number', 'integer', 'boolean', 'enum', 'string']);
/** A metric of the device's profile: its type, unit and names label the page's values and charts. */
function toMetricView(v: unknown): MetricView | null {
  if (!isObject(v) || typeof v.name !== 'string' || typeof v.type !== 'string' || !METRIC_TYPES.has(v.type) || typeof v.unit !== 'string' || !isLocalizedName(v.description)) return null;
  return { name: v.name, type: v.type as MetricView['type'], unit: v.unit, description: v.description };
}

type CommandDef = DeviceView['commands'][number];
/** A command of the device's profile: its name and description are what the page shows. */
function toCommandDef(v: unknown): CommandDef | null {
  if (!isObject(v) || typeof v.name !== 'string' || !isLocalizedName(v.description)) return null;
  return { name: v.name, description: v.description, ...(isObject(v.params) ? { params: v.params as CommandDef['params'] } : {}) };
}

/**
 * One device, or null when its identity, name or status is missing. Inside a good device,
 * what the page does not understand is skipped: a broken alarm, a value of an odd type, a
 * status state it does not know (shown as 'unknown').
 */
export function toDeviceView(v: unknown): DeviceView | null {
  if (!isObject(v)) return null;
  const { id, kind, name } = v;
  if (typeof id !== 'string' || id === '' || typeof kind !== 'string' || !isLocalizedName(name)) return null;
  const status = toDeviceStatus(v.status);
  if (status === null) return null;
  return {
    id,
    schoolId: typeof v.schoolId === 'string' ? v.schoolId : '',
    roomId: typeof v.roomId === 'string' ? v.roomId : '',
    profileId: typeof v.profileId === 'string' ? v.profileId : '',
    // A kind this page does not know is kept and shown by name.
    kind: kind as DeviceView['kind'],
    vendor: typeof v.vendor === 'string' ? v.vendor : '',
    model: typeof v.model === 'string' ? v.model : '',
    name,
    reporting: v.reporting === true,
    status,
    alarms: Array.isArray(v.alarms) ? parseList(v.alarms, toDeviceAlarm) : [],
    latest: toLatest(v.latest),
    commands: Array.isArray(v.commands) ? parseList(v.commands, toCommandDef) : [],
    metrics: Array.isArray(v.metrics) ? parseList(v.metrics, toMetricView) : [],
  };
}

// ---- signing in and out ----

const API_ME = apiPath('/api/auth/me');
const API_LOGIN = apiPath('/api/auth/login');
const API_LOGOUT = apiPath('/api/auth/logout');
const API_ENROLL = apiPath('/api/auth/enroll');

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

const apiDeviceCommands = (deviceId: string) => apiPath('/api/devices/:deviceId/commands', { deviceId });

export async function sendCommand(deviceId: string, name: string): Promise<CommandAccepted> {
  const url = apiDeviceCommands(deviceId);
  const body = await sendJson(url, 'POST', { name });
  if (!isObject(body) || typeof body.commandId !== 'string' || !isFiniteNumber(body.issuedAt) || !isFiniteNumber(body.expiresAt)) throw new Error(`${url}: unexpected shape`);
  return { commandId: body.commandId, deviceId, name, issuedAt: body.issuedAt, expiresAt: body.expiresAt, state: 'sent' };
}

// ---- one device: its view, its history, its commands, its events ----

export async function fetchDevice(deviceId: string, signal?: AbortSignal): Promise<Fetched<DeviceView>> {
  const url = apiPath('/api/devices/:deviceId', { deviceId });
  const { body, serverDate } = await getJson(url, signal);
  const device = toDeviceView(body);
  if (device === null) throw new Error(`${url}: unexpected shape`);
  return { body: device, serverDate };
}

function toHistoryPoint(v: unknown): HistoryPoint | null {
  if (!isObject(v) || !isFiniteNumber(v.t) || !isFiniteNumber(v.count)) return null;
  if (!isNumberOrNull(v.avg) || !isNumberOrNull(v.min) || !isNumberOrNull(v.max)) return null;
  return { t: v.t, count: v.count, avg: v.avg, min: v.min, max: v.max, last: isMetricValue(v.last) ? v.last : null };
}

/** A device's history over [from, to): the API picks the bucket width unless `bucketSeconds` says. */
export async function fetchHistory(deviceId: string, range: { from: number; to: number; bucketSeconds?: number; metrics?: readonly string[] }, signal?: AbortSignal): Promise<History> {
  const url = apiPath('/api/devices/:deviceId/history', { deviceId }, { from: String(range.from), to: String(range.to), bucket: range.bucketSeconds, metric: range.metrics });
  const { body } = await getJson(url, signal);
  if (!isObject(body) || !isFiniteNumber(body.from) || !isFiniteNumber(body.to) || !isFiniteNumber(body.bucketSeconds) || !Array.isArray(body.series)) throw new Error(`${url}: unexpected shape`);
  const series = parseList(body.series, (s) =>
    isObject(s) && typeof s.metric === 'string' && Array.isArray(s.points) ? { metric: s.metric, unit: typeof s.unit === 'string' ? s.unit : '', points: parseList(s.points, toHistoryPoint) } : null,
  );
  return { deviceId, from: body.from, to: body.to, bucketSeconds: body.bucketSeconds, series };
}

const COMMAND_STATES: readonly string[] = ['sent', 'unanswered', 'ok', 'accepted', 'failed', 'expired', 'duplicate', 'unknown_device', 'refused'];

function valuesOf(v: unknown): Record<string, MetricValue> | undefined {
  if (!isObject(v)) return undefined;
  const out: Record<string, MetricValue> = {};
  for (const [k, x] of Object.entries(v)) if (isMetricValue(x)) out[k] = x;
  return out;
}

/** One command as the district knows it, or null when its shape is not one this page reads. */
export function toCommandView(v: unknown): CommandView | null {
  if (!isObject(v) || typeof v.commandId !== 'string' || typeof v.deviceId !== 'string' || typeof v.name !== 'string') return null;
  if (!isFiniteNumber(v.issuedAt) || !isFiniteNumber(v.expiresAt) || !COMMAND_STATES.includes(v.state as string)) return null;
  const view: CommandView = {
    commandId: v.commandId,
    deviceId: v.deviceId,
    name: v.name,
    issuedAt: v.issuedAt,
    expiresAt: v.expiresAt,
    sentBy: stringOrNull(v.sentBy),
    state: v.state as CommandState,
    duplicates: isFiniteNumber(v.duplicates) ? v.duplicates : 0,
  };
  const params = valuesOf(v.params);
  if (params) view.params = params;
  const values = valuesOf(v.values);
  if (values) view.values = values;
  if (typeof v.reason === 'string') view.reason = v.reason;
  if (typeof v.detail === 'string') view.detail = v.detail;
  if (isFiniteNumber(v.resultAt)) view.resultAt = v.resultAt;
  if (isFiniteNumber(v.gatewayTs)) view.gatewayTs = v.gatewayTs;
  return view;
}

/** A device's latest commands, newest first, with what became of each. */
export async function fetchCommands(deviceId: string, signal?: AbortSignal): Promise<CommandView[]> {
  const url = apiPath('/api/devices/:deviceId/commands', { deviceId }, { limit: 20 });
  const { body } = await getJson(url, signal);
  if (!Array.isArray(body)) throw new Error(`${url}: expected an array`);
  return parseList(body, toCommandView);
}

/** What the page shows of a gateway event: a device's link changing, or readings dropped. */
export interface EventItem {
  eventId: string;
  ts: number;
  type: 'device-status' | 'telemetry-gap';
  deviceId: string | null;
  /** device-status: ok, unreachable, faulty. */
  state: string | null;
  reason: string | null;
  detail: string | null;
  /** telemetry-gap: readings of this device (or of all, for the school) the gateway dropped. */
  dropped: number | null;
}

function toEventItem(v: unknown): EventItem | null {
  if (!isObject(v) || typeof v.eventId !== 'string' || !isFiniteNumber(v.ts)) return null;
  if (v.type === 'device-status' && typeof v.deviceId === 'string')
    return { eventId: v.eventId, ts: v.ts, type: 'device-status', deviceId: v.deviceId, state: stringOrNull(v.state), reason: stringOrNull(v.reason), detail: stringOrNull(v.detail), dropped: null };
  if (v.type === 'telemetry-gap' && isObject(v.dropped)) {
    const counts = Object.values(v.dropped).filter(isFiniteNumber);
    return { eventId: v.eventId, ts: v.ts, type: 'telemetry-gap', deviceId: null, state: null, reason: null, detail: null, dropped: counts.reduce((a, b) => a + b, 0) };
  }
  return null;
}

/** A school's gateway events, newest first. */
export async function fetchSchoolEvents(schoolId: string, signal?: AbortSignal): Promise<EventItem[]> {
  const url = apiPath('/api/schools/:schoolId/events', { schoolId });
  const { body } = await getJson(url, signal);
  if (!Array.isArray(body)) throw new Error(`${url}: expected an array`);
  return parseList(body, toEventItem);
}

function toRoomView(v: unknown): RoomView | null {
  if (!isObject(v) || typeof v.id !== 'string' || !isLocalizedName(v.name) || typeof v.type !== 'string') return null;
  return {
    id: v.id,
    name: v.name,
    type: v.type,
    floor: isFiniteNumber(v.floor) ? v.floor : 0,
    capacity: isFiniteNumber(v.capacity) ? v.capacity : 0,
    devices: Array.isArray(v.devices) ? v.devices.filter((d): d is string => typeof d === 'string') : [],
  };
}

/** A school's rooms with the ids of their devices. */
export async function fetchRooms(schoolId: string, signal?: AbortSignal): Promise<RoomView[]> {
  const url = apiPath('/api/schools/:schoolId/rooms', { schoolId });
  const { body } = await getJson(url, signal);
  if (!Array.isArray(body)) throw new Error(`${url}: expected an array`);
  return parseList(body, toRoomView);
}

// ---- the principal's report: attendance and room usage over a range of school days ----

export interface ReportQuery {
  from: string;
  to: string;
  by?: 'day' | 'week' | 'month';
  threshold?: number;
}

/** Attendance over the range, by day, week or month, per class, with the classes below the threshold. */
export async function fetchAttendanceSummary(schoolId: string, q: ReportQuery, signal?: AbortSignal): Promise<AttendanceSummary> {
  // An empty date is left out: the cloud then picks it (school time).
  const url = apiPath('/api/schools/:schoolId/attendance/summary', { schoolId }, { from: q.from || undefined, to: q.to || undefined, by: q.by, threshold: q.threshold });
  const { body } = await getJson(url, signal);
  // The cloud answers with the contract's schema; the page checks what it walks.
  if (!isObject(body) || !Array.isArray(body.buckets) || !Array.isArray(body.classes) || !Array.isArray(body.below) || !Array.isArray(body.cameras) || !isObject(body.total))
    throw new Error(`${url}: unexpected shape`);
  return body as unknown as AttendanceSummary;
}

/** Room usage over the range: per room and week, per weekday and period, the labs. */
export async function fetchRoomUsage(schoolId: string, q: ReportQuery, signal?: AbortSignal): Promise<RoomUsageRange> {
  const url = apiPath('/api/schools/:schoolId/room-usage', { schoolId }, { from: q.from, to: q.to });
  const { body } = await getJson(url, signal);
  if (!isObject(body) || !Array.isArray(body.rooms) || !Array.isArray(body.weeks) || !Array.isArray(body.periods) || !Array.isArray(body.grid) || !Array.isArray(body.labs))
    throw new Error(`${url}: unexpected shape`);
  return body as unknown as RoomUsageRange;
}

/** Where the browser downloads a report file from (the cookie goes along; the cloud audits the read). */
export function exportUrl(what: 'attendance' | 'room-usage', schoolId: string, q: ReportQuery & { format: 'csv' | 'xlsx'; lang: 'vi' | 'en' }): string {
  const query = { from: q.from, to: q.to, format: q.format, lang: q.lang };
  return what === 'attendance'
    ? apiPath('/api/schools/:schoolId/attendance/export', { schoolId }, { ...query, threshold: q.threshold })
    : apiPath('/api/schools/:schoolId/room-usage/export', { schoolId }, query);
}
