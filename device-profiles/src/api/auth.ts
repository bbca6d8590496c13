/** Request and response schemas of sign-in, accounts, tokens, displays and the audit log. */
import { Type, type Static } from '@sinclair/typebox';
import { Id } from '../ids.ts';
import { PERMISSIONS, ROLES } from '../policy.ts';

const Ms = Type.Integer({ description: 'ms since the Unix epoch' });
const NullableMs = Type.Union([Ms, Type.Null()]);

export const RoleName = Type.Union(ROLES.map((r) => Type.Literal(r)));
/** The schools a principal covers; omitted (or null) = the whole district. */
export const Schools = Type.Union([Type.Array(Id, { minItems: 1, maxItems: 500, uniqueItems: true }), Type.Null()], {
  description: 'school ids; null for the whole district',
});

export const Username = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{1,63}$', description: 'lower-case letters, digits, ".", "_", "-"' });
const Password = Type.String({ minLength: 1, maxLength: 256 });
const Name = Type.String({ minLength: 1, maxLength: 120 });

export const LoginBody = Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }), password: Password }, { additionalProperties: false });
export const EnrollBody = Type.Object({ code: Type.String({ minLength: 4, maxLength: 32 }) }, { additionalProperties: false });
export const PasswordBody = Type.Object({ current: Password, next: Password }, { additionalProperties: false });

export const Me = Type.Object({
  kind: Type.Union([Type.Literal('user'), Type.Literal('token'), Type.Literal('display')]),
  id: Type.String(),
  name: Type.String(),
  role: RoleName,
  schools: Schools,
  permissions: Type.Array(Type.Union(PERMISSIONS.map((p) => Type.Literal(p)))),
  csrfToken: Type.Union([Type.String(), Type.Null()], { description: 'send it as the x-csrf-token header on every POST, PATCH, DELETE (null for tokens)' }),
  expiresAt: NullableMs,
});
export type Me = Static<typeof Me>;

export const UserView = Type.Object({
  username: Type.String(),
  displayName: Type.String(),
  role: RoleName,
  schools: Schools,
  disabled: Type.Boolean(),
  createdAt: Ms,
  updatedAt: Ms,
});
export const NewUser = Type.Object(
  { username: Username, displayName: Name, role: RoleName, schools: Type.Optional(Schools), password: Password },
  { additionalProperties: false },
);
export const UserChange = Type.Object(
  {
    displayName: Type.Optional(Name),
    role: Type.Optional(RoleName),
    schools: Type.Optional(Schools),
    disabled: Type.Optional(Type.Boolean()),
    password: Type.Optional(Password),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const TokenView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: RoleName,
  schools: Schools,
  createdBy: Type.String(),
  createdAt: Ms,
  expiresAt: NullableMs,
  revokedAt: NullableMs,
});
export const NewToken = Type.Object(
  { name: Name, role: RoleName, schools: Type.Optional(Schools), expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })) },
  { additionalProperties: false },
);
export const CreatedToken = Type.Object({ token: Type.String({ description: 'shown this once: keep it now' }), record: TokenView });

export const DisplayView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  schools: Schools,
  createdBy: Type.String(),
  createdAt: Ms,
  codeExpiresAt: NullableMs,
  enrolledAt: NullableMs,
  revokedAt: NullableMs,
});
export const NewDisplay = Type.Object({ name: Name, schools: Type.Optional(Schools) }, { additionalProperties: false });
export const CreatedDisplay = Type.Object({ code: Type.String({ description: 'one-time enrollment code, shown this once' }), display: DisplayView });

export const AuditEntryView = Type.Object({
  seq: Type.Integer(),
  ts: Ms,
  actor: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  outcome: Type.String(),
  schoolId: Type.Union([Type.String(), Type.Null()]),
  target: Type.Union([Type.String(), Type.Null()]),
  address: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Record(Type.String(), Type.Unknown()),
});
export const AuditQuerystring = Type.Object(
  {
    since: Type.Optional(Type.Integer({ minimum: 0 })),
    until: Type.Optional(Type.Integer({ minimum: 0 })),
    action: Type.Optional(Type.String({ maxLength: 64 })),
    actor: Type.Optional(Type.String({ maxLength: 128 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])),
  },
  { additionalProperties: false },
);

export type UserView = Static<typeof UserView>;
export type NewUser = Static<typeof NewUser>;
export type UserChange = Static<typeof UserChange>;
export type TokenView = Static<typeof TokenView>;
export type NewToken = Static<typeof NewToken>;
export type CreatedToken = Static<typeof CreatedToken>;
export type DisplayView = Static<typeof DisplayView>;
export type NewDisplay = Static<typeof NewDisplay>;
export type CreatedDisplay = Static<typeof CreatedDisplay>;
export type AuditEntryView = Static<typeof AuditEntryView>;
export type AuditQuerystring = Static<typeof AuditQuerystring>;
