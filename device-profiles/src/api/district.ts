/**
 * The district's schools, rooms, devices, alarms, history and ingest statistics: response
 * and query schemas of the district API. The cloud validates and serialises with them,
 * @fastify/swagger documents them, and the dashboard takes its types from them.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { LocalizedText } from '../ids.ts';
import { DEVICE_KINDS, DEVICE_STATES, FIGURE_NAMES, FIGURES, type Figures as FigureValues } from '../kinds.ts';
import { CommandDef, MetricDef } from '../profile-schema.ts';
import { GatewayEvent, GatewayHealth, MetricValue } from '../wire.ts';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
export const Ms = Type.Integer({ description: 'ms since the Unix epoch' });

/** Every error answer: `code` is one of API_ERRORS (errors.ts), `message` its English text. */
export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String(),
  code: Type.Optional(Type.String({ description: 'a code of the error catalog (API_ERRORS): what the dashboard words in the reader\'s language' })),
  params: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()]))),
});

export const District = Type.Object({ id: Type.String(), name: LocalizedText, timezone: Type.String() });

/** A school's live figures, one property per entry of FIGURES (the kind registry). */
export const Figures = Type.Object(
  Object.fromEntries(
    FIGURE_NAMES.map((name) => {
      const def = FIGURES[name];
      const description = `${def.label.en}${def.unit ? `, ${def.unit}` : ''}: ${def.aggregate} of ${def.kind} ${def.metric}`;
      return [name, def.aggregate === 'count-equal' ? Type.Integer({ description }) : Nullable(Type.Number({ description }))];
    }),
  ),
) as unknown as TSchema & { static: FigureValues };
export type Figures = FigureValues;

export const SchoolSummary = Type.Object({
  id: Type.String(),
  name: LocalizedText,
  level: Type.String(),
  /** The ward in both languages (a district file naming it in Vietnamese only: the same name twice). */
  ward: LocalizedText,
  online: Type.Boolean({ description: "the school gateway's retained status is online" }),
  lastSeen: Type.Union([Ms, Type.Null()]),
  devices: Type.Object({
    total: Type.Integer(),
    reporting: Type.Integer(),
    problems: Type.Integer({ description: "devices the gateway's drivers report unreachable or faulty" }),
  }),
  rejected: Type.Integer({ description: 'device messages the gateway rejected since it started' }),
  alarms: Type.Object({ critical: Type.Integer(), warning: Type.Integer(), info: Type.Integer() }, { description: "devices' health rules raised now, by severity" }),
  figures: Figures,
});
export type SchoolSummary = Static<typeof SchoolSummary>;

export const GatewayView = Type.Object({
  state: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('unknown')]),
  bootId: Type.Union([Type.String(), Type.Null()]),
  since: Type.Union([Ms, Type.Null()]),
  lastSeen: Type.Union([Ms, Type.Null()]),
  health: Type.Union([GatewayHealth, Type.Null()]),
});
export type GatewayView = Static<typeof GatewayView>;

export const LinkState = Type.Object(
  {
    state: Type.Union([Type.Literal('live'), Type.Literal('catching-up'), Type.Literal('offline'), Type.Literal('unknown')]),
    backlog: Type.Union([Type.Integer({ description: 'readings queued at the gateway while the link was down' }), Type.Null()]),
  },
  { description: 'live: online, nothing waiting; catching-up: online, draining a backlog; offline' },
);

export const SchoolDetail = Type.Intersect([
  SchoolSummary,
  Type.Object({ gatewayId: Type.String(), gateway: GatewayView, link: LinkState, rooms: Type.Integer(), classes: Type.Integer() }),
]);

export const RoomView = Type.Object({
  id: Type.String(),
  name: LocalizedText,
  type: Type.String(),
  floor: Type.Integer(),
  capacity: Type.Integer(),
  devices: Type.Array(Type.String()),
});

export const Latest = Type.Object({ ts: Ms, values: Type.Record(Type.String(), MetricValue) });

export const DeviceStatusView = Type.Object(
  {
    state: Type.Union(DEVICE_STATES.map((s) => Type.Literal(s)), {
      description:
        "ok: answering; unreachable: the gateway's driver gets no answer; faulty: it answers wrongly (bad credentials, garbage); silent: no reading for offlineAfterMissed intervals; unknown: never heard",
    }),
    reason: Type.Union([Type.String({ description: 'refused, timeout, no_route, closed, auth_failed, protocol_error, device_error' }), Type.Null()]),
    detail: Type.Union([Type.String(), Type.Null()]),
    since: Type.Union([Ms, Type.Null()]),
  },
);
export type DeviceStatusView = Static<typeof DeviceStatusView>;

export const AlarmView = Type.Object({
  deviceId: Type.String(),
  ruleId: Type.String({ description: "the rule's id in the device's profile" }),
  metric: Type.String(),
  severity: Type.Union([Type.Literal('critical'), Type.Literal('warning'), Type.Literal('info')]),
  message: LocalizedText,
  since: Type.Integer({ description: 'sample time (ms) at which the condition started to hold' }),
  value: MetricValue,
});

/** A metric of the device's profile, as a page needs it: its type, unit and name in both languages. */
export const MetricView = Type.Object({
  name: Type.String(),
  type: MetricDef.properties.type,
  unit: Type.String(),
  description: LocalizedText,
});
export type MetricView = Static<typeof MetricView>;

export const DeviceView = Type.Object({
  id: Type.String(),
  schoolId: Type.String(),
  roomId: Type.String(),
  profileId: Type.String(),
  kind: Type.Union(DEVICE_KINDS.map((k) => Type.Literal(k))),
  vendor: Type.String(),
  model: Type.String(),
  name: LocalizedText,
  reporting: Type.Boolean(),
  status: DeviceStatusView,
  alarms: Type.Array(AlarmView),
  latest: Type.Union([Latest, Type.Null()]),
  commands: Type.Array(CommandDef, { description: "the commands the device's profile lists (POST /api/devices/{id}/commands takes these)" }),
  metrics: Type.Array(MetricView, { description: "the metrics the device's profile lists: what a page labels its values and charts with" }),
});
export type DeviceView = Static<typeof DeviceView>;

export const SchoolParams = Type.Object({ schoolId: Type.String() });
export const DeviceParams = Type.Object({ deviceId: Type.String() });

export const HistoryQuerystring = Type.Object({
  from: Type.Optional(Type.String({ maxLength: 64, description: 'start (inclusive): ISO 8601 or ms epoch; default: 1 hour before `to`; at most 92 days before `to`' })),
  to: Type.Optional(Type.String({ maxLength: 64, description: 'end (exclusive): ISO 8601 or ms epoch; default: now' })),
  bucket: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 86_400 * 31,
      description:
        'bucket width in seconds, buckets aligned to the epoch (UTC); at most 5000 buckets. Default: chosen from 10 s, 1 min, 5 min, 15 min, 1 h, 3 h, 6 h, 1 d: ' +
        'the smallest that gives at most 400 buckets and that the district still keeps for the whole range (every sample for 7 days, ' +
        '1-minute aggregates for 7, 15-minute for 35, hourly for 400, unless configured otherwise); ' +
        'the range is then widened to whole buckets (the answer says the range it covers)',
    }),
  ),
  metric: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description: 'only these metrics' })),
});

export const HistoryPoint = Type.Object(
  {
    t: Type.Integer({ description: 'bucket start, ms since the Unix epoch; the bucket is [t, t + bucketSeconds)' }),
    count: Type.Integer({ description: 'samples in the bucket (always at least 1: a bucket without samples is left out)' }),
    avg: Type.Union([Type.Number(), Type.Null()], { description: 'mean of the numeric samples (a boolean counts as 1/0, so this is the share of true); null for strings and enums' }),
    min: Type.Union([Type.Number(), Type.Null()], { description: 'least numeric sample; null for strings and enums' }),
    max: Type.Union([Type.Number(), Type.Null()], { description: 'greatest numeric sample; null for strings and enums' }),
    last: Type.Union([MetricValue, Type.Null()], { description: "the bucket's latest sample, in its own type (on equal times, the one stored last)" }),
  },
  { description: 'one bucket of one metric' },
);

export const History = Type.Object(
  {
    deviceId: Type.String(),
    from: Type.Integer({ description: 'start of the range answered (inclusive), ms since the Unix epoch: as asked, or rounded down to a whole bucket when the bucket was chosen' }),
    to: Type.Integer({ description: 'end of the range answered (exclusive), ms since the Unix epoch: as asked, or rounded up to a whole bucket when the bucket was chosen' }),
    bucketSeconds: Type.Integer({ description: 'the bucket width: as asked, or the one chosen' }),
    series: Type.Array(
      Type.Object({
        metric: Type.String(),
        unit: Type.String(),
        points: Type.Array(HistoryPoint, {
          description:
            'buckets in time order; a bucket in which the device sent no sample of this metric is absent, not zero: draw it as a gap. ' +
            'Samples older than the district keeps at this bucket width are absent too',
        }),
      }),
      { description: 'one per metric with at least one sample in the range' },
    ),
  },
  { description: "a device's history: per metric, aggregates per bucket" },
);

const Counters = Type.Record(Type.String(), Type.Integer());

export const IngestStatsBody = Type.Object({
  batches: Type.Integer(),
  duplicateBatches: Type.Integer(),
  readings: Type.Integer(),
  rejected: Counters,
  gateways: Type.Array(
    Type.Object({
      schoolId: Type.String(),
      state: Type.String(),
      link: LinkState,
      rejected: Counters,
      queueDepth: Type.Union([Type.Integer(), Type.Null()]),
    }),
  ),
  broker: Type.Union([Type.Object({ ts: Ms, startedAt: Ms, clientsConnected: Type.Integer(), refused: Counters }), Type.Null()]),
  storage: Type.Object({
    rows: Type.Integer(),
    queries: Type.Object(
      {
        running: Type.Integer(),
        queued: Type.Integer(),
        maxQueued: Type.Integer(),
        refused: Type.Integer({ description: 'queries refused with 503 because maxQueued already waited' }),
      },
      { description: "the store's query queue" },
    ),
  }),
});

export const DeliveryQuerystring = Type.Object({
  since: Type.String({ maxLength: 64, description: 'only samples with sample time at or after this: ISO 8601 or ms epoch, at most 7 days back' }),
});

export const GatewayEventBody = GatewayEvent;

export const DeliveryReport = Type.Object({
  since: Ms,
  dropped: Type.Record(Type.String(), Type.Integer(), { description: 'readings gateways dropped to stay within their disk quota that the district does not hold, per device (a dropped batch stored anyway is not counted)' }),
  devices: Type.Array(
    Type.Object({
      deviceId: Type.String(),
      samples: Type.Integer({ description: 'samples stored' }),
      distinct: Type.Integer({ description: 'distinct device sample counters among them' }),
      minN: Type.Integer(),
      maxN: Type.Integer(),
      outOfOrder: Type.Integer({ description: 'stored after a higher counter of the same stream (live or backlog)' }),
    }),
  ),
});

export type ErrorBody = Static<typeof ErrorBody>;
export type District = Static<typeof District>;
export type LinkState = Static<typeof LinkState>;
export type SchoolDetail = Static<typeof SchoolDetail>;
export type RoomView = Static<typeof RoomView>;
export type Latest = Static<typeof Latest>;
export type AlarmView = Static<typeof AlarmView>;
export type HistoryQuerystring = Static<typeof HistoryQuerystring>;
export type HistoryPoint = Static<typeof HistoryPoint>;
export type History = Static<typeof History>;
export type IngestStatsBody = Static<typeof IngestStatsBody>;
export type DeliveryReport = Static<typeof DeliveryReport>;
