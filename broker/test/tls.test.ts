/**
 * The district broker's MQTT-over-TLS listener over real sockets and real TLS, with a CA
 * and server certificate made the way `npm start` and `make-certs` make them: a gateway
 * that trusts the district's CA connects and is served exactly like one on the plain
 * listener; a client given another CA refuses the broker; the plain listener does not open
 * on a non-loopback host unless told to; the per-address limits hold on the TLS listener.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WIRE_VERSION, districtTopics, encode, type TelemetryBatch } from '@schoolops/device-profiles';
import { ensureCertificates } from '../../cloud/src/tls/certificates.ts';
import { SAFETY_DEADLINE_MS, waitFor as waitUntil } from '../../simulators/test/support/wait.ts';
import { startDistrictBroker, type DistrictBroker } from '../src/index.ts';
import { PASSWORDS, SCHOOL_A, captureLogger, connectAs, end, makeCredentials, record, waitFor, type LogLine } from './helpers.ts';
import { rawConnection } from './raw-mqtt.ts';

const GW_A = `gw-${SCHOOL_A}` as const;

let dir: string;
/** The district's CA and the broker's certificate for 127.0.0.1 and localhost. */
let ca: Buffer;
let cert: Buffer;
let key: Buffer;
/** A CA of somebody else's (an impostor's, or another district's). */
let otherCa: Buffer;
const clients: MqttClient[] = [];
const brokers: DistrictBroker[] = [];

/** An MQTT client over TLS that never reconnects (a refused connect stays refused). */
async function connectTls(port: number, username: keyof typeof PASSWORDS, options: IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: SAFETY_DEADLINE_MS,
    username,
    password: PASSWORDS[username],
    ca,
    ...options,
  });
  clients.push(client);
  return client;
}

function telemetry(seq: number): TelemetryBatch {
  return {
    v: WIRE_VERSION,
    gatewayId: GW_A,
    schoolId: SCHOOL_A,
    bootId: 'boot-tls-1',
    seq,
    sentAt: Date.now(),
    readings: [{ deviceId: 'proj-101', ts: Date.now(), values: { lampHours: 1200 + seq } }],
  };
}

/** A bare TLS connection from `from` (an address of 127.0.0.0/8): resolves once the session is up. */
function tlsSession(port: number, from: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    // localAddress is a net.connect option tls.connect passes on; @types/node leaves it out.
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, ...({ localAddress: from } as object) });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the TLS session was up')));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'broker-tls-'));
  const made = await ensureCertificates({ dir: join(dir, 'district'), servers: [{ name: 'broker', hosts: ['127.0.0.1', 'localhost'] }] });
  ca = readFileSync(made.caFile);
  cert = readFileSync(made.servers.broker!.certFile);
  key = readFileSync(made.servers.broker!.keyFile);
  // Another CA that signs a certificate for the very same names: only the CA tells them apart.
  otherCa = readFileSync((await ensureCertificates({ dir: join(dir, 'other'), servers: [{ name: 'broker', hosts: ['127.0.0.1'] }] })).caFile);
});

afterEach(async () => {
  await end(...clients.splice(0));
});

afterAll(async () => {
  await Promise.all(brokers.splice(0).map((broker) => broker.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('MQTT over TLS', () => {
  let broker: DistrictBroker;
  let logs: LogLine[];

  beforeAll(async () => {
    const capture = captureLogger();
    logs = capture.lines;
    broker = await startDistrictBroker({ port: 0, credentials: await makeCredentials(), logger: capture.logger, tls: { port: 0, cert, key } });
    brokers.push(broker);
  });

  it('a gateway that trusts the district CA connects over TLS and its telemetry reaches the cloud', async () => {
    expect(broker.tlsPort).toBeGreaterThan(0);
    expect(broker.tlsPort).not.toBe(broker.port);
    // The cloud on the plain loopback listener, the gateway over TLS: one broker, one ACL.
    const cloud = await connectAs(broker.port, 'cloud');
    clients.push(cloud);
    const atCloud = record(cloud);
    await cloud.subscribeAsync(districtTopics.allUplink, { qos: 1 });

    const gateway = await connectTls(broker.tlsPort!, GW_A);
    const socket = gateway.stream as TLSSocket;
    expect(socket.encrypted).toBe(true);
    expect(socket.authorized).toBe(true);
    expect(['TLSv1.2', 'TLSv1.3']).toContain(socket.getProtocol());
    await gateway.publishAsync(districtTopics.telemetry(SCHOOL_A), encode(telemetry(1)), { qos: 1 });
    await waitFor(() => atCloud.some((m) => m.topic === districtTopics.telemetry(SCHOOL_A)), 'telemetry sent over TLS at the cloud');

    // The ACL is the same on both listeners: school A's gateway may not speak for school B.
    expect(logs.some((line) => line.msg === 'client authenticated' && line.username === GW_A)).toBe(true);
    const denied = broker.stats().refused.publish_denied ?? 0;
    gateway.publish(districtTopics.telemetry('th-le-loi'), encode(telemetry(2)), { qos: 1 });
    await waitFor(() => (broker.stats().refused.publish_denied ?? 0) > denied, 'the foreign publish refused over TLS');
  });

  it('the same gateway with a wrong password is refused over TLS as it would be in plain', async () => {
    const before = broker.stats().refused.bad_credentials ?? 0;
    await expect(connectTls(broker.tlsPort!, GW_A, { password: 'not-the-password' })).rejects.toThrow(/Bad username or password/i);
    expect(broker.stats().refused.bad_credentials).toBe(before + 1);
  });

  it('a client given another CA refuses the broker, and never sends its password', async () => {
    const before = broker.stats().refused.tls_handshake_failed ?? 0;
    const checked = (broker.stats().refused.bad_credentials ?? 0) + (broker.stats().refused.unknown_user ?? 0);
    const error = await connectTls(broker.tlsPort!, GW_A, { ca: otherCa }).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(error?.code).toMatch(/^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/);
    // The client's alert ends the handshake on the broker's side too: counted, no session.
    await waitFor(() => (broker.stats().refused.tls_handshake_failed ?? 0) > before, 'the failed handshake counted');
    expect((broker.stats().refused.bad_credentials ?? 0) + (broker.stats().refused.unknown_user ?? 0)).toBe(checked);
    expect(logs.some((line) => line.reason === 'tls_handshake_failed')).toBe(true);
  });

  it('a client without the district CA does not trust the broker either', async () => {
    // mqtt.js checks certificates by default: without district.caFile a gateway trusts
    // only the public CAs, and none of them signed the district's certificate.
    const error = await connectTls(broker.tlsPort!, GW_A, { ca: undefined }).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(error?.code).toMatch(/^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/);
  });

  it('plain MQTT sent to the TLS port gets no MQTT session', async () => {
    const before = broker.stats().refused.tls_handshake_failed ?? 0;
    const plain = mqtt.connect(`mqtt://127.0.0.1:${broker.tlsPort}`, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: SAFETY_DEADLINE_MS,
      username: GW_A,
      password: PASSWORDS[GW_A],
    });
    const outcome = await new Promise<string>((resolve) => {
      plain.once('connect', () => resolve('connected'));
      plain.once('close', () => resolve('closed'));
      plain.once('error', () => resolve('error'));
    });
    plain.end(true);
    expect(outcome).not.toBe('connected');
    await waitFor(() => (broker.stats().refused.tls_handshake_failed ?? 0) > before, 'the plain client counted');
  });
});

describe('the plain listener stays on loopback', () => {
  it('a non-loopback host is refused at start, with what to do instead', async () => {
    const credentials = await makeCredentials();
    for (const host of ['0.0.0.0', '::', '192.0.2.10', 'mqtt.example.edu.vn']) {
      await expect(startDistrictBroker({ port: 0, host, credentials })).rejects.toThrow(
        new RegExp(`plain MQTT on "${host.replace(/\./g, '\\.')}" would carry gateway passwords.*--tls-port.*--allow-plain-remote`),
      );
    }
  });

  it('loopback hosts start as before, and a non-loopback host starts when allowed', async () => {
    const credentials = await makeCredentials();
    for (const host of ['127.0.0.1', 'localhost', '::1']) {
      const broker = await startDistrictBroker({ port: 0, host, credentials, logger: captureLogger().logger });
      await broker.close();
    }
    const allowed = await startDistrictBroker({ port: 0, host: '0.0.0.0', allowPlainRemote: true, credentials, logger: captureLogger().logger });
    brokers.push(allowed);
    const cloud = await connectAs(allowed.port, 'cloud');
    clients.push(cloud);
    expect(cloud.connected).toBe(true);
  });

  it('the CLI says so and exits 1; with a TLS listener it reports both ports', async () => {
    const cliPath = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
    const credentialsFile = join(dir, 'credentials.json');
    writeFileSync(credentialsFile, JSON.stringify(await makeCredentials()));

    const refused = spawn(process.execPath, ['--import', 'tsx', cliPath, '--port', '0', '--host', '0.0.0.0', '--credentials', credentialsFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    refused.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => refused.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: plain MQTT on "0\.0\.0\.0" would carry/);
    expect(stderr).not.toMatch(/\n\s+at /); // a message, not a stack

    const served = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        cliPath,
        '--port',
        '0',
        '--credentials',
        credentialsFile,
        '--tls-port',
        '0',
        '--tls-cert',
        join(dir, 'district', 'broker.pem'),
        '--tls-key',
        join(dir, 'district', 'broker.key'),
      ],
      { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] },
    );
    const exited = new Promise<number | null>((resolve) => served.once('exit', resolve));
    try {
      const ready = await new Promise<{ port: number; tlsPort: number }>((resolve, reject) => {
        served.once('exit', (exitCode) => reject(new Error(`CLI exited with ${exitCode} before ready`)));
        served.on('message', (message: { type?: string; port: number; tlsPort: number }) => message.type === 'ready' && resolve(message));
      });
      expect(ready.tlsPort).toBeGreaterThan(0);
      const gateway = await connectTls(ready.tlsPort, GW_A);
      expect(gateway.connected).toBe(true);
      await end(...clients.splice(0));
    } finally {
      served.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});

describe('per-address limits on the TLS listener', () => {
  let broker: DistrictBroker;

  beforeAll(async () => {
    broker = await startDistrictBroker({
      port: 0,
      credentials: await makeCredentials(),
      logger: captureLogger().logger,
      tls: { port: 0, cert, key },
      limits: { maxConnectionsPerAddress: 2, authBurst: 1, authPerSecond: 1 },
      // A clock that never moves: the password bucket does not refill during the test.
      now: () => 0,
    });
    brokers.push(broker);
  });

  it('a third connection from one address is closed at accept, before any TLS handshake', async () => {
    const from = '127.0.0.31';
    const first = await tlsSession(broker.tlsPort!, from);
    const second = await tlsSession(broker.tlsPort!, from);
    const before = broker.stats().refused.connection_limit ?? 0;
    const handshakes = broker.stats().refused.tls_handshake_failed ?? 0;
    await expect(tlsSession(broker.tlsPort!, from)).rejects.toThrow();
    expect(broker.stats().refused.connection_limit).toBe(before + 1);
    // Refused at accept: no handshake was started, so none failed.
    expect(broker.stats().refused.tls_handshake_failed ?? 0).toBe(handshakes);

    // The cap counts both listeners together: the plain one is full for this address too.
    const plain = await rawConnection(broker.port, from);
    await plain.closedWithin();
    expect(broker.stats().refused.connection_limit).toBe(before + 2);

    // Another address is not affected, and a slot freed is a slot again.
    const elsewhere = await tlsSession(broker.tlsPort!, '127.0.0.32');
    const closed = new Promise((resolve) => first.once('close', resolve));
    first.destroy();
    await closed;
    const again = await waitForSession(broker.tlsPort!, from);
    for (const socket of [second, elsewhere, again]) socket.destroy();
  });

  it('password checks over TLS come out of the same per-address bucket', async () => {
    const from = '127.0.0.33';
    const first = await connectTls(broker.tlsPort!, GW_A, { localAddress: from } as IClientOptions);
    expect(first.connected).toBe(true);
    const before = broker.stats().refused.auth_rate_limited ?? 0;
    // The bucket held one check and the clock stands still: the next CONNECT is turned away
    // without a password check (CONNACK 3, server unavailable).
    await expect(connectTls(broker.tlsPort!, GW_A, { localAddress: from, clientId: 'second' } as IClientOptions)).rejects.toThrow(/unavailable/i);
    expect(broker.stats().refused.auth_rate_limited).toBe(before + 1);
  });
});

/** A slot freed by a close is released when the broker sees the close: retry until then. */
function waitForSession(port: number, from: string): Promise<TLSSocket> {
  return waitUntil(() => tlsSession(port, from).catch(() => undefined), 'a TLS session once a slot was freed', { everyMs: 10 });
}
