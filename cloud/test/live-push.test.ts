/**
 * The live push's part of the tenancy matrix, over real sockets: every role, by session
 * cookie and by API token, connects with socket.io; readings of school "a" (the school
 * roles' own) and "b" (another) are applied; each client must receive the school summaries
 * and the raw readings the policy lets it see, and nothing else. Then the rights change
 * under a live connection (a token revoked, a person moved to another school) and the
 * socket follows at once.
 */
import type { AddressInfo } from 'node:net';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, SUBSCRIPTIONS, decide, type Principal, type Reading, type Role } from '@schoolops/device-profiles';
import { sessionPrincipalFromCookieHeader } from '../src/auth/guard.ts';
import { attachLivePush } from '../src/live-push.ts';
import { waitFor } from '../../simulators/test/support/wait.ts';
import { ACCOUNTS, SCHOOLS, startTestApi, type TestApi } from './support/api-app.ts';

let api: TestApi;
let url: string;
let push: ReturnType<typeof attachLivePush>;
const sockets: Socket[] = [];

beforeAll(async () => {
  api = await startTestApi();
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
  push = attachLivePush(api.app.server, api.live, [...SCHOOLS], {
    authenticate: (request, auth) =>
      typeof auth.token === 'string' ? api.accounts.principalOfToken(auth.token) : sessionPrincipalFromCookieHeader(api.accounts, api.app, request.headers.cookie),
    onAccountsChanged: (listener) => api.accounts.onChange(listener),
  });
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await push?.close();
  await api?.close();
});

interface Client {
  socket: Socket;
  schools: Set<string>;
  readings: Set<string>;
  /** The last marker the test sent to every socket (see fence()). */
  marker: number;
}

/** A connected client; rejects with the server's refusal when the handshake is refused. */
function connect(o: { cookie?: string; token?: string }): Promise<Client> {
  const socket = io(url, {
    transports: ['websocket'],
    reconnection: false,
    ...(o.token ? { auth: { token: o.token } } : {}),
    ...(o.cookie ? { extraHeaders: { cookie: o.cookie } } : {}),
  });
  sockets.push(socket);
  const client: Client = { socket, schools: new Set(), readings: new Set(), marker: 0 };
  socket.on('marker', (n: number) => (client.marker = n));
  socket.on('school', (s: { id: string }) => client.schools.add(s.id));
  socket.on('reading', (r: { schoolId: string }) => client.readings.add(r.schoolId));
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(client));
    socket.once('connect_error', (error) => reject(error));
  });
}

const subscribe = (client: Client, readings: string) =>
  new Promise<{ ok: boolean; reason?: string }>((resolve) => client.socket.emit('subscribe', { readings }, resolve));

let tick = Date.parse('2025-03-10T02:00:00Z');
/** A reading in each school, and a marker reading that every district-wide client waits for. */
function applyEverywhere(): void {
  tick += 1000;
  for (const schoolId of SCHOOLS) {
    const reading: Reading = { deviceId: `${schoolId}.proj`, ts: tick, values: { power: 'on', lampHours: 100 } };
    api.live.applyReading(schoolId, reading);
  }
}

function principalOf(role: Role, kind: Principal['kind']): Principal {
  return { kind, id: ACCOUNTS[role].username, name: '', role, scope: ACCOUNTS[role].scope, credentialId: '' };
}

describe('live push tenancy', () => {
  it('refuses a handshake without a session or token, or with a forged one', async () => {
    for (const o of [{}, { cookie: 'schoolops_session=forged-forged-forged-forged' }, { token: 'sot_AAAAAAAAAAAA_' + 'B'.repeat(43) }]) {
      await expect(connect(o)).rejects.toThrow(/sign in first/);
    }
    expect(push.stats.refusedHandshakes).toBe(3);
  });

  it('every role, by session and by token: the summaries and readings its scope and role allow, nothing else', async () => {
    type Case = { role: Role; way: 'session' | 'token'; client: Client; wantSchools: Set<string>; wantReadings: Set<string> };
    const cases: Case[] = [];
    let subscriptions = 0;
    for (const role of ROLES) {
      for (const way of ['session', 'token'] as const) {
        const client =
          way === 'session'
            ? await connect({ cookie: (await api.browserOf(role)).cookie })
            : await connect({ token: (await api.accounts.createToken({ name: `live ${role}`, role, scope: ACCOUNTS[role].scope, createdBy: 'admin', expiresAt: null })).token });
        const principal = principalOf(role, way === 'token' ? 'token' : role === 'wall-display' ? 'display' : 'user');
        const wantReadings = new Set<string>();
        // Ask for each school's readings and for every school's ('*'): granted exactly where the policy says.
        for (const target of [...SCHOOLS, '*']) {
          const expected = decide(principal, SUBSCRIPTIONS.readings, target === '*' ? null : target).allowed;
          const answer = await subscribe(client, target);
          subscriptions++;
          expect(answer.ok, `${role} by ${way} subscribing to readings of ${target}: ${answer.reason}`).toBe(expected);
          if (expected) for (const s of target === '*' ? SCHOOLS : [target]) wantReadings.add(s);
        }
        const wantSchools = new Set(SCHOOLS.filter((s) => decide(principal, SUBSCRIPTIONS.schools, s).allowed));
        cases.push({ role, way, client, wantSchools, wantReadings });
      }
    }
    applyEverywhere();
    // Wait until every client has what it should; then what it has must be exactly that.
    await waitFor(async () => cases.every((c) => [...c.wantSchools].every((s) => c.client.schools.has(s)) && [...c.wantReadings].every((s) => c.client.readings.has(s))), 'every client to get its schools and readings');
    // A fence: one connection delivers in order, so once a socket has the marker sent after
    // this round, whatever the round sent it (a leak included) has arrived too.
    push.io.emit('marker', 1);
    await waitFor(async () => cases.every((c) => c.client.marker === 1), 'the marker on every socket');
    for (const c of cases) {
      expect([...c.client.schools].sort(), `${c.role} by ${c.way}: school summaries`).toEqual([...c.wantSchools].sort());
      expect([...c.client.readings].sort(), `${c.role} by ${c.way}: readings`).toEqual([...c.wantReadings].sort());
    }
    const checks = cases.length * SCHOOLS.length * 2 + subscriptions;
    console.info(`tenancy matrix (socket.io): ${cases.length} clients, ${subscriptions} subscriptions, ${checks} checks`);
    expect(cases.length).toBe(ROLES.length * 2);
  });

  it('a revoked token is disconnected at once; a person moved to another school follows at once', async () => {
    const { token, record } = await api.accounts.createToken({ name: 'to revoke', role: 'school-it', scope: { all: false, schools: ['a'] }, createdBy: 'admin', expiresAt: null });
    const revoked = await connect({ token });
    const gone = new Promise<string>((resolve) => revoked.socket.once('disconnect', resolve));
    await api.accounts.revokeToken(record.id);
    expect(await gone).toBe('io server disconnect');

    await api.accounts.createUser({ username: 'it-moving', displayName: 'x', role: 'school-it', scope: { all: false, schools: ['a'] }, password: 'long enough password' });
    const moving = await connect({ cookie: (await api.signIn('it-moving', 'long enough password')).cookie });
    expect((await subscribe(moving, 'a')).ok).toBe(true);
    const ended = new Promise<string>((resolve) => moving.socket.once('disconnect', resolve));
    // Moving ends their sessions (their rights changed): the socket goes with them.
    await api.accounts.updateUser('it-moving', { scope: { all: false, schools: ['b'] } });
    expect(await ended).toBe('io server disconnect');
    expect(push.stats.disconnectedOnRecheck).toBeGreaterThanOrEqual(2);
  });
});
