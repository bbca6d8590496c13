/**
 * Every message a device sends passes through here: size, JSON, envelope schema, known
 * device, its sample time against the gateway's clock, and each value against the device's
 * profile. A good message becomes a Reading; a bad one is counted by reason and logged, and
 * nothing else is affected.
 *
 * Sample times are bounded (TIME_WINDOWS.device) because one far ahead does lasting harm: the
 * batcher takes every later sample of that device for a repeat and drops it, and the district
 * would keep it as the device's latest value, hiding every later one and its alarms.
 */
import {
  DeviceStateMessage,
  LIMITS,
  REJECT_REASONS,
  TIME_WINDOWS,
  checkValues,
  decode,
  outsideTimeWindow,
  type DeviceProfile,
  type DeviceRecord,
  type MetricValues,
  type ProfileRegistry,
  type Reading,
  type RejectReason,
  type TimeWindow,
} from '@schoolops/device-profiles';
import type { Logger } from 'pino';

export interface KnownDevice {
  record: DeviceRecord;
  profile: DeviceProfile;
}

export type IntakeResult = { ok: true; reading: Reading } | { ok: false; reason: RejectReason; detail: string };

/**
 * Devices whose readings arrive as MQTT messages. Devices a driver polls (cameras included:
 * the gateway counts their snapshots itself) never publish, so a message in their name is
 * someone else's.
 */
const PUBLISHES_OVER_MQTT: ReadonlySet<string> = new Set(['mqtt']);

/** Log a given (device, reason) pair at most once per this interval; the counters see every one. */
const LOG_EVERY_MS = 10_000;

export class DeviceIntake {
  readonly devices = new Map<string, KnownDevice>();
  readonly rejected: Record<RejectReason, number> = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<
    RejectReason,
    number
  >;
  accepted = 0;
  private readonly lastSeen = new Map<string, number>();
  private readonly lastLogged = new Map<string, number>();

  constructor(
    records: DeviceRecord[],
    profiles: ProfileRegistry,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    /** Sample times accepted around `now`; a device's own time outside it is refused. */
    private readonly timeWindow: TimeWindow = TIME_WINDOWS.device,
  ) {
    for (const record of records) {
      const profile = profiles.get(record.profileId);
      if (!profile) throw new Error(`device ${record.id}: unknown profile "${record.profileId}"`);
      this.devices.set(record.id, { record, profile });
    }
  }

  /** A message on a device state topic. `deviceId` is null when the topic is not one. */
  accept(deviceId: string | null, topic: string, payload: Uint8Array): IntakeResult {
    const result = this.evaluate(deviceId, topic, payload);
    if (result.ok) {
      this.accepted++;
      this.lastSeen.set(result.reading.deviceId, this.now());
    } else {
      this.reject(deviceId ?? topic, result.reason, result.detail);
    }
    return result;
  }

  /** Count a refusal decided elsewhere (for example a publish to a forbidden topic). */
  reject(subject: string, reason: RejectReason, detail: string): void {
    this.rejected[reason]++;
    const key = `${subject}\u0000${reason}`;
    const now = this.now();
    if (now - (this.lastLogged.get(key) ?? 0) >= LOG_EVERY_MS) {
      this.lastLogged.set(key, now);
      this.logger.warn({ subject, reason, detail, total: this.rejected[reason] }, 'device message rejected');
    }
  }

  private evaluate(deviceId: string | null, topic: string, payload: Uint8Array): IntakeResult {
    if (deviceId === null) return { ok: false, reason: 'bad_topic', detail: `not a device state topic: ${topic}` };
    if (payload.byteLength > LIMITS.devicePayloadBytes)
      return { ok: false, reason: 'oversized', detail: `${payload.byteLength} bytes > ${LIMITS.devicePayloadBytes}` };
    const device = this.devices.get(deviceId);
    if (!device) return { ok: false, reason: 'unknown_device', detail: `no device "${deviceId}" in this school` };
    const protocol = device.profile.protocol;
    if (!PUBLISHES_OVER_MQTT.has(protocol.type))
      return { ok: false, reason: 'wrong_protocol', detail: `${deviceId} is read over ${protocol.type}, not MQTT: a message in its name is not from it` };
    if (protocol.type === 'mqtt' && protocol.map) return this.evaluateMapped(deviceId, device.profile, protocol, payload);
    const decoded = decode(DeviceStateMessage, payload);
    if (!decoded.ok)
      return 'malformed' in decoded
        ? { ok: false, reason: 'malformed_json', detail: decoded.message }
        : { ok: false, reason: 'bad_schema', detail: `${decoded.path || '/'}: ${decoded.message}` };
    const message = decoded.value;
    return this.evaluateValues(deviceId, device.profile, message.values, message.ts ?? this.now(), message.n);
  }

  /** A device that publishes its own JSON: pick the fields its profile maps. */
  private evaluateMapped(
    deviceId: string,
    profile: DeviceProfile,
    protocol: Extract<DeviceProfile['protocol'], { type: 'mqtt' }>,
    payload: Uint8Array,
  ): IntakeResult {
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(payload).toString('utf8'));
    } catch (error) {
      return { ok: false, reason: 'malformed_json', detail: (error as Error).message };
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, reason: 'bad_schema', detail: '/: must be an object' };
    const values: MetricValues = {};
    for (const [path, metric] of Object.entries(protocol.map ?? {})) {
      const value = pick(body, path);
      if (value === undefined) continue; // a device may leave out what did not change
      if (typeof value !== 'number' && typeof value !== 'boolean' && typeof value !== 'string')
        return { ok: false, reason: 'wrong_type', detail: `${path} -> ${metric}: ${JSON.stringify(value)?.slice(0, 80)}` };
      values[metric] = value;
    }
    if (Object.keys(values).length === 0) return { ok: false, reason: 'bad_schema', detail: 'none of the fields the profile maps is present' };
    const ts = protocol.timestamp === undefined ? undefined : pick(body, protocol.timestamp);
    // Safe integers only, as the wire's Ms and Count: the district stores them as BIGINT.
    if (ts !== undefined && !(Number.isSafeInteger(ts) && (ts as number) >= 0))
      return { ok: false, reason: 'bad_schema', detail: `${protocol.timestamp}: not a time in ms` };
    const n = protocol.counter === undefined ? undefined : pick(body, protocol.counter);
    if (n !== undefined && !(Number.isSafeInteger(n) && (n as number) >= 0))
      return { ok: false, reason: 'bad_schema', detail: `${protocol.counter}: not a counter` };
    return this.evaluateValues(deviceId, profile, values, (ts as number | undefined) ?? this.now(), n as number | undefined);
  }

  private evaluateValues(deviceId: string, profile: DeviceProfile, values: MetricValues, ts: number, n?: number): IntakeResult {
    const skew = outsideTimeWindow(ts, this.now(), this.timeWindow);
    if (skew) return { ok: false, reason: 'ts_out_of_window', detail: skew };
    const problem = checkValues(profile, values);
    if (problem) return { ok: false, reason: problem.reason, detail: `${problem.metric}: ${problem.detail}` };
    const reading: Reading = { deviceId, ts, values };
    if (n !== undefined) reading.n = n;
    return { ok: true, reading };
  }

  /** Values a protocol driver read from a device: checked against its profile like any message. */
  acceptValues(deviceId: string, values: MetricValues, ts: number): IntakeResult {
    const device = this.devices.get(deviceId);
    const result: IntakeResult = device
      ? this.evaluateValues(deviceId, device.profile, values, ts)
      : { ok: false, reason: 'unknown_device', detail: `no device "${deviceId}" in this school` };
    if (result.ok) {
      this.accepted++;
      this.lastSeen.set(deviceId, this.now());
    } else this.reject(deviceId, result.reason, result.detail);
    return result;
  }

  /** Devices heard from within the given window. */
  reportingWithin(windowMs: number): number {
    const since = this.now() - windowMs;
    let count = 0;
    for (const seen of this.lastSeen.values()) if (seen >= since) count++;
    return count;
  }
}

/** The value at a dotted path ('session.touches') of a parsed JSON object. */
function pick(body: unknown, path: string): unknown {
  let at: unknown = body;
  for (const key of path.split('.')) {
    if (typeof at !== 'object' || at === null || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}
