/**
 * The gateway's configuration file: who it is, where the district is, and which devices
 * the school has (profile id + address). Validated at start; a bad file is refused with
 * the path of the offending field.
 *
 * Device credentials (the options each driver declares secret, e.g. SNMPv3 keys, the OPC UA
 * password) live in a separate secrets file the config names, merged into the devices'
 * options at load. As ssh does with private keys, the gateway does not start while a file
 * holding secrets can be read by group or others: the secrets file always, the config
 * itself when it still holds secrets inline (allowed, for a config only its user can read).
 */
import { readFileSync, statSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { DeviceRecord, FileError, Id, LIMITS, Lesson, Period, SchoolClass, checkOrThrow } from '@schoolops/device-profiles';
import { SECRET_OPTIONS } from './drivers/index.ts';

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
    /**
     * The devices' secret driver options (DeviceSecrets below), merged into their `options` at
     * load. Only the gateway's user may read it (mode 0600). A path like passwordFile's.
     */
    secretsFile: Type.Optional(Type.String({ minLength: 1 })),
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

/**
 * A gateway's secrets file: per device id, driver options to merge into that device's
 * `options` (typically the ones its driver declares secret).
 */
export const DeviceSecrets = Type.Object(
  {
    v: Type.Literal(1),
    devices: Type.Record(Type.String(), Type.Record(Type.String({ minLength: 1 }), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type DeviceSecrets = Static<typeof DeviceSecrets>;

/**
 * Every option name some driver declares secret. A config names a device's profile, not its
 * protocol, so a name secret for any driver counts as secret on every device: a `password`
 * is never something to leave readable.
 */
const SECRET_OPTION_NAMES: ReadonlySet<string> = new Set([...SECRET_OPTIONS.values()].flat());

/** Where a config holds secrets itself, as JSON paths (the district password, secret driver options). */
export function inlineSecrets(config: EdgeConfig): string[] {
  const found: string[] = [];
  if (config.district.password !== undefined) found.push('/district/password');
  config.devices.forEach((device, i) => {
    for (const name of Object.keys(device.options ?? {})) if (SECRET_OPTION_NAMES.has(name)) found.push(`/devices/${i}/options/${name}`);
  });
  return found;
}

/**
 * JSON.parse's own message quotes the text around a mistake (V8: `..."authKey":supersecre"...`),
 * which would put a secret in the gateway's log: report where, never what.
 */
function readJsonQuietly(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new FileError(`${file}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const at = /at position (\d+)/.exec(message);
    if (at) {
      const before = text.slice(0, Number(at[1])).split('\n');
      throw new FileError(`${file}: not valid JSON at line ${before.length}, column ${before.at(-1)!.length + 1}`);
    }
    if (/end of JSON input/.test(message)) throw new FileError(`${file}: not valid JSON: the text ends too early`);
    throw new FileError(`${file}: not valid JSON: an unexpected token (not quoted here: the file may hold secrets)`);
  }
}

/** Refuse a file holding secrets that group or others may read, as ssh refuses such a key. */
function refuseIfOthersCanRead(file: string, holds: string, fix: string): void {
  // Windows has no POSIX mode bits for this to mean anything; gateways run Linux.
  if (process.platform === 'win32') return;
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch (error) {
    throw new FileError(`${file}: ${(error as Error).message}`);
  }
  if ((mode & 0o077) === 0) return;
  const who = [mode & 0o070 ? 'group' : '', mode & 0o007 ? 'others' : ''].filter(Boolean).join(' and ');
  throw new FileError(
    `${file}: ${holds}, and its mode ${mode.toString(8).padStart(4, '0')} lets ${who} access it: the gateway does not start until only its own user can read it (${fix})`,
  );
}

/**
 * The config with its secretsFile's options merged into the devices' options (checked by
 * each driver's schema when the agent starts, as inline options are) and secretsFile taken
 * out, so merging twice is a no-op. `source` names the config in errors.
 */
export function withDeviceSecrets(config: EdgeConfig, source = 'config'): EdgeConfig {
  const file = config.secretsFile;
  if (file === undefined) return config;
  refuseIfOthersCanRead(file, 'it is the gateway\'s device secrets file', `chmod 600 ${file}`);
  const secrets = checkOrThrow(DeviceSecrets, readJsonQuietly(file), file);
  const ids = new Set(config.devices.map((d) => d.id));
  const unknown = Object.keys(secrets.devices).filter((id) => !ids.has(id));
  if (unknown.length > 0)
    throw new FileError(`${file}: /devices: no device ${unknown.map((id) => JSON.stringify(id)).join(', ')} in ${source} (a typo, or a device removed from it)`);
  const devices = config.devices.map((device, i) => {
    const extra = secrets.devices[device.id];
    if (!extra) return device;
    // The same option in both places: which one the installer meant cannot be guessed.
    for (const name of Object.keys(extra))
      if (device.options && Object.hasOwn(device.options, name))
        throw new FileError(`${file}: /devices/${device.id}/${name}: also set in ${source} at /devices/${i}/options/${name}: keep it in one place`);
    return { ...device, options: { ...device.options, ...extra } };
  });
  const { secretsFile: _merged, ...rest } = config;
  return { ...rest, devices };
}

/**
 * Read, check and complete a gateway config file: refused when it holds secrets inline and
 * group or others can read it, and when its secretsFile is readable by them, malformed, or
 * names devices the config does not have.
 */
export function loadEdgeConfig(file: string): EdgeConfig {
  const config = parseEdgeConfig(readJsonQuietly(file), file);
  const inline = inlineSecrets(config);
  if (inline.length > 0)
    refuseIfOthersCanRead(
      file,
      `it holds secrets inline (${inline.join(', ')})`,
      `chmod 600 ${file}, or move the device options to a secretsFile of mode 0600 and the district password to a passwordFile`,
    );
  return withDeviceSecrets(config, file);
}

export function districtPassword(config: EdgeConfig): string {
  if (config.district.password) return config.district.password;
  return readFileSync(config.district.passwordFile!, 'utf8').trim();
}
