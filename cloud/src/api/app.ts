/**
 * The district's HTTP surface in one place: security headers, cookies, the guard, OpenAPI
 * docs, every /api route, health and the dashboard's files. server.ts listens with it;
 * tests call it through inject() (the same checks, no socket).
 */
import { existsSync } from 'node:fs';
import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { installGuard, type GuardStats } from '../auth/guard.ts';
import { accountRoutes } from './accounts.ts';
import { attendanceRoutes } from './attendance.ts';
import { attendanceReportRoutes } from './attendance-reports.ts';
import { authRoutes } from './auth.ts';
import { commandRoutes } from './commands.ts';
import type { ApiContext, AuthContext } from './context.ts';
import { historyRoutes } from './history.ts';
import { probeRoutes } from './probe.ts';
import { schoolRoutes } from './schools.ts';
import { statsRoutes } from './stats.ts';
import { sendError } from './errors.ts';
import { StoreBusyError } from '../storage/index.ts';

/** Request bodies are small JSON (a command, a user): anything larger is refused with 413. */
export const BODY_LIMIT_BYTES = 64 * 1024;

export interface ApiApp {
  app: FastifyInstance<any, any, any, any, any>;
  guard: { stats: GuardStats };
}

export async function buildApi(
  context: ApiContext & AuthContext,
  /**
   * `tls`: serve HTTPS with this certificate and key; `https`: the app is reached over HTTPS
   * (HSTS is sent); `dashboardDir`: the built dashboard, served at '/'.
   */
  o: { logger: Logger; https?: boolean; tls?: { cert: string | Buffer; key: string | Buffer }; dashboardDir?: string },
): Promise<ApiApp> {
  // Requests are not logged one by one (a wall display polls); errors and warnings are.
  const app = Fastify({
    loggerInstance: o.logger.child({ part: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: false,
    // TLS 1.2 at least (Node's default floor, stated here so no option lowers it unseen).
    ...(o.tls ? { https: { cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.2' as const } } : {}),
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(fastifyHelmet, {
    // Everything the dashboard needs is bundled and served from here (an operations center
    // may be offline): nothing from elsewhere, no inline script, no framing by other sites.
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        // swagger-ui and the charts set style attributes.
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        upgradeInsecureRequests: null,
      },
    },
    // HSTS only means something over HTTPS; on a plain loopback listener it would be ignored.
    hsts: o.https ? { maxAge: 180 * 86_400, includeSubDomains: false } : false,
    crossOriginEmbedderPolicy: false,
  });
  await app.register(fastifyCookie);
  // Every error answer carries a code of the catalog, the framework's own ones too.
  app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown; code?: string }, request, reply) => {
    if (error.validation) return sendError(reply, 'invalid_request', { detail: error.message });
    if (error.statusCode === 413) return sendError(reply, 'body_too_large', { max: BODY_LIMIT_BYTES });
    if (error.statusCode === 429) return sendError(reply, 'rate_limited', { detail: error.message });
    // The reading store refused the query (too many waiting): a route that did not catch it still answers 503 with Retry-After.
    if (error instanceof StoreBusyError) return sendError(reply, 'store_busy', { queued: error.queued, retryAfterS: error.retryAfterS }, { 'retry-after': error.retryAfterS });
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return sendError(reply, 'invalid_request', { detail: error.message });
    request.log.error({ err: error, url: request.url }, 'request failed');
    return reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', message: 'the server failed to answer; the error is in its log' });
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, 'unknown_route', { method: request.method, url: request.url.split('?')[0]!.slice(0, 200) }));
  const guard = installGuard(app, { accounts: context.accounts, district: context.district });

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'SchoolOps district API', version: '0.1.0', description: 'Schools, devices, live values and history of a school district. Sign in (POST /api/auth/login) or send an API token.' },
      tags: [{ name: 'auth' }, { name: 'district' }, { name: 'schools' }, { name: 'devices' }, { name: 'operations' }, { name: 'accounts' }],
      components: { securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: 'schoolops_session' }, token: { type: 'http', scheme: 'bearer' } } },
      security: [{ session: [] }, { token: [] }],
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  await app.register(authRoutes, { prefix: '/api', ...context });
  await app.register(accountRoutes, { prefix: '/api', ...context });
  await app.register(schoolRoutes, { prefix: '/api', ...context });
  await app.register(historyRoutes, { prefix: '/api', ...context });
  await app.register(statsRoutes, { prefix: '/api', ...context });
  await app.register(probeRoutes, { prefix: '/api', ...context });
  await app.register(commandRoutes, { prefix: '/api', ...context });
  await app.register(attendanceRoutes, { prefix: '/api', ...context });
  await app.register(attendanceReportRoutes, { prefix: '/api', ...context });
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));
  if (o.dashboardDir && existsSync(o.dashboardDir)) await app.register(fastifyStatic, { root: o.dashboardDir, prefix: '/' });
  else if (o.dashboardDir) o.logger.warn({ dir: o.dashboardDir }, 'dashboard not built (npm run build): serving the API only');
  else o.logger.info('no dashboardDir in the config: serving the API only');
  await app.ready();
  return { app, guard };
}
