/**
 * The district broker against clients that break the protocol's limits, over real
 * sockets: oversized packets (LIMITS.districtPacketBytes) and a zero-length client id
 * asking for a persistent session. Each is refused, the connection closed, counted in
 * BrokerStats.refused and logged, while every other school carries on.
 * These rely on broker/patches/aedes+1.2.0.patch; unpatched, they fail.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { LIMITS, WIRE_VERSION, districtTopics, encode, type TelemetryBatch } from '@schoolops/device-profiles';
import { startDistrictBroker, type DistrictBroker } from '../src/index.ts';
import { PASSWORDS, SCHOOL_A, SCHOOL_B, captureLogger, closed, connectAs, end, makeCredentials, record, waitFor, type LogLine } from './helpers.ts';
import { publishHead, rawConnect, trickle, type RawConnection } from './raw-mqtt.ts';

const GW_A = `gw-${SCHOOL_A}` as const;
const GW_B = `gw-${SCHOOL_B}` as const;
const MiB = 1024 * 1024;

let broker: DistrictBroker;
let logs: LogLine[];
const clients: MqttClient[] = [];
const raws: RawConnection[] = [];

async function open(username: keyof typeof PASSWORDS, options: Parameters<typeof connectAs>[2] = {}): Promise<MqttClient> {
  const client = await connectAs(broker.port, username, options);
  clients.push(client);
  return client;
}

const refusals = (reason: string) => logs.filter((line) => line.reason === reason);

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

/** School B's gateway still gets telemetry through to the cloud. */
async function schoolBStillServed(seq: number): Promise<void> {
  const cloud = await open('cloud');
  const atCloud = record(cloud);
  await cloud.subscribeAsync(districtTopics.allUplink, { qos: 1 });
  const gatewayB = await open(GW_B);
  await gatewayB.publishAsync(districtTopics.telemetry(SCHOOL_B), encode(telemetry(SCHOOL_B, seq)), { qos: 1 });
  await waitFor(() => atCloud.some((m) => m.topic === districtTopics.telemetry(SCHOOL_B)), 'school B telemetry at the cloud');
}

beforeAll(async () => {
  const capture = captureLogger();
  logs = capture.lines;
  broker = await startDistrictBroker({ port: 0, credentials: await makeCredentials(), logger: capture.logger, statsIntervalMs: 100 });
});

afterEach(async () => {
  await end(...clients.splice(0));
  for (const raw of raws.splice(0)) raw.socket.destroy();
});

afterAll(async () => {
  await broker?.close();
});

describe('packet size', () => {
  it('a gateway publishing 2 MiB is disconnected, counted and logged; the message goes nowhere', async () => {
    expect(LIMITS.districtPacketBytes).toBeLessThan(2 * MiB);
    const cloud = await open('cloud');
    const atCloud = record(cloud);
    await cloud.subscribeAsync(districtTopics.allUplink, { qos: 1 });
    const before = broker.stats().refused.packet_too_large ?? 0;

    const gatewayA = await open(GW_A, { clientId: 'gw-a-oversized' });
    gatewayA.publish(districtTopics.telemetry(SCHOOL_A), Buffer.alloc(2 * MiB, 0x20), { qos: 1 });
    await closed(gatewayA);

    await waitFor(() => broker.stats().refused.packet_too_large === before + 1, 'packet_too_large to be counted');
    expect(refusals('packet_too_large').at(-1)).toMatchObject({ username: GW_A, clientId: 'gw-a-oversized', remote: '127.0.0.1', level: 40 });
    await schoolBStillServed(1);
    expect(atCloud.filter((m) => m.topic === districtTopics.telemetry(SCHOOL_A))).toEqual([]);
    expect(cloud.connected).toBe(true);
  });

  it('a packet at the limit still goes through', async () => {
    const cloud = await open('cloud');
    const atCloud = record(cloud);
    await cloud.subscribeAsync(districtTopics.allUplink, { qos: 1 });
    const gatewayA = await open(GW_A);
    const topic = districtTopics.telemetry(SCHOOL_A);
    // QoS 1 PUBLISH: type byte, 3-byte Remaining Length, topic, 2-byte packet id, payload.
    const payloadBytes = LIMITS.districtPacketBytes - 1 - 3 - (2 + Buffer.byteLength(topic)) - 2;
    await gatewayA.publishAsync(topic, Buffer.alloc(payloadBytes, 0x20), { qos: 1 });
    await waitFor(() => atCloud.some((m) => m.topic === topic), 'the largest allowed packet at the cloud');
    expect(gatewayA.connected).toBe(true);
  });

  it('a declared huge publish trickling in is refused from its header, before its body is buffered', async () => {
    const before = broker.stats().refused.packet_too_large ?? 0;
    const { connection, returnCode } = await rawConnect(broker.port, {
      clientId: 'gw-a-trickle',
      clean: true,
      username: GW_A,
      password: PASSWORDS[GW_A],
    });
    raws.push(connection);
    expect(returnCode).toBe(0);
    const memoryBefore = process.memoryUsage().arrayBuffers;

    // Declares 200 MiB; sends up to 16 MiB of it, 256 KiB every 5 ms, unless cut off.
    const written = await trickle(connection, publishHead(districtTopics.telemetry(SCHOOL_A), 200 * MiB), {
      chunkBytes: 256 * 1024,
      intervalMs: 5,
      maxBytes: 16 * MiB,
    });
    const grown = process.memoryUsage().arrayBuffers - memoryBefore;

    // Unpatched aedes keeps the connection and holds all 16 MiB written in its parser.
    expect(
      { closed: connection.isClosed(), written: written < 4 * MiB, grown: grown < 4 * MiB },
      `wrote ${(written / MiB).toFixed(2)} MiB; the process's buffers grew ${(grown / MiB).toFixed(2)} MiB`,
    ).toEqual({ closed: true, written: true, grown: true });
    await waitFor(() => broker.stats().refused.packet_too_large === before + 1, 'packet_too_large to be counted');
    expect(refusals('packet_too_large').at(-1)).toMatchObject({ username: GW_A, clientId: 'gw-a-trickle' });
    await schoolBStillServed(2);
  });
});

describe('zero-length client id', () => {
  it('with CleanSession=0 is refused with CONNACK 0x02 even with good credentials, and counted', async () => {
    const before = broker.stats().refused.client_id_rejected ?? 0;
    const { connection, returnCode } = await rawConnect(broker.port, {
      clientId: '',
      clean: false,
      username: GW_A,
      password: PASSWORDS[GW_A],
    });
    raws.push(connection);
    expect(returnCode).toBe(2);
    await connection.closedWithin();
    await waitFor(() => broker.stats().refused.client_id_rejected === before + 1, 'client_id_rejected to be counted');
    expect(refusals('client_id_rejected').at(-1)).toMatchObject({ remote: '127.0.0.1', level: 40 });
  });

  it('with CleanSession=1 is accepted for a known principal, who may then publish as usual', async () => {
    const { connection, returnCode } = await rawConnect(broker.port, {
      clientId: '',
      clean: true,
      username: GW_B,
      password: PASSWORDS[GW_B],
    });
    raws.push(connection);
    expect(returnCode).toBe(0);
    // The broker assigned it an id, which was bound to its principal like any other.
    await waitFor(() => logs.some((line) => line.msg === 'client authenticated' && line.username === GW_B && String(line.clientId).startsWith('aedes_')), 'the authenticated log line');
    expect(connection.isClosed()).toBe(false);
  });

  it('with CleanSession=1 and no credentials is still refused as before', async () => {
    const { connection, returnCode } = await rawConnect(broker.port, { clientId: '', clean: true });
    raws.push(connection);
    expect(returnCode).toBe(4);
  });
});
