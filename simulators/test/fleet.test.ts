import net, { type AddressInfo, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { checkValues, loadProfiles, localTopics, parseLocalStateTopic, type Reading, type School } from '@schoolops/device-profiles';
import { DeviceIntake } from '@schoolops/edge-agent';
import { classById, currentLesson, generateDistrict } from '../src/district/index.ts';
import { isServed, startSchoolDevices, type FleetLogger, type SchoolDevices } from '../src/devices/index.ts';

const profiles = loadProfiles();
const district = generateDistrict({ seed: 9, schools: 3 });
/** The smallest school keeps the test light: still 60-odd devices, each its own client. */
const school: School = district.schools.reduce((a, b) => (b.devices.length < a.devices.length ? b : a));
/** Devices that publish over MQTT themselves; the others are served through their own protocol. */
const publishing = school.devices.filter((d) => !isServed(profiles.get(d.profileId)!));
const served = school.devices.filter((d) => isServed(profiles.get(d.profileId)!));

/** Read a device's message as the gateway does (its own JSON through the profile's map, or ours). */
const intake = new DeviceIntake(school.devices, profiles, pino({ level: 'silent' }));
function readingOf(topic: string, payload: Uint8Array): Reading | string {
  const result = intake.accept(parseLocalStateTopic(topic), topic, payload);
  return result.ok ? result.reading : `${topic}: ${result.reason} ${result.detail}`;
}

interface TestBroker {
  port: number;
  broker: Aedes;
  close(): Promise<void>;
}

/** A real aedes broker on an ephemeral port (never 1883: a Mosquitto runs there). */
async function startBroker(port = 0): Promise<TestBroker> {
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server = net.createServer(broker.handle);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    broker,
    close: async () => {
      // Like a gateway process dying: connections cut, no goodbyes.
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const quiet = (): FleetLogger & { lines: string[] } => {
  const lines: string[] = [];
  const log = (obj: object, msg?: string) => void lines.push(`${msg ?? ''} ${JSON.stringify(obj)}`);
  return { lines, debug: () => {}, info: log, warn: log, error: log };
};

/** Wait for a condition (never for a guess of how long it takes); the deadline only names what never came. */
async function until(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('startSchoolDevices', () => {
  it('publishes valid samples from every device of a school, counted exactly', async () => {
    const b = await startBroker();
    cleanups.push(b.close);
    // A subscriber as the gateway would see the devices.
    const subscriber = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.port}`, { protocolVersion: 4, clientId: 'test-subscriber' });
    cleanups.push(() => subscriber.endAsync());
    await subscriber.subscribeAsync(localTopics.allDeviceState, { qos: 1 });
    const received = new Map<string, number[]>();
    const problems: string[] = [];
    subscriber.on('message', (topic, payload) => {
      const reading = readingOf(topic, payload);
      if (typeof reading === 'string') return void problems.push(reading);
      if (!(reading.ts > Date.now() - 60_000)) problems.push(`${reading.deviceId}: ts ${reading.ts}`);
      received.set(reading.deviceId, [...(received.get(reading.deviceId) ?? []), reading.n!]);
    });

    const logger = quiet();
    const devices: SchoolDevices = await startSchoolDevices({
      school,
      profiles,
      brokerUrl: `mqtt://127.0.0.1:${b.port}`,
      seed: 1,
      intervalMs: 200,
      logger,
    });
    cleanups.push(() => devices.stop());

    const ids = publishing.map((d) => d.id);
    expect(ids.length).toBeGreaterThan(5);
    await until('three samples from every device', () => ids.every((id) => (received.get(id)?.length ?? 0) >= 3));
    // Devices are their own MQTT clients, each under its own id.
    expect(b.broker.connectedClients).toBe(ids.length + 1);
    await devices.stop();

    const published = devices.published();
    expect([...published.keys()].sort()).toEqual([...ids].sort());
    // stop() waits for PUBACKs, so the broker has every counted sample; give the subscriber a moment.
    await until('every published sample at the subscriber', () => ids.every((id) => (received.get(id)?.length ?? 0) >= published.get(id)!));
    expect(problems).toEqual([]);
    for (const id of ids) {
      const count = published.get(id)!;
      expect(count, id).toBeGreaterThanOrEqual(3);
      // n runs 1..count: nothing lost, nothing duplicated, in order.
      expect(received.get(id), id).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    }
    expect(devices.acknowledged()).toEqual(published);
    // Stopped means stopped: no more clients (none left to publish), and nothing counted
    // after stop() returned.
    await until('devices disconnected', () => b.broker.connectedClients === 1);
    expect(devices.published()).toEqual(published);
    expect([...received.values()].reduce((sum, ns) => sum + ns.length, 0)).toBe([...published.values()].reduce((sum, n) => sum + n, 0));
    expect(logger.lines.filter((l) => l.includes('does not fit'))).toEqual([]);
  });

  it('starts devices at scattered offsets rather than in lockstep', async () => {
    const b = await startBroker();
    cleanups.push(b.close);
    // Sample times as the devices stamped them: arrival times would show when each client
    // connected (a loaded machine connects thirty clients in a bunch), not when it sampled.
    const firsts = new Map<string, number>();
    const everyBoard = new DeviceIntake(district.schools.flatMap((x) => x.devices), profiles, pino({ level: 'silent' }));
    b.broker.on('publish', (packet, client) => {
      const result = client ? everyBoard.accept(parseLocalStateTopic(packet.topic), packet.topic, packet.payload as Buffer) : null;
      if (result?.ok && !firsts.has(result.reading.deviceId)) firsts.set(result.reading.deviceId, result.reading.ts);
    });
    // Every school's boards (the MQTT publishers), so there are enough to see a spread.
    const offsets = new Map<string, number>();
    const startedAt = new Map<string, number>();
    for (const [i, each] of district.schools.entries()) {
      const t0 = Date.now();
      const devices = await startSchoolDevices({ school: each, profiles, brokerUrl: `mqtt://127.0.0.1:${b.port}`, seed: 2 + i, intervalMs: 1000, logger: quiet() });
      cleanups.push(() => devices.stop());
      for (const [id, offset] of devices.firstSampleOffsets()) {
        offsets.set(id, offset);
        startedAt.set(id, t0);
      }
    }
    expect(offsets.size).toBeGreaterThan(20);
    // The offsets (seeded, so the same every run) spread over most of the 1 s interval, not
    // bunched in one instant. (When the samples arrive is up to how busy the machine is.)
    const sorted = [...offsets.values()].sort((x, y) => x - y);
    expect(sorted.at(-1)! - sorted[0]!).toBeGreaterThan(500);
    const perTenth = new Map<number, number>();
    for (const t of sorted) perTenth.set(Math.floor(t / 100), (perTenth.get(Math.floor(t / 100)) ?? 0) + 1);
    expect(Math.max(...perTenth.values())).toBeLessThan(sorted.length / 3);
    // ... and each device went by its own: none sampled before its offset had passed (a timer
    // never fires early; the clock counts whole milliseconds).
    await until('a first sample from every device', () => firsts.size === offsets.size);
    for (const [id, offset] of offsets) expect(firsts.get(id)! - startedAt.get(id)!, id).toBeGreaterThanOrEqual(offset - 1);
  });

  it('follows the timetable of the given clock', async () => {
    const b = await startBroker();
    cleanups.push(b.close);
    // Monday 09:00 in Ho Chi Minh City: period 3.
    const at = new Date('2025-03-10T02:00:00Z');
    const latest = new Map<string, Reading>();
    b.broker.on('publish', (packet, client) => {
      const reading = client ? readingOf(packet.topic, packet.payload as Buffer) : null;
      if (reading && typeof reading !== 'string') latest.set(reading.deviceId, reading);
    });
    const started = Date.now();
    const devices = await startSchoolDevices({ school, profiles, brokerUrl: `mqtt://127.0.0.1:${b.port}`, seed: 3, intervalMs: 200, clock: () => at, logger: quiet() });
    cleanups.push(() => devices.stop());
    await until('a sample from every device', () => latest.size === publishing.length);
    // Boards behave as in a lesson (the session flag follows the timetable), and stamp their
    // readings with the real time, as a device's own clock would ...
    for (const board of publishing) expect(latest.get(board.id)!.ts).toSatisfy((ts: number) => ts >= started && ts <= Date.now());
    expect(publishing.some((d) => latest.get(d.id)!.values.sessionActive === true)).toBe(true);
    // ... and the cameras' true headcounts (what their snapshots show) follow it too.
    let lessons = 0;
    for (const device of school.devices.filter((d) => d.profileId === 'hikvision-ds-2cd2143')) {
      const values = devices.served.get(device.id)!.read();
      const lesson = currentLesson(school, device.roomId, at);
      const headcount = values.headcount as number;
      if (lesson) {
        const enrolment = classById(school, lesson.classId)!.enrolment;
        expect(values).toMatchObject({ classId: lesson.classId, period: lesson.period, enrolled: enrolment });
        expect(headcount, device.id).toBeGreaterThanOrEqual(enrolment - 7);
        expect(headcount, device.id).toBeLessThanOrEqual(enrolment + 2);
        lessons++;
      } else expect(headcount, device.id).toBeLessThanOrEqual(2);
    }
    expect(lessons).toBeGreaterThan(5);
  });

  it('keeps publishing across a gateway restart, every counted sample arriving', async () => {
    let b = await startBroker();
    const port = b.port;
    const seen = new Map<string, Set<number>>();
    let duplicates = 0;
    const watch = (broker: Aedes) =>
      broker.on('publish', (packet, client) => {
        const reading = client ? readingOf(packet.topic, packet.payload as Buffer) : null;
        if (!reading || typeof reading === 'string') return;
        const ns = seen.get(reading.deviceId) ?? new Set<number>();
        if (ns.has(reading.n!)) duplicates++;
        ns.add(reading.n!);
        seen.set(reading.deviceId, ns);
      });
    watch(b.broker);
    const logger = quiet();
    const devices = await startSchoolDevices({ school, profiles, brokerUrl: `mqtt://127.0.0.1:${port}`, seed: 4, intervalMs: 200, logger });
    cleanups.push(() => devices.stop());
    const ids = publishing.map((d) => d.id);
    await until('samples from every device', () => ids.every((id) => (seen.get(id)?.size ?? 0) >= 2));

    await b.close();
    const atRestart = devices.published();
    // The gateway is down while every device takes two more samples.
    await until('two samples from every device with the gateway down', () => ids.every((id) => devices.published().get(id)! >= atRestart.get(id)! + 2));
    b = await startBroker(port);
    cleanups.push(b.close);
    watch(b.broker);
    await until('every device publishing after the restart', () =>
      ids.every((id) => Math.max(...(seen.get(id) ?? [0])) > atRestart.get(id)! + 2),
    );
    await devices.stop();

    const published = devices.published();
    for (const id of ids) {
      const count = published.get(id)!;
      const missing = Array.from({ length: count }, (_, i) => i + 1).filter((n) => !seen.get(id)!.has(n));
      expect(missing, id).toEqual([]);
      expect(seen.get(id)!.size, id).toBe(count);
    }
    expect(devices.acknowledged()).toEqual(published);
    expect(logger.lines.some((l) => l.includes('lost the gateway'))).toBe(true);
    expect(logger.lines.some((l) => l.includes('reconnected'))).toBe(true);
    // Re-sent after a lost PUBACK: allowed by QoS 1, and rare.
    expect(duplicates).toBeLessThan(ids.length);
  });

  it('serves protocol devices on request instead of publishing them', async () => {
    const b = await startBroker();
    cleanups.push(b.close);
    let at = new Date('2025-03-10T02:00:00Z');
    const devices = await startSchoolDevices({ school, profiles, brokerUrl: `mqtt://127.0.0.1:${b.port}`, seed: 5, intervalMs: 200, clock: () => at, logger: quiet() });
    cleanups.push(() => devices.stop());
    expect([...devices.served.keys()].sort()).toEqual(served.map((d) => d.id).sort());
    expect(new Set(served.map((d) => profiles.get(d.profileId)!.protocol.type))).toEqual(new Set(['pjlink', 'snmp', 'probe', 'opcua', 'http-snapshot']));
    await until('publishing devices connected', () => b.broker.connectedClients === publishing.length);
    for (const device of devices.served.values()) {
      const values = device.read();
      expect(checkValues(device.profile, values), device.record.id).toBeNull();
      expect(Object.keys(values).length, device.record.id).toBeGreaterThan(0);
    }
    // One protocol poll asks many times: within a second the answer is the same sample.
    const router = [...devices.served.values()].find((d) => d.profile.protocol.type === 'snmp')!;
    const first = router.read();
    expect(router.read()).toEqual(first);
    at = new Date(at.getTime() + 60_000);
    expect(router.read().uptimeS).toBeGreaterThan(first.uptimeS as number);
    expect([...devices.published().keys()].sort()).toEqual(publishing.map((d) => d.id).sort());
  });

  it('refuses a school whose devices name unknown profiles', async () => {
    const broken: School = { ...school, devices: [{ ...school.devices[0]!, profileId: 'no-such-profile' }] };
    await expect(startSchoolDevices({ school: broken, profiles, brokerUrl: 'mqtt://127.0.0.1:9', seed: 1, logger: quiet() })).rejects.toThrow(/no-such-profile/);
  });
});
