/**
 * Accounts made outside the API: the first district admin (an installer, from the command
 * line, before anyone can sign in) and a simulated district's demo accounts (npm start).
 * Both open the account file directly, so the cloud must not be running on it (DuckDB
 * lets one process hold a file; the error then says so).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Inventory, Role, Scope } from '@schoolops/device-profiles';
import { AccountStore } from './accounts.ts';

/** A password people can read off a screen and type: 4 groups of 4 letters and digits. */
export function readablePassword(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  const bytes = randomBytes(16);
  const chars = [...bytes].map((b) => alphabet[b % alphabet.length]);
  return [0, 4, 8, 12].map((i) => chars.slice(i, i + 4).join('')).join('-');
}

export async function openAccountsForCli(file: string): Promise<AccountStore> {
  try {
    return await AccountStore.open({ file });
  } catch (error) {
    const message = (error as Error).message;
    if (/lock/i.test(message)) throw new Error(`${file} is in use, most likely by the running cloud: stop it first, or add people in the dashboard (Tài khoản / Accounts)`);
    throw error;
  }
}

export interface DemoLogin {
  role: Role;
  username: string;
  password: string;
  schoolId: string | null;
}

export interface DemoAccounts {
  logins: DemoLogin[];
  /** One-time code for a wall display (works 15 minutes from now). */
  displayCode: string;
  /** A district-operator API token for the launcher's own checks (delivery) and the tests. */
  token: string;
}

/**
 * One account per role for a simulated district, with fresh passwords every start (the
 * last start's file is the one that holds): a district admin, a district operator, and the
 * first school's IT and principal. A wall display gets a one-time code and the launcher an
 * API token; the older launcher tokens are revoked.
 */
export async function seedDemoAccounts(file: string, inventory: Inventory): Promise<DemoAccounts> {
  const accounts = await openAccountsForCli(file);
  try {
    const first = inventory.schools[0]?.id ?? null;
    const wanted: { role: Role; username: string; displayName: string; scope: Scope; schoolId: string | null }[] = [
      { role: 'district-admin', username: 'admin', displayName: 'Quản trị Phòng GD&ĐT', scope: { all: true }, schoolId: null },
      { role: 'district-operator', username: 'dieu-hanh', displayName: 'Trung tâm điều hành', scope: { all: true }, schoolId: null },
    ];
    if (first) {
      wanted.push({ role: 'school-it', username: `it-${first}`, displayName: `Kỹ thuật viên ${first}`, scope: { all: false, schools: [first] }, schoolId: first });
      wanted.push({ role: 'principal', username: `hieu-truong-${first}`, displayName: `Hiệu trưởng ${first}`, scope: { all: false, schools: [first] }, schoolId: first });
    }
    const logins: DemoLogin[] = [];
    for (const w of wanted) {
      const password = readablePassword();
      if (accounts.getUser(w.username)) await accounts.updateUser(w.username, { password, role: w.role, scope: w.scope, disabled: false });
      else await accounts.createUser({ username: w.username, displayName: w.displayName, role: w.role, scope: w.scope, password });
      logins.push({ role: w.role, username: w.username, password, schoolId: w.schoolId });
    }
    for (const old of accounts.listTokens()) if (old.name === 'simulated district launcher' && old.revokedAt === null) await accounts.revokeToken(old.id);
    const { token } = await accounts.createToken({ name: 'simulated district launcher', role: 'district-operator', scope: { all: true }, createdBy: 'npm start', expiresAt: null });
    const { code } = await accounts.createDisplay({ name: 'Màn hình trung tâm điều hành (demo)', scope: { all: true }, createdBy: 'npm start' });
    await accounts.audit({ actor: 'npm start', action: 'demo.accounts', outcome: 'ok', detail: { users: logins.map((l) => l.username) } });
    return { logins, displayCode: code, token: token };
  } finally {
    await accounts.close();
  }
}

/** Write a secret for this machine's user only (0600), in a folder only they may list (0700). */
export function writeSecretFile(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}
