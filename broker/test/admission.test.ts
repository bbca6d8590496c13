/**
 * Per-address admission on the district broker: a cap on the connections one address
 * holds, and a token bucket of password checks (each costs a scrypt). First the pieces on
 * an injected clock, then the broker over real sockets, with clients on several loopback
 * addresses (127.0.0.2, .3, ...) so that one address can flood while another works.
 *
 * The broker's clock is injected too: the buckets refill only when a test moves it, so no
 * test waits for a refill or depends on how fast the machine is.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { BrokerStats, WIRE_VERSION, check, districtTopics, encode, type TelemetryBatch } from '@schoolops/device-profiles';
import {
  Admission,
  DEFAULT_ADMISSION_LIMITS,
  LogThrottle,
  MAX_CLIENT_ID_CHARS,
  addressKey,
  clientIdProblem,
  sessionIdFor,
  startDistrictBroker,
  type DistrictBroker,
} from '../src/index.ts';
import { PASSWORDS, SCHOOL_A, SCHOOL_B, captureLogger, connectAs, connectFrom, end, makeCredentials, record, waitFor, type LogLine } from './helpers.ts';
import { rawConnect, rawConnection, type RawConnection } from './raw-mqtt.ts';
import { waitFor as waitUntil } from '../../simulators/test/support/wait.ts';

const GW_A = `gw-${SCHOOL_A}` as const;
const GW_B = `gw-${SCHOOL_B}` as const;
/** CONNACK return codes (MQTT 3.1.1, 3.2.2.3). */
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;

function telemetry(schoolId: string, seq: number): TelemetryBatch {
  return {
    v: WIRE_VERSION,
    gatewayId: `gw-${schoolId}`,
    schoolId,
    bootId: 'boot-0001',
    seq,
    sentAt: Date.now(),
    readings: [{ deviceId: 'proj-101', ts: Date.now(), values: { lampHours: 1200 + seq } }],
  };
}

describe('the pieces, on an injected clock', () => {
  it('a bucket allows its burst, then its rate, and refills no further than its size', () => {
    let clock = 1_000;
    const admission = new Admission({ maxConnectionsPerAddress: 2, authBurst: 3, authPerSecond: 2 }, () => clock);
    expect([1, 2, 3, 4].map(() => admission.takeAuthAttempt('10.0.0.1'))).toEqual([true, true, true, false]);
    // Another address has its own bucket.
    expect(admission.takeAuthAttempt('10.0.0.2')).toBe(true);
    clock += 499; // 0.998 of a token
    expect(admission.takeAuthAttempt('10.0.0.1')).toBe(false);
    clock += 1; // a whole token by now
    expect(admission.takeAuthAttempt('10.0.0.1')).toBe(true);
    expect(admission.takeAuthAttempt('10.0.0.1')).toBe(false);
    clock += 3_600_000; // an hour idle: full, and no fuller than the burst
    expect([1, 2, 3, 4].map(() => admission.takeAuthAttempt('10.0.0.1'))).toEqual([true, true, true, false]);
    clock -= 10_000; // a clock that went back refills nothing and breaks nothing
    expect(admission.takeAuthAttempt('10.0.0.1')).toBe(false);
  });

  it('counts open connections per address and forgets an address with none', () => {
    const admission = new Admission({ maxConnectionsPerAddress: 2, authBurst: 1, authPerSecond: 1 }, () => 0);
    expect([1, 2, 3].map(() => admission.openConnection('a'))).toEqual([true, true, false]);
    expect(admission.openConnection('b')).toBe(true);
    admission.releaseConnection('a');
    expect(admission.openConnection('a')).toBe(true);
    admission.releaseConnection('a');
    admission.releaseConnection('a');
    admission.releaseConnection('b');
    expect(admission.tracked().connections).toBe(0);
  });

  it('remembers a bounded number of buckets', () => {
    const admission = new Admission(DEFAULT_ADMISSION_LIMITS, () => 0);
    for (let i = 0; i < 12_000; i++) admission.takeAuthAttempt(`a${i}`);
    expect(admission.tracked().buckets).toBe(10_000);
  });

  it('refuses limits that are not positive numbers', () => {
    expect(() => new Admission({ ...DEFAULT_ADMISSION_LIMITS, authPerSecond: 0 }, () => 0)).toThrow(/authPerSecond must be a positive number/);
    expect(() => new Admission({ ...DEFAULT_ADMISSION_LIMITS, maxConnectionsPerAddress: Number.NaN }, () => 0)).toThrow(RangeError);
  });

  it('limits IPv4 by address, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64', () => {
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:DB8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey(undefined)).toBe('unknown');
  });

  it('log throttle: a key once per interval, a bounded number of lines per interval, a bounded map, and every suppressed line counted', () => {
    let clock = 0;
    const throttle = new LogThrottle({ everyMs: 10_000, maxKeys: 100, maxLinesPerWindow: 5, now: () => clock });
    expect(throttle.admit('same')).toBe(0);
    expect(throttle.admit('same')).toBeUndefined();
    // 1 000 keys that never repeat: 4 more lines this interval, the rest suppressed.
    const written = Array.from({ length: 1_000 }, (_, i) => throttle.admit(`junk-${i}`)).filter((n) => n !== undefined);
    expect(written).toEqual([1, 0, 0, 0]);
    expect(throttle.suppressed).toBe(1 + 996);
    clock += 10_000;
    // The next line written says how many were held back before it.
    expect(throttle.admit('same')).toBe(996);
    for (let i = 0; i < 1_000; i++) {
      clock += 10_000;
      throttle.admit(`more-junk-${i}`);
    }
    expect(throttle.size).toBe(100);
  });

  it('client ids: a namespace per username, and an absurd id refused', () => {
    expect(sessionIdFor('gw-a', 'cloud-ingest-1')).toBe('gw-a:cloud-ingest-1');
    expect(sessionIdFor('cloud', 'cloud-ingest-1')).not.toBe(sessionIdFor('gw-a', 'cloud-ingest-1'));
    // The first ':' ends the username: a username holding one would break that.
    expect(sessionIdFor('gw-a', 'b:c')).toBe('gw-a:b:c');
    expect(() => sessionIdFor('gw-a:b', 'c')).toThrow(/contains ':'/);
    expect(clientIdProblem('x'.repeat(MAX_CLIENT_ID_CHARS))).toBeUndefined();
    expect(clientIdProblem('x'.repeat(MAX_CLIENT_ID_CHARS + 1))).toMatch(/257 characters/);
  });
});

const clients: MqttClient[] = [];
const raws: RawConnection[] = [];
let credentials: Awaited<ReturnType<typeof makeCredentials>>;

beforeAll(async () => {
  credentials = await makeCredentials();
});

afterEach(async () => {
  await end(...clients.splice(0));
  for (const raw of raws.splice(0)) raw.socket.destroy();
});

/** School B's gateway, from `from`, gets telemetry through to a cloud on 127.0.0.1. */
async function schoolBServedFrom(broker: DistrictBroker, from: string, seq: number): Promise<void> {
  const cloud = await connectAs(broker.port, 'cloud');
  clients.push(cloud);
  const atCloud = record(cloud);
  await cloud.subscribeAsync(districtTopics.allUplink, { qos: 1 });
  const gatewayB = await connectFrom(broker.port, from, { username: GW_B, password: PASSWORDS[GW_B] });
  clients.push(gatewayB);
  await gatewayB.publishAsync(districtTopics.telemetry(SCHOOL_B), encode(telemetry(SCHOOL_B, seq)), { qos: 1 });
  await waitFor(() => atCloud.some((m) => JSON.parse(m.payload).seq === seq), `school B's telemetry ${seq} at the cloud`);
}

describe('password checks per address (token bucket)', () => {
  let clock = 0;
  let broker: DistrictBroker;
  let logs: LogLine[];
  const lines = (reason: string) => logs.filter((line) => line.reason === reason);

  beforeAll(async () => {
    const capture = captureLogger();
    logs = capture.lines;
    broker = await startDistrictBroker({
      port: 0,
      credentials,
      logger: capture.logger,
      statsIntervalMs: 100,
      now: () => clock,
      limits: { authBurst: 3, authPerSecond: 1 },
    });
  });
  afterAll(async () => {
    await broker?.close();
  });
  // Each test starts with every bucket full (and the log throttle's interval over).
  beforeEach(() => {
    clock += 3_600_000;
  });

  it('an address out of checks gets CONNACK 3 without a check, right password or not; a refill lets it in again', async () => {
    const from = '127.0.0.2';
    for (let i = 0; i < 3; i++) {
      const { connection, returnCode } = await rawConnect(broker.port, { clientId: `guess-${i}`, clean: true, username: GW_A, password: `guess-${i}`, from });
      raws.push(connection);
      expect(returnCode).toBe(BAD_USERNAME_OR_PASSWORD);
    }
    const checked = broker.stats().refused.bad_credentials;
    // The right password does not help: the broker does not look at it.
    const refused = await rawConnect(broker.port, { clientId: 'right', clean: true, username: GW_A, password: PASSWORDS[GW_A], from });
    raws.push(refused.connection);
    expect(refused.returnCode).toBe(SERVER_UNAVAILABLE);
    await refused.connection.closedWithin();
    expect(broker.stats().refused.auth_rate_limited).toBe(1);
    expect(broker.stats().refused.bad_credentials).toBe(checked);
    expect(lines('auth_rate_limited').at(-1)).toMatchObject({ remote: from, username: GW_A, level: 40 });

    // Another address is not affected.
    await schoolBServedFrom(broker, '127.0.0.3', 1);

    // One second refills one check: one connect, then refused again.
    clock += 1_000;
    const gateway = await connectFrom(broker.port, from, { username: GW_A, password: PASSWORDS[GW_A] });
    clients.push(gateway);
    expect(gateway.connected).toBe(true);
    await expect(connectFrom(broker.port, from, { username: GW_A, password: PASSWORDS[GW_A] })).rejects.toMatchObject({ code: SERVER_UNAVAILABLE });
    expect(broker.stats().refused.auth_rate_limited).toBe(2);
  });

  it('a flood of CONNECTs from one address: one log line, every refusal counted, another address keeps working', async () => {
    const from = '127.0.0.4';
    const before = { ...broker.stats().refused };
    const linesBefore = lines('auth_rate_limited').length;
    const suppressedBefore = broker.stats().logLinesSuppressed ?? 0;
    const FLOOD = 300;
    const codes: number[] = [];
    // 30 at a time, each a fresh id and a wrong password, as a password-guessing script would.
    for (let start = 0; start < FLOOD; start += 30) {
      const batch = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          rawConnect(broker.port, { clientId: `flood-${start + i}`, clean: true, username: GW_A, password: `guess-${start + i}`, from }),
        ),
      );
      for (const { connection, returnCode } of batch) {
        codes.push(returnCode);
        connection.socket.destroy();
      }
      // Meanwhile, halfway, school B's gateway on another address connects and reports.
      if (start === 150) await schoolBServedFrom(broker, '127.0.0.5', 2);
    }

    // Three checks (the burst), every other CONNECT refused without one.
    expect(codes.filter((code) => code === BAD_USERNAME_OR_PASSWORD)).toHaveLength(3);
    expect(codes.filter((code) => code === SERVER_UNAVAILABLE)).toHaveLength(FLOOD - 3);
    const after = broker.stats();
    expect(after.refused.bad_credentials! - before.bad_credentials!).toBe(3);
    expect(after.refused.auth_rate_limited! - before.auth_rate_limited!).toBe(FLOOD - 3);
    // One line for the address in this interval; the others are counted as suppressed.
    expect(lines('auth_rate_limited').length - linesBefore).toBe(1);
    expect((after.logLinesSuppressed ?? 0) - suppressedBefore).toBeGreaterThanOrEqual(FLOOD - 4);
    expect(check(BrokerStats, after).ok).toBe(true);
  });

  it('cheap refusals take no check: no credentials, or an absurd client id', async () => {
    const from = '127.0.0.6';
    for (let i = 0; i < 10; i++) {
      const anonymous = await rawConnect(broker.port, { clientId: `anon-${i}`, clean: true, from });
      raws.push(anonymous.connection);
      expect(anonymous.returnCode).toBe(BAD_USERNAME_OR_PASSWORD);
      const absurd = await rawConnect(broker.port, { clientId: 'x'.repeat(MAX_CLIENT_ID_CHARS + 1 + i), clean: true, username: GW_A, password: PASSWORDS[GW_A], from });
      raws.push(absurd.connection);
      expect(absurd.returnCode).toBe(2);
    }
    // The address still has its whole burst of checks.
    for (let i = 0; i < 3; i++) {
      const gateway = await connectFrom(broker.port, from, { username: GW_A, password: PASSWORDS[GW_A] });
      clients.push(gateway);
    }
  });
});

describe('connections per address', () => {
  let broker: DistrictBroker;
  let logs: LogLine[];

  beforeAll(async () => {
    const capture = captureLogger();
    logs = capture.lines;
    broker = await startDistrictBroker({
      port: 0,
      credentials,
      logger: capture.logger,
      statsIntervalMs: 100,
      now: () => 0,
      limits: { maxConnectionsPerAddress: 4 },
    });
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('an address over its cap is closed at accept, counted and logged once; other addresses connect; a freed slot is usable again', async () => {
    const from = '127.0.0.7';
    // Four connections, each shown admitted by its CONNACK.
    const held: RawConnection[] = [];
    for (let i = 0; i < 4; i++) {
      const { connection, returnCode } = await rawConnect(broker.port, { clientId: `held-${i}`, clean: true, username: GW_A, password: PASSWORDS[GW_A], from });
      raws.push(connection);
      held.push(connection);
      expect(returnCode).toBe(0);
    }
    // Ten more sockets from that address: each closed before it could say anything.
    for (let i = 0; i < 10; i++) {
      const extra = await rawConnection(broker.port, from);
      raws.push(extra);
      await extra.closedWithin();
      expect(extra.received()).toHaveLength(0);
    }
    expect(broker.stats().refused.connection_limit).toBe(10);
    expect(logs.filter((line) => line.reason === 'connection_limit')).toEqual([
      expect.objectContaining({ remote: from, level: 40, total: 1 }),
    ]);
    expect(held.map((connection) => connection.isClosed())).toEqual([false, false, false, false]);

    // Another address is served meanwhile.
    await schoolBServedFrom(broker, '127.0.0.8', 3);

    // Once one of the four goes, the broker lets the address in again (as soon as it has
    // seen the close: until then a try is refused, counted, and the next try made).
    held[0]!.socket.destroy();
    await held[0]!.closed;
    const again = await waitUntil(async () => {
      const attempt = await rawConnect(broker.port, { clientId: 'again', clean: true, username: GW_A, password: PASSWORDS[GW_A], from }).catch(() => undefined);
      if (attempt) raws.push(attempt.connection);
      return attempt?.returnCode === 0 ? attempt : undefined;
    }, 'a connection from the address after one of its four closed');
    expect(again.connection.isClosed()).toBe(false);
  });
});
