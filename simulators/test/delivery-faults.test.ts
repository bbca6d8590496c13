/**
 * Fault tests: real processes, real sockets, devices publishing throughout. After each
 * fault the delivery checker compares what every device published with what the district
 * stored: nothing may be lost or stored twice.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compareDelivery, type DeliveryVerdict, type StoredDelivery } from '../src/delivery/compare.ts';
import { startDistrict, type RunningDistrict } from '../src/launcher/district.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let district: RunningDistrict | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  await district?.stop();
  district = undefined;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function boot(extra: { deviceIntervalMs?: number; queueQuotaBytes?: number } = {}): Promise<RunningDistrict> {
  dataDir = mkdtempSync(join(tmpdir(), 'schoolops-faults-'));
  // Boards (the MQTT devices) publish every 300 ms; the gateway polls its PJLink/SNMP/OPC UA devices at a
  // realistic pace, so what is measured here is store-and-forward, not a busy CPU.
  district = await startDistrict({ schools: 1, port: 0, mqttPort: 0, dataDir, seed: 7, deviceIntervalMs: 300, pollIntervalMs: 10_000, ackTimeoutMs: 3_000, ...extra });
  await sleep(4_000); // traffic flowing before the fault
  return district;
}

async function stored(d: RunningDistrict): Promise<{ devices: StoredDelivery[]; dropped: Record<string, number> }> {
  const response = await fetch(`${d.url}/api/delivery?since=${d.since}`);
  if (!response.ok) throw new Error(`delivery report: HTTP ${response.status}`);
  return (await response.json()) as { devices: StoredDelivery[]; dropped: Record<string, number> };
}

/** Stop the devices, let the gateway drain, and run the delivery check until it settles. */
async function settle(d: RunningDistrict): Promise<DeliveryVerdict> {
  // Devices still reconnecting to a restarted gateway deliver what they hold before they stop.
  await d.stopDevices(20_000);
  const published = d.published();
  const deadline = Date.now() + 60_000;
  let verdict: DeliveryVerdict;
  do {
    await sleep(1_000);
    const report = await stored(d).catch(() => ({ devices: [], dropped: {} }));
    verdict = compareDelivery(published, report.devices, report.dropped);
  } while (verdict.totals.lost > verdict.totals.dropped && Date.now() < deadline);
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
    await d.kill('broker'); // the district is unreachable: gateways queue to disk
    await sleep(6_000);
    await d.start('broker');
    await sleep(4_000);
    expectNothingLost(await settle(d));
  }, 120_000);

  it('loses nothing when the edge agent is killed mid-stream (kill -9) and started again', async () => {
    const d = await boot();
    const school = d.inventory.schools[0]!.id;
    const pid = d.pid(school);
    await d.kill(school);
    await sleep(3_000);
    await d.start(school);
    expect(d.pid(school)).not.toBe(pid);
    await sleep(4_000);
    expectNothingLost(await settle(d));
  }, 120_000);

  it('loses nothing when the district broker and the cloud restart mid-stream', async () => {
    const d = await boot();
    await d.kill('cloud');
    await d.kill('broker');
    await sleep(3_000);
    await d.start('broker');
    await d.start('cloud');
    await sleep(4_000);
    expectNothingLost(await settle(d));
  }, 120_000);

  it('drops the oldest telemetry when the disk quota fills, and reports exactly what it dropped', async () => {
    const d = await boot({ deviceIntervalMs: 100, queueQuotaBytes: 1024 * 1024 });
    const school = d.inventory.schools[0]!.id;
    await d.kill('broker');
    // 1 MiB of queue holds a few seconds of this school's readings: wait until the gateway has had to drop.
    const log = d.files.logDir;
    const { readFileSync } = await import('node:fs');
    const deadline = Date.now() + 60_000;
    while (!readFileSync(join(log, `gateway-${school}.log`), 'utf8').includes('dropped the oldest telemetry')) {
      if (Date.now() > deadline) throw new Error('the gateway never reached its quota');
      await sleep(500);
    }
    await sleep(2_000);
    await d.start('broker');
    await sleep(3_000);
    const verdict = await settle(d);
    expect(verdict.totals.dropped, 'readings dropped for the quota').toBeGreaterThan(0);
    expect(verdict.totals.duplicated).toBe(0);
    // Every reading lost is one the gateway reported dropping, device by device.
    expect(verdict.devices.filter((x) => x.lost !== x.dropped)).toEqual([]);
    const events = (await (await fetch(`${d.url}/api/schools/${school}/events`)).json()) as Array<{ type: string; dropped: Record<string, number> }>;
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.type === 'telemetry-gap')).toBe(true);
  }, 180_000);
});
