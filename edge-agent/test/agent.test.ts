import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GatewayEvent,
  GatewayHealth,
  BUILTIN_PROFILES_DIR,
  GatewayStatus,
  TelemetryBatch,
  check,
  loadProfiles,
  districtTopics,
  localTopics,
  type Reading,
  type TelemetryBatch as TelemetryBatchBody,
} from '@schoolops/device-profiles';
import { parseEdgeConfig, startEdgeAgent, type EdgeAgent } from '../src/index.ts';
import { DiskOutbox } from '../src/outbox.ts';
import { Uplink } from '../src/uplink.ts';
import { waitFor as waitUntil } from '../../simulators/test/support/wait.ts';

/**
 * The agent's MQTT path is tested with MQTT-native variants of the projector and the lab
 * (the real ones are read through PJLink and OPC UA drivers, and a message in their name is
 * refused): the same metrics and rules, protocol "mqtt", as a vendor's MQTT model would be.
 */
const PROFILE_DIR = mkdtempSync(join(tmpdir(), 'edge-profiles-'));
for (const [builtin, id] of [
  ['epson-eb-x51', 'mqtt-projector'],
  ['schoolops-lab-controller', 'mqtt-lab'],
] as const) {
  const profile = loadProfiles([BUILTIN_PROFILES_DIR]).get(builtin)!;
  writeFileSync(join(PROFILE_DIR, `${id}.json`), JSON.stringify({ ...profile, id, protocol: { type: 'mqtt' } }));
}

const silent = pino({ level: 'silent' });
const SCHOOL = 'thcs-test';
/** Device sample times of this file start here: an hour before it ran, inside the gateway's window of device times. */
const T0 = Date.now() - 3_600_000;

/** A bare aedes standing in for the district broker: this file tests the agent, not the ACL. */
async function startPlainBroker(): Promise<{ port: number; server: Server; broker: Aedes }> {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server, broker };
}

function connect(port: number, clientId: string): Promise<MqttClient> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId, protocolVersion: 4, reconnectPeriod: 200 });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

/** Polls until the probe returns something; the shared deadline only turns a hang into a message. */
function waitFor<T>(probe: () => T | undefined | false, what: string): Promise<T> {
  return waitUntil(probe, what, { everyMs: 25 });
}

describe('edge agent', () => {
  let district: Awaited<ReturnType<typeof startPlainBroker>>;
  let agent: EdgeAgent;
  let cloud: MqttClient;
  const batches: TelemetryBatch[] = [];
  const statuses: GatewayStatus[] = [];
  const healths: GatewayHealth[] = [];
  const events: (GatewayEvent | null)[] = [];
  const received = (): Reading[] => batches.flatMap((b) => b.readings);

  beforeAll(async () => {
    district = await startPlainBroker();
    cloud = await connect(district.port, 'cloud');
    await cloud.subscribeAsync(districtTopics.allUplink, { qos: 1 });
    cloud.on('message', (topic, payload) => {
      const body = JSON.parse(payload.toString());
      if (topic === districtTopics.telemetry(SCHOOL)) {
        const batch = check(TelemetryBatch, body);
        if (!batch.ok) throw new Error(`agent sent an invalid batch: ${batch.path} ${batch.message}`);
        batches.push(batch.value);
        // Play the district: confirm the batch is stored, so the gateway may delete it.
        const { gatewayId, bootId, seq } = batch.value;
        cloud.publish(districtTopics.ack(SCHOOL), JSON.stringify({ v: 1, gatewayId, bootId, seq, result: 'stored' }), { qos: 1 });
      } else if (topic === districtTopics.status(SCHOOL)) statuses.push(check(GatewayStatus, body).ok ? body : null);
      else if (topic === districtTopics.health(SCHOOL)) healths.push(check(GatewayHealth, body).ok ? body : null);
      else if (topic === districtTopics.event(SCHOOL)) events.push(check(GatewayEvent, body).ok ? body : null);
    });
    const config = parseEdgeConfig({
      v: 1,
      gatewayId: `gw-${SCHOOL}`,
      schoolId: SCHOOL,
      district: { url: `mqtt://127.0.0.1:${district.port}`, username: `gw-${SCHOOL}`, password: 'not-checked-here' },
      local: { host: '127.0.0.1', port: 0 },
      dataDir: mkdtempSync(join(tmpdir(), 'edge-queue-')),
      devices: [
        { id: 'p101', profileId: 'mqtt-projector', roomId: 'r101' },
        { id: 'lab1', profileId: 'mqtt-lab', roomId: 'lab-hoa' },
        // Read by the PJLink driver (nothing listens at this address): MQTT in its name is refused.
        { id: 'p102', profileId: 'epson-eb-x51', roomId: 'r102', address: { host: '127.0.0.1', port: 9 } },
      ],
      profileDirs: [PROFILE_DIR],
      batch: { maxReadings: 50, maxDelayMs: 20 },
      healthIntervalMs: 1000,
    });
    agent = await startEdgeAgent(config, { logger: silent });
  });

  afterAll(async () => {
    await agent?.close();
    await cloud?.endAsync();
    await new Promise<void>((r) => district.broker.close(() => r()));
    district.server.close();
  });

  it('announces itself online with a retained status', async () => {
    const online = await waitFor(() => statuses.find((s) => s?.state === 'online'), 'online status');
    expect(online).toMatchObject({ gatewayId: `gw-${SCHOOL}`, schoolId: SCHOOL, bootId: agent.bootId, deviceCount: 3 });
  });

  it('forwards valid readings in sequenced batches', async () => {
    const device = await connect(agent.localPort, 'p101');
    for (let n = 1; n <= 120; n++)
      await device.publishAsync(localTopics.deviceState('p101'), JSON.stringify({ ts: T0 + n, values: { lampHours: n, power: 'on' }, n }), { qos: 1 });
    await device.endAsync();
    await waitFor(() => received().filter((r) => r.deviceId === 'p101').length >= 120, '120 readings');
    const mine = received().filter((r) => r.deviceId === 'p101');
    expect(mine.map((r) => r.n)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(mine[0]).toEqual({ deviceId: 'p101', ts: T0 + 1, values: { lampHours: 1, power: 'on' }, n: 1 });
    const seqs = batches.map((b) => b.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i)); // 0,1,2,... with no gap or repeat
    expect(new Set(batches.map((b) => b.bootId))).toEqual(new Set([agent.bootId]));
    expect(Math.max(...batches.map((b) => b.readings.length))).toBeLessThanOrEqual(50);
  });

  it('rejects each kind of bad device input with a counted reason, and loses nothing else', async () => {
    const before = received().length;
    const device = await connect(agent.localPort, 'lab1');
    const good = (n: number) => JSON.stringify({ values: { roomTemperature: 24.5, printerState: 'idle' }, n });
    const bad: Array<[string, string | Buffer]> = [
      [localTopics.deviceState('lab1'), '{"values": {"roomTemperature": 24'], // malformed JSON
      [localTopics.deviceState('lab1'), JSON.stringify({ value: { roomTemperature: 20 } })], // schema
      [localTopics.deviceState('ghost'), good(0)], // unknown device
      [localTopics.deviceState('lab1'), JSON.stringify({ values: { roomTemperature: 'warm' } })], // wrong type
      [localTopics.deviceState('lab1'), JSON.stringify({ values: { humidity: 140 } })], // out of range
      [localTopics.deviceState('lab1'), JSON.stringify({ values: { printerState: 'melting' } })], // enum out of range
      [localTopics.deviceState('lab1'), JSON.stringify({ values: { voltage: 3 } })], // unknown metric
      [localTopics.deviceState('lab1'), JSON.stringify({ ts: 9e15, values: { roomTemperature: 20 } })], // far ahead of the gateway's clock
      [localTopics.deviceState('lab1'), Buffer.alloc(64 * 1024, 0x20)], // oversized
      [localTopics.deviceState('p102'), good(0)], // a device the gateway reads over PJLink
      ['school/elsewhere/state', good(0)], // outside the namespace
    ];
    let n = 0;
    for (const [topic, payload] of bad) {
      await device.publishAsync(localTopics.deviceState('lab1'), good(++n), { qos: 1 });
      await device.publishAsync(topic, payload, { qos: 1 });
    }
    await device.publishAsync(localTopics.deviceState('lab1'), good(++n), { qos: 1 });
    await waitFor(() => received().length - before >= n, `${n} good readings`);
    expect(received().filter((r) => r.deviceId === 'lab1').map((r) => r.n)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(device.connected).toBe(true); // the device was not thrown off for its bad messages
    await device.endAsync();
    expect(agent.intake.rejected).toEqual({
      malformed_json: 1,
      bad_schema: 1,
      unknown_device: 1,
      wrong_type: 1,
      out_of_range: 2,
      unknown_metric: 1,
      oversized: 1,
      bad_topic: 1,
      wrong_protocol: 1,
      ts_out_of_window: 1,
    });
  });

  it('reports its rejections to the district in its health message', async () => {
    // A report taken while a batch awaits the district's ack shows it queued: wait for an idle one.
    const health = await waitFor(() => healths.filter(Boolean).find((h) => h.rejected.bad_topic === 1 && h.rejected.out_of_range === 2 && h.queueDepth === 0 && h.devicesWithProblems?.unreachable === 1), 'health');
    expect(health).toMatchObject({ devicesConfigured: 3, devicesReporting: 2, queueDepth: 0, devicesWithProblems: { unreachable: 1, faulty: 0 } });
    expect(health.accepted).toBeGreaterThanOrEqual(130);
  });

  it('tells the district, once, that a device its driver cannot reach is unreachable, and why', async () => {
    const event = await waitFor(() => events.find((e) => e?.type === 'device-status'), 'a device-status event');
    expect(event).toMatchObject({ type: 'device-status', deviceId: 'p102', state: 'unreachable', reason: 'refused', bootId: agent.bootId });
    expect(events.filter((e) => e?.type === 'device-status' && e.eventId !== event.eventId)).toEqual([]);
  });

  it('refuses a device publishing commands, and lets a device hear only its own commands', async () => {
    const spy = await connect(agent.localPort, 'lab1');
    // mqtt.js turns a refused subscription (granted QoS 128) into a rejected promise.
    await expect(spy.subscribeAsync(localTopics.deviceCommand('p101'), { qos: 1 })).rejects.toThrow(/Subscribe error/);
    expect(agent.intake.rejected.bad_topic).toBe(2);
    const closed = new Promise<void>((resolve) => spy.once('close', () => resolve()));
    spy.publish(localTopics.deviceCommand('p101'), '{}', { qos: 1 });
    await closed;
    spy.end(true);
    expect(agent.intake.rejected.bad_topic).toBe(3);
  });

  it('announces itself offline when it stops', async () => {
    await agent.close();
    const last = await waitFor(() => statuses.findLast((s) => s?.bootId === agent.bootId && s.state === 'offline'), 'offline status');
    expect(last.state).toBe('offline');
  });
});

describe('edge agent config', () => {
  const base = {
    v: 1,
    gatewayId: 'gw-a',
    schoolId: 'a',
    district: { url: 'mqtt://127.0.0.1:1', username: 'gw-a', password: 'x' },
    local: { host: '127.0.0.1', port: 0 },
    devices: [],
    dataDir: '/tmp/q',
  };
  it('names the offending field of a bad config', () => {
    expect(() => parseEdgeConfig({ ...base, district: { ...base.district, url: 'http://x' } }, 'gw.json')).toThrow(
      /gw\.json: \/district\/url: must match pattern/,
    );
    expect(() => parseEdgeConfig({ ...base, district: { url: 'mqtt://x:1', username: 'u' } }, 'gw.json')).toThrow(
      /needs password or passwordFile/,
    );
    const twice = { id: 'd1', profileId: 'epson-eb-x51', roomId: 'r' };
    expect(() => parseEdgeConfig({ ...base, devices: [twice, twice] }, 'gw.json')).toThrow(/\/devices\/1\/id: duplicate device id "d1"/);
  });
});

describe('edge agent disk queue', () => {
  it('keeps unconfirmed batches across a restart and knows a device resending what it stored', async () => {
    const district = await startPlainBroker(); // nobody confirms anything: the queue only grows
    const dataDir = mkdtempSync(join(tmpdir(), 'edge-queue-'));
    const config = parseEdgeConfig({
      v: 1,
      gatewayId: 'gw-q',
      schoolId: 'q',
      district: { url: `mqtt://127.0.0.1:${district.port}`, username: 'gw-q', password: 'x' },
      local: { host: '127.0.0.1', port: 0 },
      dataDir,
      devices: [{ id: 'q.lab', profileId: 'mqtt-lab', roomId: 'lab' }],
      profileDirs: [PROFILE_DIR],
      batch: { maxReadings: 50, maxDelayMs: 10 },
    });
    const sample = (n: number) => JSON.stringify({ ts: T0 + n, values: { humidity: 40 + n }, n });
    try {
      const first = await startEdgeAgent(config, { logger: silent });
      const device = await connect(first.localPort, 'q.lab');
      for (let n = 1; n <= 3; n++) await device.publishAsync(localTopics.deviceState('q.lab'), sample(n), { qos: 1 });
      await device.endAsync();
      expect(first.outbox.size.readings).toBe(3); // each PUBACK came after its reading was on disk
      await first.close();

      const second = await startEdgeAgent(config, { logger: silent });
      expect(second.outbox.size.readings).toBe(3);
      expect([...second.outbox.queued()].every((entry) => entry.backlog)).toBe(true);
      const again = await connect(second.localPort, 'q.lab');
      await again.publishAsync(localTopics.deviceState('q.lab'), sample(3), { qos: 1 }); // a resend
      await again.publishAsync(localTopics.deviceState('q.lab'), sample(4), { qos: 1 });
      await again.endAsync();
      expect(second.repeats()).toBe(1);
      expect(second.outbox.size.readings).toBe(4);
      await second.close();
    } finally {
      await new Promise<void>((r) => district.broker.close(() => r()));
      district.server.close();
    }
  });
});

describe('edge agent backfill', () => {
  it('sends live data ahead of the backlog, replays the backlog in order, and flags it historical', async () => {
    // The district is down when the gateway starts: everything it accepts is backlog.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    // Batches unconfirmed at once (the default, named here because the test counts on it). The
    // backfill budget is the default's too, ample for this backlog: here only the window holds
    // batches back (the budget's pace is tested on a clock of its own below).
    const WINDOW = 8;
    const agent = await startEdgeAgent(
      parseEdgeConfig({
        v: 1,
        gatewayId: 'gw-bf',
        schoolId: 'bf',
        district: { url: `mqtt://127.0.0.1:${port}`, username: 'gw-bf', password: 'x' },
        local: { host: '127.0.0.1', port: 0 },
        dataDir: mkdtempSync(join(tmpdir(), 'edge-queue-')),
        devices: [{ id: 'bf.lab', profileId: 'mqtt-lab', roomId: 'lab' }],
        profileDirs: [PROFILE_DIR],
        batch: { maxReadings: 1, maxDelayMs: 5 },
        // Nothing is sent again for want of a confirmation while the district holds them back below.
        queue: { window: WINDOW, ackTimeoutMs: 3_600_000 },
      }),
      { logger: silent },
    );
    const device = await connect(agent.localPort, 'bf.lab');
    const t0 = T0;
    for (let n = 1; n <= 40; n++)
      await device.publishAsync(localTopics.deviceState('bf.lab'), JSON.stringify({ ts: t0 + n, values: { humidity: 50 }, n }), { qos: 1 });
    expect(agent.outbox.backlogReadings()).toBe(40);

    // The district comes back, and plays the cloud: records arrival order, and confirms each
    // batch, but holds its confirmations back until the test lets them go.
    const broker = await Aedes.createBroker();
    const server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const arrived: Array<{ n: number; hist: boolean }> = [];
    const held: TelemetryBatchBody[] = [];
    let holding = true;
    const cloud = await connect(port, 'cloud-bf');
    const confirm = (batch: TelemetryBatchBody) =>
      cloud.publish(districtTopics.ack('bf'), JSON.stringify({ v: 1, gatewayId: 'gw-bf', bootId: batch.bootId, seq: batch.seq, result: 'stored' }), { qos: 1 });
    await cloud.subscribeAsync(districtTopics.telemetry('bf'), { qos: 1 });
    cloud.on('message', (_topic, payload) => {
      const batch = JSON.parse(payload.toString()) as TelemetryBatchBody;
      for (const r of batch.readings) arrived.push({ n: r.n!, hist: r.hist === true });
      if (holding) held.push(batch);
      else confirm(batch);
    });
    await waitFor(() => agent.uplink.connected, 'the gateway to reconnect');
    try {
      // A window of backlog goes out; unconfirmed, it holds everything else back.
      await waitFor(() => arrived.length >= WINDOW, 'a window of backlog batches');
      await device.publishAsync(localTopics.deviceState('bf.lab'), JSON.stringify({ ts: t0 + 1000, values: { humidity: 51 }, n: 41 }), { qos: 1 });
      await waitFor(() => [...agent.outbox.queued()].some((entry) => !entry.backlog), 'the live batch in the queue');
      expect(arrived.map((a) => a.n)).toEqual(Array.from({ length: WINDOW }, (_, i) => i + 1));

      // The district confirms: the first slot to come free carries the live reading, ahead of
      // the backlog still queued, which then drains in order.
      holding = false;
      for (const batch of held.splice(0)) confirm(batch);
      await waitFor(() => arrived.length >= 41, 'all 41 readings');
      expect(arrived.map((a) => a.n)).toEqual([
        ...Array.from({ length: WINDOW }, (_, i) => i + 1),
        41,
        ...Array.from({ length: 40 - WINDOW }, (_, i) => WINDOW + i + 1),
      ]);
      expect(arrived.find((a) => a.n === 41)!.hist).toBe(false);
      expect(arrived.filter((a) => a.n <= 40).every((a) => a.hist)).toBe(true);
      await waitFor(() => agent.outbox.size.readings === 0, 'the queue to empty');
    } finally {
      await device.endAsync();
      await agent.close();
      await cloud.endAsync();
      await new Promise<void>((r) => broker.close(() => r()));
      server.close();
    }
  }, 60_000);

  it("drains the backlog at its budget's pace by the uplink's clock, and banks no more than a second of it", async () => {
    const district = await startPlainBroker();
    const dir = mkdtempSync(join(tmpdir(), 'edge-queue-'));
    const outbox = await DiskOutbox.open({ dir, quotaBytes: 64 * 1024 * 1024, logger: silent });
    // Batches of exactly 300 bytes at 1,500 bytes/s: five batches per second of budget.
    const BYTES = 300;
    const batchOf = (seq: number): TelemetryBatchBody => {
      const batch: TelemetryBatchBody = { v: 1, gatewayId: 'gw-bb', schoolId: 'bb', bootId: 'boot-budget', seq, sentAt: 0, readings: [{ deviceId: 'bb.lab', ts: t0 + seq, values: { note: '' } }] };
      batch.readings[0]!.values.note = 'x'.repeat(BYTES - JSON.stringify(batch).length);
      return batch;
    };
    const t0 = T0;
    const BACKLOG = 20;
    for (let seq = 0; seq < BACKLOG; seq++) expect((await outbox.append(batchOf(seq), true)).bytes).toBe(BYTES);

    // The district, confirming every batch at once: the window never holds anything back.
    const arrived: number[] = [];
    const cloud = await connect(district.port, 'cloud-bb');
    await cloud.subscribeAsync(districtTopics.telemetry('bb'), { qos: 1 });
    cloud.on('message', (_topic, payload) => {
      const batch = JSON.parse(payload.toString()) as TelemetryBatchBody;
      arrived.push(batch.seq);
      cloud.publish(districtTopics.ack('bb'), JSON.stringify({ v: 1, gatewayId: 'gw-bb', bootId: batch.bootId, seq: batch.seq, result: 'stored' }), { qos: 1 });
    });
    let now = t0; // the uplink's clock: it moves only when the test moves it
    const uplink = new Uplink({
      gatewayId: 'gw-bb',
      schoolId: 'bb',
      bootId: 'boot-budget',
      url: `mqtt://127.0.0.1:${district.port}`,
      username: 'gw-bb',
      password: 'x',
      outbox,
      backfill: { uplinkBps: 8 * 1500, share: 1 },
      window: 1000,
      ackTimeoutMs: 3_600_000,
      deviceCount: 1,
      agentVersion: 'test',
      logger: silent,
      onCommand: () => {},
      now: () => now,
    });
    const backlog = () => arrived.filter((seq) => seq < BACKLOG);
    let live = 1000;
    /**
     * What the budget let out so far. A live batch goes ahead of backlog at once; once it has
     * arrived, any backlog the budget allowed has arrived too (the clock did not move since
     * the backlog last went, so a batch more would have gone with it, before this one).
     */
    const sentSoFar = async () => {
      const seq = live++;
      await outbox.append(batchOf(seq), false);
      uplink.pump();
      await waitFor(() => arrived.includes(seq), `live batch ${seq}`);
      return backlog();
    };
    const upTo = (n: number) => Array.from({ length: n }, (_, i) => i);
    try {
      await waitFor(() => uplink.connected, 'the uplink to connect');
      expect(await sentSoFar()).toEqual([]); // the budget starts empty: the outage earned no burst
      now += 1000;
      await waitFor(() => backlog().length >= 5, "a second's budget of backlog");
      expect(await sentSoFar()).toEqual(upTo(5));
      now += 400; // 600 bytes
      await waitFor(() => backlog().length >= 7, 'two more batches');
      expect(await sentSoFar()).toEqual(upTo(7));
      now += 60_000; // a quiet minute banks one second of budget, not a minute's
      await waitFor(() => backlog().length >= 12, 'five more batches');
      expect(await sentSoFar()).toEqual(upTo(12));
      now += 10_000;
      await waitFor(() => backlog().length >= 17, 'five more batches');
      now += 10_000;
      await waitFor(() => backlog().length >= BACKLOG, 'the rest of the backlog');
      expect(backlog()).toEqual(upTo(BACKLOG)); // in order
      await waitFor(() => outbox.size.batches === 0, 'the queue to empty');
    } finally {
      await uplink.close();
      await outbox.close();
      await cloud.endAsync();
      await new Promise<void>((r) => district.broker.close(() => r()));
      district.server.close();
    }
  });
});
