// The HTTP layer every view uses (api.ts request()), against a stubbed fetch: changes carry
// the CSRF token, a 401 sends the page to sign in (but not the sign-in form's own 401), a
// 403 becomes an error the views can word, and the admin calls send what the cloud expects.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { auditUrl, createToken, createUser, fetchAudit, newestFirst, revokeToken, toAuditEntry, toTokenRecord, toUserRecord, type AuditEntry } from '../web/admin-api.ts';
import { CSRF_HEADER, HttpError, configureSession, fetchMe, fetchSchools, login, logout, sendCommand, setCsrfToken } from '../web/api.ts';
import { routeFromSearch, searchFor } from '../web/route.ts';

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

let calls: Call[];
let answers: Array<(call: Call) => Response>;
let signInNeeded: number;
let csrfFresh: string | null;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

beforeEach(() => {
  calls = [];
  answers = [];
  signInNeeded = 0;
  csrfFresh = null;
  vi.stubGlobal('fetch', async (url: string, init: RequestInit = {}) => {
    const call: Call = { url, method: init.method ?? 'GET', headers: { ...(init.headers as Record<string, string>) }, body: init.body === undefined ? undefined : JSON.parse(String(init.body)) };
    calls.push(call);
    const answer = answers.shift();
    if (!answer) throw new Error(`no answer for ${call.method} ${url}`);
    return answer(call);
  });
  configureSession({ onSignInNeeded: () => signInNeeded++, refreshCsrf: async () => csrfFresh });
  setCsrfToken('tok-1');
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe('request(): the session on every call', () => {
  it('sends the CSRF token with every change and never with a read', async () => {
    answers.push(() => json(200, []), () => json(202, { commandId: 'c1', deviceId: 'd', name: 'powerOff', issuedAt: 1, expiresAt: 120_001, state: 'sent' }), () => json(204, null));
    await fetchSchools();
    await sendCommand('a.r101.proj', 'powerOff');
    await logout();
    expect(calls.map((c) => [c.method, c.url, c.headers[CSRF_HEADER]])).toEqual([
      ['GET', '/api/schools', undefined],
      ['POST', '/api/devices/a.r101.proj/commands', 'tok-1'],
      ['POST', '/api/auth/logout', 'tok-1'],
    ]);
    expect(calls[1]!.body).toEqual({ name: 'powerOff' });
  });

  it('sends the page to sign in on a 401, and still fails the call', async () => {
    answers.push(() => json(401, { statusCode: 401, error: 'Unauthorized', message: 'your session has expired or was ended: sign in again' }));
    const error = await fetchSchools().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(401);
    expect(signInNeeded).toBe(1);
  });

  it('leaves a wrong password to the sign-in form (its 401 is not "sign in first")', async () => {
    answers.push(() => json(401, { statusCode: 401, error: 'Unauthorized', message: 'wrong username or password' }));
    const error = (await login('hieu-truong', 'wrong').catch((e: unknown) => e)) as HttpError;
    expect(error.status).toBe(401);
    expect(error.reason).toBe('wrong username or password');
    expect(signInNeeded).toBe(0);
  });

  it('passes on a 429 with its Retry-After', async () => {
    answers.push(() => json(429, { message: 'too many failed sign-ins: try again in 15 min' }, { 'retry-after': '900' }));
    const error = (await login('x', 'y').catch((e: unknown) => e)) as HttpError;
    expect(error.status).toBe(429);
    expect(error.retryAfter).toBe('900');
  });

  it('turns a 403 into an error with the cloud’s reason, without signing out', async () => {
    answers.push(() => json(403, { statusCode: 403, error: 'Forbidden', message: 'the role principal may not commands:send' }));
    const error = (await sendCommand('a.r101.proj', 'powerOff').catch((e: unknown) => e)) as HttpError;
    expect(error.status).toBe(403);
    expect(error.reason).toContain('may not commands:send');
    expect(signInNeeded).toBe(0);
  });

  it('fetches a fresh CSRF token once when the session’s changed, and tries again with it', async () => {
    csrfFresh = 'tok-2';
    answers.push(
      () => json(403, { code: 'csrf', message: 'missing or wrong CSRF token (send the "csrfToken" of /api/auth/me as the x-csrf-token header)' }),
      () => json(202, { commandId: 'c2', deviceId: 'd', name: 'powerOn', issuedAt: 1, expiresAt: 120_001, state: 'sent' }),
    );
    await sendCommand('d', 'powerOn');
    expect(calls.map((c) => c.headers[CSRF_HEADER])).toEqual(['tok-1', 'tok-2']);
  });

  it("words a refusal from the error catalog in the page's language, and keeps the cloud's message otherwise", async () => {
    answers.push(() => json(400, { code: 'unknown_command', params: { deviceId: 'd', profileId: 'epson', name: 'launch', known: 'powerOn' }, message: 'epson has no command "launch" (it has: powerOn)' }));
    answers.push(() => json(502, { message: 'bad gateway' }));
    const refusal = (name: string) => sendCommand('d', name).then(() => expect.unreachable('refused'), (error: unknown) => error as HttpError);
    const refused = await refusal('launch');
    expect(refused.code).toBe('unknown_command');
    expect(refused.text('vi')).toBe('Thiết bị "d" không nhận lệnh "launch" (nhận: powerOn).');
    expect(refused.text('en')).toBe('epson has no command "launch" (it has: powerOn)');
    const other = await refusal('powerOn');
    expect(other.text('vi')).toBe('bad gateway');
  });

  it('reads who is signed in, or null when nobody is', async () => {
    answers.push(() => json(200, { kind: 'user', id: 'admin', name: 'Quản trị', role: 'district-admin', schools: null, permissions: ['district:read'], csrfToken: 'c', expiresAt: 1 }));
    answers.push(() => json(401, { message: 'sign in first' }));
    expect(await fetchMe()).toMatchObject({ id: 'admin', role: 'district-admin' });
    expect(await fetchMe()).toBeNull();
    // Asking is not being refused: the page decides what to show.
    expect(signInNeeded).toBe(0);
  });
});

describe('admin calls', () => {
  it('sends a new person’s scope only for roles that have one', async () => {
    const answer = (call: Call) => json(201, { ...(call.body as object), schools: (call.body as { schools?: string[] }).schools ?? null, disabled: false, createdAt: 1, updatedAt: 1 });
    answers.push(answer, answer);
    await createUser({ username: 'ht-b', displayName: 'Hiệu trưởng B', role: 'principal', schools: ['b'], password: 'p' });
    await createUser({ username: 'dh2', displayName: 'Điều hành 2', role: 'district-operator', schools: null, password: 'p' });
    expect(calls[0]!.body).toEqual({ username: 'ht-b', displayName: 'Hiệu trưởng B', role: 'principal', password: 'p', schools: ['b'] });
    expect(calls[1]!.body).not.toHaveProperty('schools');
    expect(calls.every((c) => c.headers[CSRF_HEADER] === 'tok-1')).toBe(true);
  });

  it('returns a made token once with its record, and revokes by id', async () => {
    const record = { id: 't-1', name: 'script', role: 'school-it', schools: ['a'], createdBy: 'admin', createdAt: 1, expiresAt: null, revokedAt: null };
    answers.push(() => json(201, { token: 'sot_secret', record }), () => json(200, { ...record, revokedAt: 2 }));
    const made = await createToken({ name: 'script', role: 'school-it', schools: ['a'], expiresInDays: 30 });
    expect(made).toEqual({ token: 'sot_secret', record });
    expect(calls[0]!.body).toEqual({ name: 'script', role: 'school-it', schools: ['a'], expiresInDays: 30 });
    expect((await revokeToken('t-1')).revokedAt).toBe(2);
    expect(calls[1]).toMatchObject({ method: 'DELETE', url: '/api/tokens/t-1' });
  });

  it('filters the audit log by action and actor, newest first, with a CSV link of the same filter', async () => {
    const entry = (seq: number, ts: number): AuditEntry => ({ seq, ts, actor: 'admin', action: 'user.create', outcome: 'ok', schoolId: null, target: 'x', address: '127.0.0.1', detail: {} });
    answers.push(() => json(200, [entry(1, 10), entry(3, 30), { bogus: true }, entry(2, 20)]));
    const list = await fetchAudit({ action: 'user.create', actor: ' admin ', limit: 200 });
    expect(list.map((e) => e.seq)).toEqual([3, 2, 1]);
    expect(calls[0]!.url).toBe('/api/audit?action=user.create&actor=admin&limit=200');
    expect(auditUrl({ action: 'user.create', actor: 'admin', limit: 200 }, true)).toBe('/api/audit?action=user.create&actor=admin&format=csv');
    expect(auditUrl({}, true)).toBe('/api/audit?format=csv');
    expect(auditUrl({ action: '', actor: '  ' })).toBe('/api/audit');
    expect(newestFirst([entry(5, 1), entry(6, 1)]).map((e) => e.seq)).toEqual([6, 5]);
  });

  it('keeps only records it can show', () => {
    expect(toUserRecord({ username: 'a', displayName: 'A', role: 'principal', schools: ['x'], disabled: true, createdAt: 1, updatedAt: 2 })).toMatchObject({ disabled: true, schools: ['x'] });
    expect(toUserRecord({ username: 'a', displayName: 'A', role: 'king', schools: null })).toBeNull();
    expect(toTokenRecord({ id: 't', name: 'n', role: 'principal', schools: [1] })).toBeNull();
    expect(toAuditEntry({ seq: 1, ts: 2, action: 'login', outcome: 'ok', actor: null, detail: 'x' })).toMatchObject({ actor: null, detail: {} });
  });
});

describe('routes', () => {
  it('reads the view from the address, the school, admin and enroll included', () => {
    expect(routeFromSearch('')).toEqual({ view: 'overview', explicit: false });
    expect(routeFromSearch('?lang=en')).toEqual({ view: 'overview', explicit: false });
    expect(routeFromSearch('?school=a')).toEqual({ view: 'school', schoolId: 'a', explicit: true });
    expect(routeFromSearch('?admin')).toEqual({ view: 'admin', explicit: true });
    expect(routeFromSearch('?enroll')).toEqual({ view: 'enroll', explicit: true });
  });

  it('writes a view’s address, keeping the language and dropping other views', () => {
    expect(searchFor('?lang=en&school=a', { view: 'admin' })).toBe('?lang=en&admin');
    expect(searchFor('?admin', { view: 'school', schoolId: 'b' })).toBe('?school=b');
    expect(searchFor('?enroll&lang=vi', { view: 'overview' })).toBe('?lang=vi');
    expect(searchFor('', { view: 'enroll' })).toBe('?enroll');
  });
});
