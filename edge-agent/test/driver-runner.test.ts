/**
 * The driver runner against real TCP peers: a small line protocol ("VALUE <n>") served by
 * test servers that answer, hang, refuse or send garbage. What is checked is the runner's
 * job: per-device loops (a hanging device delays nobody), timeouts, backoff, status changes
 * reported once per change, and options checked at start. The runners' timers run on the
 * test's own clock: every delay is exact and nothing depends on how busy the machine is.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { pino } from 'pino';
import { loadProfiles, BUILTIN_PROFILES_DIR, type MetricValues } from '@schoolops/device-profiles';
import { DriverError, DriverHost, type DeviceStatus, type Driver } from '../src/drivers/index.ts';
import type { RunnerTimer, RunnerTimers } from '../src/drivers/runner.ts';

const logger = pino({ level: 'silent' });
const profile = loadProfiles([BUILTIN_PROFILES_DIR]).get('epson-eb-x51')!;

type Mode = 'answer' | 'hang' | 'garbage';

/** A device speaking "VALUE <lampHours>\n" on connect. */
async function device(mode: { current: Mode }): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  let n = 100;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (mode.current === 'answer') socket.end(`VALUE ${n++}\n`);
    else if (mode.current === 'garbage') socket.end('\u0000\u0001 what?\n');
    // hang: say nothing, keep the socket open
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port, sockets };
}

/** The test protocol's driver: one connection per poll, one line back. */
const lineDriver: Driver<'pjlink', { greeting?: string }> = {
  protocol: 'pjlink',
  mode: 'poll',
  options: Type.Object({ greeting: Type.Optional(Type.String()) }, { additionalProperties: false }),
  // A LAN peer answers at once. (On the test's clock a deadline passes only when the test fires it.)
  pollTimeoutMs: () => 100,
  open(ctx) {
    return {
      poll: (signal) =>
        new Promise<MetricValues>((resolve, reject) => {
          const socket = connect({ host: ctx.device.host!, port: ctx.device.port! });
          let data = '';
          const abort = () => socket.destroy(signal.reason as Error);
          signal.addEventListener('abort', abort, { once: true });
          socket.setEncoding('utf8');
          socket.on('data', (chunk: string) => (data += chunk));
          socket.on('error', reject);
          socket.on('close', () => {
            signal.removeEventListener('abort', abort);
            const match = /^VALUE (\d+)\n$/.exec(data);
            if (match) resolve({ lampHours: Number(match[1]) });
            else reject(new DriverError(data ? 'protocol_error' : 'closed', `unexpected answer ${JSON.stringify(data.slice(0, 40))}`));
          });
        }),
      close: async () => undefined,
    };
  },
};

const servers: Server[] = [];
let host: DriverHost | null = null;
afterEach(async () => {
  await host?.stop();
  host = null;
  for (const s of servers.splice(0)) s.close();
});

function record(id: string, port: number, options?: Record<string, unknown>) {
  return { record: { id, profileId: profile.id, roomId: 'r1', address: { host: '127.0.0.1', port }, ...(options ? { options } : {}) }, profile };
}

interface ManualTimer extends RunnerTimer {
  at: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

/**
 * The runners' timers on a clock of the test's own: nothing fires until the test says so,
 * and every delay a runner asks for is there to read. The devices stay real TCP peers.
 */
class ManualClock implements RunnerTimers {
  now = 0;
  private seq = 0;
  private readonly timers: ManualTimer[] = [];
  setTimeout = (fn: () => void, ms: number): ManualTimer => {
    const timer: ManualTimer = { at: this.now + ms, seq: this.seq++, fn, live: true };
    this.timers.push(timer);
    return timer;
  };
  clearTimeout = (timer: RunnerTimer): void => {
    (timer as ManualTimer).live = false;
  };
  /** Timers waiting, soonest first (in the order they were set when due together). */
  pending(): ManualTimer[] {
    return this.timers.filter((t) => t.live).sort((a, b) => a.at - b.at || a.seq - b.seq);
  }
  /** Move the clock on to the soonest timer and fire it. */
  fireNext(): void {
    const timer = this.pending()[0];
    if (!timer) throw new Error('no timer to fire');
    this.now = Math.max(this.now, timer.at);
    timer.live = false;
    timer.fn();
  }
}

function startHost(devices: ReturnType<typeof record>[], intervalMs = 200, clock?: ManualClock) {
  const values: { deviceId: string; values: MetricValues; ts: number }[] = [];
  const statuses: { deviceId: string; status: DeviceStatus }[] = [];
  host = new DriverHost({
    devices,
    drivers: new Map([['pjlink', lineDriver as Driver]]),
    logger,
    intervalMs,
    firstPollWithinMs: 0,
    // No jitter: the backoff is exactly interval x 2^(failures-1).
    ...(clock ? { schedule: { now: () => clock.now, timers: clock, random: () => 0.5 } } : {}),
    onValues: (deviceId, v, ts) => values.push({ deviceId, values: v, ts }),
    onStatus: (deviceId, status) => statuses.push({ deviceId, status }),
  });
  host.start();
  return { values, statuses };
}

/** Wait for a condition (never for a guess of how long it takes); the deadline only names what never came. */
async function until(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('DeviceRunner', () => {
  it('polls each device on its own: a hanging device times out without delaying the others', async () => {
    const good = await device({ current: 'answer' });
    const stuck = await device({ current: 'hang' });
    servers.push(good.server, stuck.server);
    const clock = new ManualClock();
    const { values, statuses } = startHost([record('good', good.port), record('stuck', stuck.port)], 200, clock);
    const goodRunner = host!.runners.get('good')!;
    const stuckRunner = host!.runners.get('stuck')!;
    const goodReadings = () => values.filter((v) => v.deviceId === 'good');
    // The stuck device's poll is under way (only its deadline ends it).
    const stuckHangs = () => stuckRunner.polls > stuckRunner.failures;
    let readWhileStuckHung = 0;

    // Fire every timer due within 2 s of the test's clock, each once both runners wait on
    // nothing but a timer: the good device's poll is over (it answers at once), the stuck
    // device's is over or hangs on its deadline.
    while (clock.pending()[0]!.at <= 2000) {
      await until('both runners waiting on their timers', () => goodRunner.polls === goodReadings().length && clock.pending().length === 2);
      const readings = goodReadings().length;
      const hung = stuckHangs();
      clock.fireNext();
      await until('both runners waiting on their timers', () => goodRunner.polls === goodReadings().length && clock.pending().length === 2);
      if (hung && goodReadings().length > readings) readWhileStuckHung++;
    }

    // A 200 ms interval over 2 s: a reading at 0, 200, ... 2000, none late for the stuck one.
    expect(goodReadings().map((v) => v.values.lampHours)).toEqual(Array.from({ length: 11 }, (_, i) => 100 + i));
    // ... some of them while the stuck device's poll hung.
    expect(readWhileStuckHung).toBeGreaterThan(0);
    expect(values.some((v) => v.deviceId === 'stuck')).toBe(false);
    // The stuck device: polls at 0, 300, 800 and 1700, each given up after 100 ms, then 200, 400, 800 (the cap) ms of backoff.
    expect(stuckRunner.polls).toBe(4);
    const stuckStatus = statuses.filter((s) => s.deviceId === 'stuck');
    // One status change, not one per failed attempt.
    expect(stuckStatus).toHaveLength(1);
    expect(stuckStatus[0]!.status).toMatchObject({ state: 'unreachable', reason: 'timeout', failures: 1 });
    expect(stuckRunner.status.failures).toBe(4);
    expect(statuses.some((s) => s.deviceId === 'good')).toBe(false);
    expect(host!.problems()).toEqual({ unreachable: 1, faulty: 0 });
    // The runner closed its timed-out connections: nothing piles up on the stuck device.
    await until('the timed-out connections closed', () => stuck.sockets.size === 0);
  });

  it('backs off after failures, reports the reason, and reports recovery once', async () => {
    const mode = { current: 'answer' as Mode };
    const peer = await device(mode);
    servers.push(peer.server);
    const port = peer.port;
    peer.server.close(); // refused from the start
    await once(peer.server, 'close');
    const clock = new ManualClock();
    const { values, statuses } = startHost([record('p1', port)], 100, clock);
    const runner = host!.runners.get('p1')!;
    // Between polls: each poll has ended, in a reading or a failure, and the next one is set.
    const resting = () => runner.polls === runner.failures + values.length && clock.pending().length === 1;
    const nextDelay = async () => {
      await until('the runner between polls', resting);
      return clock.pending()[0]!.at - clock.now;
    };

    // The first poll, then the wait after each failure: 100, 200, 400 ms, then the cap of 4 intervals.
    expect(await nextDelay()).toBe(0);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      clock.fireNext();
      delays.push(await nextDelay());
    }
    expect(delays).toEqual([100, 200, 400, 400, 400]);
    expect(runner.maxBackoffMs).toBe(400);
    expect(statuses.map((s) => s.status)).toEqual([expect.objectContaining({ state: 'unreachable', reason: 'refused', failures: 1 })]);

    // The device comes back on the same port, first answering garbage, then properly.
    mode.current = 'garbage';
    const revived = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.end(mode.current === 'answer' ? 'VALUE 7\n' : '\u0000junk\n');
    });
    revived.listen(port, '127.0.0.1');
    await once(revived, 'listening');
    servers.push(revived);
    clock.fireNext();
    expect(await nextDelay()).toBe(400);
    expect(statuses.at(-1)!.status).toMatchObject({ state: 'faulty', reason: 'protocol_error' });
    mode.current = 'answer';
    clock.fireNext();
    // Recovered: back to one interval.
    expect(await nextDelay()).toBe(100);
    expect(statuses.at(-1)!.status).toMatchObject({ state: 'ok', failures: 0 });
    expect(statuses.map((s) => s.status.state)).toEqual(['unreachable', 'faulty', 'ok']);
    expect(values.at(-1)!.values).toEqual({ lampHours: 7 });
  });

  it('refuses bad driver options at start, naming the device and the path', () => {
    expect(() => startHost([record('p1', 9, { greeting: 5 })])).toThrow(/device p1 \(devices\[0\]\) options: \/greeting: must be string/);
    expect(() => startHost([record('p2', 9, { unknown: true })])).toThrow(/device p2 \(devices\[0\]\) options: \/: unknown field "unknown"/);
  });
});
