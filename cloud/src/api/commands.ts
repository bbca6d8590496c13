/**
 * Commands from the district to a device (switch a projector off after school, change its
 * input, end a board's session). The command must be one the device's profile lists, with
 * parameters of the types it gives; it travels to the school's gateway over MQTT (QoS 1),
 * whose driver carries it out (PJLink POWR 0, ...). The answer is 202: sent, not yet done;
 * the device's next reading shows the effect.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { WIRE_VERSION, encode, type CommandDef, type DeviceCommand, type MetricValue } from '@schoolops/device-profiles';
import type { ApiContext } from './context.ts';
import { DeviceParams, ErrorBody } from './schemas.ts';

const CommandBody = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-zA-Z0-9_]{0,63}$', description: "one of the device profile's commands" }),
    // Checked against the profile in commandProblem, not here: fastify's ajv coerces types, and
    // a union would turn the input code "11" into the number 11.
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "parameters as the profile's command lists them" })),
  },
  { additionalProperties: false },
);

const Accepted = Type.Object({ commandId: Type.String(), deviceId: Type.String(), name: Type.String(), issuedAt: Type.Integer() });

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
  app.post(
    '/devices/:deviceId/commands',
    {
      schema: {
        tags: ['devices'],
        summary: "Send one of the device profile's commands to the device, through its school's gateway",
        params: DeviceParams,
        body: CommandBody,
        response: { 202: Accepted, 400: ErrorBody, 404: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const entry = district.devices.get(request.params.deviceId);
      if (!entry) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no device "${request.params.deviceId}"` });
      const def = entry.profile.commands.find((c) => c.name === request.body.name);
      const bad = (message: string) => reply.code(400).send({ statusCode: 400, error: 'Bad Request', message });
      if (!def) {
        const known = entry.profile.commands.map((c) => c.name);
        return bad(`${entry.profile.id} has no command "${request.body.name}"${known.length ? ` (it has: ${known.join(', ')})` : ' (it takes none)'}`);
      }
      const params = request.body.params ?? {};
      const problem = commandProblem(def, params);
      if (problem) return bad(problem);
      // commandProblem checked every value is a number, boolean or string of the profile's type.
      const values = params as Record<string, MetricValue>;
      const command: DeviceCommand = {
        v: WIRE_VERSION,
        commandId: randomBytes(12).toString('base64url'),
        deviceId: entry.record.id,
        name: def.name,
        ...(Object.keys(values).length ? { params: values } : {}),
        issuedAt: Date.now(),
      };
      try {
        await ingest.sendCommand(entry.school.id, entry.record.id, encode(command));
      } catch (error) {
        return reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: `the district broker is not reachable: ${(error as Error).message}` });
      }
      request.log.info({ command: command.name, device: command.deviceId, commandId: command.commandId }, 'command sent');
      return reply.code(202).send({ commandId: command.commandId, deviceId: command.deviceId, name: command.name, issuedAt: command.issuedAt });
    },
  );
};
