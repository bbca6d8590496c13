/**
 * The district operations center backend in one place: load the record, open storage,
 * start ingest, serve the API (with OpenAPI docs at /docs), the live push and the dashboard.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { BUILTIN_PROFILES_DIR, loadProfiles } from '@schoolops/device-profiles';
import { AccountStore } from './auth/accounts.ts';
import { sessionPrincipalFromCookieHeader } from './auth/guard.ts';
import { buildApi } from './api/app.ts';
import { startProbeEcho, type ProbeEcho } from './probe-echo.ts';
import type { ApiContext } from './api/context.ts';
import { mqttPassword, plainHttpProblem, type CloudConfig } from './config.ts';
import { Ingest } from './ingest.ts';
import { loadInventory } from './inventory.ts';
import { LiveState } from './live-state.ts';
import { attachLivePush } from './live-push.ts';
import { openStorage } from './storage/index.ts';
import { urlHost } from './tls/loopback.ts';

/** The district's people, tokens, displays, sessions and audit log live in this file of the data folder. */
export const ACCOUNTS_FILE_NAME = 'accounts.duckdb';

/** How far back device problems are restored from the store at start. */
const RESTORE_STATUS_MS = 7 * 86_400_000;

/** A file the config names, read once at start; a missing one is named with its config key. */
function readConfigFile(file: string, key: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`cloud config: ${key}: cannot read the ${what} ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

function readTlsFiles(files: { certFile: string; keyFile: string }): { cert: Buffer; key: Buffer } {
  return { cert: readConfigFile(files.certFile, '/http/tls/certFile', 'certificate'), key: readConfigFile(files.keyFile, '/http/tls/keyFile', 'key') };
}

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
  // Checked before anything opens: a config built in code (not by parseCloudConfig) too.
  const plain = plainHttpProblem(config);
  if (plain) throw new Error(`cloud config: /http: ${plain}`);
  const tls = config.http.tls ? readTlsFiles(config.http.tls) : undefined;
  const profiles = loadProfiles([BUILTIN_PROFILES_DIR, ...(config.profileDirs ?? [])]);
  const district = loadInventory(config.inventoryFile, profiles);
  const store = await openStorage({ dataDir: config.dataDir, ...(config.influx ? { influx: config.influx } : {}), logger });
  const live = new LiveState(district);
  live.restoreDeviceStatus(await store.events({ since: Date.now() - RESTORE_STATUS_MS, limit: 10_000 }));
  // Opened before ingest: each command result a gateway reports goes to the audit log.
  const accounts = await AccountStore.open({ file: join(config.dataDir, ACCOUNTS_FILE_NAME) });
  const ingest = new Ingest(district, store, live, logger, { commands: store, audit: (entry) => accounts.audit(entry) });
  const context: ApiContext = { district, live, store, ingest, schoolClockOffsetMs: config.schoolClockOffsetMs ?? 0 };

  const { app } = await buildApi(
    { ...context, accounts },
    { logger, ...(tls ? { https: true, tls } : {}), ...(config.dashboardDir ? { dashboardDir: config.dashboardDir } : {}) },
  );

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
  await ingest.connect({
    url: config.mqtt.url,
    username: config.mqtt.username,
    password: mqttPassword(config),
    ...(config.mqtt.caFile ? { ca: readConfigFile(config.mqtt.caFile, '/mqtt/caFile', 'CA certificate') } : {}),
  });
  await app.listen({ host: config.http.host, port: config.http.port });
  const port = (app.server.address() as AddressInfo).port;
  // The scheme actually served, so a printed URL is one that works.
  const url = `${tls ? 'https' : 'http'}://${urlHost(config.http.host)}:${port}`;
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
