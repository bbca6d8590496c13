/** The cloud's configuration file. Every path is resolved relative to the working directory. */
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { FileError, checkOrThrow, readJsonFile } from '@schoolops/device-profiles';
import { isLoopbackHost } from './tls/loopback.ts';
import type { RetentionDays } from './storage/rollups.ts';

export const CloudConfig = Type.Object(
  {
    v: Type.Literal(1),
    http: Type.Object(
      {
        host: Type.String(),
        port: Type.Integer({ minimum: 0, maximum: 65535 }),
        /** Serve HTTPS with this certificate (PEM; a chain may follow it) and key. */
        tls: Type.Optional(
          Type.Object({ certFile: Type.String({ minLength: 1 }), keyFile: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
        ),
        /**
         * Plain HTTP on a host other than loopback: only behind a proxy that terminates TLS
         * on this machine's network. Without it such a config is refused.
         */
        allowPlainRemote: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
    /** The district broker, and the cloud's own credentials on it. */
    mqtt: Type.Object(
      {
        url: Type.String({ pattern: '^mqtts?://' }),
        username: Type.String({ minLength: 1 }),
        password: Type.Optional(Type.String({ minLength: 1 })),
        passwordFile: Type.Optional(Type.String({ minLength: 1 })),
        /** CA certificate (PEM file) to trust for mqtts://, as a gateway's district.caFile. */
        caFile: Type.Optional(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false },
    ),
    /** DuckDB file and other state live here. */
    dataDir: Type.String({ minLength: 1 }),
    /** The district's digital record (schools, rooms, devices). */
    inventoryFile: Type.String({ minLength: 1 }),
    profileDirs: Type.Optional(Type.Array(Type.String())),
    /**
     * The built dashboard (`npm run build` writes dashboard/dist), served at '/'. Without it
     * the cloud serves the API only (and says so at start).
     */
    dashboardDir: Type.Optional(Type.String({ minLength: 1 })),
    /** UDP echo reflector for the gateways' link probes (latency, jitter, loss); off unless set. */
    probeEcho: Type.Optional(
      Type.Object(
        {
          host: Type.String({ default: '0.0.0.0' }),
          port: Type.Integer({ minimum: 0, maximum: 65535 }),
          /** Datagrams answered per source address per second; more are dropped (default 50). */
          perSourcePerSecond: Type.Optional(Type.Integer({ minimum: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * Demos and tests only: the attendance API reads the timetable on a clock this many ms
     * from the system's (the simulated district's school time, the same as its gateways').
     */
    schoolClockOffsetMs: Type.Optional(Type.Integer()),
    /**
     * How long the DuckDB store keeps readings, and how often it rolls them up (every field
     * optional; defaults in cloud/src/storage/rollups.ts: raw 7 days, 1-minute rollups 7 (130
     * for the attendance reports' metrics), 15-minute 35, 1-hour 400; every 300 s). Charts of
     * older ranges are answered from the coarser rollups that are still kept; each level must
     * be kept at least as long as the finer one it is made from.
     */
    storage: Type.Optional(
      Type.Object(
        {
          retention: Type.Optional(
            Type.Object(
              {
                rawDays: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
                minuteDays: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
                /** 1-minute rollups of what the attendance reports read (cameras' counts, labs' printer state). */
                attendanceDays: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
                quarterHourDays: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
                hourDays: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
              },
              { additionalProperties: false },
            ),
          ),
          rollupEverySeconds: Type.Optional(Type.Integer({ minimum: 10 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** When present, every raw reading is also written to InfluxDB (v2 write API). */
    influx: Type.Optional(
      Type.Object(
        {
          url: Type.String({ pattern: '^https?://' }),
          token: Type.String(),
          org: Type.String({ minLength: 1 }),
          bucket: Type.String({ minLength: 1 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type CloudConfig = Static<typeof CloudConfig>;

export function parseCloudConfig(value: unknown, source = 'config'): CloudConfig {
  const config = checkOrThrow(CloudConfig, value, source);
  if (!config.mqtt.password && !config.mqtt.passwordFile) throw new FileError(`${source}: /mqtt: needs password or passwordFile`);
  const plain = plainHttpProblem(config);
  if (plain) throw new FileError(`${source}: /http: ${plain}`);
  return config;
}

/**
 * Why this config may not serve plain HTTP where it listens (undefined when it may): the
 * session cookie, API tokens and attendance would cross the network in clear text.
 */
export function plainHttpProblem(config: CloudConfig): string | undefined {
  const { host, tls, allowPlainRemote } = config.http;
  if (tls || allowPlainRemote || isLoopbackHost(host)) return undefined;
  return (
    `plain HTTP on "${host}" would reach other machines: add "tls": { "certFile", "keyFile" } ` +
    `(node --import tsx cloud/src/cli.ts make-certs makes them), listen on 127.0.0.1, or set "allowPlainRemote": true ` +
    `when a TLS proxy on this network stands in front`
  );
}

/** The storage options of a config, as openStorage takes them. */
export function storageOptions(config: CloudConfig): { retention?: Partial<RetentionDays>; rollupEveryMs?: number } {
  const storage = config.storage;
  if (!storage) return {};
  return {
    ...(storage.retention ? { retention: storage.retention } : {}),
    ...(storage.rollupEverySeconds !== undefined ? { rollupEveryMs: storage.rollupEverySeconds * 1000 } : {}),
  };
}

export function loadCloudConfig(file: string): CloudConfig {
  return parseCloudConfig(readJsonFile(file), file);
}

export function mqttPassword(config: CloudConfig): string {
  return config.mqtt.password ?? readFileSync(config.mqtt.passwordFile!, 'utf8').trim();
}
