/** Commands to a device: POST and GET /api/devices/{deviceId}/commands. */
import { Type, type Static } from '@sinclair/typebox';
import { COMMAND_OUTCOMES, COMMAND_TTL, MetricValue as MetricValueSchema } from '../wire.ts';

export const CommandBody = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-zA-Z0-9_]{0,63}$', description: "one of the device profile's commands" }),
    // Checked against the profile in commandProblem, not here: fastify's ajv coerces types, and
    // a union would turn the input code "11" into the number 11.
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "parameters as the profile's command lists them" })),
    ttlSeconds: Type.Optional(
      Type.Integer({
        minimum: COMMAND_TTL.minMs / 1000,
        maximum: COMMAND_TTL.maxMs / 1000,
        description: `how long the command may wait to be carried out; the gateway refuses it later (default ${COMMAND_TTL.defaultMs / 1000})`,
      }),
    ),
  },
  { additionalProperties: false },
);

export const CommandAccepted = Type.Object({
  commandId: Type.String(),
  deviceId: Type.String(),
  name: Type.String(),
  issuedAt: Type.Integer({ description: "ms since the Unix epoch, the district's clock" }),
  expiresAt: Type.Integer({ description: 'the gateway refuses the command after this' }),
  state: Type.Literal('sent'),
});

/** What the district knows of a command: sent, unanswered past its expiry, or the gateway's outcome. */
export const COMMAND_STATES = ['sent', 'unanswered', ...COMMAND_OUTCOMES] as const;
export type CommandState = (typeof COMMAND_STATES)[number];

const Values = Type.Record(Type.String(), MetricValueSchema);
export const CommandView = Type.Object({
  commandId: Type.String(),
  deviceId: Type.String(),
  name: Type.String(),
  params: Type.Optional(Values),
  issuedAt: Type.Integer(),
  expiresAt: Type.Integer(),
  sentBy: Type.Union([Type.String(), Type.Null()], { description: 'who sent it, as the audit log names them' }),
  state: Type.Union(COMMAND_STATES.map((state) => Type.Literal(state))),
  reason: Type.Optional(Type.String()),
  detail: Type.Optional(Type.String()),
  values: Type.Optional(Values),
  resultAt: Type.Optional(Type.Integer({ description: "when the outcome reached the district, the district's clock" })),
  gatewayTs: Type.Optional(Type.Integer({ description: "when the gateway reached the outcome, the gateway's clock" })),
  duplicates: Type.Integer({ description: 'times the gateway received the command again and did not run it again' }),
});
export type CommandView = Static<typeof CommandView>;

export type CommandAccepted = Static<typeof CommandAccepted>;

export const CommandListQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })) });
