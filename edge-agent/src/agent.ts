/**
 * One edge agent per school gateway: the local device broker feeds the intake, accepted
 * readings go to the uplink, and a periodic health report tells the district how the
 * gateway itself is doing (including every rejected device message, by reason).
 */
import { randomBytes } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { BUILTIN_PROFILES_DIR, loadProfiles, type DeviceCommand } from '@schoolops/device-profiles';
import { districtPassword, type EdgeConfig } from './config.ts';
import { DeviceIntake } from './device-intake.ts';
import { startLocalBroker } from './local-broker.ts';
import { Uplink } from './uplink.ts';

export const AGENT_VERSION = '0.1.0';

export interface EdgeAgent {
  bootId: string;
  localPort: number;
  intake: DeviceIntake;
  uplink: Uplink;
  close(): Promise<void>;
}

export async function startEdgeAgent(config: EdgeConfig, options: { logger?: Logger } = {}): Promise<EdgeAgent> {
  const bootId = randomBytes(12).toString('base64url');
  const logger = (options.logger ?? pino({ name: 'edge-agent' })).child({ gateway: config.gatewayId, bootId });
  const profiles = loadProfiles([BUILTIN_PROFILES_DIR, ...(config.profileDirs ?? [])]);
  const intake = new DeviceIntake(config.devices, profiles, logger);

  const uplink = new Uplink({
    gatewayId: config.gatewayId,
    schoolId: config.schoolId,
    bootId,
    url: config.district.url,
    username: config.district.username,
    password: districtPassword(config),
    ...(config.district.caFile ? { caFile: config.district.caFile } : {}),
    maxReadings: config.batch?.maxReadings ?? 200,
    maxDelayMs: config.batch?.maxDelayMs ?? 1000,
    deviceCount: config.devices.length,
    agentVersion: AGENT_VERSION,
    logger,
    onCommand: (command) => void deliverCommand(command),
  });

  const local = await startLocalBroker({
    host: config.local.host,
    port: config.local.port,
    intake,
    onReading: (reading) => uplink.enqueue(reading),
    logger,
  });

  async function deliverCommand(command: DeviceCommand): Promise<void> {
    const device = intake.devices.get(command.deviceId);
    if (!device) return logger.warn({ command }, 'command for a device this gateway does not have');
    if (!device.profile.commands.some((c) => c.name === command.name))
      return logger.warn({ command }, `profile ${device.profile.id} has no command "${command.name}"`);
    if (device.profile.protocol.type !== 'mqtt')
      return logger.warn({ command }, `no ${device.profile.protocol.type} driver yet: command not delivered`);
    await local.sendToDevice(command.deviceId, Buffer.from(JSON.stringify(command)));
    logger.info({ command: command.name, device: command.deviceId }, 'command forwarded to device');
  }

  const startedAt = Date.now();
  const healthIntervalMs = config.healthIntervalMs ?? 30_000;
  const sendHealth = () =>
    uplink.publishHealth({
      ts: Date.now(),
      uptimeS: (Date.now() - startedAt) / 1000,
      accepted: intake.accepted,
      rejected: { ...intake.rejected },
      forwardedBatches: uplink.forwardedBatches,
      queueDepth: uplink.queueDepth,
      devicesConfigured: intake.devices.size,
      devicesReporting: intake.reportingWithin(3 * 60_000),
    });
  const healthTimer = setInterval(sendHealth, healthIntervalMs);

  logger.info({ devices: config.devices.length, localPort: local.port, district: config.district.url }, 'edge agent started');

  return {
    bootId,
    localPort: local.port,
    intake,
    uplink,
    close: async () => {
      clearInterval(healthTimer);
      sendHealth();
      await local.close();
      await uplink.close();
      logger.info('edge agent stopped');
    },
  };
}
