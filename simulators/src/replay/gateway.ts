/**
 * One replayed school's gateway, as the district sees it: an MQTT connection to the district
 * broker under the school's own gateway credentials, speaking the wire contract
 * (device-profiles/src/wire.ts) as edge-agent/src/uplink.ts does:
 *
 *  - a retained `online` status on connect, with the `offline` form as the MQTT last will,
 *    and a clean `offline` on stop;
 *  - the school's downlink subscribed before it says online (acks and commands);
 *  - telemetry batches at QoS 1, named (gatewayId, bootId, seq), at most `window` of them
 *    unconfirmed at once, each kept until the district's ack and sent again after a
 *    reconnect or `ackTimeoutMs`; readings made while the link is down wait (bounded) and go
 *    after the live ones, flagged `hist` as a gateway's backlog is;
 *  - a health report every so often;
 *  - a command from the district is answered (a command result kept until confirmed):
 *    refused, not_supported, since nothing real stands behind a replayed device.
 *
 * What it does not keep is the agent's disk queue: a replayer restarted starts a new boot
 * with nothing queued, as a stand-in may. A school planned offline only leaves its retained
 * offline status (as a gateway that died before the district started would) and sends nothing.
 *
 * Connects wait their turn at the ConnectGate, and a lost connection is made again after a
 * backoff, so a broker restart brings every replayed school back by itself.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import {
  Ack,
  DeviceCommand,
  LIMITS,
  WIRE_VERSION,
  decode,
  districtTopics,
  encode,
  parseDistrictTopic,
  type CommandResult,
  type GatewayHealth,
  type GatewayStatus,
  type Reading,
  type TelemetryBatch,
} from '@schoolops/device-profiles';
import type { Rng } from '../district/random.ts';
import type { ConnectGate } from './connect-gate.ts';

/** Batches sent and not yet confirmed, at most (the agent's default queue.window). */
const WINDOW = 8;
/** Readings kept while the district cannot take them; past it the oldest are dropped (and counted). */
export const MAX_QUEUED_READINGS = 2_000;
/** Backoff between connect attempts: from the first, doubling, to the last. */
const RETRY_FIRST_MS = 1_000;
const RETRY_LAST_MS = 15_000;
const AGENT_VERSION = 'replay';

export interface GatewayEvents {
  /** Connected (or, for a school planned offline, its offline status published). */
  connected(gateway: ReplayedGateway): void;
  /** A connection was lost or refused; `reason` is the error seen, if any. */
  disconnected(gateway: ReplayedGateway, reason: string | null): void;
}

export interface ReplayedGatewayOptions {
  schoolId: string;
  gatewayId: string;
  password: string;
  brokerUrl: string;
  ca?: Buffer;
  /** The school's devices: what commands may name, and the health report's counts. */
  deviceIds: ReadonlySet<string>;
  /** Planned offline: publish a retained offline status once and send nothing else. */
  offline: boolean;
  ackTimeoutMs: number;
  gate: ConnectGate;
  /** For the backoff's jitter (seeded, like everything the simulators invent). */
  rng: Rng;
  events: GatewayEvents;
  now?: () => number;
}

interface QueuedBatch {
  batch: TelemetryBatch;
  /** Sealed while the link was down: sent behind live batches, readings flagged hist. */
  backlog: boolean;
  /** When it was last handed to the broker, or null while it waits. */
  sentAt: number | null;
}

export class ReplayedGateway {
  /** Random per start, as an agent's: (gatewayId, bootId, seq) names a batch for ever. */
  readonly bootId = randomBytes(12).toString('base64url');
  readonly startedAt: number;
  connected = false;
  /** A school planned offline whose offline status is published. */
  announced = false;
  /** Readings made, batches the district confirmed, readings dropped for the queue's bound. */
  accepted = 0;
  forwardedBatches = 0;
  droppedReadings = 0;
  private client: MqttClient | null = null;
  private seq = 0;
  /** seq -> batch, in the order sealed. */
  private readonly queue = new Map<number, QueuedBatch>();
  private queuedReadings = 0;
  private inFlight = 0;
  /** resultId -> the result and when it was last sent (null: waiting). */
  private readonly results = new Map<string, { result: CommandResult; sentAt: number | null }>();
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private waitingForGate = false;
  private stopping = false;
  private readonly now: () => number;

  constructor(private readonly opts: ReplayedGatewayOptions) {
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
  }

  get schoolId(): string {
    return this.opts.schoolId;
  }

  get plannedOffline(): boolean {
    return this.opts.offline;
  }

  /** Readings queued on this side, and of those the ones made while the link was down. */
  get depth(): { queued: number; backlog: number } {
    let backlog = 0;
    for (const entry of this.queue.values()) if (entry.backlog) backlog += entry.batch.readings.length;
    return { queued: this.queuedReadings, backlog };
  }

  start(): void {
    this.connectSoon(0);
  }

  /**
   * A school planned offline: publish its offline status again (a broker that restarted
   * forgot its retained messages). Does nothing for the others, or while already at it.
   */
  reannounce(): void {
    if (!this.opts.offline || this.stopping || this.client || this.waitingForGate || this.retryTimer) return;
    this.announced = false;
    this.connectSoon(0);
  }

  private connectSoon(delayMs: number): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.waitingForGate = true;
      this.opts.gate.request(() => {
        this.waitingForGate = false;
        this.connect();
      });
    }, delayMs);
  }

  private status(state: GatewayStatus['state'], ts = this.now()): GatewayStatus {
    const { gatewayId, schoolId } = this.opts;
    return { v: WIRE_VERSION, gatewayId, schoolId, bootId: this.bootId, state, ts, agentVersion: AGENT_VERSION, deviceCount: this.opts.deviceIds.size };
  }

  private connect(): void {
    if (this.stopping || this.client) return;
    const { gatewayId, schoolId } = this.opts;
    const client = mqtt.connect(this.opts.brokerUrl, {
      protocolVersion: 4,
      // The principal's own name, as the agent's. Not a persistent session: a replayer keeps
      // nothing between runs, and the broker need not queue acks for a stand-in while it is away.
      clientId: gatewayId,
      username: gatewayId,
      password: this.opts.password,
      clean: true,
      keepalive: 30,
      // Reconnects are ours (paced by the gate), not mqtt.js's.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...(this.opts.ca ? { ca: this.opts.ca } : {}),
      ...(this.opts.offline ? {} : { will: { topic: districtTopics.status(schoolId), payload: encode(this.status('offline')), qos: 1 as const, retain: true } }),
    });
    this.client = client;
    let lastError: string | null = null;
    client.on('connect', () => this.onConnect(client));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', (error) => (lastError = error.message));
    client.on('close', () => {
      if (this.client !== client) return;
      this.client = null;
      const wasConnected = this.connected;
      this.connected = false;
      client.end(true);
      if (this.stopping || (this.opts.offline && this.announced)) return;
      this.failures = wasConnected ? 1 : this.failures + 1;
      const backoff = Math.min(RETRY_LAST_MS, RETRY_FIRST_MS * 2 ** (this.failures - 1));
      this.connectSoon(backoff * (0.75 + 0.5 * this.opts.rng()));
      this.opts.events.disconnected(this, lastError);
    });
  }

  private onConnect(client: MqttClient): void {
    const { schoolId } = this.opts;
    this.failures = 0;
    if (this.opts.offline) {
      // Gone since the district started: the offline status a dead gateway's will leaves, then away.
      client.publish(districtTopics.status(schoolId), encode(this.status('offline', this.startedAt)), { qos: 1, retain: true }, (error) => {
        if (error) return; // the close handler tries again
        this.announced = true;
        this.opts.events.connected(this);
        client.end(false);
      });
      return;
    }
    this.connected = true;
    // Subscribe before saying online, as the agent does: a district that sees the school
    // online can already reach it.
    client.subscribe(districtTopics.schoolDownlink(schoolId), { qos: 1 });
    client.publish(districtTopics.status(schoolId), encode(this.status('online')), { qos: 1, retain: true });
    // Whatever was in flight may never have arrived: all of it goes again (the district dedups).
    for (const entry of this.queue.values()) entry.sentAt = null;
    this.inFlight = 0;
    for (const pending of this.results.values()) pending.sentAt = null;
    this.opts.events.connected(this);
    this.pump();
  }

  /** The readings of one moment: sealed into batches and sent as the window allows. */
  add(readings: Reading[]): void {
    if (this.opts.offline || this.stopping || readings.length === 0) return;
    this.accepted += readings.length;
    for (let i = 0; i < readings.length; i += LIMITS.batchReadings) {
      const { gatewayId, schoolId } = this.opts;
      const batch: TelemetryBatch = {
        v: WIRE_VERSION,
        gatewayId,
        schoolId,
        bootId: this.bootId,
        seq: this.seq++,
        sentAt: this.now(),
        readings: readings.slice(i, i + LIMITS.batchReadings),
      };
      this.queue.set(batch.seq, { batch, backlog: !this.connected, sentAt: null });
      this.queuedReadings += batch.readings.length;
    }
    this.bound();
    this.pump();
  }

  /** Past MAX_QUEUED_READINGS, drop the oldest batches not in flight (a sent one may be stored already). */
  private bound(): void {
    for (const [seq, entry] of this.queue) {
      if (this.queuedReadings <= MAX_QUEUED_READINGS) return;
      if (entry.sentAt !== null) continue;
      this.queue.delete(seq);
      this.queuedReadings -= entry.batch.readings.length;
      this.droppedReadings += entry.batch.readings.length;
    }
  }

  private pump(): void {
    const client = this.client;
    if (!this.connected || !client) return;
    for (const pending of this.results.values()) {
      if (pending.sentAt !== null) continue;
      pending.sentAt = this.now();
      client.publish(districtTopics['command-result'](this.opts.schoolId), encode(pending.result), { qos: 1 });
    }
    // Live first, then what was made while the link was down, each in the order sealed.
    for (const backlog of [false, true])
      for (const entry of this.queue.values()) {
        if (this.inFlight >= WINDOW) return;
        if (entry.backlog !== backlog || entry.sentAt !== null) continue;
        entry.sentAt = this.now();
        this.inFlight++;
        const batch = entry.backlog ? { ...entry.batch, readings: entry.batch.readings.map((r) => ({ ...r, hist: true })) } : entry.batch;
        client.publish(districtTopics.telemetry(this.opts.schoolId), encode(batch), { qos: 1 });
      }
  }

  /** Send again what the district has not confirmed in time. */
  resendExpired(): void {
    if (!this.connected) return;
    const expired = this.now() - this.opts.ackTimeoutMs;
    let any = false;
    for (const entry of this.queue.values())
      if (entry.sentAt !== null && entry.sentAt < expired) {
        entry.sentAt = null;
        this.inFlight--;
        any = true;
      }
    for (const pending of this.results.values())
      if (pending.sentAt !== null && pending.sentAt < expired) {
        pending.sentAt = null;
        any = true;
      }
    if (any) this.pump();
  }

  publishHealth(): void {
    if (!this.connected || !this.client) return; // stale health is worthless; the next report will go
    const { gatewayId, schoolId, deviceIds } = this.opts;
    const now = this.now();
    const { queued, backlog } = this.depth;
    const health: GatewayHealth = {
      v: WIRE_VERSION,
      gatewayId,
      schoolId,
      bootId: this.bootId,
      ts: now,
      uptimeS: Math.round((now - this.startedAt) / 1000),
      accepted: this.accepted,
      rejected: {},
      forwardedBatches: this.forwardedBatches,
      queueDepth: queued,
      backlog,
      ...(this.droppedReadings > 0 ? { droppedReadings: this.droppedReadings } : {}),
      devicesConfigured: deviceIds.size,
      devicesReporting: deviceIds.size,
      devicesWithProblems: { unreachable: 0, faulty: 0 },
    };
    this.client.publish(districtTopics.health(schoolId), encode(health), { qos: 0 });
  }

  private onMessage(topic: string, payload: Buffer): void {
    const parsed = parseDistrictTopic(topic);
    if (parsed?.direction !== 'down') return;
    if (parsed.rest[0] === 'ack') {
      const ack = decode(Ack, payload);
      if (ack.ok) this.onAck(ack.value);
      return;
    }
    if (parsed.rest[0] !== 'command') return;
    const command = decode(DeviceCommand, payload);
    if (command.ok) this.answer(command.value);
  }

  private onAck(ack: Ack): void {
    if (ack.gatewayId !== this.opts.gatewayId) return;
    if ('resultId' in ack) {
      this.results.delete(ack.resultId);
      return;
    }
    if ('eventId' in ack || ack.bootId !== this.bootId) return;
    const entry = this.queue.get(ack.seq);
    if (!entry) return; // an ack for a copy sent again
    this.queue.delete(ack.seq);
    this.queuedReadings -= entry.batch.readings.length;
    if (entry.sentAt !== null) this.inFlight--;
    this.forwardedBatches++;
    this.pump();
  }

  /** Nothing real stands behind a replayed device: every command is refused, and says why. */
  private answer(command: DeviceCommand): void {
    const { gatewayId, schoolId, deviceIds } = this.opts;
    const now = this.now();
    const known = deviceIds.has(command.deviceId);
    const result: CommandResult = {
      v: WIRE_VERSION,
      gatewayId,
      schoolId,
      bootId: this.bootId,
      resultId: randomBytes(12).toString('base64url'),
      commandId: command.commandId,
      deviceId: command.deviceId,
      name: command.name,
      ...(known
        ? { outcome: 'refused' as const, reason: 'not_supported' as const, detail: 'a replayed school: its readings are generated, no device stands behind them' }
        : { outcome: 'unknown_device' as const }),
      receivedAt: now,
      ts: now,
    };
    this.results.set(result.resultId, { result, sentAt: null });
    this.pump();
  }

  /** Say offline (retained) and disconnect; what is queued is dropped with the process. */
  async close(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    if (!client) return;
    const wasConnected = this.connected;
    if (wasConnected)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 3_000);
        client.publish(districtTopics.status(this.opts.schoolId), encode(this.status('offline')), { qos: 1, retain: true }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    this.connected = false;
    // A clean DISCONNECT, so the broker drops the will; a connection never made is just closed.
    await client.endAsync(!wasConnected).catch(() => undefined);
  }
}
