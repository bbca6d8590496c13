/**
 * The gateway's configuration file: who it is, where the district is, and which devices
 * the school has (profile id + address). Validated at start; a bad file is refused with
 * the path of the offending field.
 */
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { DeviceRecord, FileError, Id, LIMITS, Lesson, Period, SchoolClass, checkOrThrow, readJsonFile } from '@schoolops/device-profiles';

/**
 * A device as the gateway knows it: the district's record plus what only the gateway needs
 * to reach it (credentials, probe targets), checked against its driver's options schema.
 */
export const EdgeDevice = Type.Object(
  {
    ...DeviceRecord.properties,
    /** Driver options: see the protocol sections of the README (e.g. PJLink password, SNMP community). */
    options: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type EdgeDevice = Static<typeof EdgeDevice>;

export const EdgeConfig = Type.Object(
  {
    v: Type.Literal(1),
    gatewayId: Id,
    schoolId: Id,
    district: Type.Object(
      {
        /** mqtt://host:port or mqtts://host:port of the district broker. */
        url: Type.String({ pattern: '^mqtts?://' }),
        username: Type.String({ minLength: 1 }),
        /** The gateway's secret; prefer passwordFile so the config can be shared. */
        password: Type.Optional(Type.String({ minLength: 1 })),
        passwordFile: Type.Optional(Type.String({ minLength: 1 })),
        /** CA certificate (PEM file) to trust for mqtts://. */
        caFile: Type.Optional(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false },
    ),
    /** The school's own MQTT broker that MQTT-native devices publish to. */
    local: Type.Object(
      {
        host: Type.String({ default: '0.0.0.0' }),
        /** 0 picks a free port (tests and the simulated district). */
        port: Type.Integer({ minimum: 0, maximum: 65535 }),
      },
      { additionalProperties: false },
    ),
    devices: Type.Array(EdgeDevice),
    /**
     * The school's timetable (from the district record): cameras count twice a period during
     * lessons and report attendance against the class's enrolment.
     */
    timetable: Type.Optional(
      Type.Object(
        {
          /** IANA time zone of the school, e.g. Asia/Ho_Chi_Minh. */
          timezone: Type.String({ minLength: 1 }),
          periods: Type.Array(Period),
          lessons: Type.Array(Lesson),
          classes: Type.Array(SchoolClass),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * Demos and tests only: read the timetable on a clock this many ms from the system's (the
     * simulated district's school time). Readings keep real timestamps.
     */
    schoolClockOffsetMs: Type.Optional(Type.Integer()),
    /** Poll every driven device this often instead of its profile's report interval (tests, demos). */
    pollIntervalMs: Type.Optional(Type.Integer({ minimum: 100 })),
    /** Where the gateway keeps its disk queue. */
    dataDir: Type.String({ minLength: 1 }),
    queue: Type.Optional(
      Type.Object(
        {
          /** Most bytes the queue may hold on disk (default 2 GiB). */
          quotaBytes: Type.Optional(Type.Integer({ minimum: 1024 * 1024 })),
          /** Batches sent but not yet confirmed by the district, at most (default 8). */
          window: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          /** Send a batch again when the district has not confirmed it after this long (default 30 s). */
          ackTimeoutMs: Type.Optional(Type.Integer({ minimum: 1000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** After an outage, backlog drains behind live data within this share of the uplink. */
    backfill: Type.Optional(
      Type.Object(
        {
          /** The school's uplink capacity, bit/s (default 20 Mbit/s). */
          uplinkBps: Type.Number({ exclusiveMinimum: 0 }),
          /** Share of it the backlog may use, 0..1 (default 0.25). */
          share: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
        },
        { additionalProperties: false },
      ),
    ),
    /** Extra folders of device profiles on top of the built-in ones. */
    profileDirs: Type.Optional(Type.Array(Type.String())),
    batch: Type.Optional(
      Type.Object(
        {
          maxReadings: Type.Integer({ minimum: 1, maximum: LIMITS.batchReadings }),
          maxDelayMs: Type.Integer({ minimum: 0, maximum: 60_000 }),
        },
        { additionalProperties: false },
      ),
    ),
    healthIntervalMs: Type.Optional(Type.Integer({ minimum: 1000 })),
  },
  { additionalProperties: false },
);
export type EdgeConfig = Static<typeof EdgeConfig>;

/** A bad config file: the message names the file, the JSON path and the reason. */
export { FileError as ConfigError };

export function parseEdgeConfig(value: unknown, source = 'config'): EdgeConfig {
  const config = checkOrThrow(EdgeConfig, value, source);
  if (!config.district.password && !config.district.passwordFile)
    throw new FileError(`${source}: /district: needs password or passwordFile`);
  const ids = new Set<string>();
  config.devices.forEach((device, i) => {
    if (ids.has(device.id)) throw new FileError(`${source}: /devices/${i}/id: duplicate device id "${device.id}"`);
    ids.add(device.id);
  });
  return config;
}

export function loadEdgeConfig(file: string): EdgeConfig {
  return parseEdgeConfig(readJsonFile(file), file);
}

export function districtPassword(config: EdgeConfig): string {
  if (config.district.password) return config.district.password;
  return readFileSync(config.district.passwordFile!, 'utf8').trim();
}
