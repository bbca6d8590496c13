/**
 * A school router's SNMP agent (MikroTik hEX S as the district runs it): net-snmp's Agent
 * on a real UDP socket, serving what a poller reads from a router: the system group
 * (sysDescr, sysObjectID, sysUpTime, sysName) and IF-MIB ifTable/ifXTable rows for the WAN
 * port (ether1) and the LAN bridge, over SNMPv2c (a community) and SNMPv3 (a USM user).
 *
 * Traffic comes from `read()`, the router value model's current sample (inBps, outBps,
 * linkSpeedMbps, linkUp: simulators/src/devices/router.ts). The agent integrates those
 * bit rates over real elapsed time into 64-bit octet counters, on every request and on a
 * timer, so a poller that differences two readings gets the model's rate back.
 *
 * Where net-snmp's Agent differs from a real agent we fill the gap here:
 *  - it cannot bind port 0 (it turns 0 into 161): we hand it a dgram module whose bind()
 *    uses our port, so the kernel picks a free one without a race;
 *  - it drops a v3 message whose digest (or decryption) fails without a word, where real
 *    agents (RFC 3414 section 3.2, Net-SNMP's snmpd) answer with a usmStatsWrongDigests /
 *    usmStatsDecryptionErrors report that the manager shows as an authentication failure:
 *    we send that report ourselves (a few lines of BER below).
 *
 * Faults, for tests and the district's fault switchboard:
 *  - 'reboot': counters and sysUpTime restart from 0, as after a power cycle; with
 *    `rebootDowntimeMs` the agent also stays silent that long, as while booting;
 *  - 'link-down': ifOperStatus of the WAN port is down(2) and its traffic stops;
 *  - 'unreachable': the agent answers nothing (datagrams are dropped) until cleared, on the
 *    same port.
 * SNMPv3 engine boots are not advanced by a reboot (net-snmp's agent echoes the manager's
 * engine time instead of keeping its own), so a v3 manager does not resynchronise.
 */
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { MetricValues } from '@schoolops/device-profiles';

// ---------------------------------------------------------------------------------------
// The part of net-snmp (CommonJS, untyped) this file uses.
// ---------------------------------------------------------------------------------------

interface MibRequest {
  oid: string;
  instanceNode?: { value: unknown };
  done(error?: unknown): void;
}
interface Mib {
  registerProvider(provider: object): void;
  addTableRow(table: string, row: unknown[]): void;
  setScalarValue(name: string, value: unknown): void;
}
interface NetSnmpAgent {
  getMib(): Mib;
  getAuthorizer(): { addCommunity(community: string): void; addUser(user: object): void };
  close(callback?: () => void): void;
}
interface NetSnmpAgentModule {
  createAgent(options: object, callback: (error: unknown) => void): NetSnmpAgent;
  MibProviderType: { Scalar: number; Table: number };
  ObjectType: Record<'Integer' | 'OctetString' | 'OID' | 'Counter32' | 'Gauge32' | 'TimeTicks' | 'Counter64', number>;
  MaxAccess: Record<'not-accessible' | 'read-only', number>;
  SecurityLevel: Record<'authNoPriv' | 'authPriv', number>;
  AuthProtocols: Record<SnmpAuthProtocol, number>;
  PrivProtocols: Record<SnmpPrivProtocol, number>;
  ResponseInvalidCode: Record<'ECouldNotDecrypt' | 'EAuthFailure', number>;
}
const snmp = createRequire(import.meta.url)('net-snmp') as NetSnmpAgentModule;

// ---------------------------------------------------------------------------------------
// Public surface
// ---------------------------------------------------------------------------------------

export const SNMP_ROUTER_FAULTS = ['reboot', 'link-down', 'unreachable'] as const;
export type SnmpRouterFault = (typeof SNMP_ROUTER_FAULTS)[number];

export type SnmpAuthProtocol = 'md5' | 'sha' | 'sha224' | 'sha256' | 'sha384' | 'sha512';
export type SnmpPrivProtocol = 'des' | 'aes' | 'aes256b' | 'aes256r';

/** An SNMPv3 user: authNoPriv without privKey, authPriv with it. */
export interface SnmpV3User {
  name: string;
  authProtocol?: SnmpAuthProtocol;
  authKey: string;
  privProtocol?: SnmpPrivProtocol;
  privKey?: string;
}

export interface SnmpRouterSimulatorOptions {
  host?: string;
  /** 0 (default): the kernel picks a free port; start() says which. */
  port?: number;
  /** The WAN link now, in the router model's metric names: inBps, outBps, linkSpeedMbps, linkUp. */
  read(): MetricValues;
  /** SNMPv2c community (default 'public'). */
  community?: string;
  /** SNMPv3 user; none by default. */
  user?: SnmpV3User;
  /** ifIndex of the WAN port (default 1; the LAN bridge is the next one). */
  wanIfIndex?: number;
  sysName?: string;
  /** Uptime at start, s (default: the first read()'s uptimeS, else 0). */
  uptimeS?: number;
  /** Octet counters at start (default 0); e.g. 2n ** 64n - 10n ** 6n to see them wrap within seconds. */
  counterStart?: bigint;
  /** How long the agent stays silent after a 'reboot', ms (default 0). */
  rebootDowntimeMs?: number;
  /** Integrate traffic at least this often, ms (default 1000). */
  tickMs?: number;
  /**
   * The router's clock, monotonic ms (default performance.now): what traffic is integrated
   * over, sysUpTime, and the downtime after a reboot. A test that gives the same clock to the
   * poller can move time on by exactly as much as it wants between polls.
   */
  now?: () => number;
}

/** What the agent has seen, for tests and logs. */
export interface SnmpAgentStats {
  datagrams: number;
  /** Dropped while unreachable or rebooting. */
  dropped: number;
  /** Not SNMP, or not one the agent could process. */
  malformed: number;
  /** v3 digest or decryption failures answered with a report. */
  authFailures: number;
}

// ---------------------------------------------------------------------------------------
// OIDs (RFC 1213 system group, RFC 2863 IF-MIB)
// ---------------------------------------------------------------------------------------

const SYSTEM = '1.3.6.1.2.1.1';
const IF_NUMBER = '1.3.6.1.2.1.2.1';
const IF_ENTRY = '1.3.6.1.2.1.2.2.1';
const IFX_ENTRY = '1.3.6.1.2.1.31.1.1.1';
/** MikroTik's enterprise number, as in a RouterOS sysObjectID and engine ID. */
const MIKROTIK_ENTERPRISE = 14988;

const IF_COLUMN = { index: 1, descr: 2, type: 3, mtu: 4, speed: 5, physAddress: 6, adminStatus: 7, operStatus: 8, inOctets: 10, outOctets: 16 };
const IFX_COLUMN = { name: 1, hcInOctets: 6, hcOutOctets: 10, highSpeed: 15, alias: 18 };
const IF_TYPE = { ethernetCsmacd: 6, bridge: 209 };
const OPER = { up: 1, down: 2 };

const COUNTER64_MODULUS = 2n ** 64n;
const TIMETICKS_MODULUS = 2 ** 32;
const GAUGE32_MAX = 2 ** 32 - 1;

// ---------------------------------------------------------------------------------------
// Traffic: bit rates integrated into octet counters
// ---------------------------------------------------------------------------------------

interface Traffic {
  inBps: number;
  outBps: number;
  linkSpeedMbps: number;
  linkUp: boolean;
}

/** A model sample read defensively: the launcher feeds whatever the model returns. */
function trafficOf(values: MetricValues): Traffic {
  const rate = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
  return {
    inBps: rate(values.inBps),
    outBps: rate(values.outBps),
    linkSpeedMbps: rate(values.linkSpeedMbps) || 100,
    linkUp: values.linkUp !== false,
  };
}

/** One direction's octet counter; keeps the fraction of an octet so slow rates do not round away. */
class OctetCounter {
  private fraction = 0;
  constructor(public value: bigint) {}

  add(octets: number): void {
    const total = this.fraction + octets;
    const whole = Math.floor(total);
    this.fraction = total - whole;
    this.value = (this.value + BigInt(whole)) % COUNTER64_MODULUS;
  }
}

interface Interface {
  ifIndex: number;
  name: string;
  type: number;
  mac: Buffer;
  in: OctetCounter;
  out: OctetCounter;
  /** Traffic of this interface given the WAN traffic (the bridge carries it the other way). */
  rates(wan: Traffic): { inBps: number; outBps: number };
  speedMbps(wan: Traffic): number;
  up(): boolean;
}

/** Counter64 in BER: big-endian, minimal, with a leading zero byte when the top bit is set. */
export function encodeCounter64(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  return bytes[0]! & 0x80 ? Buffer.concat([Buffer.of(0), bytes]) : bytes;
}

// ---------------------------------------------------------------------------------------
// The simulator
// ---------------------------------------------------------------------------------------

export class SnmpRouterSimulator {
  readonly stats: SnmpAgentStats = { datagrams: 0, dropped: 0, malformed: 0, authFailures: 0 };
  private readonly host: string;
  private readonly requestedPort: number;
  private readonly engineId: Buffer;
  private readonly interfaces: Interface[];
  /** Instance OID -> its value now, for the cells that change. */
  private readonly live = new Map<string, () => unknown>();
  private readonly faults = new Set<Exclude<SnmpRouterFault, 'reboot'>>();
  private agent: NetSnmpAgent | null = null;
  private socket: Socket | null = null;
  private tick: NodeJS.Timeout | null = null;
  private rebootingUntil = 0;
  private traffic: Traffic;
  private readonly now: () => number;
  private lastAdvance: number;
  private bootedAt: number;
  private uptimeAtBootS: number;
  private boots = 1;
  /** The datagram being handed to the agent, so its error callback knows whom to answer. */
  private current: { buffer: Buffer; rinfo: RemoteInfo; socket: Socket } | null = null;
  private stopping: Promise<void> | null = null;
  port = 0;

  constructor(private readonly options: SnmpRouterSimulatorOptions) {
    this.now = options.now ?? (() => performance.now());
    this.lastAdvance = this.now();
    this.bootedAt = this.now();
    this.host = options.host ?? '127.0.0.1';
    this.requestedPort = options.port ?? 0;
    const first = options.read();
    this.traffic = trafficOf(first);
    this.uptimeAtBootS = options.uptimeS ?? (typeof first.uptimeS === 'number' ? first.uptimeS : 0);
    const wanMac = Buffer.concat([Buffer.of(0x48, 0x8f, 0x5a), randomBytes(3)]); // MikroTik OUI
    // Engine ID per RFC 3411: enterprise with the top bit set, format 3 (MAC address).
    this.engineId = Buffer.concat([Buffer.of(0x80, 0, (MIKROTIK_ENTERPRISE >> 8) & 0xff, MIKROTIK_ENTERPRISE & 0xff, 3), wanMac]);
    const start = options.counterStart ?? 0n;
    const wanIndex = options.wanIfIndex ?? 1;
    this.interfaces = [
      {
        ifIndex: wanIndex,
        name: 'ether1',
        type: IF_TYPE.ethernetCsmacd,
        mac: wanMac,
        in: new OctetCounter(start),
        out: new OctetCounter(start),
        rates: (wan) => (this.wanUp(wan) ? { inBps: wan.inBps, outBps: wan.outBps } : { inBps: 0, outBps: 0 }),
        speedMbps: (wan) => wan.linkSpeedMbps,
        up: () => this.wanUp(this.traffic),
      },
      {
        ifIndex: wanIndex + 1,
        name: 'bridge',
        type: IF_TYPE.bridge,
        mac: Buffer.concat([wanMac.subarray(0, 5), Buffer.of((wanMac[5]! + 1) & 0xff)]),
        in: new OctetCounter(start),
        out: new OctetCounter(start),
        rates: (wan) => (this.wanUp(wan) ? { inBps: wan.outBps, outBps: wan.inBps } : { inBps: 0, outBps: 0 }),
        speedMbps: () => 1000,
        up: () => true,
      },
    ];
  }

  /** Bind the agent; resolves to the UDP port. */
  async start(): Promise<number> {
    if (this.agent) return this.port;
    let socket: Socket | null = null;
    const port = this.requestedPort;
    // net-snmp binds its socket itself and turns port 0 into 161: give it a socket whose bind uses ours.
    const dgramModule = {
      createSocket(type: 'udp4' | 'udp6') {
        const created = dgram.createSocket(type);
        const bind = created.bind.bind(created);
        Object.assign(created, { bind: (_port: number, address?: string) => bind(port, address) });
        socket = created;
        return created;
      },
    };
    const agent = snmp.createAgent(
      {
        port: 161, // replaced by `port` above
        address: this.host,
        transport: this.host.includes(':') ? 'udp6' : 'udp4',
        engineID: this.engineId.toString('hex'),
        dgramModule,
      },
      (error) => this.onAgentError(error),
    );
    const bound = socket as Socket | null;
    if (!bound) throw new Error('net-snmp did not create its socket through our dgram module');
    await new Promise<void>((resolve, reject) => {
      bound.once('listening', () => resolve());
      bound.once('error', reject);
    }).catch((error: unknown) => {
      agent.close();
      throw error;
    });
    // Put our gate in front of the agent: faults, the clock, and a try/catch around its parser.
    const deliver = bound.listeners('message') as ((buffer: Buffer, rinfo: RemoteInfo) => void)[];
    bound.removeAllListeners('message');
    bound.on('message', (buffer: Buffer, rinfo: RemoteInfo) => this.onDatagram(bound, buffer, rinfo, deliver));
    this.agent = agent;
    this.socket = bound;
    this.port = bound.address().port;
    this.populate(agent);
    this.lastAdvance = this.now();
    this.tick = setInterval(() => this.advance(), this.options.tickMs ?? 1000);
    this.tick.unref();
    return this.port;
  }

  /** Close the socket and timers; safe to call more than once. */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = new Promise<void>((resolve) => {
        if (this.tick) clearInterval(this.tick);
        const socket = this.socket;
        this.agent = null;
        this.socket = null;
        if (!socket) return resolve();
        socket.once('close', () => resolve());
        try {
          socket.close();
        } catch {
          resolve(); // already closed
        }
      });
    }
    return this.stopping;
  }

  inject(fault: SnmpRouterFault): void {
    if (fault === 'reboot') return this.reboot();
    this.advance(); // traffic up to now counts at the old state
    this.faults.add(fault);
  }

  /** Clear one fault, or all of them. Clearing 'reboot' ends its downtime now. */
  clear(fault?: SnmpRouterFault): void {
    this.advance();
    if ((fault === undefined || fault === 'reboot') && this.rebooting()) {
      // Up now: the clock and the counters start from here.
      const now = this.now();
      this.rebootingUntil = 0;
      this.bootedAt = now;
      this.lastAdvance = now;
    }
    if (fault === undefined) this.faults.clear();
    else if (fault !== 'reboot') this.faults.delete(fault);
  }

  /** Faults in effect now ('reboot' while the agent is still booting). */
  active(): SnmpRouterFault[] {
    const active: SnmpRouterFault[] = [...this.faults];
    if (this.rebooting()) active.push('reboot');
    return active;
  }

  /** The WAN port's octet counters now (what ifHCInOctets/ifHCOutOctets answer). */
  counters(): { inOctets: bigint; outOctets: bigint } {
    this.advance();
    const wan = this.interfaces[0]!;
    return { inOctets: wan.in.value, outOctets: wan.out.value };
  }

  /** sysUpTime now, in hundredths of a second. */
  uptimeTicks(): number {
    const seconds = this.uptimeAtBootS + Math.max(0, this.now() - this.bootedAt) / 1000;
    return Math.floor(seconds * 100) % TIMETICKS_MODULUS;
  }

  // -------------------------------------------------------------------------------------

  private wanUp(traffic: Traffic): boolean {
    return traffic.linkUp && !this.faults.has('link-down');
  }

  private rebooting(): boolean {
    return this.now() < this.rebootingUntil;
  }

  private reboot(): void {
    for (const iface of this.interfaces) {
      iface.in = new OctetCounter(0n);
      iface.out = new OctetCounter(0n);
    }
    const downtime = Math.max(0, this.options.rebootDowntimeMs ?? 0);
    // Nothing counts while the router boots: its clock and counters start when it is up.
    this.rebootingUntil = this.now() + downtime;
    this.bootedAt = this.rebootingUntil;
    this.lastAdvance = this.bootedAt;
    this.uptimeAtBootS = 0;
    this.boots++;
  }

  /** Bring the counters up to now at the rates in force since the last step, then read new rates. */
  private advance(): void {
    const now = this.now();
    // (lastAdvance is ahead of now while the router boots: nothing to count until it is up.)
    const seconds = Math.max(0, now - this.lastAdvance) / 1000;
    this.lastAdvance = Math.max(now, this.lastAdvance);
    if (!this.rebooting()) {
      for (const iface of this.interfaces) {
        const { inBps, outBps } = iface.rates(this.traffic);
        iface.in.add((inBps / 8) * seconds);
        iface.out.add((outBps / 8) * seconds);
      }
    }
    try {
      this.traffic = trafficOf(this.options.read());
    } catch {
      // A model that fails keeps the last rates: the router does not stop forwarding.
    }
  }

  private onDatagram(socket: Socket, buffer: Buffer, rinfo: RemoteInfo, deliver: ((buffer: Buffer, rinfo: RemoteInfo) => void)[]): void {
    this.stats.datagrams++;
    if (this.faults.has('unreachable') || this.rebooting()) {
      this.stats.dropped++;
      return;
    }
    // One snapshot per request: every varbind of a GET sees the same instant.
    this.advance();
    this.current = { buffer, rinfo, socket };
    try {
      for (const handle of deliver) handle(buffer, rinfo);
    } catch {
      this.stats.malformed++; // whatever a client sends, the agent stays up
    } finally {
      this.current = null;
    }
  }

  /** net-snmp reports problems with a request here; some deserve an answer. */
  private onAgentError(error: unknown): void {
    const e = error as { name?: string; code?: unknown } | null;
    if (!e) return;
    const digest = e.code === snmp.ResponseInvalidCode.EAuthFailure;
    const decryption = e.code === snmp.ResponseInvalidCode.ECouldNotDecrypt;
    if (e.name === 'ResponseInvalidError' && (digest || decryption) && this.current) {
      this.stats.authFailures++;
      const { buffer, rinfo, socket } = this.current;
      const report = usmReport(buffer, this.engineId, this.boots, Math.floor(this.uptimeTicks() / 100), digest ? USM_WRONG_DIGESTS : USM_DECRYPTION_ERRORS, this.stats.authFailures);
      if (report) socket.send(report, rinfo.port, rinfo.address, () => undefined);
      return;
    }
    if (e.name === 'ProcessingError') this.stats.malformed++;
    // Unknown communities are ignored, as real agents do: the manager sees a timeout.
  }

  // -------------------------------------------------------------------------------------
  // The MIB
  // -------------------------------------------------------------------------------------

  private populate(agent: NetSnmpAgent): void {
    const { ObjectType: T, MaxAccess, MibProviderType } = snmp;
    const ro = MaxAccess['read-only'];
    const mib = agent.getMib();
    const handler = (request: MibRequest) => {
      const value = this.live.get(request.oid);
      if (value && request.instanceNode) request.instanceNode.value = value();
      request.done();
    };
    const scalar = (name: string, oid: string, type: number, value: unknown) => {
      mib.registerProvider({ name, type: MibProviderType.Scalar, oid, scalarType: type, maxAccess: ro, handler });
      mib.setScalarValue(name, value);
    };
    scalar('sysDescr', `${SYSTEM}.1`, T.OctetString, 'RouterOS RB760iGS');
    scalar('sysObjectID', `${SYSTEM}.2`, T.OID, `1.3.6.1.4.1.${MIKROTIK_ENTERPRISE}.1`);
    scalar('sysUpTime', `${SYSTEM}.3`, T.TimeTicks, 0);
    scalar('sysName', `${SYSTEM}.5`, T.OctetString, this.options.sysName ?? 'school-router');
    scalar('ifNumber', IF_NUMBER, T.Integer, this.interfaces.length);
    this.live.set(`${SYSTEM}.3.0`, () => this.uptimeTicks());

    const column = (number: number, name: string, type: number) => ({ number, name, type, maxAccess: ro });
    mib.registerProvider({
      name: 'ifTable',
      type: MibProviderType.Table,
      oid: IF_ENTRY,
      maxAccess: MaxAccess['not-accessible'],
      tableColumns: [
        column(IF_COLUMN.index, 'ifIndex', T.Integer),
        column(IF_COLUMN.descr, 'ifDescr', T.OctetString),
        column(IF_COLUMN.type, 'ifType', T.Integer),
        column(IF_COLUMN.mtu, 'ifMtu', T.Integer),
        column(IF_COLUMN.speed, 'ifSpeed', T.Gauge32),
        column(IF_COLUMN.physAddress, 'ifPhysAddress', T.OctetString),
        column(IF_COLUMN.adminStatus, 'ifAdminStatus', T.Integer),
        column(IF_COLUMN.operStatus, 'ifOperStatus', T.Integer),
        column(IF_COLUMN.inOctets, 'ifInOctets', T.Counter32),
        column(IF_COLUMN.outOctets, 'ifOutOctets', T.Counter32),
      ],
      tableIndex: [{ columnName: 'ifIndex' }],
      handler,
    });
    mib.registerProvider({
      name: 'ifXTable',
      type: MibProviderType.Table,
      oid: IFX_ENTRY,
      maxAccess: MaxAccess['not-accessible'],
      tableAugments: 'ifTable',
      tableColumns: [
        column(IFX_COLUMN.name, 'ifName', T.OctetString),
        column(IFX_COLUMN.hcInOctets, 'ifHCInOctets', T.Counter64),
        column(IFX_COLUMN.hcOutOctets, 'ifHCOutOctets', T.Counter64),
        column(IFX_COLUMN.highSpeed, 'ifHighSpeed', T.Gauge32),
        column(IFX_COLUMN.alias, 'ifAlias', T.OctetString),
      ],
      handler,
    });
    const zero64 = Buffer.alloc(8); // net-snmp validates an 8-byte buffer here; the handler answers minimal BER
    for (const iface of this.interfaces) {
      const i = iface.ifIndex;
      mib.addTableRow('ifTable', [i, iface.name, iface.type, 1500, 0, iface.mac, 1, OPER.up, 0, 0]);
      mib.addTableRow('ifXTable', [i, iface.name, zero64, zero64, 0, iface.ifIndex === this.interfaces[0]!.ifIndex ? 'WAN' : 'LAN']);
      const low32 = (value: bigint) => Number(value & 0xffffffffn);
      const cells: [string, () => unknown][] = [
        [`${IF_ENTRY}.${IF_COLUMN.speed}.${i}`, () => Math.min(GAUGE32_MAX, iface.speedMbps(this.traffic) * 1_000_000)],
        [`${IF_ENTRY}.${IF_COLUMN.operStatus}.${i}`, () => (iface.up() ? OPER.up : OPER.down)],
        [`${IF_ENTRY}.${IF_COLUMN.inOctets}.${i}`, () => low32(iface.in.value)],
        [`${IF_ENTRY}.${IF_COLUMN.outOctets}.${i}`, () => low32(iface.out.value)],
        [`${IFX_ENTRY}.${IFX_COLUMN.hcInOctets}.${i}`, () => encodeCounter64(iface.in.value)],
        [`${IFX_ENTRY}.${IFX_COLUMN.hcOutOctets}.${i}`, () => encodeCounter64(iface.out.value)],
        [`${IFX_ENTRY}.${IFX_COLUMN.highSpeed}.${i}`, () => Math.min(GAUGE32_MAX, Math.round(iface.speedMbps(this.traffic)))],
      ];
      for (const [oid, value] of cells) this.live.set(oid, value);
    }
    const authorizer = agent.getAuthorizer();
    authorizer.addCommunity(this.options.community ?? 'public');
    const user = this.options.user;
    if (user) {
      authorizer.addUser({
        name: user.name,
        level: user.privKey ? snmp.SecurityLevel.authPriv : snmp.SecurityLevel.authNoPriv,
        authProtocol: snmp.AuthProtocols[user.authProtocol ?? 'sha'],
        authKey: user.authKey,
        ...(user.privKey ? { privProtocol: snmp.PrivProtocols[user.privProtocol ?? 'aes'], privKey: user.privKey } : {}),
      });
    }
  }
}

// ---------------------------------------------------------------------------------------
// The USM report net-snmp's agent does not send (RFC 3412 section 7.1, RFC 3414 section 3.2)
// ---------------------------------------------------------------------------------------

const USM_WRONG_DIGESTS = '1.3.6.1.6.3.15.1.1.5.0';
const USM_DECRYPTION_ERRORS = '1.3.6.1.6.3.15.1.1.6.0';
const REPORTABLE = 0x04;

/**
 * A report PDU answering a v3 request that failed authentication, or null when the
 * request asked for no report. Sent unauthenticated (noAuthNoPriv), as the RFC requires
 * when the failure is the manager's credentials.
 */
function usmReport(request: Buffer, engineId: Buffer, boots: number, engineTime: number, counterOid: string, count: number): Buffer | null {
  const header = readV3Header(request);
  if (!header || !(header.flags & REPORTABLE)) return null;
  const securityParameters = ber.sequence(
    ber.octets(engineId),
    ber.integer(boots),
    ber.integer(engineTime),
    ber.octets(Buffer.alloc(0)), // user name
    ber.octets(Buffer.alloc(0)), // authentication parameters
    ber.octets(Buffer.alloc(0)), // privacy parameters
  );
  const varbind = ber.sequence(ber.oid(counterOid), ber.tlv(0x41, ber.unsigned(count)));
  const reportPdu = ber.tlv(0xa8, Buffer.concat([ber.integer(0), ber.integer(0), ber.integer(0), ber.sequence(varbind)]));
  return ber.sequence(
    ber.integer(3),
    ber.sequence(ber.integer(header.msgId), ber.integer(65507), ber.octets(Buffer.of(0)), ber.integer(3)),
    ber.octets(securityParameters),
    ber.sequence(ber.octets(engineId), ber.octets(Buffer.alloc(0)), reportPdu),
  );
}

/** msgID and msgFlags of an SNMPv3 message, or null if it is not one. Reads only the header. */
function readV3Header(buffer: Buffer): { msgId: number; flags: number } | null {
  const reader = new BerReader(buffer);
  if (!reader.enter(0x30)) return null;
  if (reader.integer() !== 3) return null;
  if (!reader.enter(0x30)) return null;
  const msgId = reader.integer();
  if (msgId === null || reader.integer() === null) return null;
  const flags = reader.value(0x04);
  if (msgId < 0 || !flags || flags.length !== 1) return null;
  return { msgId, flags: flags[0]! };
}

/** Just enough BER to walk a message header; every read is bounds-checked. */
class BerReader {
  private offset = 0;
  constructor(private readonly buffer: Buffer) {}

  private header(tag: number): number | null {
    const b = this.buffer;
    if (this.offset + 2 > b.length || b[this.offset] !== tag) return null;
    let length = b[this.offset + 1]!;
    this.offset += 2;
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count < 1 || count > 3 || this.offset + count > b.length) return null;
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + b[this.offset++]!;
    }
    return this.offset + length <= b.length ? length : null;
  }

  /** Step inside a constructed value. */
  enter(tag: number): boolean {
    return this.header(tag) !== null;
  }

  value(tag: number): Buffer | null {
    const length = this.header(tag);
    if (length === null) return null;
    const value = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  integer(): number | null {
    const bytes = this.value(0x02);
    if (!bytes || bytes.length < 1 || bytes.length > 4) return null;
    return bytes.readIntBE(0, bytes.length);
  }
}

const ber = {
  tlv(tag: number, content: Buffer): Buffer {
    const n = content.length;
    const length = n < 0x80 ? Buffer.of(n) : n < 0x100 ? Buffer.of(0x81, n) : Buffer.of(0x82, n >> 8, n & 0xff);
    return Buffer.concat([Buffer.of(tag), length, content]);
  },
  sequence: (...items: Buffer[]) => ber.tlv(0x30, Buffer.concat(items)),
  octets: (bytes: Buffer) => ber.tlv(0x04, bytes),
  /** Non-negative INTEGER content, two's complement, minimal. */
  unsigned(value: number): Buffer {
    const bytes: number[] = [];
    let v = Math.max(0, Math.floor(value));
    do {
      bytes.unshift(v & 0xff);
      v = Math.floor(v / 256);
    } while (v > 0);
    if (bytes[0]! & 0x80) bytes.unshift(0);
    return Buffer.from(bytes);
  },
  integer: (value: number) => ber.tlv(0x02, ber.unsigned(value)),
  oid(dotted: string): Buffer {
    const arcs = dotted.split('.').map(Number);
    const bytes: number[] = [40 * arcs[0]! + arcs[1]!];
    for (const arc of arcs.slice(2)) {
      const chunk: number[] = [arc & 0x7f];
      for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
      bytes.push(...chunk);
    }
    return ber.tlv(0x06, Buffer.from(bytes));
  },
};
