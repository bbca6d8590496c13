/**
 * Start the district's parts as child processes, each logging to its own file, and stop
 * them by the pids we started. A child says it is ready with an IPC message
 * { type: 'ready', ... }; one that exits before that fails the start with its log's tail.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Service<R> {
  name: string;
  child: ChildProcess;
  ready: R;
  logFile: string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
}

/**
 * A safety net, not a start-up budget: a part that fails exits, and that fails the start at
 * once with its log. This only catches a part that hangs without exiting. (It was 60 s, and a
 * replayer of 147 schools on a machine at load 10-20 took longer than that to say ready.)
 */
const READY_TIMEOUT_MS = 180_000;

export function scriptPath(workspaceRelative: string): string {
  return fileURLToPath(new URL(`../../../${workspaceRelative}`, import.meta.url));
}

/** The last lines of a part's log, for an error that says what it said before it failed. */
export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * `onMessage` sees every IPC message of the child (the ready one too) from the moment it is
 * forked, so none sent right after 'ready' is missed.
 */
export async function startService<R extends { type: 'ready' }>(
  name: string,
  script: string,
  args: string[],
  logFile: string,
  onMessage?: (message: unknown) => void,
): Promise<Service<R>> {
  const log = openSync(logFile, 'a');
  const child = fork(script, args, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', log, log, 'ipc'],
    env: { ...process.env, NODE_ENV: process.env.NODE_ENV ?? 'production' },
  });
  closeSync(log);
  if (onMessage) child.on('message', onMessage);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = await new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Ours, by pid: a part that never said ready is not left running.
      child.kill('SIGKILL');
      reject(new Error(`${name} did not become ready within ${READY_TIMEOUT_MS / 1000} s and was stopped. Last lines of ${logFile}:\n${tail(logFile)}`));
    }, READY_TIMEOUT_MS);
    child.on('message', (message: R) => {
      if (message?.type === 'ready') {
        clearTimeout(timer);
        resolve(message);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (code ${code}) before it was ready. Last lines of ${logFile}:\n${tail(logFile)}`));
    });
  });
  return { name, child, ready, logFile, exited };
}

/** SIGTERM, then SIGKILL if it has not exited in time. Only ever the pid we started. */
export async function stopService(service: Pick<Service<unknown>, 'child' | 'exited'>, graceMs = 10_000): Promise<void> {
  const { child } = service;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await service.exited;
  clearTimeout(timer);
}
