/**
 * The CLI as a real child process: it reports ready over IPC, serves MQTT, and exits 0
 * on its own after SIGTERM (which also proves close() leaves no handle behind).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../src/index.ts';
import { SCHOOL_A, connectAs, makeCredentials } from './helpers.ts';
import { SAFETY_DEADLINE_MS } from '../../simulators/test/support/wait.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const cliPath = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: ChildProcess[] = [];

function runCli(args: string[], options: { ipc?: boolean; stdin?: string } = {}): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', cliPath, ...args], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'pipe', ...(options.ipc ? (['ipc'] as const) : [])],
  });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  else child.stdin!.end();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** The CLI's ready message; the deadline is a safety net against a hang, not a start-up time. */
function ready(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no ready message from the CLI')), SAFETY_DEADLINE_MS);
    child.once('exit', (code) => reject(new Error(`CLI exited with ${code} before ready`)));
    child.on('message', (message: { type?: string; port?: number }) => {
      if (message.type === 'ready' && typeof message.port === 'number') {
        clearTimeout(timer);
        resolve(message.port);
      }
    });
  });
}

let dir: string;
let credentialsFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'schoolops-broker-cli-'));
  credentialsFile = join(dir, 'credentials.json');
  await writeFile(credentialsFile, JSON.stringify(await makeCredentials()));
});

afterEach(() => {
  // Only the processes this file started, by their own pid.
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cli', () => {
  it('starts, sends ready over IPC, serves MQTT and exits 0 on SIGTERM', async () => {
    const run = runCli(['--port', '0', '--credentials', credentialsFile], { ipc: true });
    const port = await ready(run.child);
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(1883);

    const gateway = await connectAs(port, `gw-${SCHOOL_A}`);
    expect(gateway.connected).toBe(true);
    await gateway.endAsync();

    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.stdout()).toContain('district broker listening');
    expect(run.stdout()).toContain('district broker closed');
  });

  it('exits 1 with a clear message for a malformed credentials file', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ v: 1, clients: [{ username: 'cloud', role: 'cloud', password: 'plain' }] }));
    const run = runCli(['--port', '0', '--credentials', bad]);
    expect((await run.exited).code).toBe(1);
    expect(run.stderr()).toContain(`credentials file ${bad}: /clients/0: must have required property 'passwordHash'`);
  });

  it('exits 1 naming a missing flag', async () => {
    const run = runCli(['--port', '0']);
    expect((await run.exited).code).toBe(1);
    expect(run.stderr()).toMatch(/missing --credentials/);
  });

  it('takes per-address limits as flags and exits 1 naming one out of range', async () => {
    const run = runCli(['--port', '0', '--credentials', credentialsFile, '--max-connections-per-address', '8', '--auth-burst', '0']);
    expect((await run.exited).code).toBe(1);
    expect(run.stderr()).toContain('--auth-burst must be an integer from 1 to 1000000, got "0"');
  });

  it('hash-password reads stdin and prints a hash that verifies', async () => {
    const run = runCli(['hash-password'], { stdin: 'mật-khẩu gateway\n' });
    expect((await run.exited).code).toBe(0);
    const hash = run.stdout().trim();
    expect(hash).toMatch(/^scrypt\$/);
    expect(hash).not.toContain('gateway');
    expect(await verifyPassword('mật-khẩu gateway', hash)).toBe(true);
  });
});
