/**
 * A whole simulated district on one machine: the district broker, the cloud (API, live push,
 * dashboard), one edge agent per school, and every school's simulated devices. Used by
 * `npm start` and by the end-to-end test, so the test runs exactly what a user runs.
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { loadProfiles, type Inventory } from '@schoolops/device-profiles';
import { generateDistrict } from '../district/index.ts';
import { startSchoolDevices, type SchoolDevices } from '../devices/index.ts';
import { writeDistrictFiles, type DistrictFiles } from './files.ts';
import { scriptPath, startService, stopService, type Service } from './supervisor.ts';

export interface DistrictOptions {
  schools: number;
  /** HTTP port of the cloud (API + dashboard); 0 picks a free one. */
  port: number;
  /** Port of the district MQTT broker; 0 picks a free one. */
  mqttPort: number;
  dataDir: string;
  seed?: number;
  /** Make every simulated device report this often instead of at its profile's interval. */
  deviceIntervalMs?: number;
  /** Progress lines for a person watching; silent when absent. */
  progress?: (line: string) => void;
}

export interface RunningDistrict {
  url: string;
  mqttPort: number;
  inventory: Inventory;
  files: DistrictFiles;
  gateways: Map<string, Service<{ type: 'ready'; localPort: number; bootId: string }>>;
  devices: Map<string, SchoolDevices>;
  stop(): Promise<void>;
}

export async function startDistrict(options: DistrictOptions): Promise<RunningDistrict> {
  const say = options.progress ?? (() => {});
  const seed = options.seed ?? 1;
  const inventory = generateDistrict({ seed, schools: options.schools });
  const deviceCount = inventory.schools.reduce((n, s) => n + s.devices.length, 0);
  say(`Generated ${inventory.schools.length} schools with ${deviceCount} devices (seed ${seed}).`);

  const { files, finish } = await writeDistrictFiles({
    dataDir: options.dataDir,
    inventory,
    mqttUrl: (port) => `mqtt://127.0.0.1:${port}`,
    httpPort: options.port,
  });

  const started: Service<{ type: 'ready' }>[] = [];
  const gateways = new Map<string, Service<{ type: 'ready'; localPort: number; bootId: string }>>();
  const devices = new Map<string, SchoolDevices>();

  const stop = async () => {
    await Promise.all([...devices.values()].map((d) => d.stop()));
    // Gateways first so they flush to a broker that is still there, then cloud, then broker.
    await Promise.all([...gateways.values()].map((g) => stopService(g)));
    for (const service of started.filter((s) => !gateways.has(s.name)).reverse()) await stopService(service);
  };

  try {
    const broker = await startService<{ type: 'ready'; port: number }>(
      'broker',
      scriptPath('broker/src/cli.ts'),
      ['--port', String(options.mqttPort), '--host', '127.0.0.1', '--credentials', files.credentialsFile],
      join(files.logDir, 'broker.log'),
    );
    started.push(broker);
    say(`District broker listening on mqtt://127.0.0.1:${broker.ready.port}`);
    finish(broker.ready.port);

    const cloud = await startService<{ type: 'ready'; port: number; url: string }>(
      'cloud',
      scriptPath('cloud/src/cli.ts'),
      ['--config', files.cloudConfigFile],
      join(files.logDir, 'cloud.log'),
    );
    started.push(cloud);
    say(`Cloud serving ${cloud.ready.url}`);

    const profiles = loadProfiles();
    const deviceLog = pino({ name: 'devices' }, pino.destination({ dest: join(files.logDir, 'devices.log'), sync: false }));
    let n = 0;
    for (const school of inventory.schools) {
      const gateway = await startService<{ type: 'ready'; localPort: number; bootId: string }>(
        school.id,
        scriptPath('edge-agent/src/cli.ts'),
        ['--config', files.gatewayConfigFiles.get(school.id)!],
        join(files.logDir, `gateway-${school.id}.log`),
      );
      started.push(gateway);
      gateways.set(school.id, gateway);
      devices.set(
        school.id,
        await startSchoolDevices({
          school,
          profiles,
          brokerUrl: `mqtt://127.0.0.1:${gateway.ready.localPort}`,
          seed: seed * 1000 + n,
          logger: deviceLog,
          ...(options.deviceIntervalMs ? { intervalMs: options.deviceIntervalMs } : {}),
        }),
      );
      say(`  [${++n}/${inventory.schools.length}] ${school.name.vi}: gateway up, ${school.devices.length} devices connected`);
    }
    return { url: cloud.ready.url, mqttPort: broker.ready.port, inventory, files, gateways, devices, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
