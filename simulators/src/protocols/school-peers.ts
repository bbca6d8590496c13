/**
 * One school's protocol peers: for every device the gateway polls or subscribes to, the
 * simulator that speaks its protocol (PJLink projector, SNMP router, OPC UA lab, the
 * simulated internet for the link probe), fed by the device's value model.
 *
 * It returns, per device, the address and driver options the gateway's config needs (the
 * district record keeps the devices' real-looking 10.x addresses; the gateway is pointed at
 * 127.0.0.1 and the simulator's port), and a fault target per device for the switchboard.
 * Secrets: PJLink and camera passwords go to 0600 files in `secretsDir`; the launcher moves
 * the secret options given here (SNMPv3 keys, the OPC UA password) to the gateway's secrets
 * file (launcher/files.ts).
 */
import { join } from 'node:path';
import type { DeviceAddress, MetricValues, School } from '@schoolops/device-profiles';
import type { ServedDevice } from '../devices/index.ts';
import { deriveRng } from '../district/random.ts';
import type { FaultTarget } from '../launcher/control.ts';
import { writeSecretText } from '../launcher/files.ts';
import { CAMERA_FAULTS, CameraSimulator, type CameraFault } from './camera-http.ts';
import { OPCUA_LAB_FAULTS, OpcuaLabSimulator, type OpcuaLabFault } from './opcua-lab.ts';
import { INTERNET_FAULTS, SimulatedInternet, type InternetFault } from './internet.ts';
import { PJLINK_FAULTS, PjlinkSimulator, type PjlinkFault } from './pjlink-server.ts';
import { SNMP_ROUTER_FAULTS, SnmpRouterSimulator, type SnmpRouterFault } from './snmp-agent.ts';

export interface PeerEndpoint {
  address: DeviceAddress;
  options?: Record<string, unknown>;
}

export interface SchoolPeers {
  /** deviceId -> where the gateway reaches its simulator */
  endpoints: Map<string, PeerEndpoint>;
  /** deviceId -> its faults */
  targets: Map<string, FaultTarget>;
  stop(): Promise<void>;
}

export interface SchoolPeersOptions {
  school: School;
  served: Map<string, ServedDevice>;
  seed: number;
  /** Where secret files for the gateway go. */
  secretsDir: string;
  /** Scratch space (OPC UA certificates). */
  workDir: string;
}

/** A running simulator as the switchboard and shutdown see it. */
interface Peer {
  endpoint: PeerEndpoint;
  faults: readonly string[];
  active(): string[];
  inject(fault: string): Promise<void> | void;
  clear(fault?: string): Promise<void> | void;
  stop(): Promise<void>;
}

type PeerFactory = (device: ServedDevice, ctx: SchoolPeersOptions & { secret(name: string, value: string): string }) => Promise<Peer>;

const LOCALHOST = '127.0.0.1';

function identityOf(values: MetricValues): { serialNumber?: string; softwareVersion?: string; filterModel?: string } {
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const out: { serialNumber?: string; softwareVersion?: string; filterModel?: string } = {};
  if (text(values.serialNumber)) out.serialNumber = text(values.serialNumber)!;
  if (text(values.softwareVersion)) out.softwareVersion = text(values.softwareVersion)!;
  if (text(values.filterModel)) out.filterModel = text(values.filterModel)!;
  return out;
}

const pjlinkPeer: PeerFactory = async (device, ctx) => {
  const protocol = device.profile.protocol;
  if (protocol.type !== 'pjlink') throw new Error(`${device.record.id} is not a PJLink device`);
  const rng = deriveRng(ctx.seed, 'pjlink', device.record.id);
  // Units that ship with authentication on get a password per school, as an installer would set.
  const password = protocol.auth ? `pj-${ctx.school.id.slice(0, 12)}-${Math.floor(rng() * 1e6)}` : undefined;
  const simulator = new PjlinkSimulator({
    host: LOCALHOST,
    pjlinkClass: protocol.pjlinkClass,
    read: device.read,
    ...(password ? { password } : {}),
    identity: {
      name: device.record.name?.en.slice(0, 64) ?? device.record.id,
      manufacturer: device.profile.vendor.toUpperCase().slice(0, 32),
      product: device.profile.model.slice(0, 32),
      // Class 2 units tell their serial number and firmware: the value model drew them.
      ...identityOf(device.read()),
    },
  });
  const port = await simulator.start();
  const options = password ? { passwordFile: ctx.secret(`${device.record.id}.pjlink`, password) } : undefined;
  return {
    endpoint: { address: { host: LOCALHOST, port }, ...(options ? { options } : {}) },
    faults: PJLINK_FAULTS,
    active: () => simulator.activeFaults,
    inject: (fault) => simulator.inject(fault as PjlinkFault),
    clear: (fault) => simulator.clear(fault as PjlinkFault | undefined),
    stop: () => simulator.stop(),
  };
};

/** The school's internet line as its link probe sees it: delay, jitter and loss follow the link model. */
const probePeer: PeerFactory = async (device, ctx) => {
  const internet = new SimulatedInternet({ host: LOCALHOST, read: device.read, seed: ctx.seed });
  await internet.start();
  // A throughput test every 10 minutes, within 2 MB: the district's budget for a demo.
  const options = internet.probeOptions({ throughput: { url: internet.probeOptions().throughput!.url, everySeconds: 600, maxBytes: 2_000_000 } });
  return {
    endpoint: { address: { host: LOCALHOST }, options: options as unknown as Record<string, unknown> },
    faults: INTERNET_FAULTS,
    active: () => internet.activeFaults(),
    inject: (fault) => internet.inject(fault as InternetFault),
    clear: (fault) => internet.clear(fault as InternetFault | undefined),
    stop: () => internet.stop(),
  };
};

/** The school router, read over SNMPv3 (authPriv, SHA-256/AES) as a district would set it up. */
const snmpPeer: PeerFactory = async (device, ctx) => {
  const rng = deriveRng(ctx.seed, 'snmp', device.record.id);
  const key = (what: string) => `${what}-${ctx.school.id.slice(0, 10)}-${Math.floor(rng() * 1e9)}`;
  const user = { name: 'schoolops', authProtocol: 'sha256' as const, authKey: key('auth'), privProtocol: 'aes' as const, privKey: key('priv') };
  const ifIndex = device.record.address?.ifIndex ?? 1;
  // A MikroTik takes about half a minute to come back from a reboot.
  const simulator = new SnmpRouterSimulator({ host: LOCALHOST, read: device.read, user, wanIfIndex: ifIndex, sysName: `${ctx.school.id}-gw`, rebootDowntimeMs: 20_000 });
  const port = await simulator.start();
  return {
    endpoint: {
      address: { host: LOCALHOST, port, ifIndex },
      // The router is on the school's LAN: a second is long enough to wait for an answer.
      options: { version: '3', user: user.name, authProtocol: user.authProtocol, authKey: user.authKey, privProtocol: user.privProtocol, privKey: user.privKey, timeoutMs: 1000 },
    },
    faults: SNMP_ROUTER_FAULTS,
    active: () => simulator.active(),
    inject: (fault) => simulator.inject(fault as SnmpRouterFault),
    clear: (fault) => simulator.clear(fault as SnmpRouterFault | undefined),
    stop: () => simulator.stop(),
  };
};

/** A science lab's controller, read over OPC UA with a user account for the gateway. */
const opcuaPeer: PeerFactory = async (device, ctx) => {
  const rng = deriveRng(ctx.seed, 'opcua', device.record.id);
  const account = { userName: 'schoolops-gateway', password: `lab-${Math.floor(rng() * 1e9)}` };
  // A controller's OPC UA server takes a while to come back after a restart.
  const simulator = new OpcuaLabSimulator({ host: LOCALHOST, read: device.read, users: [account], restartDelayMs: 15_000 });
  const port = await simulator.start();
  return {
    endpoint: { address: { host: LOCALHOST, port }, options: { userName: account.userName, password: account.password } },
    faults: OPCUA_LAB_FAULTS,
    active: () => simulator.activeFaults,
    // A restart resolves only once the server is back: do not hold the switchboard's caller that long.
    inject: (fault) => (fault === 'restart' ? void simulator.inject('restart').catch(() => undefined) : simulator.inject(fault as OpcuaLabFault)),
    clear: (fault) => simulator.clear(fault as OpcuaLabFault | undefined),
    stop: () => simulator.stop(),
  };
};

/** A classroom camera serving JPEG snapshots of its room, as many people in it as its model says. */
const cameraPeer: PeerFactory = async (device, ctx) => {
  const rng = deriveRng(ctx.seed, 'camera', device.record.id);
  const credentials = { username: 'schoolops', password: `cam-${Math.floor(rng() * 1e9)}` };
  const simulator = new CameraSimulator({ host: LOCALHOST, read: device.read, seed: Math.floor(rng() * 2 ** 31), credentials });
  const port = await simulator.start();
  return {
    endpoint: { address: { host: LOCALHOST, port }, options: { username: credentials.username, passwordFile: ctx.secret(`${device.record.id}.camera`, credentials.password) } },
    faults: CAMERA_FAULTS,
    active: () => [...simulator.activeFaults],
    inject: (fault) => simulator.inject(fault as CameraFault),
    clear: (fault) => simulator.clear(fault as CameraFault | undefined),
    stop: () => simulator.stop(),
  };
};

const FACTORIES: Partial<Record<string, PeerFactory>> = {
  'http-snapshot': cameraPeer,
  opcua: opcuaPeer,
  snmp: snmpPeer,
  pjlink: pjlinkPeer,
  probe: probePeer,
};

/** Start every served device's simulator. Devices whose protocol has no simulator yet are skipped (and logged by the caller). */
export async function startSchoolPeers(opts: SchoolPeersOptions): Promise<SchoolPeers & { skipped: string[] }> {
  const peers = new Map<string, Peer>();
  const skipped: string[] = [];
  const secret = (name: string, value: string) => {
    const file = join(opts.secretsDir, `${name}.secret`);
    writeSecretText(file, `${value}\n`);
    return file;
  };
  const stop = async () => {
    await Promise.all([...peers.values()].map((p) => p.stop().catch(() => undefined)));
  };
  try {
    for (const device of opts.served.values()) {
      const factory = FACTORIES[device.profile.protocol.type];
      if (!factory) {
        skipped.push(device.record.id);
        continue;
      }
      peers.set(device.record.id, await factory(device, { ...opts, secret }));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const targets = new Map<string, FaultTarget>();
  for (const [deviceId, peer] of peers)
    targets.set(deviceId, {
      deviceId,
      protocol: opts.served.get(deviceId)!.profile.protocol.type,
      faults: peer.faults,
      active: () => peer.active(),
      inject: async (fault) => peer.inject(fault),
      clear: async (fault) => peer.clear(fault),
    });
  return { endpoints: new Map([...peers].map(([id, p]) => [id, p.endpoint])), targets, skipped, stop };
}
