/**
 * The district operations center backend in one place: load the record, open storage,
 * start ingest, serve the API (with OpenAPI docs at /docs), the live push and the dashboard.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import { pino, type Logger } from 'pino';
import { BUILTIN_PROFILES_DIR, loadProfiles } from '@schoolops/device-profiles';
import { DASHBOARD_DIST } from '@schoolops/dashboard';
import { historyRoutes } from './api/history.ts';
import { schoolRoutes } from './api/schools.ts';
import { statsRoutes } from './api/stats.ts';
import { probeRoutes } from './api/probe.ts';
import { commandRoutes } from './api/commands.ts';
import { attendanceRoutes } from './api/attendance.ts';
import { startProbeEcho, type ProbeEcho } from './probe-echo.ts';
import type { ApiContext } from './api/context.ts';
import { mqttPassword, type CloudConfig } from './config.ts';
import { Ingest } from './ingest.ts';
import { loadInventory } from './inventory.ts';
import { LiveState } from './live-state.ts';
import { attachLivePush } from './live-push.ts';
import { openStorage } from './storage/index.ts';

/** How far back device problems are restored from the store at start. */
const RESTORE_STATUS_MS = 7 * 86_400_000;

export interface Cloud {
  port: number;
  url: string;
  context: ApiContext;
  /** The link probes' UDP echo reflector, when configured. */
  probeEcho: ProbeEcho | null;
  close(): Promise<void>;
}

export async function startCloud(config: CloudConfig, options: { logger?: Logger } = {}): Promise<Cloud> {
  const logger = options.logger ?? pino({ name: 'cloud' });
  const profiles = loadProfiles([BUILTIN_PROFILES_DIR, ...(config.profileDirs ?? [])]);
  const district = loadInventory(config.inventoryFile, profiles);
  const store = await openStorage({ dataDir: config.dataDir, ...(config.influx ? { influx: config.influx } : {}), logger });
  const live = new LiveState(district);
  live.restoreDeviceStatus(await store.events({ since: Date.now() - RESTORE_STATUS_MS, limit: 10_000 }));
  const ingest = new Ingest(district, store, live, logger);
  const context: ApiContext = { district, live, store, ingest, schoolClockOffsetMs: config.schoolClockOffsetMs ?? 0 };

  // Requests are not logged one by one (a wall display polls); errors and warnings are.
  const app = Fastify({ loggerInstance: logger.child({ part: 'http' }, { level: 'warn' }) }).withTypeProvider<TypeBoxTypeProvider>();
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'SchoolOps district API', version: '0.1.0', description: 'Schools, devices, live values and history of a school district.' },
      tags: [{ name: 'district' }, { name: 'schools' }, { name: 'devices' }, { name: 'operations' }],
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  await app.register(schoolRoutes, { prefix: '/api', ...context });
  await app.register(historyRoutes, { prefix: '/api', ...context });
  await app.register(statsRoutes, { prefix: '/api', ...context });
  await app.register(probeRoutes, { prefix: '/api', ...context });
  await app.register(commandRoutes, { prefix: '/api', ...context });
  await app.register(attendanceRoutes, { prefix: '/api', ...context });
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));
  if (existsSync(DASHBOARD_DIST)) await app.register(fastifyStatic, { root: DASHBOARD_DIST, prefix: '/' });
  else logger.warn({ dir: DASHBOARD_DIST }, 'dashboard not built (npm run build): serving the API only');

  const probeEcho = config.probeEcho
    ? await startProbeEcho({
        host: config.probeEcho.host,
        port: config.probeEcho.port,
        logger,
        ...(config.probeEcho.perSourcePerSecond ? { perSourcePerSecond: config.probeEcho.perSourcePerSecond } : {}),
      })
    : null;
  const push = attachLivePush(app.server, live);
  await ingest.connect({ url: config.mqtt.url, username: config.mqtt.username, password: mqttPassword(config) });
  await app.listen({ host: config.http.host, port: config.http.port });
  const port = (app.server.address() as AddressInfo).port;
  const url = `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${port}`;
  logger.info({ url, schools: district.schools.size, devices: district.devices.size }, 'cloud listening');

  return {
    port,
    url,
    context,
    probeEcho,
    close: async () => {
      await probeEcho?.close();
      await push.close();
      await app.close();
      await ingest.close();
      await store.close();
    },
  };
}
