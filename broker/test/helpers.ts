/**
 * Test helpers: credentials for a small district, a pino logger whose lines the test
 * can read, and mqtt.js clients that never reconnect on their own (a refused connect
 * must stay refused).
 */
import { connect as tcpConnect } from 'node:net';
import mqtt, { MqttClient, type IClientOptions } from 'mqtt';
import { pino, type Logger } from 'pino';
import { hashPassword, type CredentialsFile } from '../src/index.ts';
import { SAFETY_DEADLINE_MS, waitFor as waitUntil } from '../../simulators/test/support/wait.ts';

export const SCHOOL_A = 'thcs-nguyen-du';
export const SCHOOL_B = 'th-le-loi';

/** Plaintext passwords exist only here, in the test; the broker sees hashes. */
export const PASSWORDS = {
  [`gw-${SCHOOL_A}`]: 'mật-khẩu-trường-A',
  [`gw-${SCHOOL_B}`]: 'password-school-B',
  cloud: 'cloud-secret-123',
} as const;

export async function makeCredentials(): Promise<CredentialsFile> {
  return {
    v: 1,
    clients: [
      { username: `gw-${SCHOOL_A}`, role: 'gateway', schoolId: SCHOOL_A, passwordHash: await hashPassword(PASSWORDS[`gw-${SCHOOL_A}`]) },
      { username: `gw-${SCHOOL_B}`, role: 'gateway', schoolId: SCHOOL_B, passwordHash: await hashPassword(PASSWORDS[`gw-${SCHOOL_B}`]) },
      { username: 'cloud', role: 'cloud', passwordHash: await hashPassword(PASSWORDS.cloud) },
    ],
  };
}

export type LogLine = Record<string, unknown> & { msg?: string; reason?: string };

export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

export function connect(port: number, options: IClientOptions): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    // A safety net, not a latency requirement: a refused connect is answered, not timed out.
    connectTimeout: SAFETY_DEADLINE_MS,
    ...options,
  });
}

/**
 * An mqtt.js client whose TCP connection leaves from `from` (an address of 127.0.0.0/8),
 * so the broker sees it as another machine than the other clients of the test.
 */
export function connectFrom(port: number, from: string, options: IClientOptions): Promise<MqttClient> {
  const client = new MqttClient(() => tcpConnect({ port, host: '127.0.0.1', localAddress: from }), {
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: SAFETY_DEADLINE_MS,
    ...options,
  });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (error) => {
      client.end(true);
      reject(error);
    });
  });
}

export function connectAs(port: number, username: keyof typeof PASSWORDS, options: IClientOptions = {}): Promise<MqttClient> {
  return connect(port, { username, password: PASSWORDS[username], ...options });
}

/**
 * Connect and record from the very first packet: messages queued for a persistent
 * session arrive right after CONNACK, before a connectAsync() promise would resolve.
 */
export async function connectRecording(
  port: number,
  username: keyof typeof PASSWORDS,
  options: IClientOptions = {},
): Promise<{ client: MqttClient; received: Received[]; sessionPresent: boolean }> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: SAFETY_DEADLINE_MS,
    username,
    password: PASSWORDS[username],
    ...options,
  });
  const received = record(client);
  // The CONNACK's session-present flag: whether the broker resumed a session kept under this id.
  const sessionPresent = await new Promise<boolean>((resolve, reject) => {
    client.once('connect', (connack) => resolve(connack.sessionPresent));
    client.once('error', reject);
  });
  return { client, received, sessionPresent };
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

/** Record every message a client receives. */
export function record(client: MqttClient): Received[] {
  const received: Received[] = [];
  client.on('message', (topic, payload, packet) => received.push({ topic, payload: payload.toString('utf8'), retain: packet.retain }));
  return received;
}

/** Poll until `condition` holds; the shared safety deadline only turns a hang into a message. */
export async function waitFor(condition: () => boolean, what: string): Promise<void> {
  await waitUntil(condition, what, { everyMs: 10 });
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

export async function end(...clients: (MqttClient | undefined)[]): Promise<void> {
  await Promise.all(clients.map((client) => client?.endAsync(true)));
}
