/**
 * One school's simulated devices.
 *
 * Devices that speak MQTT themselves (boards; cameras until they get their own protocol)
 * are each their own mqtt.js client (as an MQTT-native device would be), with their own timer
 * that asks the device's value model for a sample and publishes it on
 * localTopics.deviceState at QoS 1. A board publishes its own JSON (the profile's field map
 * says where each metric is); the others publish SchoolOps' DeviceStateMessage. Devices
 * start at a random offset within their interval so a school does not report in lockstep,
 * and mqtt.js reconnects on its own when the gateway restarts.
 *
 * Devices the gateway polls or subscribes to (PJLink, SNMP, probes, OPC UA) do not publish:
 * their value model is sampled when their protocol simulator (simulators/src/protocols/)
 * is asked, through `served`.
 */
import mqtt, { type MqttClient } from 'mqtt';
import {
  checkValues,
  localTopics,
  type DeviceProfile,
  type DeviceRecord,
  type DeviceStateMessage,
  type MetricValues,
  type ProfileRegistry,
  type School,
} from '@schoolops/device-profiles';
import { deriveRng, type Rng } from '../district/random.ts';
import { classById, currentLesson, lessonsAt } from '@schoolops/device-profiles';
import { modelFor } from './models.ts';
import type { RoomActivity, SampleContext, ValueModel } from './model.ts';

/** What the fleet needs of a logger: pino's and the console's methods both fit. */
export interface FleetLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface SchoolDevicesOptions {
  school: School;
  profiles: ProfileRegistry;
  /** The school gateway's local MQTT broker, e.g. mqtt://127.0.0.1:PORT. */
  brokerUrl: string;
  seed: number;
  /** Report every this many ms instead of each profile's reportIntervalSeconds (fast tests, demos). */
  intervalMs?: number;
  /**
   * The school time the devices behave by (lessons, room use); lets a demo run the school day
   * at another hour. The timestamps they send are always the real clock's, as a device's own
   * (NTP-set) clock would give.
   */
  clock?: () => Date;
  logger?: FleetLogger;
  /** The school's served devices, made earlier with serveSchoolDevices (their simulators already use them). */
  served?: Map<string, ServedDevice>;
}

/** A device reached through its own protocol: its simulator asks it for values. */
export interface ServedDevice {
  record: DeviceRecord;
  profile: DeviceProfile;
  /** The device's current values (sampled at most once a second; cached in between). */
  read(): MetricValues;
}

/** Protocols whose devices the gateway polls or subscribes to; the rest publish over MQTT. */
const SERVED_PROTOCOLS: ReadonlySet<string> = new Set(['pjlink', 'snmp', 'probe', 'opcua', 'http-snapshot']);
export const isServed = (profile: DeviceProfile) => SERVED_PROTOCOLS.has(profile.protocol.type);

export interface SchoolDevices {
  /** Devices served through their own protocol, by id. */
  served: Map<string, ServedDevice>;
  /**
   * Samples handed to mqtt.js per device id, including samples still waiting in its
   * queue for the gateway to come back. Equals the `n` of the device's latest sample.
   */
  published(): Map<string, number>;
  /** Samples the gateway's broker has acknowledged (PUBACK) per device id. */
  acknowledged(): Map<string, number>;
  /** How long after its start each device takes its first sample, ms, per device id (its random offset). */
  firstSampleOffsets(): Map<string, number>;
  /**
   * Stop every timer and client. Waits up to `drainMs` (default 2 s) for samples not yet
   * acknowledged, including those of devices still reconnecting to a restarted gateway.
   */
  stop(drainMs?: number): Promise<void>;
}

/**
 * Most samples one device keeps waiting for the gateway. Past this (a gateway down for
 * hours) new samples are not handed over, so are not counted: a device has finite memory.
 */
export const MAX_UNACKED = 1000;
/** The first sample of every device comes within this long of its start. */
const FIRST_SAMPLE_SPREAD_MS = 5000;
/** How long stop() waits for in-flight samples to be acknowledged before closing anyway. */
const STOP_DRAIN_MS = 2000;
/** A served device's values are sampled again only after this long (one protocol poll asks many times). */
const READ_CACHE_MS = 1000;

/**
 * Counting, for the delivery checker (issue 3) that compares these counts with what the
 * district stored:
 *  - a sample is counted when it is handed to client.publish(), and its `n` is that count,
 *    so a device's samples are numbered 1..published() with no gaps;
 *  - it is handed over whether or not the gateway is connected at that moment: at QoS 1
 *    mqtt.js keeps a publish in its outgoing store until PUBACK, sends queued ones on
 *    reconnect and re-sends unacknowledged ones, so a counted sample is one the gateway
 *    must eventually receive (or receive twice, if only the PUBACK was lost) unless the
 *    simulator itself stops first. acknowledged() tells those apart;
 *  - except one case where mqtt.js (5.16) gives up: a publish made while it re-sends its
 *    store after a reconnect waits in a side queue, and if that connection closes before
 *    the re-send ends, every publish in the side queue fails with "Connection closed" and
 *    is forgotten (MqttClient._flushStoreProcessingQueue). It happens after a gateway
 *    restart when the new gateway is slow. A device keeps such a sample and sends it again,
 *    as one with its own buffer would: it is still counted once;
 *  - samples never handed over are not counted: ticks after stop(), samples refused
 *    because MAX_UNACKED are already waiting, and samples whose values fail the profile
 *    (a simulator bug, logged as an error).
 * Counting at PUBACK instead would undercount whenever a PUBACK is lost in a gateway
 * restart although the sample was stored, and the checker would report a phantom.
 */
class SimulatedDevice {
  readonly topic: string;
  private state: unknown;
  private readonly rng: Rng;
  private timer: NodeJS.Timeout | undefined;
  published = 0;
  acknowledged = 0;
  /** Publishes mqtt.js gave up on, sent again at the next tick (see above). */
  private readonly resend: string[] = [];
  /** Samples given up for good: failed after the device stopped. */
  private dropped = 0;
  /** Samples not handed over since the backlog hit MAX_UNACKED. */
  private refused = 0;
  stopped = false;

  constructor(
    readonly record: DeviceRecord,
    private readonly profile: DeviceProfile,
    private readonly model: ValueModel<unknown>,
    private readonly school: School,
    readonly client: MqttClient | null,
    seed: number,
    private readonly clock: () => Date,
    private readonly logger: FleetLogger,
  ) {
    this.topic = localTopics.deviceState(record.id);
    this.rng = deriveRng(seed, 'device', record.id);
    this.state = model.init(this.rng, record, school);
  }

  /** When the first sample comes after start(), ms. */
  firstSampleOffsetMs = 0;

  start(intervalMs: number): void {
    // Spread the first samples over a few seconds, not a whole interval: a camera that
    // reports every minute should still show up within seconds of the district starting.
    const offset = Math.floor(this.rng() * Math.min(intervalMs, FIRST_SAMPLE_SPREAD_MS));
    this.firstSampleOffsetMs = offset;
    this.timer = setTimeout(() => {
      this.tick();
      this.timer = setInterval(() => this.tick(), intervalMs);
    }, offset);
  }

  /** Handed over, and neither acknowledged nor given up yet. */
  get unacked(): number {
    return this.published - this.acknowledged - this.dropped;
  }

  private send(payload: string): void {
    this.client!.publish(this.topic, payload, { qos: 1 }, (error) => {
      if (!error) {
        this.acknowledged++;
        return;
      }
      if (this.stopped && this.client!.disconnecting) this.dropped++;
      else this.resend.push(payload);
    });
  }

  /** Send again what mqtt.js gave up on, oldest first. */
  resendFailed(): void {
    if (!this.client || this.resend.length === 0) return;
    this.logger.info({ deviceId: this.record.id, samples: this.resend.length }, 'sending again samples the MQTT client gave up on');
    for (const payload of this.resend.splice(0)) this.send(payload);
  }

  /** Build the room and school context the value model sees at `now`. */
  private context(now: Date): SampleContext {
    const lesson = currentLesson(this.school, this.record.roomId, now);
    const schoolClass = lesson ? classById(this.school, lesson.classId) : undefined;
    const activity: RoomActivity | null = lesson && schoolClass ? { lesson, schoolClass } : null;
    const classes = this.school.classes.length;
    const schoolLoad = classes === 0 ? 0 : lessonsAt(this.school, now).length / classes;
    return { now, activity, schoolLoad, rng: this.rng };
  }

  private lastSample: { at: number; values: MetricValues } | null = null;

  /** Advance the value model to now; null when the values do not fit the profile (a simulator bug). */
  private sample(now: Date): MetricValues | null {
    const { state, values } = this.model.sample(this.state, this.context(now));
    this.state = state;
    const problem = checkValues(this.profile, values);
    if (problem) {
      this.logger.error({ deviceId: this.record.id, ...problem }, 'simulated value does not fit the profile; sample dropped');
      return null;
    }
    return values;
  }

  /** For a served device: its values now, sampled at most once per READ_CACHE_MS. */
  read(): MetricValues {
    const now = this.clock();
    if (!this.lastSample || Math.abs(now.getTime() - this.lastSample.at) >= READ_CACHE_MS) {
      const values = this.sample(now);
      if (values) this.lastSample = { at: now.getTime(), values };
    }
    return { ...(this.lastSample?.values ?? {}) };
  }

  private tick(): void {
    if (this.stopped || !this.client) return;
    this.resendFailed();
    const now = this.clock();
    const values = this.sample(now);
    if (!values) return;
    if (this.unacked >= MAX_UNACKED) {
      if (this.refused++ === 0) this.logger.warn({ deviceId: this.record.id, waiting: this.unacked }, 'gateway unreachable for long; dropping new samples');
      return;
    }
    const n = this.published + 1;
    this.send(JSON.stringify(payloadOf(this.profile, Date.now(), values, n)));
    this.published = n;
    if (this.refused > 0) {
      this.logger.info({ deviceId: this.record.id, dropped: this.refused }, 'gateway caught up; publishing again');
      this.refused = 0;
    }
  }

  halt(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * What the device puts on the wire: its own JSON when its profile maps fields (a board),
 * built by placing each metric at its mapped path; else SchoolOps' DeviceStateMessage.
 */
export function payloadOf(profile: DeviceProfile, ts: number, values: MetricValues, n: number): unknown {
  const protocol = profile.protocol;
  if (protocol.type !== 'mqtt' || !protocol.map) return { ts, values, n } satisfies DeviceStateMessage;
  const body: Record<string, unknown> = {};
  const put = (path: string, value: unknown) => {
    const keys = path.split('.');
    let at = body;
    for (const key of keys.slice(0, -1)) at = (at[key] ??= {}) as Record<string, unknown>;
    at[keys.at(-1)!] = value;
  };
  for (const [path, metric] of Object.entries(protocol.map)) if (values[metric] !== undefined) put(path, values[metric]);
  if (protocol.timestamp) put(protocol.timestamp, ts);
  if (protocol.counter) put(protocol.counter, n);
  return body;
}

function consoleLogger(): FleetLogger {
  return {
    debug: () => {},
    info: (obj, msg) => console.info(msg ?? '', obj),
    warn: (obj, msg) => console.warn(msg ?? '', obj),
    error: (obj, msg) => console.error(msg ?? '', obj),
  };
}

/**
 * The school's devices that are reached through their own protocol, each with its value
 * model: their simulators (simulators/src/protocols/) can start, and the gateways be
 * configured to reach them, before any MQTT device starts publishing.
 */
export function serveSchoolDevices(opts: Pick<SchoolDevicesOptions, 'school' | 'profiles' | 'seed' | 'clock' | 'logger'>): Map<string, ServedDevice> {
  const clock = opts.clock ?? (() => new Date());
  const logger = opts.logger ?? consoleLogger();
  const served = new Map<string, ServedDevice>();
  for (const record of opts.school.devices) {
    const profile = opts.profiles.get(record.profileId);
    if (!profile || !isServed(profile)) continue;
    const device = new SimulatedDevice(record, profile, modelFor(profile), opts.school, null, opts.seed, clock, logger);
    served.set(record.id, { record, profile, read: () => device.read() });
  }
  return served;
}

/**
 * Start every device of a school. Resolves once every client is created; it does not wait
 * for the gateway, which may come up later (devices connect and publish when it does).
 */
export async function startSchoolDevices(opts: SchoolDevicesOptions): Promise<SchoolDevices> {
  const { school, profiles, brokerUrl, seed } = opts;
  const clock = opts.clock ?? (() => new Date());
  const logger = opts.logger ?? consoleLogger();
  if (opts.intervalMs !== undefined && !(opts.intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${opts.intervalMs}`);

  const missing = school.devices.filter((d) => !profiles.has(d.profileId));
  if (missing.length) {
    throw new Error(`school ${school.id}: no profile for ${missing.map((d) => `${d.id} (${d.profileId})`).join(', ')}`);
  }

  const served = opts.served ?? serveSchoolDevices({ school, profiles, seed, clock, logger });

  const publishing = school.devices.filter((record) => !served.has(record.id));
  let connected = 0;
  let everAllConnected = false;
  const devices = publishing.map((record) => {
    const profile = profiles.get(record.profileId)!;
    const client = mqtt.connect(brokerUrl, {
      clientId: record.id,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      keepalive: 30,
    });
    const device = new SimulatedDevice(record, profile, modelFor(profile), school, client, seed, clock, logger);
    let isConnected = false;
    client.on('connect', () => {
      isConnected = true;
      connected++;
      if (connected === publishing.length) {
        logger.info({ schoolId: school.id, devices: connected, brokerUrl }, everAllConnected ? 'all devices reconnected to the gateway' : 'all devices connected to the gateway');
        everAllConnected = true;
      }
    });
    client.on('close', () => {
      if (!isConnected) return;
      isConnected = false;
      if (connected-- === publishing.length && !device.stopped) logger.warn({ schoolId: school.id, brokerUrl }, 'devices lost the gateway; reconnecting');
    });
    // Without a listener an 'error' event would throw; connection errors end in 'close' and a reconnect.
    client.on('error', (error) => logger.debug({ deviceId: record.id, err: error.message }, 'device connection error'));
    const intervalMs = opts.intervalMs ?? profile.reportIntervalSeconds * 1000;
    device.start(intervalMs);
    return device;
  });

  let stopping: Promise<void> | undefined;
  return {
    served,
    published: () => new Map(devices.map((d) => [d.record.id, d.published])),
    acknowledged: () => new Map(devices.map((d) => [d.record.id, d.acknowledged])),
    firstSampleOffsets: () => new Map(devices.map((d) => [d.record.id, d.firstSampleOffsetMs])),
    stop: (drainMs = STOP_DRAIN_MS) =>
      (stopping ??= (async () => {
        for (const device of devices) device.halt();
        // Give samples already on their way a moment to be acknowledged, then close.
        const deadline = Date.now() + drainMs;
        while (Date.now() < deadline && devices.some((d) => d.unacked > 0)) {
          for (const d of devices) d.resendFailed();
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await Promise.all(devices.map((d) => new Promise<void>((resolve) => d.client!.end(true, {}, () => resolve()))));
      })()),
  };
}
