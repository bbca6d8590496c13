/**
 * Known MQTT broker advisories, kept as regression tests on the district broker, over real
 * sockets: a will on a forbidden topic, a filter of 200 topic levels, an inbound QoS 2
 * flood, a 64 KiB client id, publishes to `$SYS` topics, and refused publishes asking to
 * be retained. For each: the broker stays up and counts the refusal, a well-behaved client
 * (school B's gateway reporting to the cloud) keeps working, and the bad thing does not
 * happen.
 *
 * aedes' retained store is looked into through the persistence the broker is given: every
 * retained message stored is recorded.
 *
 * The edge agent's school broker has the same tests in
 * edge-agent/test/local-broker-advisories.test.ts.
 */
import memoryPersistence from 'aedes-persistence';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { WIRE_VERSION, districtTopics, encode, type GatewayStatus, type TelemetryBatch } from '@schoolops/device-profiles';
import { startDistrictBroker, type DistrictBroker } from '../src/index.ts';
import { PASSWORDS, SCHOOL_A, SCHOOL_B, captureLogger, closed, connectAs, connectRecording, end, makeCredentials, record, waitFor, type LogLine, type Received } from './helpers.ts';
import { publishPacket, rawConnect, type RawConnection } from './raw-mqtt.ts';

const GW_A = `gw-${SCHOOL_A}` as const;
const GW_B = `gw-${SCHOOL_B}` as const;

/** The part of aedes' persistence the test watches. */
interface RetainedStore {
  storeRetained(packet: { topic: string }): Promise<void>;
}

let broker: DistrictBroker;
let logs: LogLine[];
/** Topics of every retained message aedes stored, in order. */
const retainedStored: string[] = [];
const clients: MqttClient[] = [];
const raws: RawConnection[] = [];

/** The cloud, subscribed to every uplink: what a forged message would reach. */
let cloud: MqttClient;
let atCloud: Received[];
const CLOUD_ID = 'district-ingest';

async function open(username: keyof typeof PASSWORDS, options: Parameters<typeof connectAs>[2] = {}): Promise<MqttClient> {
  const client = await connectAs(broker.port, username, options);
  clients.push(client);
  return client;
}

const refusals = (reason: string) => logs.filter((line) => line.reason === reason);
const refusedCount = (reason: string) => broker.stats().refused[reason] ?? 0;

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

let markers = 0;
/**
 * School B's gateway reports and the cloud gets it: the broker is up and serves a client
 * that did nothing wrong. Anything the broker routed to the cloud before it arrived first.
 */
async function wellBehavedClientServed(): Promise<void> {
  const seq = 10_000 + ++markers;
  const gatewayB = await open(GW_B);
  await gatewayB.publishAsync(districtTopics.telemetry(SCHOOL_B), encode(telemetry(SCHOOL_B, seq)), { qos: 1 });
  await waitFor(() => atCloud.some((m) => m.topic === districtTopics.telemetry(SCHOOL_B) && JSON.parse(m.payload).seq === seq), `marker ${seq} at the cloud`);
  expect(cloud.connected).toBe(true);
}

beforeAll(async () => {
  const capture = captureLogger();
  logs = capture.lines;
  // aedes' own default store (a dependency of aedes); its typings do not match its CommonJS export.
  const persistence = (memoryPersistence as unknown as () => RetainedStore)();
  const storeRetained = persistence.storeRetained.bind(persistence);
  persistence.storeRetained = (packet) => {
    retainedStored.push(packet.topic);
    return storeRetained(packet);
  };
  broker = await startDistrictBroker({ port: 0, credentials: await makeCredentials(), logger: capture.logger, statsIntervalMs: 3_600_000, persistence });
  ({ client: cloud, received: atCloud } = await connectRecording(broker.port, 'cloud', { clientId: CLOUD_ID }));
  await cloud.subscribeAsync(districtTopics.allUplink, { qos: 1 });
});

afterEach(async () => {
  await end(...clients.splice(0));
  for (const raw of raws.splice(0)) raw.socket.destroy();
});

afterAll(async () => {
  await end(cloud);
  await broker?.close();
});

describe('MQTT advisories: the district broker', () => {
  it('a will on a forbidden topic is not published (another school, $SYS), and is counted', async () => {
    const forgedOffline: GatewayStatus = { v: WIRE_VERSION, gatewayId: GW_B, schoolId: SCHOOL_B, bootId: 'forged-boot', state: 'offline', ts: Date.now() };
    const forbidden = [
      // School B shown offline, for good (retained), by school A's gateway.
      { topic: districtTopics.status(SCHOOL_B), payload: encode(forgedOffline) },
      // aedes closes any client whose session id a `$SYS/<broker>/new/clients` message names.
      { topic: '$SYS/another-broker/new/clients', payload: `cloud:${CLOUD_ID}` },
    ];
    for (const will of forbidden) {
      const before = refusedCount('publish_denied');
      const gatewayA = await open(GW_A, { will: { ...will, qos: 1, retain: true } });
      // Gone without DISCONNECT: the broker publishes the will, or refuses it.
      gatewayA.stream.destroy();
      await waitFor(() => refusedCount('publish_denied') === before + 1, `the will on ${will.topic} to be refused`);
      expect(refusals('publish_denied').at(-1)).toMatchObject({ username: GW_A, topic: will.topic });
      await wellBehavedClientServed();
    }
    expect(atCloud.filter((m) => m.topic === districtTopics.status(SCHOOL_B))).toEqual([]);
    expect(retainedStored.filter((topic) => forbidden.some((will) => will.topic === topic))).toEqual([]);
  });

  it('a filter (or topic) of 200 levels closes the connection, counted; nothing is subscribed', async () => {
    // Inside the gateway's own downlink, where the ACL would allow it: aedes refuses it first.
    const deep = `${districtTopics.schoolDownlink(SCHOOL_A).replace(/#$/, '')}${'x/'.repeat(195)}#`;
    expect(deep.split('/')).toHaveLength(200);
    const before = refusedCount('topic_too_deep');
    const gatewayA = await open(GW_A);
    gatewayA.subscribe(deep, { qos: 1 });
    await closed(gatewayA);
    await waitFor(() => refusedCount('topic_too_deep') === before + 1, 'topic_too_deep to be counted');

    const publisher = await open(GW_A);
    publisher.publish(`${districtTopics.telemetry(SCHOOL_A)}/${'y/'.repeat(198)}z`, 'deep', { qos: 1 });
    await closed(publisher);
    await waitFor(() => refusedCount('topic_too_deep') === before + 2, 'the deep publish to be counted');
    expect(refusals('topic_too_deep').at(-1)).toMatchObject({ username: GW_A, level: 40 });
    await wellBehavedClientServed();
    expect(atCloud.filter((m) => m.payload === 'deep')).toEqual([]);
  });

  it('an inbound QoS 2 flood that never sends PUBREL is cut off after 16 in flight, counted', async () => {
    const before = refusedCount('inflight_exceeded');
    const { connection, returnCode } = await rawConnect(broker.port, { clientId: 'qos2-flood', clean: true, username: GW_A, password: PASSWORDS[GW_A] });
    raws.push(connection);
    expect(returnCode).toBe(0);
    const FLOOD = 500;
    const packets = Array.from({ length: FLOOD }, (_, i) =>
      publishPacket({ topic: districtTopics.telemetry(SCHOOL_A), payload: `qos2-flood-${i}`, qos: 2, messageId: i + 1 }),
    );
    connection.socket.write(Buffer.concat(packets));
    await connection.closedWithin();
    // Once per connection, however many of its packets were refused with it.
    await waitFor(() => refusedCount('inflight_exceeded') === before + 1, 'inflight_exceeded to be counted');
    await wellBehavedClientServed();
    // Each accepted QoS 2 publish is kept until its PUBREL and routed at once: at most the window.
    const routed = atCloud.filter((m) => m.payload.startsWith('qos2-flood-'));
    expect(routed.length).toBeGreaterThan(0);
    expect(routed.length).toBeLessThanOrEqual(16);
  });

  it('a 64 KiB client id is refused with CONNACK 2 before any password check, counted, and logged cut short', async () => {
    const before = { ...broker.stats().refused };
    const clientId = 'i'.repeat(65_535);
    const { connection, returnCode } = await rawConnect(broker.port, { clientId, clean: false, username: GW_A, password: PASSWORDS[GW_A] });
    raws.push(connection);
    expect(returnCode).toBe(2);
    await connection.closedWithin();
    const after = broker.stats().refused;
    expect(after.client_id_rejected).toBe((before.client_id_rejected ?? 0) + 1);
    expect(after.bad_credentials).toBe(before.bad_credentials);
    const line = refusals('client_id_rejected').at(-1)!;
    expect(line).toMatchObject({ username: GW_A, level: 40 });
    expect(String(line.clientId).length).toBeLessThan(120);
    expect(JSON.stringify(logs).length).toBeLessThan(65_535);
    await wellBehavedClientServed();
  });

  it('publishes to $SYS topics are refused, counted, never retained, and cannot disconnect another client', async () => {
    const sys = [
      // What aedes listens to internally: close the named session; a broker is alive; a broker was born.
      { topic: '$SYS/another-broker/new/clients', payload: `cloud:${CLOUD_ID}` },
      { topic: '$SYS/another-broker/heartbeat', payload: 'another-broker' },
      { topic: '$SYS/another-broker/birth', payload: 'another-broker' },
      { topic: '$SYS/broker/uptime', payload: '0' },
    ];
    for (const { topic, payload } of sys) {
      const before = refusedCount('publish_denied');
      const gatewayA = await open(GW_A);
      gatewayA.publish(topic, payload, { qos: 1, retain: true });
      await closed(gatewayA);
      await waitFor(() => refusedCount('publish_denied') === before + 1, `publish_denied for ${topic}`);
      expect(refusals('publish_denied').at(-1)).toMatchObject({ username: GW_A, topic });
      await wellBehavedClientServed();
    }
    expect(retainedStored.filter((topic) => topic.startsWith('$'))).toEqual([]);
  });

  it('a refused publish asking to be retained is not retained; an allowed one is', async () => {
    const forged: GatewayStatus = { v: WIRE_VERSION, gatewayId: GW_B, schoolId: SCHOOL_B, bootId: 'forged-boot', state: 'offline', ts: Date.now() };
    const before = refusedCount('publish_denied');
    const gatewayA = await open(GW_A);
    gatewayA.publish(districtTopics.status(SCHOOL_B), encode(forged), { qos: 1, retain: true });
    await closed(gatewayA);
    await waitFor(() => refusedCount('publish_denied') === before + 1, 'the forged status to be refused');

    // School B's own retained status, after it: stored, and the only one for that topic.
    const gatewayB = await open(GW_B);
    const genuine: GatewayStatus = { ...forged, bootId: 'genuine-boot', state: 'online' };
    await gatewayB.publishAsync(districtTopics.status(SCHOOL_B), encode(genuine), { qos: 1, retain: true });
    await waitFor(() => retainedStored.includes(districtTopics.status(SCHOOL_B)), "school B's retained status to be stored");
    expect(retainedStored.filter((topic) => topic === districtTopics.status(SCHOOL_B))).toHaveLength(1);
    const fresh = await open('cloud');
    const atFresh = record(fresh);
    await fresh.subscribeAsync(districtTopics.status(SCHOOL_B), { qos: 1 });
    await waitFor(() => atFresh.length > 0, "the retained status at a new subscriber");
    expect(atFresh.map((m) => JSON.parse(m.payload).bootId)).toEqual(['genuine-boot']);
  });
});
