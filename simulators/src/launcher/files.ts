/**
 * Everything a simulated district needs on disk, written the way an installer would set up
 * a real one: the district record, the broker's credentials (hashes only), one config and
 * one secret file per gateway, and the cloud's config.
 *
 * Modes: every file holding a secret is 0600 (gateway passwords, the cloud's MQTT password,
 * the broker's hashes, device secrets). A gateway's config (0644) holds no secret: its
 * devices' secret options (the ones their drivers declare, SNMPv3 keys, OPC UA passwords)
 * go to its own secrets file in a 0700 folder, which the gateway refuses to read otherwise.
 *
 * With TLS (the launcher's certificates under <dataDir>/tls), the cloud's config serves HTTPS
 * and reads the broker over mqtts://, and every gateway checks the broker against the CA.
 *
 * Replayed schools (simulators/src/replay/) are schools of the inventory like the others, with
 * broker credentials and a password file of their own, but no gateway runs for them: they get
 * no gateway config, no device secrets and no local port.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { DeviceAddress, Inventory } from '@schoolops/device-profiles';
import { hashPassword } from '@schoolops/broker';
import { SECRET_OPTIONS, type EdgeConfig } from '@schoolops/edge-agent';
import type { CloudConfig } from '@schoolops/cloud';
import { DASHBOARD_DIST } from '@schoolops/dashboard';

export interface DistrictFiles {
  inventoryFile: string;
  credentialsFile: string;
  cloudConfigFile: string;
  /** The cloud's data folder (readings, accounts, the launcher's token). */
  cloudDataDir: string;
  /** schoolId -> edge agent config file (schools with a gateway of their own) */
  gatewayConfigFiles: Map<string, string>;
  /** schoolId -> its gateway's broker password (0600), for every school, replayed ones included */
  gatewayPasswordFiles: Map<string, string>;
  /** schoolId -> the port its gateway takes its devices' MQTT on (fixed, so devices find a restarted gateway) */
  localPorts: Map<string, number>;
  /**
   * Device secrets (mode 0700): each gateway's secrets file (`<schoolId>.json`, its devices'
   * secret options) and the PJLink and camera passwordFiles, all 0600.
   */
  secretsDir: string;
  /** schoolId -> its gateway's device secrets file */
  gatewaySecretsFiles: Map<string, string>;
  /** Scratch space for simulators (OPC UA certificates). */
  workDir: string;
  logDir: string;
  /** The CA that the cloud and every gateway check the broker (and browsers the cloud) against; null without TLS. */
  caFile: string | null;
}

/** Where a gateway reaches a simulated device, and the driver options it needs. */
export interface GatewayDeviceOverride {
  address: DeviceAddress;
  options?: Record<string, unknown>;
}

const secret = () => randomBytes(18).toString('base64url');

/** How often each gateway reports its health to the district (replayed ones too). */
export const GATEWAY_HEALTH_INTERVAL_MS = 10_000;

/**
 * Write a file only its owner can read. writeFileSync's mode applies only to a file it
 * creates, and a data folder reused from an earlier run may hold one of a wider mode: the text
 * goes to a new 0600 file that then replaces the old one, so it is never readable by others.
 */
export function writeSecretText(file: string, text: string): void {
  const fresh = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(fresh, text, { mode: 0o600, flag: 'wx' });
  renameSync(fresh, file);
}

function writeSecret(file: string, value: string): void {
  writeSecretText(file, `${value}\n`);
}

/** Every option name a driver declares secret (the config names profiles, not protocols). */
const SECRET_OPTION_NAMES: ReadonlySet<string> = new Set([...SECRET_OPTIONS.values()].flat());

/** A device's driver options in two parts: what the config may show, and its secrets. */
function splitSecrets(options: Record<string, unknown>): { open: Record<string, unknown>; secret: Record<string, unknown> } {
  const open: Record<string, unknown> = {};
  const secret: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) (SECRET_OPTION_NAMES.has(name) ? secret : open)[name] = value;
  return { open, secret };
}

/** Ports this process handed out: never handed out twice, even before their owner binds them. */
const handedOut = new Set<number>();

/**
 * A port free right now on 127.0.0.1 that the kernel will not hand to anyone else.
 *
 * Ports chosen here are used later (a gateway restarted on the same port), while the
 * launcher binds hundreds of protocol simulators on port 0 and opens hundreds of client
 * connections in between. Those get ports from the kernel's ephemeral range, so a port taken
 * from that range (by binding port 0 and letting go) could be handed out again before its
 * owner binds it. This picks from below the ephemeral range instead, at random, checks it can
 * be bound, and never picks a port in `avoid` (the ones a user gave) or one it handed out
 * before. Test files running side by side (vitest's VITEST_POOL_ID, one per worker) each pick
 * from their own slice of the range, so two districts started at once never pick the same port.
 */
export async function freePort(avoid: Iterable<number> = []): Promise<number> {
  const [ephemeralLow] = ephemeralRange();
  const bottom = 20_000;
  const top = Math.max(bottom + 1000, Math.min(ephemeralLow, 32_768));
  const { low, high } = poolSlice(bottom, top);
  const avoided = new Set(avoid);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(port) || avoided.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port between ${low} and ${high} on 127.0.0.1`);
}

/** The share of [bottom, top) of this test worker (VITEST_POOL_ID 1..8), or all of it outside tests. */
function poolSlice(bottom: number, top: number): { low: number; high: number } {
  const pool = Number(process.env.VITEST_POOL_ID);
  if (!Number.isInteger(pool) || pool < 1 || pool > 8) return { low: bottom, high: top };
  const size = Math.floor((top - bottom) / 8);
  return { low: bottom + (pool - 1) * size, high: bottom + pool * size };
}

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    // not Linux: assume the IANA dynamic range
  }
  return [49152, 65535];
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function writeDistrictFiles(opts: {
  dataDir: string;
  inventory: Inventory;
  mqttUrl: (port: number) => string;
  httpPort: number;
  /** Gateways send an unconfirmed batch again after this long. */
  ackTimeoutMs: number;
  /** Most bytes each gateway's disk queue may hold (default: the agent's own). */
  queueQuotaBytes?: number;
  /** School time minus real time (the simulated district's demo clock); 0 or absent is real time. */
  schoolClockOffsetMs?: number;
  /** Ports given to the launcher (never picked for a gateway). */
  avoidPorts?: number[];
  /** Schools the replayer speaks for: credentials and a password file, nothing else. */
  replayed?: ReadonlySet<string>;
  /**
   * Encrypted links: the CA every client checks servers against, and the cloud's HTTPS
   * certificate. `mqttUrl` then gives an mqtts:// URL.
   */
  tls?: { caFile: string; cloudCertFile: string; cloudKeyFile: string };
}): Promise<{ files: DistrictFiles; finish: (brokerPort: number, devices?: Map<string, GatewayDeviceOverride>, pollIntervalMs?: number) => void }> {
  const dataDir = resolve(opts.dataDir);
  const dirs = {
    district: join(dataDir, 'district'),
    broker: join(dataDir, 'broker'),
    gateways: join(dataDir, 'gateways'),
    secrets: join(dataDir, 'gateways', 'device-secrets'),
    cloud: join(dataDir, 'cloud'),
    logs: join(dataDir, 'logs'),
    work: join(dataDir, 'simulators'),
  };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  // mkdir's mode is filtered by the umask and ignored for a folder that exists: set it.
  chmodSync(dirs.secrets, 0o700);

  const inventoryFile = join(dirs.district, 'inventory.json');
  writeFileSync(inventoryFile, JSON.stringify(opts.inventory, null, 2));

  const replayed = opts.replayed ?? new Set<string>();
  const gatewaySchools = opts.inventory.schools.filter((s) => !replayed.has(s.id));
  const localPorts = new Map<string, number>();
  for (const school of gatewaySchools) localPorts.set(school.id, await freePort(opts.avoidPorts));
  const cloudPassword = secret();
  const gatewayPasswords = new Map(opts.inventory.schools.map((s) => [s.id, secret()]));
  const credentialsFile = join(dirs.broker, 'credentials.json');
  const clients = [
    { username: 'cloud', role: 'cloud' as const, passwordHash: await hashPassword(cloudPassword) },
    ...(await Promise.all(
      opts.inventory.schools.map(async (school) => ({
        username: school.gatewayId,
        role: 'gateway' as const,
        schoolId: school.id,
        passwordHash: await hashPassword(gatewayPasswords.get(school.id)!),
      })),
    )),
  ];
  writeSecretText(credentialsFile, JSON.stringify({ v: 1, clients }, null, 2));

  const files: DistrictFiles = {
    inventoryFile,
    credentialsFile,
    cloudConfigFile: join(dirs.cloud, 'config.json'),
    cloudDataDir: dirs.cloud,
    gatewayConfigFiles: new Map(gatewaySchools.map((s) => [s.id, join(dirs.gateways, `${s.id}.json`)])),
    gatewayPasswordFiles: new Map(opts.inventory.schools.map((s) => [s.id, join(dirs.gateways, `${s.id}.secret`)])),
    localPorts,
    secretsDir: dirs.secrets,
    gatewaySecretsFiles: new Map(gatewaySchools.map((s) => [s.id, join(dirs.secrets, `${s.id}.json`)])),
    workDir: dirs.work,
    logDir: dirs.logs,
    caFile: opts.tls?.caFile ?? null,
  };

  /**
   * Configs that name the broker's port are written once the broker has one. `devices` points
   * the gateways at the simulators of the devices they poll (deviceId -> address, options).
   */
  const finish = (brokerPort: number, devices: Map<string, GatewayDeviceOverride> = new Map(), pollIntervalMs?: number) => {
    const cloudSecret = join(dirs.cloud, 'mqtt.secret');
    writeSecret(cloudSecret, cloudPassword);
    const cloud: CloudConfig = {
      v: 1,
      // A simulated district serves this machine only: it never leaves loopback, encrypted or not.
      http: {
        host: '127.0.0.1',
        port: opts.httpPort,
        ...(opts.tls ? { tls: { certFile: opts.tls.cloudCertFile, keyFile: opts.tls.cloudKeyFile } } : {}),
      },
      mqtt: { url: opts.mqttUrl(brokerPort), username: 'cloud', passwordFile: cloudSecret, ...(opts.tls ? { caFile: opts.tls.caFile } : {}) },
      dataDir: dirs.cloud,
      inventoryFile,
      dashboardDir: DASHBOARD_DIST,
      ...(opts.schoolClockOffsetMs ? { schoolClockOffsetMs: opts.schoolClockOffsetMs } : {}),
    };
    writeFileSync(files.cloudConfigFile, JSON.stringify(cloud, null, 2));
    for (const school of opts.inventory.schools) {
      const secretFile = files.gatewayPasswordFiles.get(school.id)!;
      writeSecret(secretFile, gatewayPasswords.get(school.id)!);
      if (replayed.has(school.id)) continue;
      const deviceSecrets: Record<string, Record<string, unknown>> = {};
      const gatewayDevices = school.devices.map((device) => {
        const override = devices.get(device.id);
        if (!override) return device;
        const { open, secret } = splitSecrets(override.options ?? {});
        if (Object.keys(secret).length > 0) deviceSecrets[device.id] = secret;
        return { ...device, address: override.address, ...(Object.keys(open).length > 0 ? { options: open } : {}) };
      });
      const secretsFile = files.gatewaySecretsFiles.get(school.id)!;
      writeSecretText(secretsFile, JSON.stringify({ v: 1, devices: deviceSecrets }, null, 2));
      const gateway: EdgeConfig = {
        v: 1,
        gatewayId: school.gatewayId,
        schoolId: school.id,
        district: { url: opts.mqttUrl(brokerPort), username: school.gatewayId, passwordFile: secretFile, ...(opts.tls ? { caFile: opts.tls.caFile } : {}) },
        secretsFile,
        // A fixed port, so the school's devices find a gateway that restarts.
        local: { host: '127.0.0.1', port: localPorts.get(school.id)! },
        devices: gatewayDevices,
        ...(pollIntervalMs ? { pollIntervalMs } : {}),
        timetable: { timezone: opts.inventory.district.timezone, ...school.timetable, classes: school.classes },
        ...(opts.schoolClockOffsetMs ? { schoolClockOffsetMs: opts.schoolClockOffsetMs } : {}),
        dataDir: join(dirs.gateways, `${school.id}.queue`),
        queue: { ackTimeoutMs: opts.ackTimeoutMs, ...(opts.queueQuotaBytes ? { quotaBytes: opts.queueQuotaBytes } : {}) },
        healthIntervalMs: GATEWAY_HEALTH_INTERVAL_MS,
      };
      // Holds no secret: readable by whoever looks after the gateway.
      writeFileSync(files.gatewayConfigFiles.get(school.id)!, JSON.stringify(gateway, null, 2), { mode: 0o644 });
    }
  };
  return { files, finish };
}
