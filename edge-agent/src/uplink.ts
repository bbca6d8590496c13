/**
 * The gateway's link to the district broker. It sends batches from the disk queue and
 * deletes one only when the district says it has stored it (BatchAck): the broker's PUBACK
 * only means the broker has the message, and a cloud that was down would never see it.
 *
 * Order and priority:
 *  - live batches (sealed while connected) go first, in order;
 *  - backlog (sealed while the link was down, or by an earlier run) drains in order behind
 *    them, within a byte budget (a share of the school's uplink), its readings flagged
 *    `hist` so the district raises no fresh alarms on old data;
 *  - at most `window` batches are unacknowledged at once; an unacknowledged batch is sent
 *    again after a reconnect or after `ackTimeoutMs` (the district dedups by bootId/seq).
 *
 * It also keeps a retained online/offline status (the offline form is the MQTT last will),
 * hands district commands to the agent, and sends the command desk's results (ahead of
 * telemetry, outside its budget) until the district confirms each, as it does events.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import {
  Ack,
  DeviceCommand,
  WIRE_VERSION,
  decode,
  districtTopics,
  encode,
  parseDistrictTopic,
  type BatchAck,
  type CommandResult,
  type GatewayHealth,
  type GatewayStatus,
  type TelemetryBatch,
} from '@schoolops/device-profiles';
import type { Logger } from 'pino';
import type { DiskOutbox, QueuedBatch } from './outbox.ts';

export interface BackfillBudget {
  /** The school's uplink capacity, bit/s. */
  uplinkBps: number;
  /** Share of it backlog may use while live data flows, 0..1. */
  share: number;
}

/** Where the uplink finds command results to send (the command desk), and says which the district confirmed. */
export interface ResultSource {
  pendingResults(): Iterable<CommandResult>;
  confirm(resultId: string): Promise<void>;
}

export interface UplinkOptions {
  gatewayId: string;
  schoolId: string;
  bootId: string;
  url: string;
  username: string;
  password: string;
  caFile?: string;
  outbox: DiskOutbox;
  backfill: BackfillBudget;
  window: number;
  ackTimeoutMs: number;
  deviceCount: number;
  agentVersion: string;
  logger: Logger;
  onCommand: (command: DeviceCommand) => void;
  /** Command results to send until confirmed (none without). */
  results?: ResultSource;
  /** The clock the backfill budget accrues by, in ms (default Date.now; tests give their own). */
  now?: () => number;
}

export class Uplink {
  private readonly client: MqttClient;
  /** index -> time it was last sent */
  private readonly inFlight = new Map<number, number>();
  /** eventId -> time it was last sent */
  private readonly eventsInFlight = new Map<string, number>();
  /** resultId -> time it was last sent */
  private readonly resultsInFlight = new Map<string, number>();
  private budgetBytes = 0;
  private budgetAt: number;
  private pumpTimer: NodeJS.Timeout | undefined;
  private readonly ackTimer: NodeJS.Timeout;
  forwardedBatches = 0;
  connected = false;
  private closing = false;

  constructor(private readonly opts: UplinkOptions) {
    this.budgetAt = this.budgetNow();
    const offline: GatewayStatus = this.status('offline');
    this.client = mqtt.connect(opts.url, {
      protocolVersion: 4,
      // A persistent session (commands queued while the link is down) must be named after
      // the principal: the district broker refuses CleanSession=0 under any other id.
      clientId: opts.username,
      username: opts.username,
      password: opts.password,
      clean: false,
      keepalive: 30,
      reconnectPeriod: 2_000,
      connectTimeout: 10_000,
      ...(opts.caFile ? { ca: readFileSync(opts.caFile) } : {}),
      will: { topic: districtTopics.status(opts.schoolId), payload: encode(offline), qos: 1, retain: true },
    });
    this.client.on('connect', () => {
      this.connected = true;
      opts.logger.info({ url: opts.url, queued: opts.outbox.size }, 'connected to district broker');
      // Subscribe before saying online: the broker takes a client's packets in order, so a
      // district that sees this gateway online can already reach it with a command.
      this.client.subscribe(districtTopics.schoolDownlink(opts.schoolId), { qos: 1 }, (error, granted) => {
        if (error || granted?.some((g) => g.qos === 128))
          opts.logger.error({ err: error?.message, granted }, 'district refused the downlink subscription');
      });
      this.client.publish(districtTopics.status(opts.schoolId), encode(this.status('online')), { qos: 1, retain: true });
      // Whatever was in flight may never have arrived: send it again (the district dedups).
      this.inFlight.clear();
      // The backfill budget starts empty: an outage does not earn a burst.
      this.budgetBytes = 0;
      this.budgetAt = this.budgetNow();
      this.eventsInFlight.clear();
      this.resultsInFlight.clear();
      this.pump();
    });
    this.client.on('close', () => {
      if (this.connected && !this.closing) opts.logger.warn('lost connection to district broker; readings queue on disk until it is back');
      this.connected = false;
    });
    this.client.on('error', (error) => {
      if (!this.closing) opts.logger.error({ err: error.message }, 'district connection error');
    });
    this.client.on('message', (topic, payload) => this.handleDownlink(topic, payload));
    this.ackTimer = setInterval(() => this.resendExpired(), Math.max(1000, opts.ackTimeoutMs / 4));
    opts.outbox.isInFlight = (index) => this.inFlight.has(index);
  }

  private status(state: GatewayStatus['state']): GatewayStatus {
    const { gatewayId, schoolId, bootId, agentVersion, deviceCount } = this.opts;
    return { v: WIRE_VERSION, gatewayId, schoolId, bootId, state, ts: Date.now(), agentVersion, deviceCount };
  }

  /** A batch was just queued, or an ack freed a slot: send what may be sent. */
  pump(): void {
    clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    if (!this.connected || this.closing) return;
    this.refillBudget();
    // Events (a gap in the telemetry) go before any telemetry, outside the budget.
    for (const event of this.opts.outbox.pendingEvents()) {
      if (this.eventsInFlight.has(event.eventId)) continue;
      this.eventsInFlight.set(event.eventId, Date.now());
      this.client.publish(districtTopics.event(this.opts.schoolId), encode(event), { qos: 1 });
    }
    // Command results too: an operator waits for each, and they are few and small.
    for (const result of this.opts.results?.pendingResults() ?? []) {
      if (this.resultsInFlight.has(result.resultId)) continue;
      this.resultsInFlight.set(result.resultId, Date.now());
      this.client.publish(districtTopics['command-result'](this.opts.schoolId), encode(result), { qos: 1 });
    }
    // Live first, then backlog within its budget; each in the order it was sealed.
    for (const backlog of [false, true]) {
      for (const entry of this.opts.outbox.queued()) {
        if (this.inFlight.size >= this.opts.window) return;
        if (entry.backlog !== backlog || this.inFlight.has(entry.index)) continue;
        if (backlog) {
          // A batch larger than a second's budget goes once the bucket is full, and leaves it in debt.
          const needed = Math.min(entry.bytes, this.bytesPerSecond());
          if (this.budgetBytes < needed) {
            // Wait until the budget covers this batch, then go on in order.
            const waitMs = Math.ceil(((needed - this.budgetBytes) / this.bytesPerSecond()) * 1000);
            this.pumpTimer = setTimeout(() => this.pump(), Math.min(Math.max(waitMs, 5), 5_000));
            return;
          }
          this.budgetBytes -= entry.bytes;
        }
        this.send(entry);
      }
    }
  }

  private bytesPerSecond(): number {
    return Math.max(1, (this.opts.backfill.uplinkBps * this.opts.backfill.share) / 8);
  }

  private budgetNow(): number {
    return (this.opts.now ?? Date.now)();
  }

  private refillBudget(): void {
    const now = this.budgetNow();
    const rate = this.bytesPerSecond();
    // At most one second of budget banks up, so a quiet spell does not become a burst.
    this.budgetBytes = Math.min(rate, this.budgetBytes + ((now - this.budgetAt) / 1000) * rate);
    this.budgetAt = now;
  }

  private send(entry: QueuedBatch): void {
    this.inFlight.set(entry.index, Date.now());
    const batch: TelemetryBatch = entry.backlog
      ? { ...entry.batch, readings: entry.batch.readings.map((r) => ({ ...r, hist: true })) }
      : entry.batch;
    this.client.publish(districtTopics.telemetry(this.opts.schoolId), encode(batch), { qos: 1 }, (error) => {
      if (error && !this.closing) this.opts.logger.warn({ err: error.message, seq: batch.seq }, 'batch not handed to the broker; will resend');
    });
  }

  private resendExpired(): void {
    // Nothing can be resent while the link is down, and a batch sent before the cut may be
    // stored already: it stays in flight (so the quota never drops it) until the reconnect.
    if (!this.connected) return;
    const expired = Date.now() - this.opts.ackTimeoutMs;
    let any = false;
    for (const [index, sentAt] of this.inFlight)
      if (sentAt < expired) {
        this.inFlight.delete(index);
        any = true;
      }
    for (const inFlight of [this.eventsInFlight, this.resultsInFlight])
      for (const [id, sentAt] of inFlight)
        if (sentAt < expired) {
          inFlight.delete(id);
          any = true;
        }
    if (any) {
      this.opts.logger.warn('district did not confirm some batches in time; sending them again');
      this.pump();
    }
  }

  private async handleAck(ack: Ack): Promise<void> {
    if (ack.gatewayId !== this.opts.gatewayId) return;
    if ('resultId' in ack) {
      if (ack.result === 'rejected') this.opts.logger.error({ resultId: ack.resultId }, 'district rejected a command result; dropping it');
      this.resultsInFlight.delete(ack.resultId);
      await this.opts.results?.confirm(ack.resultId);
      return;
    }
    if ('eventId' in ack) {
      this.eventsInFlight.delete(ack.eventId);
      await this.opts.outbox.removeEvent(ack.eventId);
      return;
    }
    await this.handleBatchAck(ack);
  }

  private async handleBatchAck(ack: BatchAck): Promise<void> {
    const entry = this.opts.outbox.get(ack.bootId, ack.seq);
    if (!entry) return; // already removed (an ack for a resent copy)
    if (ack.result === 'rejected') this.opts.logger.error({ bootId: ack.bootId, seq: ack.seq }, 'district rejected a batch; dropping it');
    this.inFlight.delete(entry.index);
    await this.opts.outbox.remove(ack.bootId, ack.seq);
    this.forwardedBatches++;
    this.pump();
  }

  private handleDownlink(topic: string, payload: Buffer): void {
    const parsed = parseDistrictTopic(topic);
    if (parsed?.direction !== 'down') return;
    if (parsed.rest[0] === 'ack') {
      const ack = decode(Ack, payload);
      if (ack.ok) void this.handleAck(ack.value).catch((error: Error) => this.opts.logger.error({ err: error.message }, 'could not apply an ack'));
      else this.opts.logger.warn({ problem: ack.message }, 'ignoring malformed ack');
      return;
    }
    if (parsed.rest[0] !== 'command') return;
    const command = decode(DeviceCommand, payload);
    if (!command.ok) {
      this.opts.logger.warn({ topic, problem: command.message }, 'ignoring malformed command');
      return;
    }
    this.opts.onCommand(command.value);
  }

  publishHealth(health: Omit<GatewayHealth, 'v' | 'gatewayId' | 'schoolId' | 'bootId'>): void {
    if (!this.connected) return; // stale health is worthless; the next report will go
    const { gatewayId, schoolId, bootId } = this.opts;
    const body: GatewayHealth = { v: WIRE_VERSION, gatewayId, schoolId, bootId, ...health };
    this.client.publish(districtTopics.health(schoolId), encode(body), { qos: 0 });
  }

  /** Announce a clean offline and disconnect. What is queued stays on disk for the next run. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.pumpTimer);
    clearInterval(this.ackTimer);
    if (this.connected) {
      await new Promise<void>((resolve) =>
        this.client.publish(districtTopics.status(this.opts.schoolId), encode(this.status('offline')), { qos: 1, retain: true }, () =>
          resolve(),
        ),
      );
    }
    await this.client.endAsync(false);
  }
}
