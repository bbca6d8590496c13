/**
 * The district broker over real sockets with real mqtt.js clients (MQTT 3.1.1), on an
 * ephemeral port. Each refusal is checked three ways: the client sees it, the counter in
 * BrokerStats moves, and a log line names who, what and why.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { BrokerStats, WIRE_VERSION, check, districtTopics, encode, localTopics, type DeviceCommand, type TelemetryBatch } from '@schoolops/device-profiles';
import { CredentialsError, startDistrictBroker, type CredentialsFile, type DistrictBroker } from '../src/index.ts';
import {
  PASSWORDS,
  SCHOOL_A,
  SCHOOL_B,
  captureLogger,
  closed,
  connect,
  connectAs,
  connectRecording,
  end,
  makeCredentials,
  record,
  waitFor,
  type LogLine,
} from './helpers.ts';

const GW_A = `gw-${SCHOOL_A}` as const;
const GW_B = `gw-${SCHOOL_B}` as const;
/** A refused subscribe is answered SUBACK 0x80; mqtt.js rejects with that packet. */
const SUBACK_FAILURE = { packet: { cmd: 'suback', granted: [0x80] } };

function telemetry(schoolId: string, seq: number): TelemetryBatch {
  return {
    v: WIRE_VERSION,
    gatewayId: `gw-${schoolId}`,
    schoolId,
    bootId: 'boot-0001',
    seq,
    sentAt: Date.now(),
    readings: [{ deviceId: 'proj-101', ts: Date.now(), values: { lampHours: 1200 + seq } }],
  };
}

function command(deviceId: string, commandId: string): DeviceCommand {
  return { v: WIRE_VERSION, commandId, deviceId, name: 'powerOn', issuedAt: Date.now() };
}

let credentials: CredentialsFile;
let broker: DistrictBroker;
let logs: LogLine[];
const clients: MqttClient[] = [];

/** Clients opened in a test are ended after it, whatever happened. */
async function open(username: keyof typeof PASSWORDS, options: Parameters<typeof connectAs>[2] = {}): Promise<MqttClient> {
  const client = await connectAs(broker.port, username, options);
  clients.push(client);
  return client;
}

const refusals = (reason: string) => logs.filter((line) => line.reason === reason);

beforeAll(async () => {
  credentials = await makeCredentials();
  const capture = captureLogger();
  logs = capture.lines;
  broker = await startDistrictBroker({ port: 0, credentials, logger: capture.logger, statsIntervalMs: 100 });
});

afterEach(async () => {
  await end(...clients.splice(0));
});

afterAll(async () => {
  await broker?.close();
});

describe('authentication', () => {
  it('accepts a gateway and the cloud with their passwords', async () => {
    const gateway = await open(GW_A);
    const cloud = await open('cloud');
    expect(gateway.connected).toBe(true);
    expect(cloud.connected).toBe(true);
    await waitFor(() => broker.stats().clientsConnected >= 2, 'two connected clients');
  });

  it('refuses a wrong password, counts it and logs it without the password', async () => {
    const before = broker.stats().refused.bad_credentials ?? 0;
    await expect(connect(broker.port, { username: GW_A, password: 'wrong-password', clientId: 'intruder-1' })).rejects.toMatchObject({
      code: 4,
    });
    expect(broker.stats().refused.bad_credentials).toBe(before + 1);
    const line = refusals('bad_credentials').at(-1);
    expect(line).toMatchObject({ username: GW_A, clientId: 'intruder-1', level: 40 });
    expect(JSON.stringify(logs)).not.toContain('wrong-password');
  });

  it('refuses an unknown user', async () => {
    const before = broker.stats().refused.unknown_user ?? 0;
    await expect(connect(broker.port, { username: 'gw-nobody', password: 'x', clientId: 'intruder-2' })).rejects.toMatchObject({ code: 4 });
    expect(broker.stats().refused.unknown_user).toBe(before + 1);
    expect(refusals('unknown_user').at(-1)).toMatchObject({ username: 'gw-nobody', clientId: 'intruder-2' });
  });

  it('refuses a connect without credentials', async () => {
    const before = broker.stats().refused.missing_credentials ?? 0;
    await expect(connect(broker.port, { clientId: 'anonymous' })).rejects.toMatchObject({ code: 4 });
    expect(broker.stats().refused.missing_credentials).toBe(before + 1);
  });
});

describe('a gateway speaks only for its own school', () => {
  it('cannot publish under another school: the cloud never receives it, and it is counted and logged', async () => {
    const cloud = await open('cloud');
    const atCloud = record(cloud);
    await cloud.subscribeAsync(districtTopics.allUplink, { qos: 1 });

    for (const qos of [0, 1] as const) {
      const before = broker.stats().refused.publish_denied ?? 0;
      const rogue = await open(GW_A, { clientId: `rogue-${qos}` });
      const forged = encode({ ...telemetry(SCHOOL_B, 1000 + qos), forgedBy: GW_A });
      rogue.publish(districtTopics.telemetry(SCHOOL_B), forged, { qos });
      const isForged = (m: { payload: string }) => m.payload.includes('forgedBy');
      await waitFor(
        () => broker.stats().refused.publish_denied === before + 1 || atCloud.some(isForged),
        'the forged publish to be refused (or delivered)',
      );
      expect(atCloud.filter(isForged)).toEqual([]);
      expect(broker.stats().refused.publish_denied).toBe(before + 1);
      // MQTT 3.1.1 has no negative PUBACK: the broker drops the connection.
      await closed(rogue);
      expect(refusals('publish_denied').at(-1)).toMatchObject({
        username: GW_A,
        clientId: `rogue-${qos}`,
        topic: districtTopics.telemetry(SCHOOL_B),
      });
    }

    // School B's real gateway publishes after the refusals; once the cloud has its
    // message, anything routed earlier would have arrived too.
    const gatewayB = await open(GW_B);
    await gatewayB.publishAsync(districtTopics.telemetry(SCHOOL_B), encode(telemetry(SCHOOL_B, 1)), { qos: 1 });
    await waitFor(() => atCloud.some((m) => m.topic === districtTopics.telemetry(SCHOOL_B)), 'school B telemetry at the cloud');

    expect(atCloud.filter((m) => m.payload.includes('forgedBy'))).toEqual([]);
    expect(atCloud.map((m) => JSON.parse(m.payload).seq)).toEqual([1]);
  });

  it('cannot publish commands, unknown channels, broker stats or $SYS', async () => {
    const forbidden = [
      districtTopics.command(SCHOOL_A, 'proj-101'),
      `${districtTopics.telemetry(SCHOOL_A)}/extra`,
      districtTopics.brokerStats,
      '$SYS/broker/uptime',
      localTopics.deviceState('proj-101'),
    ];
    for (const topic of forbidden) {
      const before = broker.stats().refused.publish_denied ?? 0;
      const gateway = await open(GW_A);
      gateway.publish(topic, 'x', { qos: 1 });
      await closed(gateway);
      await waitFor(() => broker.stats().refused.publish_denied === before + 1, `publish_denied for ${topic}`);
      expect(refusals('publish_denied').at(-1)).toMatchObject({ topic, username: GW_A });
    }
  });

  it("cannot subscribe to another school's downlink, to uplinks, or to broker stats", async () => {
    const gateway = await open(GW_A);
    const forbidden = [
      districtTopics.schoolDownlink(SCHOOL_B),
      districtTopics.allUplink,
      districtTopics.telemetry(SCHOOL_A),
      districtTopics.brokerStats,
      '#',
      '$SYS/#',
    ];
    for (const filter of forbidden) {
      const before = broker.stats().refused.subscribe_denied ?? 0;
      await expect(gateway.subscribeAsync(filter, { qos: 1 })).rejects.toMatchObject(SUBACK_FAILURE);
      expect(broker.stats().refused.subscribe_denied).toBe(before + 1);
      expect(refusals('subscribe_denied').at(-1)).toMatchObject({ topic: filter, username: GW_A });
    }
    // A refused subscribe leaves the connection up, and the gateway's own downlink works.
    expect(gateway.connected).toBe(true);
    const granted = await gateway.subscribeAsync(districtTopics.schoolDownlink(SCHOOL_A), { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
  });

  it("telemetry to the gateway's own school reaches the cloud", async () => {
    const cloud = await open('cloud');
    const atCloud = record(cloud);
    await cloud.subscribeAsync(districtTopics.allUplink, { qos: 1 });
    const gateway = await open(GW_A);
    const batch = telemetry(SCHOOL_A, 7);
    await gateway.publishAsync(districtTopics.telemetry(SCHOOL_A), encode(batch), { qos: 1 });
    await waitFor(() => atCloud.length > 0, 'telemetry at the cloud');
    expect(atCloud[0]).toMatchObject({ topic: districtTopics.telemetry(SCHOOL_A) });
    expect(JSON.parse(atCloud[0]!.payload)).toEqual(batch);
  });
});

describe('the cloud', () => {
  it('sends a command that reaches the right gateway only', async () => {
    const gatewayA = await open(GW_A);
    const gatewayB = await open(GW_B);
    const atA = record(gatewayA);
    const atB = record(gatewayB);
    await gatewayA.subscribeAsync(districtTopics.schoolDownlink(SCHOOL_A), { qos: 1 });
    await gatewayB.subscribeAsync(districtTopics.schoolDownlink(SCHOOL_B), { qos: 1 });
    const cloud = await open('cloud');

    await cloud.publishAsync(districtTopics.command(SCHOOL_A, 'proj-a1'), encode(command('proj-a1', 'c1')), { qos: 1 });
    await cloud.publishAsync(districtTopics.command(SCHOOL_B, 'proj-b1'), encode(command('proj-b1', 'c2')), { qos: 1 });
    await cloud.publishAsync(districtTopics.command(SCHOOL_A, 'proj-a2'), encode(command('proj-a2', 'c3')), { qos: 1 });
    await waitFor(() => atA.length === 2 && atB.length === 1, 'commands at both gateways');
    // A trailing marker to B: anything misrouted to B would have arrived before it.
    await cloud.publishAsync(districtTopics.command(SCHOOL_B, 'proj-b2'), encode(command('proj-b2', 'c4')), { qos: 1 });
    await waitFor(() => atB.length >= 2, 'marker command at B');

    expect(atA.map((m) => JSON.parse(m.payload).commandId)).toEqual(['c1', 'c3']);
    expect(atB.map((m) => JSON.parse(m.payload).commandId)).toEqual(['c2', 'c4']);
  });

  it('cannot publish uplink (impersonate a gateway) nor subscribe to downlink', async () => {
    const cloud = await open('cloud');
    const beforeSub = broker.stats().refused.subscribe_denied ?? 0;
    await expect(cloud.subscribeAsync(districtTopics.schoolDownlink(SCHOOL_A))).rejects.toMatchObject(SUBACK_FAILURE);
    expect(broker.stats().refused.subscribe_denied).toBe(beforeSub + 1);

    const beforePub = broker.stats().refused.publish_denied ?? 0;
    cloud.publish(districtTopics.telemetry(SCHOOL_A), encode(telemetry(SCHOOL_A, 1)), { qos: 1 });
    await closed(cloud);
    await waitFor(() => broker.stats().refused.publish_denied === beforePub + 1, 'publish_denied for the cloud');
    expect(refusals('publish_denied').at(-1)).toMatchObject({ username: 'cloud', topic: districtTopics.telemetry(SCHOOL_A) });
  });
});

describe('broker stats', () => {
  it('are published, retained and valid, with the refusal counters', async () => {
    const cloud = await open('cloud');
    const atCloud = record(cloud);
    await cloud.subscribeAsync(districtTopics.brokerStats, { qos: 0 });
    await waitFor(() => atCloud.some((m) => m.retain), 'retained stats on subscribe');

    // Cause one more refusal and watch the published figure follow.
    const target = (broker.stats().refused.bad_credentials ?? 0) + 1;
    await expect(connect(broker.port, { username: 'cloud', password: 'nope' })).rejects.toMatchObject({ code: 4 });
    await waitFor(
      () => atCloud.some((m) => JSON.parse(m.payload).refused.bad_credentials === target),
      'stats showing the new refusal',
    );

    for (const message of atCloud) {
      expect(message.topic).toBe(districtTopics.brokerStats);
      const checked = check(BrokerStats, JSON.parse(message.payload));
      expect(checked.ok).toBe(true);
    }
    const latest = JSON.parse(atCloud.at(-1)!.payload) as BrokerStats;
    expect(latest.clientsConnected).toBeGreaterThanOrEqual(1);
    expect(Object.keys(latest.refused)).toEqual(
      expect.arrayContaining(['bad_credentials', 'unknown_user', 'publish_denied', 'subscribe_denied']),
    );
  });
});

describe('client ids prove nothing', () => {
  it("another principal using a connected client's id neither takes the connection over nor is refused", async () => {
    const cloud = await open('cloud', { clientId: 'district-ingest' });
    const atCloud = record(cloud);
    await cloud.subscribeAsync(districtTopics.allUplink, { qos: 1 });
    // Same id, another principal: its own session in its own namespace (client-ids.ts).
    const gateway = await open(GW_A, { clientId: 'district-ingest' });
    await gateway.publishAsync(districtTopics.telemetry(SCHOOL_A), encode(telemetry(SCHOOL_A, 31)), { qos: 1 });
    // Had the gateway taken the cloud's connection over, the cloud would never see this.
    await waitFor(() => atCloud.some((m) => JSON.parse(m.payload).seq === 31), "the gateway's telemetry at the cloud");
    expect(cloud.connected).toBe(true);
    expect(gateway.connected).toBe(true);
  });

  it("a persistent session under any id but the principal's own name is refused before its password is checked, counted and logged", async () => {
    // The ids gateway A and the cloud use, and a fresh one: gateway B may keep a session under none of them.
    for (const id of [GW_A, 'cloud', 'cloud-ingest-4242', `${GW_B}-2`]) {
      const before = { ...broker.stats().refused };
      await expect(connect(broker.port, { username: GW_B, password: PASSWORDS[GW_B], clientId: id, clean: false })).rejects.toMatchObject({
        code: 2,
      });
      const after = broker.stats().refused;
      expect(after.persistent_session_refused).toBe((before.persistent_session_refused ?? 0) + 1);
      // Refused from the CONNECT alone: no password check was spent on it (nor failed).
      expect(after.bad_credentials).toBe(before.bad_credentials);
      expect(refusals('persistent_session_refused').at(-1)).toMatchObject({ username: GW_B, clientId: id, level: 40 });
    }
    // Gateway A's own persistent session is its own: a command queued while it is away reaches it.
    const gateway = await open(GW_A, { clientId: GW_A, clean: false });
    await gateway.subscribeAsync(districtTopics.schoolDownlink(SCHOOL_A), { qos: 1 });
    await gateway.endAsync();
    const cloud = await open('cloud');
    await cloud.publishAsync(districtTopics.command(SCHOOL_A, 'proj-101'), encode(command('proj-101', 'queued-for-a')), { qos: 1 });
    const { client: back, received: atA, sessionPresent } = await connectRecording(broker.port, GW_A, { clientId: GW_A, clean: false });
    clients.push(back);
    expect(sessionPresent).toBe(true);
    await waitFor(() => atA.some((m) => JSON.parse(m.payload).commandId === 'queued-for-a'), "the command queued in A's session");
    // CleanSession=1 under the same id discards the session: the next test starts without it.
    await end(back);
    await open(GW_A, { clientId: GW_A, clean: true });
    // Clean sessions may still use any id, another principal's included (their own namespace).
    const cleanB = await open(GW_B, { clientId: GW_A, clean: true });
    expect(cleanB.connected).toBe(true);
  });

  it('does not queue messages for a refused subscription in a persistent session', async () => {
    const forwardDeniedBefore = broker.stats().refused.forward_denied ?? 0;
    const gateway = await open(GW_A, { clientId: GW_A, clean: false });
    // One SUBSCRIBE packet, one filter granted and one refused: aedes stores both filters
    // of such a packet in the session.
    await expect(
      gateway.subscribeAsync([districtTopics.schoolDownlink(SCHOOL_A), districtTopics.allUplink], { qos: 1 }),
    ).rejects.toMatchObject({ packet: { cmd: 'suback', granted: [1, 0x80] } });
    await gateway.endAsync();

    // While school A's gateway is away: school B reports, and the cloud sends A a command.
    const gatewayB = await open(GW_B);
    await gatewayB.publishAsync(districtTopics.telemetry(SCHOOL_B), encode(telemetry(SCHOOL_B, 5)), { qos: 1 });
    const cloud = await open('cloud');
    await cloud.publishAsync(districtTopics.command(SCHOOL_A, 'proj-101'), encode(command('proj-101', 'queued')), { qos: 1 });

    // Queued messages come back in order: the command arrives after anything queued before it.
    const { client: back, received: atA } = await connectRecording(broker.port, GW_A, { clientId: GW_A, clean: false });
    clients.push(back);
    await waitFor(() => atA.length > 0, 'the queued command');
    // A trailing marker sent now, after the queue: anything else delivered to A comes before it.
    await cloud.publishAsync(districtTopics.command(SCHOOL_A, 'proj-102'), encode(command('proj-102', 'marker')), { qos: 1 });
    await waitFor(() => atA.some((m) => JSON.parse(m.payload).commandId === 'marker'), 'the marker command');
    expect(atA.map((m) => [m.topic, JSON.parse(m.payload).commandId])).toEqual([
      [districtTopics.command(SCHOOL_A, 'proj-101'), 'queued'],
      [districtTopics.command(SCHOOL_A, 'proj-102'), 'marker'],
    ]);
    // The refused filter was dropped from the session, so nothing was even queued for it.
    expect(broker.stats().refused.forward_denied).toBe(forwardDeniedBefore);
  });
});

describe('retained messages', () => {
  it('a retained command is refused, counted and never kept; a gateway status is retained', async () => {
    const before = broker.stats().refused.publish_denied ?? 0;
    const cloud = await open('cloud');
    const closedCloud = closed(cloud);
    cloud.publish(districtTopics.command(SCHOOL_A, 'proj-999'), encode(command('proj-999', 'retained-cmd')), { qos: 1, retain: true });
    await closedCloud;
    await waitFor(() => broker.stats().refused.publish_denied === before + 1, 'publish_denied to be counted');
    expect(refusals('publish_denied').at(-1)).toMatchObject({ username: 'cloud', detail: "only a gateway's own school status may be retained" });

    const gateway = await open(GW_A);
    await gateway.publishAsync(districtTopics.status(SCHOOL_A), 'online', { qos: 1, retain: true });
    // A new subscriber to A's downlink gets nothing retained; one to the uplink gets the status.
    const { client: gatewayAgain, received: atGateway } = await connectRecording(broker.port, GW_A);
    clients.push(gatewayAgain);
    await gatewayAgain.subscribeAsync(districtTopics.schoolDownlink(SCHOOL_A), { qos: 1 });
    const watcher = await open('cloud');
    const atWatcher = record(watcher);
    await watcher.subscribeAsync(districtTopics.status(SCHOOL_A), { qos: 1 });
    await waitFor(() => atWatcher.some((m) => m.retain && m.payload === 'online'), 'the retained status');
    // Retained messages are sent on subscribing, before anything published later: the marker.
    await watcher.publishAsync(districtTopics.command(SCHOOL_A, 'proj-101'), encode(command('proj-101', 'marker')), { qos: 1 });
    await waitFor(() => atGateway.length > 0, 'the marker command');
    expect(atGateway.map((m) => [JSON.parse(m.payload).commandId, m.retain])).toEqual([['marker', false]]);
  });
});

describe('persistent sessions', () => {
  it('queue at most maxQueuedPerSession messages while away: the oldest are kept, the rest counted and logged', async () => {
    const capture = captureLogger();
    const small = await startDistrictBroker({ port: 0, credentials, logger: capture.logger, maxQueuedPerSession: 3 });
    try {
      const gateway = await connectAs(small.port, GW_A, { clientId: GW_A, clean: false });
      await gateway.subscribeAsync(districtTopics.schoolDownlink(SCHOOL_A), { qos: 1 });
      await gateway.endAsync();

      const cloud = await connectAs(small.port, 'cloud');
      clients.push(cloud);
      const atCloud = record(cloud);
      await cloud.subscribeAsync(districtTopics.allUplink, { qos: 1 });
      for (let i = 1; i <= 5; i++) {
        // Acknowledged by the broker either way: the cloud is not punished for A being away.
        await cloud.publishAsync(districtTopics.command(SCHOOL_A, 'proj-101'), encode(command('proj-101', `away-${i}`)), { qos: 1 });
      }
      expect(small.stats().refused.session_queue_full).toBe(2);
      expect(capture.lines.filter((line) => line.reason === 'session_queue_full').at(-1)).toMatchObject({ username: GW_A, clientId: GW_A, level: 40 });

      const { client: back, received: atA, sessionPresent } = await connectRecording(small.port, GW_A, { clientId: GW_A, clean: false });
      clients.push(back);
      expect(sessionPresent).toBe(true);
      await waitFor(() => atA.length >= 3, 'the queued commands');
      // The broker takes a connection's packets in order: once A's later publish reached the
      // cloud, A's acknowledgements of the queue were taken, and the marker finds room.
      await back.publishAsync(districtTopics.telemetry(SCHOOL_A), encode(telemetry(SCHOOL_A, 77)), { qos: 1 });
      await waitFor(() => atCloud.some((m) => JSON.parse(m.payload).seq === 77), "A's telemetry at the cloud");
      await cloud.publishAsync(districtTopics.command(SCHOOL_A, 'proj-101'), encode(command('proj-101', 'marker')), { qos: 1 });
      await waitFor(() => atA.some((m) => JSON.parse(m.payload).commandId === 'marker'), 'the marker after the queue');
      expect(atA.map((m) => JSON.parse(m.payload).commandId)).toEqual(['away-1', 'away-2', 'away-3', 'marker']);
      // Delivered and acknowledged: the queue has room again, and nothing more was dropped.
      expect(small.stats().refused.session_queue_full).toBe(2);
    } finally {
      await end(...clients.splice(0));
      await small.close();
    }
  });
});

describe('credentials', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'schoolops-broker-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('load from a file that holds no plaintext password, and work', async () => {
    const file = join(dir, 'credentials.json');
    await writeFile(file, JSON.stringify(credentials, null, 2));
    const text = await readFile(file, 'utf8');
    for (const password of Object.values(PASSWORDS)) expect(text).not.toContain(password);
    for (const entry of credentials.clients) expect(entry.passwordHash).toMatch(/^scrypt\$16384\$8\$1\$[^$]+\$[^$]+$/);

    const fromFile = await startDistrictBroker({ port: 0, credentials: file, logger: captureLogger().logger });
    try {
      const client = await connectAs(fromFile.port, GW_B);
      await client.endAsync();
    } finally {
      await fromFile.close();
    }
  });

  it('a malformed file fails to start with the file, the path and the problem', async () => {
    const cases: [string, string, RegExp][] = [
      ['not-json.json', '{ "v": 1, "clients": [', /not-json\.json: \(document\): not valid JSON/],
      ['no-school.json', JSON.stringify({ v: 1, clients: [{ username: GW_A, role: 'gateway', passwordHash: credentials.clients[0]!.passwordHash }] }), /no-school\.json: \/clients\/0: must have required property 'schoolId'/],
      ['plaintext.json', JSON.stringify({ v: 1, clients: [{ username: 'cloud', role: 'cloud', password: 'cloud-secret-123' }] }), /plaintext\.json: \/clients\/0: must have required property 'passwordHash'/],
      ['bad-hash.json', JSON.stringify({ v: 1, clients: [{ username: 'cloud', role: 'cloud', passwordHash: 'scrypt$3$8$1$abc$def' }] }), /bad-hash\.json: \/clients\/0\/passwordHash: not a usable scrypt hash/],
    ];
    for (const [name, content, expected] of cases) {
      const file = join(dir, name);
      await writeFile(file, content);
      const start = startDistrictBroker({ port: 0, credentials: file, logger: captureLogger().logger });
      await expect(start).rejects.toBeInstanceOf(CredentialsError);
      await expect(start).rejects.toThrow(expected);
    }
    await expect(startDistrictBroker({ port: 0, credentials: join(dir, 'missing.json') })).rejects.toThrow(/missing\.json: \(document\): cannot read/);
  });
});

describe('close', () => {
  it('publishes final stats, disconnects clients and stops listening, without waiting for silent sockets', async () => {
    // aedes' connect timeout (which ends a socket that never sends CONNECT) an hour away: only
    // close() itself can end the silent socket below. It must: the server's close waits for every
    // socket, so a close() that left it open would not return (and the test would time out).
    const own = await startDistrictBroker({ port: 0, credentials, logger: captureLogger().logger, statsIntervalMs: 3_600_000, connectTimeoutMs: 3_600_000 });
    const { client, received } = await connectRecording(own.port, 'cloud');
    clients.push(client);
    await client.subscribeAsync(districtTopics.brokerStats, { qos: 0 });
    await waitFor(() => received.length === 1, 'the retained stats from start-up');
    // A socket that never sends CONNECT must not hold the server open either.
    const silent = tcpConnect(own.port, '127.0.0.1');
    await new Promise((resolve) => silent.once('connect', resolve));
    const silentClosed = new Promise((resolve) => silent.once('close', resolve));

    const gone = closed(client);
    await own.close();
    await gone;
    await silentClosed;

    expect(received).toHaveLength(2);
    expect(check(BrokerStats, JSON.parse(received[1]!.payload)).ok).toBe(true);
    await expect(
      new Promise((resolve, reject) => tcpConnect(own.port, '127.0.0.1').once('connect', resolve).once('error', reject)),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
