// The district admin's calls: people, API tokens, wall displays and the audit log
// (cloud/src/api/accounts.ts). Every change goes through api.ts's request(), so it carries
// the CSRF token and a 401 or 403 is handled like anywhere else. No DOM here: unit-tested.

import { sendJson, request } from './api.ts';
import { isRole, type Role } from './auth.ts';

export const API_USERS = '/api/users';
export const API_TOKENS = '/api/tokens';
export const API_DISPLAYS = '/api/displays';
export const API_AUDIT = '/api/audit';

export interface UserRecord {
  username: string;
  displayName: string;
  role: Role;
  schools: string[] | null;
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  schools: string[] | null;
  createdBy: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

export interface DisplayRecord {
  id: string;
  name: string;
  schools: string[] | null;
  createdBy: string;
  createdAt: number;
  codeExpiresAt: number | null;
  enrolledAt: number | null;
  revokedAt: number | null;
}

export interface AuditEntry {
  seq: number;
  ts: number;
  actor: string | null;
  action: string;
  outcome: string;
  schoolId: string | null;
  target: string | null;
  address: string | null;
  detail: Record<string, unknown>;
}

// ---- shape checks ----

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const numOrNull = (v: unknown): number | null => (isNum(v) ? v : null);
const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);
function schoolsOf(v: unknown): string[] | null | undefined {
  if (v === null || v === undefined) return null;
  return Array.isArray(v) && v.every((s) => typeof s === 'string') ? [...v] : undefined;
}

export function toUserRecord(v: unknown): UserRecord | null {
  if (!isObj(v) || typeof v.username !== 'string' || typeof v.displayName !== 'string' || !isRole(v.role)) return null;
  const schools = schoolsOf(v.schools);
  if (schools === undefined) return null;
  return { username: v.username, displayName: v.displayName, role: v.role, schools, disabled: v.disabled === true, createdAt: numOrNull(v.createdAt) ?? 0, updatedAt: numOrNull(v.updatedAt) ?? 0 };
}

export function toTokenRecord(v: unknown): TokenRecord | null {
  if (!isObj(v) || typeof v.id !== 'string' || typeof v.name !== 'string' || !isRole(v.role)) return null;
  const schools = schoolsOf(v.schools);
  if (schools === undefined) return null;
  return {
    id: v.id,
    name: v.name,
    role: v.role,
    schools,
    createdBy: typeof v.createdBy === 'string' ? v.createdBy : '',
    createdAt: numOrNull(v.createdAt) ?? 0,
    expiresAt: numOrNull(v.expiresAt),
    revokedAt: numOrNull(v.revokedAt),
  };
}

export function toDisplayRecord(v: unknown): DisplayRecord | null {
  if (!isObj(v) || typeof v.id !== 'string' || typeof v.name !== 'string') return null;
  const schools = schoolsOf(v.schools);
  if (schools === undefined) return null;
  return {
    id: v.id,
    name: v.name,
    schools,
    createdBy: typeof v.createdBy === 'string' ? v.createdBy : '',
    createdAt: numOrNull(v.createdAt) ?? 0,
    codeExpiresAt: numOrNull(v.codeExpiresAt),
    enrolledAt: numOrNull(v.enrolledAt),
    revokedAt: numOrNull(v.revokedAt),
  };
}

export function toAuditEntry(v: unknown): AuditEntry | null {
  if (!isObj(v) || !isNum(v.seq) || !isNum(v.ts) || typeof v.action !== 'string' || typeof v.outcome !== 'string') return null;
  return {
    seq: v.seq,
    ts: v.ts,
    actor: strOrNull(v.actor),
    action: v.action,
    outcome: v.outcome,
    schoolId: strOrNull(v.schoolId),
    target: strOrNull(v.target),
    address: strOrNull(v.address),
    detail: isObj(v.detail) ? v.detail : {},
  };
}

function listOf<T>(url: string, body: unknown, parse: (v: unknown) => T | null): T[] {
  if (!Array.isArray(body)) throw new Error(`${url}: expected an array`);
  const out: T[] = [];
  for (const item of body) {
    const parsed = parse(item);
    if (parsed !== null) out.push(parsed);
  }
  return out;
}

function one<T>(url: string, body: unknown, parse: (v: unknown) => T | null): T {
  const parsed = parse(body);
  if (parsed === null) throw new Error(`${url}: unexpected shape`);
  return parsed;
}

async function getList<T>(url: string, parse: (v: unknown) => T | null, signal?: AbortSignal): Promise<T[]> {
  const res = await request(url, { signal });
  return listOf(url, await res.json(), parse);
}

// ---- people ----

export const fetchUsers = (signal?: AbortSignal) => getList(API_USERS, toUserRecord, signal);

export interface NewUser {
  username: string;
  displayName: string;
  role: Role;
  /** null (or absent) for the whole district. */
  schools: string[] | null;
  password: string;
}

export async function createUser(user: NewUser): Promise<UserRecord> {
  const body: Obj = { username: user.username, displayName: user.displayName, role: user.role, password: user.password };
  if (user.schools !== null) body.schools = user.schools;
  return one(API_USERS, await sendJson(API_USERS, 'POST', body), toUserRecord);
}

export async function setUserDisabled(username: string, disabled: boolean): Promise<UserRecord> {
  const url = `${API_USERS}/${encodeURIComponent(username)}`;
  return one(url, await sendJson(url, 'PATCH', { disabled }), toUserRecord);
}

// ---- API tokens ----

export const fetchTokens = (signal?: AbortSignal) => getList(API_TOKENS, toTokenRecord, signal);

export interface NewToken {
  name: string;
  role: Role;
  schools: string[] | null;
  expiresInDays: number | null;
}

/** The token itself comes back this once; the page shows it and then forgets it. */
export async function createToken(t: NewToken): Promise<{ token: string; record: TokenRecord }> {
  const body: Obj = { name: t.name, role: t.role };
  if (t.schools !== null) body.schools = t.schools;
  if (t.expiresInDays !== null) body.expiresInDays = t.expiresInDays;
  const answer = await sendJson(API_TOKENS, 'POST', body);
  if (!isObj(answer) || typeof answer.token !== 'string') throw new Error(`${API_TOKENS}: unexpected shape`);
  return { token: answer.token, record: one(API_TOKENS, answer.record, toTokenRecord) };
}

export async function revokeToken(id: string): Promise<TokenRecord> {
  const url = `${API_TOKENS}/${encodeURIComponent(id)}`;
  return one(url, await sendJson(url, 'DELETE'), toTokenRecord);
}

// ---- wall displays ----

export const fetchDisplays = (signal?: AbortSignal) => getList(API_DISPLAYS, toDisplayRecord, signal);

/** A one-time enrollment code, shown this once. */
export async function createDisplayCode(name: string, schools: string[] | null): Promise<{ code: string; display: DisplayRecord }> {
  const url = `${API_DISPLAYS}/codes`;
  const body: Obj = { name };
  if (schools !== null) body.schools = schools;
  const answer = await sendJson(url, 'POST', body);
  if (!isObj(answer) || typeof answer.code !== 'string') throw new Error(`${url}: unexpected shape`);
  return { code: answer.code, display: one(url, answer.display, toDisplayRecord) };
}

export async function revokeDisplay(id: string): Promise<DisplayRecord> {
  const url = `${API_DISPLAYS}/${encodeURIComponent(id)}`;
  return one(url, await sendJson(url, 'DELETE'), toDisplayRecord);
}

// ---- audit log ----

export interface AuditFilter {
  action?: string;
  actor?: string;
  limit?: number;
}

/** The audit log's address for a filter; `csv` for the export link (the same filter). */
export function auditUrl(filter: AuditFilter, csv = false): string {
  const params = new URLSearchParams();
  const action = filter.action?.trim();
  const actor = filter.actor?.trim();
  if (action) params.set('action', action);
  if (actor) params.set('actor', actor);
  if (filter.limit !== undefined && !csv) params.set('limit', String(filter.limit));
  if (csv) params.set('format', 'csv');
  const query = params.toString();
  return query === '' ? API_AUDIT : `${API_AUDIT}?${query}`;
}

/** Newest first, whatever order the cloud answered in. */
export async function fetchAudit(filter: AuditFilter, signal?: AbortSignal): Promise<AuditEntry[]> {
  const entries = await getList(auditUrl(filter), toAuditEntry, signal);
  return newestFirst(entries);
}

export function newestFirst(entries: readonly AuditEntry[]): AuditEntry[] {
  return [...entries].sort((a, b) => b.ts - a.ts || b.seq - a.seq);
}
