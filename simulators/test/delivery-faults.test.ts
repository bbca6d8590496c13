/**
 * Fault tests: real processes, real sockets, devices publishing throughout. After each
 * fault the delivery checker compares what every device published with what the district
 * stored: nothing may be lost or stored twice, and with a full disk queue every reading lost
 * must be one the gateway reported dropping, device by device.
 *
 * No step waits for a guessed time. Each waits for something the system shows: the district
 * storing samples (GET /api/delivery), the gateway acknowledging samples to the devices (it
 * does so only once they are on its disk, so while the district is cut off that is the
 * queue growing), the gateway's log saying it dropped. An outage lasts until the queue holds
 * what the test needs, however fast or slow the machine. Deadlines only turn a hang into a
 * message saying what never happened; nothing here asserts how long anything took.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compareDelivery, type DeliveryVerdict, type StoredDelivery } from '../src/delivery/compare.ts';
import { startDistrict, type RunningDistrict } from '../src/launcher/district.ts';
import { waitFor as waitUntil } from './support/wait.ts';

/** The shared wait, with what is waited for first (it reads better at these call sites). */
const waitFor = <T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> => waitUntil(probe, what);

/** Samples every device must have stored before a fault: traffic is flowing. */
const FLOWING = 10;
/** Samples every device must hand over during an outage before it ends. */
const OUTAGE_SAMPLES = 15;
/** Samples every device must have stored past the end of a fault: traffic is flowing again. */
const AFTER = 6;
// So every device publishes at least FLOWING + OUTAGE_SAMPLES + AFTER = 31 samples, and the
// school's ten boards over 300 in all.

let district: RunningDistrict | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  await district?.stop();
  district = undefined;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

interface Stored {
  devices: StoredDelivery[];
  dropped: Record<string, number>;
}

async function stored(d: RunningDistrict): Promise<Stored> {
  const response = await d.api(`/api/delivery?since=${d.since}`);
  if (!response.ok) throw new Error(`delivery report: HTTP ${response.status}`);
  return (await response.json()) as Stored;
}

/** The district's highest stored sample counter per device. */
async function storedMaxN(d: RunningDistrict): Promise<Map<string, number>> {
  return new Map((await stored(d)).devices.map((s) => [s.deviceId, s.maxN]));
}

/** Samples the school's devices had acknowledged by its gateway (on the gateway's disk), per device. */
const acknowledged = (d: RunningDistrict, school: string): Record<string, number> => Object.fromEntries(d.devices.get(school)!.acknowledged());
/** Samples the devices handed over, per device. */
const publishedNow = (d: RunningDistrict): Record<string, number> => d.published().devices;

/** Wait until every device's count has grown by `more` from what it is now. */
async function grown(what: string, count: () => Record<string, number>, more: number): Promise<void> {
  const at = count();
  await waitFor(`${what} (${more} more per device)`, () => {
    const now = count();
    return Object.keys(at).every((id) => (now[id] ?? 0) >= at[id]! + more);
  });
}

/** Wait until the district has stored, for every device, AFTER samples it published after this call. */
async function liveAgain(d: RunningDistrict): Promise<void> {
  const before = publishedNow(d);
  await waitFor(`the district storing ${AFTER} new samples of every device`, async () => {
    const max = await storedMaxN(d);
    return Object.entries(before).every(([id, n]) => (max.get(id) ?? 0) >= n + AFTER);
  });
}

async function boot(extra: { deviceIntervalMs?: number; queueQuotaBytes?: number } = {}): Promise<RunningDistrict> {
  dataDir = mkdtempSync(join(tmpdir(), 'schoolops-faults-'));
  // Boards (the MQTT devices) publish every 300 ms; the gateway polls its PJLink/SNMP/OPC UA devices at a
  // realistic pace, so what is measured here is store-and-forward, not a busy CPU.
  // Cameras count only when asked (never here: this is about store-and-forward, not the face
  // counter's CPU), and the school lives at a Monday lesson whatever the hour.
  district = await startDistrict({
    schools: 1,
    port: 0,
    mqttPort: 0,
    dataDir,
    seed: 7,
    deviceIntervalMs: 300,
    pollIntervalMs: 10_000,
    ackTimeoutMs: 3_000,
    cameraSchedule: 'on-request',
    schoolTime: '2025-03-10 09:05',
    ...extra,
  });
  const d = district;
  const ids = Object.keys(publishedNow(d));
  expect(ids.length, 'MQTT devices in the school').toBeGreaterThan(5);
  // Traffic flowing before the fault: every device has samples stored in the district.
  await waitFor(`every device with ${FLOWING} samples stored`, async () => {
    const max = await storedMaxN(d);
    return ids.every((id) => (max.get(id) ?? 0) >= FLOWING);
  });
  return d;
}

/**
 * Stop the devices, let the gateway drain, and wait until the district's report accounts
 * for every sample published: stored, or (with a quota) reported dropped, device by device.
 * Gives up at the deadline and returns the verdict as it stands, for the assertions to show.
 */
async function settle(d: RunningDistrict): Promise<DeliveryVerdict> {
  // Devices still reconnecting to a restarted gateway deliver what they hold before they stop.
  await d.stopDevices(20_000);
  const published = d.published();
  let verdict = compareDelivery(published, [], {});
  try {
    await waitFor('the district accounting for every published sample', async () => {
      const report = await stored(d);
      verdict = compareDelivery(published, report.devices, report.dropped);
      return verdict.devices.every((x) => x.lost === x.dropped);
    });
  } catch {
    // Reported by the caller's assertions, which say which devices and by how much.
  }
  return verdict;
}

function expectNothingLost(verdict: DeliveryVerdict): void {
  const { totals } = verdict;
  const problems = verdict.devices.filter((x) => x.lost || x.duplicated).slice(0, 5);
  expect(totals.published, 'devices published during the run').toBeGreaterThan(300);
  expect({ lost: totals.lost, duplicated: totals.duplicated, problems }).toEqual({ lost: 0, duplicated: 0, problems: [] });
  expect(totals.stored).toBe(totals.published);
}

describe('store-and-forward under faults', () => {
  it('loses nothing when the WAN is cut and restored', async () => {
    const d = await boot();
    const school = d.inventory.schools[0]!.id;
    await d.kill('broker'); // the district is unreachable: the gateway queues to disk
    await grown('the gateway queueing what its devices send', () => acknowledged(d, school), OUTAGE_SAMPLES);
    await d.start('broker');
    await liveAgain(d);
    expectNothingLost(await settle(d));
  }, 240_000);

  it('loses nothing when the edge agent is killed mid-stream (kill -9) and started again', async () => {
    const d = await boot();
    const school = d.inventory.schools[0]!.id;
    const pid = d.pid(school);
    await d.kill(school);
    // The devices keep sampling and hold what their gateway has not acknowledged.
    await grown('the devices sampling while their gateway is dead', () => publishedNow(d), OUTAGE_SAMPLES);
    await d.start(school);
    expect(d.pid(school)).not.toBe(pid);
    await liveAgain(d);
    expectNothingLost(await settle(d));
  }, 240_000);

  it('loses nothing when the district broker and the cloud restart mid-stream', async () => {
    const d = await boot();
    const school = d.inventory.schools[0]!.id;
    await d.kill('cloud');
    await d.kill('broker');
    await grown('the gateway queueing what its devices send', () => acknowledged(d, school), OUTAGE_SAMPLES);
    await d.start('broker');
    await d.start('cloud');
    await liveAgain(d);
    expectNothingLost(await settle(d));
  }, 240_000);

  it('drops the oldest telemetry when the disk quota fills, and reports exactly what it dropped', async () => {
    const d = await boot({ deviceIntervalMs: 50, queueQuotaBytes: 1024 * 1024 });
    const school = d.inventory.schools[0]!.id;
    const log = join(d.files.logDir, `gateway-${school}.log`);
    const drops = () => readFileSync(log, 'utf8').split('dropped the oldest telemetry').length - 1;
    const dropsBefore = drops();
    await d.kill('broker');
    // 1 MiB of queue (the least a gateway accepts) holds some seconds of this school's
    // readings. The outage lasts until the gateway has had to drop a few times.
    await waitFor('the gateway dropping for its quota, three times', () => drops() >= dropsBefore + 3);
    await d.start('broker');
    await liveAgain(d);
    const verdict = await settle(d);
    expect(verdict.totals.dropped, 'readings dropped for the quota').toBeGreaterThan(0);
    expect(verdict.totals.duplicated).toBe(0);
    // Every reading lost is one the gateway reported dropping, device by device, exactly.
    expect(verdict.devices.filter((x) => x.lost !== x.dropped)).toEqual([]);
    expect(verdict.totals.stored + verdict.totals.lost).toBe(verdict.totals.published);
    // The gap events name the batches they dropped (what lets the district count exactly).
    const events = (await (await d.api(`/api/schools/${school}/events`)).json()) as Array<{ type: string; batches?: unknown[] }>;
    const gaps = events.filter((e) => e.type === 'telemetry-gap');
    expect(gaps.length).toBeGreaterThan(0);
    expect(gaps.filter((e) => !e.batches?.length)).toEqual([]);
  }, 240_000);
});
