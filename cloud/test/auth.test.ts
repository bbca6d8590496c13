/**
 * Signing in and everything around it, through the API as the server builds it (inject():
 * the same hooks and checks, no socket), on a real account file, with the test's own clock
 * for expiry and rate windows.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROUTES } from '@schoolops/device-profiles';
import { AccountStore } from '../src/auth/accounts.ts';
import { installGuard } from '../src/auth/guard.ts';
import { USER_SESSION_MS } from '../src/api/auth.ts';
import { PASSWORD, cookieOf, startTestApi, type TestApi } from './support/api-app.ts';
import Fastify from 'fastify';

let api: TestApi;
beforeEach(async () => {
  api = await startTestApi();
});
afterEach(async () => {
  await api.close();
});

const login = (username: string, password: string, headers: Record<string, string> = {}) =>
  api.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password }, headers });
const actions = async () => (await api.accounts.auditEntries()).map((e) => `${e.action} ${e.outcome} ${e.actor ?? '-'} ${e.target ?? '-'}`);

describe('without signing in', () => {
  it('every /api route but sign-in, enrollment and the probe download answers 401 with the way in', async () => {
    let checked = 0;
    for (const [key, rule] of Object.entries(ROUTES)) {
      if (rule.about === 'public') continue;
      const [method, url] = key.split(' ') as [string, string];
      const path = url.replace(':schoolId', 'a').replace(':deviceId', 'a.proj').replace(/:[a-zA-Z]+/g, 'x');
      const response = await api.app.inject({ method: method as 'GET', url: path, ...(method === 'GET' ? {} : { payload: {} }) });
      expect(response.statusCode, key).toBe(401);
      expect(response.json().message, key).toMatch(/sign in/);
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
    expect((await api.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect(api.guard.stats.unauthenticated).toBe(checked);
  });

  it('refuses forged, malformed and other-scheme credentials with 401, counted and audited', async () => {
    const tries: Record<string, string>[] = [
      { cookie: 'schoolops_session=' + 'A'.repeat(43) },
      { cookie: '__Host-schoolops_session=not-a-session' },
      { authorization: 'Bearer sot_AAAAAAAAAAAA_' + 'B'.repeat(43) },
      { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJyb2xlIjoiZGlzdHJpY3QtYWRtaW4ifQ.' },
      { authorization: 'Basic YWRtaW46YWRtaW4=' },
      { authorization: 'Bearer ' + 'x'.repeat(5000) },
    ];
    for (const headers of tries) {
      const response = await api.app.inject({ url: '/api/schools', headers });
      expect(response.statusCode, JSON.stringify(headers).slice(0, 80)).toBe(401);
    }
    expect(api.guard.stats.badCredential).toBe(tries.length);
    expect((await api.accounts.auditEntries({ action: 'access.denied' })).length).toBe(tries.length);
  });
});

describe('signing in', () => {
  it('sets an HttpOnly, SameSite=Strict session cookie and tells who is signed in and what they may do', async () => {
    const response = await login('principal-a', PASSWORD);
    expect(response.statusCode).toBe(200);
    const cookie = response.cookies.find((c) => c.name.endsWith('schoolops_session'))!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    const me = response.json();
    expect(me).toMatchObject({ kind: 'user', id: 'principal-a', role: 'principal', schools: ['a'] });
    expect(me.permissions).toContain('attendance:read');
    expect(me.permissions).not.toContain('commands:send');
    expect(me.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const again = await api.app.inject({ url: '/api/auth/me', headers: { cookie: cookieOf(response) } });
    expect(again.json()).toMatchObject({ id: 'principal-a', csrfToken: me.csrfToken });
  });

  it('a forwarded-proto header does not make a plain request secure (no proxy is trusted)', async () => {
    const response = await login('admin', PASSWORD, { 'x-forwarded-proto': 'https' });
    expect(response.cookies[0]!.name).toBe('schoolops_session');
    expect(response.cookies[0]!.secure).toBeFalsy();
  });

  it('answers a wrong password and an unknown user alike, and audits both', async () => {
    const wrong = await login('admin', 'not the password');
    const unknown = await login('nobody', 'not the password');
    expect([wrong.statusCode, unknown.statusCode]).toEqual([401, 401]);
    expect(wrong.json().message).toBe(unknown.json().message);
    expect(await actions()).toEqual(['login.failed failed - nobody', 'login.failed failed - admin']);
  });

  it('accepts the password however the keyboard composed its Vietnamese letters (NFC or NFD)', async () => {
    expect((await login('admin', PASSWORD.normalize('NFD'))).statusCode).toBe(200);
  });

  it('slows guessing per account: after 5 failures even the right password waits, and the wait ends', async () => {
    for (let i = 0; i < 5; i++) expect((await login('it-a', `guess ${i}`)).statusCode).toBe(401);
    const limited = await login('it-a', PASSWORD);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.json().message).toMatch(/try again in \d+ min/);
    // Another account from the same address is not held up by it.
    expect((await login('admin', PASSWORD)).statusCode).toBe(200);
    api.clock.now += Number(limited.headers['retry-after']) * 1000;
    expect((await login('it-a', PASSWORD)).statusCode).toBe(200);
    expect(await actions()).toContain('login.limited denied - it-a');
  });

  it('slows guessing per address across many usernames', async () => {
    for (let i = 0; i < 20; i++) expect((await login(`user${i}`, 'guess')).statusCode).toBe(401);
    expect((await login('admin', PASSWORD)).statusCode).toBe(429);
  });

  it('ends a session at sign-out and after its lifetime', async () => {
    const principal = await api.browserOf('principal');
    expect((await principal.request({ method: 'GET', url: '/api/schools/a' })).statusCode).toBe(200);
    expect((await principal.request({ method: 'POST', url: '/api/auth/logout' })).statusCode).toBe(204);
    const after = await principal.request({ method: 'GET', url: '/api/schools/a' });
    expect(after.statusCode).toBe(401);
    expect(after.json().message).toMatch(/expired or was ended/);

    const it2 = await api.browserOf('school-it');
    api.clock.now += USER_SESSION_MS - 1;
    expect((await it2.request({ method: 'GET', url: '/api/schools/a' })).statusCode).toBe(200);
    api.clock.now += 1;
    expect((await it2.request({ method: 'GET', url: '/api/schools/a' })).statusCode).toBe(401);
  });

  it('sessions survive a restart of the account store, and so does the audit log', async () => {
    const admin = await api.browserOf('district-admin');
    const reopened = await reopen(api);
    expect(reopened.findSession(admin.cookie.split('=')[1]!)).not.toBeNull();
    expect((await reopened.auditEntries()).map((e) => e.action)).toContain('login');
    expect(await reopened.verifyAudit()).toMatchObject({ brokenAt: null });
    await reopened.close();
  });
});

/** Close the test API's account store and open its file again, as a restart would. */
async function reopen(t: TestApi): Promise<AccountStore> {
  await t.accounts.close();
  const store = await AccountStore.open({ file: t.accountsFile, now: () => t.clock.now });
  // The test API closes its own store at the end; give it the reopened one to close.
  (t as { accounts: AccountStore }).accounts = store;
  return store;
}

describe('CSRF', () => {
  it('refuses a change that comes without the session’s token, or with another one', async () => {
    const it1 = await api.browserOf('school-it');
    const body = { name: 'powerOff' };
    const none = await it1.request({ method: 'POST', url: '/api/devices/a.proj/commands', body, csrf: false });
    expect(none.statusCode).toBe(403);
    expect(none.json().message).toMatch(/CSRF/);
    const other = await it1.request({ method: 'POST', url: '/api/devices/a.proj/commands', body, csrf: 'x'.repeat(43) });
    expect(other.statusCode).toBe(403);
    // With it, the command passes the guard (the broker is not connected here: 503).
    expect((await it1.request({ method: 'POST', url: '/api/devices/a.proj/commands', body })).statusCode).toBe(503);
    expect(api.guard.stats.csrf).toBe(2);
  });

  it('a bearer token needs no CSRF token (no browser sends it by itself)', async () => {
    const { token } = await api.accounts.createToken({ name: 'script', role: 'school-it', scope: { all: false, schools: ['a'] }, createdBy: 'admin', expiresAt: null });
    const response = await api.app.inject({ method: 'POST', url: '/api/devices/a.proj/commands', headers: { authorization: `Bearer ${token}` }, payload: { name: 'powerOff' } });
    expect(response.statusCode).toBe(503);
  });
});

describe('API tokens', () => {
  it('are shown once, work as bearer tokens within their role and schools, and stop at revocation or expiry', async () => {
    const admin = await api.browserOf('district-admin');
    const created = await admin.request({ method: 'POST', url: '/api/tokens', body: { name: 'bảng điều khiển', role: 'school-it', schools: ['a'], expiresInDays: 30 } });
    expect(created.statusCode).toBe(201);
    const { token, record } = created.json();
    expect(token).toMatch(/^sot_/);
    const listed = await admin.request({ method: 'GET', url: '/api/tokens' });
    // The secret part whole: base64url has '_' in it, so a piece after the last '_' can be one
    // letter, found anywhere in the listing.
    expect(listed.body).not.toContain(token.slice('sot_'.length));
    const bearer = (url: string) => api.app.inject({ url, headers: { authorization: `Bearer ${token}` } });
    expect((await bearer('/api/schools/a/devices')).statusCode).toBe(200);
    expect((await bearer('/api/schools/b/devices')).statusCode).toBe(403);
    expect((await bearer('/api/users')).statusCode).toBe(403);
    // Its list of schools is its scope.
    expect((await bearer('/api/schools')).json().map((s: { id: string }) => s.id)).toEqual(['a']);

    api.clock.now += 30 * 86_400_000;
    expect((await bearer('/api/schools/a')).statusCode).toBe(401);
    api.clock.now -= 86_400_000;
    expect((await bearer('/api/schools/a')).statusCode).toBe(200);
    // The admin's own session ended long ago (a school day): they sign in again to revoke.
    const revoked = await (await api.browserOf('district-admin')).request({ method: 'DELETE', url: `/api/tokens/${record.id}` });
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json().revokedAt).toBe(api.clock.now);
    expect((await bearer('/api/schools/a')).statusCode).toBe(401);
    expect(await actions()).toEqual(expect.arrayContaining([`token.create ok admin ${record.id}`, `token.revoke ok admin ${record.id}`]));
  });

  it('refuses a role and scope that do not fit together, and unknown schools and roles', async () => {
    const admin = await api.browserOf('district-admin');
    const tries = [
      [{ name: 't', role: 'principal' }, /exactly one school/],
      [{ name: 't', role: 'district-operator', schools: ['a'] }, /whole district/],
      [{ name: 't', role: 'school-it', schools: ['nowhere'] }, /no school "nowhere"/],
      [{ name: 't', role: 'superuser' }, /role/],
    ] as const;
    for (const [body, message] of tries) {
      const response = await admin.request({ method: 'POST', url: '/api/tokens', body });
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(response.json().message).toMatch(message);
    }
  });
});

describe('wall displays', () => {
  it('enroll once with a code, see the district read-only, and are revocable', async () => {
    const admin = await api.browserOf('district-admin');
    const { code, display } = (await admin.request({ method: 'POST', url: '/api/displays/codes', body: { name: 'Phòng điều hành 1' } })).json();
    expect(code).toMatch(/^[A-Z2-9]{5}-[A-Z2-9]{5}$/);
    // Typed on a remote in lower case without the dash: the same code.
    const enrolled = await api.app.inject({ method: 'POST', url: '/api/auth/enroll', payload: { code: code.toLowerCase().replace('-', '') } });
    expect(enrolled.statusCode).toBe(200);
    expect(enrolled.json()).toMatchObject({ kind: 'display', role: 'wall-display', schools: null });
    const cookie = cookieOf(enrolled);
    const get = (url: string) => api.app.inject({ url, headers: { cookie } });
    expect((await get('/api/schools')).json()).toHaveLength(2);
    expect((await get('/api/schools/b/alarms')).statusCode).toBe(200);
    expect((await get('/api/schools/a/attendance')).statusCode).toBe(403);
    expect((await get('/api/ingest/stats')).statusCode).toBe(403);
    // The code was for one display only.
    expect((await api.app.inject({ method: 'POST', url: '/api/auth/enroll', payload: { code } })).statusCode).toBe(401);

    await admin.request({ method: 'DELETE', url: `/api/displays/${display.id}` });
    expect((await get('/api/schools')).statusCode).toBe(401);
  });

  it('a code not used within 15 minutes no longer works', async () => {
    const { code } = await api.accounts.createDisplay({ name: 'x', scope: { all: true }, createdBy: 'admin' });
    api.clock.now += 15 * 60_000;
    expect((await api.app.inject({ method: 'POST', url: '/api/auth/enroll', payload: { code } })).statusCode).toBe(401);
  });
});

describe('people', () => {
  it('the admin adds, changes and disables people; changing their powers ends their sessions', async () => {
    const admin = await api.browserOf('district-admin');
    const created = await admin.request({ method: 'POST', url: '/api/users', body: { username: 'hieu-truong-b', displayName: 'Hiệu trưởng B', role: 'principal', schools: ['b'], password: 'một mật khẩu dài' } });
    expect(created.statusCode).toBe(201);
    expect(created.body).not.toContain('scrypt');
    const principalB = await api.signIn('hieu-truong-b', 'một mật khẩu dài');
    expect((await principalB.request({ method: 'GET', url: '/api/schools/b/attendance' })).statusCode).toBe(200);
    expect((await principalB.request({ method: 'GET', url: '/api/schools/a/attendance' })).statusCode).toBe(403);

    expect((await admin.request({ method: 'PATCH', url: '/api/users/hieu-truong-b', body: { schools: ['a'] } })).statusCode).toBe(200);
    expect((await principalB.request({ method: 'GET', url: '/api/schools/b/attendance' })).statusCode).toBe(401);
    expect((await admin.request({ method: 'PATCH', url: '/api/users/hieu-truong-b', body: { disabled: true } })).json().disabled).toBe(true);
    expect((await login('hieu-truong-b', 'một mật khẩu dài')).statusCode).toBe(401);

    expect((await admin.request({ method: 'POST', url: '/api/users', body: { username: 'hieu-truong-b', displayName: 'x', role: 'principal', schools: ['b'], password: 'một mật khẩu dài' } })).statusCode).toBe(409);
    expect((await admin.request({ method: 'POST', url: '/api/users', body: { username: 'short', displayName: 'x', role: 'principal', schools: ['b'], password: 'ngắn' } })).json().message).toMatch(/at least 10/);
    expect((await admin.request({ method: 'PATCH', url: '/api/users/admin', body: { disabled: true } })).json().message).toMatch(/last district admin/);
    expect(await actions()).toEqual(expect.arrayContaining(['user.create ok admin hieu-truong-b', 'user.update ok admin hieu-truong-b']));
  });

  it('a person changes their own password with the current one; every session of theirs ends', async () => {
    const it1 = await api.browserOf('school-it');
    const wrong = await it1.request({ method: 'POST', url: '/api/auth/password', body: { current: 'wrong password', next: 'a new long password' } });
    expect(wrong.statusCode).toBe(400);
    expect((await it1.request({ method: 'POST', url: '/api/auth/password', body: { current: PASSWORD, next: 'a new long password' } })).statusCode).toBe(204);
    expect((await it1.request({ method: 'GET', url: '/api/auth/me' })).statusCode).toBe(401);
    expect((await login('it-a', 'a new long password')).statusCode).toBe(200);
  });

  it('only the admin manages people', async () => {
    for (const role of ['district-operator', 'school-it', 'principal', 'wall-display'] as const) {
      const b = await api.browserOf(role);
      expect((await b.request({ method: 'GET', url: '/api/users' })).statusCode, role).toBe(403);
      expect((await b.request({ method: 'POST', url: '/api/users', body: { username: 'x1', displayName: 'x', role: 'district-admin', password: 'long enough pw' } })).statusCode, role).toBe(403);
    }
  });
});

describe('the audit log', () => {
  it('lists sign-ins, commands and attendance reads with who and which school, and exports them as CSV', async () => {
    await login('principal-a', 'wrong password!');
    const principal = await api.browserOf('principal');
    await principal.request({ method: 'GET', url: '/api/schools/a/attendance?date=2025-03-10' });
    await principal.request({ method: 'POST', url: '/api/devices/a.proj/commands', body: { name: 'powerOff' } });
    const it1 = await api.browserOf('school-it');
    await it1.request({ method: 'POST', url: '/api/devices/a.proj/commands', body: { name: 'powerOff' } });
    const admin = await api.browserOf('district-admin');

    const entries = (await admin.request({ method: 'GET', url: '/api/audit' })).json();
    const byAction = (action: string) => entries.filter((e: { action: string }) => e.action === action);
    expect(byAction('login.failed')[0]).toMatchObject({ target: 'principal-a', outcome: 'failed' });
    expect(byAction('attendance.read')[0]).toMatchObject({ actor: 'principal-a', schoolId: 'a', outcome: 'ok', detail: { status: 200, query: { date: '2025-03-10' } } });
    expect(byAction('access.denied')[0]).toMatchObject({ actor: 'principal-a', detail: { status: 403 } });
    expect(byAction('command.send')[0]).toMatchObject({ actor: 'it-a', schoolId: 'a', target: 'a.proj', outcome: 'error', detail: { body: { name: 'powerOff' }, status: 503, commandId: expect.stringMatching(/^[\w-]{16}$/) } });

    const csv = await admin.request({ method: 'GET', url: '/api/audit?format=csv' });
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    expect(csv.headers['content-disposition']).toMatch(/attachment/);
    const lines = csv.body.trim().split('\r\n');
    expect(lines[0]).toBe('seq,ts,time,actor,action,outcome,schoolId,target,address,detail');
    expect(lines.length).toBe(entries.length + 2); // the list itself was read (audited) in between
    expect(await api.accounts.verifyAudit()).toMatchObject({ brokenAt: null });
  });

  it('a spreadsheet formula in a username is defused in the export', async () => {
    await login('=cmd|calc', 'whatever it is');
    const admin = await api.browserOf('district-admin');
    const csv = (await admin.request({ method: 'GET', url: '/api/audit?format=csv' })).body;
    expect(csv).toContain(",'=cmd|calc,");
  });
});

describe('the guard itself', () => {
  it('refuses to start with an /api route that has no rule in the policy', async () => {
    const app = Fastify();
    installGuard(app, { accounts: api.accounts, district: api.district });
    expect(() => app.get('/api/secret-new-thing', async () => ({ secret: true }))).toThrow(/GET \/api\/secret-new-thing has no rule/);
    // Outside /api (the dashboard's files, health) no rule is needed.
    expect(() => app.get('/healthz2', async () => ({ ok: true }))).not.toThrow();
    await app.close();
  });

  it('every rule of the policy names a route the server has (no stale rules)', () => {
    for (const key of Object.keys(ROUTES)) {
      const [method, url] = key.split(' ') as [string, string];
      expect(api.app.hasRoute({ method: method as 'GET', url }), key).toBe(true);
    }
  });

  it('sends security headers and refuses bodies over 64 KB', async () => {
    const response = await api.app.inject({ url: '/healthz' });
    expect(response.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(response.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    const admin = await api.browserOf('district-admin');
    const big = await admin.request({ method: 'POST', url: '/api/users', body: { username: 'x'.repeat(70_000) } });
    expect(big.statusCode).toBe(413);
  });
});

