// Which view the URL asks for: the district overview ('/'), one school's devices
// ('/?school=<id>', a room's: '&room=<id>'), one device ('/?device=<id>'), the wall display
// ('/?wall'), the admin page ('/?admin') or a wall display's enrollment ('/?enroll').
// Query parameters, not paths, so the cloud's static files need no fallback route, and a
// link or a reload opens the same view. No DOM here: unit-tested.

const SCHOOL_PARAM = 'school';
const DEVICE_PARAM = 'device';
const WALL_PARAM = 'wall';
/** The principal's report of a school, with its dates and grouping. */
const REPORT_PARAM = 'report';
const REPORT_QUERY = ['from', 'to', 'by', 'threshold'] as const;
/** With a school: that room's page. */
const ROOM_PARAM = 'room';
const ADMIN_PARAM = 'admin';
const ENROLL_PARAM = 'enroll';
/** Parameters that name a view; the others (lang) are kept when the view changes. */
const VIEW_PARAMS = [SCHOOL_PARAM, ROOM_PARAM, DEVICE_PARAM, WALL_PARAM, REPORT_PARAM, ...REPORT_QUERY, ADMIN_PARAM, ENROLL_PARAM];

export type Route =
  | { view: 'overview' }
  | { view: 'school'; schoolId: string; roomId?: string }
  | { view: 'device'; deviceId: string }
  | { view: 'wall' }
  | { view: 'report'; schoolId: string; from?: string; to?: string; by?: 'day' | 'week' | 'month'; threshold?: number }
  | { view: 'admin' }
  | { view: 'enroll' };

/** The school the URL opens, or null for the overview. */
export function schoolFromSearch(search: string): string | null {
  const id = new URLSearchParams(search).get(SCHOOL_PARAM)?.trim();
  return id ? id : null;
}

/** The view the URL names; `explicit` is false for a bare '/' (the role's landing applies). */
export function routeFromSearch(search: string): Route & { explicit: boolean } {
  const params = new URLSearchParams(search);
  if (params.has(ENROLL_PARAM)) return { view: 'enroll', explicit: true };
  if (params.has(ADMIN_PARAM)) return { view: 'admin', explicit: true };
  if (params.has(WALL_PARAM)) return { view: 'wall', explicit: true };
  const reportOf = params.get(REPORT_PARAM)?.trim();
  if (reportOf) {
    const by = params.get('by');
    const threshold = Number(params.get('threshold') ?? NaN);
    return {
      view: 'report',
      schoolId: reportOf,
      ...(params.get('from') ? { from: params.get('from')! } : {}),
      ...(params.get('to') ? { to: params.get('to')! } : {}),
      ...(by === 'day' || by === 'week' || by === 'month' ? { by } : {}),
      ...(Number.isFinite(threshold) ? { threshold } : {}),
      explicit: true,
    };
  }
  const deviceId = params.get(DEVICE_PARAM)?.trim();
  if (deviceId) return { view: 'device', deviceId, explicit: true };
  const schoolId = schoolFromSearch(search);
  const roomId = params.get(ROOM_PARAM)?.trim();
  if (schoolId !== null) return roomId ? { view: 'school', schoolId, roomId, explicit: true } : { view: 'school', schoolId, explicit: true };
  return { view: 'overview', explicit: false };
}

/** `search` with the school set (or removed for null), other parameters (lang) kept. */
export function searchWithSchool(search: string, schoolId: string | null): string {
  return searchFor(search, schoolId === null ? { view: 'overview' } : { view: 'school', schoolId });
}

/** `search` for a view, with every other view's parameter dropped and the rest (lang) kept. */
export function searchFor(search: string, route: Route): string {
  const params = new URLSearchParams(search);
  for (const name of VIEW_PARAMS) params.delete(name);
  if (route.view === 'school') params.set(SCHOOL_PARAM, route.schoolId);
  if (route.view === 'school' && route.roomId) params.set(ROOM_PARAM, route.roomId);
  if (route.view === 'device') params.set(DEVICE_PARAM, route.deviceId);
  if (route.view === 'admin') params.set(ADMIN_PARAM, '');
  if (route.view === 'enroll') params.set(ENROLL_PARAM, '');
  if (route.view === 'wall') params.set(WALL_PARAM, '');
  if (route.view === 'report') {
    params.set(REPORT_PARAM, route.schoolId);
    for (const name of REPORT_QUERY) if (route[name] !== undefined) params.set(name, String(route[name]));
  }
  // '?admin' reads better in the address bar than '?admin='.
  const query = params.toString().replace(/(^|&)(admin|enroll|wall)=(?=&|$)/g, '$1$2');
  return query === '' ? '' : `?${query}`;
}
