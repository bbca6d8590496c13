/**
 * The district operations center backend in one place: load the record, open storage,
 * start ingest, serve the API (with OpenAPI docs at /docs), the live push and the dashboard.
 */
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { BUILTIN_PROFILES_DIR, loadProfiles } from '@schoolops/device-profiles';
import { AccountStore } from './auth/accounts.ts';
import { sessionPrincipalFromCookieHeader } from './auth/guard.ts';
import { buildApi } from './api/app.ts';
import { startProbeEcho, type ProbeEcho } from './probe-echo.ts';
import type { ApiContext } from './api/context.ts';
import { mqttPassword, type CloudConfig } from './config.ts';
import { Ingest } from './ingest.ts';
import { loadInventory } from './inventory.ts';
import { LiveState } from './live-state.ts';
import { attachLivePush } from './live-push.ts';
import { openStorage } from './storage/index.ts';

/** The district's people, tokens, displays, sessions and audit log live in this file of the data folder. */
export const ACCOUNTS_FILE_NAME = 'accounts.duckdb';

/** How far back device problems are restored from the store at start. */
const RESTORE_STATUS_MS = 7 * 86_400_000;

export interface Cloud {
  port: number;
  url: string;
  context: ApiContext;
  accounts: AccountStore;
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

  const accounts = await AccountStore.open({ file: join(config.dataDir, ACCOUNTS_FILE_NAME) });
  const { app } = await buildApi({ ...context, accounts }, { logger });

  const probeEcho = config.probeEcho
    ? await startProbeEcho({
        host: config.probeEcho.host,
        port: config.probeEcho.port,
        logger,
        ...(config.probeEcho.perSourcePerSecond ? { perSourcePerSecond: config.probeEcho.perSourcePerSecond } : {}),
      })
    : null;
  const push = attachLivePush(app.server, live, [...district.schools.keys()], {
    authenticate: (request, auth) =>
      typeof auth.token === 'string' ? accounts.principalOfToken(auth.token) : sessionPrincipalFromCookieHeader(accounts, app, request.headers.cookie),
    onAccountsChanged: (listener) => accounts.onChange(listener),
  });
  await ingest.connect({ url: config.mqtt.url, username: config.mqtt.username, password: mqttPassword(config) });
  await app.listen({ host: config.http.host, port: config.http.port });
  const port = (app.server.address() as AddressInfo).port;
  const url = `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${port}`;
  logger.info({ url, schools: district.schools.size, devices: district.devices.size }, 'cloud listening');

  return {
    port,
    url,
    context,
    accounts,
    probeEcho,
    close: async () => {
      await probeEcho?.close();
      await push.close();
      await app.close();
      await ingest.close();
      await store.close();
      await accounts.close();
    },
  };
}
