/**
 * Known MQTT broker advisories, kept as regression tests on the school broker (the edge
 * agent's local broker for devices), over real sockets: a will on a forbidden topic, a
 * filter of 200 topic levels, an inbound QoS 2 flood, a 64 KiB client id, publishes to
 * `$SYS` topics. For each: the broker stays up and counts it, a well-behaved board keeps
 * working (its readings are taken, the agent's commands reach it), and the bad thing does
 * not happen. The district broker has the same in broker/test/advisories.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { localTopics } from '@schoolops/device-profiles';
import { publishPacket, rawConnect, type RawConnection } from '../../broker/test/raw-mqtt.ts';
import { BOARDS, boardState, closed, connectDevice, startSchoolBroker, waitFor, type SchoolBroker } from './local-broker-harness.ts';

const [BOARD, OTHER_BOARD] = BOARDS;

let school: SchoolBroker;
/** The well-behaved board: connected throughout, listening to its command topic. */
let board: MqttClient;
const commands: string[] = [];
const devices: MqttClient[] = [];
const raws: RawConnection[] = [];

async function device(clientId: string, options: Parameters<typeof connectDevice>[2] = {}): Promise<MqttClient> {
  const client = await connectDevice(school.broker.port, clientId, options);
  devices.push(client);
  return client;
}

let seq = 0;
let markers = 0;
/**
 * The broker is up and serves the well-behaved board both ways: a reading of it is taken,
 * and a command from the agent reaches it (anything routed to it before came first).
 */
async function boardStillServed(): Promise<void> {
  // Thrown off (by a `$SYS/.../new/clients` message naming it, say): fail now, not at a timeout.
  expect(board.connected, 'the well-behaved board is still connected').toBe(true);
  const n = ++seq;
  await board.publishAsync(localTopics.deviceState(BOARD), boardState(n), { qos: 1 });
  await waitFor(() => school.readings.some((r) => r.deviceId === BOARD && r.n === n), `board reading ${n}`);
  const marker = `{"name":"marker","n":${++markers}}`;
  await school.broker.sendToDevice(BOARD, Buffer.from(marker));
  await waitFor(() => commands.includes(marker), `command ${marker} at the board`);
  expect(board.connected).toBe(true);
}

beforeAll(async () => {
  school = await startSchoolBroker();
  board = await connectDevice(school.broker.port, BOARD);
  board.on('message', (_topic, payload) => commands.push(payload.toString()));
  await board.subscribeAsync(localTopics.deviceCommand(BOARD), { qos: 1 });
});

afterEach(async () => {
  await Promise.all(devices.splice(0).map((client) => client.endAsync(true)));
  for (const raw of raws.splice(0)) raw.socket.destroy();
});

afterAll(async () => {
  await board?.endAsync(true);
  await school?.close();
});

describe('MQTT advisories: the school broker', () => {
  it("a will on a forbidden topic is not published: another device's commands, $SYS", async () => {
    const wills = [
      // A device that leaves switches the projector off.
      { topic: localTopics.deviceCommand(BOARD), payload: '{"name":"powerOff"}', reason: 'bad_topic' },
      // aedes disconnects the client a `$SYS/<other broker>/new/clients` message names.
      { topic: '$SYS/another-broker/new/clients', payload: BOARD, reason: 'bad_topic' },
    ];
    for (const will of wills) {
      const before = school.intake.rejected.bad_topic;
      const rogue = await device('rogue', { will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: true } });
      // Gone without DISCONNECT: the broker publishes the will, or refuses it.
      rogue.stream.destroy();
      await waitFor(() => school.intake.rejected.bad_topic === before + 1, `the will on ${will.topic} to be refused`);
      await boardStillServed();
    }
    expect(commands.filter((command) => command.includes('powerOff'))).toEqual([]);
    expect(school.retainedStored).toEqual([]);
  });

  it('a filter (or topic) of 200 levels closes the connection, counted', async () => {
    const before = school.broker.stats().refused.topic_too_deep;
    const subscriber = await device('deep-subscriber');
    subscriber.subscribe(`${'x/'.repeat(199)}#`, { qos: 1 });
    await closed(subscriber);
    await waitFor(() => school.broker.stats().refused.topic_too_deep === before + 1, 'topic_too_deep to be counted');

    const publisher = await device('deep-publisher');
    publisher.publish(`${'y/'.repeat(199)}z`, boardState(0), { qos: 1 });
    await closed(publisher);
    await waitFor(() => school.broker.stats().refused.topic_too_deep === before + 2, 'the deep publish to be counted');
    expect(school.logs.filter((line) => line.reason === 'topic_too_deep').at(-1)).toMatchObject({ client: 'deep-publisher', level: 40 });
    await boardStillServed();
  });

  it('an inbound QoS 2 flood that never sends PUBREL is cut off after 16 held, counted', async () => {
    const before = school.broker.stats().refused.inflight_exceeded;
    const { connection, returnCode } = await rawConnect(school.broker.port, { clientId: OTHER_BOARD, clean: true });
    raws.push(connection);
    expect(returnCode).toBe(0);
    const FLOOD = 500;
    const packets = Array.from({ length: FLOOD }, (_, i) =>
      publishPacket({ topic: localTopics.deviceState(OTHER_BOARD), payload: boardState(100_000 + i), qos: 2, messageId: i + 1 }),
    );
    connection.socket.write(Buffer.concat(packets));
    await connection.closedWithin();
    // Once per connection, however many of its packets were refused with it.
    await waitFor(() => school.broker.stats().refused.inflight_exceeded === before + 1, 'inflight_exceeded to be counted');
    await boardStillServed();
    // What the flood could make the broker hold until a PUBREL that never comes.
    const held = school.qos2Held.filter((id) => id === OTHER_BOARD).length;
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(16);
    // The readings themselves are the intake's (it is the broker's authorization step, so it
    // sees them before aedes' window does): valid readings of a known board, stored once; a
    // device that got no PUBREC sends them again and the agent knows them by their sample time.
  });

  it('a 64 KiB client id is refused with CONNACK 2, counted, and logged cut short', async () => {
    const before = school.broker.stats().refused.client_id_rejected;
    const { connection, returnCode } = await rawConnect(school.broker.port, { clientId: 'i'.repeat(65_535), clean: true });
    raws.push(connection);
    expect(returnCode).toBe(2);
    await connection.closedWithin();
    expect(school.broker.stats().refused.client_id_rejected).toBe(before + 1);
    const line = school.logs.filter((l) => l.reason === 'client_id_rejected').at(-1)!;
    expect(String(line.client).length).toBeLessThan(200);
    await boardStillServed();
  });

  it('publishes to $SYS topics are acknowledged, counted, and reach none of aedes: nobody is disconnected, nothing retained', async () => {
    const sys = [
      // What aedes listens to internally: close the named client; a broker is alive; a broker was born.
      { topic: '$SYS/another-broker/new/clients', payload: BOARD },
      { topic: '$SYS/another-broker/heartbeat', payload: 'another-broker' },
      { topic: '$SYS/another-broker/birth', payload: 'another-broker' },
      { topic: '$SYS/broker/uptime', payload: '0' },
    ];
    const before = school.intake.rejected.bad_topic;
    const sender = await device('sys-sender');
    for (const { topic, payload } of sys) {
      await sender.publishAsync(topic, payload, { qos: 1, retain: true });
      await boardStillServed();
    }
    // QoS 2 completes after aedes' publish of it: every $SYS message before it has been through too.
    await sender.publishAsync('$SYS/another-broker/new/clients', BOARD, { qos: 2, retain: true });
    await boardStillServed();
    expect(sender.connected).toBe(true);
    expect(school.intake.rejected.bad_topic - before).toBe(sys.length + 1);
    expect(school.retainedStored).toEqual([]);
  });
});
