/**
 * What replayed schools cost: a simulated district whose schools are replayed (one replayer
 * process, startDistrict's `replayedSchools`), run for a few minutes at the default device
 * intervals, with the CPU and memory of the replayer, the cloud and the broker read from
 * /proc every few seconds, and what the cloud takes in and how fast it answers the wall
 * display's list of schools.
 *
 *   node --import tsx simulators/bench/replay-load.ts [--replayed 147] [--schools 0] [--minutes 3] [--warmup-s 30] [--batch-ms 2000]
 *
 * Measures from `--warmup-s` after every replayed school is online (the first full reading
 * of every device is behind it) for `--minutes`. Prints a progress line every 30 s, then one
 * line per process (CPU as a share of one core, mean and the busiest 10 s; RSS at the start
 * and end of the window and its peak), the readings and batches the cloud stored per second,
 * and GET /api/schools's time (median, p95); then whether the cloud kept up: schools online and
 * devices reporting as the API shows them, and the replayer's own count of readings made,
 * still queued (not yet confirmed by the district) and dropped. `--batch-ms` is how often each
 * replayed school seals a batch (the replayer's default 2000; 200 is a real gateway's). Linux
 * only (/proc).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDistrict } from '../src/launcher/district.ts';

const { values } = parseArgs({
  options: {
    replayed: { type: 'string' },
    schools: { type: 'string' },
    minutes: { type: 'string' },
    'warmup-s': { type: 'string' },
    'batch-ms': { type: 'string' },
    'keep-data': { type: 'boolean' },
  },
});
const replayedSchools = Number(values.replayed ?? 147);
const schools = Number(values.schools ?? 0);
const minutes = Number(values.minutes ?? 3);
const warmupMs = Number(values['warmup-s'] ?? 30) * 1000;
const batchMs = values['batch-ms'] === undefined ? undefined : Number(values['batch-ms']);
const SAMPLE_MS = 5_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Clock ticks a second, for /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}

const dataDir = mkdtempSync(join(tmpdir(), 'schoolops-replay-bench-'));
const started = Date.now();
console.log(`Starting a district of ${schools} school(s) with gateways and ${replayedSchools} replayed, default device intervals, batches every ${batchMs ?? 2000} ms…`);
const district = await startDistrict({
  schools,
  replayedSchools,
  port: 0,
  mqttPort: 0,
  dataDir,
  cameraSchedule: 'on-request',
  schoolTime: 'auto',
  ...(batchMs !== undefined ? { replayBatchMs: batchMs } : {}),
  progress: (line) => console.log(`  ${line}`),
});
console.log(`Ready in ${((Date.now() - started) / 1000).toFixed(1)} s (every replayed school online). Warming up ${warmupMs / 1000} s…`);

interface Stats {
  readings: number;
  batches: number;
  duplicateBatches: number;
}
const ingest = async (): Promise<Stats> => (await (await district.api('/api/ingest/stats')).json()) as Stats;

try {
  await sleep(warmupMs);
  const parts = ['replay', 'cloud', 'broker'].map((name) => ({ name, pid: district.pid(name), cpu: [] as number[], rss: [] as number[] }));
  const sample = () => {
    for (const p of parts) {
      p.cpu.push(cpuSeconds(p.pid));
      p.rss.push(rssMb(p.pid));
    }
  };
  const listTimes: number[] = [];
  const timeList = async () => {
    const t0 = performance.now();
    const response = await district.api('/api/schools');
    await response.arrayBuffer();
    listTimes.push(performance.now() - t0);
  };
  const from = await ingest();
  const t0 = Date.now();
  sample();
  let lastSaid = t0;
  while (Date.now() - t0 < minutes * 60_000) {
    await Promise.all([sleep(SAMPLE_MS), timeList()]);
    sample();
    if (Date.now() - lastSaid >= 30_000) {
      lastSaid = Date.now();
      const elapsed = (Date.now() - t0) / 1000;
      console.log(`  ${elapsed.toFixed(0)} s: ${parts.map((p) => `${p.name} ${((100 * (p.cpu.at(-1)! - p.cpu[0]!)) / elapsed).toFixed(1)} % CPU, ${p.rss.at(-1)!.toFixed(0)} MB`).join('; ')}`);
    }
  }
  const to = await ingest();
  const seconds = (Date.now() - t0) / 1000;
  const windowSamples = Math.max(1, Math.round(10_000 / SAMPLE_MS));

  console.log(`\n${replayedSchools} replayed schools (${district.replay!.faults.offline.length} planned offline), ${schools} with gateways, ${minutes} min measured after ${warmupMs / 1000} s of warm-up:`);
  console.log('process\tpid\tCPU mean (% of a core)\tCPU busiest 10 s\tRSS start → end (peak), MB');
  for (const p of parts) {
    const mean = (100 * (p.cpu.at(-1)! - p.cpu[0]!)) / seconds;
    let busiest = 0;
    for (let i = windowSamples; i < p.cpu.length; i++) busiest = Math.max(busiest, (100 * (p.cpu[i]! - p.cpu[i - windowSamples]!)) / ((windowSamples * SAMPLE_MS) / 1000));
    console.log(`${p.name}\t${p.pid}\t${mean.toFixed(1)}\t${busiest.toFixed(1)}\t${p.rss[0]!.toFixed(0)} → ${p.rss.at(-1)!.toFixed(0)} (${Math.max(...p.rss).toFixed(0)})`);
  }
  console.log(
    `cloud stored ${((to.readings - from.readings) / seconds).toFixed(0)} readings/s in ${((to.batches - from.batches) / seconds).toFixed(1)} batches/s (${((to.duplicateBatches - from.duplicateBatches) / seconds).toFixed(1)} duplicate batches/s: sent again before their ack came)`,
  );
  const list = (await (await district.api('/api/schools')).json()) as Array<{ online: boolean; devices: { total: number; reporting: number } }>;
  const sum = (f: (s: (typeof list)[number]) => number) => list.reduce((n, s) => n + f(s), 0);
  console.log(`API: ${list.filter((s) => s.online).length}/${list.length} schools online, ${sum((s) => s.devices.reporting)}/${sum((s) => s.devices.total)} devices reporting`);
  const replayLine = readFileSync(join(district.files.logDir, 'replay.log'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('readings made'))
    .at(-1);
  if (replayLine) console.log(`replayer: ${(JSON.parse(replayLine) as { msg: string }).msg}`);
  const sorted = listTimes.slice().sort((a, b) => a - b);
  const pct = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(0);
  console.log(`GET /api/schools (${(await (await district.api('/api/schools')).json()).length} schools): median ${pct(0.5)} ms, p95 ${pct(0.95)} ms over ${sorted.length} requests`);
} finally {
  await district.stop();
  if (!values['keep-data']) rmSync(dataDir, { recursive: true, force: true });
  else console.log(`data kept in ${dataDir}`);
}
