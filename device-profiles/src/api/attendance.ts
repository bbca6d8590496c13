/** GET /api/schools/{schoolId}/attendance: a school day's lessons, counted by the classroom cameras. */
import { Type, type Static } from '@sinclair/typebox';

export const LessonAttendance = Type.Object({
  period: Type.Integer(),
  start: Type.String({ description: 'HH:MM, local time' }),
  end: Type.String(),
  classId: Type.String(),
  className: Type.String(),
  roomId: Type.String(),
  enrolled: Type.Integer(),
  counts: Type.Integer({ description: "how many times the room's camera counted during the period (two when all went well)" }),
  headcount: Type.Union([Type.Number(), Type.Null()], { description: 'people counted, averaged over the counts; null when not counted' }),
  attendancePct: Type.Union([Type.Number(), Type.Null()], { description: 'students present (headcount less the teacher) / enrolled, %' }),
  when: Type.Union([Type.Literal('past'), Type.Literal('now'), Type.Literal('later')], {
    description: "the lesson against the school's time: over, running, or still to come (a lesson to come has no counts yet, which is not a fault)",
  }),
});

export const RoomUsage = Type.Object({
  roomId: Type.String(),
  /** period number -> in use (true), empty (false), not counted (absent) */
  periods: Type.Record(Type.String(), Type.Boolean()),
});

export const AttendanceDay = Type.Object({
  schoolId: Type.String(),
  date: Type.String(),
  clockOffsetMs: Type.Integer({
    description: 'school time minus real time, ms: 0 in a real district; a simulated district may run its school day at another time (demos)',
  }),
  lessons: Type.Array(LessonAttendance),
  rooms: Type.Array(RoomUsage),
});

export type LessonAttendance = Static<typeof LessonAttendance>;
export type RoomUsage = Static<typeof RoomUsage>;
export type AttendanceDay = Static<typeof AttendanceDay>;

const DATE = '^\\d{4}-\\d{2}-\\d{2}$';
export const AttendanceQuery = Type.Object({ date: Type.Optional(Type.String({ pattern: DATE, description: 'YYYY-MM-DD, local; default today' })) });
