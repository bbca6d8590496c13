/**
 * The district's digital record: schools, rooms, classes, timetable and devices.
 * The simulator generates one; a real district writes its own. The cloud reads it to
 * know what exists; each edge agent's config carries its own school's part.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Id, LocalizedText } from './ids.ts';

export const SCHOOL_LEVELS = ['primary', 'lower-secondary', 'upper-secondary'] as const;
export const ROOM_TYPES = ['classroom', 'lab', 'computer-lab', 'library', 'hall', 'office', 'server-room'] as const;

const HHMM = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' });

export const Room = Type.Object(
  {
    id: Id,
    name: LocalizedText,
    type: Type.Union(ROOM_TYPES.map((t) => Type.Literal(t))),
    floor: Type.Integer({ minimum: 0 }),
    capacity: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type Room = Static<typeof Room>;

export const SchoolClass = Type.Object(
  {
    id: Id,
    /** Vietnamese class name as used in the school, e.g. "6A1". */
    name: Type.String({ minLength: 1 }),
    grade: Type.Integer({ minimum: 1, maximum: 12 }),
    enrolment: Type.Integer({ minimum: 0 }),
    homeRoomId: Id,
  },
  { additionalProperties: false },
);
export type SchoolClass = Static<typeof SchoolClass>;

export const Period = Type.Object(
  { n: Type.Integer({ minimum: 1 }), start: HHMM, end: HHMM },
  { additionalProperties: false },
);
export type Period = Static<typeof Period>;

export const Lesson = Type.Object(
  {
    /** ISO weekday: 1 = Monday ... 6 = Saturday (Vietnamese schools teach on Saturdays). */
    day: Type.Integer({ minimum: 1, maximum: 7 }),
    period: Type.Integer({ minimum: 1 }),
    classId: Id,
    roomId: Id,
    subject: LocalizedText,
  },
  { additionalProperties: false },
);
export type Lesson = Static<typeof Lesson>;

/** Where the gateway reaches a device; which fields apply depends on the profile's protocol. */
export const DeviceAddress = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    ifIndex: Type.Optional(Type.Integer({ minimum: 1 })),
    url: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);
export type DeviceAddress = Static<typeof DeviceAddress>;

export const DeviceRecord = Type.Object(
  {
    id: Id,
    profileId: Id,
    roomId: Id,
    name: Type.Optional(LocalizedText),
    address: Type.Optional(DeviceAddress),
  },
  { additionalProperties: false },
);
export type DeviceRecord = Static<typeof DeviceRecord>;

export const School = Type.Object(
  {
    id: Id,
    name: LocalizedText,
    level: Type.Union(SCHOOL_LEVELS.map((l) => Type.Literal(l))),
    /** The ward (phường/xã): its Vietnamese name alone, or in both languages. */
    ward: Type.Union([Type.String({ minLength: 1 }), LocalizedText]),
    gatewayId: Id,
    rooms: Type.Array(Room),
    classes: Type.Array(SchoolClass),
    timetable: Type.Object({ periods: Type.Array(Period), lessons: Type.Array(Lesson) }, { additionalProperties: false }),
    devices: Type.Array(DeviceRecord),
  },
  { additionalProperties: false },
);
export type School = Static<typeof School>;

export const Inventory = Type.Object(
  {
    v: Type.Literal(1),
    district: Type.Object(
      { id: Id, name: LocalizedText, timezone: Type.String({ minLength: 1 }) },
      { additionalProperties: false },
    ),
    schools: Type.Array(School),
  },
  { additionalProperties: false },
);
export type Inventory = Static<typeof Inventory>;
