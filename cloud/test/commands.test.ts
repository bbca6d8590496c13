/**
 * Commands and their outcomes, district side: the API records who sent a command and sends
 * it with its expiry; a gateway's report of the outcome is stored, listed with the command
 * and written to the audit log, once however often it comes; a report a gateway may not make
 * (about another school's device or command, a command never sent, a malformed one) is
 * refused, counted and answered so the gateway stops resending it, and nothing else is lost.
 *
 * The API through inject() (buildApi: the real guard), ingest connected to a real aedes
 * standing in for the district broker (the ACL is broker/'s job), the gateways played by MQTT
 * clients. The district's clock is the test's: "past its expiry" is a clock moved, not a wait.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_TTL, DeviceCommand, check, districtTopics, type CommandResult } from '@schoolops/device-profiles';
import { startTestApi, type Browser, type TestApi } from './support/api-app.ts';
import { waitFor } from '../../simulators/test/support/wait.ts';

describe('commands and their outcomes', () => {
  let aedes: Aedes;
  let server: Server;
  let api: TestApi;
  let it_a: Browser;
  let operator: Browser;
  const gateways = new Map<string, MqttClient>();
  /** What each school's gateway received: commands and acks, in order. */
  const commands = new Map<string, DeviceCommand[]>();
  const acks = new Map<string, Array<Record<string, unknown>>>();
  const ackOf = (schoolId: string, resultId: string) => acks.get(schoolId)?.find((a) => a.resultId === resultId);
  const rejected = () => ({ ...api.ingest.stats.rejected });

  const send = async (browser: Browser, deviceId: string, body: Record<string, unknown>) => browser.request({ method: 'POST', url: `/api/devices/${deviceId}/commands`, body });
  const list = async (browser: Browser, deviceId: string) => {
    const response = await browser.request({ method: 'GET', url: `/api/devices/${deviceId}/commands` });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as Array<Record<string, unknown>>;
  };
  /** Send a command as `browser`; resolves once the device's gateway has it. */
  const command = async (browser: Browser, deviceId: string, body: Record<string, unknown> = { name: 'powerOff' }) => {
    const response = await send(browser, deviceId, body);
    expect(response.statusCode, response.body).toBe(202);
    const accepted = response.json() as { commandId: string; issuedAt: number; expiresAt: number; state: string };
    const schoolId = deviceId.slice(0, deviceId.indexOf('.'));
    await waitFor(() => commands.get(schoolId)?.some((c) => c.commandId === accepted.commandId), `command ${accepted.commandId} at gw-${schoolId}`);
    return accepted;
  };
  const report = (schoolId: string, over: Partial<CommandResult> & { commandId: string }): CommandResult => ({
    v: 1,
    gatewayId: `gw-${schoolId}`,
    schoolId,
    bootId: `boot-${schoolId}-0001`,
    resultId: randomBytes(9).toString('base64url'),
    deviceId: `${schoolId}.proj`,
    name: 'powerOff',
    outcome: 'ok',
    receivedAt: api.clock.now,
    ts: api.clock.now,
    ...over,
  });
  /** Publish a report as `from`'s gateway on `topicSchool`'s result topic (its own unless told). */
  const publish = (from: string, body: unknown, topicSchool = from) =>
    gateways.get(from)!.publishAsync(districtTopics['command-result'](topicSchool), typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
  /** Publish a report and wait for the district's answer to it. */
  const answer = async (from: string, result: CommandResult) => {
    await publish(from, result);
    return waitFor(() => ackOf(from, result.resultId), `the district's answer to ${result.resultId}`);
  };
  const audited = async () => (await api.accounts.auditEntries({ action: 'command.result' })).reverse();

  beforeAll(async () => {
    aedes = await Aedes.createBroker();
    server = createServer(aedes.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    api = await startTestApi({ mqttUrl: url });
    for (const id of ['a', 'b']) {
      const client = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: `gw-${id}` });
      await client.subscribeAsync(districtTopics.schoolDownlink(id), { qos: 1 });
      client.on('message', (topic, payload) => {
        const body = JSON.parse(payload.toString());
        if (topic === districtTopics.ack(id)) acks.set(id, [...(acks.get(id) ?? []), body]);
        else commands.set(id, [...(commands.get(id) ?? []), body]);
      });
      gateways.set(id, client);
    }
    it_a = await api.browserOf('school-it');
    operator = await api.browserOf('district-operator');
  });

  afterAll(async () => {
    for (const client of gateways.values()) await client.endAsync();
    await api?.close();
    await new Promise<void>((r) => aedes.close(() => r()));
    server?.close();
  });

  it('records who sent a command, sends it with its expiry, and lists it as sent', async () => {
    const accepted = await command(it_a, 'a.proj');
    expect(accepted).toMatchObject({ state: 'sent', issuedAt: api.clock.now, expiresAt: api.clock.now + COMMAND_TTL.defaultMs });
    const atGateway = commands.get('a')!.find((c) => c.commandId === accepted.commandId);
    expect(check(DeviceCommand, atGateway).ok).toBe(true);
    expect(atGateway).toMatchObject({ deviceId: 'a.proj', name: 'powerOff', issuedAt: accepted.issuedAt, expiresAt: accepted.expiresAt });
    expect(await list(it_a, 'a.proj')).toEqual([
      { commandId: accepted.commandId, deviceId: 'a.proj', name: 'powerOff', issuedAt: accepted.issuedAt, expiresAt: accepted.expiresAt, sentBy: 'it-a', state: 'sent', duplicates: 0 },
    ]);

    // The sender may ask for a shorter or longer life, within bounds.
    const short = await command(operator, 'a.proj', { name: 'powerOn', ttlSeconds: 30 });
    expect(short.expiresAt - short.issuedAt).toBe(30_000);
    for (const ttlSeconds of [COMMAND_TTL.minMs / 1000 - 1, COMMAND_TTL.maxMs / 1000 + 1, 'soon']) {
      const refused = await send(operator, 'a.proj', { name: 'powerOn', ttlSeconds });
      expect(refused.statusCode, String(ttlSeconds)).toBe(400);
      expect(refused.json().message).toMatch(/ttlSeconds/);
    }
    // Newest first, each with its sender.
    expect((await list(operator, 'a.proj')).map((c) => [c.name, c.sentBy])).toEqual([
      ['powerOn', 'operator'],
      ['powerOff', 'it-a'],
    ]);
  });

  it("stores a gateway's result, lists the outcome and audits it once, however often it comes", async () => {
    const sent = await command(it_a, 'a.proj');
    api.clock.now += 1500;
    const ok = report('a', { commandId: sent.commandId, values: { power: 'cooling' }, ts: api.clock.now - 200 });
    expect(await answer('a', ok)).toMatchObject({ result: 'stored', gatewayId: 'gw-a' });
    const [listed] = await list(it_a, 'a.proj');
    expect(listed).toMatchObject({ commandId: sent.commandId, state: 'ok', values: { power: 'cooling' }, resultAt: api.clock.now, gatewayTs: api.clock.now - 200, sentBy: 'it-a', duplicates: 0 });

    const entries = await audited();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      actor: 'gateway:gw-a',
      action: 'command.result',
      outcome: 'ok',
      schoolId: 'a',
      target: 'a.proj',
      detail: { commandId: sent.commandId, name: 'powerOff', outcome: 'ok', sentBy: 'it-a', issuedAt: sent.issuedAt, values: { power: 'cooling' } },
    });

    // The same report again (its ack was lost): answered, not stored or audited twice.
    const stored = api.ingest.stats.commandResults;
    acks.set('a', []);
    expect(await answer('a', ok)).toMatchObject({ result: 'stored' });
    expect(api.ingest.stats.commandResults).toBe(stored);
    expect(await audited()).toHaveLength(1);

    // The command delivered to the gateway again: not run twice, and the first outcome stands.
    const repeat = report('a', { commandId: sent.commandId, outcome: 'duplicate', first: 'ok', detail: 'received before; not run again' });
    expect(await answer('a', repeat)).toMatchObject({ result: 'stored' });
    expect((await list(it_a, 'a.proj'))[0]).toMatchObject({ commandId: sent.commandId, state: 'ok', values: { power: 'cooling' }, duplicates: 1 });
    expect((await audited()).map((e) => [e.outcome, e.detail.outcome])).toEqual([
      ['ok', 'ok'],
      ['ok', 'duplicate'],
    ]);

    // A device that refused: the outcome and the reason, in the list and the audit log.
    const refusedByDevice = await command(it_a, 'a.proj', { name: 'setInput', params: { input: '11' } });
    await answer('a', report('a', { commandId: refusedByDevice.commandId, name: 'setInput', outcome: 'failed', reason: 'device_error', detail: 'ERR3: unavailable in standby' }));
    expect((await list(it_a, 'a.proj'))[0]).toMatchObject({ commandId: refusedByDevice.commandId, state: 'failed', reason: 'device_error', detail: 'ERR3: unavailable in standby' });
    expect((await audited()).at(-1)).toMatchObject({ outcome: 'failed', detail: { outcome: 'failed', reason: 'device_error' } });
  });

  it("refuses, counted, a result about another school's device or command, a command never sent, or a malformed one; nothing else is lost", async () => {
    const ofB = await command(operator, 'b.proj');
    const ofA = await command(it_a, 'a.proj');
    const before = rejected();
    const auditBefore = (await audited()).length;

    // Gateway a, on its own topic: b's command for b's device; b's command as if for a's device;
    // a command the district never sent; a command of a's sent to another device.
    const aboutB = report('a', { commandId: ofB.commandId, deviceId: 'b.proj', outcome: 'failed', reason: 'timeout', detail: 'hides that it ran' });
    const bCommandAsA = report('a', { commandId: ofB.commandId, outcome: 'ok' });
    const neverSent = report('a', { commandId: 'never-sent-0001' });
    const otherDevice = report('a', { commandId: ofA.commandId, deviceId: 'a.cam', name: 'countNow' });
    for (const bad of [aboutB, bCommandAsA, neverSent, otherDevice]) expect(await answer('a', bad), bad.resultId).toMatchObject({ result: 'rejected' });
    // Malformed JSON, and one outside the schema that still names itself (answered so it is not resent).
    await publish('a', '{"v":1,');
    const outside = { ...report('a', { commandId: ofA.commandId }), outcome: 'exploded' };
    expect(await answer('a', outside as unknown as CommandResult)).toMatchObject({ result: 'rejected' });
    // Gateway a speaking on b's topic, for b (the broker's ACL would refuse it; ingest does too).
    await publish('a', { ...report('b', { commandId: ofB.commandId }), gatewayId: 'gw-a' }, 'b');
    await waitFor(() => rejected().malformed_json > before.malformed_json && rejected().wrong_gateway > before.wrong_gateway, 'the malformed and the forged report counted');

    expect(rejected()).toMatchObject({
      wrong_school: before.wrong_school + 2,
      unknown_command: before.unknown_command + 2,
      malformed_json: before.malformed_json + 1,
      bad_schema: before.bad_schema + 1,
      wrong_gateway: before.wrong_gateway + 1,
    });
    // The API shows the refusals too.
    expect((await operator.request({ method: 'GET', url: '/api/ingest/stats' })).json().rejected).toMatchObject({ wrong_school: before.wrong_school + 2, unknown_command: before.unknown_command + 2 });
    // Nothing of it stuck: b's command still waits for b's gateway, a's for a's; nothing audited.
    expect((await list(operator, 'b.proj'))[0]).toMatchObject({ commandId: ofB.commandId, state: 'sent' });
    expect((await list(it_a, 'a.proj'))[0]).toMatchObject({ commandId: ofA.commandId, state: 'sent' });
    expect(await audited()).toHaveLength(auditBefore);

    // ... and each gateway's own report still goes through.
    expect(await answer('b', report('b', { commandId: ofB.commandId, values: { power: 'cooling' } }))).toMatchObject({ result: 'stored' });
    expect(await answer('a', report('a', { commandId: ofA.commandId, outcome: 'accepted' }))).toMatchObject({ result: 'stored' });
    expect((await list(operator, 'b.proj'))[0]).toMatchObject({ commandId: ofB.commandId, state: 'ok', sentBy: 'operator' });
    expect((await list(it_a, 'a.proj'))[0]).toMatchObject({ commandId: ofA.commandId, state: 'accepted' });
  });

  it('lists a command nobody answered by its expiry as unanswered, until a late report settles it', async () => {
    const sent = await command(it_a, 'a.proj', { name: 'powerOn', ttlSeconds: 10 });
    api.clock.now = sent.expiresAt + COMMAND_TTL.clockSkewMs;
    expect((await list(it_a, 'a.proj'))[0]).toMatchObject({ commandId: sent.commandId, state: 'sent' });
    api.clock.now += 1;
    expect((await list(it_a, 'a.proj'))[0]).toMatchObject({ commandId: sent.commandId, state: 'unanswered' });
    // The gateway was offline; back, it got the command late and refused it.
    await answer('a', report('a', { commandId: sent.commandId, name: 'powerOn', outcome: 'expired', detail: 'arrived 3600 s after its expiry' }));
    expect((await list(it_a, 'a.proj'))[0]).toMatchObject({ commandId: sent.commandId, state: 'expired', detail: 'arrived 3600 s after its expiry' });
  });

  it("lists a device's commands to whoever may read the device, and to nobody else", async () => {
    const principal = await api.browserOf('principal');
    expect((await principal.request({ method: 'GET', url: '/api/devices/a.proj/commands' })).statusCode).toBe(200);
    expect((await it_a.request({ method: 'GET', url: '/api/devices/b.proj/commands' })).statusCode).toBe(403);
    expect((await operator.request({ method: 'GET', url: '/api/devices/no-such-device/commands' })).statusCode).toBe(404);
    expect((await operator.request({ method: 'GET', url: '/api/devices/a.proj/commands?limit=1' })).json()).toHaveLength(1);
  });
});
