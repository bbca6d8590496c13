/**
 * A long soak: a simulated district whose WAN flaps (the district broker is killed, then
 * started again, every period), with devices publishing throughout; at the end the devices
 * stop, the gateways drain, and the delivery check prints lost / duplicated / out of order.
 *
 *   node --import tsx simulators/bench/wan-flap.ts [--minutes 30] [--period-s 120] [--schools 2]
 *
 * Exit code 0 when nothing was lost or duplicated.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compareDelivery, type StoredDelivery } from '../src/delivery/compare.ts';
import { startDistrict } from '../src/launcher/district.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string' }, 'period-s': { type: 'string' }, schools: { type: 'string' } } });
const minutes = Number(values.minutes ?? 30);
const periodMs = Number(values['period-s'] ?? 120) * 1000;
const schools = Number(values.schools ?? 2);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stamp = () => new Date().toISOString().slice(11, 19);

const dataDir = mkdtempSync(join(tmpdir(), 'schoolops-flap-'));
const district = await startDistrict({ schools, port: 0, mqttPort: 0, dataDir, seed: 3, deviceIntervalMs: 1000, pollIntervalMs: 10_000 });
console.log(`${stamp()} district up: ${schools} schools, ${district.url}; flapping the WAN every ${periodMs / 1000} s for ${minutes} min`);
const end = Date.now() + minutes * 60_000;
let cuts = 0;
let up = true;
while (Date.now() < end) {
  await sleep(Math.min(periodMs, Math.max(0, end - Date.now())));
  if (Date.now() >= end) break;
  if (up) {
    await district.kill('broker');
    cuts++;
  } else await district.start('broker');
  up = !up;
  console.log(`${stamp()} WAN ${up ? 'restored' : `cut (#${cuts})`}`);
}
if (!up) {
  await district.start('broker');
  console.log(`${stamp()} WAN restored for the drain`);
}
await district.stopDevices(20_000);
const published = district.published();
let verdict = compareDelivery(published, []);
for (const deadline = Date.now() + 180_000; Date.now() < deadline; ) {
  await sleep(2_000);
  const response = await district.api(`/api/delivery?since=${published.since}`).catch(() => null);
  if (!response?.ok) continue;
  verdict = compareDelivery(published, ((await response.json()) as { devices: StoredDelivery[] }).devices);
  if (verdict.totals.lost === 0) break;
}
await district.stop();
rmSync(dataDir, { recursive: true, force: true });
const t = verdict.totals;
console.log(
  `${stamp()} ${minutes} min, ${cuts} WAN cuts, ${t.devices} devices: ${t.published} samples published, ${t.stored} stored; ` +
    `${t.lost} lost, ${t.duplicated} duplicated, ${t.outOfOrder} out of order`,
);
process.exit(t.lost === 0 && t.duplicated === 0 ? 0 : 1);
