/**
 * A whole simulated district on one machine: the district broker, the cloud (API, live push,
 * dashboard), one edge agent per school, and every school's simulated devices, each speaking
 * its own protocol (MQTT boards and cameras; PJLink projectors, SNMP routers, OPC UA labs and
 * the simulated internet for the link probe, served from this process). Used by `npm start`,
 * by the end-to-end and fault tests, so the tests run exactly what a user runs.
 *
 * With `replayedSchools`, more schools join the inventory without a gateway process or device
 * simulators of their own: one replayer process (simulators/src/replay/) speaks for all of
 * them to the district broker, each with its own gateway credentials, so a district of 150
 * schools (a wall display's) runs on a small machine.
 *
 * With `tls`, the links are encrypted as a real district's would be: a CA of its own and
 * certificates for the cloud and the broker under <dataDir>/tls (kept across starts, so a
 * browser told to trust the CA once keeps trusting it), the cloud on HTTPS, gateways and the
 * cloud on the broker's TLS listener, each checking the broker against the CA.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { pino } from 'pino';
import { loadProfiles, schoolClock, type Inventory, type ProfileRegistry } from '@schoolops/device-profiles';
import { ensureCertificates, seedDemoAccounts, writeSecretFile, type DemoLogin } from '@schoolops/cloud';
import { generateDistrict } from '../district/index.ts';
import { serveSchoolDevices, startSchoolDevices, type SchoolDevices, type ServedDevice } from '../devices/index.ts';
import type { PublishedCounts } from '../delivery/compare.ts';
import { startSchoolPeers, type SchoolPeers } from '../protocols/school-peers.ts';
import { startControlServer, type ControlServer, type FaultTarget } from './control.ts';
import { writeReplayConfig } from '../replay/config.ts';
import { planFaults, type ReplayFaults } from '../replay/plan.ts';
import { GATEWAY_HEALTH_INTERVAL_MS, freePort, writeDistrictFiles, type DistrictFiles, type GatewayDeviceOverride } from './files.ts';
import { ReplayWatch } from './replay-watch.ts';
import { resolveSchoolTime, type SchoolTime, type SchoolTimeChoice } from './school-time.ts';
import { scriptPath, startService, stopService, type Service } from './supervisor.ts';

export interface DistrictOptions {
  /** Schools with a gateway process and simulated devices of their own (the first of the inventory). */
  schools: number;
  /**
   * More schools, after those, replayed by one process speaking each one's gateway protocol
   * with its credentials (readings made from the device profiles, a few planned faults);
   * no gateway or device simulator runs for them. Default 0.
   */
  replayedSchools?: number;
  /**
   * How often the replayer seals each replayed school's readings into a batch (default 2 s:
   * fewer, larger batches for the cloud; 200 ms is an edge agent's batch.maxDelayMs).
   */
  replayBatchMs?: number;
  /** HTTP port of the cloud (API + dashboard); 0 picks a free one. */
  port: number;
  /** Port of the district MQTT broker's plain listener (127.0.0.1 only); 0 picks a free one. */
  mqttPort: number;
  /**
   * Encrypt every link (default false): the cloud serves HTTPS, the broker adds a TLS
   * listener, gateways and the cloud use it and check it against the district's CA.
   */
  tls?: boolean;
  /** Port of the broker's TLS listener when `tls`; 0 or absent picks a free one. */
  mqttTlsPort?: number;
  dataDir: string;
  seed?: number;
  /** Make every simulated device report this often instead of at its profile's interval. */
  deviceIntervalMs?: number;
  /**
   * Make every gateway poll its devices this often (default: deviceIntervalMs, but not below
   * 1 s; else each profile's interval). Real deployments poll every 10-30 s.
   */
  pollIntervalMs?: number;
  /**
   * The school time the whole district lives at (devices, gateways' counting schedule, the
   * attendance API): 'real' (default), 'auto' (real unless no lesson is on, then a lesson of
   * the latest school day) or 'HH:MM' on the latest school day. Readings keep real timestamps.
   */
  schoolTime?: SchoolTimeChoice;
  /** Pin the simulated devices' "now" (a test's fixed lesson time); gateways follow `schoolTime`. */
  clock?: () => Date;
  /** Port of the fault switchboard (HTTP on 127.0.0.1); 0 or absent picks a free one. */
  controlPort?: number;
  /** Gateways send a batch the district has not confirmed again after this long (default 10 s). */
  ackTimeoutMs?: number;
  /** Most bytes each gateway's disk queue may hold (default: the agent's 2 GiB). */
  queueQuotaBytes?: number;
  /**
   * Gateway processes starting at the same time (default 1). npm start uses 3: each spends a
   * second or two of CPU starting, and one after another they leave a core idle (41 s to
   * ready for 5 schools, 32 s with 3). The tests keep 1: their 1 s polls make every camera
   * of a gateway count at once, and three such bursts together starve a 2-core machine.
   */
  gatewaysAtOnce?: number;
  /**
   * When the gateways count their cameras: 'timetable' (default, as in production: twice a
   * lesson, every 15 minutes in a free room) or 'on-request' (only when the district sends a
   * camera's countNow command). Tests use on-request, so the counts they wait for come in
   * an order they chose rather than all at once from every gateway.
   */
  cameraSchedule?: 'timetable' | 'on-request';
  /** Progress lines for a person watching; silent when absent. */
  progress?: (line: string) => void;
}

type Ready = { type: 'ready'; port?: number; tlsPort?: number; url?: string; localPort?: number; bootId?: string; schools?: number };

/** A part of the district that runs as its own process, and how to start it again. */
interface Part {
  name: string;
  script: string;
  args: () => string[];
  logFile: string;
  service?: Service<Ready>;
  onMessage?: (message: unknown) => void;
}

/** The replayed schools of a district, and the faults planned among them. */
export interface ReplayedSchools {
  /** Their ids, in inventory order (after the schools with a gateway of their own). */
  schools: string[];
  faults: ReplayFaults;
  configFile: string;
}

export interface RunningDistrict {
  url: string;
  /** One account per role (fresh passwords every start), also in `loginsFile` (0600). */
  logins: DemoLogin[];
  loginsFile: string;
  /** A one-time code that enrolls a wall display (15 minutes from the start). */
  displayCode: string;
  /** A district-operator API token (for scripts such as the delivery checker, and tests). */
  token: string;
  /** fetch() on the cloud, with the launcher's token (and trusting `caFile` over HTTPS): `api('/api/schools')`. */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** The broker's plain listener, on 127.0.0.1. */
  mqttPort: number;
  /** The broker's TLS listener, which gateways and the cloud use; null without `tls`. */
  mqttTlsPort: number | null;
  /** The CA of the district's certificates (PEM): what clients of the cloud and the broker trust; null without `tls`. */
  caFile: string | null;
  inventory: Inventory;
  /** The schools the replayer speaks for; null when there are none. */
  replay: ReplayedSchools | null;
  files: DistrictFiles;
  /** The school time the district lives at, and its offset from real time. */
  schoolTime: SchoolTime;
  /** When the simulated devices started counting; the delivery checker looks from here. */
  since: number;
  devices: Map<string, SchoolDevices>;
  /** deviceId -> the faults its protocol simulator takes (lamp failure, router reboot, ...) */
  faults: Map<string, FaultTarget>;
  /** The fault switchboard: GET /faults, POST|DELETE /faults/{deviceId}/{fault}. */
  controlUrl: string;
  /** Samples handed over per device, over every school. */
  published(): PublishedCounts;
  /** 'broker', 'cloud', 'replay' (every replayed school) or the id of a school with its own gateway. */
  pid(part: string): number;
  /** The port a school's gateway takes its devices' MQTT on. */
  localPort(schoolId: string): number;
  /** kill -9, as a power cut or a crash would. */
  kill(part: string): Promise<void>;
  /** Start a part that was killed or stopped, on the same ports and files. */
  start(part: string): Promise<void>;
  /** SIGTERM and wait, as an operator's restart would. */
  stopPart(part: string): Promise<void>;
  /**
   * Stop the devices only (the gateways then drain what they hold). Waits up to `drainMs`
   * (default 2 s) for samples the devices still hold, e.g. while they reconnect to a gateway.
   */
  stopDevices(drainMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const PUBLISHED_EVERY_MS = 5_000;

export async function startDistrict(options: DistrictOptions): Promise<RunningDistrict> {
  const say = options.progress ?? (() => {});
  const seed = options.seed ?? 1;
  const replayedCount = options.replayedSchools ?? 0;
  if (!Number.isInteger(replayedCount) || replayedCount < 0) throw new Error(`replayedSchools must be a whole number >= 0, got ${replayedCount}`);
  if (options.schools + replayedCount < 1) throw new Error('a district needs at least one school (schools + replayedSchools)');
  const inventory = generateDistrict({ seed, schools: options.schools + replayedCount });
  // The first schools run for real, the rest are replayed: more replayed schools never change the real ones.
  const gatewaySchools = inventory.schools.slice(0, options.schools);
  const replayedList = inventory.schools.slice(options.schools);
  const replayedIds = new Set(replayedList.map((s) => s.id));
  const countDevices = (list: typeof inventory.schools) => list.reduce((n, s) => n + s.devices.length, 0);
  const deviceCount = countDevices(gatewaySchools);
  say(
    replayedCount > 0
      ? `Generated ${inventory.schools.length} schools (seed ${seed}): ${gatewaySchools.length} with their own gateway and ${deviceCount} simulated devices, ${replayedList.length} replayed (${countDevices(replayedList)} devices).`
      : `Generated ${inventory.schools.length} schools with ${deviceCount} devices (seed ${seed}).`,
  );
  const schoolTime = resolveSchoolTime(options.schoolTime ?? 'real', inventory);
  say(schoolTime.describe);
  const deviceClock = options.clock ?? (schoolTime.offsetMs ? schoolClock(schoolTime.offsetMs) : undefined);

  // Ports the user gave are never picked for anything else.
  const given = [options.port, options.mqttPort, options.mqttTlsPort ?? 0, options.controlPort ?? 0].filter((p) => p > 0);
  const certificates = options.tls ? await makeCertificates(options.dataDir) : null;
  if (certificates) say(`Certificates in ${certificates.dir} (CA ${certificates.caFile}).`);
  const mqttUrl = (port: number) => `${certificates ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`;
  const ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
  const { files, finish } = await writeDistrictFiles({
    dataDir: options.dataDir,
    inventory,
    mqttUrl,
    ...(certificates
      ? { tls: { caFile: certificates.caFile, cloudCertFile: certificates.servers.cloud!.certFile, cloudKeyFile: certificates.servers.cloud!.keyFile } }
      : {}),
    // Chosen now, so a restarted cloud comes back at the same address.
    httpPort: options.port || (await freePort(given)),
    avoidPorts: given,
    ackTimeoutMs,
    ...(options.queueQuotaBytes ? { queueQuotaBytes: options.queueQuotaBytes } : {}),
    schoolClockOffsetMs: schoolTime.offsetMs,
    replayed: replayedIds,
  });

  // Picked now rather than bound on port 0: a restarted broker comes back on this port, and one
  // from the ephemeral range could meanwhile be taken by a client connection.
  let mqttPort = options.mqttPort || (await freePort(given));
  let mqttTlsPort = certificates ? options.mqttTlsPort || (await freePort(given)) : null;
  const parts = new Map<string, Part>();
  const addPart = (name: string, script: string, args: () => string[], log: string, onMessage?: (message: unknown) => void) =>
    parts.set(name, { name, script: scriptPath(script), args, logFile: join(files.logDir, log), ...(onMessage ? { onMessage } : {}) });
  const brokerTlsArgs = () =>
    certificates && mqttTlsPort !== null
      ? ['--tls-port', String(mqttTlsPort), '--tls-cert', certificates.servers.broker!.certFile, '--tls-key', certificates.servers.broker!.keyFile]
      : [];
  addPart(
    'broker',
    'broker/src/cli.ts',
    () => ['--port', String(mqttPort), '--host', '127.0.0.1', '--credentials', files.credentialsFile, ...brokerTlsArgs()],
    'broker.log',
  );
  addPart('cloud', 'cloud/src/cli.ts', () => ['--config', files.cloudConfigFile], 'cloud.log');
  for (const school of gatewaySchools)
    addPart(school.id, 'edge-agent/src/cli.ts', () => ['--config', files.gatewayConfigFiles.get(school.id)!], `gateway-${school.id}.log`);
  const replayConfigFile = join(resolve(options.dataDir), 'replay', 'config.json');
  const replayWatch = new ReplayWatch(say);
  if (replayedList.length > 0)
    addPart('replay', 'simulators/src/replay/cli.ts', () => ['--config', replayConfigFile], 'replay.log', (message) => replayWatch.onMessage(message));

  const part = (name: string): Part => {
    const found = parts.get(name);
    if (found) return found;
    if (replayedIds.has(name)) throw new Error(`school "${name}" is replayed: its gateway is the "replay" part, shared by every replayed school`);
    throw new Error(`no part "${name}" (broker, cloud, ${replayedList.length > 0 ? 'replay, ' : ''}or the id of a school with its own gateway)`);
  };
  const start = async (name: string): Promise<Service<Ready>> => {
    const p = part(name);
    p.service = await startService<Ready>(p.name, p.script, p.args(), p.logFile, p.onMessage);
    return p.service;
  };

  /**
   * The replayer's config, once the broker has its port: the replayed schools with their
   * gateway credentials, and the faults planned among them (from the seed).
   */
  const writeReplay = (profiles: ProfileRegistry): ReplayedSchools => {
    // The demo accounts' school (the inventory's first) stays healthy.
    const faults = planFaults(replayedList, profiles, seed, new Set([inventory.schools[0]!.id]));
    mkdirSync(dirname(replayConfigFile), { recursive: true });
    writeReplayConfig(replayConfigFile, {
      v: 1,
      // Through the TLS listener when there is one, as the gateways.
      brokerUrl: mqttUrl(mqttTlsPort ?? mqttPort),
      ...(certificates ? { caFile: certificates.caFile } : {}),
      inventoryFile: files.inventoryFile,
      seed,
      ...(options.deviceIntervalMs ? { deviceIntervalMs: options.deviceIntervalMs } : {}),
      ...(options.replayBatchMs !== undefined ? { batchMs: options.replayBatchMs } : {}),
      healthIntervalMs: GATEWAY_HEALTH_INTERVAL_MS,
      ackTimeoutMs,
      schoolClockOffsetMs: schoolTime.offsetMs,
      schools: replayedList.map((s) => ({ schoolId: s.id, gatewayId: s.gatewayId, passwordFile: files.gatewayPasswordFiles.get(s.id)! })),
      faults,
    });
    return { schools: replayedList.map((s) => s.id), faults, configFile: replayConfigFile };
  };

  const devices = new Map<string, SchoolDevices>();
  const peers = new Map<string, SchoolPeers>();
  const faults = new Map<string, FaultTarget>();
  let control: ControlServer | null = null;
  const since = Date.now();
  const publishedFile = join(options.dataDir, 'delivery', 'published.json');
  mkdirSync(join(options.dataDir, 'delivery'), { recursive: true });
  const published = (): PublishedCounts => {
    const counts: Record<string, number> = {};
    for (const fleet of devices.values()) for (const [id, n] of fleet.published()) counts[id] = n;
    return { since, devices: counts };
  };
  // For `npm run verify-delivery`: written atomically, so a reader never sees half a file.
  const writePublished = () => {
    writeFileSync(`${publishedFile}.tmp`, JSON.stringify(published()));
    renameSync(`${publishedFile}.tmp`, publishedFile);
  };
  const publishedTimer = setInterval(writePublished, PUBLISHED_EVERY_MS);

  let devicesStopped = false;
  const stopDevices = async (drainMs?: number) => {
    if (devicesStopped) return;
    devicesStopped = true;
    await Promise.all([...devices.values()].map((d) => d.stop(drainMs)));
    writePublished();
  };
  const stop = async () => {
    clearInterval(publishedTimer);
    replayWatch.cancel();
    await stopDevices();
    // Gateways (the replayer with them) first so they flush to a broker that is still there, then cloud, then broker.
    await Promise.all([...gatewaySchools.map((s) => s.id), 'replay'].map((name) => (parts.get(name)?.service ? stopService(parts.get(name)!.service!) : undefined)));
    // The protocol peers after the gateways, so no gateway reports them gone on the way out.
    await Promise.all([...peers.values()].map((p) => p.stop()));
    await control?.close();
    for (const name of ['cloud', 'broker']) if (parts.get(name)?.service) await stopService(parts.get(name)!.service!);
  };

  try {
    // Protocol devices first: their simulators' ports go into the gateways' configs. MQTT
    // devices start once their gateway is up, as a school's would be after an installation.
    const profiles = loadProfiles();
    const deviceLog = pino({ name: 'devices' }, pino.destination({ dest: join(files.logDir, 'devices.log'), sync: false }));
    const overrides = new Map<string, GatewayDeviceOverride>();
    const served = new Map<string, Map<string, ServedDevice>>();
    mkdirSync(files.secretsDir, { recursive: true });
    mkdirSync(files.workDir, { recursive: true });
    const seedOf = (i: number) => seed * 1000 + i;
    for (const [i, school] of gatewaySchools.entries()) {
      served.set(school.id, serveSchoolDevices({ school, profiles, seed: seedOf(i), logger: deviceLog, ...(deviceClock ? { clock: deviceClock } : {}) }));
      const schoolPeers = await startSchoolPeers({ school, served: served.get(school.id)!, seed: seedOf(i), secretsDir: files.secretsDir, workDir: files.workDir });
      peers.set(school.id, schoolPeers);
      for (const [id, endpoint] of schoolPeers.endpoints) {
        const record = school.devices.find((d) => d.id === id);
        const isCamera = record && profiles.get(record.profileId)?.protocol.type === 'http-snapshot';
        overrides.set(id, isCamera && options.cameraSchedule ? { ...endpoint, options: { ...endpoint.options, schedule: options.cameraSchedule } } : endpoint);
      }
      for (const [id, target] of schoolPeers.targets) faults.set(id, target);
      if (schoolPeers.skipped.length) deviceLog.warn({ school: school.id, devices: schoolPeers.skipped }, 'no protocol simulator for these devices yet');
    }
    say(`Simulated ${deviceCount} devices: ${faults.size} behind their own protocol (PJLink, SNMP, OPC UA, link probe), the rest on MQTT.`);
    control = await startControlServer(faults, options.controlPort ?? 0);

    const broker = await start('broker');
    mqttPort = broker.ready.port!; // restarts keep the ports
    if (mqttTlsPort !== null) mqttTlsPort = broker.ready.tlsPort!;
    say(
      mqttTlsPort !== null
        ? `District broker listening on mqtts://127.0.0.1:${mqttTlsPort} (and plain mqtt://127.0.0.1:${mqttPort}, this machine only)`
        : `District broker listening on mqtt://127.0.0.1:${mqttPort}`,
    );
    const pollIntervalMs = options.pollIntervalMs ?? (options.deviceIntervalMs ? Math.max(1000, options.deviceIntervalMs) : undefined);
    // Gateways and the cloud go through the TLS listener when there is one.
    finish(mqttTlsPort ?? mqttPort, overrides, pollIntervalMs);
    const replay = replayedList.length > 0 ? writeReplay(profiles) : null;

    // Accounts before the cloud: the account file is the cloud's once it runs.
    const demo = await seedDemoAccounts(join(files.cloudDataDir, 'accounts.duckdb'), inventory);
    const loginsFile = join(options.dataDir, 'demo-logins.txt');
    writeSecretFile(join(files.cloudDataDir, 'launcher.token'), `${demo.token}\n`);
    writeSecretFile(
      loginsFile,
      [
        '# SchoolOps simulated district: demo sign-ins (new passwords at every start)',
        ...demo.logins.map((l) => `${l.role.padEnd(18)} ${l.username.padEnd(24)} ${l.password}`),
        `wall-display code   ${demo.displayCode}   (one use, 15 minutes)`,
        `API token (district-operator)   ${demo.token}`,
        '',
      ].join('\n'),
    );
    const cloud = await start('cloud');
    say(`Cloud serving ${cloud.ready.url}`);

    // Gateways start `gatewaysAtOnce` at a time. A school's MQTT devices start once its
    // gateway is up, as after an installation.
    let up = 0;
    const startSchool = async (i: number) => {
      const school = gatewaySchools[i]!;
      await start(school.id);
      devices.set(
        school.id,
        await startSchoolDevices({
          school,
          profiles,
          brokerUrl: `mqtt://127.0.0.1:${files.localPorts.get(school.id)}`,
          seed: seedOf(i),
          served: served.get(school.id)!,
          logger: deviceLog,
          ...(deviceClock ? { clock: deviceClock } : {}),
          ...(options.deviceIntervalMs ? { intervalMs: options.deviceIntervalMs } : {}),
        }),
      );
      say(`  [${++up}/${gatewaySchools.length}] ${school.name.vi}: gateway up, ${school.devices.length} devices`);
    };
    let next = 0;
    const lanes = Array.from({ length: Math.max(1, Math.min(options.gatewaysAtOnce ?? 1, gatewaySchools.length)) }, async () => {
      while (next < gatewaySchools.length) await startSchool(next++);
    });
    // Every start settles before a failure is reported, so stop() finds every process started.
    const failed = (await Promise.allSettled(lanes)).find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    if (replay) {
      const replayer = await start('replay');
      say(`Replaying ${replay.schools.length} schools from one process (pid ${replayer.child.pid}), each with its own gateway credentials; connecting within the broker's admission limits…`);
      await replayWatch.allReady(replayer);
      const { offline, linkDown, lampErrors } = replay.faults;
      say(`  replayed schools online; planned faults: ${offline.length} offline (${offline.join(', ') || 'none'}), internet down at ${linkDown.join(', ') || 'none'}, failed projector lamps: ${lampErrors.length}`);
    }
    writePublished();
    const url = cloud.ready.url!;
    // Where this district's cloud answers, for tools run beside it (npm run verify-delivery).
    writeFileSync(join(files.cloudDataDir, 'url'), `${url}\n`);
    const ca = certificates ? readFileSync(certificates.caFile) : null;
    const authorized = (init: RequestInit): RequestInit => ({
      ...init,
      headers: { authorization: `Bearer ${demo.token}`, ...(init.headers as Record<string, string> | undefined) },
    });
    return {
      url,
      logins: demo.logins,
      loginsFile,
      displayCode: demo.displayCode,
      token: demo.token,
      api: (path, init = {}) => (ca ? fetchTrusting(ca, `${url}${path}`, authorized(init)) : fetch(`${url}${path}`, authorized(init))),
      mqttPort,
      mqttTlsPort,
      caFile: certificates?.caFile ?? null,
      inventory,
      replay,
      files,
      schoolTime,
      since,
      devices,
      faults,
      controlUrl: control.url,
      published,
      pid: (name) => part(name).service?.child.pid ?? -1,
      localPort: (schoolId) => part(schoolId).service?.ready.localPort ?? -1,
      kill: async (name) => {
        const service = part(name).service;
        if (!service) return;
        service.child.kill('SIGKILL');
        await service.exited;
      },
      start: async (name) => void (await start(name)),
      stopPart: async (name) => {
        const service = part(name).service;
        if (service) await stopService(service);
      },
      stopDevices,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The names a simulated district's servers answer to: this machine only. */
const LOCAL_NAMES = ['127.0.0.1', 'localhost'];

/**
 * The district's CA and the cloud's and broker's certificates, under <dataDir>/tls: made on
 * the first start, kept after (ensureCertificates remakes only what is missing or no
 * longer fits), so a browser that was told to trust the CA keeps trusting the dashboard.
 */
async function makeCertificates(dataDir: string) {
  // The data folder first, so only the tls folder inside it gets the keys' mode 0700.
  mkdirSync(dataDir, { recursive: true });
  return ensureCertificates({
    dir: join(dataDir, 'tls'),
    caName: 'SchoolOps simulated district CA',
    servers: [
      { name: 'cloud', hosts: LOCAL_NAMES },
      { name: 'broker', hosts: LOCAL_NAMES },
    ],
  });
}

/** Statuses whose response has no body (the Response constructor refuses one). */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * fetch() that trusts `ca` (Node 20's fetch takes no CA per call): node:https underneath, a
 * standard Response on top, so callers read it as they read fetch's. The request is
 * normalised by the Request constructor, as fetch would (method, headers, any body type);
 * the answer is read whole, which suits the API's JSON.
 */
export async function fetchTrusting(ca: Buffer, url: string, init: RequestInit = {}): Promise<Response> {
  const request = new Request(url, init);
  const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
  return new Promise((resolve, reject) => {
    const outgoing = httpsRequest(
      url,
      { method: request.method, headers: Object.fromEntries(request.headers), ca, ...(init.signal ? { signal: init.signal } : {}) },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('error', reject);
        incoming.on('end', () => {
          const status = incoming.statusCode ?? 0;
          const headers = new Headers();
          for (const [name, value] of Object.entries(incoming.headers)) for (const one of [value ?? []].flat()) headers.append(name, one);
          const empty = NULL_BODY_STATUSES.has(status) || request.method === 'HEAD';
          resolve(new Response(empty ? null : new Uint8Array(Buffer.concat(chunks)), { status, statusText: incoming.statusMessage ?? '', headers }));
        });
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}
