/**
 * The gateway bounds what a device says about time and counting: a sample time outside the
 * window around the gateway's clock, or a counter no JS number holds exactly, is refused and
 * counted, and never becomes the mark later samples are held against. The intake and the
 * batcher get an injected clock; the whole agent runs on real MQTT (a bare aedes standing in
 * for the district, the agent's own school broker) with the real disk queue.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BUILTIN_PROFILES_DIR, TIME_WINDOWS, districtTopics, loadProfiles, localTopics, type Reading, type TelemetryBatch } from '@schoolops/device-profiles';
import { Batcher } from '../src/batcher.ts';
import { DeviceIntake } from '../src/device-intake.ts';
import { DiskOutbox } from '../src/outbox.ts';
import { parseEdgeConfig, startEdgeAgent } from '../src/index.ts';
import { waitFor } from '../../simulators/test/support/wait.ts';

const silent = pino({ level: 'silent' });
const DAY = 86_400_000;
/** The gateway clock of the unit tests: a fixed instant. */
const NOW = Date.UTC(2026, 11, 7, 2, 0, 0);

/** The lab controller as a vendor's MQTT model would be (the built-in one is read over OPC UA). */
const PROFILE_DIR = mkdtempSync(join(tmpdir(), 'edge-bounds-profiles-'));
const lab = loadProfiles([BUILTIN_PROFILES_DIR]).get('schoolops-lab-controller')!;
writeFileSync(join(PROFILE_DIR, 'mqtt-lab.json'), JSON.stringify({ ...lab, id: 'mqtt-lab', protocol: { type: 'mqtt' } }));
const profiles = loadProfiles([BUILTIN_PROFILES_DIR, PROFILE_DIR]);
const devices = [
  { id: 'lab1', profileId: 'mqtt-lab', roomId: 'lab' },
  // Publishes its own JSON: `time` is its sample time, `seq` its counter.
  { id: 'board1', profileId: 'promethean-activpanel-9', roomId: 'r101' },
  { id: 'proj1', profileId: 'epson-eb-x51', roomId: 'r101', address: { host: '127.0.0.1', port: 9 } },
];
const state = (body: unknown) => Buffer.from(JSON.stringify(body));

describe('device intake bounds', () => {
  it('refuses and counts sample times outside the window around its clock, and counters beyond a safe integer', () => {
    let now = NOW;
    const intake = new DeviceIntake(devices, profiles, silent, () => now);
    const lab1 = (body: unknown) => intake.accept('lab1', localTopics.deviceState('lab1'), state(body));
    const board = (body: unknown) => intake.accept('board1', localTopics.deviceState('board1'), state(body));
    const ahead = NOW + TIME_WINDOWS.device.futureMs;
    const oldest = NOW - TIME_WINDOWS.device.pastMs;

    expect(lab1({ ts: ahead, values: { humidity: 40 } }).ok).toBe(true);
    expect(lab1({ ts: oldest, values: { humidity: 40 } }).ok).toBe(true);
    expect(lab1({ ts: ahead + 1, values: { humidity: 40 } })).toMatchObject({ ok: false, reason: 'ts_out_of_window' });
    expect(lab1({ ts: 9e15, values: { humidity: 40 } })).toMatchObject({ ok: false, reason: 'ts_out_of_window', detail: expect.stringMatching(/ahead of the clock/) });
    expect(lab1({ ts: oldest - 1, values: { humidity: 40 } })).toMatchObject({ ok: false, reason: 'ts_out_of_window', detail: expect.stringMatching(/days old/) });
    expect(lab1({ ts: 1e300, values: { humidity: 40 } })).toMatchObject({ ok: false, reason: 'bad_schema', detail: expect.stringMatching(/^\/ts/) });
    expect(lab1({ values: { humidity: 40 }, n: 1e20 })).toMatchObject({ ok: false, reason: 'bad_schema', detail: expect.stringMatching(/^\/n/) });
    expect(lab1({ values: { 'Bad-Key': 1 } })).toMatchObject({ ok: false, reason: 'bad_schema' });
    // A device that sends no time gets the gateway's: always inside.
    expect(lab1({ values: { humidity: 41 } })).toMatchObject({ ok: true, reading: { ts: NOW } });

    // The same bounds for a device's own JSON, mapped by its profile.
    expect(board({ time: NOW - 1000, seq: 7, panel: { powerOn: true } })).toMatchObject({ ok: true, reading: { ts: NOW - 1000, n: 7 } });
    expect(board({ time: 9e15, seq: 8, panel: { powerOn: true } })).toMatchObject({ ok: false, reason: 'ts_out_of_window' });
    expect(board({ time: NOW, seq: 1e20, panel: { powerOn: true } })).toMatchObject({ ok: false, reason: 'bad_schema' });

    // And for values a driver read: its time is the gateway's, checked all the same.
    expect(intake.acceptValues('proj1', { lampHours: 10 }, NOW).ok).toBe(true);
    expect(intake.acceptValues('proj1', { lampHours: 10 }, NOW + DAY)).toMatchObject({ ok: false, reason: 'ts_out_of_window' });

    // The window moves with the clock.
    now += DAY;
    expect(lab1({ ts: NOW + DAY - 1000, values: { humidity: 40 } }).ok).toBe(true);

    expect(intake.rejected).toMatchObject({ ts_out_of_window: 5, bad_schema: 4 });
    expect(intake.accepted).toBe(6);
  });

  it('takes its window from its caller', () => {
    const intake = new DeviceIntake(devices, profiles, silent, () => NOW, { pastMs: 1000, futureMs: 0 });
    const lab1 = (ts: number) => intake.accept('lab1', localTopics.deviceState('lab1'), state({ ts, values: { humidity: 40 } }));
    expect(lab1(NOW).ok).toBe(true);
    expect(lab1(NOW + 1)).toMatchObject({ ok: false, reason: 'ts_out_of_window' });
    expect(lab1(NOW - 1001)).toMatchObject({ ok: false, reason: 'ts_out_of_window' });
  });
});

describe('batcher bounds', () => {
  it('forgets a far-future sample time an earlier agent stored, so the device is not silenced on every start', async () => {
    const outbox = await DiskOutbox.open({ dir: mkdtempSync(join(tmpdir(), 'edge-bounds-queue-')), quotaBytes: 10 * 1024 * 1024, logger: silent });
    try {
      // What an agent without the intake's bound put on disk: a sample stamped in the year 287 000.
      const poisoned: TelemetryBatch = {
        v: 1,
        gatewayId: 'gw-x',
        schoolId: 'x',
        bootId: 'boot-old-1',
        seq: 0,
        sentAt: NOW,
        readings: [
          { deviceId: 'lab1', ts: 9e15, values: { humidity: 40 } },
          { deviceId: 'lab2', ts: NOW - 5000, values: { humidity: 41 } },
        ],
      };
      await outbox.append(poisoned, false);
      let now = NOW;
      const batcher = new Batcher({
        gatewayId: 'gw-x',
        schoolId: 'x',
        bootId: 'boot-new-2',
        maxReadings: 10,
        maxDelayMs: 1,
        outbox,
        connected: () => true,
        onQueued: () => {},
        now: () => now,
      });
      const reading = (deviceId: string, ts: number): Reading => ({ deviceId, ts, values: { humidity: 42 } });
      expect(batcher.isRepeat(reading('lab1', NOW))).toBe(false);
      // A sensible remembered time still tells a resent sample.
      expect(batcher.isRepeat(reading('lab2', NOW - 5000))).toBe(true);
      expect(batcher.isRepeat(reading('lab2', NOW - 4999))).toBe(false);

      // Should a far-future reading reach the batcher another way, it does not become the mark either.
      await batcher.add(reading('lab3', NOW + DAY));
      expect(batcher.isRepeat(reading('lab3', NOW))).toBe(false);
      await batcher.add(reading('lab3', NOW));
      expect(batcher.isRepeat(reading('lab3', NOW))).toBe(true);
      await batcher.flush();
      now += 60_000;
      await batcher.add(reading('lab4', NOW));
      await batcher.flush();
      const sentAts = [...outbox.queued()].map((entry) => entry.batch.sentAt);
      expect(sentAts.at(-1)).toBe(NOW + 60_000); // stamped by the injected clock
    } finally {
      await outbox.close();
    }
  });
});

describe('edge agent with a device stamping the far future', () => {
  it('refuses the far-future sample, counts it, and forwards every later sample of the device', async () => {
    const broker = await Aedes.createBroker();
    const server = createServer(broker.handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const cloud = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: 'cloud' });
    const received: Reading[] = [];
    await cloud.subscribeAsync(districtTopics.telemetry('b'), { qos: 1 });
    cloud.on('message', (_topic, payload) => {
      const batch = JSON.parse(payload.toString()) as TelemetryBatch;
      received.push(...batch.readings);
      cloud.publish(districtTopics.ack('b'), JSON.stringify({ v: 1, gatewayId: batch.gatewayId, bootId: batch.bootId, seq: batch.seq, result: 'stored' }), { qos: 1 });
    });
    const agent = await startEdgeAgent(
      parseEdgeConfig({
        v: 1,
        gatewayId: 'gw-b',
        schoolId: 'b',
        district: { url: `mqtt://127.0.0.1:${port}`, username: 'gw-b', password: 'x' },
        local: { host: '127.0.0.1', port: 0 },
        dataDir: mkdtempSync(join(tmpdir(), 'edge-bounds-agent-')),
        devices: [{ id: 'lab1', profileId: 'mqtt-lab', roomId: 'lab' }],
        profileDirs: [PROFILE_DIR],
        batch: { maxReadings: 50, maxDelayMs: 10 },
      }),
      { logger: silent },
    );
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${agent.localPort}`, { protocolVersion: 4, clientId: 'lab1' });
    try {
      const t0 = Date.now() - 60_000;
      await device.publishAsync(localTopics.deviceState('lab1'), JSON.stringify({ ts: t0, values: { humidity: 40 }, n: 1 }), { qos: 1 });
      await device.publishAsync(localTopics.deviceState('lab1'), JSON.stringify({ ts: 9e15, values: { humidity: 99 }, n: 2 }), { qos: 1 });
      for (let n = 3; n <= 5; n++) await device.publishAsync(localTopics.deviceState('lab1'), JSON.stringify({ ts: t0 + n, values: { humidity: 40 + n }, n }), { qos: 1 });
      // Each PUBACK came once its sample was handled (on disk, or refused): wait for the queue to drain.
      await waitFor(() => agent.outbox.size.readings === 0 && received.length > 0, 'the queue to drain to the district');
      expect(received.map((r) => r.n)).toEqual([1, 3, 4, 5]);
      expect(agent.repeats()).toBe(0);
      expect(agent.intake.rejected.ts_out_of_window).toBe(1);
    } finally {
      await device.endAsync();
      await agent.close();
      await cloud.endAsync();
      await new Promise<void>((r) => broker.close(() => r()));
      server.close();
    }
  });
});
