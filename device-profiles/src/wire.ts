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
import { ID_PATTERN } from './ids.ts';

export const WIRE_VERSION = 1 as const;

/** Hard limits shared by the edge agent, the broker and ingest. */
export const LIMITS = {
  /** Largest message a device may publish to its gateway. */
  devicePayloadBytes: 16 * 1024,
  /** Largest MQTT packet the district broker accepts (an uplink batch with headroom). */
  districtPacketBytes: 1024 * 1024,
  /** Most readings the edge agent puts in one uplink batch. */
  batchReadings: 500,
  /** Most metric values in one reading (and parameters in one command). */
  metricValues: 64,
  /** Most devices one gateway message may name (a telemetry-gap event's per-device counts). */
  devicesPerGateway: 2048,
  /** Most entries in a map of counters (rejections by reason, refusals by reason). */
  counters: 64,
  /**
   * Largest integer anywhere on the wire (times, counters, sequence numbers): beyond it a JS
   * number no longer holds every integer, and DuckDB's BIGINT (2^63 - 1) refuses a
   * whole batch for one `n: 1e20`.
   */
  maxInteger: Number.MAX_SAFE_INTEGER,
} as const;

/**
 * How far from the receiver's clock a sample time may be: `pastMs` before it, `futureMs`
 * after it. A sample stamped far ahead would stay a device's latest value for ever and hide
 * every later one (and its alarms); one far back is a device whose clock was reset.
 */
export interface TimeWindow {
  pastMs: number;
  futureMs: number;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

export const TIME_WINDOWS = {
  /**
   * What a gateway accepts as a device's own sample time, against the gateway's clock: a
   * device may buffer while the gateway is down (a month covers a school holiday's outage)
   * and its clock may run a few minutes fast.
   */
  device: { pastMs: 30 * DAY, futureMs: 5 * MINUTE },
  /**
   * What the district accepts, against its own clock: the device window plus what a
   * gateway's backlog can add (its disk quota holds about a month of a school's readings;
   * 400 days is far beyond it) and the gateway's own clock error.
   */
  district: { pastMs: 400 * DAY, futureMs: 15 * MINUTE },
} as const satisfies Record<string, TimeWindow>;

/** Why `ts` lies outside `window` around `now`, or null when it is inside. */
export function outsideTimeWindow(ts: number, now: number, window: TimeWindow): string | null {
  if (ts > now + window.futureMs) return `sample time ${ts} is ${Math.round((ts - now) / 1000)} s ahead of the clock (at most ${window.futureMs / 1000} s allowed)`;
  if (ts < now - window.pastMs) return `sample time ${ts} is ${Math.round((now - ts) / DAY)} days old (at most ${Math.round(window.pastMs / DAY)} allowed)`;
  return null;
}

// Bounded building blocks: every string has a maxLength, every integer a maximum, every map
// a pattern for its keys (closed: other keys are refused) and a maxProperties.

/** A non-negative integer that fits a JS number exactly and a DuckDB BIGINT. */
const Count = (options: { description?: string } = {}) => Type.Integer({ minimum: 0, maximum: LIMITS.maxInteger, ...options });
/** ms since the Unix epoch; a receiver also checks it against its TimeWindow. */
const Ms = (description = 'ms since the Unix epoch') => Count({ description });
/** ids.ts's Id with its length said outright (the pattern allows at most 96 characters). */
const WireId = Type.String({ pattern: ID_PATTERN, maxLength: 96, description: 'URL- and MQTT-safe id' });
export const METRIC_NAME_PATTERN = '^[a-z][a-zA-Z0-9_]{0,63}$';
/** Counter names (reasons) are snake_case. */
const COUNTER_NAME_PATTERN = '^[a-z][a-z0-9_]{0,63}$';

/**
 * A JSON object map with closed keys. TypeBox's Record with a pattern key emits only
 * patternProperties, which ajv treats as "these keys, if present, hold this", and lets every
 * other key through: additionalProperties false refuses them.
 */
function BoundedMap<V extends TSchema>(keyPattern: string, value: V, maxProperties: number, options: { minProperties?: number; description?: string } = {}) {
  return Type.Record(Type.String({ pattern: keyPattern }), value, { ...options, maxProperties, additionalProperties: false });
}

// ---------------------------------------------------------------------------------------
// District namespace
// ---------------------------------------------------------------------------------------

const DISTRICT_ROOT = ['schoolops', 'v1'] as const;
const ROOT = DISTRICT_ROOT.join('/');

/**
 * Channels a gateway publishes on (direction "up"). Each is also the name of its topic in
 * `districtTopics`, so a channel added here has its topic (and the broker's ACL, which reads
 * this list, lets a gateway publish it for its own school only).
 */
export const UPLINK_CHANNELS = ['telemetry', 'status', 'health', 'event', 'command-result'] as const;
export type UplinkChannel = (typeof UPLINK_CHANNELS)[number];

/** Reserved first level after the root for district-internal topics (never a school id). */
const DISTRICT_INTERNAL = '_district';

export const districtTopics = {
  telemetry: (schoolId: string) => `${ROOT}/${schoolId}/up/telemetry`,
  status: (schoolId: string) => `${ROOT}/${schoolId}/up/status`,
  health: (schoolId: string) => `${ROOT}/${schoolId}/up/health`,
  /** Gateway events that must never be dropped (e.g. a gap in the telemetry it had to drop). */
  event: (schoolId: string) => `${ROOT}/${schoolId}/up/event`,
  /** What became of each district command at the gateway (CommandResult), kept until the district confirms it. */
  'command-result': (schoolId: string) => `${ROOT}/${schoolId}/up/command-result`,
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

export const MetricValues = BoundedMap(METRIC_NAME_PATTERN, MetricValue, LIMITS.metricValues, { minProperties: 1 });
export type MetricValues = Static<typeof MetricValues>;

/** What a device publishes on localTopics.deviceState. */
export const DeviceStateMessage = Type.Object(
  {
    /** Sample time, ms since epoch; the gateway stamps its own clock when absent. */
    ts: Type.Optional(Ms()),
    values: MetricValues,
    /** Device-side counter of samples published; lets the delivery checker prove completeness. */
    n: Type.Optional(Count()),
  },
  { additionalProperties: false },
);
export type DeviceStateMessage = Static<typeof DeviceStateMessage>;

/** One device sample in an uplink batch. */
export const Reading = Type.Object(
  {
    deviceId: WireId,
    ts: Ms('sample time, ms since epoch'),
    values: MetricValues,
    n: Type.Optional(Count()),
    /** Replayed from backlog: store it, but raise no fresh alarms on it. */
    hist: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type Reading = Static<typeof Reading>;

const GatewayIdentity = {
  v: Type.Literal(WIRE_VERSION),
  gatewayId: WireId,
  schoolId: WireId,
  /** Random per agent start; (gatewayId, bootId, seq) names one batch for ever. */
  bootId: Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$', maxLength: 64 }),
};

const BatchFields = {
  ...GatewayIdentity,
  seq: Count(),
  sentAt: Ms(),
};

export const TelemetryBatch = Type.Object(
  {
    ...BatchFields,
    readings: Type.Array(Reading, { minItems: 1, maxItems: LIMITS.batchReadings }),
  },
  { additionalProperties: false },
);
export type TelemetryBatch = Static<typeof TelemetryBatch>;

/**
 * A telemetry batch as ingest first checks it: the envelope only, each reading left for a
 * check of its own against `Reading`. One bad reading then costs itself, not its batch: a
 * batch refused whole is never acknowledged, so its gateway would send it (and every good
 * reading in it) again for ever.
 */
export const TelemetryBatchEnvelope = Type.Object(
  {
    ...BatchFields,
    readings: Type.Array(Type.Unknown(), { minItems: 1, maxItems: LIMITS.batchReadings }),
  },
  { additionalProperties: false },
);

/** Just what names a batch, so a district can answer even a batch whose envelope it refuses. */
export const BatchIdentity = Type.Object({ v: Type.Literal(WIRE_VERSION), gatewayId: WireId, schoolId: WireId, bootId: GatewayIdentity.bootId, seq: Count() });

/** Retained on districtTopics.status; the offline form is also the MQTT last will. */
export const GatewayStatus = Type.Object(
  {
    ...GatewayIdentity,
    state: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    ts: Ms(),
    agentVersion: Type.Optional(Type.String({ maxLength: 64 })),
    deviceCount: Type.Optional(Count()),
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
    gatewayId: WireId,
    bootId: GatewayIdentity.bootId,
    seq: Count(),
    /** stored: new and stored; duplicate: stored before; rejected: invalid, never retry. */
    result: Type.Union([Type.Literal('stored'), Type.Literal('duplicate'), Type.Literal('rejected')]),
  },
  { additionalProperties: false },
);
export type BatchAck = Static<typeof BatchAck>;

/**
 * Sent by the district once it has stored a gateway event, or refused it for good (an event
 * about a device of another school, a time far off the district's clock): either way the
 * gateway forgets it, since sending it again would not change the answer.
 */
export const EventAck = Type.Object(
  {
    v: Type.Literal(WIRE_VERSION),
    gatewayId: WireId,
    eventId: Type.String({ minLength: 1, maxLength: 64 }),
    result: Type.Union([Type.Literal('stored'), Type.Literal('rejected')]),
  },
  { additionalProperties: false },
);
export type EventAck = Static<typeof EventAck>;

/**
 * Sent by the district once it has stored a command result, or refused it for good (a result
 * about another school's device or command, or about a command it never sent): either way
 * the gateway forgets it.
 */
export const CommandResultAck = Type.Object(
  {
    v: Type.Literal(WIRE_VERSION),
    gatewayId: WireId,
    resultId: Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$', maxLength: 64 }),
    result: Type.Union([Type.Literal('stored'), Type.Literal('rejected')]),
  },
  { additionalProperties: false },
);
export type CommandResultAck = Static<typeof CommandResultAck>;

/** What travels on districtTopics.ack. */
export const Ack = Type.Union([BatchAck, EventAck, CommandResultAck]);
export type Ack = Static<typeof Ack>;

const EventIdentity = {
  ...GatewayIdentity,
  eventId: Type.String({ minLength: 1, maxLength: 64 }),
  ts: Ms(),
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
    dropped: BoundedMap(ID_PATTERN, Count(), LIMITS.devicesPerGateway),
    /** Sample time range of what was dropped. */
    from: Ms(),
    to: Ms(),
    /**
     * The batches dropped, as [bootId, first seq, last seq] ranges (inclusive, ascending) of
     * this gateway's batch keys. Absent in events of agents from before it was added: the
     * district then takes `dropped` as it is.
     */
    batches: Type.Optional(
      Type.Array(Type.Tuple([GatewayIdentity.bootId, Count(), Count()]), {
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
    deviceId: WireId,
    state: Type.Union(DEVICE_LINK_STATES.map((s) => Type.Literal(s))),
    reason: Type.Optional(Type.Union(DEVICE_FAULT_REASONS.map((r) => Type.Literal(r)))),
    detail: Type.Optional(Type.String({ maxLength: 512 })),
    /** Consecutive failed attempts when this was sent. */
    failures: Count(),
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
  /** A sample time outside the receiver's TimeWindow (TIME_WINDOWS). */
  'ts_out_of_window',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

const Counters = BoundedMap(COUNTER_NAME_PATTERN, Count(), LIMITS.counters);

/** Periodic gateway self-report on districtTopics.health. */
export const GatewayHealth = Type.Object(
  {
    ...GatewayIdentity,
    ts: Ms(),
    uptimeS: Type.Number({ minimum: 0, maximum: LIMITS.maxInteger }),
    accepted: Count(),
    /** Rejected device messages by RejectReason. */
    rejected: Counters,
    forwardedBatches: Count(),
    /** Readings on disk not yet acknowledged by the district. */
    queueDepth: Count(),
    /** Of those, readings queued while the link was down, drained at the backfill budget. */
    backlog: Type.Optional(Count()),
    /** Bytes the disk queue uses, and its quota. */
    queueBytes: Type.Optional(Count()),
    queueQuotaBytes: Type.Optional(Count()),
    /** Readings dropped so far to stay within the quota (also sent as telemetry-gap events). */
    droppedReadings: Type.Optional(Count()),
    devicesConfigured: Count(),
    devicesReporting: Count(),
    /** Devices the gateway's drivers cannot reach, or reach but get wrong answers from. */
    devicesWithProblems: Type.Optional(Type.Object({ unreachable: Count(), faulty: Count() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type GatewayHealth = Static<typeof GatewayHealth>;

/**
 * How long a command may wait to be carried out, and how far apart the district's and a
 * gateway's clocks may be before it matters.
 *
 * A command is for now: "switch the projector off" carried out hours later (a gateway that
 * was offline, its broker session holding the command) is a projector switched off in the
 * middle of a lesson. So the district stamps each command with `expiresAt` (issuedAt plus a
 * TTL, `defaultMs` unless the sender asks for one within [minMs, maxMs]) and the gateway
 * refuses one that arrives past it, by its own clock.
 *
 * Clock skew, the choice: the gateway trusts its own clock, give or take `clockSkewMs`.
 *  - A command counts as expired once the gateway's clock is past expiresAt + clockSkewMs.
 *    A gateway whose clock runs ahead by more than TTL + clockSkewMs refuses every command
 *    as expired: a visible failure (the outcome says by how much), never a late run.
 *  - A command issued more than clockSkewMs ahead of the gateway's clock is refused
 *    (reason clock_skew): with a clock that far behind the gateway could not tell a late
 *    command from a fresh one (a clock reset to 2000 would accept every command ever queued).
 *  So a command runs at most clockSkewMs past its expiry, and a gateway whose clock is off
 *  by more than that says so in every outcome instead of running commands at the wrong time.
 *  A gateway also never believes a TTL longer than maxMs (expiresAt - issuedAt), whatever a
 *  district sends.
 */
export const COMMAND_TTL = {
  defaultMs: 2 * MINUTE,
  minMs: 10_000,
  maxMs: 60 * MINUTE,
  clockSkewMs: 30_000,
} as const;

/** Random per command (the district's), URL- and key-safe. */
const CommandId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', maxLength: 64 });

/** District -> gateway -> device. */
export const DeviceCommand = Type.Object(
  {
    v: Type.Literal(WIRE_VERSION),
    commandId: CommandId,
    deviceId: WireId,
    name: Type.String({ pattern: METRIC_NAME_PATTERN, maxLength: 64 }),
    params: Type.Optional(BoundedMap(METRIC_NAME_PATTERN, MetricValue, LIMITS.metricValues)),
    issuedAt: Ms('when the district sent it, by its clock'),
    /**
     * Past this (by the gateway's clock, see COMMAND_TTL) the gateway refuses it: outcome
     * 'expired'. The district always sets it; a command from a district before it expires
     * COMMAND_TTL.defaultMs after issuedAt.
     */
    expiresAt: Type.Optional(Ms('when the command stops being worth carrying out, by the district\'s clock')),
  },
  { additionalProperties: false },
);
export type DeviceCommand = Static<typeof DeviceCommand>;

/** When a command stops being worth carrying out: its expiresAt, never more than COMMAND_TTL.maxMs after issue. */
export function commandExpiry(command: Pick<DeviceCommand, 'issuedAt' | 'expiresAt'>): number {
  return Math.min(command.expiresAt ?? command.issuedAt + COMMAND_TTL.defaultMs, command.issuedAt + COMMAND_TTL.maxMs);
}

/**
 * Why a gateway whose clock reads `now` must not carry the command out (COMMAND_TTL says
 * why these two), or null when it may.
 */
export function commandTimeProblem(
  command: Pick<DeviceCommand, 'issuedAt' | 'expiresAt'>,
  now: number,
): { outcome: 'expired'; detail: string } | { outcome: 'refused'; reason: 'clock_skew'; detail: string } | null {
  const expiry = commandExpiry(command);
  const s = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  if (now > expiry + COMMAND_TTL.clockSkewMs)
    return { outcome: 'expired', detail: `arrived ${s(now - expiry)} after its expiry by the gateway's clock (issued ${s(now - command.issuedAt)} before; ${s(COMMAND_TTL.clockSkewMs)} allowed for clock skew)` };
  if (command.issuedAt > now + COMMAND_TTL.clockSkewMs)
    return { outcome: 'refused', reason: 'clock_skew', detail: `issued ${s(command.issuedAt - now)} ahead of the gateway's clock (at most ${s(COMMAND_TTL.clockSkewMs)} allowed): the district's and the gateway's clocks disagree` };
  return null;
}

/**
 * What became of a command at the gateway:
 *  - ok: the driver carried it out; `values` holds what the device read right after, if it answered;
 *  - accepted: handed to a device that speaks MQTT to the gateway (it does not answer);
 *  - failed: the driver tried and the device refused or did not answer (`reason`, `detail`),
 *    or the gateway stopped while it ran (reason interrupted: it may or may not have taken effect);
 *  - expired: it arrived past its expiry (COMMAND_TTL); not run;
 *  - duplicate: this commandId was received before; not run again (`first` is what it got then);
 *  - unknown_device: the gateway has no such device;
 *  - refused: not run for another reason (`reason`: the profile lists no such command, the
 *    device's protocol takes no commands, or the clocks disagree).
 */
export const COMMAND_OUTCOMES = ['ok', 'accepted', 'failed', 'expired', 'duplicate', 'unknown_device', 'refused'] as const;
export type CommandOutcome = (typeof COMMAND_OUTCOMES)[number];
/** The outcomes after which the device did (or may have) run the command. */
export const COMMAND_RAN: readonly CommandOutcome[] = ['ok', 'accepted', 'failed'];

export const COMMAND_REASONS = [
  ...DEVICE_FAULT_REASONS,
  /** The gateway stopped (or died) while the command ran: it may or may not have taken effect. */
  'interrupted',
  /** The device's profile lists no command of that name. */
  'no_such_command',
  /** The device's protocol (or its driver) takes no commands. */
  'not_supported',
  /** Issued further ahead of the gateway's clock than COMMAND_TTL.clockSkewMs. */
  'clock_skew',
  /** The gateway could not write the command to its journal, so it did not run it (it could not promise to run it once). */
  'gateway_error',
] as const;
export type CommandReason = (typeof COMMAND_REASONS)[number];

/**
 * A gateway's report of one command's outcome, on districtTopics['command-result']. Kept on
 * the gateway's disk and sent again until the district confirms it (CommandResultAck), like
 * gateway events: the outcome of a command that ran must not be lost to a link outage or a
 * restart. `resultId` names the report (a report sent twice is stored once); one command may
 * get several reports (its first outcome, then 'duplicate' for each repeat).
 */
export const CommandResult = Type.Object(
  {
    ...GatewayIdentity,
    resultId: CommandResultAck.properties.resultId,
    commandId: CommandId,
    deviceId: WireId,
    name: DeviceCommand.properties.name,
    outcome: Type.Union(COMMAND_OUTCOMES.map((o) => Type.Literal(o))),
    reason: Type.Optional(Type.Union(COMMAND_REASONS.map((r) => Type.Literal(r)))),
    detail: Type.Optional(Type.String({ maxLength: 512 })),
    /** ok: the device's values read right after the command. */
    values: Type.Optional(MetricValues),
    /** duplicate: the outcome the command got when it was first received. */
    first: Type.Optional(Type.Union(COMMAND_OUTCOMES.filter((o) => o !== 'duplicate').map((o) => Type.Literal(o)))),
    /** When the gateway received the command, and when it reached the outcome, by its clock. */
    receivedAt: Ms(),
    ts: Ms(),
  },
  { additionalProperties: false },
);
export type CommandResult = Static<typeof CommandResult>;

/** Just what names a result, so a district can answer even a result it refuses (its gateway then stops resending it). */
export const CommandResultIdentity = Type.Object({ v: Type.Literal(WIRE_VERSION), gatewayId: WireId, schoolId: WireId, resultId: CommandResultAck.properties.resultId });

/** The district broker's own counters, retained on districtTopics.brokerStats. */
export const BrokerStats = Type.Object(
  {
    ts: Ms(),
    startedAt: Ms(),
    clientsConnected: Count(),
    /** Refused connects, publishes and subscribes, by reason. */
    refused: Counters,
    /**
     * Refusal log lines held back so a flood of refusals is not a flood of lines (the
     * counts above still see every refusal). Absent from brokers before it existed.
     */
    logLinesSuppressed: Type.Optional(Count()),
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
