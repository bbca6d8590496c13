/**
 * Issue 3 benchmark (a script that prints figures, not a test): a gateway's backlog after a
 * long outage, and how fast it drains once the district is back.
 *
 * What it measures, for one school of D devices reporting M numeric metrics every I seconds
 * for H hours (default 200 x 10 x 10 s x 24 h = 1,728,000 samples, 17,280,000 metric values):
 *
 *  1. Fill: a DiskOutbox (the gateway's LevelDB disk queue) filled directly with the backlog,
 *     sealed into TelemetryBatches the way the Batcher seals them (at most maxReadings per
 *     batch, or what arrived within maxDelayMs), one synced write per batch. Prints the time
 *     to fill, the JSON bytes the queue counts, LevelDB's files on disk (as written, and after
 *     a full compaction), and bytes per metric value and per sample.
 *  2. Drain: a real district broker and cloud started as child processes (as the simulated
 *     district starts them: credentials with scrypt hashes, an inventory with this school,
 *     a bench device profile loaded through `profileDirs`), then the real edge agent
 *     (startEdgeAgent, in this process) on a copy of that queue with no device publishing and
 *     the backfill budget set high. Times the drain until the queue is empty, checks through
 *     the cloud API (GET /api/ingest/stats, GET /api/delivery?since=<run start>) that every sample was
 *     stored exactly once, and prints samples/s, metric values/s and the multiple of real time
 *     (H hours / drain time), with the CPU each process used.
 *
 * Run (from the repository root):
 *
 *   node --import tsx edge-agent/bench/backlog.bench.ts [--hours 24] [--devices 200] [--metrics 10]
 *        [--interval-s 10] [--window 8[,32,64]] [--spread-ms 100] [--max-readings 200]
 *        [--max-delay-ms 200] [--progress-s 5] [--timeout-min 30] [--no-delay all|broker,cloud,agent] [--profile] [--keep]
 *
 *  --window      the agent's queue.window (batches in flight); a list drains the same backlog
 *                once per value, each with a fresh broker, cloud and DuckDB file
 *  --spread-ms   how the devices' report times spread over each interval: 100 (default) is a
 *                gateway polling its devices on one tick, so a 10-s tick fills one batch;
 *                10000 is devices on their own clocks, so maxDelayMs seals small batches
 *  --no-delay    experiment: TCP_NODELAY (Nagle off) on every socket of these processes
 *                (all, or some of broker,cloud,agent), through ./nodelay.ts, without touching
 *                their sources
 *  --profile     CPU-profile the broker, the cloud (node --cpu-prof) and the agent
 *                (inspector) during the drain and print where the time went
 *  --keep        keep the temporary folder (queue, DuckDB, logs, profiles)
 *
 * Uses only ephemeral ports (0) on 127.0.0.1 and stops only the processes it started.
 */
import { closeSync, cpSync, existsSync, mkdirSync, openSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ClassicLevel } from 'classic-level';
import { pino, type Logger } from 'pino';
import { hashPassword } from '@schoolops/broker';
import { ACCOUNTS_FILE_NAME, AccountStore, type CloudConfig } from '@schoolops/cloud';
import {
  WIRE_VERSION,
  loadProfiles,
  type DeviceProfile,
  type DeviceRecord,
  type Inventory,
  type MetricDef,
  type Reading,
  type TelemetryBatch,
} from '@schoolops/device-profiles';
import { parseEdgeConfig, startEdgeAgent, type EdgeConfig } from '@schoolops/edge-agent';
import { DEFAULTS } from '../src/agent.ts';
import { DiskOutbox } from '../src/outbox.ts';
import { compareDelivery, type StoredDelivery } from '../../simulators/src/delivery/compare.ts';
import { mulberry32 } from '../../simulators/src/district/random.ts';
import { scriptPath, stopService } from '../../simulators/src/launcher/supervisor.ts';
import { formatSummary, summarizeProfile } from './cpuprofile.ts';

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------

const { values: args } = parseArgs({
  options: {
    hours: { type: 'string' },
    devices: { type: 'string' },
    metrics: { type: 'string' },
    'interval-s': { type: 'string' },
    window: { type: 'string' },
    'spread-ms': { type: 'string' },
    'max-readings': { type: 'string' },
    'max-delay-ms': { type: 'string' },
    'progress-s': { type: 'string' },
    'timeout-min': { type: 'string' },
    profile: { type: 'boolean' },
    'no-delay': { type: 'string' },
    keep: { type: 'boolean' },
  },
});
const num = (name: keyof typeof args, fallback: number): number => {
  const value = args[name] === undefined ? fallback : Number(args[name]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got "${args[name]}"`);
  return value;
};
const HOURS = num('hours', 24);
const DEVICES = Math.trunc(num('devices', 200));
const METRICS = Math.trunc(num('metrics', 10));
const INTERVAL_MS = num('interval-s', 10) * 1000;
const WINDOWS = (args.window ?? String(DEFAULTS.window)).split(',').map((w) => Math.trunc(Number(w)));
const SPREAD_MS = args['spread-ms'] === undefined ? 100 : Number(args['spread-ms']);
const MAX_READINGS = Math.trunc(num('max-readings', DEFAULTS.maxReadings));
const MAX_DELAY_MS = args['max-delay-ms'] === undefined ? DEFAULTS.maxDelayMs : Number(args['max-delay-ms']);
const PROGRESS_MS = num('progress-s', 5) * 1000;
const TIMEOUT_MS = num('timeout-min', 30) * 60_000;
const PROFILE = args.profile === true;
/** Processes whose sockets get TCP_NODELAY (--no-delay all | broker,cloud,agent). */
const NO_DELAY = new Set(args['no-delay'] === 'all' ? ['broker', 'cloud', 'agent'] : (args['no-delay']?.split(',') ?? []));
if ([...NO_DELAY].some((p) => !['broker', 'cloud', 'agent'].includes(p))) throw new Error('--no-delay: all, or some of broker,cloud,agent');
const NO_DELAY_MODULE = fileURLToPath(new URL('./nodelay.ts', import.meta.url));
if (NO_DELAY.has('agent')) await import(NO_DELAY_MODULE);
if (WINDOWS.some((w) => !(w >= 1 && w <= 1000))) throw new Error('--window: integers from 1 to 1000, comma-separated');
if (!(SPREAD_MS >= 0 && SPREAD_MS <= INTERVAL_MS)) throw new Error('--spread-ms: from 0 to the interval');
if (!(MAX_DELAY_MS >= 0)) throw new Error('--max-delay-ms: 0 or more');

const SAMPLES_PER_DEVICE = Math.floor((HOURS * 3_600_000) / INTERVAL_MS);
const TOTAL_SAMPLES = SAMPLES_PER_DEVICE * DEVICES;
const TOTAL_VALUES = TOTAL_SAMPLES * METRICS;
const SCHOOL_ID = 'thcs-bench';
const GATEWAY_ID = 'gw-thcs-bench';
const PROFILE_ID = `bench-env-sensor-${METRICS}`;
const DEVICES_PER_ROOM = 20;
/** Disk queue quota for the bench: far above any backlog it builds, so nothing is dropped. */
const QUOTA_BYTES = 64 * 1024 ** 3;

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

/** A full GC before reading the heap, so "heap after" is what the agent really retains. */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stamp = () => new Date().toISOString().slice(11, 19);
const say = (line: string) => console.log(`${stamp()} ${line}`);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Bytes of every file under a folder (what the folder takes on disk, ignoring block rounding). */
function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(path) : statSync(path).size;
  }
  return total;
}

/**
 * The LevelDB folder inside a DiskOutbox folder. The outbox keeps its database in
 * `<dir>/leveldb` beside a ballast file (for a full disk); older versions used `<dir>` itself.
 */
function levelDbDir(queueDir: string): string {
  const nested = join(queueDir, 'leveldb');
  return existsSync(join(nested, 'CURRENT')) ? nested : queueDir;
}

interface QueueDisk {
  /** Every file of the queue folder. */
  total: number;
  /** LevelDB's own files (tables, log, manifest). */
  leveldb: number;
}

function queueDisk(queueDir: string): QueueDisk {
  const db = levelDbDir(queueDir);
  const total = folderBytes(queueDir);
  // Old layout: the database is the folder; anything else in it (a ballast) is not LevelDB's.
  const leveldb = db === queueDir ? total - (existsSync(join(queueDir, 'ballast')) ? statSync(join(queueDir, 'ballast')).size : 0) : folderBytes(db);
  return { total, leveldb };
}

/** Full manual compaction of a queue's LevelDB (never creates a database where there is none). */
async function compactQueue(queueDir: string): Promise<void> {
  const db = new ClassicLevel<string, string>(levelDbDir(queueDir), { keyEncoding: 'utf8', valueEncoding: 'utf8', createIfMissing: false });
  await db.open();
  try {
    await db.compactRange('\u0000', '\uffff');
  } finally {
    await db.close();
  }
}

/** CPU seconds (user + system, all threads) of a process we started, from /proc. */
function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ (100/s)
  } catch {
    return NaN;
  }
}

/** Peak resident memory of a process, MB (VmHWM). */
function peakRssMb(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Busy and total CPU time of the whole machine (every process, ours and others'), seconds. */
function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (line[3] ?? 0) + (line[4] ?? 0);
  const total = line.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / 100, total: total / 100 };
}


// ---------------------------------------------------------------------------------------
// The bench device profile, the school and its devices
// ---------------------------------------------------------------------------------------

/** A metric of the bench profile and how its simulated value moves: base + daily swing + noise. */
interface MetricSim {
  def: MetricDef;
  base: number;
  /** Amplitude of the daily cycle. */
  daily: number;
  /** Amplitude of the sample-to-sample noise. */
  noise: number;
  decimals: number;
}

const text = (vi: string, en: string) => ({ vi, en });
const SIMS: MetricSim[] = [
  { def: { name: 'temperature', type: 'number', unit: '°C', min: -10, max: 80, description: text('Nhiệt độ phòng', 'Room temperature') }, base: 27, daily: 4, noise: 0.3, decimals: 1 },
  { def: { name: 'humidityPct', type: 'number', unit: '%', min: 0, max: 100, description: text('Độ ẩm', 'Relative humidity') }, base: 72, daily: 12, noise: 1, decimals: 1 },
  { def: { name: 'co2Ppm', type: 'integer', unit: 'ppm', min: 300, max: 10000, description: text('Nồng độ CO2', 'CO2 concentration') }, base: 900, daily: 500, noise: 25, decimals: 0 },
  { def: { name: 'noiseDb', type: 'number', unit: 'dB', min: 20, max: 130, description: text('Độ ồn', 'Noise level') }, base: 55, daily: 12, noise: 3, decimals: 1 },
  { def: { name: 'lux', type: 'integer', unit: 'lx', min: 0, max: 100000, description: text('Độ rọi', 'Illuminance') }, base: 380, daily: 300, noise: 15, decimals: 0 },
  { def: { name: 'powerW', type: 'number', unit: 'W', min: 0, max: 10000, description: text('Công suất tiêu thụ', 'Power draw') }, base: 640, daily: 420, noise: 20, decimals: 1 },
  { def: { name: 'voltageV', type: 'number', unit: 'V', min: 0, max: 300, description: text('Điện áp', 'Mains voltage') }, base: 224, daily: 5, noise: 1.5, decimals: 1 },
  { def: { name: 'cpuPct', type: 'number', unit: '%', min: 0, max: 100, description: text('Tải CPU', 'CPU load') }, base: 30, daily: 20, noise: 6, decimals: 1 },
  { def: { name: 'memFreeMb', type: 'integer', unit: 'MB', min: 0, max: 1000000, description: text('Bộ nhớ trống', 'Free memory') }, base: 1800, daily: 400, noise: 60, decimals: 0 },
  { def: { name: 'rssiDbm', type: 'integer', unit: 'dBm', min: -120, max: 0, description: text('Cường độ sóng Wi-Fi', 'Wi-Fi signal') }, base: -58, daily: 4, noise: 3, decimals: 0 },
];
/** Metrics beyond the ten named ones (--metrics > 10): generic gauges. */
const simsFor = (count: number): MetricSim[] =>
  Array.from({ length: count }, (_, i) =>
    SIMS[i] ?? { def: { name: `gauge${i}`, type: 'number', unit: '', min: 0, max: 1000, description: text(`Số đo ${i}`, `Gauge ${i}`) }, base: 500, daily: 200, noise: 10, decimals: 2 },
  );

function benchProfile(sims: MetricSim[]): DeviceProfile {
  return {
    id: PROFILE_ID,
    kind: 'lab',
    vendor: 'SchoolOps',
    model: `Bench sensor (${sims.length} metrics)`,
    name: text(`Cảm biến thử tải (${sims.length} số đo)`, `Benchmark sensor (${sims.length} metrics)`),
    protocol: { type: 'mqtt' },
    reportIntervalSeconds: Math.max(1, Math.round(INTERVAL_MS / 1000)),
    metrics: sims.map((s) => s.def),
    health: { offlineAfterMissed: 3, rules: [] },
    commands: [],
  };
}

function benchDevices(): DeviceRecord[] {
  return Array.from({ length: DEVICES }, (_, i) => {
    const room = `p${100 + Math.floor(i / DEVICES_PER_ROOM) + 1}`;
    return { id: `${SCHOOL_ID}.${room}.env${String(i + 1).padStart(3, '0')}`, profileId: PROFILE_ID, roomId: room };
  });
}

function benchInventory(devices: DeviceRecord[]): Inventory {
  const rooms = [...new Set(devices.map((d) => d.roomId))].map((id, i) => ({
    id,
    name: text(`Phòng ${id}`, `Room ${id}`),
    type: 'classroom' as const,
    floor: 1 + Math.floor(i / 10),
    capacity: 45,
  }));
  return {
    v: 1,
    district: { id: 'bench-district', name: text('Sở thử tải', 'Benchmark district'), timezone: 'Asia/Ho_Chi_Minh' },
    schools: [
      {
        id: SCHOOL_ID,
        name: text('THCS Thử Tải', 'Benchmark lower-secondary school'),
        level: 'lower-secondary',
        ward: 'Bench',
        gatewayId: GATEWAY_ID,
        rooms,
        classes: [],
        timetable: { periods: [], lessons: [] },
        devices,
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------
// 1. Fill the disk queue
// ---------------------------------------------------------------------------------------

/**
 * The Batcher's sealing rule on simulated time: a batch is sealed when maxReadings have
 * gathered, or maxDelayMs after the first reading of the batch arrived.
 */
class SealEmulator {
  private pending: Reading[] = [];
  private firstAt = 0;
  private seq = 0;
  constructor(private readonly bootId: string) {}

  add(reading: Reading, out: TelemetryBatch[]): void {
    if (this.pending.length > 0 && reading.ts >= this.firstAt + MAX_DELAY_MS) out.push(this.seal(this.firstAt + MAX_DELAY_MS));
    if (this.pending.length === 0) this.firstAt = reading.ts;
    this.pending.push(reading);
    if (this.pending.length >= MAX_READINGS) out.push(this.seal(reading.ts));
  }

  flush(out: TelemetryBatch[]): void {
    if (this.pending.length > 0) out.push(this.seal(this.firstAt + MAX_DELAY_MS));
  }

  private seal(at: number): TelemetryBatch {
    const readings = this.pending;
    this.pending = [];
    return { v: WIRE_VERSION, gatewayId: GATEWAY_ID, schoolId: SCHOOL_ID, bootId: this.bootId, seq: this.seq++, sentAt: Math.round(at), readings };
  }
}

interface FillResult {
  batches: number;
  jsonBytes: number;
  fillMs: number;
  disk: QueueDisk;
  compacted: QueueDisk;
}

async function fillQueue(dir: string, devices: DeviceRecord[], sims: MetricSim[], logger: Logger): Promise<FillResult> {
  const rand = mulberry32(20261123); // deterministic: every run builds the same backlog
  const DAY = 86_400_000;
  // Each device: its own offset within the tick, daily phase and baseline drift per metric.
  const perDevice = devices.map((device, d) => ({
    id: device.id,
    offset: Math.floor((d * SPREAD_MS) / DEVICES),
    phase: rand() * 0.5,
    drift: sims.map((s) => (rand() - 0.5) * s.noise * 4),
  }));
  const start = Math.floor((Date.now() - SAMPLES_PER_DEVICE * INTERVAL_MS) / INTERVAL_MS) * INTERVAL_MS;
  const pow = sims.map((s) => 10 ** s.decimals);
  const valueOf = (s: MetricSim, i: number, ts: number, phase: number, drift: number): number => {
    const day = Math.sin(2 * Math.PI * (((ts % DAY) / DAY) - 0.3 + phase));
    const noise = (rand() + rand() - 1) * s.noise;
    const v = Math.min(s.def.max!, Math.max(s.def.min!, s.base + drift + s.daily * day + noise));
    return Math.round(v * pow[i]!) / pow[i]!;
  };

  const sealer = new SealEmulator(randomBytes(12).toString('base64url'));
  // A quota far above the backlog: nothing may be dropped (the agent gets the same quota).
  const outbox = await DiskOutbox.open({ dir, quotaBytes: QUOTA_BYTES, logger });

  const t0 = performance.now();
  let lastProgress = t0;
  let batches = 0;
  for (let k = 0; k < SAMPLES_PER_DEVICE; k++) {
    const tick = start + k * INTERVAL_MS;
    const sealed: TelemetryBatch[] = [];
    for (const dev of perDevice) {
      const ts = tick + dev.offset;
      const values: Record<string, number> = {};
      for (let i = 0; i < sims.length; i++) values[sims[i]!.def.name] = valueOf(sims[i]!, i, ts, dev.phase, dev.drift[i]!);
      sealer.add({ deviceId: dev.id, ts, values, n: k + 1 }, sealed);
    }
    if (k === SAMPLES_PER_DEVICE - 1) sealer.flush(sealed);
    // One synced write per batch, one after the other, as the Batcher chains them.
    for (const batch of sealed) {
      await outbox.append(batch, true);
      batches++;
    }
    const now = performance.now();
    if (now - lastProgress >= PROGRESS_MS) {
      lastProgress = now;
      const done = ((k + 1) * INTERVAL_MS) / 3_600_000;
      say(
        `  fill: ${done.toFixed(1)} h of ${HOURS} (${((100 * (k + 1)) / SAMPLES_PER_DEVICE).toFixed(0)}%), ${int((k + 1) * DEVICES)} samples, ` +
          `${int(((k + 1) * DEVICES) / ((now - t0) / 1000))} samples/s, ${int(batches)} batches, ${mb(outbox.size.bytes)} JSON`,
      );
    }
  }
  const fillMs = performance.now() - t0;
  const { bytes: jsonBytes } = outbox.size;
  if (outbox.size.readings !== TOTAL_SAMPLES) throw new Error(`queue holds ${outbox.size.readings} readings, expected ${TOTAL_SAMPLES}`);
  await outbox.close();
  const disk = queueDisk(dir);

  // The same data after a full LevelDB compaction (on a copy: the drain starts from the queue
  // as a gateway would have it, with only LevelDB's own background compactions done).
  const copy = `${dir}.compacted`;
  cpSync(dir, copy, { recursive: true });
  await compactQueue(copy);
  const compacted = queueDisk(copy);
  rmSync(copy, { recursive: true, force: true });
  return { batches, jsonBytes, fillMs, disk, compacted };
}

// ---------------------------------------------------------------------------------------
// 2. The district (broker + cloud as child processes) and the drain
// ---------------------------------------------------------------------------------------

interface Child {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  ready: { type: 'ready'; port?: number; url?: string };
}

/**
 * Start a part of the district as a child process, as simulators/src/launcher/supervisor.ts
 * startService does (fork under tsx, log to a file, wait for its IPC 'ready'); the only
 * difference is the extra node flags, for --cpu-prof.
 */
async function startChild(name: string, script: string, childArgs: string[], logFile: string, execArgv: string[] = []): Promise<Child> {
  const log = openSync(logFile, 'a');
  const child = fork(scriptPath(script), childArgs, {
    execArgv: ['--import', 'tsx', ...execArgv],
    stdio: ['ignore', log, log, 'ipc'],
    env: { ...process.env, NODE_ENV: process.env.NODE_ENV ?? 'production' },
  });
  closeSync(log);
  running.add(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (running.delete(child), resolve(code))));
  const ready = await new Promise<Child['ready']>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready within 60 s; see ${logFile}`)), 60_000);
    child.on('message', (m: Child['ready']) => m?.type === 'ready' && (clearTimeout(timer), resolve(m)));
    void exited.then((code) => (clearTimeout(timer), reject(new Error(`${name} exited (code ${code}) before ready; see ${logFile}`))));
  });
  return { name, child, exited, ready };
}

/** The main thread's profile among those `node --cpu-prof` wrote into a folder: the largest. */
function mainThreadProfile(dir: string): string {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  return files[0] ?? join(dir, '(none written)');
}

/** Children we started, so an interrupted run stops exactly those (by pid). */
const running = new Set<ChildProcess>();

interface DistrictSetup {
  credentialsFile: string;
  cloudSecretFile: string;
  gatewaySecretFile: string;
  inventoryFile: string;
  profileDir: string;
}

async function writeDistrict(root: string, inventory: Inventory, profile: DeviceProfile): Promise<DistrictSetup> {
  const dirs = { district: join(root, 'district'), broker: join(root, 'broker'), profiles: join(root, 'profiles'), secrets: join(root, 'secrets') };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  // The profile as a JSON file with the real schema, loaded (and validated) like any other.
  const profileFile = join(dirs.profiles, `${profile.id}.json`);
  writeFileSync(profileFile, JSON.stringify(profile, null, 2));
  if (!loadProfiles([dirs.profiles]).has(profile.id)) throw new Error(`bench profile ${profileFile} did not load`);
  const inventoryFile = join(dirs.district, 'inventory.json');
  writeFileSync(inventoryFile, JSON.stringify(inventory, null, 2));
  // Credentials as an installer writes them: scrypt hashes only; the secrets in 0600 files.
  const cloudPassword = randomBytes(18).toString('base64url');
  const gatewayPassword = randomBytes(18).toString('base64url');
  const credentialsFile = join(dirs.broker, 'credentials.json');
  const clients = [
    { username: 'cloud', role: 'cloud' as const, passwordHash: await hashPassword(cloudPassword) },
    { username: GATEWAY_ID, role: 'gateway' as const, schoolId: SCHOOL_ID, passwordHash: await hashPassword(gatewayPassword) },
  ];
  writeFileSync(credentialsFile, JSON.stringify({ v: 1, clients }, null, 2), { mode: 0o600 });
  const cloudSecretFile = join(dirs.secrets, 'cloud.secret');
  const gatewaySecretFile = join(dirs.secrets, 'gateway.secret');
  writeFileSync(cloudSecretFile, `${cloudPassword}\n`, { mode: 0o600 });
  writeFileSync(gatewaySecretFile, `${gatewayPassword}\n`, { mode: 0o600 });
  return { credentialsFile, cloudSecretFile, gatewaySecretFile, inventoryFile, profileDir: dirs.profiles };
}

interface DrainResult {
  window: number;
  openMs: number;
  drainMs: number;
  completed: boolean;
  drainedSamples: number;
  cpu: { agent: number; broker: number; cloud: number; machineBusy: number; machineTotal: number };
  peakRss: { agent: number; broker: number; cloud: number };
  agentHeapAfterOpenMb: number;
  agentElu: number;
  stats: { readings: number; batches: number; duplicateBatches: number; rejected: number; rows: number } | null;
  verdict: ReturnType<typeof compareDelivery>['totals'] | null;
  deliveryMs: number;
  queueAfter: QueueDisk;
  queueAfterCompaction: QueueDisk;
  duckdbBytes: number;
  profiles: string[];
}

async function drain(root: string, window: number, backlogDir: string, setup: DistrictSetup, devices: DeviceRecord[]): Promise<DrainResult> {
  const runDir = join(root, `run-w${window}`);
  const logs = join(runDir, 'logs');
  const prof = join(runDir, 'prof');
  mkdirSync(logs, { recursive: true });
  mkdirSync(prof, { recursive: true });
  const queueDir = join(runDir, 'queue');
  cpSync(backlogDir, queueDir, { recursive: true });
  // One folder per process: under tsx the module loader is a second thread with its own
  // profile; the main thread's is the largest file (see mainThreadProfile).
  const profArgs = (name: string) => [
    ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${join(prof, name)}`] : []),
    ...(NO_DELAY.has(name) ? ['--import', NO_DELAY_MODULE] : []),
  ];

  const broker = await startChild(
    'broker',
    'broker/src/cli.ts',
    ['--port', '0', '--host', '127.0.0.1', '--credentials', setup.credentialsFile],
    join(logs, 'broker.log'),
    profArgs('broker'),
  );
  const mqttUrl = `mqtt://127.0.0.1:${broker.ready.port}`;
  const cloudConfig: CloudConfig = {
    v: 1,
    http: { host: '127.0.0.1', port: 0 },
    mqtt: { url: mqttUrl, username: 'cloud', passwordFile: setup.cloudSecretFile },
    dataDir: join(runDir, 'cloud'),
    inventoryFile: setup.inventoryFile,
    profileDirs: [setup.profileDir],
  };
  const cloudConfigFile = join(runDir, 'cloud.json');
  writeFileSync(cloudConfigFile, JSON.stringify(cloudConfig, null, 2));
  // The district API answers signed-in principals only: a district operator's token, made in
  // the account file before the cloud holds it.
  const accounts = await AccountStore.open({ file: join(runDir, 'cloud', ACCOUNTS_FILE_NAME) });
  const { token } = await accounts.createToken({ name: 'backlog bench', role: 'district-operator', scope: { all: true }, createdBy: 'bench', expiresAt: null });
  await accounts.close();
  const authorized = { headers: { authorization: `Bearer ${token}` } };
  // Every sample of this run is later than this (the delivery report reaches back 7 days at most).
  const runSince = Date.now();
  const cloud = await startChild('cloud', 'cloud/src/cli.ts', ['--config', cloudConfigFile], join(logs, 'cloud.log'), profArgs('cloud'));
  const api = cloud.ready.url!;
  say(`  district up: broker ${mqttUrl} (pid ${broker.child.pid}), cloud ${api} (pid ${cloud.child.pid})`);

  const edgeConfig: EdgeConfig = parseEdgeConfig(
    {
      v: 1,
      gatewayId: GATEWAY_ID,
      schoolId: SCHOOL_ID,
      district: { url: mqttUrl, username: GATEWAY_ID, passwordFile: setup.gatewaySecretFile },
      local: { host: '127.0.0.1', port: 0 },
      devices,
      dataDir: queueDir,
      queue: { window, quotaBytes: QUOTA_BYTES },
      backfill: { uplinkBps: 10e9, share: 1 },
      profileDirs: [setup.profileDir],
      healthIntervalMs: 10_000,
    },
    'bench gateway config',
  );
  const agentLog = pino({ name: 'edge-agent', level: 'info' }, pino.destination({ dest: join(logs, 'gateway.log'), sync: false }));

  let session: Session | undefined;
  if (PROFILE) {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const cpu0 = { agent: process.cpuUsage(), broker: cpuSecondsOf(broker.child.pid!), cloud: cpuSecondsOf(cloud.child.pid!), machine: machineCpu() };
  collectGarbage();
  const heapBeforeOpenMb = process.memoryUsage().heapUsed / 1e6;
  const elu0 = performance.eventLoopUtilization();
  const tOpen = performance.now();
  const agent = await startEdgeAgent(edgeConfig, { logger: agentLog });
  const openMs = performance.now() - tOpen;
  collectGarbage();
  const agentHeapAfterOpenMb = process.memoryUsage().heapUsed / 1e6 - heapBeforeOpenMb;
  const queued = agent.outbox.size.readings;
  say(`  agent up: opened a queue of ${int(queued)} samples in ${secs(openMs)} (+${agentHeapAfterOpenMb.toFixed(0)} MB heap); draining with window ${window}`);

  // Drain: poll the queue depth often (for the end time), print progress every PROGRESS_MS.
  const t0 = performance.now();
  let last = { at: t0, left: queued, broker: cpu0.broker, cloud: cpu0.cloud, agent: process.cpuUsage() };
  let nextProgress = t0 + PROGRESS_MS;
  let completed = false;
  let agentPeakRss = process.memoryUsage.rss();
  while (performance.now() - t0 < TIMEOUT_MS) {
    agentPeakRss = Math.max(agentPeakRss, process.memoryUsage.rss());
    if (agent.outbox.size.readings === 0) {
      completed = true;
      break;
    }
    await sleep(20);
    const now = performance.now();
    if (now >= nextProgress) {
      nextProgress += PROGRESS_MS;
      const left = agent.outbox.size.readings;
      const b = cpuSecondsOf(broker.child.pid!);
      const c = cpuSecondsOf(cloud.child.pid!);
      const a = process.cpuUsage();
      const dt = (now - last.at) / 1000;
      const agentCpu = (a.user + a.system - last.agent.user - last.agent.system) / 1e6;
      say(
        `  drain w${window}: ${int(left)} samples queued (${((100 * (queued - left)) / queued).toFixed(0)}% sent), ` +
          `${int((last.left - left) / dt)} samples/s; CPU agent ${((100 * agentCpu) / dt).toFixed(0)}%, ` +
          `broker ${((100 * (b - last.broker)) / dt).toFixed(0)}%, cloud ${((100 * (c - last.cloud)) / dt).toFixed(0)}%; ` +
          `agent rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`,
      );
      last = { at: now, left, broker: b, cloud: c, agent: a };
    }
  }
  const drainMs = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  const agentCpu = process.cpuUsage(cpu0.agent);
  const machine = machineCpu();
  const cpu = {
    agent: (agentCpu.user + agentCpu.system) / 1e6,
    broker: cpuSecondsOf(broker.child.pid!) - cpu0.broker,
    cloud: cpuSecondsOf(cloud.child.pid!) - cpu0.cloud,
    machineBusy: machine.busy - cpu0.machine.busy,
    machineTotal: machine.total - cpu0.machine.total,
  };
  const profiles: string[] = [];
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    const file = join(prof, 'agent.cpuprofile');
    writeFileSync(file, JSON.stringify(profile));
    profiles.push(file);
    session.disconnect();
  }
  const drainedSamples = queued - agent.outbox.size.readings;
  say(`  ${completed ? 'queue empty' : 'TIMED OUT'} after ${secs(drainMs)}: ${int(drainedSamples)} samples drained`);

  // What the district says it holds.
  let stats: DrainResult['stats'] = null;
  let verdict: DrainResult['verdict'] = null;
  const tDelivery = performance.now();
  try {
    const s = (await (await fetch(`${api}/api/ingest/stats`, authorized)).json()) as {
      readings: number;
      batches: number;
      duplicateBatches: number;
      rejected: Record<string, number>;
      storage: { rows: number };
    };
    stats = {
      readings: s.readings,
      batches: s.batches,
      duplicateBatches: s.duplicateBatches,
      rejected: Object.values(s.rejected).reduce((a, b) => a + b, 0),
      rows: s.storage.rows,
    };
    const delivery = (await (await fetch(`${api}/api/delivery?since=${runSince}`, authorized)).json()) as { devices: StoredDelivery[] };
    const published = { since: 0, devices: Object.fromEntries(devices.map((d) => [d.id, SAMPLES_PER_DEVICE])) };
    verdict = compareDelivery(published, delivery.devices).totals;
  } catch (error) {
    say(`  could not read the cloud API: ${(error as Error).message}`);
  }
  const deliveryMs = performance.now() - tDelivery;

  const peakRss = { agent: agentPeakRss / 1e6, broker: peakRssMb(broker.child.pid!), cloud: peakRssMb(cloud.child.pid!) };
  await agent.close();
  await stopService(cloud, 60_000);
  await stopService(broker);
  agentLog.flush();
  const queueAfter = queueDisk(queueDir);
  await compactQueue(queueDir);
  const queueAfterCompaction = queueDisk(queueDir);
  const duckdbBytes = folderBytes(join(runDir, 'cloud'));
  if (PROFILE) for (const name of ['broker', 'cloud']) profiles.push(mainThreadProfile(join(prof, name)));
  return {
    window,
    openMs,
    drainMs,
    completed,
    drainedSamples,
    cpu,
    peakRss,
    agentHeapAfterOpenMb,
    agentElu: elu.utilization,
    stats,
    verdict,
    deliveryMs,
    queueAfter,
    queueAfterCompaction,
    duckdbBytes,
    profiles,
  };
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

const root = mkdtempSync(join(tmpdir(), 'schoolops-backlog-'));
let cleaned = false;
const cleanup = () => {
  if (cleaned) return;
  cleaned = true;
  for (const child of running) child.kill('SIGKILL'); // only the children this script started
  if (!args.keep) rmSync(root, { recursive: true, force: true });
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

try {
  const sims = simsFor(METRICS);
  const profile = benchProfile(sims);
  const devices = benchDevices();
  const inventory = benchInventory(devices);
  const setup = await writeDistrict(root, inventory, profile);
  const logger = pino({ name: 'bench-outbox', level: 'warn' }, pino.destination({ dest: join(root, 'fill.log'), sync: false }));

  say(
    `backlog bench: ${HOURS} h x ${DEVICES} devices x ${METRICS} metrics every ${INTERVAL_MS / 1000} s = ${int(TOTAL_SAMPLES)} samples, ` +
      `${int(TOTAL_VALUES)} metric values; batches of <= ${MAX_READINGS} readings (maxDelayMs ${MAX_DELAY_MS}, device spread ${SPREAD_MS} ms); ` +
      `windows ${WINDOWS.join(', ')}${NO_DELAY.size ? `; TCP_NODELAY on every socket of ${[...NO_DELAY].join(', ')}` : ''}; folder ${root}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );

  // 1. Fill
  const backlogDir = join(root, 'backlog');
  const fill = await fillQueue(backlogDir, devices, sims, logger);
  logger.flush();
  const perValue = (bytes: number) => (bytes / TOTAL_VALUES).toFixed(2);
  const perSample = (bytes: number) => (bytes / TOTAL_SAMPLES).toFixed(1);
  console.log(`
Fill (${HOURS} h backlog, DiskOutbox.append(batch, backlog = true), one synced LevelDB write per batch)
  samples ${int(TOTAL_SAMPLES)}   metric values ${int(TOTAL_VALUES)}   batches ${int(fill.batches)} (${(TOTAL_SAMPLES / fill.batches).toFixed(1)} samples each)
  time to fill                 ${secs(fill.fillMs)}  (${int(TOTAL_SAMPLES / (fill.fillMs / 1000))} samples/s, ${int(fill.batches / (fill.fillMs / 1000))} synced batch writes/s)
  JSON the queue counts        ${mb(fill.jsonBytes)}  ${perSample(fill.jsonBytes)} B/sample  ${perValue(fill.jsonBytes)} B/value
  LevelDB files on disk        ${mb(fill.disk.leveldb)}  ${perSample(fill.disk.leveldb)} B/sample  ${perValue(fill.disk.leveldb)} B/value   (whole queue folder ${mb(fill.disk.total)}, with the outbox's ballast)
  after compactRange (a copy)  ${mb(fill.compacted.leveldb)}  ${perSample(fill.compacted.leveldb)} B/sample  ${perValue(fill.compacted.leveldb)} B/value` +
    '\n');

  // 2. Drain, once per window
  const results: DrainResult[] = [];
  for (const window of WINDOWS) {
    say(`drain with queue.window = ${window}`);
    const r = await drain(root, window, backlogDir, setup, devices);
    results.push(r);
    const s = r.drainedSamples / (r.drainMs / 1000);
    const v = r.verdict;
    console.log(`
Drain, window ${window} (backfill { uplinkBps: 10e9, share: 1 })${r.completed ? '' : `  -- TIMED OUT after ${secs(r.drainMs)}`}
  agent start (reads the queue) ${secs(r.openMs)}; the loaded queue holds ${r.agentHeapAfterOpenMb.toFixed(0)} MB of the agent's heap (${((r.agentHeapAfterOpenMb * 1e6) / TOTAL_SAMPLES).toFixed(0)} B/sample)
  drain time                   ${secs(r.drainMs)}   (${int(r.drainedSamples)} samples)
  samples/s                    ${int(s)}
  metric values/s              ${int(s * METRICS)}
  multiple of real time        ${r.completed ? `${((HOURS * 3_600_000) / r.drainMs).toFixed(0)}x` : `${((r.drainedSamples / TOTAL_SAMPLES) * ((HOURS * 3_600_000) / r.drainMs)).toFixed(0)}x (rate so far)`}  (${HOURS} h / drain time)
  CPU during drain             agent ${r.cpu.agent.toFixed(1)} s (${((100 * r.cpu.agent) / (r.drainMs / 1000)).toFixed(0)}%), broker ${r.cpu.broker.toFixed(1)} s (${((100 * r.cpu.broker) / (r.drainMs / 1000)).toFixed(0)}%), cloud ${r.cpu.cloud.toFixed(1)} s (${((100 * r.cpu.cloud) / (r.drainMs / 1000)).toFixed(0)}%) of one core; machine busy ${((100 * r.cpu.machineBusy) / r.cpu.machineTotal).toFixed(0)}% of 2 cores (${Math.max(0, r.cpu.machineBusy - r.cpu.agent - r.cpu.broker - r.cpu.cloud).toFixed(1)} s by other processes)
  agent event loop busy        ${(100 * r.agentElu).toFixed(0)}%
  peak RSS during drain        agent (this process) ${r.peakRss.agent.toFixed(0)} MB, broker ${r.peakRss.broker.toFixed(0)} MB, cloud ${r.peakRss.cloud.toFixed(0)} MB
  cloud: /api/ingest/stats     ${r.stats ? `readings ${int(r.stats.readings)}, batches ${int(r.stats.batches)}, duplicate batches ${int(r.stats.duplicateBatches)}, rejected ${int(r.stats.rejected)}, rows ${int(r.stats.rows)}` : 'n/a'}
  cloud: /api/delivery ${v ? `${v.devices} devices, ${int(v.published)} samples expected, ${int(v.stored)} stored: ${int(v.lost)} lost, ${int(v.duplicated)} duplicated, ${int(v.outOfOrder)} out of order` : 'n/a'} (${secs(r.deliveryMs)} for both queries)
  verdict                      ${r.completed && v && v.lost === 0 && v.duplicated === 0 && r.stats?.readings === TOTAL_SAMPLES && r.stats.rows === TOTAL_VALUES ? 'every sample arrived exactly once' : 'NOT every sample arrived exactly once'}
  queue LevelDB after drain    ${mb(r.queueAfter.leveldb)} (deleted batches stay on disk until LevelDB compacts); after compactRange ${mb(r.queueAfterCompaction.leveldb)}
  DuckDB folder                ${mb(r.duckdbBytes)} (${(r.duckdbBytes / TOTAL_VALUES).toFixed(2)} B/value)
`);
    for (const file of r.profiles) {
      try {
        console.log(formatSummary(file.slice(root.length + 1), summarizeProfile(JSON.parse(readFileSync(file, 'utf8'))), 14).join('\n') + '\n');
      } catch (error) {
        console.log(`(no profile ${file}: ${(error as Error).message})`);
      }
    }
  }

  if (results.length > 1) {
    console.log('Summary');
    console.log('  window  drain s  samples/s  values/s  x real time  CPU s agent/broker/cloud  dup batches  exactly once');
    for (const r of results) {
      const s = r.drainedSamples / (r.drainMs / 1000);
      const once = r.completed && r.verdict?.lost === 0 && r.verdict.duplicated === 0;
      console.log(
        `  ${String(r.window).padStart(6)}  ${(r.drainMs / 1000).toFixed(1).padStart(7)}  ${int(s).padStart(9)}  ${int(s * METRICS).padStart(8)}  ` +
          `${(r.completed ? `${((HOURS * 3_600_000) / r.drainMs).toFixed(0)}x` : 'timeout').padStart(11)}  ` +
          `${`${r.cpu.agent.toFixed(0)} / ${r.cpu.broker.toFixed(0)} / ${r.cpu.cloud.toFixed(0)}`.padStart(24)}  ${String(r.stats?.duplicateBatches ?? '?').padStart(11)}  ${once ? 'yes' : 'NO'}`,
      );
    }
  }
  say(`done; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}${args.keep ? `; kept ${root}` : ''}`);
} finally {
  cleanup();
}
process.exit(0);
