/**
 * A telemetry gap counts only what the district does not have. The gateway's real disk queue
 * (on a temp dir) drops batches for its quota, and the real cloud (a bare aedes as the
 * district broker on an ephemeral port, a DuckDB file, the HTTP API) receives what this
 * file, playing the uplink, sends it. The corner: a batch the district stored although its
 * ack never came back is dropped for the quota; and the reverse, a dropped batch that was
 * still on its way arrives after the gap event. No sleeps: every wait is for a message.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GAP_MAX_BATCH_RANGES,
  GatewayEvent,
  LIMITS,
  check,
  districtTopics,
  type Inventory,
  type Reading,
  type TelemetryBatch,
  type TelemetryGapEvent,
} from '@schoolops/device-profiles';
import { parseCloudConfig, startCloud, type Cloud } from '../../cloud/src/index.ts';
import { compareDelivery } from '../../simulators/src/delivery/compare.ts';
import { DiskOutbox, gapEvents, type QueuedBatch } from '../src/outbox.ts';

const silent = pino({ level: 'silent' });
const SCHOOL = 'a';
const GATEWAY = 'gw-a';
const DEVICES = ['a.p1', 'a.p2', 'a.p3'];
/**
 * Sample times of this file start here; the delivery report is asked from here. An hour back:
 * inside the district's window of sample times and of delivery reports.
 */
const SINCE = Date.now() - 3_600_000;

const inventory: Inventory = {
  v: 1,
  district: { id: 'test', name: { vi: 'Quận Thử', en: 'Test District' }, timezone: 'Asia/Ho_Chi_Minh' },
  schools: [
    {
      id: SCHOOL,
      name: { vi: 'Trường A', en: 'School A' },
      level: 'lower-secondary',
      ward: 'Phường 1',
      gatewayId: GATEWAY,
      rooms: [{ id: 'p101', name: { vi: 'Phòng 101', en: 'Room 101' }, type: 'classroom', floor: 1, capacity: 45 }],
      classes: [],
      timetable: { periods: [], lessons: [] },
      devices: DEVICES.map((id) => ({ id, profileId: 'epson-eb-x51', roomId: 'p101' })),
    },
  ],
};

interface Delivery {
  dropped: Record<string, number>;
  devices: Array<{ deviceId: string; samples: number; distinct: number; minN: number; maxN: number; outOfOrder: number }>;
}

describe('telemetry gap against what the district holds', () => {
  let dir: string;
  let aedes: Aedes;
  let server: Server;
  let cloud: Cloud;
  let gateway: MqttClient;
  /** `${bootId}/${seq}` or an event id -> whoever waits for the district's next ack of it. */
  const waiting = new Map<string, Array<(result: string) => void>>();
  /** Send as the uplink does; resolves with the district's ack (it has stored the batch or event). */
  const send = async (body: TelemetryBatch | GatewayEvent): Promise<string> => {
    const isBatch = 'seq' in body;
    const key = isBatch ? `${body.bootId}/${body.seq}` : body.eventId;
    const acked = new Promise<string>((resolve) => waiting.set(key, [...(waiting.get(key) ?? []), resolve]));
    await gateway.publishAsync(isBatch ? districtTopics.telemetry(SCHOOL) : districtTopics.event(SCHOOL), JSON.stringify(body), { qos: 1 });
    return acked;
  };
  /** A district operator's API token (the delivery report is the district's plumbing). */
  let token: string;
  const delivery = async (): Promise<Delivery> =>
    (await (await fetch(`${cloud.url}/api/delivery?since=${SINCE}`, { headers: { authorization: `Bearer ${token}` } })).json()) as Delivery;

  /** Per device, numbered samples; each scenario has its own devices' counters. */
  const counters = new Map<string, number>();
  let clock = SINCE;
  const reading = (deviceId: string): Reading => {
    const n = (counters.get(deviceId) ?? 0) + 1;
    counters.set(deviceId, n);
    return { deviceId, ts: clock++, values: { power: 'on', lampHours: n }, n };
  };
  const batch = (bootId: string, seq: number, devices: string[]): TelemetryBatch => ({
    v: 1,
    gatewayId: GATEWAY,
    schoolId: SCHOOL,
    bootId,
    seq,
    sentAt: 0,
    readings: devices.map(reading),
  });
  const openOutbox = (quotaBytes: number) => DiskOutbox.open({ dir: mkdtempSync(join(dir, 'queue-')), quotaBytes, logger: silent });
  const gaps = (outbox: DiskOutbox) => outbox.pendingEvents().filter((e): e is TelemetryGapEvent => e.type === 'telemetry-gap');
  /** The uplink's part after a district ack: forget the event. */
  const sendGaps = async (outbox: DiskOutbox) => {
    for (const event of gaps(outbox)) {
      expect(await send(event)).toBe('stored');
      await outbox.removeEvent(event.eventId);
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'telemetry-gap-'));
    aedes = await Aedes.createBroker();
    server = createServer(aedes.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    writeFileSync(join(dir, 'inventory.json'), JSON.stringify(inventory));
    cloud = await startCloud(
      parseCloudConfig({
        v: 1,
        http: { host: '127.0.0.1', port: 0 },
        mqtt: { url: `mqtt://127.0.0.1:${port}`, username: 'cloud', password: 'x' },
        dataDir: join(dir, 'cloud'),
        inventoryFile: join(dir, 'inventory.json'),
        probeEcho: { host: '127.0.0.1', port: 0 },
      }),
      { logger: silent },
    );
    token = (await cloud.accounts.createToken({ name: 'gap test', role: 'district-operator', scope: { all: true }, createdBy: 'test', expiresAt: null })).token;
    gateway = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: GATEWAY });
    gateway.on('message', (topic, payload) => {
      if (topic !== districtTopics.ack(SCHOOL)) return;
      const ack = JSON.parse(payload.toString()) as { bootId?: string; seq?: number; eventId?: string; result: string };
      waiting.get(ack.eventId ?? `${ack.bootId}/${ack.seq}`)?.shift()?.(ack.result);
    });
    await gateway.subscribeAsync(districtTopics.ack(SCHOOL), { qos: 1 });
  });

  afterAll(async () => {
    await gateway?.endAsync();
    await cloud?.close();
    await new Promise<void>((r) => aedes.close(() => r()));
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves out of the gap a batch the district stored although its ack never came', async () => {
    const bootId = 'boot-stored-1';
    const [p1, p2, p3] = DEVICES as [string, string, string];
    const b0 = batch(bootId, 0, [p1, p1, p1, p2, p2]); // sent and stored; its ack is lost
    const b1 = batch(bootId, 1, [p1, p1, p1, p1, p2]); // sealed after the cut, never sent
    // The quota holds b0 and b1; b2 is larger than both together, so appending it drops both.
    const b2 = batch(bootId, 2, Array.from({ length: 20 }, () => p3));
    const size = (b: TelemetryBatch) => JSON.stringify(b).length;
    const outbox = await openOutbox(size(b0) + size(b1) + 1);
    try {
      await outbox.append(b0, false);
      expect(await send(b0)).toBe('stored'); // ...and the ack never reaches the queue: the link dropped
      await outbox.append(b1, true);
      await outbox.append(b2, true);
      expect([...outbox.queued()].map((q) => q.batch.seq)).toEqual([2]);

      // The gateway reports what it dropped: b0 and b1, as one range of batch keys.
      const [gap, ...more] = gaps(outbox);
      expect(more).toEqual([]);
      expect(check(GatewayEvent, gap).ok).toBe(true);
      expect(gap).toMatchObject({ dropped: { [p1]: 7, [p2]: 3 }, batches: [[bootId, 0, 1]] });
      await sendGaps(outbox);

      // The district holds b0, so only b1's readings are missing.
      expect((await delivery()).dropped).toEqual({ [p1]: 4, [p2]: 1 });
      // The event sent again (its ack lost too) is stored once and counted once.
      expect(await send(gap!)).toBe('stored');
      expect((await delivery()).dropped).toEqual({ [p1]: 4, [p2]: 1 });
      await send(b2);
      const { dropped, devices } = await delivery();
      const verdict = compareDelivery({ since: SINCE, devices: Object.fromEntries(counters) }, devices, dropped);
      expect(verdict.devices.map((d) => [d.deviceId, d.lost, d.dropped])).toEqual([
        [p1, 4, 4],
        [p2, 1, 1],
        [p3, 0, 0],
      ]);
    } finally {
      await outbox.close();
    }
  });

  it('leaves out of the gap a dropped batch that arrives after the gap event', async () => {
    const bootId = 'boot-late-22';
    const [p1, p2, p3] = DEVICES as [string, string, string];
    const before = await delivery();
    const b0 = batch(bootId, 0, [p1, p3, p3]); // sent, still on its way when it is dropped
    const b1 = batch(bootId, 1, [p1, p2]); // never sent
    const outbox = await openOutbox(JSON.stringify(b0).length + JSON.stringify(b1).length + 1);
    try {
      await outbox.append(b0, false);
      await outbox.append(b1, true);
      await outbox.append(batch(bootId, 2, Array.from({ length: 20 }, () => p3)), true); // does not fit with them
      const [gap] = gaps(outbox);
      expect(gap).toMatchObject({ dropped: { [p1]: 2, [p2]: 1, [p3]: 2 }, batches: [[bootId, 0, 1]] });
      await sendGaps(outbox);
      const added = (now: Delivery) =>
        Object.fromEntries(DEVICES.map((id) => [id, (now.dropped[id] ?? 0) - (before.dropped[id] ?? 0)]).filter(([, n]) => n !== 0));
      // Nothing of b0 or b1 has arrived: all of it is missing.
      expect(added(await delivery())).toEqual({ [p1]: 2, [p2]: 1, [p3]: 2 });

      // Now b0 arrives: the district has it, so it is no longer part of the gap.
      expect(await send(b0)).toBe('stored');
      expect(await outbox.remove(bootId, 0)).toBe(false); // its ack finds nothing queued: dropped already
      expect(added(await delivery())).toEqual({ [p1]: 1, [p2]: 1 });
      // A copy sent again changes nothing.
      expect(await send(b0)).toBe('duplicate');
      expect(added(await delivery())).toEqual({ [p1]: 1, [p2]: 1 });
    } finally {
      await outbox.close();
    }
  });

  it('names every dropped batch, in several events when one would be too large', async () => {
    const bootId = 'boot-many-333';
    const p1 = DEVICES[0]!;
    const before = await delivery();
    // 2 * (GAP_MAX_BATCH_RANGES + 5) one-reading batches; the district confirms every other
    // one, which leaves the queue with GAP_MAX_BATCH_RANGES + 5 separate ranges.
    const count = 2 * (GAP_MAX_BATCH_RANGES + 5);
    const batches = Array.from({ length: count }, (_, seq) => batch(bootId, seq, [p1]));
    const outbox = await openOutbox(batches.reduce((n, b) => n + JSON.stringify(b).length, 0));
    try {
      for (const b of batches) await outbox.append(b, true);
      for (const b of batches) if (b.seq % 2 === 1) expect(await outbox.remove(bootId, b.seq)).toBe(true);
      // Of those left, the district stored every third although no ack came back.
      const left = batches.filter((b) => b.seq % 2 === 0);
      const storedAnyway = left.filter((_, i) => i % 3 === 0);
      expect(new Set(await Promise.all(storedAnyway.map(send)))).toEqual(new Set(['stored']));
      // A batch as large as the whole quota: everything queued goes.
      const huge = 'x'.repeat(outbox.quotaBytes);
      await outbox.append({ ...batch(bootId, count, []), readings: [{ deviceId: p1, ts: clock++, values: { note: huge } }] }, true);

      const events = gaps(outbox);
      expect(events.length).toBe(2);
      for (const event of events) {
        expect(check(GatewayEvent, event).ok).toBe(true);
        expect(JSON.stringify(event).length).toBeLessThan(LIMITS.districtPacketBytes / 8);
      }
      const named = events.flatMap((e) => e.batches!.flatMap(([boot, first, last]) => Array.from({ length: last - first + 1 }, (_, i) => `${boot}/${first + i}`)));
      expect(named).toEqual(left.map((b) => `${bootId}/${b.seq}`));
      expect(events.reduce((n, e) => n + (e.dropped[p1] ?? 0), 0)).toBe(left.length);

      await sendGaps(outbox);
      const now = await delivery();
      expect((now.dropped[p1] ?? 0) - (before.dropped[p1] ?? 0)).toBe(left.length - storedAnyway.length);
    } finally {
      await outbox.close();
    }
  });

  it('still counts an event without batch keys (an older agent) as it says', async () => {
    const before = await delivery();
    const event: GatewayEvent = {
      v: 1,
      gatewayId: GATEWAY,
      schoolId: SCHOOL,
      bootId: 'boot-older-4444',
      eventId: 'older-agent-gap',
      ts: Date.now(),
      type: 'telemetry-gap',
      dropped: { [DEVICES[2]!]: 9 },
      from: SINCE,
      to: SINCE + 10,
    };
    expect(await send(event)).toBe('stored');
    const now = await delivery();
    expect((now.dropped[DEVICES[2]!] ?? 0) - (before.dropped[DEVICES[2]!] ?? 0)).toBe(9);
  });
});

/** gapEvents on its own: split points, ranges across boots, counts. */
describe('gap events of a drop', () => {
  const queued = (bootId: string, seq: number, devices: string[]): QueuedBatch => ({
    index: 0,
    bytes: 0,
    backlog: true,
    batch: { v: 1, gatewayId: GATEWAY, schoolId: SCHOOL, bootId, seq, sentAt: 0, readings: devices.map((deviceId, i) => ({ deviceId, ts: 1000 + seq * 10 + i, values: { x: 1 } })) },
  });
  const from = { gatewayId: GATEWAY, schoolId: SCHOOL, bootId: 'boot-now-55' };

  it('merges consecutive seqs of one boot into a range and starts a new one at a gap or another boot', () => {
    const victims = [queued('boot-old-11', 7, ['d1']), queued('boot-old-11', 8, ['d1', 'd2']), queued('boot-old-11', 10, ['d2']), queued('boot-now-55', 0, ['d3'])];
    const [event, ...more] = gapEvents(victims, from);
    expect(more).toEqual([]);
    expect(event).toMatchObject({
      bootId: 'boot-now-55',
      dropped: { d1: 2, d2: 2, d3: 1 },
      from: 1000,
      to: 1100,
      batches: [
        ['boot-old-11', 7, 8],
        ['boot-old-11', 10, 10],
        ['boot-now-55', 0, 0],
      ],
    });
  });

  it('splits at GAP_MAX_BATCH_RANGES ranges, each event counting only its own batches', () => {
    const victims = Array.from({ length: 2 * GAP_MAX_BATCH_RANGES + 1 }, (_, i) => queued('boot-old-11', 2 * i, i % 2 ? ['d1'] : ['d1', 'd2']));
    const events = gapEvents(victims, from);
    expect(events.map((e) => e.batches!.length)).toEqual([GAP_MAX_BATCH_RANGES, GAP_MAX_BATCH_RANGES, 1]);
    expect(events.map((e) => e.dropped)).toEqual([
      { d1: GAP_MAX_BATCH_RANGES, d2: GAP_MAX_BATCH_RANGES / 2 },
      { d1: GAP_MAX_BATCH_RANGES, d2: GAP_MAX_BATCH_RANGES / 2 },
      { d1: 1, d2: 1 },
    ]);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(3);
    expect(events[1]!.from).toBe(1000 + 2 * GAP_MAX_BATCH_RANGES * 10);
    for (const event of events) expect(check(GatewayEvent, event).ok).toBe(true);
  });
});
