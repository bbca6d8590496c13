/**
 * The wire contract: every MQTT topic and every message body that crosses a process
 * boundary is declared here, once. No other file in the repository spells a topic.
 *
 * Two namespaces:
 *  - district:  schoolops/v1/{schoolId}/{up|down}/...   (gateway <-> district broker)
 *  - local:     local/v1/device/{deviceId}/...          (device <-> its school gateway)
 *
 * Lifecycle borrows Sparkplug B's ideas in plain JSON: a retained status message with an
 * MQTT last will (birth/death), a bootId per agent start, and a per-boot sequence number
 * on every uplink batch so the district can dedup replays and prove nothing was lost.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import { Id } from './ids.ts';

export const WIRE_VERSION = 1 as const;

/** Hard limits shared by the edge agent, the broker and ingest. */
export const LIMITS = {
  /** Largest message a device may publish to its gateway. */
  devicePayloadBytes: 16 * 1024,
  /** Largest MQTT packet the district broker accepts (an uplink batch with headroom). */
  districtPacketBytes: 1024 * 1024,
  /** Most readings the edge agent puts in one uplink batch. */
  batchReadings: 500,
} as const;

// ---------------------------------------------------------------------------------------
// District namespace
// ---------------------------------------------------------------------------------------

const DISTRICT_ROOT = ['schoolops', 'v1'] as const;
const ROOT = DISTRICT_ROOT.join('/');

/** Channels a gateway publishes on (direction "up"). */
export const UPLINK_CHANNELS = ['telemetry', 'status', 'health', 'event'] as const;
export type UplinkChannel = (typeof UPLINK_CHANNELS)[number];

/** Reserved first level after the root for district-internal topics (never a school id). */
const DISTRICT_INTERNAL = '_district';

export const districtTopics = {
  telemetry: (schoolId: string) => `${ROOT}/${schoolId}/up/telemetry`,
  status: (schoolId: string) => `${ROOT}/${schoolId}/up/status`,
  health: (schoolId: string) => `${ROOT}/${schoolId}/up/health`,
  /** Gateway events that must never be dropped (e.g. a gap in the telemetry it had to drop). */
  event: (schoolId: string) => `${ROOT}/${schoolId}/up/event`,
  command: (schoolId: string, deviceId: string) => `${ROOT}/${schoolId}/down/command/${deviceId}`,
  /** The district tells a gateway which of its batches are stored (application-level ack). */
  ack: (schoolId: string) => `${ROOT}/${schoolId}/down/ack`,
  /** What a gateway subscribes to: commands for its own school. */
  schoolDownlink: (schoolId: string) => `${ROOT}/${schoolId}/down/#`,
  /** What the cloud subscribes to: everything every gateway sends up. */
  allUplink: `${ROOT}/+/up/#`,
  /** Broker counters, published by the broker itself (retained). */
  brokerStats: `${ROOT}/${DISTRICT_INTERNAL}/broker/stats`,
} as const;

export interface DistrictTopic {
  schoolId: string;
  direction: 'up' | 'down';
  /** Levels after the direction, e.g. ['telemetry'] or ['command', deviceId]. */
  rest: string[];
}

/**
 * Parse a district topic or subscription filter. Returns null when it is not under the
 * district root, names no literal school, or has no direction. Wildcards are returned as
 * they are, so a caller enforcing an ACL can refuse them where a literal is required.
 */
export function parseDistrictTopic(topic: string): DistrictTopic | null {
  const levels = topic.split('/');
  if (levels.length < 4) return null;
  if (levels[0] !== DISTRICT_ROOT[0] || levels[1] !== DISTRICT_ROOT[1]) return null;
  const schoolId = levels[2]!;
  const direction = levels[3];
  if (direction !== 'up' && direction !== 'down') return null;
  return { schoolId, direction, rest: levels.slice(4) };
}

export function isUplinkChannel(value: string | undefined): value is UplinkChannel {
  return (UPLINK_CHANNELS as readonly string[]).includes(value ?? '');
}

// ---------------------------------------------------------------------------------------
// Local namespace (a school's devices and its gateway)
// ---------------------------------------------------------------------------------------

const LOCAL_ROOT = 'local/v1/device';

export const localTopics = {
  /** A device publishes its current values here. */
  deviceState: (deviceId: string) => `${LOCAL_ROOT}/${deviceId}/state`,
  /** The gateway forwards district commands to an MQTT-native device here. */
  deviceCommand: (deviceId: string) => `${LOCAL_ROOT}/${deviceId}/command`,
  allDeviceState: `${LOCAL_ROOT}/+/state`,
} as const;

function parseLocalDeviceTopic(topic: string, leaf: 'state' | 'command'): string | null {
  const prefix = `${LOCAL_ROOT}/`;
  const suffix = `/${leaf}`;
  if (!topic.startsWith(prefix) || !topic.endsWith(suffix)) return null;
  const deviceId = topic.slice(prefix.length, -suffix.length);
  return deviceId.length > 0 && !deviceId.includes('/') ? deviceId : null;
}

/** The device id of a local state topic, or null if the topic is anything else. */
export const parseLocalStateTopic = (topic: string) => parseLocalDeviceTopic(topic, 'state');
/** The device id of a local command topic, or null if the topic is anything else. */
export const parseLocalCommandTopic = (topic: string) => parseLocalDeviceTopic(topic, 'command');

// ---------------------------------------------------------------------------------------
// Message bodies
// ---------------------------------------------------------------------------------------

export const MetricValue = Type.Union([Type.Number(), Type.Boolean(), Type.String({ maxLength: 256 })]);
export type MetricValue = Static<typeof MetricValue>;

export const MetricValues = Type.Record(Type.String({ pattern: '^[a-z][a-zA-Z0-9_]{0,63}$' }), MetricValue, {
  minProperties: 1,
  maxProperties: 64,
});
export type MetricValues = Static<typeof MetricValues>;

/** What a device publishes on localTopics.deviceState. */
export const DeviceStateMessage = Type.Object(
  {
    /** Sample time, ms since epoch; the gateway stamps its own clock when absent. */
    ts: Type.Optional(Type.Integer({ minimum: 0 })),
    values: MetricValues,
    /** Device-side counter of samples published; lets the delivery checker prove completeness. */
    n: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type DeviceStateMessage = Static<typeof DeviceStateMessage>;

/** One device sample in an uplink batch. */
export const Reading = Type.Object(
  {
    deviceId: Id,
    ts: Type.Integer({ minimum: 0, description: 'sample time, ms since epoch' }),
    values: MetricValues,
    n: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Replayed from backlog: store it, but raise no fresh alarms on it. */
    hist: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type Reading = Static<typeof Reading>;

const GatewayIdentity = {
  v: Type.Literal(WIRE_VERSION),
  gatewayId: Id,
  schoolId: Id,
  /** Random per agent start; (gatewayId, bootId, seq) names one batch for ever. */
  bootId: Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$' }),
};

export const TelemetryBatch = Type.Object(
  {
    ...GatewayIdentity,
    seq: Type.Integer({ minimum: 0 }),
    sentAt: Type.Integer({ minimum: 0 }),
    readings: Type.Array(Reading, { minItems: 1, maxItems: LIMITS.batchReadings }),
  },
  { additionalProperties: false },
);
export type TelemetryBatch = Static<typeof TelemetryBatch>;

/** Retained on districtTopics.status; the offline form is also the MQTT last will. */
export const GatewayStatus = Type.Object(
  {
    ...GatewayIdentity,
    state: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    ts: Type.Integer({ minimum: 0 }),
    agentVersion: Type.Optional(Type.String()),
    deviceCount: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type GatewayStatus = Static<typeof GatewayStatus>;

/**
 * Sent by the district once a batch is durably stored (or recognised as already stored).
 * Only then does the gateway delete it from its disk queue: the broker's PUBACK says the
 * broker has the message, not that the district has stored it.
 */
export const BatchAck = Type.Object(
  {
    v: Type.Literal(WIRE_VERSION),
    gatewayId: Id,
    bootId: GatewayIdentity.bootId,
    seq: Type.Integer({ minimum: 0 }),
    /** stored: new and stored; duplicate: stored before; rejected: invalid, never retry. */
    result: Type.Union([Type.Literal('stored'), Type.Literal('duplicate'), Type.Literal('rejected')]),
  },
  { additionalProperties: false },
);
export type BatchAck = Static<typeof BatchAck>;

/** Sent by the district once it has stored a gateway event; only then does the gateway forget it. */
export const EventAck = Type.Object(
  { v: Type.Literal(WIRE_VERSION), gatewayId: Id, eventId: Type.String({ minLength: 1, maxLength: 64 }), result: Type.Literal('stored') },
  { additionalProperties: false },
);
export type EventAck = Static<typeof EventAck>;

/** What travels on districtTopics.ack. */
export const Ack = Type.Union([BatchAck, EventAck]);
export type Ack = Static<typeof Ack>;

const EventIdentity = {
  ...GatewayIdentity,
  eventId: Type.String({ minLength: 1, maxLength: 64 }),
  ts: Type.Integer({ minimum: 0 }),
};

/**
 * Most batch ranges one telemetry-gap event names (at most ~105 bytes each as JSON, so an
 * event stays far below LIMITS.districtPacketBytes); a larger drop is reported as several events.
 */
export const GAP_MAX_BATCH_RANGES = 1000;

/**
 * Readings the gateway had to drop to stay within its disk quota.
 *
 * A dropped batch may still have reached the district: one sent just before a disconnect can
 * be stored although its ack never came back, and one in flight can arrive after this event.
 * So the event names the batches it dropped, and the district counts as dropped only the
 * readings of those batches it does not hold, whichever comes first.
 */
export const TelemetryGapEvent = Type.Object(
  {
    ...EventIdentity,
    type: Type.Literal('telemetry-gap'),
    /** Readings dropped to stay within the disk quota, per device (the gateway's count). */
    dropped: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
    /** Sample time range of what was dropped. */
    from: Type.Integer({ minimum: 0 }),
    to: Type.Integer({ minimum: 0 }),
    /**
     * The batches dropped, as [bootId, first seq, last seq] ranges (inclusive, ascending) of
     * this gateway's batch keys. Absent in events of agents from before it was added: the
     * district then takes `dropped` as it is.
     */
    batches: Type.Optional(
      Type.Array(Type.Tuple([GatewayIdentity.bootId, Type.Integer({ minimum: 0 }), Type.Integer({ minimum: 0 })]), {
        minItems: 1,
        maxItems: GAP_MAX_BATCH_RANGES,
      }),
    ),
  },
  { additionalProperties: false },
);
export type TelemetryGapEvent = Static<typeof TelemetryGapEvent>;

/**
 * How a gateway's driver is getting on with a device it polls or subscribes to.
 * unreachable: nothing answered (refused, timed out, no route, connection dropped);
 * faulty: something answered but not as it should (bad credentials, garbage, a protocol error).
 */
export const DEVICE_LINK_STATES = ['ok', 'unreachable', 'faulty'] as const;
export type DeviceLinkState = (typeof DEVICE_LINK_STATES)[number];

export const DEVICE_FAULT_REASONS = [
  /** Connection refused: nothing listens on the device's port. */
  'refused',
  /** No answer within the driver's timeout. */
  'timeout',
  /** No route to the device (EHOSTUNREACH, ENETUNREACH, DNS failure of the device's name). */
  'no_route',
  /** The device closed or reset the connection mid-exchange. */
  'closed',
  /** Credentials refused (PJLink ERRA, SNMPv3 authentication, OPC UA BadUserAccessDenied). */
  'auth_failed',
  /** The answer did not parse or broke the protocol. */
  'protocol_error',
  /** The device answered that it cannot serve the request now (PJLink ERR3, SNMP noSuchObject). */
  'device_error',
] as const;
export type DeviceFaultReason = (typeof DEVICE_FAULT_REASONS)[number];

/**
 * A device's link changed: sent when a driver first fails with a reason, when the reason
 * changes, and when the device answers again (state 'ok'). Not sent for devices that are fine
 * at gateway start: a reading newer than the last problem means the device is answering.
 */
export const DeviceStatusEvent = Type.Object(
  {
    ...EventIdentity,
    type: Type.Literal('device-status'),
    deviceId: Id,
    state: Type.Union(DEVICE_LINK_STATES.map((s) => Type.Literal(s))),
    reason: Type.Optional(Type.Union(DEVICE_FAULT_REASONS.map((r) => Type.Literal(r)))),
    detail: Type.Optional(Type.String({ maxLength: 512 })),
    /** Consecutive failed attempts when this was sent. */
    failures: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type DeviceStatusEvent = Static<typeof DeviceStatusEvent>;

/** Something the gateway tells the district once, that must not be lost or thinned. */
export const GatewayEvent = Type.Union([TelemetryGapEvent, DeviceStatusEvent]);
export type GatewayEvent = Static<typeof GatewayEvent>;

/** Why the edge agent or ingest refused a reading. Counted, logged, visible in the API. */
export const REJECT_REASONS = [
  'malformed_json',
  'bad_schema',
  'bad_topic',
  'oversized',
  'unknown_device',
  'unknown_metric',
  'wrong_type',
  'out_of_range',
  /** A state message for a device the gateway reads through its own protocol (PJLink, SNMP, OPC UA...). */
  'wrong_protocol',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

const Counters = Type.Record(Type.String(), Type.Integer({ minimum: 0 }));

/** Periodic gateway self-report on districtTopics.health. */
export const GatewayHealth = Type.Object(
  {
    ...GatewayIdentity,
    ts: Type.Integer({ minimum: 0 }),
    uptimeS: Type.Number({ minimum: 0 }),
    accepted: Type.Integer({ minimum: 0 }),
    /** Rejected device messages by RejectReason. */
    rejected: Counters,
    forwardedBatches: Type.Integer({ minimum: 0 }),
    /** Readings on disk not yet acknowledged by the district. */
    queueDepth: Type.Integer({ minimum: 0 }),
    /** Of those, readings queued while the link was down, drained at the backfill budget. */
    backlog: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Bytes the disk queue uses, and its quota. */
    queueBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    queueQuotaBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Readings dropped so far to stay within the quota (also sent as telemetry-gap events). */
    droppedReadings: Type.Optional(Type.Integer({ minimum: 0 })),
    devicesConfigured: Type.Integer({ minimum: 0 }),
    devicesReporting: Type.Integer({ minimum: 0 }),
    /** Devices the gateway's drivers cannot reach, or reach but get wrong answers from. */
    devicesWithProblems: Type.Optional(Type.Object({ unreachable: Type.Integer({ minimum: 0 }), faulty: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type GatewayHealth = Static<typeof GatewayHealth>;

/** District -> gateway -> device. */
export const DeviceCommand = Type.Object(
  {
    v: Type.Literal(WIRE_VERSION),
    commandId: Type.String({ minLength: 1, maxLength: 64 }),
    deviceId: Id,
    name: Type.String({ pattern: '^[a-z][a-zA-Z0-9_]{0,63}$' }),
    params: Type.Optional(Type.Record(Type.String(), MetricValue)),
    issuedAt: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type DeviceCommand = Static<typeof DeviceCommand>;

/** The district broker's own counters, retained on districtTopics.brokerStats. */
export const BrokerStats = Type.Object(
  {
    ts: Type.Integer({ minimum: 0 }),
    startedAt: Type.Integer({ minimum: 0 }),
    clientsConnected: Type.Integer({ minimum: 0 }),
    /** Refused connects, publishes and subscribes, by reason. */
    refused: Counters,
  },
  { additionalProperties: false },
);
export type BrokerStats = Static<typeof BrokerStats>;

// ---------------------------------------------------------------------------------------
// Validation: one ajv instance, compiled once per schema.
// ---------------------------------------------------------------------------------------

const ajv = new Ajv({ allErrors: false, strict: true });
const compiled = new WeakMap<TSchema, ValidateFunction>();

export interface Invalid {
  ok: false;
  /** JSON pointer of the first offending field, '' for the document itself. */
  path: string;
  message: string;
}
export type Checked<T> = { ok: true; value: T } | Invalid;

/** Validate an already-parsed value against one of the schemas above. */
export function check<S extends TSchema>(schema: S, value: unknown): Checked<Static<S>> {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (validate(value)) return { ok: true, value: value as Static<S> };
  const error = validate.errors?.[0];
  const extra = error?.keyword === 'additionalProperties' ? (error.params as { additionalProperty?: string }).additionalProperty : undefined;
  return { ok: false, path: error?.instancePath ?? '', message: extra !== undefined ? `unknown field "${extra}"` : (error?.message ?? 'invalid') };
}

/** Parse a JSON payload and validate it; malformed JSON is reported as such. */
export function decode<S extends TSchema>(
  schema: S,
  payload: Uint8Array | string,
): Checked<Static<S>> | { ok: false; path: ''; message: string; malformed: true } {
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
  } catch (error) {
    return { ok: false, path: '', message: `malformed JSON: ${(error as Error).message}`, malformed: true };
  }
  return check(schema, value);
}

export function encode(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
