// The cloud's HTTP and live contract, as the dashboard sees it. The cloud serves this page
// and these endpoints from the same origin, so every URL here is relative to the page's host.

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

export const API_DISTRICT = '/api/district';
export const API_SCHOOLS = '/api/schools';

/** A JSON response together with the server's clock, read from the HTTP Date header. */
export interface Fetched<T> {
  body: T;
  /** ms epoch from the Date header, or null when absent. One-second resolution. */
  serverDate: number | null;
}

async function getJson(url: string, signal?: AbortSignal): Promise<Fetched<unknown>> {
  const res = await fetch(url, {
    headers: { accept: 'application/json' },
    cache: 'no-store',
    credentials: 'same-origin',
    signal,
  });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const date = res.headers.get('date');
  const parsed = date === null ? NaN : Date.parse(date);
  return { body: (await res.json()) as unknown, serverDate: Number.isFinite(parsed) ? parsed : null };
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

// ---- shape checks: the page renders only data it understands ----

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
