/**
 * The JSON Schema of a device profile, written once in TypeBox: it gives the TypeScript
 * type, the ajv validator used at load, and the documentation of every field.
 *
 * A profile is data: which protocol a model speaks and how it is addressed, what it
 * measures, when it is unhealthy, and what it can be told to do. Code lives in drivers,
 * one per protocol; adding a model of a supported protocol is one profile file.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ID_PATTERN, LocalizedText } from './ids.ts';
import { DEVICE_KINDS } from './kinds.ts';

const METRIC_NAME = '^[a-z][a-zA-Z0-9_]{0,63}$';
const Scalar = Type.Union([Type.Number(), Type.Boolean(), Type.String()]);

export const MetricDef = Type.Object(
  {
    name: Type.String({ pattern: METRIC_NAME }),
    type: Type.Union([
      Type.Literal('number'),
      Type.Literal('integer'),
      Type.Literal('boolean'),
      Type.Literal('enum'),
      Type.Literal('string'),
    ]),
    /** SI or customary unit ('bit/s', '°C', 'h', '%', 'ms'); '' when unitless. */
    unit: Type.String(),
    min: Type.Optional(Type.Number()),
    max: Type.Optional(Type.Number()),
    /** Allowed values of an enum metric. */
    values: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, uniqueItems: true })),
    /** Multiply the raw protocol value by this to get the unit above (e.g. 0.1 for deci-degrees). */
    scale: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    description: LocalizedText,
  },
  { additionalProperties: false },
);
export type MetricDef = Static<typeof MetricDef>;

const Port = Type.Integer({ minimum: 1, maximum: 65535 });

/** How the gateway reaches the device. One variant per driver. */
export const ProtocolDef = Type.Union([
  Type.Object(
    {
      type: Type.Literal('pjlink'),
      port: Port,
      pjlinkClass: Type.Union([Type.Literal(1), Type.Literal(2)]),
      /** Whether the model ships with PJLink authentication enabled. */
      auth: Type.Boolean(),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('snmp'),
      port: Port,
      versions: Type.Array(Type.Union([Type.Literal('2c'), Type.Literal('3')]), { minItems: 1 }),
      /** Raw inputs the driver reads and derives metrics from: name -> numeric OID; '{ifIndex}' comes from the device address. */
      oids: Type.Record(Type.String({ pattern: METRIC_NAME }), Type.String({ pattern: '^[0-9.{}a-zA-Z]+$' })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('probe'),
      /** What the probe measures: ICMP-like latency/loss, DNS, HTTP checks, throughput. */
      checks: Type.Array(Type.Union([Type.Literal('latency'), Type.Literal('dns'), Type.Literal('http'), Type.Literal('throughput')]), {
        minItems: 1,
      }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('opcua'),
      port: Port,
      /** Metric name -> OPC UA node id (e.g. 'ns=1;s=Lab.RoomTemperature'). */
      nodes: Type.Record(Type.String({ pattern: METRIC_NAME }), Type.String({ minLength: 1 })),
      /** Absolute deadband per metric for monitored items. */
      deadband: Type.Optional(Type.Record(Type.String({ pattern: METRIC_NAME }), Type.Number({ minimum: 0 }))),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('mqtt'),
      /**
       * For devices that publish their own JSON rather than ours: dotted path in the device's
       * payload ('session.touches') -> metric name. Fields not listed are ignored. Without a
       * map the device publishes SchoolOps' DeviceStateMessage ({ts, values, n}).
       */
      map: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9_$-]+(\\.[A-Za-z0-9_$-]+)*$' }), Type.String({ pattern: METRIC_NAME }))),
      /** Dotted path of the sample time (ms since epoch) in the device's payload; else receive time. */
      timestamp: Type.Optional(Type.String({ minLength: 1 })),
      /** Dotted path of the device's own message counter, kept as the reading's `n`. */
      counter: Type.Optional(Type.String({ minLength: 1 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('http-snapshot'),
      port: Port,
      /** Path of the JPEG snapshot on the camera. */
      path: Type.String({ pattern: '^/' }),
    },
    { additionalProperties: false },
  ),
]);
export type ProtocolDef = Static<typeof ProtocolDef>;

export const HealthRule = Type.Object(
  {
    id: Type.String({ pattern: ID_PATTERN }),
    metric: Type.String({ pattern: METRIC_NAME }),
    op: Type.Union([Type.Literal('gt'), Type.Literal('lt'), Type.Literal('eq'), Type.Literal('ne')]),
    value: Scalar,
    /** Hysteresis: for gt/lt, the alarm clears only once the value is back past this. */
    clear: Type.Optional(Type.Number()),
    /** The condition must hold this long before the alarm is raised. */
    forSeconds: Type.Optional(Type.Integer({ minimum: 0 })),
    severity: Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]),
    message: LocalizedText,
  },
  { additionalProperties: false },
);
export type HealthRule = Static<typeof HealthRule>;

export const CommandDef = Type.Object(
  {
    name: Type.String({ pattern: METRIC_NAME }),
    description: LocalizedText,
    params: Type.Optional(
      Type.Record(
        Type.String({ pattern: METRIC_NAME }),
        Type.Object(
          {
            type: Type.Union([Type.Literal('number'), Type.Literal('boolean'), Type.Literal('enum'), Type.Literal('string')]),
            values: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
            min: Type.Optional(Type.Number()),
            max: Type.Optional(Type.Number()),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);
export type CommandDef = Static<typeof CommandDef>;

export const DeviceProfile = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    id: Type.String({ pattern: ID_PATTERN }),
    kind: Type.Union(DEVICE_KINDS.map((kind) => Type.Literal(kind))),
    vendor: Type.String({ minLength: 1 }),
    model: Type.String({ minLength: 1 }),
    name: LocalizedText,
    protocol: ProtocolDef,
    /** How often the device is expected to report (or be polled). */
    reportIntervalSeconds: Type.Integer({ minimum: 1, maximum: 86400 }),
    metrics: Type.Array(MetricDef, { minItems: 1 }),
    health: Type.Object(
      {
        /** Device is offline after this many report intervals without a reading. */
        offlineAfterMissed: Type.Integer({ minimum: 1 }),
        rules: Type.Array(HealthRule),
      },
      { additionalProperties: false },
    ),
    commands: Type.Array(CommandDef),
  },
  { additionalProperties: false },
);
export type DeviceProfile = Static<typeof DeviceProfile>;
