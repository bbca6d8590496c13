/**
 * Who may do what: the one table every access check in the district cloud reads.
 *
 * A principal (a signed-in person, an API token, an enrolled wall display) has one role and
 * a scope: the whole district, or a set of schools. A role grants permissions; a route,
 * a socket.io subscription or a command needs one permission, about one school (or about
 * the district as a whole). `decide()` is the only function that answers "may they?", and
 * the route table below is the only place a route is given its permission: a route with no
 * entry here is refused at start, so nobody can add an open route by forgetting.
 *
 * The dashboard never decides: it reads the principal's permissions from /api/auth/me to
 * hide what the server would refuse anyway.
 */

export const ROLES = ['district-admin', 'district-operator', 'school-it', 'principal', 'wall-display'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  /** The district's name, the list of schools in scope with their live summary. */
  'district:read',
  /** One school's detail, rooms, devices with their latest values, history, alarms, events. */
  'school:read',
  /** The school's internet link figures (bandwidth, latency, loss) and probe history. */
  'link:read',
  /** Raw readings streamed live (socket.io) for a school. */
  'readings:stream',
  /** Send a device one of its profile's commands. */
  'commands:send',
  /** Attendance: headcounts per class and period (personal data of children: every read is audited). */
  'attendance:read',
  /** Ingest counters, delivery reports: the district's plumbing. */
  'operations:read',
  /** People, API tokens and wall displays: create, change, revoke. */
  'accounts:manage',
  /** The audit log: read and export. */
  'audit:read',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** What each role may do; the scope (which schools) is the principal's, not the role's. */
export const GRANTS: Readonly<Record<Role, readonly Permission[]>> = {
  'district-admin': PERMISSIONS,
  'district-operator': ['district:read', 'school:read', 'link:read', 'readings:stream', 'commands:send', 'attendance:read', 'operations:read'],
  'school-it': ['district:read', 'school:read', 'link:read', 'readings:stream', 'commands:send'],
  principal: ['district:read', 'school:read', 'attendance:read'],
  // A kiosk in the operations center: read-only, counts and states, never a child's data
  // and never the plumbing.
  'wall-display': ['district:read', 'school:read', 'link:read'],
};

/** Roles whose scope must be the whole district (their work spans schools by definition). */
export const DISTRICT_ONLY_ROLES: readonly Role[] = ['district-admin', 'district-operator'];
/** Roles that must name exactly one school. */
export const ONE_SCHOOL_ROLES: readonly Role[] = ['school-it', 'principal'];

/** The schools a principal may see: every school, or these. */
export type Scope = { all: true } | { all: false; schools: readonly string[] };

export interface Principal {
  kind: 'user' | 'token' | 'display';
  /** The user's name, the token's or display's id. */
  id: string;
  /** For people and displays, what to show; for tokens, its name. */
  name: string;
  role: Role;
  scope: Scope;
  /** The session or token this request came with (for sign-out and audit). */
  credentialId: string;
}

export type Decision = { allowed: true } | { allowed: false; status: 403; reason: string };

/**
 * Device kinds whose values need a permission beyond reading the school: the internet
 * link's router and probe are the IT staff's and the operations center's, not a principal's.
 * Routes about one device check it; lists leave such devices out, and school summaries
 * leave their figures (bandwidth, latency, loss) empty.
 */
export const KIND_PERMISSIONS: Readonly<Partial<Record<string, Permission>>> = { network: 'link:read' };

/** May this principal see devices of this kind (their values, history, figures)? */
export function maySeeKind(principal: Principal, kind: string): boolean {
  const needed = KIND_PERMISSIONS[kind];
  return needed === undefined || GRANTS[principal.role].includes(needed);
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function permissionsOf(role: Role): readonly Permission[] {
  return GRANTS[role];
}

export function inScope(scope: Scope, schoolId: string): boolean {
  return scope.all || scope.schools.includes(schoolId);
}

/**
 * May `principal` use `permission`, about `schoolId` (or about the district as a whole when
 * null: then a school-scoped principal may only if the route filters what it returns)?
 */
export function decide(principal: Principal, permission: Permission, schoolId: string | null, o: { filtered?: boolean } = {}): Decision {
  if (!GRANTS[principal.role].includes(permission)) {
    return { allowed: false, status: 403, reason: `the role ${principal.role} may not ${permission}` };
  }
  if (schoolId === null) {
    if (principal.scope.all || o.filtered) return { allowed: true };
    return { allowed: false, status: 403, reason: `${permission} over the whole district needs a district-wide role` };
  }
  if (!inScope(principal.scope, schoolId)) return { allowed: false, status: 403, reason: `school "${schoolId}" is not in your scope` };
  return { allowed: true };
}

/** Is this role-and-scope pair a sensible one (checked when a user, token or display is made)? */
export function scopeProblem(role: Role, scope: Scope): string | null {
  if (DISTRICT_ONLY_ROLES.includes(role) && !scope.all) return `the role ${role} covers the whole district: give no schools`;
  if (ONE_SCHOOL_ROLES.includes(role) && (scope.all || scope.schools.length !== 1)) return `the role ${role} needs exactly one school`;
  if (!scope.all && scope.schools.length === 0) return 'name at least one school, or none for the whole district';
  return null;
}

// ---------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------

/**
 * How a route names the school it is about:
 *  - `school`: the :schoolId parameter;
 *  - `device`: the school of the :deviceId parameter;
 *  - `district`: the whole district; with `filtered`, the handler returns only what is in
 *    the principal's scope (so school-scoped principals may call it);
 *  - `signed-in`: any signed-in principal (their own session, their own account), or only
 *    those of `kinds`;
 *  - `public`: no sign-in (signing in itself, enrolling a display, health).
 * `audit` names the audit-log action written for every answer of the route (who, which
 * school, what they asked, the status).
 */
export type RouteRule =
  | { permission: Permission; about: 'school' | 'device'; audit?: string }
  | { permission: Permission; about: 'district'; filtered?: boolean; audit?: string }
  | { about: 'signed-in'; kinds?: readonly Principal['kind'][] }
  | { about: 'public'; why: string };

/**
 * Every route under /api, by method and URL as fastify knows it. The tenancy test walks
 * this table with every role; the server refuses to start with a route missing from it.
 */
export const ROUTES = {
  'GET /api/district': { permission: 'district:read', about: 'district', filtered: true },
  'GET /api/schools': { permission: 'district:read', about: 'district', filtered: true },
  'GET /api/schools/:schoolId': { permission: 'school:read', about: 'school' },
  'GET /api/schools/:schoolId/rooms': { permission: 'school:read', about: 'school' },
  'GET /api/schools/:schoolId/devices': { permission: 'school:read', about: 'school' },
  'GET /api/schools/:schoolId/alarms': { permission: 'school:read', about: 'school' },
  'GET /api/schools/:schoolId/events': { permission: 'school:read', about: 'school' },
  // Children's personal data (Law 91/2025/QH15): every read is in the audit log.
  'GET /api/schools/:schoolId/attendance': { permission: 'attendance:read', about: 'school', audit: 'attendance.read' },
  // Over a range of school days. Room usage is read from the same counts (a scheduled room
  // found empty says a class was not there), so it is attendance too; exports are reads.
  'GET /api/schools/:schoolId/attendance/summary': { permission: 'attendance:read', about: 'school', audit: 'attendance.read' },
  'GET /api/schools/:schoolId/attendance/export': { permission: 'attendance:read', about: 'school', audit: 'attendance.read' },
  'GET /api/schools/:schoolId/room-usage': { permission: 'attendance:read', about: 'school', audit: 'attendance.read' },
  'GET /api/schools/:schoolId/room-usage/export': { permission: 'attendance:read', about: 'school', audit: 'attendance.read' },
  'GET /api/devices/:deviceId': { permission: 'school:read', about: 'device' },
  'GET /api/devices/:deviceId/history': { permission: 'school:read', about: 'device' },
  'POST /api/devices/:deviceId/commands': { permission: 'commands:send', about: 'device', audit: 'command.send' },
  // Like the device's other reads: who may see the device may see what was asked of it and how it went.
  'GET /api/devices/:deviceId/commands': { permission: 'school:read', about: 'device' },
  'GET /api/ingest/stats': { permission: 'operations:read', about: 'district' },
  'GET /api/delivery': { permission: 'operations:read', about: 'district' },

  'GET /api/probe/download': { about: 'public', why: 'the gateways\' throughput test (they have no HTTP account); rate-limited per address' },

  'POST /api/auth/login': { about: 'public', why: 'signing in' },
  'POST /api/auth/enroll': { about: 'public', why: 'a wall display trades its one-time code for a session' },
  'POST /api/auth/logout': { about: 'signed-in' },
  'GET /api/auth/me': { about: 'signed-in' },
  'POST /api/auth/password': { about: 'signed-in', kinds: ['user'] },

  'GET /api/users': { permission: 'accounts:manage', about: 'district' },
  'POST /api/users': { permission: 'accounts:manage', about: 'district' },
  'PATCH /api/users/:username': { permission: 'accounts:manage', about: 'district' },
  'GET /api/tokens': { permission: 'accounts:manage', about: 'district' },
  'POST /api/tokens': { permission: 'accounts:manage', about: 'district' },
  'DELETE /api/tokens/:tokenId': { permission: 'accounts:manage', about: 'district' },
  'GET /api/displays': { permission: 'accounts:manage', about: 'district' },
  'POST /api/displays/codes': { permission: 'accounts:manage', about: 'district' },
  'DELETE /api/displays/:displayId': { permission: 'accounts:manage', about: 'district' },
  'GET /api/audit': { permission: 'audit:read', about: 'district' },
} as const satisfies Record<string, RouteRule>;

/** 'METHOD /api/...' of every route. */
export type RouteKey = keyof typeof ROUTES;

/** May `principal` call a route of this rule at all (before any school is looked at)? */
export function decideRoute(principal: Principal, rule: RouteRule, schoolId: string | null): Decision {
  if (rule.about === 'public') return { allowed: true };
  if (rule.about === 'signed-in') {
    if (!rule.kinds || rule.kinds.includes(principal.kind)) return { allowed: true };
    return { allowed: false, status: 403, reason: `only ${rule.kinds.join(' or ')} sign-ins may do this` };
  }
  return decide(principal, rule.permission, schoolId, { filtered: rule.about === 'district' && rule.filtered === true });
}

/** The rule of a route, or undefined when the table lacks it. */
export function routeRule(method: string, url: string): RouteRule | undefined {
  const key = `${method.toUpperCase()} ${url}`;
  return Object.hasOwn(ROUTES, key) ? (ROUTES as Record<string, RouteRule>)[key] : undefined;
}

// ---------------------------------------------------------------------------------------
// Live push (socket.io)
// ---------------------------------------------------------------------------------------

/**
 * What a socket.io client receives. 'school' summaries go to every connected principal for
 * the schools in its scope; raw readings only to those who subscribe and may stream them.
 */
export const SUBSCRIPTIONS = {
  /** Live summaries of the schools in scope (joined at connect). */
  schools: 'district:read',
  /** Raw readings of one school (asked for with emit('subscribe', { readings: schoolId })). */
  readings: 'readings:stream',
} as const satisfies Record<string, Permission>;

// ---------------------------------------------------------------------------------------
// MQTT (machines, not people)
// ---------------------------------------------------------------------------------------

/**
 * What the district broker lets each machine principal do, as topic templates of the wire
 * contract ({school} = the gateway's own school, {any} = any one school, {device} = a device
 * id, '#' = anything below). The broker's ACL (broker/src/acl.ts) enforces it with reasons;
 * the MQTT part of the tenancy matrix checks the ACL against this table.
 */
export const MQTT_GRANTS = {
  gateway: {
    publish: [
      'schoolops/v1/{school}/up/telemetry',
      'schoolops/v1/{school}/up/status',
      'schoolops/v1/{school}/up/health',
      'schoolops/v1/{school}/up/event',
      'schoolops/v1/{school}/up/command-result',
    ],
    subscribe: ['schoolops/v1/{school}/down/#'],
  },
  cloud: {
    publish: ['schoolops/v1/{any}/down/command/{device}', 'schoolops/v1/{any}/down/ack'],
    subscribe: ['schoolops/v1/{any}/up/#', 'schoolops/v1/+/up/#', 'schoolops/v1/_district/broker/stats'],
  },
} as const;
