/**
 * npm run verify-delivery: compare what the simulated devices published with what the
 * district stored, per device: lost, duplicated and out-of-order samples.
 *
 *   npm run verify-delivery -- [--url http://127.0.0.1:8080] [--data-dir data] [--published FILE] [--token-file FILE] [--all]
 *
 * It asks the running cloud (--url) with an API token of a district operator or admin
 * (SCHOOLOPS_TOKEN, else --token-file, default <data-dir>/cloud/launcher.token, written by
 * npm start); when none answers it opens the cloud's database file
 * under --data-dir itself (only while the cloud is stopped: one process may hold the file).
 * On a real deployment, give --published a JSON file { "since": <ms>, "devices": { id: count } }
 * from devices that number their samples (the `n` field of a device state message).
 * Exit code: 0 nothing lost or duplicated, 1 something was, 2 the check could not run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { droppedSince, openDuckDbStore } from '@schoolops/cloud';
import { fetchTrusting } from '../launcher/district.ts';
import { compareDelivery, type PublishedCounts, type StoredDelivery } from '../delivery/compare.ts';

const HELP = `usage: npm run verify-delivery -- [--url URL] [--data-dir DIR] [--published FILE] [--token-file FILE] [--all]
  --url        the cloud's address (default: where npm start's cloud answers, <data-dir>/cloud/url,
               else http://127.0.0.1:8080)
  --ca-file    the CA to trust for an https:// address (default <data-dir>/tls/ca.pem)
  --token-file an API token of a district operator or admin (default <data-dir>/cloud/launcher.token;
               the SCHOOLOPS_TOKEN environment variable wins)
  --data-dir   the simulated district's data folder (default ./data)
  --published  published counts (default <data-dir>/delivery/published.json, written by npm start)
  --all        list every device, not only those with a problem`;

interface Stored {
  devices: StoredDelivery[];
  dropped: Record<string, number>;
}

async function storedFromApi(url: string, since: number, token: string | null, ca: Buffer | null): Promise<Stored | null> {
  try {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    const init = { headers, signal: AbortSignal.timeout(60_000) };
    const target = `${url}/api/delivery?since=${since}`;
    const response = ca && url.startsWith('https:') ? await fetchTrusting(ca, target, init) : await fetch(target, init);
    if (response.status === 401 || response.status === 403) {
      throw new Error(`the cloud refused the delivery report (HTTP ${response.status}): give an API token of a district operator or admin (SCHOOLOPS_TOKEN or --token-file)`);
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
    return (await response.json()) as Stored;
  } catch (error) {
    const code = (error as { code?: string; cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code;
    if (code === 'ECONNREFUSED') return null;
    throw error;
  }
}

async function storedFromFile(dataDir: string, since: number): Promise<Stored> {
  const file = join(dataDir, 'cloud', 'readings.duckdb');
  if (!existsSync(file)) throw new Error(`no cloud is answering and there is no database at ${file}`);
  const store = await openDuckDbStore({ file });
  try {
    return { devices: await store.deliveryReport(since), dropped: await droppedSince(store, since) };
  } finally {
    await store.close();
  }
}

const pad = (value: string | number, width: number) => String(value).padStart(width);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { url: { type: 'string' }, 'data-dir': { type: 'string' }, 'token-file': { type: 'string' }, 'ca-file': { type: 'string' }, published: { type: 'string' }, all: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return console.log(HELP), 0;
  const dataDir = values['data-dir'] ?? 'data';
  const publishedFile = values.published ?? join(dataDir, 'delivery', 'published.json');
  if (!existsSync(publishedFile)) throw new Error(`no published counts at ${publishedFile} (run npm start first, or pass --published)`);
  const published = JSON.parse(readFileSync(publishedFile, 'utf8')) as PublishedCounts;

  // The simulated district writes where its cloud answers (https by default) and its CA.
  const urlFile = join(dataDir, 'cloud', 'url');
  const url = values.url ?? (existsSync(urlFile) ? readFileSync(urlFile, 'utf8').trim() : 'http://127.0.0.1:8080');
  const caFile = values['ca-file'] ?? join(dataDir, 'tls', 'ca.pem');
  const ca = url.startsWith('https:') && existsSync(caFile) ? readFileSync(caFile) : null;
  const tokenFile = values['token-file'] ?? join(dataDir, 'cloud', 'launcher.token');
  const token = process.env.SCHOOLOPS_TOKEN?.trim() || (existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : null);
  const fromApi = await storedFromApi(url, published.since, token, ca);
  const stored = fromApi ?? (await storedFromFile(dataDir, published.since));
  console.log(`Delivery since ${new Date(published.since).toISOString()}, district data from ${fromApi ? url : 'the database file'}`);

  const verdict = compareDelivery(published, stored.devices, stored.dropped);
  const shown = verdict.devices.filter((d) => values.all || d.lost || d.duplicated || d.outOfOrder);
  if (shown.length > 0) {
    console.log(`\n${'device'.padEnd(48)} ${pad('published', 10)} ${pad('stored', 8)} ${pad('lost', 6)} ${pad('dup', 6)} ${pad('order', 6)} ${pad('extra', 6)}`);
    for (const d of shown)
      console.log(`${d.deviceId.padEnd(48)} ${pad(d.published, 10)} ${pad(d.stored, 8)} ${pad(d.lost, 6)} ${pad(d.duplicated, 6)} ${pad(d.outOfOrder, 6)} ${pad(d.unexpected, 6)}`);
  }
  const t = verdict.totals;
  console.log(
    `\n${t.devices} devices: ${t.published} samples published, ${t.stored} stored; ` +
      `${t.lost} lost (${t.dropped} of them reported dropped by a gateway's disk quota), ${t.duplicated} duplicated, ${t.outOfOrder} out of order` +
      (t.unexpected ? ` (and ${t.unexpected} newer than the published counts, which are written every few seconds)` : ''),
  );
  if (t.lost > t.dropped) console.log('Samples still in transit count as lost: stop the devices and let the gateways drain before a final check.');
  // Readings a gateway dropped for its quota and reported are accounted for; anything else is not.
  return t.lost !== t.dropped || t.duplicated > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`verify-delivery: ${error.message}`);
    process.exit(2);
  },
);
