/**
 * Every message a device sends passes through here: size, JSON, envelope schema, known
 * device, and each value against the device's profile. A good message becomes a Reading;
 * a bad one is counted by reason and logged, and nothing else is affected.
 */
import {
  DeviceStateMessage,
  LIMITS,
  REJECT_REASONS,
  checkValues,
  decode,
  type DeviceProfile,
  type DeviceRecord,
  type ProfileRegistry,
  type Reading,
  type RejectReason,
} from '@schoolops/device-profiles';
import type { Logger } from 'pino';

export interface KnownDevice {
  record: DeviceRecord;
  profile: DeviceProfile;
}

export type IntakeResult = { ok: true; reading: Reading } | { ok: false; reason: RejectReason; detail: string };

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
    const decoded = decode(DeviceStateMessage, payload);
    if (!decoded.ok)
      return 'malformed' in decoded
        ? { ok: false, reason: 'malformed_json', detail: decoded.message }
        : { ok: false, reason: 'bad_schema', detail: `${decoded.path || '/'}: ${decoded.message}` };
    const message = decoded.value;
    const problem = checkValues(device.profile, message.values);
    if (problem) return { ok: false, reason: problem.reason, detail: `${problem.metric}: ${problem.detail}` };
    const reading: Reading = { deviceId, ts: message.ts ?? this.now(), values: message.values };
    if (message.n !== undefined) reading.n = message.n;
    return { ok: true, reading };
  }

  /** Devices heard from within the given window. */
  reportingWithin(windowMs: number): number {
    const since = this.now() - windowMs;
    let count = 0;
    for (const seen of this.lastSeen.values()) if (seen >= since) count++;
    return count;
  }
}
