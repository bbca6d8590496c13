/**
 * The server-side check in front of every /api route: who is asking (a session cookie or a
 * bearer token), and may they, by the route's rule in policy.ts. It runs before the body
 * is parsed, so nobody unsigned gets as far as a handler.
 *
 * Installed on the root instance before any route, so its onRoute hook sees every route:
 * one under /api with no rule in the policy table stops the server at start.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DistrictIndex } from '../inventory.ts';
import type { AccountStore } from './accounts.ts';
import { decide, decideRoute, maySeeKind, routeRule, type Principal } from '@schoolops/device-profiles';
import { FailureLimiter } from './failure-limiter.ts';
import { API_ERRORS } from '@schoolops/device-profiles/api';
import { sendError } from '../api/errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request; null on public routes (and before the guard ran). */
    principal: Principal | null;
    /**
     * What a handler adds to its route's audit entry (the id of what it made, say), beside
     * the status, query and body the entry always has.
     */
    auditDetail: Record<string, unknown> | null;
  }
}

export const SESSION_COOKIE = 'schoolops_session';
export const SESSION_COOKIE_SECURE = '__Host-schoolops_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Counters of refused requests, by reason (shown to operators; an attack shows up here). */
export interface GuardStats {
  unauthenticated: number;
  badCredential: number;
  csrf: number;
  forbidden: number;
}

export interface GuardOptions {
  accounts: AccountStore;
  district: DistrictIndex;
}

/** The actor string the audit log uses for a principal. */
export function actorOf(principal: Principal | null): string | null {
  if (!principal) return null;
  return principal.kind === 'user' ? principal.id : `${principal.kind}:${principal.id}`;
}


/** The principal of a raw Cookie header (socket.io handshakes), or null. */
export function sessionPrincipalFromCookieHeader(accounts: AccountStore, app: { parseCookie(header: string): Record<string, string | undefined> }, header: string | undefined): Principal | null {
  if (!header) return null;
  const cookies = app.parseCookie(header);
  const value = cookies[SESSION_COOKIE_SECURE] ?? cookies[SESSION_COOKIE];
  const session = value ? accounts.findSession(value) : null;
  return session ? accounts.principalOfSession(session) : null;
}

/** The session cookie's value, under whichever name this server sets. */
export function sessionCookieOf(request: FastifyRequest): string | undefined {
  return request.cookies[SESSION_COOKIE_SECURE] ?? request.cookies[SESSION_COOKIE];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any server and type provider
export function installGuard(app: FastifyInstance<any, any, any, any, any>, { accounts, district }: GuardOptions): { stats: GuardStats } {
  const stats: GuardStats = { unauthenticated: 0, badCredential: 0, csrf: 0, forbidden: 0 };
  // Refusals are audited, but a scanner must not be able to fill the log: at most this many
  // entries per address per minute, the rest only counted.
  const auditBudget = new FailureLimiter({ maxFailures: 30, windowMs: 60_000, now: accounts.now });

  app.decorateRequest('principal', null);
  app.decorateRequest('auditDetail', null);

  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api')) return;
    for (const method of [route.method].flat()) {
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      if (!routeRule(method, route.url)) throw new Error(`route ${method} ${route.url} has no rule in device-profiles/src/policy.ts: add one (who may call it, about which school)`);
    }
  });

  const refuse = (request: FastifyRequest, reply: FastifyReply, code: 'not_signed_in' | 'forbidden' | 'csrf', reason: string, counter: keyof GuardStats) => {
    const statusCode = API_ERRORS[code].status;
    stats[counter]++;
    const address = request.ip;
    if (auditBudget.retryAfterMs(address) === 0) {
      auditBudget.fail(address);
      void accounts
        .audit({
          actor: actorOf(request.principal),
          action: 'access.denied',
          outcome: 'denied',
          target: `${request.method} ${request.url.slice(0, 200)}`,
          address,
          detail: { status: statusCode, reason },
        })
        .catch((error: unknown) => request.log.warn({ error: String(error) }, 'audit write failed'));
    }
    return sendError(reply, code, { detail: reason });
  };

  app.addHook('onRequest', async (request, reply) => {
    const url = request.routeOptions.url;
    if (!url?.startsWith('/api')) return;
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const rule = routeRule(method, url);
    if (!rule) return; // OPTIONS and the like: no handler of ours runs
    if (rule.about === 'public') return;

    // Who: a bearer token (scripts, integrations) or a session cookie (people, displays).
    const authorization = request.headers.authorization;
    let principal: Principal | null = null;
    if (authorization !== undefined) {
      const match = /^Bearer (\S{1,200})$/.exec(authorization);
      principal = match ? accounts.principalOfToken(match[1]!) : null;
      if (!principal) return refuse(request, reply, 'not_signed_in', 'the bearer token is malformed, unknown, expired or revoked', 'badCredential');
    } else {
      const cookie = sessionCookieOf(request);
      if (cookie === undefined) return refuse(request, reply, 'not_signed_in', 'sign in first (POST /api/auth/login), or send an API token as "Authorization: Bearer ..."', 'unauthenticated');
      const session = accounts.findSession(cookie);
      principal = session ? accounts.principalOfSession(session) : null;
      if (!session || !principal) return refuse(request, reply, 'not_signed_in', 'your session has expired or was ended: sign in again', 'badCredential');
      // A cookie rides along with any request the browser makes, so a state change must
      // also prove it came from our page: the session's CSRF token, which another site
      // cannot read.
      if (!SAFE_METHODS.has(request.method)) {
        const sent = request.headers[CSRF_HEADER];
        if (typeof sent !== 'string' || sent !== session.csrf) {
          request.principal = principal;
          return refuse(request, reply, 'csrf', `missing or wrong CSRF token (send the "csrfToken" of /api/auth/me as the ${CSRF_HEADER} header)`, 'csrf');
        }
      }
    }
    request.principal = principal;

    let schoolId: string | null = null;
    const params = request.params as Record<string, string | undefined>;
    if (rule.about === 'school') schoolId = params.schoolId ?? null;
    if (rule.about === 'device') {
      const device = district.devices.get(params.deviceId ?? '');
      // An unknown device belongs to no school: the handler answers 404 to anyone who may
      // use the permission at all.
      if (!device) {
        const d = decide(principal, rule.permission, null, { filtered: true });
        if (!d.allowed) return refuse(request, reply, 'forbidden', d.reason, 'forbidden');
        return;
      }
      schoolId = device.school.id;
      if (!maySeeKind(principal, device.profile.kind)) {
        return refuse(request, reply, 'forbidden', `the role ${principal.role} may not see ${device.profile.kind} devices`, 'forbidden');
      }
    }
    const decision = decideRoute(principal, rule, schoolId);
    if (!decision.allowed) return refuse(request, reply, 'forbidden', decision.reason, 'forbidden');
  });

  // Routes whose rule says so leave an audit entry for every answer they give (after the
  // handler, so the entry says how it went).
  app.addHook('onResponse', async (request, reply) => {
    const url = request.routeOptions.url;
    if (!url?.startsWith('/api') || !request.principal) return;
    const rule = routeRule(request.method === 'HEAD' ? 'GET' : request.method, url);
    if (!rule || !('audit' in rule) || !rule.audit) return;
    const params = request.params as Record<string, string | undefined>;
    const deviceId = params.deviceId;
    const schoolId = params.schoolId ?? (deviceId ? district.devices.get(deviceId)?.school.id : undefined) ?? null;
    const status = reply.statusCode;
    await accounts
      .audit({
        actor: actorOf(request.principal),
        action: rule.audit,
        outcome: status < 400 ? 'ok' : status === 401 || status === 403 ? 'denied' : status >= 500 ? 'error' : 'failed',
        schoolId,
        target: deviceId ?? schoolId,
        address: request.ip,
        detail: { status, ...(request.query && Object.keys(request.query).length ? { query: request.query } : {}), ...(request.body ? { body: request.body } : {}), ...request.auditDetail },
      })
      .catch((error: unknown) => request.log.warn({ error: String(error) }, 'audit write failed'));
  });

  return { stats };
}
