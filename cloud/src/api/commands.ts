/**
 * Commands from the district to a device (switch a projector off after school, change its
 * input, end a board's session). The command must be one the device's profile lists, with
 * parameters of the types it gives; it is recorded with who sent it and travels to the
 * school's gateway over MQTT (QoS 1), whose driver carries it out (PJLink POWR 0, ...). The
 * answer is 202: sent, not yet done. The gateway reports what became of it (COMMAND_OUTCOMES
 * in the wire contract), and GET .../commands lists a device's latest commands with their
 * state: 'sent' until the report comes, then its outcome; 'unanswered' when none came
 * although the command is past the time the gateway would still run it.
 *
 * Each command expires (COMMAND_TTL): two minutes after it is sent unless `ttlSeconds` says
 * otherwise. A gateway that gets it later (it was offline) refuses it as 'expired' instead
 * of switching a projector off in the middle of the next lesson.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { COMMAND_TTL, WIRE_VERSION, type CommandDef, type DeviceCommand, type MetricValue } from '@schoolops/device-profiles';
import { CommandAccepted, CommandBody, CommandListQuery, CommandView, DeviceParams, ErrorBody, type CommandState } from '@schoolops/device-profiles/api';
import { actorOf } from '../auth/guard.ts';
import type { CommandWithResults } from '../storage/index.ts';
import type { ApiContext } from './context.ts';
import { sendError } from './errors.ts';


/**
 * A command's state from its reports: the first outcome counts (a gateway runs a command at
 * most once, and answers a repeat 'duplicate', naming that first outcome); without any
 * report it is 'sent', or 'unanswered' once the gateway would no longer run it: the gateway
 * is offline, or its report is on the way (it keeps reports until the district has them).
 */
export function commandView(command: CommandWithResults, now: number): CommandView {
  const first = command.results.find((r) => r.outcome !== 'duplicate');
  const repeats = command.results.filter((r) => r.outcome === 'duplicate');
  const settling = first ?? repeats[0];
  let state: CommandState;
  if (first) state = first.outcome;
  else if (repeats[0]) state = repeats[0].first ?? 'duplicate'; // the first report never came; a repeat's names it
  else state = now > command.expiresAt + COMMAND_TTL.clockSkewMs ? 'unanswered' : 'sent';
  return {
    commandId: command.commandId,
    deviceId: command.deviceId,
    name: command.name,
    ...(command.params ? { params: command.params } : {}),
    issuedAt: command.issuedAt,
    expiresAt: command.expiresAt,
    sentBy: command.sentBy,
    state,
    ...(settling?.reason ? { reason: settling.reason } : {}),
    ...(settling?.detail ? { detail: settling.detail } : {}),
    ...(settling?.values ? { values: settling.values } : {}),
    ...(settling ? { resultAt: settling.receivedAt, gatewayTs: settling.gatewayTs } : {}),
    duplicates: repeats.length,
  };
}

/** The first thing wrong with the parameters, or null. */
export function commandProblem(def: CommandDef, params: Record<string, unknown>): string | null {
  const spec = def.params ?? {};
  for (const name of Object.keys(params)) if (!spec[name]) return `command "${def.name}" takes no parameter "${name}"`;
  for (const [name, value] of Object.entries(params))
    if (typeof value === 'string' && value.length > 256) return `"${name}" is longer than 256 characters`;
  for (const [name, p] of Object.entries(spec)) {
    const value = params[name];
    if (value === undefined) return `command "${def.name}" needs "${name}"`;
    if (p.type === 'number' && (typeof value !== 'number' || (p.min !== undefined && value < p.min) || (p.max !== undefined && value > p.max)))
      return `"${name}" must be a number${p.min !== undefined || p.max !== undefined ? ` in [${p.min ?? '-∞'}, ${p.max ?? '∞'}]` : ''}`;
    if (p.type === 'boolean' && typeof value !== 'boolean') return `"${name}" must be true or false`;
    if ((p.type === 'string' || p.type === 'enum') && typeof value !== 'string') return `"${name}" must be a string`;
    if (p.type === 'enum' && !p.values?.includes(value as string)) return `"${name}" must be one of ${p.values?.join(', ')}`;
  }
  return null;
}

export const commandRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { district, ingest }) => {
  app.get(
    '/devices/:deviceId/commands',
    {
      schema: {
        tags: ['devices'],
        summary: 'The latest commands sent to the device, newest first, with who sent them and what became of each',
        params: DeviceParams,
        querystring: CommandListQuery,
        response: { 200: Type.Array(CommandView), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const entry = district.devices.get(request.params.deviceId);
      if (!entry) return sendError(reply, 'unknown_device', { deviceId: request.params.deviceId });
      const commands = await ingest.commandsOf(entry.record.id, request.query.limit ?? 50);
      const now = ingest.now();
      return commands.map((command) => commandView(command, now));
    },
  );

  app.post(
    '/devices/:deviceId/commands',
    {
      schema: {
        tags: ['devices'],
        summary: "Send one of the device profile's commands to the device, through its school's gateway",
        params: DeviceParams,
        body: CommandBody,
        response: { 202: CommandAccepted, 400: ErrorBody, 404: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const entry = district.devices.get(request.params.deviceId);
      if (!entry) return sendError(reply, 'unknown_device', { deviceId: request.params.deviceId });
      const def = entry.profile.commands.find((c) => c.name === request.body.name);
      if (!def) {
        const known = entry.profile.commands.map((c) => c.name).join(', ');
        return sendError(reply, 'unknown_command', { deviceId: entry.record.id, profileId: entry.profile.id, name: request.body.name, known });
      }
      const params = request.body.params ?? {};
      const problem = commandProblem(def, params);
      if (problem) return sendError(reply, 'bad_command_params', { name: def.name, detail: problem });
      // commandProblem checked every value is a number, boolean or string of the profile's type.
      const values = params as Record<string, MetricValue>;
      const issuedAt = ingest.now();
      const command: DeviceCommand & { expiresAt: number } = {
        v: WIRE_VERSION,
        commandId: randomBytes(12).toString('base64url'),
        deviceId: entry.record.id,
        name: def.name,
        ...(Object.keys(values).length ? { params: values } : {}),
        issuedAt,
        expiresAt: issuedAt + (request.body.ttlSeconds !== undefined ? request.body.ttlSeconds * 1000 : COMMAND_TTL.defaultMs),
      };
      // Set before sending: an entry for a send that failed still names the command tried.
      request.auditDetail = { commandId: command.commandId };
      try {
        await ingest.sendCommand(entry.school.id, command, actorOf(request.principal));
      } catch (error) {
        return sendError(reply, 'command_not_sent', { detail: (error as Error).message });
      }
      request.log.info({ command: command.name, device: command.deviceId, commandId: command.commandId }, 'command sent');
      return reply
        .code(202)
        .send({ commandId: command.commandId, deviceId: command.deviceId, name: command.name, issuedAt: command.issuedAt, expiresAt: command.expiresAt, state: 'sent' as const });
    },
  );
};
