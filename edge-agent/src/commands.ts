/**
 * The gateway's command desk: every command the district sends passes here before a device
 * sees it, and what became of it goes back to the district.
 *
 *  - **At most once.** The desk remembers each commandId it received, with the outcome it
 *    got, in a journal on the gateway's disk (`<dataDir>/commands`, LevelDB, synced writes).
 *    A command is written down as running *before* its driver is called, so a command that
 *    comes again (a QoS 1 redelivery, also after a gateway restart) is answered 'duplicate'
 *    with its first outcome and never run twice. One the gateway was running when it stopped
 *    or died is reported 'failed' (reason interrupted: it may or may not have taken effect),
 *    never started again.
 *  - **Not late.** One past its expiry by this gateway's clock is refused 'expired', and one
 *    issued too far ahead of it 'refused' (clock_skew): COMMAND_TTL in the wire contract says
 *    why, and how much skew is allowed.
 *  - **Every outcome reported, none lost.** Each outcome is written to the journal in the same
 *    synced write that settles the command, then sent on the uplink (QoS 1) and kept, across
 *    link outages and restarts, until the district confirms it (CommandResultAck). Outcomes
 *    where nothing ran (expired, duplicate, refused, unknown device) are kept the same way:
 *    they are what tells an operator a command did *not* happen, and cost one small record
 *    each. Only a flood beyond MAX_PENDING makes the desk drop reports, those where nothing
 *    ran first.
 *
 * Memory is bounded: a command is remembered until FORGET_AFTER_EXPIRY_MS past its expiry (by
 * then a repeat is refused as expired anyway, so forgetting it cannot make it run twice) and
 * at most MAX_REMEMBERED commands are remembered at once.
 *
 * Journal keys (ordered byte-wise; one index counter for both, so the order is receipt order):
 *   c!<16-digit index>   a command received: ids, expiry, and its outcome once settled
 *   r!<16-digit index>   a CommandResult the district has not confirmed yet
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import {
  COMMAND_RAN,
  CommandResult as CommandResultSchema,
  WIRE_VERSION,
  check,
  commandExpiry,
  commandTimeProblem,
  type CommandOutcome,
  type CommandReason,
  type CommandResult,
  type DeviceCommand,
  type MetricValues,
} from '@schoolops/device-profiles';
import type { Logger } from 'pino';

/** What carrying a command out (or refusing it) came to; the desk adds the ids and times. */
export type Execution =
  | { outcome: 'ok'; values?: MetricValues }
  | { outcome: 'accepted'; detail?: string }
  | { outcome: 'failed'; reason: CommandReason; detail: string }
  | { outcome: 'expired'; detail: string }
  | { outcome: 'unknown_device' | 'refused'; reason?: CommandReason; detail: string };

/** A refusal decided before anything runs. */
export type Refusal = Extract<Execution, { outcome: 'unknown_device' | 'refused' }>;

export interface CommandDeskOptions {
  /** The gateway's data folder; the journal is `<dataDir>/commands`. */
  dataDir: string;
  gatewayId: string;
  schoolId: string;
  bootId: string;
  logger: Logger;
  /** The gateway's clock, ms (default Date.now): expiry is judged by it. Tests give their own. */
  now?: () => number;
  /** Why this gateway cannot carry the command out at all (no such device, no such command), or null. */
  check(command: DeviceCommand): Refusal | null;
  /** Carry out a command that passed every check. Should not reject; a rejection counts as failed. */
  execute(command: DeviceCommand): Promise<Execution>;
  /** A result is waiting to be sent (the uplink's pump). */
  onResult(): void;
}

/** Past its expiry a repeat is refused as expired anyway; the hour covers a clock stepped back by NTP. */
export const FORGET_AFTER_EXPIRY_MS = 60 * 60_000;
/** Commands remembered at once at most (people send commands: a school sends a few hundred a day). */
export const MAX_REMEMBERED = 10_000;
/** Reports kept for the district at most (a district that confirms nothing for weeks). */
export const MAX_PENDING = 10_000;

/** What the journal keeps of one command. */
interface Remembered {
  index: number;
  commandId: string;
  deviceId: string;
  name: string;
  /** By this gateway's clock. */
  receivedAt: number;
  /** commandExpiry(command), the district's clock. */
  expiry: number;
  /** Absent while the command runs. */
  outcome?: Exclude<CommandOutcome, 'duplicate'>;
}

const COMMAND = 'c!';
const RESULT = 'r!';
const keyOf = (prefix: string, index: number) => `${prefix}${String(index).padStart(16, '0')}`;
type Op = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };

export class CommandDesk {
  /** commandId -> what is remembered of it, oldest received first. */
  private readonly remembered = new Map<string, Remembered>();
  /** commandId -> its outcome, while it runs: a repeat meanwhile waits for it. */
  private readonly running = new Map<string, Promise<CommandResult | null>>();
  /** journal index -> a report the district has not confirmed, oldest first. */
  private readonly pending = new Map<number, CommandResult>();
  private nextIndex = 0;
  private closing = false;
  private closed = false;
  private readonly now: () => number;

  private constructor(
    private readonly db: ClassicLevel<string, string>,
    private readonly opts: CommandDeskOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  static async open(opts: CommandDeskOptions): Promise<CommandDesk> {
    const dir = join(opts.dataDir, 'commands');
    mkdirSync(dir, { recursive: true });
    const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.open();
    const desk = new CommandDesk(db, opts);
    await desk.load();
    return desk;
  }

  private async load(): Promise<void> {
    const unsettled: Remembered[] = [];
    for await (const [key, value] of this.db.iterator({ gte: COMMAND, lt: `${COMMAND}~` })) {
      const entry = JSON.parse(value) as Remembered;
      this.remembered.set(entry.commandId, entry);
      this.nextIndex = Math.max(this.nextIndex, Number(key.slice(COMMAND.length)) + 1);
      if (!entry.outcome) unsettled.push(entry);
    }
    for await (const [key, value] of this.db.iterator({ gte: RESULT, lt: `${RESULT}~` })) {
      const index = Number(key.slice(RESULT.length));
      this.pending.set(index, JSON.parse(value) as CommandResult);
      this.nextIndex = Math.max(this.nextIndex, index + 1);
    }
    // Running when the gateway stopped or died: the driver may have sent it or not. Never run
    // again (a redelivery is a duplicate); the district hears it was interrupted.
    for (const entry of unsettled) {
      const detail = 'the gateway stopped while the command ran: it may or may not have taken effect; not run again';
      await this.settle(entry, { outcome: 'failed', reason: 'interrupted', detail }, []);
    }
    if (this.pending.size > 0 || unsettled.length > 0)
      this.opts.logger.info({ remembered: this.remembered.size, unreported: this.pending.size, interrupted: unsettled.length }, 'command journal holds commands from an earlier run');
  }

  /** Reports the district has not confirmed yet, oldest first. */
  pendingResults(): CommandResult[] {
    return [...this.pending.values()];
  }

  /** The district has stored (or refused for good) this report: forget it. */
  async confirm(resultId: string): Promise<void> {
    for (const [index, result] of this.pending)
      if (result.resultId === resultId) {
        this.pending.delete(index);
        // After close the report is still on disk: the next run sends it again, and the
        // district stores a report once by its id.
        if (!this.closed) await this.db.del(keyOf(RESULT, index));
        return;
      }
  }

  /**
   * Handle one command from the district: resolves with the report sent about it, or null
   * when the desk is closing (the command is not run; the district sees no outcome).
   */
  handle(command: DeviceCommand): Promise<CommandResult | null> {
    if (this.closing) {
      this.opts.logger.warn({ commandId: command.commandId, device: command.deviceId }, 'command received while the gateway stops: not run');
      return Promise.resolve(null);
    }
    const now = this.now();
    const known = this.remembered.get(command.commandId);
    if (known) return this.repeat(known, now);
    // Remembered before anything is awaited: a second delivery close behind finds it.
    const entry: Remembered = {
      index: this.nextIndex++,
      commandId: command.commandId,
      deviceId: command.deviceId,
      name: command.name,
      receivedAt: now,
      expiry: commandExpiry(command),
    };
    this.remembered.set(entry.commandId, entry);
    const forget = this.prune(now);
    const done = this.run(command, entry, forget, now);
    this.running.set(entry.commandId, done);
    return done.finally(() => this.running.delete(entry.commandId));
  }

  private async run(command: DeviceCommand, entry: Remembered, forget: Op[], now: number): Promise<CommandResult | null> {
    const refusal = this.opts.check(command) ?? commandTimeProblem(command, now);
    if (refusal) return this.settle(entry, refusal, forget);
    try {
      // On disk before the device sees it: after a crash the command is known, and not run again.
      await this.db.batch([...forget, { type: 'put', key: keyOf(COMMAND, entry.index), value: JSON.stringify(entry) }], { sync: true });
    } catch (error) {
      const detail = `the gateway could not record the command on its disk, so did not run it: ${(error as Error).message}`;
      this.opts.logger.error({ commandId: entry.commandId, device: entry.deviceId, err: (error as Error).message }, 'command journal write failed');
      return this.settle(entry, { outcome: 'refused', reason: 'gateway_error', detail }, []);
    }
    let execution = await this.opts.execute(command).catch((error: unknown): Execution => ({ outcome: 'failed', reason: 'protocol_error', detail: String(error) }));
    // A command cut short by the gateway stopping failed for that reason, not the device's.
    if (this.closing && execution.outcome === 'failed')
      execution = { outcome: 'failed', reason: 'interrupted', detail: `the gateway stopped while the command ran (${execution.detail})` };
    return this.settle(entry, execution, []);
  }

  /** A commandId received before: never run again; the district hears its first outcome. */
  private async repeat(known: Remembered, now: number): Promise<CommandResult | null> {
    if (!known.outcome) await this.running.get(known.commandId);
    const first = known.outcome;
    const detail = `received before, at ${new Date(known.receivedAt).toISOString()} by the gateway's clock${first ? `, when it was ${first}` : ''}; not run again`;
    this.opts.logger.warn({ commandId: known.commandId, device: known.deviceId, command: known.name, first }, 'command received again: not run twice');
    // receivedAt: this delivery's, not the first one's (the detail says when that was).
    return this.report(this.resultOf({ ...known, receivedAt: now }, { outcome: 'duplicate', detail, ...(first ? { first } : {}) }, now), []);
  }

  /** Record the outcome and its report in one synced write, then hand the report to the uplink. */
  private async settle(entry: Remembered, execution: Execution, forget: Op[]): Promise<CommandResult | null> {
    entry.outcome = execution.outcome;
    const result = this.resultOf(entry, execution, this.now());
    const log = { commandId: entry.commandId, device: entry.deviceId, command: entry.name, outcome: result.outcome, reason: result.reason, detail: result.detail };
    if (result.outcome === 'ok' || result.outcome === 'accepted') this.opts.logger.info(log, 'command carried out');
    else this.opts.logger.warn(log, `command ${result.outcome}`);
    return this.report(result, [...forget, { type: 'put', key: keyOf(COMMAND, entry.index), value: JSON.stringify(entry) }]);
  }

  private async report(result: CommandResult, ops: Op[]): Promise<CommandResult | null> {
    const index = this.nextIndex++;
    const extra: Op[] = [];
    this.pending.set(index, result);
    if (this.pending.size > MAX_PENDING) extra.push(this.dropPending());
    try {
      await this.db.batch([...ops, ...extra, { type: 'put', key: keyOf(RESULT, index), value: JSON.stringify(result) }], { sync: true });
    } catch (error) {
      // Still sent in this run; lost only if the gateway also restarts before the district confirms it.
      this.opts.logger.error({ commandId: result.commandId, err: (error as Error).message }, 'command result not written to the journal');
    }
    this.opts.onResult();
    return result;
  }

  /**
   * Past MAX_PENDING unconfirmed reports, drop the oldest one about a command that did not
   * run (nothing happened at a device), else the oldest of all.
   */
  private dropPending(): Op {
    let victim: [number, CommandResult] | undefined;
    for (const item of this.pending) {
      victim ??= item;
      if (!COMMAND_RAN.includes(item[1].outcome)) {
        victim = item;
        break;
      }
    }
    const [index, result] = victim!;
    this.pending.delete(index);
    this.opts.logger.error({ commandId: result.commandId, outcome: result.outcome, kept: MAX_PENDING }, 'too many command results unconfirmed by the district: dropped the oldest');
    return { type: 'del', key: keyOf(RESULT, index) };
  }

  /** Forget the commands received longest ago that need no remembering; the journal deletes to go with the next write. */
  private prune(now: number): Op[] {
    const ops: Op[] = [];
    for (const entry of this.remembered.values()) {
      const over = this.remembered.size > MAX_REMEMBERED;
      if (!entry.outcome || (!over && now <= entry.expiry + FORGET_AFTER_EXPIRY_MS)) break;
      if (over && now <= entry.expiry + FORGET_AFTER_EXPIRY_MS)
        this.opts.logger.warn({ commandId: entry.commandId, remembered: MAX_REMEMBERED }, 'too many commands to remember: forgot one before its expiry');
      this.remembered.delete(entry.commandId);
      ops.push({ type: 'del', key: keyOf(COMMAND, entry.index) });
    }
    return ops;
  }

  private resultOf(entry: Remembered, execution: Execution | { outcome: 'duplicate'; detail: string; first?: Exclude<CommandOutcome, 'duplicate'> }, now: number): CommandResult {
    const { gatewayId, schoolId, bootId } = this.opts;
    const e = execution as { outcome: CommandOutcome; reason?: CommandReason; detail?: string; values?: MetricValues; first?: Exclude<CommandOutcome, 'duplicate'> };
    const result: CommandResult = {
      v: WIRE_VERSION,
      gatewayId,
      schoolId,
      bootId,
      resultId: randomBytes(12).toString('base64url'),
      commandId: entry.commandId,
      deviceId: entry.deviceId,
      name: entry.name,
      outcome: e.outcome,
      ...(e.reason ? { reason: e.reason } : {}),
      ...(e.detail ? { detail: e.detail.slice(0, 512) } : {}),
      ...(e.values && Object.keys(e.values).length > 0 ? { values: e.values } : {}),
      ...(e.first ? { first: e.first } : {}),
      receivedAt: entry.receivedAt,
      ts: now,
    };
    // A report the district would refuse is resent for nothing: a driver's values that break
    // the wire's bounds (a metric name, a long string) are left out rather than the outcome.
    const checked = check(CommandResultSchema, result);
    if (!checked.ok && result.values) {
      this.opts.logger.warn({ commandId: entry.commandId, path: checked.path, problem: checked.message }, 'command result values left out: outside the wire contract');
      delete result.values;
    }
    return result;
  }

  /** How many commands are remembered (tests, health). */
  get size(): { remembered: number; unreported: number } {
    return { remembered: this.remembered.size, unreported: this.pending.size };
  }

  /** Let running commands settle (the drivers stop first, so they do at once), then close the journal. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.running.values()]);
    this.closed = true;
    await this.db.close();
  }
}
