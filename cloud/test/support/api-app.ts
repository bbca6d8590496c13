/**
 * The district API as the server builds it (buildApi: headers, guard, every route), on a
 * real DuckDB file and a real account store, for inject() tests: two schools, one account
 * of every role, sign-in helpers that keep the cookie and CSRF token as a browser would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { BUILTIN_PROFILES_DIR, loadProfiles, type Inventory } from '@schoolops/device-profiles';
import { AccountStore } from '../../src/auth/accounts.ts';
import type { Role, Scope } from '@schoolops/device-profiles';
import { buildApi, type ApiApp } from '../../src/api/app.ts';
import { Ingest } from '../../src/ingest.ts';
import { DistrictIndex } from '../../src/inventory.ts';
import { LiveState } from '../../src/live-state.ts';
import { openStorage, type Storage } from '../../src/storage/index.ts';

const school = (id: string, devices: Inventory['schools'][number]['devices']): Inventory['schools'][number] => ({
  id,
  name: { vi: `Trường ${id}`, en: `School ${id}` },
  level: 'lower-secondary',
  ward: 'Phường 1',
  gatewayId: `gw-${id}`,
  rooms: [{ id: 'p101', name: { vi: 'Phòng 101', en: 'Room 101' }, type: 'classroom', floor: 1, capacity: 45 }],
  classes: [{ id: '6a1', name: '6A1', grade: 6, enrolment: 40, homeRoomId: 'p101' }],
  timetable: { periods: [{ n: 1, start: '07:00', end: '07:45' }], lessons: [{ day: 1, period: 1, classId: '6a1', roomId: 'p101', subject: { vi: 'Toán', en: 'Maths' } }] },
  devices,
});

export const SCHOOLS = ['a', 'b'] as const;
export const testInventory: Inventory = {
  v: 1,
  district: { id: 'test', name: { vi: 'Quận Thử', en: 'Test District' }, timezone: 'Asia/Ho_Chi_Minh' },
  schools: SCHOOLS.map((id) =>
    school(id, [
      { id: `${id}.proj`, profileId: 'epson-eb-x51', roomId: 'p101' },
      { id: `${id}.cam`, profileId: 'hikvision-ds-2cd2143', roomId: 'p101' },
      { id: `${id}.router`, profileId: 'mikrotik-hex-s', roomId: 'p101' },
    ]),
  ),
};

export const PASSWORD = 'mật-khẩu-thử-1234';

/** One account per role; school roles belong to school "a". */
export const ACCOUNTS: Record<Role, { username: string; scope: Scope }> = {
  'district-admin': { username: 'admin', scope: { all: true } },
  'district-operator': { username: 'operator', scope: { all: true } },
  'school-it': { username: 'it-a', scope: { all: false, schools: ['a'] } },
  principal: { username: 'principal-a', scope: { all: false, schools: ['a'] } },
  'wall-display': { username: 'wall', scope: { all: true } },
};

export interface Browser {
  /** inject() with this browser's cookie, and its CSRF token on changes (unless told not to). */
  request(o: { method: string; url: string; body?: unknown; csrf?: boolean | string; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  cookie: string;
  csrf: string;
}

export interface TestApi extends ApiApp {
  accounts: AccountStore;
  accountsFile: string;
  store: Storage;
  ingest: Ingest;
  live: LiveState;
  district: DistrictIndex;
  /** The test's clock: advance it to expire sessions, codes and rate windows. */
  clock: { now: number };
  signIn(username: string, password?: string): Promise<Browser>;
  /** A session cookie for a principal of `role` (a display enrolls with a code). */
  browserOf(role: Role): Promise<Browser>;
  close(): Promise<void>;
}

export function cookieOf(response: LightMyRequestResponse): string {
  const set = response.cookies.find((c) => c.name.endsWith('schoolops_session'));
  if (!set) throw new Error(`no session cookie in the answer (${response.statusCode} ${response.body})`);
  return `${set.name}=${set.value}`;
}

export interface TestApiOptions {
  limits?: { perAccount?: number; perAddress?: number; windowMs?: number };
  /** A district broker for ingest to connect to (commands go out, results come in); none by default. */
  mqttUrl?: string;
  /** Another district record (default testInventory); the accounts' schools "a" and "b" should be in it. */
  inventory?: Inventory;
  /** Where the test's clock starts (default 2025-03-10 09:00 in Hanoi): what the routes take as now. */
  now?: number;
}

export async function startTestApi(o: TestApiOptions = {}): Promise<TestApi> {
  const dir = mkdtempSync(join(tmpdir(), 'schoolops-api-'));
  const clock = { now: o.now ?? Date.parse('2025-03-10T02:00:00Z') };
  const now = () => clock.now;
  const logger = pino({ level: 'silent' });
  const district = new DistrictIndex(o.inventory ?? testInventory, loadProfiles([BUILTIN_PROFILES_DIR]));
  const store = await openStorage({ dataDir: dir });
  const live = new LiveState(district);
  const accountsFile = join(dir, 'accounts.duckdb');
  const accounts = await AccountStore.open({ file: accountsFile, now });
  // As the server builds it: commands recorded, results audited, on the test's clock.
  const ingest = new Ingest(district, store, live, logger, { now, commands: store, audit: (entry) => accounts.audit(entry) });
  if (o.mqttUrl) await ingest.connect({ url: o.mqttUrl, username: 'cloud', password: 'x' });
  const built = await buildApi({ district, live, store, ingest, schoolClockOffsetMs: 0, now, accounts, ...(o.limits ? { limits: o.limits } : {}) }, { logger });
  for (const [role, a] of Object.entries(ACCOUNTS) as [Role, (typeof ACCOUNTS)[Role]][]) {
    if (role === 'wall-display') continue;
    await accounts.createUser({ username: a.username, displayName: a.username, role, scope: a.scope, password: PASSWORD });
  }
  const app: FastifyInstance = built.app;

  const browser = async (login: LightMyRequestResponse): Promise<Browser> => {
    if (login.statusCode !== 200) throw new Error(`sign-in refused: ${login.statusCode} ${login.body}`);
    const cookie = cookieOf(login);
    const csrf = (login.json() as { csrfToken: string }).csrfToken;
    return {
      cookie,
      csrf,
      request: ({ method, url, body, csrf: sendCsrf = true, headers = {} }) =>
        app.inject({
          method: method as 'GET',
          url,
          headers: {
            cookie,
            ...(sendCsrf === false ? {} : { 'x-csrf-token': typeof sendCsrf === 'string' ? sendCsrf : csrf }),
            ...headers,
          },
          ...(body !== undefined ? { payload: body as object } : {}),
        }),
    };
  };
  const signIn = async (username: string, password = PASSWORD) =>
    browser(await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } }));

  const testApi: TestApi = {
    ...built,
    accounts,
    accountsFile,
    store,
    ingest,
    live,
    district,
    clock,
    signIn,
    browserOf: async (role) => {
      if (role !== 'wall-display') return signIn(ACCOUNTS[role].username);
      const { code } = await accounts.createDisplay({ name: 'Màn hình tường', scope: ACCOUNTS['wall-display'].scope, createdBy: 'admin' });
      return browser(await app.inject({ method: 'POST', url: '/api/auth/enroll', payload: { code } }));
    },
    close: async () => {
      await app.close();
      await ingest.close();
      await testApi.accounts.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return testApi;
}
