/**
 * District commands at the gateway: carried out at most once, never past their expiry, and
 * every outcome reported to the district until it confirms it, across restarts.
 *
 * A whole edge agent against a bare aedes standing in for the district broker (the ACL is
 * broker/'s job), played by an MQTT client that sends commands and confirms results; a real
 * PJLink projector simulator behind the agent's driver. Expiry is judged by a clock the test
 * holds (the agent's `commandClock`), and the projector's warm-up and cool-down run on
 * another it never moves: nothing here depends on how long anything takes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { ClassicLevel } from 'classic-level';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUILTIN_PROFILES_DIR,
  COMMAND_TTL,
  CommandResult,
  check,
  districtTopics,
  loadProfiles,
  localTopics,
  type CommandResult as CommandResultBody,
  type DeviceCommand,
  type MetricValue,
} from '@schoolops/device-profiles';
import { PjlinkSimulator } from '../../simulators/src/protocols/pjlink-server.ts';
import { parseEdgeConfig, startEdgeAgent, type EdgeAgent } from '../src/index.ts';
import { waitFor as waitUntil } from '../../simulators/test/support/wait.ts';

const SCHOOL = 'thcs-lenh';
const GATEWAY = `gw-${SCHOOL}`;
const silent = pino({ level: 'silent' });
/** The gateway's clock for commands: a fixed instant unless a test moves it. */
const clock = { now: Date.UTC(2026, 2, 9, 2, 30, 0) };
/** The projector's own clock: never moved, so a unit switched off stays 'cooling' for the whole file. */
const projectorClock = { now: Date.UTC(2026, 2, 9, 2, 30, 0) };

const waitFor = <T>(probe: () => T | undefined | false, what: string) => waitUntil(probe, what, { everyMs: 25 });

/** The MQTT-native projector variant agent.test.ts uses: same commands, protocol "mqtt". */
const PROFILE_DIR = mkdtempSync(join(tmpdir(), 'edge-cmd-profiles-'));
const epson = loadProfiles([BUILTIN_PROFILES_DIR]).get('epson-eb-x51')!;
writeFileSync(join(PROFILE_DIR, 'mqtt-projector.json'), JSON.stringify({ ...epson, id: 'mqtt-projector', protocol: { type: 'mqtt' } }));

/** A projector in a lesson: on, HDMI 1, its lamp fine. */
const lesson = (): Record<string, MetricValue> => ({
  power: 'on',
  input: '31',
  avMute: false,
  lampHours: 1234,
  errorFan: 'ok',
  errorLamp: 'ok',
  errorTemperature: 'ok',
  errorCover: 'ok',
  errorFilter: 'ok',
  errorOther: 'ok',
});

describe('district commands at the gateway', () => {
  let aedes: Aedes;
  let server: Server;
  let districtUrl: string;
  let district: MqttClient;
  let projector: PjlinkSimulator;
  let dataDir: string;
  let agent: EdgeAgent;
  const results: CommandResultBody[] = [];
  /** Play the district: confirm each result as it comes (a test turns this off). */
  let confirm = true;
  let serial = 0;

  const config = () =>
    parseEdgeConfig({
      v: 1,
      gatewayId: GATEWAY,
      schoolId: SCHOOL,
      district: { url: districtUrl, username: GATEWAY, password: 'not-checked-here' },
      local: { host: '127.0.0.1', port: 0 },
      dataDir,
      devices: [
        { id: 'p1', profileId: 'epson-eb-x51', roomId: 'r101', address: { host: '127.0.0.1', port: projector.port } },
        { id: 'm1', profileId: 'mqtt-projector', roomId: 'r102' },
      ],
      profileDirs: [PROFILE_DIR],
      healthIntervalMs: 60_000,
    });
  /** Gateways online, by bootId: it says so after subscribing to its commands, on the same connection. */
  const online = new Set<string>();
  const start = async () => {
    const started = await startEdgeAgent(config(), { logger: silent, commandClock: () => clock.now });
    await waitFor(() => online.has(started.bootId), 'the gateway online, listening for commands');
    return started;
  };

  /** A command as the district sends it, issued now by the test's clock unless told otherwise. */
  const command = (over: Partial<DeviceCommand> = {}): DeviceCommand => ({
    v: 1,
    commandId: `cmd-${++serial}`,
    deviceId: 'p1',
    name: 'powerOff',
    issuedAt: clock.now,
    expiresAt: clock.now + COMMAND_TTL.defaultMs,
    ...over,
  });
  const send = (c: DeviceCommand) => district.publishAsync(districtTopics.command(SCHOOL, c.deviceId), JSON.stringify(c), { qos: 1 });
  /** The reports about a command, each once (a report not yet confirmed at a restart is sent again, the same). */
  const reportsOf = (commandId: string) => [...new Map(results.filter((r) => r.commandId === commandId).map((r) => [r.resultId, r])).values()];
  /** The n-th report about a command (1 = the first). */
  const reportOf = (commandId: string, n = 1) => waitFor(() => reportsOf(commandId)[n - 1], `report ${n} about ${commandId}`);
  const powerOffs = () => projector.received.filter((line) => line === '%1POWR 0').length;

  beforeAll(async () => {
    aedes = await Aedes.createBroker();
    server = createServer(aedes.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    districtUrl = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    projector = new PjlinkSimulator({ read: lesson, now: () => projectorClock.now });
    await projector.start();
    district = await mqtt.connectAsync(districtUrl, { protocolVersion: 4, clientId: 'district' });
    await district.subscribeAsync([districtTopics['command-result'](SCHOOL), districtTopics.status(SCHOOL)], { qos: 1 });
    district.on('message', (topic, payload) => {
      const body = JSON.parse(payload.toString());
      if (topic === districtTopics.status(SCHOOL)) {
        if (body.state === 'online') online.add(body.bootId);
        return;
      }
      const valid = check(CommandResult, body);
      if (!valid.ok) throw new Error(`the gateway sent an invalid result: ${valid.path} ${valid.message}`);
      results.push(valid.value);
      if (confirm) district.publish(districtTopics.ack(SCHOOL), JSON.stringify({ v: 1, gatewayId: GATEWAY, resultId: body.resultId, result: 'stored' }), { qos: 1 });
    });
    dataDir = mkdtempSync(join(tmpdir(), 'edge-cmd-'));
    agent = await start();
  });

  afterAll(async () => {
    await agent?.close();
    await district?.endAsync();
    await projector?.stop();
    await new Promise<void>((r) => aedes.close(() => r()));
    server?.close();
  });

  it('carries a command out in time and reports ok, with what the device read right after', async () => {
    const c = command();
    await send(c);
    const result = await reportOf(c.commandId);
    expect(result).toMatchObject({ gatewayId: GATEWAY, schoolId: SCHOOL, bootId: agent.bootId, deviceId: 'p1', name: 'powerOff', outcome: 'ok', receivedAt: clock.now, ts: clock.now });
    expect(result.values).toMatchObject({ power: 'cooling' });
    expect(powerOffs()).toBe(1);
    // Confirmed by the district: nothing left to send.
    await waitFor(() => agent.commands.size.unreported === 0, 'every report confirmed');
  });

  it("refuses a command past its expiry by the gateway's clock, and never runs it; one at the edge of the skew allowance still runs", async () => {
    const { defaultMs, clockSkewMs } = COMMAND_TTL;
    // Issued so that the gateway's clock reads exactly its expiry plus the skew allowance: still on time.
    const edge = command({ name: 'powerOn', issuedAt: clock.now - defaultMs - clockSkewMs, expiresAt: clock.now - clockSkewMs });
    await send(edge);
    // It ran: the projector, cooling down, refused to power on (PJLink ERR3), and the report says so.
    expect(await reportOf(edge.commandId)).toMatchObject({ outcome: 'failed', reason: 'device_error' });
    expect(projector.received).toContain('%1POWR 1');

    const late = command({ issuedAt: clock.now - defaultMs - clockSkewMs - 1, expiresAt: clock.now - clockSkewMs - 1 });
    await send(late);
    const refused = await reportOf(late.commandId);
    expect(refused).toMatchObject({ outcome: 'expired', deviceId: 'p1' });
    expect(refused.detail).toMatch(/after its expiry by the gateway's clock/);
    // Hours late, as a broker session would hold it for a gateway that was offline.
    const hoursLate = command({ issuedAt: clock.now - 5 * 3_600_000, expiresAt: clock.now - 5 * 3_600_000 + defaultMs });
    await send(hoursLate);
    expect(await reportOf(hoursLate.commandId)).toMatchObject({ outcome: 'expired' });
    // A district asking for a life longer than COMMAND_TTL.maxMs is not believed.
    const forever = command({ issuedAt: clock.now - COMMAND_TTL.maxMs - clockSkewMs - 1, expiresAt: clock.now + 86_400_000 });
    await send(forever);
    expect(await reportOf(forever.commandId)).toMatchObject({ outcome: 'expired' });
    expect(powerOffs()).toBe(1);
  });

  it("refuses a command issued further ahead of its clock than the skew allowance: the clocks disagree", async () => {
    const ahead = command({ issuedAt: clock.now + COMMAND_TTL.clockSkewMs + 1, expiresAt: clock.now + COMMAND_TTL.clockSkewMs + 1 + COMMAND_TTL.defaultMs });
    await send(ahead);
    expect(await reportOf(ahead.commandId)).toMatchObject({ outcome: 'refused', reason: 'clock_skew' });
    expect(powerOffs()).toBe(1);
  });

  it('refuses a device it does not have and a command the profile does not list; hands an MQTT device its command', async () => {
    const ghost = command({ deviceId: 'not-here' });
    await send(ghost);
    expect(await reportOf(ghost.commandId)).toMatchObject({ outcome: 'unknown_device', deviceId: 'not-here' });
    const unlisted = command({ name: 'countNow' });
    await send(unlisted);
    expect(await reportOf(unlisted.commandId)).toMatchObject({ outcome: 'refused', reason: 'no_such_command' });

    const board = await mqtt.connectAsync(`mqtt://127.0.0.1:${agent.localPort}`, { protocolVersion: 4, clientId: 'm1' });
    const heard: string[] = [];
    board.on('message', (_topic, payload) => heard.push(payload.toString()));
    await board.subscribeAsync(localTopics.deviceCommand('m1'), { qos: 1 });
    const forMqtt = command({ deviceId: 'm1' });
    await send(forMqtt);
    expect(await reportOf(forMqtt.commandId)).toMatchObject({ outcome: 'accepted', deviceId: 'm1' });
    await waitFor(() => heard.length === 1, 'the command at the MQTT device');
    expect(JSON.parse(heard[0]!)).toMatchObject({ commandId: forMqtt.commandId, name: 'powerOff' });
    await board.endAsync();
  });

  it('answers a repeated command with its first outcome and never runs it twice, also after a restart', async () => {
    const first = results.find((r) => r.outcome === 'ok' && r.deviceId === 'p1')!;
    const again = command({ commandId: first.commandId });
    await send(again);
    expect(await reportOf(first.commandId, 2)).toMatchObject({ outcome: 'duplicate', first: 'ok' });

    // Two deliveries close together (a redelivery racing the original): one run, one duplicate.
    const twice = command();
    await Promise.all([send(twice), send(twice)]);
    await reportOf(twice.commandId, 2);
    expect(reportsOf(twice.commandId).map((r) => r.outcome).sort()).toEqual(['duplicate', 'ok']);
    expect(powerOffs()).toBe(2);

    await agent.close();
    agent = await start();
    // A QoS 1 redelivery after the restart: remembered on disk.
    await send(again);
    expect(await reportOf(first.commandId, 3)).toMatchObject({ outcome: 'duplicate', first: 'ok', bootId: agent.bootId });
    await send(twice);
    expect(await reportOf(twice.commandId, 3)).toMatchObject({ outcome: 'duplicate', first: 'ok' });
    expect(powerOffs()).toBe(2);
  });

  it('keeps each outcome on disk until the district confirms it, across a restart', async () => {
    confirm = false;
    const c = command({ deviceId: 'm1', name: 'powerOn' });
    await send(c);
    const unconfirmed = await reportOf(c.commandId);
    // Every earlier report confirmed, this one not (the district's answers to the earlier ones may still be on their way).
    await waitFor(() => agent.commands.size.unreported === 1 && agent.commands.pendingResults()[0]?.resultId === unconfirmed.resultId, 'only the unconfirmed report left');
    await agent.close();

    confirm = true;
    agent = await start();
    // The same report (same resultId) again after the restart; the district stores a report once by its id.
    await waitFor(() => results.filter((r) => r.resultId === unconfirmed.resultId).length === 2, 'the report sent again');
    expect(results.filter((r) => r.resultId === unconfirmed.resultId)[1]).toEqual(unconfirmed);
    await waitFor(() => agent.commands.size.unreported === 0, 'the report confirmed');
  });

  it('reports a command it was running when it died as interrupted, and does not run it again', async () => {
    await agent.close();
    // What a gateway killed in the middle of a command leaves in its journal: the command,
    // written down before the driver was called, and no outcome.
    const journal = new ClassicLevel<string, string>(join(dataDir, 'commands'), { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await journal.put(
      'c!0000000000999999',
      JSON.stringify({ index: 999_999, commandId: 'died-mid-run', deviceId: 'p1', name: 'powerOff', receivedAt: clock.now - 1000, expiry: clock.now + 60_000 }),
    );
    await journal.close();

    agent = await start();
    expect(await reportOf('died-mid-run')).toMatchObject({ outcome: 'failed', reason: 'interrupted', deviceId: 'p1', receivedAt: clock.now - 1000 });
    // Its redelivery is a duplicate: it may have taken effect already.
    await send(command({ commandId: 'died-mid-run' }));
    expect(await reportOf('died-mid-run', 2)).toMatchObject({ outcome: 'duplicate', first: 'failed' });
    expect(powerOffs()).toBe(2);
  });

  it('forgets a command once a repeat of it would be refused as expired anyway', async () => {
    const remembered = agent.commands.size.remembered;
    expect(remembered).toBeGreaterThan(0);
    // Hours later, the next command prunes every one long past its expiry...
    clock.now += 2 * COMMAND_TTL.maxMs;
    const later = command({ deviceId: 'm1' });
    await send(later);
    await reportOf(later.commandId);
    expect(agent.commands.size.remembered).toBe(1);
    // ... and a repeat of one of them is still not run: it is expired.
    const first = results.find((r) => r.outcome === 'ok' && r.deviceId === 'p1')!;
    await send(command({ commandId: first.commandId, issuedAt: clock.now - 2 * COMMAND_TTL.maxMs, expiresAt: clock.now - 2 * COMMAND_TTL.maxMs + COMMAND_TTL.defaultMs }));
    expect(await reportOf(first.commandId, 4)).toMatchObject({ outcome: 'expired' });
    expect(powerOffs()).toBe(2);
  });
});
