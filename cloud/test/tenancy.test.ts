/**
 * The tenancy matrix: every role x every /api route and method x its own school, another
 * school and the district, through the server's real guard. Generated from the policy
 * table, so a route added with a rule is covered without touching this file; and the
 * server refuses a route without a rule (auth.test.ts), so none escapes it.
 *
 * A case passes when the server refuses (403) exactly where the policy refuses and lets the
 * request through to its handler (any answer but 401/403) exactly where the policy allows.
 * A second table, written by hand, pins what the issue asked for, so a wrong edit of the
 * policy itself fails here too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, ROUTES, decideRoute, type Principal, type Role } from '@schoolops/device-profiles';
import { ACCOUNTS, startTestApi, type Browser, type TestApi } from './support/api-app.ts';

let api: TestApi;
/** Per role, its two ways in: a session cookie (people, displays) and an API token (scripts). */
const browsers = new Map<Role, Browser>();
const tokens = new Map<Role, string>();
beforeAll(async () => {
  api = await startTestApi();
  for (const role of ROLES) {
    browsers.set(role, await api.browserOf(role));
    tokens.set(role, (await api.accounts.createToken({ name: `matrix ${role}`, role, scope: ACCOUNTS[role].scope, createdBy: 'admin', expiresAt: null })).token);
  }
});
afterAll(async () => {
  await api?.close();
});

type Target = 'own' | 'other' | 'district';
/** School "a" is every school-scoped test account's own; "b" is another school. */
const schoolOf: Record<Exclude<Target, 'district'>, string> = { own: 'a', other: 'b' };

/** A request body each mutating route accepts or refuses on its merits (after the guard). */
const BODIES: Record<string, unknown> = {
  'POST /api/devices/:deviceId/commands': { name: 'lampHoursReset-does-not-exist' },
  'POST /api/users': { username: 'matrix-user', displayName: 'x', role: 'principal', schools: ['b'], password: 'long enough password' },
  'PATCH /api/users/:username': { displayName: 'Đổi tên' },
  'POST /api/tokens': { name: 'matrix', role: 'wall-display' },
  'POST /api/displays/codes': { name: 'matrix' },
  'POST /api/auth/password': { current: 'not it', next: 'not it either' },
};

function pathOf(url: string, target: Target): string {
  const school = target === 'district' ? 'a' : schoolOf[target];
  return url
    .replace(':schoolId', school)
    .replace(':deviceId', `${school}.proj`)
    .replace(':username', 'principal-a')
    .replace(':tokenId', 'no-such-token')
    .replace(':displayId', 'no-such-display');
}

type Way = 'session' | 'token';

function principalOf(role: Role, way: Way): Principal {
  const account = ACCOUNTS[role];
  const kind = way === 'token' ? 'token' : role === 'wall-display' ? 'display' : 'user';
  return { kind, id: account.username, name: account.username, role, scope: account.scope, credentialId: '' };
}

interface Case {
  role: Role;
  way: Way;
  route: string;
  target: Target;
  allowed: boolean;
}

/** Every case the policy implies. Sign-out is left out: it would end the shared session. */
function cases(): Case[] {
  const out: Case[] = [];
  for (const [route, rule] of Object.entries(ROUTES)) {
    if (rule.about === 'public' || route === 'POST /api/auth/logout') continue;
    const targets: Target[] = rule.about === 'school' || rule.about === 'device' ? ['own', 'other'] : ['district'];
    for (const role of ROLES) {
      for (const way of ['session', 'token'] as const) {
        for (const target of targets) {
          const allowed = decideRoute(principalOf(role, way), rule, target === 'district' ? null : schoolOf[target]).allowed;
          out.push({ role, way, route, target, allowed });
        }
      }
    }
  }
  return out;
}

describe('tenancy matrix', () => {
  it('every role, route and school: allowed exactly where the policy allows', async () => {
    const all = cases();
    const leaks: string[] = [];
    for (const c of all) {
      const [method, url] = c.route.split(' ') as [string, string];
      const body = BODIES[c.route] ?? (method === 'GET' ? undefined : {});
      const path = pathOf(url, c.target);
      const response =
        c.way === 'session'
          ? await browsers.get(c.role)!.request({ method, url: path, body })
          : await api.app.inject({ method: method as 'GET', url: path, headers: { authorization: `Bearer ${tokens.get(c.role)}` }, ...(body !== undefined ? { payload: body as object } : {}) });
      const refused = response.statusCode === 401 || response.statusCode === 403;
      const name = `${c.role} by ${c.way} ${c.route} (${c.target})`;
      if (refused === c.allowed) leaks.push(`${name}: policy says ${c.allowed ? 'allow' : 'refuse'}, server answered ${response.statusCode} ${response.body.slice(0, 120)}`);
      else if (!c.allowed && response.statusCode !== 403) leaks.push(`${name}: refused with ${response.statusCode}, expected 403`);
    }
    console.info(`tenancy matrix (REST): ${all.length} cases (${all.filter((c) => c.allowed).length} allowed, ${all.filter((c) => !c.allowed).length} refused) over ${ROLES.length} roles and ${Object.keys(ROUTES).length} routes`);
    expect(leaks).toEqual([]);
    expect(all.length).toBeGreaterThan(300);
  });

  it('a school-scoped principal sees only its own school in the district lists', async () => {
    for (const role of ['school-it', 'principal'] as const) {
      const schools = (await browsers.get(role)!.request({ method: 'GET', url: '/api/schools' })).json();
      expect(schools.map((s: { id: string }) => s.id), role).toEqual(['a']);
    }
    for (const role of ['district-admin', 'district-operator', 'wall-display'] as const) {
      expect((await browsers.get(role)!.request({ method: 'GET', url: '/api/schools' })).json(), role).toHaveLength(2);
    }
  });
});

describe('the internet link is the IT staff\'s, not a principal\'s (KIND_PERMISSIONS)', () => {
  it('a principal gets no router: not by id, not in lists, not its history, not the link figures', async () => {
    const principal = browsers.get('principal')!;
    const it = browsers.get('school-it')!;
    api.live.applyReading('a', { deviceId: 'a.router', ts: Date.now(), values: { inBps: 5e6, outBps: 1e6, linkUp: true } });
    expect((await principal.request({ method: 'GET', url: '/api/devices/a.router' })).statusCode).toBe(403);
    expect((await principal.request({ method: 'GET', url: '/api/devices/a.router/history' })).statusCode).toBe(403);
    expect((await it.request({ method: 'GET', url: '/api/devices/a.router' })).statusCode).toBe(200);
    const ids = (r: { json(): Array<{ id: string }> }) => r.json().map((d) => d.id);
    expect(ids(await principal.request({ method: 'GET', url: '/api/schools/a/devices' }))).not.toContain('a.router');
    expect(ids(await it.request({ method: 'GET', url: '/api/schools/a/devices' }))).toContain('a.router');
    const figures = async (b: typeof it) => (await b.request({ method: 'GET', url: '/api/schools' })).json()[0].figures;
    expect((await figures(it)).inBps).toBe(5e6);
    expect(await figures(principal)).toMatchObject({ inBps: null, outBps: null, latencyMs: null, lossPct: null });
    expect((await principal.request({ method: 'GET', url: '/api/schools/a' })).json().figures.inBps).toBeNull();
  });
});

describe('the policy says what the district asked for', () => {
  // [role, route, target, allowed]: written by hand from the roles the district described.
  const pinned: [Role, string, Target, boolean][] = [
    ['principal', 'GET /api/schools/:schoolId/attendance', 'own', true],
    ['principal', 'GET /api/schools/:schoolId/attendance', 'other', false],
    ['principal', 'POST /api/devices/:deviceId/commands', 'own', false],
    ['principal', 'GET /api/tokens', 'district', false],
    ['school-it', 'POST /api/devices/:deviceId/commands', 'own', true],
    ['school-it', 'POST /api/devices/:deviceId/commands', 'other', false],
    ['school-it', 'GET /api/schools/:schoolId/attendance', 'own', false],
    ['school-it', 'GET /api/schools/:schoolId/devices', 'other', false],
    ['district-operator', 'POST /api/devices/:deviceId/commands', 'other', true],
    ['district-operator', 'GET /api/users', 'district', false],
    ['district-operator', 'GET /api/delivery', 'district', true],
    ['wall-display', 'GET /api/schools/:schoolId/attendance', 'own', false],
    ['wall-display', 'POST /api/devices/:deviceId/commands', 'own', false],
    ['wall-display', 'GET /api/schools/:schoolId/alarms', 'other', true],
    ['wall-display', 'GET /api/ingest/stats', 'district', false],
    ['district-admin', 'GET /api/audit', 'district', true],
    ['district-admin', 'POST /api/users', 'district', true],
    ['wall-display', 'POST /api/auth/password', 'district', false],
    ['principal', 'POST /api/auth/password', 'district', true],
    // The principal's view over a range (summary, room usage, exports) is attendance like the day's.
    ['principal', 'GET /api/schools/:schoolId/attendance/summary', 'own', true],
    ['principal', 'GET /api/schools/:schoolId/attendance/summary', 'other', false],
    ['principal', 'GET /api/schools/:schoolId/attendance/export', 'other', false],
    ['principal', 'GET /api/schools/:schoolId/room-usage', 'own', true],
    ['principal', 'GET /api/schools/:schoolId/room-usage/export', 'other', false],
    ['school-it', 'GET /api/schools/:schoolId/attendance/summary', 'own', false],
    ['school-it', 'GET /api/schools/:schoolId/attendance/export', 'own', false],
    ['school-it', 'GET /api/schools/:schoolId/room-usage', 'own', false],
    ['school-it', 'GET /api/schools/:schoolId/room-usage/export', 'own', false],
    ['wall-display', 'GET /api/schools/:schoolId/room-usage', 'own', false],
    ['wall-display', 'GET /api/schools/:schoolId/attendance/export', 'other', false],
    ['district-operator', 'GET /api/schools/:schoolId/attendance/export', 'other', true],
  ];
  it.each(pinned)('%s %s (%s): %s', (role, route, target, allowed) => {
    const c = cases().find((x) => x.role === role && x.way === 'session' && x.route === route && x.target === target);
    expect(c, 'the case exists').toBeDefined();
    expect(c!.allowed).toBe(allowed);
  });
});
