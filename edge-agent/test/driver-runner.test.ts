/**
 * The driver runner against real TCP peers: a small line protocol ("VALUE <n>") served by
 * test servers that answer, hang, refuse or send garbage. What is checked is the runner's
 * job: per-device loops (a hanging device delays nobody), timeouts, backoff, status changes
 * reported once per change, and options checked at start.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { pino } from 'pino';
import { loadProfiles, BUILTIN_PROFILES_DIR, type MetricValues } from '@schoolops/device-profiles';
import { DriverError, DriverHost, type DeviceStatus, type Driver } from '../src/drivers/index.ts';

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
  // A LAN peer answers at once; short, so the test sees timeouts quickly.
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

function startHost(devices: ReturnType<typeof record>[], intervalMs = 200) {
  const values: { deviceId: string; values: MetricValues; ts: number }[] = [];
  const statuses: { deviceId: string; status: DeviceStatus }[] = [];
  host = new DriverHost({
    devices,
    drivers: new Map([['pjlink', lineDriver as Driver]]),
    logger,
    intervalMs,
    firstPollWithinMs: 0,
    onValues: (deviceId, v, ts) => values.push({ deviceId, values: v, ts }),
    onStatus: (deviceId, status) => statuses.push({ deviceId, status }),
  });
  host.start();
  return { values, statuses };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('DeviceRunner', () => {
  it('polls each device on its own: a hanging device times out without delaying the others', async () => {
    const good = await device({ current: 'answer' });
    const stuck = await device({ current: 'hang' });
    servers.push(good.server, stuck.server);
    const { values, statuses } = startHost([record('good', good.port), record('stuck', stuck.port)], 200);
    await sleep(2100);
    const goodReadings = values.filter((v) => v.deviceId === 'good');
    // 200 ms interval over ~2 s: about 10 polls; the stuck device's 100 ms timeouts do not slow it.
    expect(goodReadings.length).toBeGreaterThanOrEqual(8);
    expect(goodReadings.map((v) => v.values.lampHours)).toEqual(goodReadings.map((_, i) => 100 + i));
    expect(values.some((v) => v.deviceId === 'stuck')).toBe(false);
    const stuckStatus = statuses.filter((s) => s.deviceId === 'stuck');
    // One status change, not one per failed attempt.
    expect(stuckStatus).toHaveLength(1);
    expect(stuckStatus[0]!.status).toMatchObject({ state: 'unreachable', reason: 'timeout', failures: 1 });
    expect(statuses.some((s) => s.deviceId === 'good')).toBe(false);
    expect(host!.problems()).toEqual({ unreachable: 1, faulty: 0 });
    // The runner closed its timed-out connections: nothing piles up on the stuck device.
    expect(stuck.sockets.size).toBeLessThanOrEqual(1);
  });

  it('backs off after failures, reports the reason, and reports recovery once', async () => {
    const mode = { current: 'answer' as Mode };
    const peer = await device(mode);
    servers.push(peer.server);
    const port = peer.port;
    peer.server.close(); // refused from the start
    await once(peer.server, 'close');
    const { values, statuses } = startHost([record('p1', port)], 100);
    await sleep(1600);
    const runner = host!.runners.get('p1')!;
    expect(statuses[0]!.status).toMatchObject({ state: 'unreachable', reason: 'refused' });
    // Without backoff there would be ~16 attempts; with 100, 200, 400 (cap 4 x 100) ms there are about 6.
    expect(runner.polls).toBeGreaterThanOrEqual(3);
    expect(runner.polls).toBeLessThanOrEqual(8);
    expect(runner.maxBackoffMs).toBe(400);

    // The device comes back on the same port, first answering garbage, then properly.
    mode.current = 'garbage';
    const revived = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.end(mode.current === 'answer' ? 'VALUE 7\n' : '\u0000junk\n');
    });
    revived.listen(port, '127.0.0.1');
    await once(revived, 'listening');
    servers.push(revived);
    await sleep(900);
    expect(statuses.at(-1)!.status).toMatchObject({ state: 'faulty', reason: 'protocol_error' });
    mode.current = 'answer';
    await sleep(900);
    expect(statuses.at(-1)!.status).toMatchObject({ state: 'ok', failures: 0 });
    expect(statuses.map((s) => s.status.state)).toEqual(['unreachable', 'faulty', 'ok']);
    expect(values.at(-1)!.values).toEqual({ lampHours: 7 });
  });

  it('refuses bad driver options at start, naming the device and the path', () => {
    expect(() => startHost([record('p1', 9, { greeting: 5 })])).toThrow(/device p1 \(devices\[0\]\) options: \/greeting: must be string/);
    expect(() => startHost([record('p2', 9, { unknown: true })])).toThrow(/device p2 \(devices\[0\]\) options: \/: unknown field "unknown"/);
  });
});
