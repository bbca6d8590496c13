/**
 * The InfluxDB sink against a real server that speaks the InfluxDB v2 write API:
 * VictoriaMetrics from Debian's package, started here on ephemeral ports.
 * VictoriaMetrics names each field's series `<measurement>_<field>` and keeps tags as labels;
 * it stores booleans as 1/0 and, having only numbers, string fields as 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createInfluxSink, INFLUX_MEASUREMENT, type InfluxSink } from '../src/storage/influx-sink.ts';
import { openStorage, type StorageLogger, type StoredRow } from '../src/storage/index.ts';
import { SAFETY_DEADLINE_MS, waitFor } from '../../simulators/test/support/wait.ts';
// Ports below the kernel's ephemeral range, a slice per vitest worker: no other test file's
// server or client connection takes one between our pick and VictoriaMetrics' bind.
import { freePort } from '../../simulators/src/launcher/files.ts';

const VM_BIN = '/usr/bin/victoria-metrics';

interface Vm {
  base: string;
  port: number;
  proc: ChildProcess;
}

const started: ChildProcess[] = [];
const tempDirs: string[] = [];

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

async function startVm(port?: number): Promise<Vm> {
  if (!existsSync(VM_BIN)) {
    throw new Error(`${VM_BIN} is missing: these tests need a real VictoriaMetrics. Install it with: sudo apt-get install victoria-metrics`);
  }
  const p = port ?? (await freePort());
  const proc = spawn(VM_BIN, ['-storageDataPath', tempDir('schoolops-vm-'), '-httpListenAddr', `127.0.0.1:${p}`, '-loggerLevel', 'ERROR'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  started.push(proc);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const base = `http://127.0.0.1:${p}`;
  // Healthy, or exited; a fetch that throws (not listening yet) is "not yet".
  const exited = await waitFor(
    async () => (proc.exitCode !== null ? { code: proc.exitCode } : (await fetch(`${base}/health`)).ok && { code: null }),
    `victoria-metrics to become healthy on ${base}`,
    { everyMs: 50 },
  ).catch((error: Error) => {
    throw new Error(`${error.message}: ${stderr}`);
  });
  if (exited.code !== null) throw new Error(`victoria-metrics exited with ${exited.code}: ${stderr}`);
  return { base, port: p, proc };
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

type Series = Map<string, Map<number, number>>; // "<name>|<device>" -> ts -> value

/** Every raw sample VictoriaMetrics holds for the measurement, from /api/v1/export. */
async function exportAll(vm: Vm): Promise<{ series: Series; samples: number }> {
  await fetch(`${vm.base}/internal/force_flush`);
  const match = encodeURIComponent(`{__name__=~"${INFLUX_MEASUREMENT}_.*"}`);
  const res = await fetch(`${vm.base}/api/v1/export?match[]=${match}`);
  expect(res.status).toBe(200);
  const series: Series = new Map();
  let samples = 0;
  for (const line of (await res.text()).split('\n')) {
    if (!line.trim()) continue;
    const s = JSON.parse(line) as { metric: Record<string, string>; values: number[]; timestamps: number[] };
    const key = `${s.metric.__name__}|${s.metric.school}|${s.metric.device}`;
    const byTs = series.get(key) ?? new Map<number, number>();
    s.timestamps.forEach((ts, i) => byTs.set(ts, s.values[i]!));
    series.set(key, byTs);
    samples += s.values.length;
  }
  return { series, samples };
}

/** Polls the export until it holds `expected` samples (VictoriaMetrics makes data searchable shortly after a write). */
async function waitForSamples(vm: Vm, expected: number): Promise<Series> {
  let held = 0;
  return waitFor(
    async () => {
      const { series, samples } = await exportAll(vm);
      held = samples;
      return samples >= expected && series;
    },
    `VictoriaMetrics to hold ${expected} samples`,
  ).catch((error: Error) => {
    throw new Error(`${error.message} (it holds ${held})`);
  });
}

/** A logger that records what it was told. */
function recordingLogger(): StorageLogger & { lines: { level: string; msg: string; obj: object }[] } {
  const lines: { level: string; msg: string; obj: object }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, msg: msg ?? '', obj });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** `samples` device samples of 5 metrics each: 3 numbers, 1 boolean, 1 string. */
function dataset(samples: number, t0: number, tag: string): StoredRow[] {
  const rows: StoredRow[] = [];
  for (let i = 0; i < samples; i++) {
    const schoolId = `sch-${tag}-${(i % 50) % 3}`; // a device belongs to one school
    const deviceId = `dev-${tag}-${i % 50}`;
    const ts = t0 + Math.floor(i / 50) * 1000;
    rows.push(
      { schoolId, deviceId, metric: 'temperature', ts, value: Math.round((20 + ((i * 7) % 150) / 10) * 100) / 100 },
      { schoolId, deviceId, metric: 'humidity', ts, value: (i * 13) % 100 },
      { schoolId, deviceId, metric: 'lampHours', ts, value: 1000 + i },
      { schoolId, deviceId, metric: 'powerOn', ts, value: i % 3 !== 0 },
      { schoolId, deviceId, metric: 'input', ts, value: i % 2 === 0 ? 'hdmi1' : 'vga "a"' },
    );
  }
  return rows;
}

/** Asserts every number and boolean of `rows` is in `series` with its value and ts. */
function expectAllNumericArrived(rows: StoredRow[], series: Series): number {
  let checked = 0;
  const missing: string[] = [];
  for (const r of rows) {
    if (typeof r.value === 'string') continue;
    const want = typeof r.value === 'boolean' ? (r.value ? 1 : 0) : r.value;
    const got = series.get(`${INFLUX_MEASUREMENT}_${r.metric}|${r.schoolId}|${r.deviceId}`)?.get(r.ts);
    if (got === undefined || Math.abs(got - want) > 1e-9 * Math.max(1, Math.abs(want))) {
      missing.push(`${r.deviceId}/${r.metric}@${r.ts}: want ${want}, got ${got}`);
    }
    checked++;
  }
  expect(missing.slice(0, 10)).toEqual([]);
  expect(missing.length).toBe(0);
  return checked;
}

/** Timestamps within VictoriaMetrics' default one-month retention. */
const recent = () => Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

describe('InfluxDB sink against a real VictoriaMetrics', () => {
  // Started by the first test that needs it, so a missing binary fails each of those tests
  // with the install hint (a failing beforeAll would only mark them skipped).
  let shared: Promise<Vm> | undefined;
  const sharedVm = () => (shared ??= startVm());

  afterAll(async () => {
    for (const proc of started) await stopProcess(proc);
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });

  it('delivers every numeric and boolean value of 5,000 rows', async () => {
    const vm = await sharedVm();
    const logger = recordingLogger();
    // The HTTP timeout is a safety net: a slow answer must not count as a failed attempt.
    const sink = createInfluxSink({ url: vm.base, org: 'district', bucket: 'schoolops', batchSize: 300, timeoutMs: SAFETY_DEADLINE_MS, logger });
    const rows = dataset(1000, recent(), 'a'); // 1,000 samples x 5 metrics
    expect(rows).toHaveLength(5000);
    // Several calls, as ingest would make them.
    for (let i = 0; i < rows.length; i += 500) await sink.write(rows.slice(i, i + 500));
    await sink.flush();

    const stats = sink.stats();
    expect(stats.rowsAccepted).toBe(5000);
    expect(stats.pointsQueued).toBe(1000); // one point per device sample
    expect(stats.pointsWritten).toBe(1000);
    expect(stats).toMatchObject({ pointsFailed: 0, pointsDropped: 0, pointsPending: 0, failedAttempts: 0 });

    // 4,000 numeric/boolean samples, plus 1,000 string fields that VictoriaMetrics keeps as 0.
    const series = await waitForSamples(vm, 5000);
    expect(expectAllNumericArrived(rows, series)).toBe(4000);
    expect([...series.keys()].filter((k) => k.startsWith(`${INFLUX_MEASUREMENT}_input|`))).toHaveLength(50);
    expect(logger.lines.filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
    await sink.close();
  });

  it('retries while the server is down and delivers once it is up', async () => {
    const port = await freePort(); // nothing listens here yet
    const logger = recordingLogger();
    const sink = createInfluxSink({
      url: `http://127.0.0.1:${port}`,
      org: 'district',
      bucket: 'schoolops',
      minRetryDelayMs: 100,
      maxRetryDelayMs: 400,
      // Retries enough to outlast any start-up of the server below: what is tested is that
      // it retries and then delivers, not how long it keeps trying.
      maxRetries: 100_000,
      maxRetryTimeMs: 3_600_000,
      logger,
    });
    const rows = dataset(200, recent(), 'b');
    await sink.write(rows);
    await sink.flush(); // first attempt: connection refused

    let stats = sink.stats();
    expect(stats.pointsWritten).toBe(0);
    expect(stats.failedAttempts).toBeGreaterThanOrEqual(1);
    expect(stats.pointsRetrying).toBe(200);
    expect(stats.pointsPending).toBe(200);
    expect(stats.pointsFailed).toBe(0);
    expect(stats.lastError).toMatch(/ECONNREFUSED|connect/i);
    expect(logger.lines.some((l) => l.level === 'warn' && /will retry/.test(l.msg))).toBe(true);

    await waitFor(() => sink.stats().failedAttempts >= 3, 'a few more refused attempts', { everyMs: 50 });
    const late = await startVm(port);
    await waitFor(() => sink.stats().pointsWritten === 200, 'the retried points to be written', { everyMs: 50 });
    stats = sink.stats();
    expect(stats).toMatchObject({ pointsQueued: 200, pointsWritten: 200, pointsFailed: 0, pointsPending: 0, pointsRetrying: 0 });
    expect(stats.failedAttempts).toBeGreaterThanOrEqual(3);

    const series = await waitForSamples(late, 1000);
    expect(expectAllNumericArrived(rows, series)).toBe(800);
    await sink.close();
  });

  it('counts and logs points it gives up on, and never throws into the caller', async () => {
    const port = await freePort(); // stays dead
    const logger = recordingLogger();
    const sink = createInfluxSink({
      url: `http://127.0.0.1:${port}`,
      org: 'district',
      bucket: 'schoolops',
      batchSize: 10,
      maxRetries: 2,
      minRetryDelayMs: 20,
      maxRetryDelayMs: 40,
      maxPendingPoints: 30,
      logger,
    });
    const rows = dataset(50, recent(), 'c'); // 50 points
    await expect(sink.write(rows)).resolves.toBeUndefined();
    // 30 fit under maxPendingPoints, 20 are refused at once.
    expect(sink.stats()).toMatchObject({ pointsQueued: 30, pointsDropped: 20 });
    await waitFor(() => sink.stats().pointsFailed === 30, 'every queued point to be given up on', { everyMs: 50 });
    const stats = sink.stats();
    expect(stats).toMatchObject({ pointsWritten: 0, pointsFailed: 30, pointsPending: 0, pointsRetrying: 0 });
    expect(stats.failedAttempts).toBe(9); // 3 batches x (1 attempt + 2 retries)
    expect(logger.lines.some((l) => l.level === 'error' && /failed for good/.test(l.msg))).toBe(true);
    expect(logger.lines.some((l) => l.level === 'error' && /backlog full/.test(l.msg))).toBe(true);

    // Room again: new points are accepted.
    await sink.write(rows.slice(0, 5));
    expect(sink.stats().pointsQueued).toBe(31);
    await sink.close();
    // Whatever was unsent at close is counted, and later writes are dropped, not thrown.
    expect(sink.stats().pointsPending).toBe(0);
    expect(sink.stats().pointsFailed).toBe(31);
    await expect(sink.write(rows.slice(0, 5))).resolves.toBeUndefined();
    expect(sink.stats().pointsDropped).toBe(21);
  });

  it('openStorage fans out: DuckDB answers, VictoriaMetrics receives a copy', async () => {
    const vm = await sharedVm();
    const dataDir = tempDir('schoolops-fanout-');
    const storage = await openStorage({ dataDir, influx: { url: vm.base, org: 'district', bucket: 'schoolops', timeoutMs: SAFETY_DEADLINE_MS } });
    const rows = dataset(100, recent(), 'd');
    await storage.write(rows);
    await storage.flush();
    expect(await storage.count()).toBe(500);
    expect(storage.influx!.stats()).toMatchObject({ pointsWritten: 100, pointsFailed: 0 });
    // The shared VictoriaMetrics holds earlier tests' samples too, so a count proves nothing:
    // wait until these rows are searchable (shortly after the write), then check each value.
    const series = await waitFor(
      async () => {
        const { series: held } = await exportAll(vm);
        return rows.every((r) => typeof r.value === 'string' || held.get(`${INFLUX_MEASUREMENT}_${r.metric}|${r.schoolId}|${r.deviceId}`)?.has(r.ts)) && held;
      },
      'the fanned-out rows in VictoriaMetrics',
    );
    expect(expectAllNumericArrived(rows, series)).toBe(400);
    await storage.close();
  });

  it('a dead InfluxDB neither blocks nor loses DuckDB writes', async () => {
    const dataDir = tempDir('schoolops-fanout-dead-');
    const port = await freePort();
    const storage = await openStorage({
      dataDir,
      // No send before flush() below (the send timer an hour away), and retries far apart.
      influx: { url: `http://127.0.0.1:${port}`, org: 'district', bucket: 'schoolops', flushIntervalMs: 3_600_000, minRetryDelayMs: 5_000 },
    });
    const rows = dataset(100, recent(), 'e');
    await storage.write(rows);
    // The write resolved with its InfluxDB copy queued and not even tried yet: it did not wait for it.
    expect(storage.influx!.stats()).toMatchObject({ pointsQueued: 100, pointsPending: 100, pointsWritten: 0, pointsFailed: 0, failedAttempts: 0 });
    expect(await storage.count()).toBe(500);
    await storage.flush(); // resolves although the copy failed
    expect(storage.influx!.stats()).toMatchObject({ pointsWritten: 0, pointsRetrying: 100 });
    await storage.close(); // does not wait out the retry delay
    expect(storage.influx!.stats()).toMatchObject({ pointsFailed: 100, pointsPending: 0 });

    const reopened = await openStorage({ dataDir });
    expect(await reopened.count()).toBe(500);
    await reopened.close();
  });
});
