/**
 * PJLink driver (projectors and displays, class 1 and 2), poll mode.
 *
 * Each poll opens one TCP connection, reads the greeting, authenticates when the device
 * asks, sends the queries the profile's metrics need one at a time, and closes: many
 * projectors serve a single control connection, and one held open would lock out the
 * school's own remote. Identity (NAME, INF1, SNUM...) is read once and cached, and read
 * again after the device was unreachable (it may have been swapped).
 *
 * Failures: connection refused/reset and timeouts come from the socket and the runner's
 * AbortSignal; a wrong password is auth_failed; an answer that does not parse, or a line
 * longer than PJLink allows, is protocol_error. ERR1..ERR4 to a query skip that metric
 * (ERR3: many units cannot tell their lamp or input in standby); the poll fails with
 * device_error only when the device refused every query.
 */
import { readFileSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import type { MetricValue, MetricValues } from '@schoolops/device-profiles';
import {
  ERROR_MEANINGS,
  MAX_LINE_BYTES,
  PJLINK_METRICS,
  PJLINK_PORT,
  authDigest,
  commandFor,
  encodeCommand,
  parseAnswer,
  parseClass,
  parseGreeting,
  queriesFor,
  type Answer,
  type PjlinkClass,
  type PjlinkQuery,
} from './pjlink-protocol.ts';
import { DriverError, classifyError, isUnreachable, type DeviceHandle, type Driver, type DriverContext } from './types.ts';

export const PjlinkOptions = Type.Object(
  {
    /** The device's PJLink password (PJLink allows up to 32 characters). */
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    /** A file holding the password (read when the agent starts), so the config can be shared. */
    passwordFile: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);
export type PjlinkOptions = Static<typeof PjlinkOptions>;
/**
 * Options that are credentials. The gateway refuses a config holding them inline unless only
 * its own user can read it; they belong in the config's secretsFile (edge-agent/src/config.ts).
 */
export const PJLINK_SECRET_OPTIONS = ['password'] as const satisfies readonly (keyof PjlinkOptions)[];

/** Whatever the caller's signal says, no exchange outlives this (a poll is a few round trips). */
const HARD_LIMIT_MS = 30_000;

const CR = 0x0d;

/** One TCP exchange with a device: lines in, one command at a time out. */
class PjlinkSession {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly lines: string[] = [];
  private waiter: { resolve(line: string): void; reject(error: unknown): void } | null = null;
  private failure: unknown = null;
  private prefix = '';
  /** What the session waits for, for error details ("the greeting", "the answer to %1POWR ?"). */
  private stage = 'the greeting';
  private readonly socket: Socket;
  private readonly onAbort: () => void;
  private readonly limit: NodeJS.Timeout;

  constructor(
    private readonly where: string,
    host: string,
    port: number,
    private readonly signal: AbortSignal,
  ) {
    this.socket = net.connect({ host, port });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('end', () => this.fail(new DriverError('closed', `${where} closed the connection while we waited for ${this.stage}`)));
    this.socket.on('close', () => {
      this.fail(new DriverError('closed', `${where} closed the connection while we waited for ${this.stage}`));
      this.detach();
    });
    this.onAbort = () =>
      this.fail(new DriverError('timeout', `no answer from ${where} in time (waiting for ${this.stage})`, { cause: signal.reason }));
    // A timer of our own rather than AbortSignal.any(): composites of a long-lived signal leak in Node 20 (nodejs/node#54614).
    this.limit = setTimeout(this.onAbort, HARD_LIMIT_MS);
    this.limit.unref();
    if (signal.aborted) this.onAbort();
    else signal.addEventListener('abort', this.onAbort, { once: true });
  }

  private detach(): void {
    clearTimeout(this.limit);
    this.signal.removeEventListener('abort', this.onAbort);
  }

  /** Read the greeting; with authentication, arrange the digest in front of the first command. */
  async start(password: string | undefined, profileId: string): Promise<void> {
    const greeting = parseGreeting(await this.readLine());
    if (!greeting.auth) return;
    if (password === undefined)
      throw new DriverError(
        'auth_failed',
        `${this.where} asks for a PJLink password and none is configured (set options.password or options.passwordFile; profile ${profileId})`,
      );
    this.prefix = authDigest(greeting.random, password);
  }

  async ask(cls: PjlinkClass, body: string, param: string): Promise<Answer> {
    const line = encodeCommand(cls, body, param);
    this.stage = `the answer to %${cls}${body} ${param}`;
    this.socket.write(this.prefix + line);
    this.prefix = '';
    return parseAnswer(await this.readLine(), cls, body);
  }

  private receive(chunk: Buffer): void {
    if (this.failure) return;
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let end: number;
    while ((end = this.buffer.indexOf(CR)) >= 0) {
      if (end > MAX_LINE_BYTES) return this.tooLong();
      // Some firmware ends lines with CR LF: the LF then starts the next line.
      const line = this.buffer.subarray(0, end).toString('utf8').replace(/^\n/, '');
      this.buffer = this.buffer.subarray(end + 1);
      if (line !== '') this.lines.push(line);
    }
    if (this.buffer.length > MAX_LINE_BYTES) return this.tooLong();
    this.deliver();
  }

  private tooLong(): void {
    this.fail(new DriverError('protocol_error', `${this.where} sent a line longer than PJLink's ${MAX_LINE_BYTES} bytes`));
  }

  private deliver(): void {
    if (!this.waiter) return;
    const line = this.lines.shift();
    if (line !== undefined) {
      const { resolve } = this.waiter;
      this.waiter = null;
      resolve(line);
    } else if (this.failure) {
      const { reject } = this.waiter;
      this.waiter = null;
      reject(this.failure);
    }
  }

  private readLine(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.deliver();
    });
  }

  /** The first failure wins: it is the one that says what went wrong. */
  private fail(error: unknown): void {
    if (!this.failure) this.failure = error;
    // Lines that came before a hang-up still count ("PJLINK ERRA", then close); after anything else they do not.
    if (!(this.failure instanceof DriverError && this.failure.reason === 'closed')) this.lines.length = 0;
    this.socket.destroy();
    this.deliver();
  }

  close(): void {
    this.fail(new DriverError('closed', 'session closed'));
    this.detach();
  }
}

class PjlinkHandle implements DeviceHandle {
  private readonly metrics: ReadonlySet<string>;
  private readonly queries: PjlinkQuery[];
  private readonly where: string;
  /** Identity answers, by query body. */
  private readonly fixed = new Map<string, MetricValues>();
  /** Queries the device answered ERR1 (not implemented): not asked again. */
  private readonly unsupported = new Set<string>();
  private deviceClass: number | null = null;
  private readonly sessions = new Set<PjlinkSession>();
  private warnedClass = false;

  constructor(
    private readonly ctx: DriverContext<'pjlink', PjlinkOptions>,
    private readonly host: string,
    private readonly port: number,
    private readonly password: string | undefined,
  ) {
    const profile = ctx.device.profile;
    this.metrics = new Set(profile.metrics.map((m) => m.name));
    this.queries = queriesFor(this.metrics);
    this.where = `${host}:${port}`;
    const unknown = [...this.metrics].filter((m) => !PJLINK_METRICS.has(m));
    if (unknown.length)
      ctx.logger.warn({ profile: profile.id, metrics: unknown }, 'PJLink cannot read these profile metrics; they stay empty');
    if (ctx.device.protocol.auth && password === undefined)
      ctx.logger.warn({ profile: profile.id }, 'profile ships with PJLink authentication on but no password is configured');
  }

  async poll(signal: AbortSignal): Promise<MetricValues> {
    return this.exchange(signal, (session) => this.read(session));
  }

  async command(name: string, params: Record<string, MetricValue>, signal: AbortSignal): Promise<void> {
    if (!this.ctx.device.profile.commands.some((c) => c.name === name))
      throw new DriverError('protocol_error', `profile ${this.ctx.device.profile.id} has no command "${name}"`);
    const set = commandFor(name, params);
    await this.exchange(signal, async (session) => {
      const cls = set.needsClass2 || set.class2Variant ? await this.classOf(session) : 1;
      if (set.needsClass2 && cls < 2)
        throw new DriverError('device_error', `${name} ${JSON.stringify(params)} needs PJLink class 2; ${this.where} is class ${cls}`);
      const sendAs: PjlinkClass = set.cls === 2 || (set.class2Variant && cls >= 2) ? 2 : 1;
      const answer = await session.ask(sendAs, set.body, set.param);
      if (!answer.ok)
        throw new DriverError('device_error', `${this.where} refused ${name}: ${answer.error} (${ERROR_MEANINGS[answer.error]})`);
      if (answer.value.toUpperCase() !== 'OK')
        throw new DriverError('protocol_error', `${this.where} answered ${name} with ${JSON.stringify(answer.value)} instead of OK`);
    });
  }

  /** One connection for `work`, always closed; an unreachable device loses its cached identity. */
  private async exchange<T>(signal: AbortSignal, work: (session: PjlinkSession) => Promise<T>): Promise<T> {
    const session = new PjlinkSession(this.where, this.host, this.port, signal);
    this.sessions.add(session);
    try {
      await session.start(this.password, this.ctx.device.profile.id);
      return await work(session);
    } catch (error) {
      if (isUnreachable(classifyError(error).reason)) this.forget();
      throw error;
    } finally {
      session.close();
      this.sessions.delete(session);
    }
  }

  private forget(): void {
    this.fixed.clear();
    this.unsupported.clear();
    this.deviceClass = null;
  }

  /** The device's PJLink class, asked once; a class 1 profile never uses class 2, so it is not asked. */
  private async classOf(session: PjlinkSession): Promise<number> {
    if (this.ctx.device.protocol.pjlinkClass < 2) return 1;
    if (this.deviceClass !== null) return this.deviceClass;
    const answer = await session.ask(1, 'CLSS', '?');
    this.deviceClass = answer.ok ? parseClass(answer.value) : 1;
    if (this.deviceClass < 2 && !this.warnedClass) {
      this.warnedClass = true;
      this.ctx.logger.warn({ device: this.where }, 'profile says PJLink class 2 but the device is class 1: class 2 metrics stay empty');
    }
    return this.deviceClass;
  }

  private async read(session: PjlinkSession): Promise<MetricValues> {
    const values: MetricValues = {};
    const refused: string[] = [];
    let answered = 0;
    const needsClass = this.queries.some((q) => q.cls === 2 || q.class2Variant);
    const cls = needsClass ? await this.classOf(session) : 1;
    for (const query of this.queries) {
      if ((query.cls === 2 && cls < 2) || this.unsupported.has(query.body)) continue;
      const cached = this.fixed.get(query.body);
      if (cached) {
        Object.assign(values, cached);
        answered++;
        continue;
      }
      const sendAs: PjlinkClass = query.cls === 2 || (query.class2Variant && cls >= 2) ? 2 : 1;
      const answer = await session.ask(sendAs, query.body, '?');
      if (!answer.ok) {
        refused.push(`${query.body}=${answer.error}`);
        if (answer.error === 'ERR1') {
          this.unsupported.add(query.body);
          this.ctx.logger.warn({ device: this.where, query: query.body }, 'device does not implement this PJLink query');
        }
        continue;
      }
      const decoded = this.keep(query.decode(answer.value));
      if (query.fixed) this.fixed.set(query.body, decoded);
      Object.assign(values, decoded);
      answered++;
    }
    if (answered === 0 && refused.length > 0)
      throw new DriverError('device_error', `${this.where} refused every query: ${refused.join(', ')}`);
    if (refused.length) this.ctx.logger.debug({ device: this.where, refused }, 'some PJLink queries refused; their metrics skipped');
    return values;
  }

  /** Only the metrics the profile declares (LAMP also gives lampOn, which a profile may not list). */
  private keep(decoded: MetricValues): MetricValues {
    const kept: MetricValues = {};
    for (const [name, value] of Object.entries(decoded)) if (this.metrics.has(name)) kept[name] = value;
    return kept;
  }

  async close(): Promise<void> {
    for (const session of this.sessions) session.close();
    this.sessions.clear();
  }
}

function passwordOf(options: PjlinkOptions): string | undefined {
  if (options.password !== undefined && options.passwordFile !== undefined)
    throw new DriverError('auth_failed', 'set options.password or options.passwordFile, not both');
  if (options.passwordFile === undefined) return options.password;
  let text: string;
  try {
    text = readFileSync(options.passwordFile, 'utf8');
  } catch (error) {
    throw new DriverError('auth_failed', `cannot read the PJLink passwordFile ${options.passwordFile}: ${(error as Error).message}`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new DriverError('auth_failed', `the PJLink passwordFile ${options.passwordFile} is empty`);
  return password;
}

export const pjlinkDriver: Driver<'pjlink', PjlinkOptions> = {
  protocol: 'pjlink',
  mode: 'poll',
  options: PjlinkOptions,
  open(ctx) {
    const { host, port, options } = ctx.device;
    if (!host) throw new DriverError('no_route', `device ${ctx.device.record.id} has no address.host`);
    return new PjlinkHandle(ctx, host, port ?? PJLINK_PORT, passwordOf(options ?? {}));
  },
};
