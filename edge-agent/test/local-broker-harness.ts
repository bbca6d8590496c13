/**
 * The school broker (local-broker.ts) on its own, for its tests: a real aedes on an
 * ephemeral port with a real intake of two MQTT boards, a pino logger whose lines the test
 * reads, the readings it would queue, and the retained messages aedes stores (through the
 * persistence it is given). Devices are real mqtt.js clients that never reconnect.
 */
import memoryPersistence from 'aedes-persistence';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { BUILTIN_PROFILES_DIR, loadProfiles, type Reading } from '@schoolops/device-profiles';
import { DeviceIntake } from '../src/device-intake.ts';
import { startLocalBroker, type LocalBroker } from '../src/local-broker.ts';
import { SAFETY_DEADLINE_MS, waitFor as waitUntil } from '../../simulators/test/support/wait.ts';

export const BOARDS = ['board-1', 'board-2'] as const;

export type LogLine = Record<string, unknown> & { msg?: string; reason?: string };

export interface SchoolBroker {
  broker: LocalBroker;
  intake: DeviceIntake;
  /** Readings handed on to be queued, in order. */
  readings: Reading[];
  logs: LogLine[];
  /** Topics of every retained message aedes stored, in order. */
  retainedStored: string[];
  /** Client id of every inbound QoS 2 publish aedes held awaiting its PUBREL, in order. */
  qos2Held: string[];
  close(): Promise<void>;
}

/** The part of aedes' persistence the tests watch. */
interface WatchedStore {
  storeRetained(packet: { topic: string }): Promise<void>;
  incomingStorePacket(client: { id: string }, packet: unknown): Promise<void>;
}

export async function startSchoolBroker(opts: { now?: () => number } = {}): Promise<SchoolBroker> {
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const profiles = loadProfiles([BUILTIN_PROFILES_DIR]);
  const intake = new DeviceIntake(
    BOARDS.map((id) => ({ id, profileId: 'promethean-activpanel-9', roomId: 'r101' })),
    profiles,
    logger,
  );
  const readings: Reading[] = [];
  const retainedStored: string[] = [];
  const qos2Held: string[] = [];
  // aedes' own default store (a dependency of aedes); its typings do not match its CommonJS export.
  const persistence = (memoryPersistence as unknown as () => WatchedStore)();
  const storeRetained = persistence.storeRetained.bind(persistence);
  persistence.storeRetained = (packet) => {
    retainedStored.push(packet.topic);
    return storeRetained(packet);
  };
  const incomingStorePacket = persistence.incomingStorePacket.bind(persistence);
  persistence.incomingStorePacket = (client, packet) => {
    qos2Held.push(client.id);
    return incomingStorePacket(client, packet);
  };
  const broker = await startLocalBroker({
    host: '127.0.0.1',
    port: 0,
    intake,
    onReading: async (reading) => void readings.push(reading),
    logger,
    persistence,
    ...(opts.now && { now: opts.now }),
  });
  return { broker, intake, readings, logs, retainedStored, qos2Held, close: () => broker.close() };
}

/** A board's own JSON, as the profile maps it: `seq` numbers the samples. */
export function boardState(seq: number): string {
  return JSON.stringify({ time: Date.now(), seq, panel: { cpuTempC: 40 + (seq % 10) } });
}

export function connectDevice(port: number, clientId: string, options: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: SAFETY_DEADLINE_MS,
    clientId,
    ...options,
  });
}

/** Resolves when the broker has closed this client's connection (the deadline is a safety net). */
export function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!client.connected) return resolve();
    const timer = setTimeout(() => reject(new Error('the broker did not close the connection')), SAFETY_DEADLINE_MS);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Poll until `condition` holds; the shared safety deadline only turns a hang into a message. */
export async function waitFor(condition: () => boolean, what: string): Promise<void> {
  await waitUntil(condition, what, { everyMs: 10 });
}
