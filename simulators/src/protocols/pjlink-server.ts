/**
 * A PJLink projector on a real TCP socket, for the PJLink driver and the simulated
 * district. It behaves like a unit on a classroom ceiling: greeting on connect
 * ("PJLINK 0", or "PJLINK 1 <random>" with a password), MD5 authentication of the first
 * command, one answer per command, ERR1 for commands it does not know, ERR2 for bad
 * parameters, ERR3 for what it cannot do now (switch input in standby), "PJLINK ERRA" and
 * a hang-up for a wrong password, and idle connections closed after 30 s.
 *
 * What it reports comes from `read()` (the projector value model, in the profile's metric
 * names). Power, input, mute and freeze commands override what read() says until the room
 * itself changes that value (the lesson ends, a teacher picks another input), so a
 * district command shows at once and the timetable still wins later. `current()` gives
 * back what the unit reports now, for the launcher.
 *
 * Written from the PJLink specification, independently of the driver's codec, so the two
 * check each other.
 */
import { createHash, randomBytes } from 'node:crypto';
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import type { MetricValue } from '@schoolops/device-profiles';
import { mulberry32 } from '../district/random.ts';
import { FaultSwitch } from './fault-switch.ts';

export const PJLINK_FAULTS = ['lamp-failure', 'overheat', 'unreachable', 'hang', 'garbage', 'half-close'] as const;
/**
 * lamp-failure: lamp error 2, LAMP reports the lamp off, the unit falls to standby and POWR 1 answers ERR4.
 * overheat: temperature error 2. unreachable: the port refuses connections (clear() listens on the same port again).
 * hang: connections are accepted but never greeted. garbage: junk bytes instead of answers.
 * half-close: greets, then ends the connection.
 */
export type PjlinkFault = (typeof PJLINK_FAULTS)[number];

export type ProjectorPower = 'off' | 'on' | 'cooling' | 'warming';
type ErrorLevel = 'ok' | 'warning' | 'error';

/** What the projector reports, in the profile's metric names. */
export interface ProjectorReport {
  power: ProjectorPower;
  input: string;
  avMute: boolean;
  lampHours: number;
  errorFan: ErrorLevel;
  errorLamp: ErrorLevel;
  errorTemperature: ErrorLevel;
  errorCover: ErrorLevel;
  errorFilter: ErrorLevel;
  errorOther: ErrorLevel;
  filterHours: number;
  freeze: boolean;
}

/** A set command the unit accepted (for the launcher, which may feed it back into the value model). */
export type PjlinkSetCommand =
  | { type: 'power'; on: boolean }
  | { type: 'input'; input: string }
  | { type: 'mute'; video: boolean; audio: boolean }
  | { type: 'freeze'; on: boolean };

export interface PjlinkIdentity {
  name?: string;
  manufacturer?: string;
  product?: string;
  info?: string;
  /** Class 2 only. */
  serialNumber?: string;
  softwareVersion?: string;
  lampModel?: string;
  filterModel?: string;
}

export interface PjlinkSimulatorOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Enables PJLink authentication. */
  password?: string;
  pjlinkClass?: 1 | 2;
  /** The projector's true state (value model output); missing or invalid fields fall back to a unit in standby. */
  read?: () => Readonly<Record<string, MetricValue>>;
  onCommand?: (command: PjlinkSetCommand) => void;
  identity?: PjlinkIdentity;
  /** Input codes the unit has (INST), default COMPUTER1, HDMI1, HDMI2. */
  inputs?: string[];
  /** Queries this unit answers ERR3 while not on, as some firmware does (e.g. ['LAMP', 'INPT']). */
  unavailableInStandby?: string[];
  warmingMs?: number;
  coolingMs?: number;
  /** Close a connection that sent nothing this long (PJLink: 30 s). */
  idleTimeoutMs?: number;
  now?: () => number;
}

const CR = 0x0d;
/** A command line: 32-character digest, then '%', class, body, separator, 128-byte parameter, CR. */
const MAX_COMMAND_BYTES = 32 + 136;

const LEVEL_DIGIT: Record<ErrorLevel, string> = { ok: '0', warning: '1', error: '2' };
const POWER_DIGIT: Record<ProjectorPower, string> = { off: '0', on: '1', cooling: '2', warming: '3' };
const ERROR_METRICS = ['errorFan', 'errorLamp', 'errorTemperature', 'errorCover', 'errorFilter', 'errorOther'] as const;

const isLit = (power: ProjectorPower) => power === 'on' || power === 'warming';

/** A command line's parts; `param` is '?' for a query. */
interface Command {
  cls: string;
  body: string;
  param: string;
}

interface Connection {
  socket: Socket;
  /** The digest the first command must carry, or null once authenticated (or without a password). */
  expectedDigest: string | null;
  buffer: Buffer;
  /** Which connection this is (1, 2, ...): the garbage fault alternates its junk by it. */
  serial: number;
}

function truthOf(values: Readonly<Record<string, MetricValue>>): ProjectorReport {
  const str = (name: string, fallback: string) => (typeof values[name] === 'string' ? (values[name] as string) : fallback);
  const num = (name: string, fallback: number) =>
    typeof values[name] === 'number' && Number.isFinite(values[name]) ? Math.max(0, Math.floor(values[name] as number)) : fallback;
  const level = (name: string): ErrorLevel => {
    const v = values[name];
    return v === 'warning' || v === 'error' ? v : 'ok';
  };
  const power = str('power', 'off');
  const lampHours = Math.min(99999, num('lampHours', 0));
  return {
    power: power in POWER_DIGIT ? (power as ProjectorPower) : 'off',
    input: str('input', '31'),
    avMute: values.avMute === true,
    lampHours,
    errorFan: level('errorFan'),
    errorLamp: level('errorLamp'),
    errorTemperature: level('errorTemperature'),
    errorCover: level('errorCover'),
    errorFilter: level('errorFilter'),
    errorOther: level('errorOther'),
    filterHours: Math.min(99999, num('filterHours', lampHours)),
    freeze: values.freeze === true,
  };
}

/** An override of one reported value, dropped once the room changes that value itself. */
interface Override<T> {
  value: T;
  /** The true value when the command came. */
  base: unknown;
  at: number;
}

export class PjlinkSimulator {
  private readonly opts: Required<Omit<PjlinkSimulatorOptions, 'password' | 'onCommand'>> & Pick<PjlinkSimulatorOptions, 'password' | 'onCommand'>;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly switchboard = new FaultSwitch<PjlinkFault>({
    down: () => this.unlisten(),
    up: async () => {
      if (!this.server && !this.stopped && this.boundPort) await this.listen(this.boundPort);
    },
  });
  private readonly faults = this.switchboard.active;
  private boundPort = 0;
  private stopped = false;
  private powerOverride: Override<boolean> | null = null;
  private inputOverride: Override<string> | null = null;
  private muteOverride: Override<{ video: boolean; audio: boolean }> | null = null;
  private freezeOverride: Override<boolean> | null = null;
  private readonly garbage = mulberry32(0x504a4c4b);
  /** Command lines received (without digest), newest last, at most 1000: tests check what a driver asked. */
  readonly received: string[] = [];
  readonly stats = { connections: 0, authFailures: 0, badLines: 0, oversized: 0 };

  constructor(options: PjlinkSimulatorOptions = {}) {
    this.opts = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      password: options.password,
      pjlinkClass: options.pjlinkClass ?? 1,
      read: options.read ?? (() => ({})),
      onCommand: options.onCommand,
      identity: options.identity ?? {},
      inputs: options.inputs ?? ['11', '31', '32'],
      unavailableInStandby: options.unavailableInStandby ?? [],
      warmingMs: options.warmingMs ?? 40_000,
      coolingMs: options.coolingMs ?? 60_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
      now: options.now ?? Date.now,
    };
  }

  get port(): number {
    return this.boundPort;
  }

  /** Open connections (a driver must close each after its poll). */
  get openConnections(): number {
    return this.sockets.size;
  }

  async start(): Promise<number> {
    if (this.stopped) throw new Error('PjlinkSimulator was stopped');
    await this.listen(this.opts.port);
    return this.boundPort;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.accept(socket));
      server.once('error', reject);
      server.listen(port, this.opts.host, () => {
        server.off('error', reject);
        // A failing accept (EMFILE) must not take the process down; the unit just misses that client.
        server.on('error', () => undefined);
        this.server = server;
        this.boundPort = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private async unlisten(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.unlisten();
  }

  inject(fault: PjlinkFault): Promise<void> {
    return this.switchboard.inject(fault);
  }

  /** Clear one fault, or all. 'unreachable' listens again on the same port. */
  clear(fault?: PjlinkFault): Promise<void> {
    return this.switchboard.clear(fault);
  }

  get activeFaults(): PjlinkFault[] {
    return this.switchboard.list();
  }

  // -------------------------------------------------------------------------------------
  // What the unit reports
  // -------------------------------------------------------------------------------------

  /** What the projector reports now: read() with commands and faults applied. */
  current(): ProjectorReport {
    const truth = truthOf(this.opts.read());
    const now = this.opts.now();
    const report = { ...truth };

    if (this.powerOverride && isLit(truth.power) !== this.powerOverride.base) this.powerOverride = null;
    if (this.powerOverride) {
      const since = now - this.powerOverride.at;
      if (this.powerOverride.value) report.power = since < this.opts.warmingMs ? 'warming' : 'on';
      else report.power = since < this.opts.coolingMs ? 'cooling' : 'off';
    }
    if (this.faults.has('lamp-failure')) {
      report.errorLamp = 'error';
      // A dead lamp cannot stay lit: the unit drops to standby.
      if (isLit(report.power)) report.power = 'off';
    }
    if (this.faults.has('overheat')) report.errorTemperature = 'error';

    if (this.inputOverride && truth.input !== this.inputOverride.base) this.inputOverride = null;
    if (this.inputOverride) report.input = this.inputOverride.value;

    if (this.muteOverride && truth.avMute !== this.muteOverride.base) this.muteOverride = null;
    if (this.freezeOverride && truth.freeze !== this.freezeOverride.base) this.freezeOverride = null;
    if (report.power !== 'on') {
      // Switching off ends any mute or freeze, on real units as in the value model.
      this.muteOverride = null;
      this.freezeOverride = null;
      report.avMute = false;
      report.freeze = false;
    }
    if (this.muteOverride) report.avMute = this.muteOverride.value.video || this.muteOverride.value.audio;
    if (this.freezeOverride) report.freeze = this.freezeOverride.value;
    return report;
  }

  private mute(report: ProjectorReport): { video: boolean; audio: boolean } {
    if (this.muteOverride && report.power === 'on') return this.muteOverride.value;
    return { video: report.avMute, audio: report.avMute };
  }

  // -------------------------------------------------------------------------------------
  // Connections
  // -------------------------------------------------------------------------------------

  private accept(socket: Socket): void {
    if (this.stopped || this.faults.has('unreachable')) {
      socket.destroy();
      return;
    }
    this.stats.connections++;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    // A client that resets the connection must not crash the unit.
    socket.on('error', () => undefined);
    socket.setTimeout(this.opts.idleTimeoutMs, () => socket.destroy());
    if (this.faults.has('hang')) {
      socket.resume(); // read and drop whatever comes, never answer
      return;
    }
    const random = this.opts.password !== undefined ? randomBytes(4).toString('hex') : null;
    socket.write(random ? `PJLINK 1 ${random}\r` : 'PJLINK 0\r');
    if (this.faults.has('half-close')) {
      socket.resume();
      socket.end();
      return;
    }
    const conn: Connection = {
      socket,
      expectedDigest: random ? createHash('md5').update(random + this.opts.password, 'utf8').digest('hex') : null,
      buffer: Buffer.alloc(0),
      serial: this.stats.connections,
    };
    socket.on('data', (chunk: Buffer) => this.receive(conn, chunk));
  }

  private receive(conn: Connection, chunk: Buffer): void {
    if (!conn.socket.writable) return; // hung up on this client (ERRA): whatever else it sends is dropped
    conn.buffer = conn.buffer.length ? Buffer.concat([conn.buffer, chunk]) : chunk;
    let end: number;
    while ((end = conn.buffer.indexOf(CR)) >= 0 && conn.socket.writable) {
      const line = conn.buffer.subarray(0, end);
      conn.buffer = conn.buffer.subarray(end + 1);
      if (line.length > MAX_COMMAND_BYTES) return this.oversized(conn);
      this.handleLine(conn, line.toString('latin1').replace(/^\n/, ''));
    }
    if (conn.socket.writable && conn.buffer.length > MAX_COMMAND_BYTES) this.oversized(conn);
  }

  /** No PJLink line is this long: a unit's small buffer gives up on the connection. */
  private oversized(conn: Connection): void {
    this.stats.oversized++;
    conn.buffer = Buffer.alloc(0);
    conn.socket.destroy();
  }

  private handleLine(conn: Connection, raw: string): void {
    if (raw === '') return;
    let line = raw;
    if (conn.expectedDigest !== null) {
      if (line.slice(0, 32).toLowerCase() !== conn.expectedDigest) {
        this.stats.authFailures++;
        conn.socket.end('PJLINK ERRA\r');
        return;
      }
      conn.expectedDigest = null;
      line = line.slice(32);
    }
    const match = /^%([0-9])([A-Za-z0-9]{4}) (.*)$/s.exec(line);
    if (!match) {
      this.stats.badLines++;
      return;
    }
    const command: Command = { cls: match[1]!, body: match[2]!, param: match[3]! };
    this.received.push(`%${command.cls}${command.body} ${command.param}`);
    if (this.received.length > 1000) this.received.splice(0, this.received.length - 1000);
    const answer = this.answer(command);
    if (this.faults.has('garbage')) conn.socket.write(this.junk(conn.serial % 2 === 0));
    else conn.socket.write(`%${command.cls}${command.body}=${answer}\r`);
  }

  /**
   * Junk instead of an answer, of the two kinds broken units send: a short line of binary
   * (starting with 0xff, so never a PJLink answer), or a run of bytes with no CR, longer
   * than any PJLink line.
   */
  private junk(endless: boolean): Buffer {
    const bytes = Array.from({ length: endless ? 300 : 24 }, () => Math.floor(this.garbage() * 256)).filter((b) => b !== CR);
    return Buffer.from(endless ? [0xff, ...bytes] : [0xff, ...bytes, CR]);
  }

  // -------------------------------------------------------------------------------------
  // Commands
  // -------------------------------------------------------------------------------------

  /** Which class prefixes a body answers to on this unit. */
  private classesOf(body: string): string[] {
    const class2 = this.opts.pjlinkClass === 2;
    switch (body) {
      case 'POWR':
      case 'AVMT':
      case 'ERST':
      case 'LAMP':
      case 'NAME':
      case 'INF1':
      case 'INF2':
      case 'INFO':
      case 'CLSS':
        return ['1'];
      case 'INPT':
      case 'INST':
        return class2 ? ['1', '2'] : ['1'];
      case 'SNUM':
      case 'SVER':
      case 'RLMP':
      case 'RFIL':
      case 'FILT':
      case 'FREZ':
        return class2 ? ['2'] : [];
      default:
        return [];
    }
  }

  private answer({ cls, body, param }: Command): string {
    if (!this.classesOf(body).includes(cls)) return 'ERR1';
    const report = this.current();
    if (param === '?') {
      if (report.power !== 'on' && this.opts.unavailableInStandby.includes(body)) return 'ERR3';
      return this.query(body, cls, report);
    }
    return this.set(body, cls, param, report);
  }

  private query(body: string, cls: string, report: ProjectorReport): string {
    const id = this.opts.identity;
    switch (body) {
      case 'POWR':
        return POWER_DIGIT[report.power];
      case 'INPT':
        return report.input;
      case 'AVMT': {
        const { video, audio } = this.mute(report);
        return video && audio ? '31' : video ? '11' : audio ? '21' : '30';
      }
      case 'ERST':
        return ERROR_METRICS.map((m) => LEVEL_DIGIT[report[m]]).join('');
      case 'LAMP':
        return `${report.lampHours} ${isLit(report.power) && !this.faults.has('lamp-failure') ? 1 : 0}`;
      case 'INST':
        return this.opts.inputs.filter((code) => cls === '2' || /^[1-5][1-9]$/.test(code)).join(' ');
      case 'NAME':
        return id.name ?? 'PROJECTOR';
      case 'INF1':
        return id.manufacturer ?? 'EPSON';
      case 'INF2':
        return id.product ?? 'EB-X51';
      case 'INFO':
        return id.info ?? '';
      case 'CLSS':
        return String(this.opts.pjlinkClass);
      case 'SNUM':
        return id.serialNumber ?? 'SIM00000001';
      case 'SVER':
        return id.softwareVersion ?? '1.00';
      case 'RLMP':
        return id.lampModel ?? '';
      case 'RFIL':
        return id.filterModel ?? '';
      case 'FILT':
        return String(report.filterHours);
      case 'FREZ':
        return report.freeze ? '1' : '0';
      default:
        return 'ERR1';
    }
  }

  private set(body: string, cls: string, param: string, report: ProjectorReport): string {
    const truth = truthOf(this.opts.read());
    const now = this.opts.now();
    switch (body) {
      case 'POWR': {
        if (param !== '0' && param !== '1') return 'ERR2';
        const on = param === '1';
        if (on && this.faults.has('lamp-failure')) return 'ERR4';
        // Lamps must finish warming up or cooling down before they can be switched again.
        if (report.power === 'warming' || report.power === 'cooling') return isLit(report.power) === on ? 'OK' : 'ERR3';
        if (isLit(report.power) !== on) {
          this.powerOverride = { value: on, base: isLit(truth.power), at: now };
          this.muteOverride = null;
          this.freezeOverride = null;
        }
        this.notify({ type: 'power', on });
        return 'OK';
      }
      case 'INPT': {
        const pattern = cls === '2' ? /^[1-6][1-9A-Z]$/ : /^[1-5][1-9]$/;
        if (!pattern.test(param) || !this.opts.inputs.includes(param)) return 'ERR2';
        if (report.power !== 'on') return 'ERR3';
        this.inputOverride = { value: param, base: truth.input, at: now };
        this.notify({ type: 'input', input: param });
        return 'OK';
      }
      case 'AVMT': {
        if (!/^[123][01]$/.test(param)) return 'ERR2';
        if (report.power !== 'on') return 'ERR3';
        const muted = param[1] === '1';
        const next = { ...this.mute(report) };
        if (param[0] !== '2') next.video = muted;
        if (param[0] !== '1') next.audio = muted;
        this.muteOverride = { value: next, base: truth.avMute, at: now };
        this.notify({ type: 'mute', ...next });
        return 'OK';
      }
      case 'FREZ': {
        if (param !== '0' && param !== '1') return 'ERR2';
        if (report.power !== 'on') return 'ERR3';
        this.freezeOverride = { value: param === '1', base: truth.freeze, at: now };
        this.notify({ type: 'freeze', on: param === '1' });
        return 'OK';
      }
      default:
        // Queries only: a parameter other than '?' is out of range.
        return 'ERR2';
    }
  }

  private notify(command: PjlinkSetCommand): void {
    try {
      this.opts.onCommand?.(command);
    } catch {
      // The launcher's callback failing is not the projector's problem.
    }
  }
}
