/**
 * The contract between the edge agent and a protocol driver.
 *
 * A driver is the code for one protocol (PJLink, SNMP, probe, OPC UA). Which device it
 * talks to and what it reads is data: the device's profile (protocol block, metrics,
 * commands) and the device's record in the gateway config (address, options such as
 * credentials). Adding a model of a supported protocol is a profile file, never code here.
 *
 * Two shapes of driver:
 *  - 'poll': the agent's DeviceRunner calls poll() once per report interval, with a timeout,
 *    and does the scheduling, the backoff after failures and the status reporting. Most
 *    drivers are this (PJLink, SNMP, probes).
 *  - 'push': the handle keeps its own connection (an OPC UA subscription) and calls
 *    report()/ok()/fail() on its context as things happen.
 *
 * A driver never throws past its handle: a failure is a DriverError (or any Error, which
 * the runner classifies) and becomes the device's status, not the agent's problem.
 */
import type { TSchema } from '@sinclair/typebox';
import type {
  DeviceFaultReason,
  DeviceProfile,
  DeviceRecord,
  MetricValue,
  MetricValues,
  ProtocolDef,
} from '@schoolops/device-profiles';
import type { Logger } from 'pino';

export type ProtocolType = ProtocolDef['type'];
export type ProtocolOf<T extends ProtocolType> = Extract<ProtocolDef, { type: T }>;

/** A device as a driver sees it: its record (with driver options) and its profile. */
export interface DriverDevice<T extends ProtocolType = ProtocolType, O = unknown> {
  record: DeviceRecord;
  profile: DeviceProfile;
  protocol: ProtocolOf<T>;
  /** The device's `options` from the gateway config, already checked against the driver's schema. */
  options: O;
  /** record.address.host (drivers that need a host refuse a device without one at open). */
  host: string | undefined;
  /** record.address.port, else the profile's protocol port. */
  port: number | undefined;
  /** How often the device is read or reported: the profile's interval unless the gateway overrides it. */
  intervalMs: number;
  /** A folder of the gateway's own for state a driver must keep (OPC UA certificates). */
  dataDir: string | undefined;
}

export interface DriverContext<T extends ProtocolType = ProtocolType, O = unknown> {
  readonly device: DriverDevice<T, O>;
  readonly logger: Logger;
  /** Aborted when the agent stops: end connections and timers. */
  readonly signal: AbortSignal;
  /** Values read from the device, by metric name. Checked against the profile before they are queued. */
  report(values: MetricValues, ts?: number): void;
  /** Push drivers: the device answers as it should (clears a previous problem). */
  ok(): void;
  /** Push drivers: the device stopped answering or answers wrongly. */
  fail(error: unknown): void;
}

export interface DeviceHandle {
  /** Poll drivers: read the device once. Reject with a DriverError (or let a socket error through). */
  poll?(signal: AbortSignal): Promise<MetricValues>;
  /** Carry out one of the profile's commands. Rejects when the device refuses or cannot be reached. */
  command?(name: string, params: Record<string, MetricValue>, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface Driver<T extends ProtocolType = ProtocolType, O = unknown> {
  protocol: T;
  mode: 'poll' | 'push';
  /** Schema of the device record's `options` (credentials, targets); checked when the agent starts. */
  options?: TSchema;
  /** How often to poll, when not the profile's report interval (a camera polls often and counts when due). */
  pollIntervalMs?(device: DriverDevice<T, O>): number;
  /** The first poll comes at a random point within this long of the start (default: min(interval, 5 s)). */
  firstPollWithinMs?(device: DriverDevice<T, O>): number;
  /** Longest one poll may take before it counts as a timeout (default: min(interval, 10 s)). */
  pollTimeoutMs?(device: DriverDevice<T, O>): number;
  /** Set up a device; throw a DriverError here for configuration that can never work (no host). */
  open(ctx: DriverContext<T, O>): DeviceHandle;
}

/** A failure with a reason from the wire contract's list. */
export class DriverError extends Error {
  constructor(
    readonly reason: DeviceFaultReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DriverError';
  }
}

/** Failures that mean nothing answered; everything else means something answered wrongly. */
const UNREACHABLE: ReadonlySet<DeviceFaultReason> = new Set(['refused', 'timeout', 'no_route', 'closed']);
export const isUnreachable = (reason: DeviceFaultReason) => UNREACHABLE.has(reason);

const BY_CODE: Record<string, DeviceFaultReason> = {
  ECONNREFUSED: 'refused',
  ETIMEDOUT: 'timeout',
  ESOCKETTIMEDOUT: 'timeout',
  EHOSTUNREACH: 'no_route',
  ENETUNREACH: 'no_route',
  EHOSTDOWN: 'no_route',
  ENOTFOUND: 'no_route',
  EAI_AGAIN: 'no_route',
  ECONNRESET: 'closed',
  EPIPE: 'closed',
  ECONNABORTED: 'closed',
};

/** Turn whatever a driver threw into a reason and a one-line detail. */
export function classifyError(error: unknown): { reason: DeviceFaultReason; detail: string } {
  const e = error as { code?: unknown; name?: unknown; message?: unknown } | undefined;
  const detail = String(e?.message ?? error).slice(0, 500);
  if (error instanceof DriverError) return { reason: error.reason, detail };
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return { reason: 'timeout', detail: detail || 'timed out' };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code && BY_CODE[code]) return { reason: BY_CODE[code], detail };
  return { reason: 'protocol_error', detail };
}
