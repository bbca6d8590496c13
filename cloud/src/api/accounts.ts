/**
 * The district admin's desk: people, API tokens, wall displays and the audit log. Every
 * change is audited with who made it; secrets (a token, a display code) are shown once.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AccountError, type ApiToken, type AuditEntry, type Display, type User } from '../auth/accounts.ts';
import { actorOf } from '../auth/guard.ts';
import { sendError } from './errors.ts';
import { scopeProblem, type Role, type Scope } from '@schoolops/device-profiles';
import {
  AuditEntryView,
  AuditQuerystring,
  CreatedDisplay,
  CreatedToken,
  DisplayView,
  NewDisplay,
  NewToken,
  NewUser,
  TokenView,
  UserChange,
  UserView,
  Username,
} from '@schoolops/device-profiles/api';
import type { AuthContext } from './context.ts';
import { ErrorBody } from '@schoolops/device-profiles/api';

const schoolsOf = (scope: Scope) => (scope.all ? null : [...scope.schools]);
const userView = (u: User) => ({ username: u.username, displayName: u.displayName, role: u.role, schools: schoolsOf(u.scope), disabled: u.disabled, createdAt: u.createdAt, updatedAt: u.updatedAt });
const tokenView = (t: ApiToken) => ({ ...t, schools: schoolsOf(t.scope), scope: undefined });
const displayView = (d: Display) => ({ ...d, schools: schoolsOf(d.scope), scope: undefined });

/** One CSV cell: quoted when it holds a separator, a quote or a line break; formulas defused. */
function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  // A spreadsheet would run a cell starting with = + - @ as a formula: an audit export
  // must not carry an attacker's formula into the admin's spreadsheet.
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function auditCsv(entries: readonly AuditEntry[]): string {
  const columns = ['seq', 'ts', 'time', 'actor', 'action', 'outcome', 'schoolId', 'target', 'address', 'detail'] as const;
  const lines = [columns.join(',')];
  for (const e of entries) {
    lines.push([e.seq, e.ts, new Date(e.ts).toISOString(), e.actor, e.action, e.outcome, e.schoolId, e.target, e.address, e.detail].map(csvCell).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

export const accountRoutes: FastifyPluginAsyncTypebox<AuthContext> = async (app, { accounts, district }) => {
  /** The scope a request names, checked against the role and the district's schools. */
  const scopeFor = (role: Role, schools: readonly string[] | null | undefined): Scope | string => {
    const scope: Scope = schools ? { all: false, schools } : { all: true };
    const unknown = (schools ?? []).filter((id) => !district.schools.has(id));
    if (unknown.length) return `no school ${unknown.map((id) => `"${id}"`).join(', ')} in this district`;
    return scopeProblem(role, scope) ?? scope;
  };
  const audit = (request: { principal: import('@schoolops/device-profiles').Principal | null; ip: string }, action: string, target: string, detail: Record<string, unknown> = {}) =>
    accounts.audit({ actor: actorOf(request.principal), action, outcome: 'ok', target, address: request.ip, detail });

  // ---- users ----

  app.get('/users', { schema: { tags: ['accounts'], summary: 'Every person who may sign in', response: { 200: Type.Array(UserView) } } }, async () =>
    accounts.listUsers().map(userView),
  );

  app.post(
    '/users',
    { schema: { tags: ['accounts'], summary: 'Add a person', body: NewUser, response: { 201: UserView, 400: ErrorBody, 409: ErrorBody } } },
    async (request, reply) => {
      const scope = scopeFor(request.body.role, request.body.schools);
      if (typeof scope === 'string') return sendError(reply, 'bad_scope', { detail: scope });
      try {
        const user = await accounts.createUser({ ...request.body, scope });
        await audit(request, 'user.create', user.username, { role: user.role, schools: schoolsOf(user.scope) });
        return reply.code(201).send(userView(user));
      } catch (error) {
        if (error instanceof AccountError) return sendError(reply, error.code, error.params);
        throw error;
      }
    },
  );

  app.patch(
    '/users/:username',
    {
      schema: {
        tags: ['accounts'],
        summary: "Change a person's name, role, schools or password, or disable them (their sessions end)",
        params: Type.Object({ username: Username }),
        body: UserChange,
        response: { 200: UserView, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const current = accounts.getUser(request.params.username);
      if (!current) return sendError(reply, 'unknown_user', { username: request.params.username });
      const role = request.body.role ?? current.role;
      let scope: Scope | undefined;
      if (request.body.role !== undefined || request.body.schools !== undefined) {
        const checked = scopeFor(role, request.body.schools !== undefined ? request.body.schools : schoolsOf(current.scope));
        if (typeof checked === 'string') return sendError(reply, 'bad_scope', { detail: checked });
        scope = checked;
      }
      // An admin cannot lock the district out by demoting or disabling the last admin.
      const admins = accounts.listUsers().filter((u) => u.role === 'district-admin' && !u.disabled);
      const losesAdmin = current.role === 'district-admin' && (role !== 'district-admin' || request.body.disabled === true);
      if (losesAdmin && admins.length <= 1) return sendError(reply, 'last_admin');
      try {
        const { schools: _, ...rest } = request.body;
        const user = await accounts.updateUser(current.username, { ...rest, ...(scope ? { scope } : {}) });
        const changed = Object.keys(request.body).map((k) => (k === 'password' ? 'password' : k));
        await audit(request, 'user.update', user.username, { changed, role: user.role, schools: schoolsOf(user.scope), disabled: user.disabled });
        return userView(user);
      } catch (error) {
        if (error instanceof AccountError) return sendError(reply, error.code, error.params);
        throw error;
      }
    },
  );

  // ---- API tokens ----

  app.get('/tokens', { schema: { tags: ['accounts'], summary: 'API tokens (never their secret)', response: { 200: Type.Array(TokenView) } } }, async () =>
    accounts.listTokens().map(tokenView),
  );

  app.post(
    '/tokens',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Make an API token for a script or an integration: scoped to a role and schools, shown once',
        body: NewToken,
        response: { 201: CreatedToken, 400: ErrorBody },
      },
    },
    async (request, reply) => {
      const scope = scopeFor(request.body.role, request.body.schools);
      if (typeof scope === 'string') return sendError(reply, 'bad_scope', { detail: scope });
      const expiresAt = request.body.expiresInDays ? accounts.now() + request.body.expiresInDays * 86_400_000 : null;
      const { token, record } = await accounts.createToken({ name: request.body.name, role: request.body.role, scope, createdBy: actorOf(request.principal)!, expiresAt });
      await audit(request, 'token.create', record.id, { name: record.name, role: record.role, schools: schoolsOf(record.scope), expiresAt });
      return reply.code(201).send({ token, record: tokenView(record) });
    },
  );

  app.delete(
    '/tokens/:tokenId',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Revoke an API token (at once: its next request is refused)',
        params: Type.Object({ tokenId: Type.String({ maxLength: 64 }) }),
        response: { 200: TokenView, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      try {
        const record = await accounts.revokeToken(request.params.tokenId);
        await audit(request, 'token.revoke', record.id, { name: record.name });
        return tokenView(record);
      } catch (error) {
        if (error instanceof AccountError) return sendError(reply, error.code, error.params);
        throw error;
      }
    },
  );

  // ---- wall displays ----

  app.get('/displays', { schema: { tags: ['accounts'], summary: 'Wall displays, enrolled or waiting for their code', response: { 200: Type.Array(DisplayView) } } }, async () =>
    accounts.listDisplays().map(displayView),
  );

  app.post(
    '/displays/codes',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Make a one-time code to enroll a wall display (read-only; the district or a set of schools)',
        body: NewDisplay,
        response: { 201: CreatedDisplay, 400: ErrorBody },
      },
    },
    async (request, reply) => {
      const scope = scopeFor('wall-display', request.body.schools);
      if (typeof scope === 'string') return sendError(reply, 'bad_scope', { detail: scope });
      const { code, display } = await accounts.createDisplay({ name: request.body.name, scope, createdBy: actorOf(request.principal)! });
      await audit(request, 'display.create', display.id, { name: display.name, schools: schoolsOf(display.scope) });
      return reply.code(201).send({ code, display: displayView(display) });
    },
  );

  app.delete(
    '/displays/:displayId',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Revoke a wall display: its session ends at once',
        params: Type.Object({ displayId: Type.String({ maxLength: 64 }) }),
        response: { 200: DisplayView, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      try {
        const display = await accounts.revokeDisplay(request.params.displayId);
        await audit(request, 'display.revoke', display.id, { name: display.name });
        return displayView(display);
      } catch (error) {
        if (error instanceof AccountError) return sendError(reply, error.code, error.params);
        throw error;
      }
    },
  );

  // ---- audit log ----

  app.get(
    '/audit',
    {
      schema: {
        tags: ['accounts'],
        summary: 'The audit log, newest first; ?format=csv to export',
        querystring: AuditQuerystring,
        response: { 200: Type.Array(AuditEntryView) },
      },
    },
    async (request, reply) => {
      const { format, ...query } = request.query;
      const entries = await accounts.auditEntries(query);
      await audit(request, 'audit.read', format === 'csv' ? 'export' : 'list', { entries: entries.length });
      if (format === 'csv') {
        return reply
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="schoolops-audit-${new Date(accounts.now()).toISOString().slice(0, 10)}.csv"`)
          .serializer((body: unknown) => body as string)
          .send(auditCsv(entries) as never);
      }
      return entries;
    },
  );
};
