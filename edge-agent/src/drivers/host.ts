/**
 * All of a gateway's driven devices: checks each device's driver options at start (a bad
 * one fails the start with the device, the JSON path and the reason), starts one
 * DeviceRunner per device, routes commands, and reports status changes.
 */
import { join } from 'node:path';
import { FileError, checkOrThrow, type DeviceProfile, type MetricValue, type MetricValues } from '@schoolops/device-profiles';
import type { Logger } from 'pino';
import type { EdgeDevice } from '../config.ts';
import { CommandNotSupportedError, DeviceRunner, type DeviceStatus, type RunnerOptions } from './runner.ts';
import type { Driver, DriverDevice, ProtocolType } from './types.ts';

export interface DriverHostOptions {
  devices: { record: EdgeDevice; profile: DeviceProfile }[];
  drivers: ReadonlyMap<ProtocolType, Driver>;
  logger: Logger;
  /** Poll every device this often instead of its profile's interval. */
  intervalMs?: number;
  /** The gateway's data folder; drivers keep their state under `<dataDir>/drivers`. */
  dataDir?: string;
  firstPollWithinMs?: number;
  /** Every runner's clock, timers and randomness (tests; see RunnerOptions). */
  schedule?: Pick<RunnerOptions, 'now' | 'timers' | 'random'>;
  onValues(deviceId: string, values: MetricValues, ts: number): void;
  onStatus(deviceId: string, status: DeviceStatus): void;
}

export class DriverHost {
  readonly runners = new Map<string, DeviceRunner>();

  constructor(opts: DriverHostOptions) {
    for (const [i, { record, profile }] of opts.devices.entries()) {
      const protocol = profile.protocol;
      const driver = opts.drivers.get(protocol.type);
      if (!driver) continue; // MQTT-native, or a protocol handled elsewhere (camera snapshots)
      const source = `device ${record.id} (devices[${i}]) options`;
      let options: unknown = record.options ?? {};
      if (driver.options) options = checkOrThrow(driver.options, options, source);
      else if (record.options && Object.keys(record.options).length > 0)
        throw new FileError(`${source}: /: the ${protocol.type} driver takes no options`);
      const device: DriverDevice = {
        record,
        profile,
        protocol,
        options,
        host: record.address?.host,
        port: record.address?.port ?? ('port' in protocol ? protocol.port : undefined),
        intervalMs: opts.intervalMs ?? profile.reportIntervalSeconds * 1000,
        dataDir: opts.dataDir ? join(opts.dataDir, 'drivers') : undefined,
      };
      if (opts.intervalMs === undefined && driver.pollIntervalMs) device.intervalMs = driver.pollIntervalMs(device);
      this.runners.set(
        record.id,
        new DeviceRunner({
          driver,
          device,
          logger: opts.logger.child({ driver: protocol.type, device: record.id }),
          intervalMs: device.intervalMs,
          onValues: opts.onValues,
          onStatus: opts.onStatus,
          ...(opts.firstPollWithinMs !== undefined ? { firstPollWithinMs: opts.firstPollWithinMs } : {}),
          ...opts.schedule,
        }),
      );
    }
  }

  start(): void {
    for (const runner of this.runners.values()) runner.start();
  }

  has(deviceId: string): boolean {
    return this.runners.has(deviceId);
  }

  /** Carry out a command; resolves with what the device read right after it (see DeviceRunner.command). */
  command(deviceId: string, name: string, params: Record<string, MetricValue>): Promise<MetricValues | undefined> {
    const runner = this.runners.get(deviceId);
    if (!runner) return Promise.reject(new CommandNotSupportedError(`no driver runs device ${deviceId}`));
    return runner.command(name, params);
  }

  /** Devices whose driver currently reports a problem, by state. */
  problems(): { unreachable: number; faulty: number } {
    const counts = { unreachable: 0, faulty: 0 };
    for (const runner of this.runners.values()) if (runner.status.state !== 'ok') counts[runner.status.state]++;
    return counts;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
  }
}
