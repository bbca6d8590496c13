/**
 * People, API tokens, wall displays, their sessions and the audit log: the district's own
 * DuckDB file (`<dataDir>/accounts.duckdb`), apart from the readings so that a reading
 * flood never waits on a sign-in and a backup of who-may-do-what is small.
 *
 * Everything a request check needs is also held in memory (a district has hundreds of
 * accounts, not millions), so checking a session costs no query; every change is written
 * to the file first and only then to memory, so what a check sees has survived a restart.
 *
 * Secrets are never stored as given: passwords as scrypt hashes, session ids and API
 * tokens as SHA-256 (they are 256 random bits: nothing to brute-force, and a stolen file
 * opens no session), one-time display codes likewise.
 *
 * The audit log is append-only: this module has no way to change or delete an entry, and
 * each entry carries the hash of the one before it, so an entry removed or edited in the
 * file by other means breaks the chain that `verifyAudit()` walks.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { hashPassword, verifyPassword } from '@schoolops/broker';
import { isRole, type Principal, type Role, type Scope } from '@schoolops/device-profiles';
import { errorBody, type ApiErrorCode, type ErrorParams } from '@schoolops/device-profiles/api';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  username      VARCHAR PRIMARY KEY,
  display_name  VARCHAR NOT NULL,
  role          VARCHAR NOT NULL,
  schools       VARCHAR,            -- JSON array of school ids; NULL = the whole district
  password_hash VARCHAR NOT NULL,
  disabled      BOOLEAN NOT NULL,
  created_at    BIGINT  NOT NULL,
  updated_at    BIGINT  NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
  id          VARCHAR PRIMARY KEY,
  name        VARCHAR NOT NULL,
  role        VARCHAR NOT NULL,
  schools     VARCHAR,
  secret_hash VARCHAR NOT NULL,
  created_by  VARCHAR NOT NULL,
  created_at  BIGINT  NOT NULL,
  expires_at  BIGINT,
  revoked_at  BIGINT
);
CREATE TABLE IF NOT EXISTS displays (
  id         VARCHAR PRIMARY KEY,
  name       VARCHAR NOT NULL,
  schools    VARCHAR,
  created_by VARCHAR NOT NULL,
  created_at BIGINT  NOT NULL,
  code_hash  VARCHAR,               -- the one-time enrollment code, until used
  code_expires_at BIGINT,
  enrolled_at BIGINT,
  revoked_at BIGINT
);
CREATE TABLE IF NOT EXISTS sessions (
  id_hash    VARCHAR PRIMARY KEY,
  kind       VARCHAR NOT NULL,      -- 'user' or 'display'
  subject    VARCHAR NOT NULL,      -- username or display id
  csrf       VARCHAR NOT NULL,
  created_at BIGINT  NOT NULL,
  expires_at BIGINT  NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
  seq        BIGINT  PRIMARY KEY,
  ts         BIGINT  NOT NULL,
  actor      VARCHAR,               -- who: a username, token:<id>, display:<id>, or NULL (nobody signed in)
  action     VARCHAR NOT NULL,
  outcome    VARCHAR NOT NULL,      -- ok | denied | failed | error
  school_id  VARCHAR,
  target     VARCHAR,
  address    VARCHAR,
  detail     VARCHAR,               -- JSON
  prev_hash  VARCHAR NOT NULL,
  hash       VARCHAR NOT NULL
);
`;

export const USERNAME = /^[a-z0-9][a-z0-9._-]{1,63}$/;
export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 256;
/** How long a one-time display code may wait to be used. */
export const ENROLL_CODE_TTL_MS = 15 * 60_000;

export interface User {
  username: string;
  displayName: string;
  role: Role;
  scope: Scope;
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  scope: Scope;
  createdBy: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

export interface Display {
  id: string;
  name: string;
  scope: Scope;
  createdBy: string;
  createdAt: number;
  /** Until enrolled: when its code stops working. */
  codeExpiresAt: number | null;
  enrolledAt: number | null;
  revokedAt: number | null;
}

export interface Session {
  idHash: string;
  kind: 'user' | 'display';
  subject: string;
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

export type AuditOutcome = 'ok' | 'denied' | 'failed' | 'error';

export interface AuditEntryInput {
  actor: string | null;
  action: string;
  outcome: AuditOutcome;
  schoolId?: string | null;
  target?: string | null;
  address?: string | null;
  detail?: Record<string, unknown>;
}

export interface AuditEntry extends Required<Omit<AuditEntryInput, 'detail'>> {
  seq: number;
  ts: number;
  detail: Record<string, unknown>;
}

export interface AuditQuery {
  since?: number;
  until?: number;
  action?: string;
  actor?: string;
  limit?: number;
}

/** A change refused, as an error of the API's catalog (the routes answer it as it is). */
export class AccountError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: ApiErrorCode,
    readonly params: ErrorParams = {},
  ) {
    const body = errorBody(code, params);
    super(body.message);
    this.statusCode = body.statusCode;
  }
}

export interface AccountStoreOptions {
  file: string;
  now?: () => number;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');
const token = (bytes = 32) => randomBytes(bytes).toString('base64url');
const scopeToDb = (scope: Scope) => (scope.all ? null : JSON.stringify([...scope.schools].sort()));
const scopeFromDb = (text: string | null): Scope => (text === null ? { all: true } : { all: false, schools: JSON.parse(text) as string[] });
/** A comparison that takes as long for a near miss as for a far one. */
const sameText = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
/** Display codes: easy to read off one screen and type on another (no 0/O, 1/I/L). */
const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

/** A hash no password matches, checked when the username is unknown so both cases cost one scrypt. */
let dummyHash: Promise<string> | null = null;

export class AccountStore {
  private readonly users = new Map<string, User & { passwordHash: string }>();
  private readonly tokens = new Map<string, ApiToken & { secretHash: string }>();
  private readonly displays = new Map<string, Display & { codeHash: string | null }>();
  private readonly sessions = new Map<string, Session>();
  /** Writes one at a time, in order; never rejects (each caller gets its own result). */
  private chain: Promise<unknown> = Promise.resolve();
  private auditSeq = 0;
  private auditHash = 'genesis';
  private closed = false;
  private readonly listeners = new Set<() => void>();
  readonly now: () => number;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly db: DuckDBConnection,
    now: () => number,
  ) {
    this.now = now;
  }

  static async open(options: AccountStoreOptions): Promise<AccountStore> {
    await mkdir(dirname(options.file), { recursive: true });
    const instance = await DuckDBInstance.create(options.file);
    try {
      const db = await instance.connect();
      await db.run(SCHEMA);
      const store = new AccountStore(instance, db, options.now ?? Date.now);
      await store.load();
      return store;
    } catch (error) {
      instance.closeSync();
      throw error;
    }
  }

  private async rows(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    const reader = await this.db.runAndReadAll(sql, params as never);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  }

  private async load(): Promise<void> {
    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    for (const r of await this.rows('SELECT * FROM users')) {
      if (!isRole(r.role)) continue; // a role this version does not know grants nothing
      this.users.set(String(r.username), {
        username: String(r.username),
        displayName: String(r.display_name),
        role: r.role,
        scope: scopeFromDb(r.schools as string | null),
        passwordHash: String(r.password_hash),
        disabled: Boolean(r.disabled),
        createdAt: Number(r.created_at),
        updatedAt: Number(r.updated_at),
      });
    }
    for (const r of await this.rows('SELECT * FROM tokens')) {
      if (!isRole(r.role)) continue;
      this.tokens.set(String(r.id), {
        id: String(r.id),
        name: String(r.name),
        role: r.role,
        scope: scopeFromDb(r.schools as string | null),
        secretHash: String(r.secret_hash),
        createdBy: String(r.created_by),
        createdAt: Number(r.created_at),
        expiresAt: num(r.expires_at),
        revokedAt: num(r.revoked_at),
      });
    }
    for (const r of await this.rows('SELECT * FROM displays')) {
      this.displays.set(String(r.id), {
        id: String(r.id),
        name: String(r.name),
        scope: scopeFromDb(r.schools as string | null),
        createdBy: String(r.created_by),
        createdAt: Number(r.created_at),
        codeHash: (r.code_hash as string | null) ?? null,
        codeExpiresAt: num(r.code_expires_at),
        enrolledAt: num(r.enrolled_at),
        revokedAt: num(r.revoked_at),
      });
    }
    const now = this.now();
    await this.db.run('DELETE FROM sessions WHERE expires_at <= ?', [BigInt(now)]);
    for (const r of await this.rows('SELECT * FROM sessions')) {
      this.sessions.set(String(r.id_hash), {
        idHash: String(r.id_hash),
        kind: r.kind === 'display' ? 'display' : 'user',
        subject: String(r.subject),
        csrf: String(r.csrf),
        createdAt: Number(r.created_at),
        expiresAt: Number(r.expires_at),
      });
    }
    const last = await this.rows('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
    if (last[0]) {
      this.auditSeq = Number(last[0].seq);
      this.auditHash = String(last[0].hash);
    }
  }

  /**
   * Call `listener` after any change that may take rights away (a session ended, a user
   * changed, a token or display revoked): holders of live connections look again.
   */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  /** Run `fn` after every write before it; its own failure is its caller's, never the chain's. */
  private write<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the account store is closed'));
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  // ---- users ----------------------------------------------------------------------------

  get userCount(): number {
    return this.users.size;
  }

  listUsers(): User[] {
    return [...this.users.values()].map(publicUser).sort((a, b) => a.username.localeCompare(b.username));
  }

  getUser(username: string): User | undefined {
    const user = this.users.get(username);
    return user && publicUser(user);
  }

  async createUser(input: { username: string; displayName: string; role: Role; scope: Scope; password: string }): Promise<User> {
    if (!USERNAME.test(input.username)) throw new AccountError('bad_username');
    passwordProblemOrThrow(input.password);
    const passwordHash = await hashPassword(input.password);
    return this.write(async () => {
      if (this.users.has(input.username)) throw new AccountError('user_exists', { username: input.username });
      const now = this.now();
      await this.db.run('INSERT INTO users VALUES (?, ?, ?, ?, ?, false, ?, ?)', [
        input.username,
        input.displayName,
        input.role,
        scopeToDb(input.scope),
        passwordHash,
        BigInt(now),
        BigInt(now),
      ] as never);
      const user = { username: input.username, displayName: input.displayName, role: input.role, scope: input.scope, passwordHash, disabled: false, createdAt: now, updatedAt: now };
      this.users.set(user.username, user);
      return publicUser(user);
    });
  }

  /**
   * Change a user. A new password, a new role or scope, or disabling ends every session of
   * theirs: whatever they were allowed to see before must not outlive the change.
   */
  async updateUser(username: string, change: { displayName?: string; role?: Role; scope?: Scope; disabled?: boolean; password?: string }): Promise<User> {
    if (change.password !== undefined) passwordProblemOrThrow(change.password);
    const passwordHash = change.password !== undefined ? await hashPassword(change.password) : undefined;
    return this.write(async () => {
      const user = this.users.get(username);
      if (!user) throw new AccountError('unknown_user', { username });
      const next = {
        ...user,
        ...(change.displayName !== undefined ? { displayName: change.displayName } : {}),
        ...(change.role !== undefined ? { role: change.role } : {}),
        ...(change.scope !== undefined ? { scope: change.scope } : {}),
        ...(change.disabled !== undefined ? { disabled: change.disabled } : {}),
        ...(passwordHash !== undefined ? { passwordHash } : {}),
        updatedAt: this.now(),
      };
      await this.db.run('UPDATE users SET display_name = ?, role = ?, schools = ?, password_hash = ?, disabled = ?, updated_at = ? WHERE username = ?', [
        next.displayName,
        next.role,
        scopeToDb(next.scope),
        next.passwordHash,
        next.disabled,
        BigInt(next.updatedAt),
        username,
      ] as never);
      this.users.set(username, next);
      const powersChanged = change.password !== undefined || change.role !== undefined || change.scope !== undefined || change.disabled === true;
      if (powersChanged) await this.endSessionsOfLocked('user', username);
      return publicUser(next);
    }).finally(() => this.changed());
  }

  /** The user when the password is theirs and they are not disabled; costs one scrypt either way. */
  async checkPassword(username: string, password: string): Promise<User | null> {
    const user = this.users.get(username);
    dummyHash ??= hashPassword(token(16));
    const ok = await verifyPassword(password.slice(0, PASSWORD_MAX), user?.passwordHash ?? (await dummyHash));
    if (!ok || !user || user.disabled) return null;
    return publicUser(user);
  }

  // ---- sessions -------------------------------------------------------------------------

  /** A new session: the cookie value (returned once, stored hashed) and its CSRF token. */
  async createSession(kind: Session['kind'], subject: string, ttlMs: number): Promise<{ cookie: string; session: Session }> {
    const cookie = token();
    const now = this.now();
    const session: Session = { idHash: sha256(cookie), kind, subject, csrf: token(), createdAt: now, expiresAt: now + ttlMs };
    await this.write(async () => {
      await this.db.run('INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)', [session.idHash, kind, subject, session.csrf, BigInt(now), BigInt(session.expiresAt)] as never);
      this.sessions.set(session.idHash, session);
    });
    return { cookie, session };
  }

  /** The live session of a cookie value, or null (unknown, expired, or its owner gone). */
  findSession(cookie: string): Session | null {
    if (cookie.length < 16 || cookie.length > 128) return null;
    const session = this.sessions.get(sha256(cookie));
    if (!session) return null;
    if (session.expiresAt <= this.now()) return null;
    return session;
  }

  /** The principal a session stands for, or null when its user is disabled or display revoked. */
  principalOfSession(session: Session): Principal | null {
    if (session.kind === 'user') {
      const user = this.users.get(session.subject);
      if (!user || user.disabled) return null;
      return { kind: 'user', id: user.username, name: user.displayName, role: user.role, scope: user.scope, credentialId: session.idHash };
    }
    const display = this.displays.get(session.subject);
    if (!display || display.revokedAt !== null) return null;
    return { kind: 'display', id: display.id, name: display.name, role: 'wall-display', scope: display.scope, credentialId: session.idHash };
  }

  async endSession(idHash: string): Promise<void> {
    await this.write(async () => {
      await this.db.run('DELETE FROM sessions WHERE id_hash = ?', [idHash]);
      this.sessions.delete(idHash);
    });
    this.changed();
  }

  /** Inside a write: end every session of a user or display. */
  private async endSessionsOfLocked(kind: Session['kind'], subject: string): Promise<void> {
    await this.db.run('DELETE FROM sessions WHERE kind = ? AND subject = ?', [kind, subject]);
    for (const [id, s] of this.sessions) if (s.kind === kind && s.subject === subject) this.sessions.delete(id);
  }

  /** Sessions that are still valid (for counting). */
  get sessionCount(): number {
    const now = this.now();
    return [...this.sessions.values()].filter((s) => s.expiresAt > now).length;
  }

  // ---- API tokens ---------------------------------------------------------------------

  /** A new token: its text is returned here once and never again (only its hash is kept). */
  async createToken(input: { name: string; role: Role; scope: Scope; createdBy: string; expiresAt: number | null }): Promise<{ token: string; record: ApiToken }> {
    const id = token(9);
    const secret = token();
    const record = { id, name: input.name, role: input.role, scope: input.scope, createdBy: input.createdBy, createdAt: this.now(), expiresAt: input.expiresAt, revokedAt: null };
    await this.write(async () => {
      await this.db.run('INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)', [
        id,
        record.name,
        record.role,
        scopeToDb(record.scope),
        sha256(secret),
        record.createdBy,
        BigInt(record.createdAt),
        record.expiresAt === null ? null : BigInt(record.expiresAt),
      ] as never);
      this.tokens.set(id, { ...record, secretHash: sha256(secret) });
    });
    return { token: `sot_${id}_${secret}`, record };
  }

  /** The principal of a bearer token, or null (malformed, unknown, wrong secret, expired, revoked). */
  principalOfToken(text: string): Principal | null {
    const match = /^sot_([A-Za-z0-9_-]{12})_([A-Za-z0-9_-]{43})$/.exec(text);
    if (!match) return null;
    const record = this.tokens.get(match[1]!);
    if (!record || !sameText(record.secretHash, sha256(match[2]!))) return null;
    if (record.revokedAt !== null || (record.expiresAt !== null && record.expiresAt <= this.now())) return null;
    return { kind: 'token', id: record.id, name: record.name, role: record.role, scope: record.scope, credentialId: record.id };
  }

  listTokens(): ApiToken[] {
    return [...this.tokens.values()].map(({ secretHash: _, ...t }) => t).sort((a, b) => a.createdAt - b.createdAt);
  }

  async revokeToken(id: string): Promise<ApiToken> {
    return this.write(async () => {
      const record = this.tokens.get(id);
      if (!record) throw new AccountError('unknown_token', { tokenId: id });
      if (record.revokedAt === null) {
        const now = this.now();
        await this.db.run('UPDATE tokens SET revoked_at = ? WHERE id = ?', [BigInt(now), id] as never);
        record.revokedAt = now;
      }
      const { secretHash: _, ...t } = record;
      return t;
    }).finally(() => this.changed());
  }

  // ---- wall displays --------------------------------------------------------------------

  /** A display to enroll, and its one-time code (shown once; works for ENROLL_CODE_TTL_MS). */
  async createDisplay(input: { name: string; scope: Scope; createdBy: string }): Promise<{ code: string; display: Display }> {
    const code = Array.from({ length: 10 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('');
    const now = this.now();
    const display = { id: `d-${token(6)}`, name: input.name, scope: input.scope, createdBy: input.createdBy, createdAt: now, codeExpiresAt: now + ENROLL_CODE_TTL_MS, enrolledAt: null, revokedAt: null };
    await this.write(async () => {
      await this.db.run('INSERT INTO displays VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)', [
        display.id,
        display.name,
        scopeToDb(display.scope),
        display.createdBy,
        BigInt(now),
        sha256(normalizeCode(code)),
        BigInt(display.codeExpiresAt),
      ] as never);
      this.displays.set(display.id, { ...display, codeHash: sha256(normalizeCode(code)) });
    });
    return { code: `${code.slice(0, 5)}-${code.slice(5)}`, display };
  }

  /** Trade a one-time code for a long-lived display session; null when the code is not (or no longer) good. */
  async enrollDisplay(code: string, ttlMs: number): Promise<{ display: Display; cookie: string; session: Session } | null> {
    const hash = sha256(normalizeCode(code));
    const display = await this.write(async () => {
      const now = this.now();
      const found = [...this.displays.values()].find((d) => d.codeHash !== null && sameText(d.codeHash, hash));
      if (!found || found.revokedAt !== null || (found.codeExpiresAt ?? 0) <= now) return null;
      // Used once: the code is gone before the session exists.
      await this.db.run('UPDATE displays SET code_hash = NULL, enrolled_at = ? WHERE id = ?', [BigInt(now), found.id] as never);
      found.codeHash = null;
      found.enrolledAt = now;
      return found;
    });
    if (!display) return null;
    const { cookie, session } = await this.createSession('display', display.id, ttlMs);
    const { codeHash: _, ...pub } = display;
    return { display: pub, cookie, session };
  }

  listDisplays(): Display[] {
    return [...this.displays.values()].map(({ codeHash: _, ...d }) => d).sort((a, b) => a.createdAt - b.createdAt);
  }

  async revokeDisplay(id: string): Promise<Display> {
    return this.write(async () => {
      const display = this.displays.get(id);
      if (!display) throw new AccountError('unknown_display', { displayId: id });
      if (display.revokedAt === null) {
        const now = this.now();
        await this.db.run('UPDATE displays SET revoked_at = ?, code_hash = NULL WHERE id = ?', [BigInt(now), id] as never);
        display.revokedAt = now;
        display.codeHash = null;
      }
      await this.endSessionsOfLocked('display', id);
      const { codeHash: _, ...d } = display;
      return d;
    }).finally(() => this.changed());
  }

  // ---- audit ----------------------------------------------------------------------------

  /** Append to the audit log; resolves once the entry is in the file. */
  audit(input: AuditEntryInput): Promise<AuditEntry> {
    return this.write(async () => {
      const entry: AuditEntry = {
        seq: this.auditSeq + 1,
        ts: this.now(),
        actor: input.actor,
        action: input.action,
        outcome: input.outcome,
        schoolId: input.schoolId ?? null,
        target: input.target ?? null,
        address: input.address ?? null,
        detail: input.detail ?? {},
      };
      const hash = auditHash(this.auditHash, entry);
      await this.db.run('INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [
        BigInt(entry.seq),
        BigInt(entry.ts),
        entry.actor,
        entry.action,
        entry.outcome,
        entry.schoolId,
        entry.target,
        entry.address,
        JSON.stringify(entry.detail),
        this.auditHash,
        hash,
      ] as never);
      this.auditSeq = entry.seq;
      this.auditHash = hash;
      return entry;
    });
  }

  /** Audit entries, newest first. */
  async auditEntries(q: AuditQuery = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.since !== undefined) (where.push('ts >= ?'), params.push(BigInt(q.since)));
    if (q.until !== undefined) (where.push('ts < ?'), params.push(BigInt(q.until)));
    if (q.action !== undefined) (where.push('action = ?'), params.push(q.action));
    if (q.actor !== undefined) (where.push('actor = ?'), params.push(q.actor));
    const limit = Math.min(Math.max(1, q.limit ?? 1000), 100_000);
    // Through the chain: an entry appended just before is always seen.
    const rows = await this.write(() =>
      this.rows(`SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ${limit}`, params),
    );
    return rows.map(auditFromRow);
  }

  /** Walk the whole chain: the first seq whose hash does not follow, or null when intact. */
  async verifyAudit(): Promise<{ entries: number; brokenAt: number | null }> {
    const rows = await this.write(() => this.rows('SELECT * FROM audit ORDER BY seq'));
    let prev = 'genesis';
    for (const row of rows) {
      const entry = auditFromRow(row);
      if (row.prev_hash !== prev || auditHash(prev, entry) !== row.hash) return { entries: rows.length, brokenAt: entry.seq };
      prev = String(row.hash);
    }
    return { entries: rows.length, brokenAt: null };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.chain;
    this.closed = true;
    this.db.closeSync();
    this.instance.closeSync();
  }
}

function publicUser(user: User & { passwordHash?: string }): User {
  const { passwordHash: _, ...rest } = user;
  return rest;
}

export function passwordProblem(password: string): string | null {
  if (password.length < PASSWORD_MIN) return `a password has at least ${PASSWORD_MIN} characters`;
  if (password.length > PASSWORD_MAX) return `a password has at most ${PASSWORD_MAX} characters`;
  return null;
}

function passwordProblemOrThrow(password: string): void {
  if (passwordProblem(password)) throw new AccountError('bad_password', { min: PASSWORD_MIN, max: PASSWORD_MAX });
}

function normalizeCode(code: string): string {
  return code.toUpperCase().replace(/[^A-Z0-9]/g, '');
}

function auditHash(prev: string, e: AuditEntry): string {
  return createHash('sha256')
    .update(JSON.stringify([prev, e.seq, e.ts, e.actor, e.action, e.outcome, e.schoolId, e.target, e.address, e.detail]))
    .digest('base64url');
}

function auditFromRow(r: Record<string, unknown>): AuditEntry {
  return {
    seq: Number(r.seq),
    ts: Number(r.ts),
    actor: (r.actor as string | null) ?? null,
    action: String(r.action),
    outcome: r.outcome as AuditOutcome,
    schoolId: (r.school_id as string | null) ?? null,
    target: (r.target as string | null) ?? null,
    address: (r.address as string | null) ?? null,
    detail: JSON.parse(String(r.detail ?? '{}')) as Record<string, unknown>,
  };
}
