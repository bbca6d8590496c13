/**
 * The gateway's link to the district broker: batches readings into TelemetryBatch
 * envelopes stamped (gatewayId, bootId, seq), publishes them at QoS 1 under the school's
 * credentials, keeps a retained online/offline status (the offline form is the MQTT last
 * will), sends health reports, and hands district commands to the agent.
 *
 * The queue here lives in memory: mqtt.js keeps unacknowledged QoS 1 publishes and resends
 * them after a reconnect, but not across an agent restart. Durable store-and-forward is
 * the next step (issue 3) and replaces `pending`/`inFlight` with an on-disk queue.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import {
  DeviceCommand,
  LIMITS,
  WIRE_VERSION,
  decode,
  districtTopics,
  encode,
  parseDistrictTopic,
  type GatewayHealth,
  type GatewayStatus,
  type Reading,
  type TelemetryBatch,
} from '@schoolops/device-profiles';
import type { Logger } from 'pino';

export interface UplinkOptions {
  gatewayId: string;
  schoolId: string;
  bootId: string;
  url: string;
  username: string;
  password: string;
  caFile?: string;
  maxReadings: number;
  maxDelayMs: number;
  deviceCount: number;
  agentVersion: string;
  logger: Logger;
  onCommand: (command: DeviceCommand) => void;
}

export class Uplink {
  private readonly client: MqttClient;
  private pending: Reading[] = [];
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private inFlightReadings = 0;
  forwardedBatches = 0;
  connected = false;
  private closing = false;

  constructor(private readonly opts: UplinkOptions) {
    const offline: GatewayStatus = this.status('offline');
    this.client = mqtt.connect(opts.url, {
      protocolVersion: 4,
      clientId: opts.gatewayId,
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
      opts.logger.info({ url: opts.url }, 'connected to district broker');
      this.client.publish(districtTopics.status(opts.schoolId), encode(this.status('online')), { qos: 1, retain: true });
      this.client.subscribe(districtTopics.schoolDownlink(opts.schoolId), { qos: 1 }, (error, granted) => {
        if (error || granted?.some((g) => g.qos === 128))
          opts.logger.error({ err: error?.message, granted }, 'district refused the command subscription');
      });
    });
    this.client.on('close', () => {
      if (this.connected && !this.closing) opts.logger.warn('lost connection to district broker; readings queue until it is back');
      this.connected = false;
    });
    this.client.on('error', (error) => opts.logger.error({ err: error.message }, 'district connection error'));
    this.client.on('message', (topic, payload) => this.handleDownlink(topic, payload));
  }

  private status(state: GatewayStatus['state']): GatewayStatus {
    const { gatewayId, schoolId, bootId, agentVersion, deviceCount } = this.opts;
    return { v: WIRE_VERSION, gatewayId, schoolId, bootId, state, ts: Date.now(), agentVersion, deviceCount };
  }

  /** Readings waiting to be sent or waiting for the district's acknowledgement. */
  get queueDepth(): number {
    return this.pending.length + this.inFlightReadings;
  }

  enqueue(reading: Reading): void {
    this.pending.push(reading);
    if (this.pending.length >= Math.min(this.opts.maxReadings, LIMITS.batchReadings)) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.opts.maxDelayMs);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.pending.length > 0) {
      const readings = this.pending.splice(0, Math.min(this.opts.maxReadings, LIMITS.batchReadings));
      const { gatewayId, schoolId, bootId } = this.opts;
      const batch: TelemetryBatch = { v: WIRE_VERSION, gatewayId, schoolId, bootId, seq: this.seq++, sentAt: Date.now(), readings };
      this.inFlightReadings += readings.length;
      this.client.publish(districtTopics.telemetry(schoolId), encode(batch), { qos: 1 }, (error) => {
        this.inFlightReadings -= readings.length;
        if (error) this.opts.logger.error({ err: error.message, seq: batch.seq }, 'telemetry batch not delivered');
        else this.forwardedBatches++;
      });
    }
  }

  publishHealth(health: Omit<GatewayHealth, 'v' | 'gatewayId' | 'schoolId' | 'bootId'>): void {
    if (!this.connected) return; // stale health is worthless; the next report will go
    const { gatewayId, schoolId, bootId } = this.opts;
    const body: GatewayHealth = { v: WIRE_VERSION, gatewayId, schoolId, bootId, ...health };
    this.client.publish(districtTopics.health(schoolId), encode(body), { qos: 0 });
  }

  private handleDownlink(topic: string, payload: Buffer): void {
    const parsed = parseDistrictTopic(topic);
    if (parsed?.direction !== 'down' || parsed.rest[0] !== 'command') return;
    const command = decode(DeviceCommand, payload);
    if (!command.ok) {
      this.opts.logger.warn({ topic, problem: command.message }, 'ignoring malformed command');
      return;
    }
    this.opts.onCommand(command.value);
  }

  /** Send what is queued, announce a clean offline, and disconnect. */
  async close(): Promise<void> {
    this.closing = true;
    this.flush();
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
