/**
 * District ingest against what a gateway must not be able to do: speak about another school's
 * devices in its events, stamp samples far from the district's clock, send numbers the store
 * cannot hold, poison a batch so that it is resent for ever with good readings in it, or stall
 * every school's ingest with one reboot. A bare aedes is the district broker (the ACL is
 * broker/'s job), the store is a real DuckDB file; where storage must fail or be slow, a thin
 * wrapper around that real store fails or holds on cue. The district's clock is injected.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_PROFILES_DIR, TIME_WINDOWS, districtTopics, loadProfiles, type GatewayEvent, type Inventory } from '@schoolops/device-profiles';
import { Ingest } from '../src/ingest.ts';
import { DistrictIndex } from '../src/inventory.ts';
import { LiveState } from '../src/live-state.ts';
import { openDuckDbStore, type DuckDbStore } from '../src/storage/duckdb-store.ts';
import type { BatchKey, ReadingStore, StoredRow } from '../src/storage/index.ts';
import { waitFor } from '../../simulators/test/support/wait.ts';

const DAY = 86_400_000;
/** The district's clock in this file: a fixed instant unless a test moves it. */
const NOW = Date.UTC(2026, 11, 7, 3, 0, 0);

const school = (id: string): Inventory['schools'][number] => ({
  id,
  name: { vi: `Trường ${id}`, en: `School ${id}` },
  level: 'lower-secondary',
  ward: 'Phường 1',
  gatewayId: `gw-${id}`,
  rooms: [{ id: 'p101', name: { vi: 'Phòng 101', en: 'Room 101' }, type: 'classroom', floor: 1, capacity: 45 }],
  classes: [],
  timetable: { periods: [], lessons: [] },
  devices: [
    { id: `${id}.proj`, profileId: 'epson-eb-x51', roomId: 'p101' },
    { id: `${id}.proj2`, profileId: 'epson-eb-x51', roomId: 'p101' },
  ],
});
const inventory: Inventory = {
  v: 1,
  district: { id: 'test', name: { vi: 'Quận Thử', en: 'Test District' }, timezone: 'Asia/Ho_Chi_Minh' },
  schools: [school('a'), school('b'), school('c')],
};

/**
 * The real store, with faults on cue: `down` refuses every write (an outage), `poison` refuses
 * any write holding a lampHours of that value (a reading storage cannot take), and a boot in
 * `held` answers hasBoot only when the test releases it (a slow question to the store).
 */
class CuedStore implements ReadingStore {
  readonly name = 'cued';
  down = false;
  poison = 4242;
  readonly held = new Map<string, { release: () => void; asked: boolean }>();
  hasBatchCalls = 0;
  constructor(readonly real: DuckDbStore) {}
  hold(bootId: string): () => void {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    this.held.set(bootId, { release, asked: false });
    this.gates.set(bootId, gate);
    return release;
  }
  private readonly gates = new Map<string, Promise<void>>();
  async write(rows: readonly StoredRow[]) {
    if (this.down) throw new Error('disk I/O error (the test took storage down)');
    if (rows.some((r) => r.metric === 'lampHours' && r.value === this.poison)) throw new Error('Conversion Error (the test refuses this reading)');
    return this.real.write(rows);
  }
  async hasBoot(gatewayId: string, bootId: string) {
    const held = this.held.get(bootId);
    if (held) {
      held.asked = true;
      await this.gates.get(bootId);
    }
    return this.real.hasBoot(gatewayId, bootId);
  }
  hasBatch(key: BatchKey) {
    this.hasBatchCalls++;
    return this.real.hasBatch(key);
  }
  flush = () => this.real.flush();
  close = () => this.real.close();
  history = (q: Parameters<ReadingStore['history']>[0]) => this.real.history(q);
  count = () => this.real.count();
  deliveryReport = (since: number) => this.real.deliveryReport(since);
  dropped = (since: number) => this.real.dropped(since);
  writeEvent = (event: GatewayEvent) => this.real.writeEvent(event);
  events = (q: Parameters<ReadingStore['events']>[0]) => this.real.events(q);
  queryStats = () => this.real.queryStats();
}

describe('district ingest bounds', () => {
  let dir: string;
  let aedes: Aedes;
  let server: Server;
  let port: number;
  let store: CuedStore;
  let district: DistrictIndex;
  let live: LiveState;
  let ingest: Ingest;
  let now = NOW;
  const gateways = new Map<string, MqttClient>();
  /** Every ack the district sent, per school, in order. */
  const acks = new Map<string, Array<Record<string, unknown>>>();
  const acksOf = (schoolId: string) => acks.get(schoolId) ?? [];
  const ackOf = (schoolId: string, match: Record<string, unknown>) =>
    acksOf(schoolId).find((a) => Object.entries(match).every(([k, v]) => a[k] === v));

  const send = (schoolId: string, channel: 'telemetry' | 'event' | 'status', body: unknown) =>
    gateways.get(schoolId)!.publishAsync(districtTopics[channel](schoolId), JSON.stringify(body), { qos: 1 });
  const batch = (schoolId: string, bootId: string, seq: number, readings: unknown[]) => ({ v: 1, gatewayId: `gw-${schoolId}`, schoolId, bootId, seq, sentAt: now, readings });
  const statusEvent = (schoolId: string, eventId: string, over: Record<string, unknown>) => ({
    v: 1,
    gatewayId: `gw-${schoolId}`,
    schoolId,
    bootId: `boot-${schoolId}-1`,
    eventId,
    ts: now,
    type: 'device-status',
    deviceId: `${schoolId}.proj`,
    state: 'faulty',
    failures: 1,
    ...over,
  });
  const rejected = () => ingest.stats.rejected;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ingest-bounds-'));
    aedes = await Aedes.createBroker();
    server = createServer(aedes.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    store = new CuedStore(await openDuckDbStore({ file: join(dir, 'readings.duckdb') }));
    district = new DistrictIndex(inventory, loadProfiles([BUILTIN_PROFILES_DIR]));
    live = new LiveState(district, () => now);
    ingest = new Ingest(district, store, live, pino({ level: 'silent' }), { now: () => now });
    await ingest.connect({ url: `mqtt://127.0.0.1:${port}`, username: 'cloud', password: 'x' });
    for (const id of ['a', 'b', 'c']) {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: `gw-${id}` });
      await client.subscribeAsync(districtTopics.ack(id), { qos: 1 });
      client.on('message', (_topic, payload) => acks.set(id, [...acksOf(id), JSON.parse(payload.toString())]));
      gateways.set(id, client);
      await send(id, 'status', { v: 1, gatewayId: `gw-${id}`, schoolId: id, bootId: `boot-${id}-1`, state: 'online', ts: now });
    }
    await waitFor(() => ['a', 'b', 'c'].every((id) => live.gateway(id).state === 'online'), 'every gateway online');
  });

  afterAll(async () => {
    for (const client of gateways.values()) await client.endAsync();
    await ingest?.close();
    await store?.close();
    await new Promise<void>((r) => aedes.close(() => r()));
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses and counts events about another school's devices, so no gateway can fault or clear them", async () => {
    // School b's real fault, from b's own gateway.
    await send('b', 'event', statusEvent('b', 'b-fault', { reason: 'auth_failed' }));
    await waitFor(() => ackOf('b', { eventId: 'b-fault' }), "b's event stored");
    expect(live.deviceStatus('b.proj')).toMatchObject({ state: 'faulty', reason: 'auth_failed' });

    // Gateway a: hide b's fault behind a far-future ok, mark b's other projector faulty,
    // count b's projector in a telemetry gap, and name a device nobody has.
    await send('a', 'event', statusEvent('a', 'a-hides', { deviceId: 'b.proj', state: 'ok', failures: 0, ts: now + 365 * DAY }));
    await send('a', 'event', statusEvent('a', 'a-hides-now', { deviceId: 'b.proj', state: 'ok', failures: 0 }));
    await send('a', 'event', statusEvent('a', 'a-faults', { deviceId: 'b.proj2', reason: 'protocol_error' }));
    await send('a', 'event', { ...statusEvent('a', 'a-gap', {}), type: 'telemetry-gap', deviceId: undefined, state: undefined, failures: undefined, dropped: { 'a.proj': 3, 'b.proj': 50 }, from: now - 1000, to: now });
    await send('a', 'event', statusEvent('a', 'a-ghost', { deviceId: 'z.ghost' }));
    // ... and one far ahead about its own projector, which would outrank its every later event.
    await send('a', 'event', statusEvent('a', 'a-future', { state: 'ok', failures: 0, ts: now + DAY }));
    for (const id of ['a-hides', 'a-hides-now', 'a-faults', 'a-gap', 'a-ghost', 'a-future'])
      expect(await waitFor(() => ackOf('a', { eventId: id }), `the answer to ${id}`)).toMatchObject({ result: 'rejected' });

    expect(rejected()).toMatchObject({ wrong_school: 3, unknown_device: 1, ts_out_of_window: 2 });
    expect(live.deviceStatus('b.proj')).toMatchObject({ state: 'faulty', reason: 'auth_failed' });
    expect(live.deviceStatus('b.proj2').state).not.toBe('faulty');
    expect((await store.events({ limit: 100 })).map((e) => e.eventId)).toEqual(['b-fault']);
    expect(await store.dropped(0)).toEqual({});

    // Its own devices' events are stored as before.
    await send('a', 'event', statusEvent('a', 'a-own', { reason: 'timeout', state: 'unreachable' }));
    expect(await waitFor(() => ackOf('a', { eventId: 'a-own' }), "a's own event")).toMatchObject({ result: 'stored' });
    expect(live.deviceStatus('a.proj')).toMatchObject({ state: 'unreachable' });
  });

  it('stores the good readings of a batch and refuses, counted, each one with a time or number out of bounds', async () => {
    const before = { ...rejected() };
    const good = (n: number, ts = now - 1000) => ({ deviceId: 'c.proj', ts, values: { lampHours: 100 + n }, n });
    await send('c', 'telemetry', batch('c', 'boot-c-1', 0, [
      good(1),
      { deviceId: 'c.proj', ts: 1e300, values: { lampHours: 1 } }, // no JS integer, no BIGINT
      { deviceId: 'c.proj', ts: now - 500, values: { lampHours: 1 }, n: 1e20 }, // made DuckDB refuse the whole batch
      { deviceId: 'c.proj', ts: 9e15, values: { lampHours: 9999 } }, // would stay the latest value for ever
      { deviceId: 'c.proj', ts: now - 401 * DAY, values: { lampHours: 2 } }, // a clock reset to long ago
      { deviceId: 'c.proj', ts: now - 500, values: { 'Bad-Key': 1 } },
      good(2, now + TIME_WINDOWS.district.futureMs), // ahead, but within the window
      good(3, now - 2000),
    ]));
    expect(await waitFor(() => ackOf('c', { bootId: 'boot-c-1', seq: 0 }), 'the batch acknowledged')).toMatchObject({ result: 'stored' });
    expect(rejected().bad_schema - before.bad_schema).toBe(3);
    expect(rejected().ts_out_of_window - before.ts_out_of_window).toBe(2);
    const delivery = await store.deliveryReport(now - DAY);
    expect(delivery).toEqual([{ deviceId: 'c.proj', samples: 3, distinct: 3, minN: 1, maxN: 3, outOfOrder: 0 }]);
    expect(live.deviceLatest('c.proj')).toMatchObject({ ts: now + TIME_WINDOWS.district.futureMs, values: { lampHours: 102 } });

    // The window moves with the district's clock: what was ahead is accepted once it is near.
    const later = now + DAY;
    await send('c', 'telemetry', batch('c', 'boot-c-1', 1, [good(4, later)]));
    await waitFor(() => ackOf('c', { bootId: 'boot-c-1', seq: 1 }), 'the batch from a day ahead answered');
    expect(ackOf('c', { bootId: 'boot-c-1', seq: 1 })).toMatchObject({ result: 'rejected' }); // nothing in it was valid
    now = later;
    await send('c', 'telemetry', batch('c', 'boot-c-1', 2, [good(4, later)]));
    expect(await waitFor(() => ackOf('c', { bootId: 'boot-c-1', seq: 2 }), 'the same sample a day later')).toMatchObject({ result: 'stored' });
    expect(live.deviceLatest('c.proj')).toMatchObject({ ts: later, values: { lampHours: 104 } });
  });

  it('answers a batch whose envelope is refused, so its gateway stops resending it', async () => {
    const before = rejected().bad_schema;
    const readings = Array.from({ length: 501 }, (_, i) => ({ deviceId: 'c.proj', ts: now - i, values: { lampHours: i } }));
    await send('c', 'telemetry', batch('c', 'boot-c-1', 3, readings));
    expect(await waitFor(() => ackOf('c', { bootId: 'boot-c-1', seq: 3 }), 'the oversized batch answered')).toMatchObject({ result: 'rejected' });
    // One that names no batch cannot be answered; one in another gateway's name is not answered.
    await send('c', 'telemetry', { ...batch('c', 'boot-c-1', 4, readings), gatewayId: 'gw-a' });
    await send('c', 'telemetry', { v: 1, readings: [] });
    await waitFor(() => rejected().bad_schema - before === 3 || undefined, 'the three envelopes refused');
    expect(ackOf('c', { bootId: 'boot-c-1', seq: 4 })).toBeUndefined();
  });

  it('keeps what storage takes of a batch it refuses, gives up on one it never takes while it stores others, and loses nothing to an outage', async () => {
    const key = (seq: number) => ({ bootId: 'boot-a-2', seq });
    const reading = (n: number, lampHours = n) => ({ deviceId: 'a.proj2', ts: now - 10_000 + n, values: { lampHours }, n });
    const rowsBefore = await store.count();
    const failedBefore = rejected().store_failed;

    // One reading storage refuses, among good ones: the good ones are stored, the batch answered.
    await send('a', 'telemetry', batch('a', 'boot-a-2', 0, [reading(1), reading(2, store.poison), reading(3)]));
    expect(await waitFor(() => ackOf('a', key(0)), 'batch 0 answered')).toMatchObject({ result: 'stored' });
    expect(rejected().store_refused).toBe(1);

    // A batch of nothing storage takes: sent again (no answer) until it has been refused
    // three times while other batches were stored, then given up.
    const poisoned = batch('a', 'boot-a-2', 1, [reading(4, store.poison)]);
    let failed = rejected().store_failed;
    for (const [attempt, goodSeq] of [[1, 2], [2, 3]] as const) {
      await send('a', 'telemetry', poisoned);
      await waitFor(() => rejected().store_failed > failed || undefined, `delivery ${attempt} of the poisoned batch refused`);
      failed = rejected().store_failed;
      await send('a', 'telemetry', batch('a', 'boot-a-2', goodSeq, [reading(3 + goodSeq)]));
      expect(await waitFor(() => ackOf('a', key(goodSeq)), `good batch ${goodSeq}`)).toMatchObject({ result: 'stored' });
    }
    expect(ackOf('a', key(1))).toBeUndefined();
    await send('a', 'telemetry', poisoned);
    expect(await waitFor(() => ackOf('a', key(1)), 'the poisoned batch given up')).toMatchObject({ result: 'rejected' });
    expect(rejected().store_refused).toBe(2);

    // An outage: nothing is given up, and what it held back is stored once it is over.
    store.down = true;
    failed = rejected().store_failed;
    await send('a', 'telemetry', batch('a', 'boot-a-2', 4, [reading(7), reading(8)]));
    await waitFor(() => rejected().store_failed > failed || undefined, 'batch 4 not stored');
    failed = rejected().store_failed;
    await send('a', 'telemetry', batch('a', 'boot-a-2', 5, [reading(9)]));
    await waitFor(() => rejected().store_failed > failed || undefined, 'batch 5 not stored');
    await send('a', 'telemetry', batch('a', 'boot-a-2', 4, [reading(7), reading(8)])); // the gateway's resend
    await waitFor(() => rejected().store_failed > failed + 1 || undefined, 'batch 4 not stored again');
    expect(ackOf('a', key(4))).toBeUndefined();
    expect(ackOf('a', key(5))).toBeUndefined();
    store.down = false;
    await send('a', 'telemetry', batch('a', 'boot-a-2', 4, [reading(7), reading(8)]));
    await send('a', 'telemetry', batch('a', 'boot-a-2', 5, [reading(9)]));
    expect(await waitFor(() => ackOf('a', key(5)), 'batch 5 stored after the outage')).toMatchObject({ result: 'stored' });
    expect(ackOf('a', key(4))).toMatchObject({ result: 'stored' });

    expect(rejected().store_refused).toBe(2);
    expect(rejected().store_failed).toBeGreaterThan(failedBefore);
    // Stored: 1, 3, 5, 6, 7, 8, 9, and never the poisoned readings 2 and 4.
    expect((await store.count()) - rowsBefore).toBe(7);
    const a = (await store.deliveryReport(now - DAY)).find((d) => d.deviceId === 'a.proj2');
    expect(a).toMatchObject({ samples: 7, distinct: 7, minN: 1, maxN: 9 });
  });

  it("holds up no other school while one gateway's boot is looked up, and looks up nothing for a boot never stored", async () => {
    const release = store.hold('boot-b-slow');
    const reading = (deviceId: string, n: number) => ({ deviceId, ts: now - 100 + n, values: { lampHours: n }, n });
    await send('b', 'telemetry', batch('b', 'boot-b-slow', 0, [reading('b.proj', 1)]));
    await send('b', 'telemetry', batch('b', 'boot-b-slow', 1, [reading('b.proj', 2)]));
    await waitFor(() => store.held.get('boot-b-slow')!.asked, "b's boot asked about");
    const lookupsBefore = store.hasBatchCalls;
    // School c's gateway has just rebooted too: its batches are stored and answered meanwhile.
    await send('c', 'telemetry', batch('c', 'boot-c-new', 0, [reading('c.proj2', 1)]));
    await send('c', 'telemetry', batch('c', 'boot-c-new', 1, [reading('c.proj2', 2)]));
    await waitFor(() => ackOf('c', { bootId: 'boot-c-new', seq: 1 }), "c's batches while b's lookup is held");
    expect(ackOf('b', { bootId: 'boot-b-slow', seq: 0 })).toBeUndefined();
    expect(store.hasBatchCalls).toBe(lookupsBefore); // a boot never stored: no batch looked up
    release();
    await waitFor(() => ackOf('b', { bootId: 'boot-b-slow', seq: 1 }), "b's batches once its lookup is answered");
    // b's own batches kept their order.
    expect(acksOf('b').filter((a) => a.bootId === 'boot-b-slow').map((a) => a.seq)).toEqual([0, 1]);
  });

  it('recognises a batch stored before a restart by one indexed lookup, however many batches its boot has', async () => {
    const again = new Ingest(district, store, live, pino({ level: 'silent' }), { now: () => now });
    try {
      await again.connect({ url: `mqtt://127.0.0.1:${port}`, username: 'cloud', password: 'x' });
      // The first ingest is gone (its memory with it); the new one answers from the store.
      await ingest.close();
      const lookupsBefore = store.hasBatchCalls;
      const answered = acksOf('c').length;
      await send('c', 'telemetry', batch('c', 'boot-c-new', 1, [{ deviceId: 'c.proj2', ts: now - 98, values: { lampHours: 2 }, n: 2 }]));
      await waitFor(() => acksOf('c').length > answered, 'the resent batch answered');
      expect(acksOf('c').at(-1)).toMatchObject({ bootId: 'boot-c-new', seq: 1, result: 'duplicate' });
      expect(store.hasBatchCalls - lookupsBefore).toBe(1);
      expect(again.stats.duplicateBatches).toBe(1);
    } finally {
      ingest = again; // closed by afterAll
    }
  });
});
