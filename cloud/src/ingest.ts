/**
 * District ingest: everything gateways send up arrives here. A telemetry batch is checked
 * (envelope schema, the topic's school, the gateway that speaks for it), dropped if it is
 * a replay of a batch already stored, and each reading is checked against its device's
 * profile before it is stored and shown. Every refusal is counted by reason and logged.
 */
import mqtt, { type MqttClient } from 'mqtt';
import {
  BrokerStats,
  GatewayEvent,
  GatewayHealth,
  GatewayStatus,
  TelemetryBatch,
  WIRE_VERSION,
  checkValues,
  decode,
  districtTopics,
  encode,
  isUplinkChannel,
  parseDistrictTopic,
  type BatchAck,
  type EventAck,
  type Reading,
} from '@schoolops/device-profiles';
import type { Logger } from 'pino';
import type { DistrictIndex } from './inventory.ts';
import type { LiveState } from './live-state.ts';
import { readingToRows, type ReadingStore, type StoredRow } from './storage/index.ts';

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
  'store_failed',
] as const;
export type IngestRejectReason = (typeof INGEST_REJECT_REASONS)[number];

export interface IngestStats {
  batches: number;
  duplicateBatches: number;
  readings: number;
  rejected: Record<IngestRejectReason, number>;
  broker: BrokerStats | null;
}

/**
 * How many batch seqs to remember per gateway boot. Older ones are still recognised after a
 * restart through the store (storedSeqs), which holds every batch's key with its rows.
 */
const DEDUP_WINDOW = 50_000;
const LOG_EVERY_MS = 10_000;

export class Ingest {
  readonly stats: IngestStats = {
    batches: 0,
    duplicateBatches: 0,
    readings: 0,
    rejected: Object.fromEntries(INGEST_REJECT_REASONS.map((r) => [r, 0])) as Record<IngestRejectReason, number>,
    broker: null,
  };
  private client: MqttClient | undefined;
  private closing = false;
  /** `${gatewayId}/${bootId}` -> seqs seen (insertion-ordered, trimmed to DEDUP_WINDOW). */
  private readonly seen = new Map<string, Set<number>>();
  private readonly lastLogged = new Map<string, number>();
  /** Batches are stored one after another so a reading never overtakes an earlier one. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly district: DistrictIndex,
    private readonly store: ReadingStore,
    private readonly live: LiveState,
    private readonly logger: Logger,
  ) {}

  async connect(opts: { url: string; username: string; password: string }): Promise<void> {
    const client = mqtt.connect(opts.url, {
      protocolVersion: 4,
      clientId: `cloud-ingest-${process.pid}`,
      username: opts.username,
      password: opts.password,
      clean: true,
      reconnectPeriod: 2_000,
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
    const schema = { telemetry: TelemetryBatch, status: GatewayStatus, health: GatewayHealth, event: GatewayEvent }[parsed.rest[0]];
    const decoded = decode(schema, payload);
    if (!decoded.ok)
      return 'malformed' in decoded
        ? this.reject('malformed_json', topic, decoded.message)
        : this.reject('bad_schema', topic, `${decoded.path || '/'}: ${decoded.message}`);
    const body = decoded.value as TelemetryBatch | GatewayStatus | GatewayHealth | GatewayEvent;
    // The broker's ACL pins a gateway to its school's topics; the body must agree with both.
    if (body.schoolId !== parsed.schoolId || this.district.gateways.get(body.gatewayId) !== parsed.schoolId)
      return this.reject('wrong_gateway', topic, `gateway ${body.gatewayId} does not speak for ${parsed.schoolId}`);
    if (parsed.rest[0] === 'status') this.live.applyStatus(body as GatewayStatus);
    else if (parsed.rest[0] === 'health') this.live.applyHealth(body as GatewayHealth);
    else if (parsed.rest[0] === 'event') this.acceptEvent(body as GatewayEvent);
    else this.acceptBatch(body as TelemetryBatch);
  }

  private acceptBatch(batch: TelemetryBatch): void {
    this.chain = this.chain.then(() => this.storeBatch(batch));
  }

  /** Runs strictly one batch at a time: dedup, validate, store, then mark seen and show. */
  private async storeBatch(batch: TelemetryBatch): Promise<void> {
    const key = `${batch.gatewayId}/${batch.bootId}`;
    let seqs = this.seen.get(key);
    if (!seqs) {
      // First batch of this gateway boot since ingest started: what did an earlier run store?
      try {
        seqs = new Set(await this.store.storedSeqs(batch.gatewayId, batch.bootId));
      } catch (error) {
        this.reject('store_failed', key, (error as Error).message, batch.readings.length);
        return; // not acknowledged: the gateway sends it again
      }
      this.seen.set(key, seqs);
    }
    if (seqs.has(batch.seq)) {
      this.stats.duplicateBatches++;
      this.acknowledge(batch, 'duplicate');
      return;
    }
    const rows: StoredRow[] = [];
    const accepted: Reading[] = [];
    for (const reading of batch.readings) {
      const entry = this.district.devices.get(reading.deviceId);
      if (!entry) {
        this.reject('unknown_device', reading.deviceId, `in batch ${key}/${batch.seq}`);
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
      rows.push(...readingToRows(batch.schoolId, reading, { gatewayId: batch.gatewayId, bootId: batch.bootId, seq: batch.seq }));
    }
    if (rows.length > 0) {
      try {
        await this.store.write(rows);
      } catch (error) {
        // Not marked seen: a redelivery of this batch gets another chance.
        this.reject('store_failed', key, (error as Error).message, accepted.length);
        return;
      }
    }
    seqs.add(batch.seq);
    if (seqs.size > DEDUP_WINDOW) seqs.delete(seqs.values().next().value!);
    this.stats.batches++;
    // Only now may the gateway forget the batch. A batch with no valid reading is
    // acknowledged too: sending it again would not make it valid.
    this.acknowledge(batch, rows.length > 0 ? 'stored' : 'rejected');
    this.stats.readings += accepted.length;
    for (const reading of accepted) this.live.applyReading(batch.schoolId, reading);
  }

  /** Store the event, show it, and only then let the gateway forget it. */
  private acceptEvent(event: GatewayEvent): void {
    this.chain = this.chain.then(async () => {
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
      const ack: EventAck = { v: WIRE_VERSION, gatewayId: event.gatewayId, eventId: event.eventId, result: 'stored' };
      this.client?.publish(districtTopics.ack(event.schoolId), encode(ack), { qos: 1 });
    });
  }

  private acknowledge(batch: TelemetryBatch, result: BatchAck['result']): void {
    const ack: BatchAck = { v: WIRE_VERSION, gatewayId: batch.gatewayId, bootId: batch.bootId, seq: batch.seq, result };
    this.client?.publish(districtTopics.ack(batch.schoolId), encode(ack), { qos: 1 });
  }

  /** Publish a command to a device's gateway. */
  async sendCommand(schoolId: string, deviceId: string, body: Buffer): Promise<void> {
    if (!this.client) throw new Error('ingest is not connected');
    await this.client.publishAsync(districtTopics.command(schoolId, deviceId), body, { qos: 1 });
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.client?.endAsync();
    await this.chain;
  }
}
