/**
 * One edge agent per school gateway: the local device broker feeds the intake; accepted
 * readings are sealed into batches and written to the disk queue before the device is
 * acknowledged; the uplink sends the queue to the district and deletes what the district
 * confirms it stored. A periodic health report tells the district how the gateway is doing.
 * District commands pass the command desk (commands.ts: at most once, never late, every
 * outcome reported back) on their way to a driver or an MQTT device.
 */
import { randomBytes } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { BUILTIN_PROFILES_DIR, WIRE_VERSION, loadProfiles, schoolClock, type DeviceCommand, type DeviceStatusEvent } from '@schoolops/device-profiles';
import { Batcher } from './batcher.ts';
import { CommandDesk, type Execution, type Refusal } from './commands.ts';
import { districtPassword, withDeviceSecrets, type EdgeConfig } from './config.ts';
import { DeviceIntake } from './device-intake.ts';
import { DriverHost, classifyError, drivers, type DeviceStatus, type Driver, type ProtocolType } from './drivers/index.ts';
import { CommandNotSupportedError } from './drivers/runner.ts';
import { createCameraDriver } from './drivers/camera.ts';
import { startVisionCounter, type VisionCounter } from './drivers/vision-counter.ts';
import { startLocalBroker } from './local-broker.ts';
import { DiskOutbox } from './outbox.ts';
import { Uplink } from './uplink.ts';

export const AGENT_VERSION = '0.2.0';

export const DEFAULTS = {
  maxReadings: 200,
  /** Longest a device waits for its PUBACK while its reading is batched and written. */
  maxDelayMs: 200,
  quotaBytes: 2 * 1024 ** 3,
  window: 8,
  ackTimeoutMs: 30_000,
  backfill: { uplinkBps: 20e6, share: 0.25 },
  healthIntervalMs: 30_000,
} as const;

export interface EdgeAgent {
  bootId: string;
  localPort: number;
  intake: DeviceIntake;
  outbox: DiskOutbox;
  uplink: Uplink;
  /** The protocol drivers' runners, one per polled or subscribed device. */
  driven: DriverHost;
  /** District commands: what was received, and the outcomes the district has not confirmed. */
  commands: CommandDesk;
  /** Device messages that repeated a reading already stored (resent after a gateway restart). */
  repeats(): number;
  close(): Promise<void>;
}

export interface EdgeAgentOptions {
  logger?: Logger;
  /** The clock commands' expiry is judged by (default Date.now; tests give their own). */
  commandClock?: () => number;
}

export async function startEdgeAgent(config: EdgeConfig, options: EdgeAgentOptions = {}): Promise<EdgeAgent> {
  // loadEdgeConfig has merged the secrets file already; a config built in code (parseEdgeConfig)
  // still names it, and its devices must not start without their credentials.
  config = withDeviceSecrets(config);
  const bootId = randomBytes(12).toString('base64url');
  const logger = (options.logger ?? pino({ name: 'edge-agent' })).child({ gateway: config.gatewayId, bootId });
  const profiles = loadProfiles([BUILTIN_PROFILES_DIR, ...(config.profileDirs ?? [])]);
  const intake = new DeviceIntake(config.devices, profiles, logger);
  const outbox = await DiskOutbox.open({ dir: config.dataDir, quotaBytes: config.queue?.quotaBytes ?? DEFAULTS.quotaBytes, logger });

  // Commands wait for the drivers and the school broker to be up (a broker session may hold
  // some for this gateway, delivered the moment it connects).
  let started!: () => void;
  const ready = new Promise<void>((resolve) => (started = resolve));
  let uplinkPump = () => {};
  const desk = await CommandDesk.open({
    dataDir: config.dataDir,
    gatewayId: config.gatewayId,
    schoolId: config.schoolId,
    bootId,
    logger,
    ...(options.commandClock ? { now: options.commandClock } : {}),
    check: (command) => checkCommand(command),
    execute: (command) => executeCommand(command),
    onResult: () => uplinkPump(),
  });

  const uplink = new Uplink({
    gatewayId: config.gatewayId,
    schoolId: config.schoolId,
    bootId,
    url: config.district.url,
    username: config.district.username,
    password: districtPassword(config),
    ...(config.district.caFile ? { caFile: config.district.caFile } : {}),
    outbox,
    backfill: config.backfill ?? DEFAULTS.backfill,
    window: config.queue?.window ?? DEFAULTS.window,
    ackTimeoutMs: config.queue?.ackTimeoutMs ?? DEFAULTS.ackTimeoutMs,
    deviceCount: config.devices.length,
    agentVersion: AGENT_VERSION,
    logger,
    onCommand: (command) =>
      void ready
        .then(() => desk.handle(command))
        .catch((error: unknown) => logger.error({ commandId: command.commandId, error: String(error) }, 'command handling failed')),
    results: desk,
  });
  uplinkPump = () => uplink.pump();

  const batcher = new Batcher({
    gatewayId: config.gatewayId,
    schoolId: config.schoolId,
    bootId,
    maxReadings: config.batch?.maxReadings ?? DEFAULTS.maxReadings,
    maxDelayMs: config.batch?.maxDelayMs ?? DEFAULTS.maxDelayMs,
    outbox,
    connected: () => uplink.connected,
    onQueued: () => uplink.pump(),
  });

  let repeats = 0;
  const local = await startLocalBroker({
    host: config.local.host,
    port: config.local.port,
    intake,
    onReading: (reading) => {
      if (batcher.isRepeat(reading)) {
        repeats++;
        return Promise.resolve(); // stored before: acknowledge it again, store nothing
      }
      return batcher.add(reading);
    },
    logger,
  });

  // Cameras are counted on this box: one face counter (a worker thread) for the school's
  // cameras, started only when the school has cameras.
  const hasCameras = [...intake.devices.values()].some((d) => d.profile.protocol.type === 'http-snapshot');
  const counter: VisionCounter | null = hasCameras ? startVisionCounter() : null;
  const allDrivers = new Map<ProtocolType, Driver>(drivers);
  if (counter) allDrivers.set('http-snapshot', createCameraDriver({ counter, timetable: config.timetable ?? null, now: schoolClock(config.schoolClockOffsetMs ?? 0) }) as Driver);

  // Devices the gateway reaches through a protocol driver (PJLink, SNMP, probes, OPC UA, cameras).
  const driven = new DriverHost({
    devices: config.devices.map((record) => ({ record, profile: intake.devices.get(record.id)!.profile })),
    drivers: allDrivers,
    logger,
    dataDir: config.dataDir,
    ...(config.pollIntervalMs ? { intervalMs: config.pollIntervalMs } : {}),
    onValues: (deviceId, values, ts) => {
      const result = intake.acceptValues(deviceId, values, ts);
      if (result.ok)
        batcher.add(result.reading).catch((error: unknown) => logger.error({ device: deviceId, error: String(error) }, 'could not queue a polled reading'));
    },
    onStatus: (deviceId, status) => void raiseDeviceStatus(deviceId, status),
  });

  async function raiseDeviceStatus(deviceId: string, status: DeviceStatus): Promise<void> {
    const event: DeviceStatusEvent = {
      v: WIRE_VERSION,
      gatewayId: config.gatewayId,
      schoolId: config.schoolId,
      bootId,
      eventId: randomBytes(12).toString('base64url'),
      ts: status.since,
      type: 'device-status',
      deviceId,
      state: status.state,
      failures: status.failures,
      ...(status.reason ? { reason: status.reason } : {}),
      ...(status.detail ? { detail: status.detail.slice(0, 512) } : {}),
    };
    try {
      await outbox.addEvent(event);
      uplink.pump();
    } catch (error) {
      logger.error({ device: deviceId, error: String(error) }, 'could not queue a device status event');
    }
  }

  /** Why this gateway cannot carry the command out at all (asked before its expiry is). */
  function checkCommand(command: DeviceCommand): Refusal | null {
    const device = intake.devices.get(command.deviceId);
    if (!device) return { outcome: 'unknown_device', detail: `this gateway has no device "${command.deviceId}"` };
    if (!device.profile.commands.some((c) => c.name === command.name))
      return { outcome: 'refused', reason: 'no_such_command', detail: `profile ${device.profile.id} has no command "${command.name}"` };
    if (!driven.has(command.deviceId) && device.profile.protocol.type !== 'mqtt')
      return { outcome: 'refused', reason: 'not_supported', detail: `no ${device.profile.protocol.type} driver runs this device` };
    return null;
  }

  async function executeCommand(command: DeviceCommand): Promise<Execution> {
    if (driven.has(command.deviceId)) {
      try {
        const values = await driven.command(command.deviceId, command.name, command.params ?? {});
        return { outcome: 'ok', ...(values ? { values } : {}) };
      } catch (error) {
        if (error instanceof CommandNotSupportedError) return { outcome: 'refused', reason: 'not_supported', detail: error.message };
        const { reason, detail } = classifyError(error);
        return { outcome: 'failed', reason, detail };
      }
    }
    // An MQTT device gets the command on its own topic and does not answer: its next state shows it.
    await local.sendToDevice(command.deviceId, Buffer.from(JSON.stringify(command)));
    return { outcome: 'accepted', detail: 'handed to the device on the school broker (it does not answer; its next state shows the effect)' };
  }

  const startedAt = Date.now();
  const sendHealth = () =>
    uplink.publishHealth({
      ts: Date.now(),
      uptimeS: (Date.now() - startedAt) / 1000,
      accepted: intake.accepted,
      rejected: { ...intake.rejected },
      forwardedBatches: uplink.forwardedBatches,
      queueDepth: outbox.size.readings,
      backlog: outbox.backlogReadings(),
      queueBytes: outbox.size.bytes,
      queueQuotaBytes: outbox.quotaBytes,
      droppedReadings: outbox.droppedReadings,
      devicesConfigured: intake.devices.size,
      devicesReporting: intake.reportingWithin(3 * 60_000),
      devicesWithProblems: driven.problems(),
    });
  const healthTimer = setInterval(sendHealth, config.healthIntervalMs ?? DEFAULTS.healthIntervalMs);

  driven.start();
  started();
  logger.info(
    { devices: config.devices.length, driven: driven.runners.size, localPort: local.port, district: config.district.url, queued: outbox.size },
    'edge agent started',
  );

  return {
    bootId,
    localPort: local.port,
    intake,
    outbox,
    uplink,
    driven,
    commands: desk,
    repeats: () => repeats,
    close: async () => {
      clearInterval(healthTimer);
      sendHealth();
      await driven.stop();
      // After the drivers: a command they were running has settled (interrupted) and is journaled.
      await desk.close();
      await counter?.close();
      await local.close();
      await batcher.flush();
      await uplink.close();
      await outbox.close();
      logger.info('edge agent stopped');
    },
  };
}
