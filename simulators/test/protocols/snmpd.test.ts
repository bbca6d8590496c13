/**
 * The SNMP driver against Net-SNMP's snmpd, a real agent it was not written against: the
 * loopback interface (ifIndex 1) over v2c and v3 authPriv (SHA-256, AES), wrong
 * credentials as a real agent answers them, and an agent restart that moves the SNMPv3
 * engine boots on and sends sysUpTime back to 0.
 *
 * snmpd runs as this test's own child process (not the system service), in the foreground
 * on an ephemeral UDP port on 127.0.0.1, with a config and persistent directory of its own
 * in a temp dir; afterAll stops that pid and no other.
 *
 * snmpd caches interface counters for 3 s (its own fixed period, on this machine's clock):
 * a poll that must see new counters comes more than 3 s after the one that filled the cache
 * (a real poller's interval is far longer anyway). Nothing else here waits a set time: the
 * tests wait for snmpd to say it listens and for its uptime to pass what they need.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { checkValues, loadProfiles } from '@schoolops/device-profiles';
import { classifyError, type DeviceHandle, type DriverDevice } from '@schoolops/edge-agent';
import { snmpDriver, type SnmpOptions } from '../../../edge-agent/src/drivers/snmp.ts';

const SNMPD = '/usr/sbin/snmpd';
const installed = existsSync(SNMPD);
const profile = loadProfiles().get('mikrotik-hex-s')!;
const COMMUNITY = 'schoolops-test';
const USER = { name: 'schoolops', authKey: 'auth-secret-1', privKey: 'priv-secret-1' };
const V3: SnmpOptions = { version: '3', user: USER.name, authProtocol: 'sha256', authKey: USER.authKey, privProtocol: 'aes', privKey: USER.privKey };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free UDP port on 127.0.0.1 right now (snmpd binds it itself a moment later). */
async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** One snmpd child process; its output is kept (bounded) to explain a failure. */
class Snmpd {
  private output = '';
  private exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-8000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(dir: string, port?: number): Promise<Snmpd> {
    for (let attempt = 1; ; attempt++) {
      const listen = port ?? (await freeUdpPort());
      const child = spawn(SNMPD, ['-f', '-Lo', '-C', '-c', join(dir, 'snmpd.conf'), '-m', '', `udp:127.0.0.1:${listen}`], {
        // Its own persistent store (engine boots, localized v3 keys), never /var/lib/snmp.
        env: { ...process.env, SNMP_PERSISTENT_DIR: join(dir, 'persist'), MIBS: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const snmpd = new Snmpd(child, listen);
      const ready = await snmpd.ready();
      if (ready) return snmpd;
      await snmpd.stop();
      // Someone took the port between our probe and snmpd's bind: try another.
      if (port !== undefined || attempt >= 3) throw new Error(`snmpd did not start on udp:127.0.0.1:${listen}:\n${snmpd.output}`);
    }
  }

  /** snmpd prints its version once it listens. */
  private async ready(): Promise<boolean> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (this.output.includes('NET-SNMP version')) return true;
      if (this.child.exitCode !== null || this.child.signalCode !== null) return false;
      await sleep(25);
    }
    return false;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const killed = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(killed);
    }
  }
}

describe.skipIf(!installed)(installed ? 'SNMP driver against Net-SNMP snmpd' : `SKIPPED: ${SNMPD} is not installed (Debian package snmpd)`, () => {
  let dir = '';
  let snmpd: Snmpd;
  const handles: DeviceHandle[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'schoolops-snmpd-'));
    mkdirSync(join(dir, 'persist'));
    writeFileSync(
      join(dir, 'snmpd.conf'),
      [
        `rocommunity ${COMMUNITY} 127.0.0.1`,
        // snmpd turns createUser into a localized usmUser line in its persistent store at start.
        `createUser ${USER.name} SHA-256 ${USER.authKey} AES ${USER.privKey}`,
        `rouser ${USER.name} priv`,
        'sysName snmpd-under-test',
        '',
      ].join('\n'),
    );
    snmpd = await Snmpd.start(dir);
  });

  afterAll(async () => {
    for (const handle of handles) await handle.close();
    await snmpd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function open(options: SnmpOptions): DeviceHandle {
    const device: DriverDevice<'snmp', SnmpOptions> = {
      record: { id: 'snmpd-lo', profileId: profile.id, roomId: 'lab', address: { host: '127.0.0.1', port: snmpd.port, ifIndex: 1 } },
      profile,
      protocol: profile.protocol as DriverDevice<'snmp'>['protocol'],
      options,
      host: '127.0.0.1',
      port: snmpd.port,
      intervalMs: profile.reportIntervalSeconds * 1000,
      dataDir: undefined,
    };
    const handle = snmpDriver.open({
      device,
      logger: pino({ level: 'silent' }),
      signal: new AbortController().signal,
      report: () => undefined,
      ok: () => undefined,
      fail: () => undefined,
    });
    handles.push(handle);
    return handle;
  }
  /** Under a deadline as the runner sets one: long, snmpd answers on loopback in milliseconds. */
  const poll = (handle: DeviceHandle) => handle.poll!(AbortSignal.timeout(10_000));
  const failure = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (error) {
      return classifyError(error);
    }
    throw new Error('the poll succeeded');
  };

  it('v2c: reads lo as the WAN port; traffic we send over lo shows up in the rates', async () => {
    const handle = open({ community: COMMUNITY });
    // The counters of the first poll are read after this, those of the second before its end.
    const started = performance.now();
    const first = await poll(handle);
    // ... and snmpd filled its interface cache before the first answer came.
    const cached = performance.now();
    expect(first).toEqual({ linkUp: true, linkSpeedMbps: 10, uptimeS: expect.any(Number) }); // Linux reports lo at 10 Mbit/s
    // 2 MB through lo: a sink on an ephemeral port, so nothing answers "port unreachable".
    const sink = dgram.createSocket('udp4');
    const sender = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', () => resolve()));
    const payload = Buffer.alloc(10_000, 0x55);
    for (let i = 0; i < 200; i++) await new Promise((resolve) => sender.send(payload, sink.address().port, '127.0.0.1', resolve));
    await Promise.all([new Promise((r) => sink.close(() => r(null))), new Promise((r) => sender.close(() => r(null)))]);
    await sleep(3300 - (performance.now() - cached)); // past snmpd's 3 s interface cache
    const second = await poll(handle);
    // The rate is over at most this long (sysUpTime counts hundredths: one more at most) ...
    const seconds = (performance.now() - started) / 1000 + 0.01;
    expect(checkValues(profile, second)).toBeNull();
    // ... and the counters moved by at least what we sent (lo counts headers too, and others' traffic).
    expect(second.inBps as number).toBeGreaterThanOrEqual((200 * payload.length * 8) / seconds);
    // Every packet sent on lo is received on lo: both counters move together.
    expect(Math.abs((second.inBps as number) - (second.outBps as number)) / (second.inBps as number)).toBeLessThan(0.01);
    expect(second.uptimeS).toBeGreaterThanOrEqual(first.uptimeS as number);
  });

  it('v3 authPriv (SHA-256, AES): reads the same interface', async () => {
    const values = await poll(open(V3));
    expect(values).toMatchObject({ linkUp: true, linkSpeedMbps: 10 });
    expect(checkValues(profile, values)).toBeNull();
  });

  it('wrong credentials as a real agent answers them: a wrong v3 key is auth_failed, a wrong community a timeout', async () => {
    const key = await failure(poll(open({ ...V3, authKey: 'not-the-right-key' })));
    expect(key.reason).toBe('auth_failed');
    expect(key.detail).toMatch(/Wrong Digest/);
    expect((await failure(poll(open({ ...V3, user: 'nobody' })))).reason).toBe('auth_failed');
    expect((await failure(poll(open({ community: 'not-the-community', timeoutMs: 300, retries: 0 })))).reason).toBe('timeout');
  });

  it('an agent restart: the v3 session carries on (snmpd moves its engine boots on) and no rate spans the restart', async () => {
    // An uptime that clearly goes back (a restart within a second of start would look
    // continuous): poll until snmpd has been up 2 s by its own clock.
    const handle = open(V3);
    let before = await poll(handle);
    while ((before.uptimeS as number) < 2) {
      await sleep(100);
      before = await poll(handle);
    }
    const restarting = performance.now();
    await snmpd.stop();
    snmpd = await Snmpd.start(dir, snmpd.port);
    const after = await poll(handle);
    expect(after.inBps).toBeUndefined();
    // sysUpTime started again: no more than the time since we restarted it.
    expect(after.uptimeS).toBeLessThanOrEqual((performance.now() - restarting) / 1000);
    expect(after.linkUp).toBe(true);
  });
});
