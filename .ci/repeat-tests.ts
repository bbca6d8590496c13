/**
 * Runs test files again and again, alone and beside a CPU hog, and says which runs failed
 * and why: how anyone checks that a test file is deterministic before it joins the suite.
 *
 *   npm run test:repeat -- simulators/test/district-e2e.test.ts          (20 runs alone, 20 beside a hog)
 *   npm run test:repeat -- --runs 5 --mode hog cloud/test                 (a folder: every test file under it)
 *   npm run test:repeat -- --all --runs 20                                (every test file of the suite)
 *   npm run test:repeat -- --all --runs 20 --out m.tsv --resume           (go on where m.tsv stopped)
 *
 * Each run is its own `vitest run FILE` (a fresh process, as CI starts it). The hog is one
 * process spinning on one core (`--hogs N` for more), started by this script and stopped by
 * its pid. Results go to a TSV file (one line per run: file, mode, run, passed, seconds,
 * failed tests and the first line of each error, the commit) and a summary is printed at the
 * end. The exit code is 1 when any run failed. With --resume, runs already in the --out file
 * are kept and counted, and only the missing ones are run: the whole matrix takes hours, so it
 * can be run in parts, but only on the commit the file was started on.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const vitest = join(root, 'node_modules', '.bin', 'vitest');

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '20' },
    mode: { type: 'string', default: 'both' },
    hogs: { type: 'string', default: '1' },
    all: { type: 'boolean', default: false },
    out: { type: 'string' },
    resume: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opts.help || (!opts.all && positionals.length === 0)) {
  console.log(`usage: npm run test:repeat -- [--runs N] [--mode alone|hog|both] [--hogs N] [--out results.tsv [--resume]] (--all | FILE|FOLDER ...)`);
  process.exit(opts.help ? 0 : 2);
}
const runs = Number(opts.runs);
const hogs = Number(opts.hogs);
if (!Number.isInteger(runs) || runs < 1) fail(`--runs must be a whole number from 1 (got ${opts.runs})`);
if (!Number.isInteger(hogs) || hogs < 1) fail(`--hogs must be a whole number from 1 (got ${opts.hogs})`);
if (!['alone', 'hog', 'both'].includes(opts.mode!)) fail(`--mode must be alone, hog or both (got ${opts.mode})`);
if (!existsSync(vitest)) fail('vitest is not installed: run npm ci first');
if (opts.resume && !opts.out) fail('--resume needs --out: the results file to go on with');
// The Debian packages some files need (chromium, snmpd, victoria-metrics), as npm test installs them.
try {
  execFileSync('bash', [join(root, '.ci', 'system-packages.sh')], { stdio: 'inherit' });
} catch {
  fail('the Debian packages the tests need could not be installed (.ci/system-packages.sh)');
}
const modes = opts.mode === 'both' ? (['alone', 'hog'] as const) : ([opts.mode] as ['alone' | 'hog']);

function fail(message: string): never {
  console.error(`test:repeat: ${message}`);
  process.exit(2);
}

/** Test files (*.test.ts under a test folder), as vitest.config.ts includes them. */
function testFilesUnder(path: string): string[] {
  const full = resolve(root, path);
  if (!existsSync(full)) fail(`no such file or folder: ${path}`);
  if (statSync(full).isFile()) return [relative(root, full)];
  return readdirSync(full, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts') && !f.includes('node_modules'))
    .map((f) => relative(root, join(full, f)))
    .filter((f) => /^[^/]+\/test\//.test(f));
}

const files = [...new Set((opts.all ? ['broker', 'cloud', 'dashboard', 'device-profiles', 'edge-agent', 'simulators'] : positionals).flatMap(testFilesUnder))].sort();
if (files.length === 0) fail('no test files found');
const out = resolve(opts.out ?? join(tmpdir(), `schoolops-repeat-${new Date().toISOString().replace(/[:.]/g, '-')}.tsv`));
const commit = currentCommit();
const header = 'file\tmode\trun\tpassed\tseconds\tfailures\tcommit\n';

interface RunResult {
  passed: boolean;
  seconds: number;
  failures: string[];
}

/** One `vitest run FILE`, its JSON report read for which tests failed and why. */
function runOnce(file: string): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'schoolops-repeat-run-'));
  const report = join(dir, 'report.json');
  const started = performance.now();
  return new Promise((resolveRun) => {
    const child = spawn(vitest, ['run', file, '--reporter=dot', '--reporter=json', `--outputFile.json=${report}`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      const failures: string[] = [];
      try {
        const json = JSON.parse(readFileSync(report, 'utf8')) as {
          testResults: Array<{ message?: string; status: string; assertionResults: Array<{ status: string; fullName: string; failureMessages: string[] }> }>;
        };
        for (const f of json.testResults) {
          for (const t of f.assertionResults)
            if (t.status === 'failed') failures.push(`${t.fullName}: ${(t.failureMessages[0] ?? '').split('\n')[0]!.slice(0, 300)}`);
          if (f.status === 'failed' && f.message) failures.push(`(file) ${f.message.split('\n')[0]!.slice(0, 300)}`);
        }
      } catch {
        failures.push(`no report (exit ${code}): ${output.trim().split('\n').slice(-3).join(' | ').slice(0, 300)}`);
      }
      if (code !== 0 && failures.length === 0) failures.push(`exit ${code}: ${output.trim().split('\n').slice(-3).join(' | ').slice(0, 300)}`);
      rmSync(dir, { recursive: true, force: true });
      resolveRun({ passed: code === 0, seconds, failures });
    });
  });
}

/** HEAD, marked `+changes` when the tracked files differ from it: a results file is only worth as much as the code it ran. */
function currentCommit(): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
  try {
    const head = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') ? `${head}+changes` : head;
  } catch {
    return 'unknown';
  }
}

/** The runs an earlier, stopped invocation left in the results file, by file and mode. */
function earlierRuns(): Map<string, RunResult[]> {
  const byKey = new Map<string, RunResult[]>();
  if (!opts.resume || !existsSync(out)) {
    writeFileSync(out, header);
    return byKey;
  }
  const lines = readFileSync(out, 'utf8').split('\n').filter(Boolean);
  if (lines[0] !== header.trim()) fail(`${out} is not a results file of this script (its first line differs); start a new one`);
  for (const line of lines.slice(1)) {
    const [file, mode, , passed, seconds, failures, ranOn] = line.split('\t');
    if (ranOn !== commit) fail(`${out} holds runs of ${ranOn}, but this checkout is ${commit}: a matrix is only resumed on the commit it started on`);
    const key = `${file}\t${mode}`;
    byKey.set(key, [...(byKey.get(key) ?? []), { passed: passed === 'true', seconds: Number(seconds), failures: failures ? failures.split(' || ') : [] }]);
  }
  return byKey;
}

function startHogs(): ChildProcess[] {
  return Array.from({ length: hogs }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

function stopHogs(children: ChildProcess[]): void {
  for (const child of children) if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
}

const earlier = earlierRuns();
const results: Array<{ file: string; mode: string; runs: RunResult[] }> = [];
let hogProcesses: ChildProcess[] = [];
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    stopHogs(hogProcesses);
    process.exit(130);
  });

const kept = [...earlier.values()].reduce((n, r) => n + r.length, 0);
console.log(`${files.length} test file(s), ${runs} run(s) each, ${modes.join(' and ')}${modes.includes('hog') ? ` (${hogs} spinning core${hogs > 1 ? 's' : ''})` : ''}, commit ${commit}; results in ${out}${kept ? ` (${kept} earlier run(s) kept)` : ''}`);
for (const file of files) {
  for (const mode of modes) {
    const entry = { file, mode, runs: (earlier.get(`${file}\t${mode}`) ?? []).slice(0, runs) };
    results.push(entry);
    if (entry.runs.length >= runs) continue;
    hogProcesses = mode === 'hog' ? startHogs() : [];
    try {
      for (let i = entry.runs.length + 1; i <= runs; i++) {
        const r = await runOnce(file);
        entry.runs.push(r);
        appendFileSync(out, `${file}\t${mode}\t${i}\t${r.passed}\t${r.seconds.toFixed(1)}\t${r.failures.join(' || ').replace(/[\t\n]/g, ' ')}\t${commit}\n`);
        const failedSoFar = entry.runs.filter((x) => !x.passed).length;
        console.log(`[${i}/${runs}] ${file} ${mode}: ${r.passed ? 'pass' : 'FAIL'} ${r.seconds.toFixed(1)} s${failedSoFar ? ` (${failedSoFar} failed so far)` : ''}`);
        for (const f of r.failures) console.log(`        ${f}`);
      }
    } finally {
      stopHogs(hogProcesses);
      hogProcesses = [];
    }
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
console.log('\nfile\tmode\truns\tfailed\tmedian s\tmax s');
for (const r of results) {
  const secs = r.runs.map((x) => x.seconds);
  console.log(`${r.file}\t${r.mode}\t${r.runs.length}\t${r.runs.filter((x) => !x.passed).length}\t${median(secs).toFixed(1)}\t${Math.max(...secs).toFixed(1)}`);
}
const failedRuns = results.reduce((n, r) => n + r.runs.filter((x) => !x.passed).length, 0);
const totalRuns = results.reduce((n, r) => n + r.runs.length, 0);
console.log(`\nrepeat: ${totalRuns - failedRuns} passed, ${failedRuns} failed (runs of a test file; details in ${out})`);
process.exit(failedRuns ? 1 : 0);
