// Who is signed in and what the page shows them. No DOM here: unit-tested in Node.
//
// The server decides (device-profiles/src/policy.ts, behind every /api route and socket.io
// handshake); the page only hides what the server would refuse anyway, reading the role's
// permissions and schools from GET /api/auth/me. Nothing here is a security check.

// The roles, permissions and scope rules are the policy's own (one table for the server and
// the page); the module has no imports, so the page bundles it as it is.
import { DISTRICT_ONLY_ROLES, ONE_SCHOOL_ROLES, PERMISSIONS, ROLES, type Permission, type Role } from '../../device-profiles/src/policy.ts';
export { DISTRICT_ONLY_ROLES, ONE_SCHOOL_ROLES, PERMISSIONS, ROLES, type Permission, type Role };

/** Roles a person can be given in the admin page (a wall display is enrolled by a code). */
export const PERSON_ROLES: readonly Role[] = ['district-admin', 'district-operator', 'school-it', 'principal'];

/** GET /api/auth/me (and the answer to sign-in and enrollment). */
export interface Me {
  kind: 'user' | 'token' | 'display';
  id: string;
  name: string;
  role: Role;
  /** null: the whole district. */
  schools: string[] | null;
  permissions: Permission[];
  /** Sent as x-csrf-token with every change; null when signed in by a token. */
  csrfToken: string | null;
  expiresAt: number | null;
}

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

/**
 * Me, or null when the shape is not one this page understands. A permission from a newer
 * cloud is dropped (the page cannot know what it shows); a role it does not know makes the
 * whole answer unusable, since the landing view depends on it.
 */
export function toMe(v: unknown): Me | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (o.kind !== 'user' && o.kind !== 'token' && o.kind !== 'display') return null;
  if (typeof o.id !== 'string' || typeof o.name !== 'string' || !isRole(o.role)) return null;
  if (!Array.isArray(o.permissions)) return null;
  let schools: string[] | null = null;
  if (o.schools !== null) {
    if (!Array.isArray(o.schools) || !o.schools.every((s) => typeof s === 'string')) return null;
    schools = [...o.schools];
  }
  const permissions = o.permissions.filter((p): p is Permission => (PERMISSIONS as readonly unknown[]).includes(p));
  return {
    kind: o.kind,
    id: o.id,
    name: o.name,
    role: o.role,
    schools,
    permissions,
    csrfToken: typeof o.csrfToken === 'string' ? o.csrfToken : null,
    expiresAt: typeof o.expiresAt === 'number' && Number.isFinite(o.expiresAt) ? o.expiresAt : null,
  };
}

export function can(me: Me, permission: Permission): boolean {
  return me.permissions.includes(permission);
}

/** May the page even ask for this school (its scope holds it)? */
export function canSeeSchool(me: Me, schoolId: string): boolean {
  return can(me, 'school:read') && (me.schools === null || me.schools.includes(schoolId));
}

/**
 * The one school a principal or a school's IT works in, or null for anyone whose scope is
 * several schools or the district. Such a person has no list of schools: they land on
 * their school's page, and the overview is not offered.
 */
export function homeSchool(me: Me): string | null {
  return me.schools !== null && me.schools.length === 1 ? me.schools[0]! : null;
}

/** Where the page goes when the address names no view. */
export type Landing = { view: 'overview' } | { view: 'school'; schoolId: string } | { view: 'wall' };

export function landingFor(me: Me): Landing {
  // An enrolled wall display shows the wall: problems, figures, schools, turning pages.
  if (me.kind === 'display') return { view: 'wall' };
  const home = homeSchool(me);
  return home === null ? { view: 'overview' } : { view: 'school', schoolId: home };
}

/** What parts of the page the signed-in principal gets. */
export interface Sections {
  /** The district overview (every school in scope, as a table). */
  overview: boolean;
  /** The overview's rows open a school, and the school page has a way back to the overview. */
  schoolLinks: boolean;
  /** One school's devices and alarms. */
  devices: boolean;
  /** The internet link's devices and figures (router, link probe). */
  link: boolean;
  /** Today's attendance (children's personal data: only roles that may read it). */
  attendance: boolean;
  /** Buttons that send a device a command. */
  commands: boolean;
  /** The admin page and the header link to it. */
  admin: boolean;
  /** People, API tokens and wall displays, inside the admin page. */
  accounts: boolean;
  /** The audit log, inside the admin page. */
  audit: boolean;
  /** A wall display: nothing to click, nothing to sign out of by accident. */
  kiosk: boolean;
}

export function sectionsFor(me: Me): Sections {
  const oneSchool = homeSchool(me) !== null;
  const kiosk = me.kind === 'display';
  return {
    overview: can(me, 'district:read') && !oneSchool,
    schoolLinks: can(me, 'school:read') && !oneSchool && !kiosk,
    devices: can(me, 'school:read'),
    link: can(me, 'link:read'),
    attendance: can(me, 'attendance:read'),
    commands: can(me, 'commands:send'),
    admin: can(me, 'accounts:manage') || can(me, 'audit:read'),
    accounts: can(me, 'accounts:manage'),
    audit: can(me, 'audit:read'),
    kiosk,
  };
}

/**
 * Whole minutes to wait after a 429, from its Retry-After header (seconds, or an HTTP
 * date), at least 1; null when the header says nothing usable.
 */
export function retryAfterMinutes(header: string | null, now: number = Date.now()): number | null {
  if (header === null || header.trim() === '') return null;
  const trimmed = header.trim();
  let seconds: number;
  if (/^\d+$/.test(trimmed)) seconds = Number(trimmed);
  else {
    const at = Date.parse(trimmed);
    if (!Number.isFinite(at)) return null;
    seconds = (at - now) / 1000;
  }
  return Math.max(1, Math.ceil(seconds / 60));
}

/**
 * An enrollment code as typed on a remote control or a keyboard: spaces and dashes
 * dropped, upper case (the cloud reads it either way), then grouped 5-rest as it is
 * printed (ABCDE-FGH23) so the display shows what the admin's screen shows.
 */
export function normalizeEnrollCode(input: string): string {
  const plain = input.toUpperCase().replace(/[^A-Z0-9]/g, '');
  return plain.length > 5 ? `${plain.slice(0, 5)}-${plain.slice(5)}` : plain;
}


/** Does the school picker apply to this role, and must a school be picked? */
export function schoolPickFor(role: Role): 'none' | 'required' | 'optional' {
  if (DISTRICT_ONLY_ROLES.includes(role)) return 'none';
  if (ONE_SCHOOL_ROLES.includes(role)) return 'required';
  return 'optional';
}

/**
 * The `schools` to send for a role and the school picked in the form ('' for none):
 * null is the whole district. Mirrors policy.ts scopeProblem, so the form can say what is
 * missing before the cloud refuses it (the cloud checks again).
 */
export function schoolsForRole(role: Role, picked: string): { schools: string[] | null } | { missing: true } {
  const pick = schoolPickFor(role);
  if (pick === 'none') return { schools: null };
  if (picked === '') return pick === 'required' ? { missing: true } : { schools: null };
  return { schools: [picked] };
}
