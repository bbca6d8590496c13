/**
 * Simulated lab controller speaking real OPC UA: a node-opcua server with a small lab
 * address space, so the edge agent's OPC UA driver is exercised against the real
 * protocol (secure channel, session, subscription, deadband filters) without hardware.
 *
 * Address space (namespace 1, string node ids as in the schoolops-lab-controller profile),
 * under Objects/Lab:
 *   Lab.Room.Temperature    Double  °C     <- roomTemperature
 *   Lab.Room.Humidity       Double  %      <- humidity
 *   Lab.FumeHood.Airflow    Double  m/s    <- fumeHoodAirflow
 *   Lab.Fridge.Temperature  Double  °C     <- fridgeTemperature
 *   Lab.Printer3D.State     String         <- printerState ('idle' | 'printing' | 'error' | 'offline')
 * The printer state is served as a String (not an Int32 enumeration) so a client needs no
 * EnumStrings lookup; the driver also accepts an integer as an index into the metric's values.
 *
 * Values come from the `read()` callback (the lab-controller value model, metric names as
 * in devices/lab-controller.ts), sampled every `sampleIntervalMs` and pushed with
 * setValueFromSource, so subscriptions see changes as they happen; the server applies the
 * clients' deadbands.
 *
 * Faults: 'restart' stops the server and starts a new one on the same port after
 * `restartDelayMs` (sessions and subscriptions are lost, as when the controller reboots);
 * 'unreachable' stops it until clear(); 'fridge-warm' holds the fridge at `warmFridgeC`;
 * 'printer-error' holds the printer in 'error'.
 *
 * The server's PKI (its key, certificate, trusted and rejected client certificates) lives
 * in a temporary folder per simulator, removed by stop(); never under the user's home.
 * Client certificates are accepted automatically (a lab device on a school network).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname as osHostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MetricValue, MetricValues } from '@schoolops/device-profiles';
import {
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Variant,
  type UAVariable,
} from 'node-opcua';

export const OPCUA_LAB_FAULTS = ['restart', 'unreachable', 'fridge-warm', 'printer-error'] as const;
export type OpcuaLabFault = (typeof OPCUA_LAB_FAULTS)[number];

export type OpcuaLabSecurityMode = 'None' | 'Sign' | 'SignAndEncrypt';
export type OpcuaLabSecurityPolicy = 'None' | 'Basic256' | 'Basic256Sha256' | 'Aes128_Sha256_RsaOaep' | 'Aes256_Sha256_RsaPss';

export interface OpcuaLabOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port, kept across restarts. */
  port?: number;
  /** The lab's current true values, by metric name (roomTemperature, humidity, ...). */
  read(): MetricValues;
  /** How often read() is sampled (default 500 ms). */
  sampleIntervalMs?: number;
  /** Accounts for user name sessions. */
  users?: { userName: string; password: string }[];
  /** Default: true without users, false with them. */
  allowAnonymous?: boolean;
  /** Security modes offered (default all three). */
  securityModes?: OpcuaLabSecurityMode[];
  /** Security policies offered with Sign / SignAndEncrypt (default Basic256Sha256 and Aes128_Sha256_RsaOaep). */
  securityPolicies?: Exclude<OpcuaLabSecurityPolicy, 'None'>[];
  /** How long a 'restart' keeps the server down (default 1000 ms). */
  restartDelayMs?: number;
  /** Fridge temperature under 'fridge-warm' (default 12 °C). */
  warmFridgeC?: number;
}

interface LabNode {
  metric: string;
  /** String identifier in namespace 1. */
  id: string;
  browseName: string;
  dataType: DataType.Double | DataType.String;
}

export const LAB_NODES: readonly LabNode[] = [
  { metric: 'roomTemperature', id: 'Lab.Room.Temperature', browseName: 'RoomTemperature', dataType: DataType.Double },
  { metric: 'humidity', id: 'Lab.Room.Humidity', browseName: 'RoomHumidity', dataType: DataType.Double },
  { metric: 'fumeHoodAirflow', id: 'Lab.FumeHood.Airflow', browseName: 'FumeHoodAirflow', dataType: DataType.Double },
  { metric: 'fridgeTemperature', id: 'Lab.Fridge.Temperature', browseName: 'FridgeTemperature', dataType: DataType.Double },
  { metric: 'printerState', id: 'Lab.Printer3D.State', browseName: 'Printer3DState', dataType: DataType.String },
];

const PERSISTENT_FAULTS = new Set<OpcuaLabFault>(['unreachable', 'fridge-warm', 'printer-error']);
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

export class OpcuaLabSimulator {
  private readonly host: string;
  private port: number;
  private server: OPCUAServer | null = null;
  private variables = new Map<string, UAVariable>();
  private readonly faults = new Set<OpcuaLabFault>();
  private pkiDir: string | null = null;
  private sampler: NodeJS.Timeout | null = null;
  private values: MetricValues = {};
  /** Lifecycle operations (start, restart, stop) run one at a time. */
  private chain: Promise<unknown> = Promise.resolve();
  private stopping: Promise<void> | null = null;
  /** Cuts a restart's downtime short when the simulator stops. */
  private wake: (() => void) | null = null;

  constructor(private readonly options: OpcuaLabOptions) {
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? 0;
  }

  /** The bound port (0 before start). */
  get boundPort(): number {
    return this.port;
  }

  get endpointUrl(): string {
    return `opc.tcp://${this.host}:${this.port}`;
  }

  /** Whether the OPC UA server is listening now (false while restarting or unreachable). */
  get listening(): boolean {
    return this.server !== null;
  }

  /** Open sessions and secure channels now (tests check that clients leave nothing behind). */
  get sessionCount(): number {
    return this.server?.currentSessionCount ?? 0;
  }

  get channelCount(): number {
    return this.server?.currentChannelCount ?? 0;
  }

  get activeFaults(): OpcuaLabFault[] {
    return [...this.faults];
  }

  /** Start serving; resolves to the bound port. */
  start(): Promise<number> {
    if (this.stopping) return Promise.reject(new Error('the simulator was stopped'));
    return this.serial(async () => {
      if (!this.pkiDir) this.pkiDir = mkdtempSync(join(tmpdir(), 'schoolops-opcua-lab-'));
      this.sample();
      if (!this.sampler) {
        this.sampler = setInterval(() => this.sample(), this.options.sampleIntervalMs ?? 500);
        this.sampler.unref();
      }
      if (!this.faults.has('unreachable')) await this.up();
      return this.port;
    });
  }

  /** Stop serving and remove the PKI folder. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.wake?.();
      if (this.sampler) clearInterval(this.sampler);
      this.sampler = null;
      await this.serial(() => this.down());
      if (this.pkiDir) rmSync(this.pkiDir, { recursive: true, force: true });
      this.pkiDir = null;
    })();
    return this.stopping;
  }

  /** Resolves when the fault is in effect ('restart': when the server is back). */
  inject(fault: OpcuaLabFault): Promise<void> {
    if (!OPCUA_LAB_FAULTS.includes(fault)) return Promise.reject(new Error(`unknown fault ${String(fault)}`));
    if (fault === 'restart') {
      return this.serial(async () => {
        if (!this.server) return; // down already (unreachable): nothing to restart
        await this.down();
        await this.pause(this.options.restartDelayMs ?? 1000);
        if (!this.stopping && !this.faults.has('unreachable')) await this.up();
      });
    }
    this.faults.add(fault);
    this.sample();
    return fault === 'unreachable' ? this.serial(() => this.down()) : Promise.resolve();
  }

  /** Clear one fault, or all of them. */
  clear(fault?: OpcuaLabFault): Promise<void> {
    const cleared = fault ? [fault] : [...this.faults];
    for (const f of cleared) this.faults.delete(f);
    this.sample();
    if (!cleared.includes('unreachable') || this.stopping || !this.pkiDir) return Promise.resolve();
    return this.serial(async () => {
      if (!this.server && !this.stopping && !this.faults.has('unreachable')) await this.up();
    });
  }

  /** Read the lab now and publish the values (the timer does this every sampleIntervalMs). */
  sample(): void {
    let values: MetricValues;
    try {
      values = { ...this.options.read() };
    } catch {
      return; // a broken value source keeps the last values rather than killing the server
    }
    if (this.faults.has('fridge-warm')) values.fridgeTemperature = this.options.warmFridgeC ?? 12;
    if (this.faults.has('printer-error')) values.printerState = 'error';
    this.values = values;
    for (const node of LAB_NODES) this.publish(node);
  }

  private publish(node: LabNode): void {
    const variable = this.variables.get(node.metric);
    const variant = toVariant(node, this.values[node.metric]);
    if (!variable || !variant) return;
    variable.setValueFromSource(variant, StatusCodes.Good);
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.chain.then(op, op);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  /** Build a fresh server (node-opcua servers cannot be started again after shutdown) and listen. */
  private async up(): Promise<void> {
    if (this.server || !this.pkiDir) return;
    const pki = (name: string) =>
      new OPCUACertificateManager({ rootFolder: join(this.pkiDir!, name), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
    const modes = this.options.securityModes ?? ['None', 'Sign', 'SignAndEncrypt'];
    const policies = this.options.securityPolicies ?? ['Basic256Sha256', 'Aes128_Sha256_RsaOaep'];
    const users = this.options.users ?? [];
    const server = new OPCUAServer({
      port: this.port,
      host: this.host,
      hostname: WILDCARD_HOSTS.has(this.host) ? osHostname() : this.host,
      serverCertificateManager: pki('pki'),
      userCertificateManager: pki('user-pki'),
      securityModes: modes.map((m) => MessageSecurityMode[m]),
      securityPolicies: [
        ...(modes.includes('None') ? [SecurityPolicy.None] : []),
        ...(modes.some((m) => m !== 'None') ? policies.map((p) => SecurityPolicy[p]) : []),
      ],
      allowAnonymous: this.options.allowAnonymous ?? users.length === 0,
      userManager: { isValidUser: (userName: string, password: string) => users.some((u) => u.userName === userName && u.password === password) },
      buildInfo: { productName: 'SchoolOps lab controller (simulated)', manufacturerName: 'SchoolOps' },
      serverInfo: { applicationName: { text: 'SchoolOps lab controller (simulated)' } },
    });
    try {
      await server.initialize();
      this.buildAddressSpace(server);
      await server.start();
    } catch (error) {
      await server.shutdown(0).catch(() => undefined);
      throw error;
    }
    this.server = server;
    this.port = server.endpoints[0]?.port ?? this.port;
  }

  private buildAddressSpace(server: OPCUAServer): void {
    const addressSpace = server.engine.addressSpace!;
    const namespace = addressSpace.getOwnNamespace();
    const lab = namespace.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'Lab', nodeId: 's=Lab' });
    this.variables.clear();
    for (const node of LAB_NODES) {
      const variable = namespace.addVariable({
        componentOf: lab,
        browseName: node.browseName,
        nodeId: `s=${node.id}`,
        dataType: node.dataType === DataType.Double ? 'Double' : 'String',
        accessLevel: 'CurrentRead',
        userAccessLevel: 'CurrentRead',
        // 0: the server reports changes as setValueFromSource makes them, not by polling.
        minimumSamplingInterval: 0,
      });
      const variant = toVariant(node, this.values[node.metric]);
      if (variant) variable.setValueFromSource(variant, StatusCodes.Good);
      else variable.setValueFromSource({ dataType: node.dataType, value: null }, StatusCodes.BadWaitingForInitialData);
      this.variables.set(node.metric, variable);
    }
  }

  private async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.variables.clear();
    if (server) await server.shutdown(0);
  }
}

/** A metric value as the node's variant, or null when the value source gave something else. */
function toVariant(node: LabNode, value: MetricValue | undefined): Variant | null {
  if (node.dataType === DataType.Double) return typeof value === 'number' && Number.isFinite(value) ? new Variant({ dataType: DataType.Double, value }) : null;
  return typeof value === 'string' ? new Variant({ dataType: DataType.String, value }) : null;
}
