/**
 * District ingest: everything gateways send up arrives here. A telemetry batch is checked
 * (envelope schema, the topic's school, the gateway that speaks for it), dropped if it is
 * a replay of a batch already stored, and each reading is checked on its own (schema, sample
 * time against the district's clock, its device's school and profile) before it is stored
 * and shown. A gateway event is checked the same way (its time, and that the devices it
 * names are of the sending school). Every refusal is counted by reason and logged.
 *
 * Commands travel through here too: the API's command is recorded (who sent it) before it is
 * published to the device's gateway, and the gateway's report of its outcome is checked (the
 * device and the command are the sending school's, the command is one the district sent),
 * stored, written to the audit log and acknowledged, so the gateway forgets it.
 *
 * Each gateway's messages are handled one after another (a reading never overtakes an
 * earlier one of its gateway); gateways do not wait for each other, so one gateway's slow
 * question to the store (a boot met again after a cloud restart) holds up no other school.
 */
import mqtt, { type MqttClient } from 'mqtt';
import {
  BatchIdentity,
  BrokerStats,
  CommandResult,
  CommandResultIdentity,
  GatewayEvent,
  GatewayHealth,
  GatewayStatus,
  Reading,
  TIME_WINDOWS,
  TelemetryBatchEnvelope,
  WIRE_VERSION,
  check,
  checkValues,
  decode,
  districtTopics,
  encode,
  isUplinkChannel,
  outsideTimeWindow,
  parseDistrictTopic,
  type BatchAck,
  type CommandResultAck,
  type DeviceCommand,
  type EventAck,
  type TimeWindow,
} from '@schoolops/device-profiles';
import type { Static } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { AuditEntryInput, AuditOutcome } from './auth/accounts.ts';
import type { DistrictIndex } from './inventory.ts';
import type { LiveState } from './live-state.ts';
import { readingToRows, type BatchKey, type CommandLog, type CommandRecord, type CommandWithResults, type ReadingStore, type StoredRow } from './storage/index.ts';

/** Why ingest refused a message or a reading. */
export const INGEST_REJECT_REASONS = [
  'malformed_json',
  'bad_schema',
  'bad_topic',
  'unknown_school',
  'wrong_gateway',
  'unknown_device',
  'wrong_school',
  'unknown_metric',
  'wrong_type',
  'out_of_range',
  /** A sample or event time outside the district's window around its clock. */
  'ts_out_of_window',
  /** Storage failed: not acknowledged, the gateway sends the batch again (counted per attempt). */
  'store_failed',
  /** Storage refused these readings for good while it stored others: dropped, never retried. */
  'store_refused',
  /** A command result about a command the district never sent (or sent to another device). */
  'unknown_command',
] as const;
export type IngestRejectReason = (typeof INGEST_REJECT_REASONS)[number];

export interface IngestStats {
  batches: number;
  duplicateBatches: number;
  readings: number;
  /** Command results stored (a report the gateway sent again is counted once). */
  commandResults: number;
  rejected: Record<IngestRejectReason, number>;
  broker: BrokerStats | null;
}

export interface IngestOptions {
  /** The district's clock (default Date.now): sample and event times are checked against it. */
  now?: () => number;
  /** How far from `now` a sample or event time may be (default TIME_WINDOWS.district). */
  timeWindow?: TimeWindow;
  /** Where commands and their results are recorded; without it results are refused (unknown_command). */
  commands?: CommandLog;
  /** The district's audit log: each stored command result becomes a 'command.result' entry. */
  audit?: (entry: AuditEntryInput) => Promise<unknown>;
}

/**
 * How many batch seqs to remember per gateway boot, and how many boots. Past either, the
 * memory no longer holds every stored batch of a boot, and a batch it does not hold is
 * looked up in the store (an indexed lookup, ReadingStore.hasBatch) instead.
 */
const DEDUP_WINDOW = 50_000;
const MIN_BOOTS_REMEMBERED = 64;
/**
 * Deliveries of a batch whose every reading storage refused, each while storage was storing
 * other batches, before ingest gives up on it (acknowledged 'rejected', counted store_refused).
 */
const STORE_STRIKES = 3;
/** Batches with strikes that are remembered at once (the oldest is forgotten past it). */
const MAX_STRUCK_BATCHES = 10_000;
const LOG_EVERY_MS = 10_000;

/** What ingest knows of one gateway boot's stored batches. */
interface BootMemory {
  seqs: Set<number>;
  /** seqs holds every stored batch of the boot: a seq not in it is new, without asking the store. */
  complete: boolean;
}

export class Ingest {
  readonly stats: IngestStats = {
    batches: 0,
    duplicateBatches: 0,
    readings: 0,
    commandResults: 0,
    rejected: Object.fromEntries(INGEST_REJECT_REASONS.map((r) => [r, 0])) as Record<IngestRejectReason, number>,
    broker: null,
  };
  private client: MqttClient | undefined;
  private closing = false;
  /** `${gatewayId}/${bootId}` -> what is known of its stored batches (insertion-ordered, bounded). */
  private readonly boots = new Map<string, BootMemory>();
  private readonly maxBoots: number;
  private readonly lastLogged = new Map<string, number>();
  /** Per gateway, the tail of its chain: its messages are handled one after another. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Did the latest write to the store (any gateway's) succeed? */
  private storeWorking = true;
  private lastStoreError = '';
  /** `${gatewayId}/${bootId}/${seq}` -> deliveries whose every reading storage refused. */
  private readonly strikes = new Map<string, number>();
  /** The district's clock: sample times are checked, and commands stamped, by it. */
  readonly now: () => number;
  private readonly timeWindow: TimeWindow;
  private readonly commandLog: CommandLog | null;
  private readonly audit: ((entry: AuditEntryInput) => Promise<unknown>) | null;

  constructor(
    private readonly district: DistrictIndex,
    private readonly store: ReadingStore,
    private readonly live: LiveState,
    private readonly logger: Logger,
    options: IngestOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.timeWindow = options.timeWindow ?? TIME_WINDOWS.district;
    this.commandLog = options.commands ?? null;
    this.audit = options.audit ?? null;
    this.maxBoots = Math.max(MIN_BOOTS_REMEMBERED, 4 * district.gateways.size);
  }

  /** `ca`: the CA certificate (PEM) an mqtts:// broker's certificate must chain to. */
  async connect(opts: { url: string; username: string; password: string; ca?: Buffer }): Promise<void> {
    const client = mqtt.connect(opts.url, {
      protocolVersion: 4,
      clientId: `cloud-ingest-${process.pid}`,
      username: opts.username,
      password: opts.password,
      clean: true,
      reconnectPeriod: 2_000,
      ...(opts.ca ? { ca: opts.ca } : {}),
    });
    this.client = client;
    client.on('message', (topic, payload) => this.handle(topic, payload));
    client.on('error', (error) => {
      if (!this.closing) this.logger.error({ err: error.message }, 'district broker connection error');
    });
    client.on('connect', () => {
      this.logger.info({ url: opts.url }, 'ingest connected to district broker');
      client.subscribe([districtTopics.allUplink, districtTopics.brokerStats], { qos: 1 }, (error) => {
        if (error) this.logger.error({ err: error.message }, 'ingest subscription refused');
      });
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
  }

  private reject(reason: IngestRejectReason, subject: string, detail: string, count = 1): void {
    this.stats.rejected[reason] += count;
    const key = `${subject}\u0000${reason}`;
    const now = Date.now();
    if (now - (this.lastLogged.get(key) ?? 0) >= LOG_EVERY_MS) {
      this.lastLogged.set(key, now);
      this.logger.warn({ subject, reason, detail, total: this.stats.rejected[reason] }, 'ingest rejected');
    }
  }

  /** Entry point for every message from the district broker. Never throws. */
  handle(topic: string, payload: Buffer): void {
    if (topic === districtTopics.brokerStats) {
      const stats = decode(BrokerStats, payload);
      if (stats.ok) this.stats.broker = stats.value;
      return;
    }
    const parsed = parseDistrictTopic(topic);
    if (!parsed || parsed.direction !== 'up' || parsed.rest.length !== 1 || !isUplinkChannel(parsed.rest[0]))
      return this.reject('bad_topic', topic, 'not an uplink topic');
    if (!this.district.schools.has(parsed.schoolId)) return this.reject('unknown_school', parsed.schoolId, topic);
    const channel = parsed.rest[0];
    // Telemetry readings are checked one by one later: here only the batch's envelope.
    const schema = { telemetry: TelemetryBatchEnvelope, status: GatewayStatus, health: GatewayHealth, event: GatewayEvent, 'command-result': CommandResult }[channel];
    const decoded = decode(schema, payload);
    if (!decoded.ok) {
      if ('malformed' in decoded) return this.reject('malformed_json', topic, decoded.message);
      this.reject('bad_schema', topic, `${decoded.path || '/'}: ${decoded.message}`);
      if (channel === 'telemetry') this.refuseBatchEnvelope(parsed.schoolId, payload);
      if (channel === 'command-result') this.refuseResultEnvelope(parsed.schoolId, payload);
      return;
    }
    const body = decoded.value as Envelope | GatewayStatus | GatewayHealth | GatewayEvent | CommandResult;
    // The broker's ACL pins a gateway to its school's topics; the body must agree with both.
    if (!this.speaksFor(body.gatewayId, body.schoolId, parsed.schoolId))
      return this.reject('wrong_gateway', topic, `gateway ${body.gatewayId} does not speak for ${parsed.schoolId}`);
    if (channel === 'status') {
      const status = body as GatewayStatus;
      // Only ahead: an offline will carries the time it was registered, however long ago.
      const skew = outsideTimeWindow(status.ts, this.now(), { pastMs: Infinity, futureMs: this.timeWindow.futureMs });
      if (skew) return this.reject('ts_out_of_window', topic, `status: ${skew}`);
      this.live.applyStatus(status);
    } else if (channel === 'health') {
      const health = body as GatewayHealth;
      const skew = outsideTimeWindow(health.ts, this.now(), this.timeWindow);
      if (skew) return this.reject('ts_out_of_window', topic, `health: ${skew}`);
      this.live.applyHealth(health);
    } else if (channel === 'event') this.acceptEvent(body as GatewayEvent);
    else if (channel === 'command-result') this.acceptResult(body as CommandResult);
    else {
      const batch = body as Envelope;
      this.enqueue(batch.gatewayId, () => this.storeBatch(batch));
    }
  }

  private speaksFor(gatewayId: string, bodySchoolId: string, topicSchoolId: string): boolean {
    return bodySchoolId === topicSchoolId && this.district.gateways.get(gatewayId) === topicSchoolId;
  }

  /**
   * A batch whose envelope is refused (a reading count over the limit, a field this district
   * does not know...) will not become valid by being sent again. When it still names a batch
   * of a gateway that speaks for this school, it is answered 'rejected' so the gateway drops
   * it (and logs it) instead of resending it for ever in one of its few in-flight slots. The
   * refusal was counted as bad_schema by the caller. (So a district must be upgraded before
   * its gateways when a wire change adds a field.)
   */
  private refuseBatchEnvelope(schoolId: string, payload: Buffer): void {
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    const id = check(BatchIdentity, body);
    if (!id.ok || !this.speaksFor(id.value.gatewayId, id.value.schoolId, schoolId)) return;
    this.logger.error({ gateway: id.value.gatewayId, bootId: id.value.bootId, seq: id.value.seq }, 'batch envelope refused; told the gateway to drop it');
    this.acknowledge(id.value, 'rejected');
  }

  /** Like refuseBatchEnvelope, for a command result: answered 'rejected' so its gateway stops resending it. */
  private refuseResultEnvelope(schoolId: string, payload: Buffer): void {
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    const id = check(CommandResultIdentity, body);
    if (!id.ok || !this.speaksFor(id.value.gatewayId, id.value.schoolId, schoolId)) return;
    this.acknowledgeResult({ ...id.value }, 'rejected');
  }

  /** Runs `step` after every earlier step of the same gateway; a failing step stops nothing. */
  private enqueue(gatewayId: string, step: () => Promise<void>): void {
    const next = (this.chains.get(gatewayId) ?? Promise.resolve()).then(step).catch((error: unknown) => {
      this.logger.error({ err: (error as Error).message, gateway: gatewayId }, 'ingest step failed');
    });
    this.chains.set(gatewayId, next);
  }

  /** What is known of a boot's stored batches; asks the store once per boot it meets. */
  private async bootMemory(gatewayId: string, bootId: string): Promise<BootMemory> {
    const key = `${gatewayId}/${bootId}`;
    let boot = this.boots.get(key);
    if (boot) return boot;
    // A boot never stored (a gateway that just started) is answered from the store's memory.
    boot = { seqs: new Set(), complete: !(await this.store.hasBoot(gatewayId, bootId)) };
    this.boots.set(key, boot);
    // Forget the boot met longest ago: met again, it is looked up batch by batch.
    if (this.boots.size > this.maxBoots) this.boots.delete(this.boots.keys().next().value!);
    return boot;
  }

  private async isStored(boot: BootMemory, key: BatchKey): Promise<boolean> {
    if (boot.seqs.has(key.seq)) return true;
    if (boot.complete) return false;
    const stored = await this.store.hasBatch(key);
    if (stored) this.noteStored(boot, key.seq);
    return stored;
  }

  private noteStored(boot: BootMemory, seq: number): void {
    boot.seqs.add(seq);
    if (boot.seqs.size > DEDUP_WINDOW) {
      boot.seqs.delete(boot.seqs.values().next().value!);
      boot.complete = false;
    }
  }

  /** Store rows; remember whether the store is working. Never throws. */
  private async write(rows: readonly StoredRow[]): Promise<boolean> {
    try {
      await this.store.write(rows);
      this.storeWorking = true;
      return true;
    } catch (error) {
      this.storeWorking = false;
      this.lastStoreError = (error as Error).message;
      return false;
    }
  }

  /** Runs strictly one batch of a gateway at a time: dedup, validate, store, then mark seen and show. */
  private async storeBatch(batch: Envelope): Promise<void> {
    const key: BatchKey = { gatewayId: batch.gatewayId, bootId: batch.bootId, seq: batch.seq };
    const name = `${batch.gatewayId}/${batch.bootId}/${batch.seq}`;
    let boot: BootMemory;
    let duplicate: boolean;
    try {
      boot = await this.bootMemory(batch.gatewayId, batch.bootId);
      duplicate = await this.isStored(boot, key);
    } catch (error) {
      this.reject('store_failed', name, (error as Error).message, batch.readings.length);
      return; // not acknowledged: the gateway sends it again
    }
    if (duplicate) {
      this.stats.duplicateBatches++;
      this.acknowledge(batch, 'duplicate');
      return;
    }
    const accepted = this.validReadings(batch, name);
    const rowsOf = (reading: Reading) => readingToRows(batch.schoolId, reading, key);
    let stored = accepted;
    if (accepted.length > 0) {
      const wasWorking = this.storeWorking;
      if (!(await this.write(accepted.flatMap(rowsOf)))) {
        const outcome = wasWorking ? await this.isolate(accepted, rowsOf, name) : null;
        if (!outcome) {
          // Storage was failing before this batch too (an outage, most likely), or it refuses
          // every reading of the batch: not acknowledged, so the gateway sends it again and it
          // is stored once storage is back. Not marked seen: the resend gets another chance.
          this.reject('store_failed', name, this.lastStoreError, accepted.length);
          return;
        }
        stored = outcome;
      }
    }
    this.noteStored(boot, batch.seq);
    this.strikes.delete(name); // struck while storage was failing, stored now
    this.stats.batches++;
    // Only now may the gateway forget the batch. A batch with no valid reading is
    // acknowledged too: sending it again would not make it valid.
    this.acknowledge(batch, stored.length > 0 ? 'stored' : 'rejected');
    this.stats.readings += stored.length;
    for (const reading of stored) this.live.applyReading(batch.schoolId, reading);
  }

  /**
   * Storage refused a batch it would have taken until now (the previous write, of any
   * gateway, succeeded). Rather than leave the batch unacknowledged, resent for ever with
   * every good reading in it, store its readings one by one: those storage takes are kept,
   * those it refuses are counted (store_refused) and dropped. Returns the readings stored, or
   * null when storage took none: then it is down (it failed just now) or this batch holds
   * nothing it can take; the batch is sent again, and after STORE_STRIKES such deliveries
   * (each again while storage was working) it is given up, acknowledged 'rejected' (returns
   * []). During an outage no write succeeds, so no batch is isolated or struck: nothing is
   * given up, and the cost of finding the outage is one batch's readings written singly.
   */
  private async isolate(accepted: Reading[], rowsOf: (r: Reading) => StoredRow[], name: string): Promise<Reading[] | null> {
    const stored: Reading[] = [];
    const refused: Reading[] = [];
    for (const reading of accepted) ((await this.write(rowsOf(reading))) ? stored : refused).push(reading);
    if (stored.length > 0) {
      this.storeWorking = true;
      for (const reading of refused) this.reject('store_refused', reading.deviceId, `in batch ${name}: ${this.lastStoreError}`);
      this.strikes.delete(name);
      return stored;
    }
    const strikes = (this.strikes.get(name) ?? 0) + 1;
    this.strikes.delete(name);
    if (strikes < STORE_STRIKES) {
      this.strikes.set(name, strikes);
      if (this.strikes.size > MAX_STRUCK_BATCHES) this.strikes.delete(this.strikes.keys().next().value!);
      return null;
    }
    this.logger.error({ batch: name, readings: accepted.length, err: this.lastStoreError }, 'storage refuses every reading of this batch while storing others; giving it up');
    this.reject('store_refused', name, this.lastStoreError, accepted.length);
    return [];
  }

  /** The readings of a batch that pass every check; each other one is counted by reason. */
  private validReadings(batch: Envelope, name: string): Reading[] {
    const now = this.now();
    const accepted: Reading[] = [];
    for (const raw of batch.readings) {
      const checked = check(Reading, raw);
      if (!checked.ok) {
        this.reject('bad_schema', name, `reading ${checked.path || '/'}: ${checked.message}`);
        continue;
      }
      const reading = checked.value;
      const skew = outsideTimeWindow(reading.ts, now, this.timeWindow);
      if (skew) {
        this.reject('ts_out_of_window', reading.deviceId, `in batch ${name}: ${skew}`);
        continue;
      }
      const entry = this.district.devices.get(reading.deviceId);
      if (!entry) {
        this.reject('unknown_device', reading.deviceId, `in batch ${name}`);
        continue;
      }
      if (entry.school.id !== batch.schoolId) {
        this.reject('wrong_school', reading.deviceId, `device belongs to ${entry.school.id}, sent by ${batch.schoolId}`);
        continue;
      }
      const problem = checkValues(entry.profile, reading.values);
      if (problem) {
        this.reject(problem.reason as IngestRejectReason, reading.deviceId, `${problem.metric}: ${problem.detail}`);
        continue;
      }
      accepted.push(reading);
    }
    return accepted;
  }

  /**
   * Why an event must not be stored or shown, or null. A gateway speaks only for its own
   * school's devices: a device-status event about another school's device would mark it
   * faulty, or hide its real fault behind an 'ok'; a time far ahead would outrank every later
   * event of the device.
   */
  private eventProblem(event: GatewayEvent): { reason: IngestRejectReason; detail: string } | null {
    const now = this.now();
    const skew = outsideTimeWindow(event.ts, now, this.timeWindow);
    if (skew) return { reason: 'ts_out_of_window', detail: `event ts: ${skew}` };
    if (event.type === 'device-status') {
      const entry = this.district.devices.get(event.deviceId);
      if (!entry) return { reason: 'unknown_device', detail: `device-status event about unknown device ${event.deviceId}` };
      if (entry.school.id !== event.schoolId)
        return { reason: 'wrong_school', detail: `device-status event about ${event.deviceId} of ${entry.school.id}, sent by ${event.schoolId}` };
    } else {
      const ahead = outsideTimeWindow(event.to, now, { pastMs: Infinity, futureMs: this.timeWindow.futureMs });
      if (ahead) return { reason: 'ts_out_of_window', detail: `telemetry-gap "to": ${ahead}` };
      // Devices the inventory no longer has may still be named (dropped before they were removed).
      for (const deviceId of Object.keys(event.dropped)) {
        const school = this.district.devices.get(deviceId)?.school.id;
        if (school !== undefined && school !== event.schoolId)
          return { reason: 'wrong_school', detail: `telemetry-gap event counts ${deviceId} of ${school}, sent by ${event.schoolId}` };
      }
    }
    return null;
  }

  /**
   * Store the event, show it, and only then let the gateway forget it. A refused event is
   * counted and acknowledged 'rejected': sent again it would be refused again.
   */
  private acceptEvent(event: GatewayEvent): void {
    const problem = this.eventProblem(event);
    if (problem) {
      this.reject(problem.reason, event.eventId, problem.detail);
      this.acknowledgeEvent(event, 'rejected');
      return;
    }
    this.enqueue(event.gatewayId, async () => {
      try {
        await this.store.writeEvent(event);
      } catch (error) {
        this.reject('store_failed', event.eventId, (error as Error).message);
        return; // not acknowledged: the gateway sends it again
      }
      this.live.applyEvent(event);
      if (event.type === 'telemetry-gap')
        this.logger.warn(
          { school: event.schoolId, dropped: Object.values(event.dropped).reduce((a, b) => a + b, 0), from: event.from, to: event.to, batchRanges: event.batches?.length ?? null },
          'gateway dropped telemetry to stay within its disk quota',
        );
      else if (event.type === 'device-status')
        this.logger.info({ school: event.schoolId, device: event.deviceId, state: event.state, reason: event.reason }, `device ${event.state}`);
      this.acknowledgeEvent(event, 'stored');
    });
  }

  /**
   * A gateway's report of a command's outcome. It speaks only for its own school: a report
   * about another school's device, or about a command sent to another school, is refused
   * (it would make B's command look done, or failed, to B's staff), and so is one about a
   * command the district never sent. Each refusal is counted and answered 'rejected' (sent
   * again it would be refused again); nothing else is held up. The report's times are the
   * gateway's clock: stored and shown as such, never used to order or to expire anything,
   * so a gateway's wrong clock cannot lose a command's outcome.
   */
  private acceptResult(result: CommandResult): void {
    const refuse = (reason: IngestRejectReason, detail: string) => {
      this.reject(reason, result.resultId, detail);
      this.acknowledgeResult(result, 'rejected');
    };
    const device = this.district.devices.get(result.deviceId);
    if (!device) return refuse('unknown_device', `command result about unknown device ${result.deviceId}`);
    if (device.school.id !== result.schoolId)
      return refuse('wrong_school', `command result about ${result.deviceId} of ${device.school.id}, sent by ${result.schoolId}`);
    this.enqueue(result.gatewayId, async () => {
      let command: CommandRecord | null;
      try {
        command = this.commandLog ? await this.commandLog.command(result.commandId) : null;
      } catch (error) {
        this.reject('store_failed', result.resultId, (error as Error).message);
        return; // not acknowledged: the gateway sends it again
      }
      if (!command) return refuse('unknown_command', `the district sent no command ${result.commandId}`);
      if (command.schoolId !== result.schoolId)
        return refuse('wrong_school', `command ${result.commandId} went to ${command.schoolId}, result sent by ${result.schoolId}`);
      if (command.deviceId !== result.deviceId || command.name !== result.name)
        return refuse('unknown_command', `command ${result.commandId} was ${command.name} for ${command.deviceId}, not ${result.name} for ${result.deviceId}`);
      let stored: boolean;
      try {
        stored = await this.commandLog!.writeCommandResult({
          resultId: result.resultId,
          commandId: result.commandId,
          gatewayId: result.gatewayId,
          outcome: result.outcome,
          ...(result.reason ? { reason: result.reason } : {}),
          ...(result.detail ? { detail: result.detail } : {}),
          ...(result.values ? { values: result.values } : {}),
          ...(result.first ? { first: result.first } : {}),
          gatewayTs: result.ts,
          receivedAt: this.now(),
        });
      } catch (error) {
        this.reject('store_failed', result.resultId, (error as Error).message);
        return;
      }
      // Stored before (its ack was lost and the gateway sent it again): audited then, not again.
      if (stored) {
        this.stats.commandResults++;
        const log = { school: result.schoolId, device: result.deviceId, command: result.name, commandId: result.commandId, outcome: result.outcome, reason: result.reason };
        if (result.outcome === 'ok' || result.outcome === 'accepted') this.logger.info(log, 'command result');
        else this.logger.warn(log, 'command result');
        await this.audit?.({
          actor: `gateway:${result.gatewayId}`,
          action: 'command.result',
          outcome: auditOutcome(result),
          schoolId: result.schoolId,
          target: result.deviceId,
          address: null,
          detail: {
            commandId: result.commandId,
            name: result.name,
            sentBy: command.sentBy,
            issuedAt: command.issuedAt,
            outcome: result.outcome,
            ...(result.reason ? { reason: result.reason } : {}),
            ...(result.detail ? { detail: result.detail } : {}),
            ...(result.first ? { first: result.first } : {}),
            ...(result.values ? { values: result.values } : {}),
          },
        }).catch((error: unknown) => this.logger.error({ err: String(error), commandId: result.commandId }, 'audit write of a command result failed'));
      }
      this.acknowledgeResult(result, 'stored');
    });
  }

  private acknowledgeResult(result: Pick<CommandResult, 'gatewayId' | 'schoolId' | 'resultId'>, outcome: CommandResultAck['result']): void {
    const ack: CommandResultAck = { v: WIRE_VERSION, gatewayId: result.gatewayId, resultId: result.resultId, result: outcome };
    this.client?.publish(districtTopics.ack(result.schoolId), encode(ack), { qos: 1 });
  }

  private acknowledgeEvent(event: GatewayEvent, result: EventAck['result']): void {
    const ack: EventAck = { v: WIRE_VERSION, gatewayId: event.gatewayId, eventId: event.eventId, result };
    this.client?.publish(districtTopics.ack(event.schoolId), encode(ack), { qos: 1 });
  }

  private acknowledge(batch: Pick<Envelope, 'gatewayId' | 'bootId' | 'seq' | 'schoolId'>, result: BatchAck['result']): void {
    const ack: BatchAck = { v: WIRE_VERSION, gatewayId: batch.gatewayId, bootId: batch.bootId, seq: batch.seq, result };
    this.client?.publish(districtTopics.ack(batch.schoolId), encode(ack), { qos: 1 });
  }

  /**
   * Record a command (and who sent it), then publish it to the device's gateway. Recorded
   * first, so the gateway's result can never arrive before the district knows the command; a
   * command the broker would not take is forgotten again (it never left).
   */
  async sendCommand(schoolId: string, command: DeviceCommand & { expiresAt: number }, sentBy: string | null): Promise<void> {
    if (!this.client) throw new Error('ingest is not connected');
    await this.commandLog?.writeCommand({
      commandId: command.commandId,
      schoolId,
      deviceId: command.deviceId,
      name: command.name,
      ...(command.params ? { params: command.params } : {}),
      issuedAt: command.issuedAt,
      expiresAt: command.expiresAt,
      sentBy,
    });
    try {
      await this.client.publishAsync(districtTopics.command(schoolId, command.deviceId), encode(command), { qos: 1 });
    } catch (error) {
      await this.commandLog?.forgetCommand(command.commandId).catch(() => {});
      throw error;
    }
  }

  /** A device's latest commands with their gateway's reports, newest first ([] without a command log). */
  async commandsOf(deviceId: string, limit: number): Promise<CommandWithResults[]> {
    return this.commandLog ? this.commandLog.commands({ deviceId, limit }) : [];
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.client?.endAsync();
    await Promise.all(this.chains.values());
  }
}

/** A telemetry batch whose readings are still to be checked one by one. */
type Envelope = Static<typeof TelemetryBatchEnvelope>;

/** The audit log's outcome of a command result: did the command do what was asked? */
function auditOutcome(result: CommandResult): AuditOutcome {
  const outcome = result.outcome === 'duplicate' ? result.first : result.outcome;
  return outcome === 'ok' || outcome === 'accepted' ? 'ok' : 'failed';
}
