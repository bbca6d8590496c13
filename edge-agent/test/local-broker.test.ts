/**
 * The school broker against a device that sends junk without end: the log and the maps
 * behind it stay bounded while every message is still counted, and nothing a device
 * publishes lands in aedes' retained store. Real sockets, a real aedes, a real intake; the
 * log throttle's clock is injected, so "within one interval" is a clock the test holds still.
 */
import { createConnection } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { localTopics } from '@schoolops/device-profiles';
import { BOARDS, boardState, closed, connectDevice, startSchoolBroker, waitFor, type SchoolBroker } from './local-broker-harness.ts';

let clock = 0;
let school: SchoolBroker;
const devices: MqttClient[] = [];

async function device(clientId: string): Promise<MqttClient> {
  const client = await connectDevice(school.broker.port, clientId);
  devices.push(client);
  return client;
}

const rejectionLines = () => school.logs.filter((line) => line.msg === 'device message rejected');

beforeAll(async () => {
  school = await startSchoolBroker({ now: () => clock });
});

afterEach(async () => {
  await Promise.all(devices.splice(0).map((client) => client.endAsync(true)));
});

afterAll(async () => {
  await school?.close();
});

describe('junk without end', () => {
  it('8 000 made-up topics and device ids from one device: every one counted, one log line per reason, bounded maps', async () => {
    const JUNK_TOPICS = 5_000;
    const GHOSTS = 3_000;
    const before = { ...school.intake.rejected };
    const linesBefore = rejectionLines().length;
    const junk = await device('junk-sender');
    for (let i = 0; i < JUNK_TOPICS; i++) junk.publish(`junk/${i}/state`, boardState(i), { qos: 0 });
    for (let i = 0; i < GHOSTS; i++) junk.publish(localTopics.deviceState(`ghost-${i}`), boardState(i), { qos: 0 });
    await waitFor(
      () =>
        school.intake.rejected.bad_topic - before.bad_topic === JUNK_TOPICS &&
        school.intake.rejected.unknown_device - before.unknown_device === GHOSTS,
      'every junk message to be counted',
    );

    // One line per reason for this device while the clock stands still; the rest counted as suppressed.
    // Each line says how many were held back since the line before it.
    const lines = rejectionLines().slice(linesBefore);
    expect(lines.map((line) => [line.reason, line.suppressedBefore])).toEqual([
      ['bad_topic', undefined],
      ['unknown_device', JUNK_TOPICS - 1],
    ]);
    expect(lines[0]).toMatchObject({ client: 'junk-sender', level: 40 });
    const stats = school.broker.stats();
    expect(stats.logLinesSuppressed).toBe(JUNK_TOPICS + GHOSTS - 2);
    expect(stats.logThrottleKeys).toBeLessThanOrEqual(2);
    // The intake's own per-subject log map (the one that grew by a key per junk topic) saw none of it.
    expect((school.intake as unknown as { lastLogged: Map<string, number> }).lastLogged.size).toBeLessThanOrEqual(BOARDS.length * 10);

    // The junk sender was acknowledged and kept, and a board is served as before.
    expect(junk.connected).toBe(true);
    const board = await device(BOARDS[0]);
    await board.publishAsync(localTopics.deviceState(BOARDS[0]), boardState(1), { qos: 1 });
    await waitFor(() => school.readings.some((r) => r.deviceId === BOARDS[0] && r.n === 1), 'the board reading');

    // An interval later the sender is named again, with how many lines were held back.
    clock += 10_000;
    await junk.publishAsync('junk/again', 'x', { qos: 1 });
    expect(rejectionLines().at(-1)).toMatchObject({ reason: 'bad_topic', client: 'junk-sender', suppressedBefore: GHOSTS - 1 });
  });

  it('many devices sending junk at once: at most 20 lines an interval in all, every message counted', async () => {
    clock += 10_000;
    const SENDERS = 60;
    const before = school.intake.rejected.bad_topic;
    const linesBefore = rejectionLines().length;
    const suppressedBefore = school.broker.stats().logLinesSuppressed;
    for (let i = 0; i < SENDERS; i++) {
      const sender = await device(`junk-${i}`);
      // A topic as long as the packet allows is clipped in the line it makes.
      await sender.publishAsync(`junk/${i}/${'x'.repeat(50_000)}`, 'x', { qos: 1 });
    }
    expect(school.intake.rejected.bad_topic - before).toBe(SENDERS);
    const lines = rejectionLines().slice(linesBefore);
    expect(lines).toHaveLength(20);
    expect(Math.max(...lines.map((line) => JSON.stringify(line).length))).toBeLessThan(2_000);
    expect(school.broker.stats().logLinesSuppressed - suppressedBefore).toBe(SENDERS - 20);
  });
});

describe('retained', () => {
  it('nothing a device publishes is retained, refused or not; the agent still reaches a device', async () => {
    const board = await device(BOARDS[1]);
    const commands: string[] = [];
    board.on('message', (_topic, payload) => commands.push(payload.toString()));
    await board.subscribeAsync(localTopics.deviceCommand(BOARDS[1]), { qos: 1 });
    const before = school.intake.rejected.bad_topic;
    // Refused but acknowledged (the device stays), each asking to be retained.
    await board.publishAsync('junk/retained', 'x', { qos: 1, retain: true });
    await board.publishAsync(localTopics.deviceState('ghost-retained'), boardState(1), { qos: 1, retain: true });
    await board.publishAsync(localTopics.deviceState(BOARDS[1]), '{"panel": {', { qos: 1, retain: true });
    await board.publishAsync('$SYS/retained', 'x', { qos: 1, retain: true });
    // Accepted, asking to be retained.
    await board.publishAsync(localTopics.deviceState(BOARDS[1]), boardState(7), { qos: 1, retain: true });
    // QoS 2 completes after aedes published the message: everything before it on this
    // connection has been through aedes' publish (and its retained store) by then.
    await board.publishAsync(localTopics.deviceState(BOARDS[1]), boardState(8), { qos: 2, retain: true });
    expect(school.intake.rejected.bad_topic - before).toBe(2);
    expect(school.readings.filter((r) => r.deviceId === BOARDS[1]).map((r) => r.n)).toEqual([7, 8]);
    // Refused and disconnected: commanding another device, retained.
    const rogue = await device('rogue');
    rogue.publish(localTopics.deviceCommand(BOARDS[1]), '{"name":"powerOff"}', { qos: 1, retain: true });
    await closed(rogue);

    expect(school.retainedStored).toEqual([]);
    // The agent's own command still reaches the board (and only the agent's).
    await school.broker.sendToDevice(BOARDS[1], Buffer.from('{"name":"powerOn"}'));
    await waitFor(() => commands.length > 0, 'the command at the board');
    expect(commands).toEqual(['{"name":"powerOn"}']);
  });
});

describe('a PUBLISH handled before its CONNECT (found by the fuzzing benchmark)', () => {
  it('is refused and counted; the gateway stays up and a device goes on reporting', async () => {
    // CONNECT (MQTT 3.1.1, clean, keepalive 60, id "repro") and, in the same write, a QoS 0
    // PUBLISH whose 65.6 KB payload ends past libuv's first 64 KiB read: aedes then hands the
    // PUBLISH over while the CONNECT is still pending (client.id null), which crashed the gateway.
    const connectPacket = Buffer.from([0x10, 0x11, 0x00, 0x04, ...Buffer.from('MQTT'), 0x04, 0x02, 0x00, 0x3c, 0x00, 0x05, ...Buffer.from('repro')]);
    const payload = Buffer.alloc(65_600, 0x61);
    const body = Buffer.concat([Buffer.from([0x00, 0x01, 0x78]), payload]);
    const length: number[] = [];
    for (let n = body.length; ; ) {
      const digit = n % 128;
      n = Math.floor(n / 128);
      length.push(n > 0 ? digit | 0x80 : digit);
      if (n === 0) break;
    }
    const publishPacket = Buffer.concat([Buffer.from([0x30, ...length]), body]);
    const before = school.broker.stats().refused.not_connected + school.intake.rejected.bad_topic;
    const socket = createConnection({ host: '127.0.0.1', port: school.broker.port });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(Buffer.concat([connectPacket, publishPacket]));
    // Refused as not yet connected, or (when both came in one read) as a topic no device has.
    await waitFor(() => school.broker.stats().refused.not_connected + school.intake.rejected.bad_topic > before, 'the early PUBLISH to be refused');
    socket.destroy();
    await ended;
    const board = await device(BOARDS[0]);
    const accepted = school.readings.length;
    await board.publishAsync(localTopics.deviceState(BOARDS[0]), boardState(1), { qos: 1 });
    await waitFor(() => school.readings.length > accepted, 'the board reading after the early PUBLISH');
  });
});
