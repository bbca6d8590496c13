/**
 * Signing in and out: people with a username and password, wall displays with a one-time
 * code. A session is a random cookie (HttpOnly, SameSite=Strict, Secure on HTTPS) that the
 * server looks up; its CSRF token comes with /api/auth/me and must accompany every change.
 *
 * Guessing is slowed per account and per address: only failures count, and the answer to
 * a refused try says when to try again.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AccountError, type Session } from '../auth/accounts.ts';
import { FailureLimiter } from '../auth/failure-limiter.ts';
import { SESSION_COOKIE, SESSION_COOKIE_SECURE, actorOf, sessionCookieOf } from '../auth/guard.ts';
import { sendError } from './errors.ts';
import { permissionsOf, type Principal } from '@schoolops/device-profiles';
import { EnrollBody, LoginBody, Me, PasswordBody } from '@schoolops/device-profiles/api';
import type { AuthContext } from './context.ts';
import { ErrorBody } from '@schoolops/device-profiles/api';

/** A person's session lasts a school day; they sign in again the next morning. */
export const USER_SESSION_MS = 12 * 3600_000;
/** A wall display runs for months; it is revoked, not timed out. */
export const DISPLAY_SESSION_MS = 365 * 86_400_000;

export function meOf(principal: Principal, session: Session | null): Me {
  return {
    kind: principal.kind,
    id: principal.id,
    name: principal.name,
    role: principal.role,
    schools: principal.scope.all ? null : [...principal.scope.schools],
    permissions: [...permissionsOf(principal.role)],
    csrfToken: session?.csrf ?? null,
    expiresAt: session?.expiresAt ?? null,
  };
}

export const authRoutes: FastifyPluginAsyncTypebox<AuthContext> = async (app, { accounts, secureCookies, limits }) => {
  const now = accounts.now;
  const perAccount = new FailureLimiter({ maxFailures: limits?.perAccount ?? 5, windowMs: limits?.windowMs ?? 15 * 60_000, now });
  const perAddress = new FailureLimiter({ maxFailures: limits?.perAddress ?? 20, windowMs: limits?.windowMs ?? 15 * 60_000, now });

  const setCookie = (request: FastifyRequest, reply: FastifyReply, value: string, expiresAt: number) => {
    const secure = secureCookies ?? request.protocol === 'https';
    // __Host- promises the browser: Secure, this host only, path /; nobody on a sibling
    // host can plant or read it.
    reply.setCookie(secure ? SESSION_COOKIE_SECURE : SESSION_COOKIE, value, {
      httpOnly: true,
      secure,
      sameSite: 'strict',
      path: '/',
      expires: new Date(expiresAt),
    });
  };
  const clearCookie = (reply: FastifyReply) => {
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    reply.clearCookie(SESSION_COOKIE_SECURE, { path: '/', secure: true });
  };

  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign in with a username and password; sets the session cookie',
        body: LoginBody,
        response: { 200: Me, 400: ErrorBody, 401: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const username = request.body.username.trim().toLowerCase();
      const address = request.ip;
      const wait = Math.max(perAccount.retryAfterMs(username), perAddress.retryAfterMs(address));
      if (wait > 0) {
        await accounts.audit({ actor: null, action: 'login.limited', outcome: 'denied', target: username, address });
        reply.header('retry-after', Math.ceil(wait / 1000));
        return sendError(reply, 'too_many_tries', { what: 'failed sign-ins', minutes: Math.ceil(wait / 60_000) });
      }
      const user = await accounts.checkPassword(username, request.body.password);
      if (!user) {
        perAccount.fail(username);
        perAddress.fail(address);
        await accounts.audit({ actor: null, action: 'login.failed', outcome: 'failed', target: username, address });
        // The same answer whether the name or the password was wrong: no list of accounts.
        return sendError(reply, 'wrong_password');
      }
      perAccount.clear(username);
      const { cookie, session } = await accounts.createSession('user', user.username, USER_SESSION_MS);
      setCookie(request, reply, cookie, session.expiresAt);
      await accounts.audit({ actor: user.username, action: 'login', outcome: 'ok', address, detail: { role: user.role } });
      return meOf(accounts.principalOfSession(session)!, session);
    },
  );

  app.post(
    '/auth/enroll',
    {
      schema: {
        tags: ['auth'],
        summary: 'A wall display trades its one-time code for a long-lived session',
        body: EnrollBody,
        response: { 200: Me, 400: ErrorBody, 401: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const address = request.ip;
      const wait = perAddress.retryAfterMs(address);
      if (wait > 0) {
        reply.header('retry-after', Math.ceil(wait / 1000));
        return sendError(reply, 'too_many_tries', { what: 'wrong codes', minutes: Math.ceil(wait / 60_000) });
      }
      const enrolled = await accounts.enrollDisplay(request.body.code, DISPLAY_SESSION_MS);
      if (!enrolled) {
        perAddress.fail(address);
        await accounts.audit({ actor: null, action: 'display.enroll', outcome: 'failed', address });
        return sendError(reply, 'wrong_code');
      }
      setCookie(request, reply, enrolled.cookie, enrolled.session.expiresAt);
      await accounts.audit({ actor: `display:${enrolled.display.id}`, action: 'display.enroll', outcome: 'ok', address, target: enrolled.display.id });
      return meOf(accounts.principalOfSession(enrolled.session)!, enrolled.session);
    },
  );

  app.post(
    '/auth/logout',
    { schema: { tags: ['auth'], summary: 'End this session', response: { 204: Type204(), 401: ErrorBody, 403: ErrorBody } } },
    async (request, reply) => {
      const principal = request.principal!;
      if (principal.kind !== 'token') await accounts.endSession(principal.credentialId);
      clearCookie(reply);
      await accounts.audit({ actor: actorOf(principal), action: 'logout', outcome: 'ok', address: request.ip });
      return reply.code(204).send();
    },
  );

  app.get(
    '/auth/me',
    { schema: { tags: ['auth'], summary: 'Who is signed in, what they may do, and the CSRF token of this session', response: { 200: Me, 401: ErrorBody } } },
    async (request) => {
      const cookie = sessionCookieOf(request);
      const session = request.principal!.kind === 'token' || !cookie ? null : accounts.findSession(cookie);
      return meOf(request.principal!, session);
    },
  );

  app.post(
    '/auth/password',
    {
      schema: {
        tags: ['auth'],
        summary: 'Change your own password (ends every session of yours, this one included)',
        body: PasswordBody,
        response: { 204: Type204(), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = request.principal!;
      if (!(await accounts.checkPassword(principal.id, request.body.current))) {
        await accounts.audit({ actor: principal.id, action: 'password.change', outcome: 'failed', address: request.ip });
        return sendError(reply, 'wrong_current_password');
      }
      try {
        await accounts.updateUser(principal.id, { password: request.body.next });
      } catch (error) {
        if (error instanceof AccountError) return sendError(reply, error.code, error.params);
        throw error;
      }
      clearCookie(reply);
      await accounts.audit({ actor: principal.id, action: 'password.change', outcome: 'ok', address: request.ip });
      return reply.code(204).send();
    },
  );
};

/** An empty 204 body in the OpenAPI document. */
function Type204() {
  return { type: 'null', description: 'no content' } as const;
}
