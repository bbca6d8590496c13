/**
 * Attendance and room usage, counted by the classroom cameras:
 *  - GET /api/schools/{schoolId}/attendance: a school day's lessons and rooms;
 *  - GET /api/schools/{schoolId}/attendance/summary, /room-usage and their /export: a range
 *    of school days, by day, week or month, per class, per room, the labs; CSV and xlsx.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { LocalizedText } from '../ids.ts';

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
export type AttendanceQuery = Static<typeof AttendanceQuery>;

// ---------------------------------------------------------------------------------------
// Ranges of school days: the principal's view (summary, room usage, labs, exports)
// ---------------------------------------------------------------------------------------

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** Longest range (days, both ends counted) one summary, room-usage or export question may span: a school term's quarter. */
export const MAX_ATTENDANCE_RANGE_DAYS = 93;
/** The attendance rate under which a class is listed, when the question names none. */
export const DEFAULT_ATTENDANCE_THRESHOLD_PCT = 90;

// Dates are checked by the route (a clear bad_date naming the field), not by the schema.
const RangeQuery = {
  from: Type.Optional(
    Type.String({ maxLength: 32, description: `first date, YYYY-MM-DD (local, inclusive); default 29 days before \`to\`; at most ${MAX_ATTENDANCE_RANGE_DAYS} days from \`from\` to \`to\`, both counted` }),
  ),
  to: Type.Optional(Type.String({ maxLength: 32, description: 'last date, YYYY-MM-DD (local, inclusive); default today (school time)' })),
};
const ClassFilter = Type.Optional(Type.String({ maxLength: 96, description: 'only this class (its id)' }));
const Threshold = Type.Optional(
  Type.Number({ minimum: 0, maximum: 100, description: `classes whose attendance rate over the range is below this are listed in \`below\` (%, default ${DEFAULT_ATTENDANCE_THRESHOLD_PCT})` }),
);
const Lang = Type.Optional(Type.Union([Type.Literal('vi'), Type.Literal('en')], { description: 'language of the file\'s headings and words (default vi)' }));
const Format = Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('xlsx')], { description: 'csv (UTF-8 with BOM, RFC 4180, CRLF) or xlsx (default csv)' }));

export const AttendanceBy = Type.Union([Type.Literal('day'), Type.Literal('week'), Type.Literal('month')]);
export type AttendanceBy = Static<typeof AttendanceBy>;

export const AttendanceSummaryQuery = Type.Object({
  ...RangeQuery,
  by: Type.Optional(
    Type.Union([Type.Literal('day'), Type.Literal('week'), Type.Literal('month')], { description: 'day (school days), week (ISO weeks, Monday first) or month (default week)' }),
  ),
  threshold: Threshold,
  classId: ClassFilter,
});
export type AttendanceSummaryQuery = Static<typeof AttendanceSummaryQuery>;

export const RoomUsageQuery = Type.Object({ ...RangeQuery });
export type RoomUsageQuery = Static<typeof RoomUsageQuery>;

export const AttendanceExportQuery = Type.Object({ ...RangeQuery, format: Format, lang: Lang, threshold: Threshold, classId: ClassFilter });
export type AttendanceExportQuery = Static<typeof AttendanceExportQuery>;

export const RoomUsageExportQuery = Type.Object({ ...RangeQuery, format: Format, lang: Lang });
export type RoomUsageExportQuery = Static<typeof RoomUsageExportQuery>;

/**
 * Lessons of the timetable over some dates, and what the cameras made of them. A lesson is
 * counted when its room's camera reported an attendance rate during its period; the rates
 * of counted lessons are averaged weighted by enrolment (students present over students
 * expected, over all counted lessons).
 */
export const AttendanceFigures = Type.Object({
  lessons: Type.Integer({ description: 'lessons of the timetable that have begun (school time): counted + noCamera + noCount' }),
  counted: Type.Integer({ description: 'of those, lessons the room camera counted (an attendance rate during the period)' }),
  noCamera: Type.Integer({ description: 'lessons in a room without a camera: not counted, and never will be' }),
  noCount: Type.Integer({ description: 'lessons whose room camera reported no count during the period (off, unreachable, or not counting)' }),
  later: Type.Integer({ description: 'lessons still to come (no count yet, which is not a fault)' }),
  attendancePct: Nullable(Type.Number({ description: 'students present / enrolled over the counted lessons, %; null when none was counted' })),
});
export type AttendanceFigures = Static<typeof AttendanceFigures>;

export const AttendanceBucket = Type.Composite([
  Type.Object({
    key: Type.String({ description: 'YYYY-MM-DD (day), YYYY-Www (ISO week) or YYYY-MM (month)' }),
    from: Type.String({ description: 'first date of the bucket within the range' }),
    to: Type.String({ description: 'last date of the bucket within the range' }),
    schoolDays: Type.Integer({ description: 'dates in the bucket with lessons in the timetable' }),
  }),
  AttendanceFigures,
]);
export type AttendanceBucket = Static<typeof AttendanceBucket>;

export const ClassTrendPoint = Type.Composite([Type.Object({ key: Type.String() }), AttendanceFigures]);
export type ClassTrendPoint = Static<typeof ClassTrendPoint>;

export const ClassAttendance = Type.Object({
  classId: Type.String(),
  className: Type.String(),
  grade: Type.Integer(),
  enrolled: Type.Integer(),
  total: AttendanceFigures,
  trend: Type.Array(ClassTrendPoint, { description: "the class's figures per bucket, one entry per entry of `buckets`, in the same order" }),
  change: Nullable(Type.Number({ description: 'attendance rate of the last bucket with counted lessons less that of the first, percentage points; null with fewer than two' })),
  below: Type.Boolean({ description: 'its rate over the range is below the threshold' }),
});
export type ClassAttendance = Static<typeof ClassAttendance>;

export const CameraCoverage = Type.Object(
  {
    roomId: Type.String(),
    cameraId: Nullable(Type.String()),
    lessons: Type.Integer({ description: 'lessons in the room that have begun' }),
    counted: Type.Integer(),
    problem: Nullable(
      Type.Union([Type.Literal('no_camera'), Type.Literal('never_counted'), Type.Literal('some_not_counted')], {
        description: 'no_camera: the room has none; never_counted: its camera counted none of the lessons; some_not_counted: it missed some',
      }),
    ),
  },
  { description: 'a room that had lessons in the range, and how well its camera counted them' },
);
export type CameraCoverage = Static<typeof CameraCoverage>;

export const AttendanceSummary = Type.Object({
  schoolId: Type.String(),
  from: Type.String(),
  to: Type.String(),
  by: AttendanceBy,
  threshold: Type.Number(),
  classId: Nullable(Type.String({ description: 'the class the question named, or null for every class' })),
  clockOffsetMs: Type.Integer({ description: 'school time minus real time, ms (0 in a real district)' }),
  schoolDays: Type.Integer({ description: 'dates in the range with lessons in the timetable' }),
  total: AttendanceFigures,
  buckets: Type.Array(AttendanceBucket, { description: 'per school day, ISO week or month that holds a school day of the range, oldest first' }),
  classes: Type.Array(ClassAttendance, { description: 'every class (or the one asked for), by name' }),
  below: Type.Array(
    Type.Object({ classId: Type.String(), className: Type.String(), attendancePct: Type.Number(), counted: Type.Integer() }),
    { description: 'classes whose rate over the range is below the threshold, lowest first (a class with no counted lesson has no rate and is not listed)' },
  ),
  cameras: Type.Array(CameraCoverage),
});
export type AttendanceSummary = Static<typeof AttendanceSummary>;

/** Periods of school days in one room (or many), and how many of them the room was in use. */
export const UsageFigures = Type.Object({
  periods: Type.Integer({ description: 'periods of the bell schedule on school days that have begun' }),
  counted: Type.Integer({ description: 'of those, periods in which the room camera counted at least once' }),
  inUse: Type.Integer({ description: 'of those counted, periods in which a count saw someone (occupied)' }),
  usePct: Nullable(Type.Number({ description: 'inUse / counted, %; null when nothing was counted' })),
  scheduled: Type.Integer({ description: 'of `periods`, those with a lesson in the room by the timetable (its timetable slots)' }),
  scheduledCounted: Type.Integer(),
  scheduledInUse: Type.Integer(),
  scheduledUsePct: Nullable(Type.Number({ description: 'scheduledInUse / scheduledCounted, %: the share of its timetable slots the room was in use' })),
  unscheduledInUse: Type.Integer({ description: 'periods in use without a lesson in the timetable' }),
});
export type UsageFigures = Static<typeof UsageFigures>;

export const UsageWeek = Type.Composite([Type.Object({ key: Type.String({ description: 'ISO week, YYYY-Www' }), from: Type.String(), to: Type.String() }), UsageFigures]);
export type UsageWeek = Static<typeof UsageWeek>;

export const UsageCell = Type.Composite([
  Type.Object({ day: Type.Integer({ description: 'ISO weekday, 1 = Monday' }), period: Type.Integer() }),
  UsageFigures,
]);
export type UsageCell = Static<typeof UsageCell>;

export const RoomUsageRoom = Type.Object({
  roomId: Type.String(),
  name: LocalizedText,
  type: Type.String(),
  cameraId: Nullable(Type.String({ description: 'the camera whose counts say whether the room is in use; null: no data for this room' })),
  total: UsageFigures,
  weeks: Type.Array(UsageWeek, { description: 'one entry per entry of `weeks` of the answer, same order' }),
});
export type RoomUsageRoom = Static<typeof RoomUsageRoom>;

export const LabUsage = Type.Object({
  roomId: Type.String(),
  name: LocalizedText,
  cameraId: Nullable(Type.String()),
  total: UsageFigures,
  weeks: Type.Array(UsageWeek),
  grid: Type.Array(UsageCell, { description: 'per weekday and period of the school week, over the range' }),
  controller: Nullable(
    Type.Object(
      {
        deviceId: Type.String(),
        periodsReporting: Type.Integer({ description: 'of the periods that have begun, those in which the lab controller reported' }),
        periodsPrinting: Type.Integer({ description: 'of those, periods in which the 3D printer was printing (from 5-minute samples)' }),
      },
      { description: "the lab controller's equipment activity: shown beside the camera's counts, never taken as presence (its fume hood and fridge run all day, and a print runs on after the lesson)" },
    ),
  ),
});
export type LabUsage = Static<typeof LabUsage>;

export const RoomUsageRange = Type.Object({
  schoolId: Type.String(),
  from: Type.String(),
  to: Type.String(),
  clockOffsetMs: Type.Integer(),
  basis: Type.String({ description: 'what "in use" means here' }),
  schoolDays: Type.Integer(),
  periods: Type.Array(Type.Object({ n: Type.Integer(), start: Type.String(), end: Type.String() }), { description: "the school's bell schedule" }),
  weeks: Type.Array(Type.Object({ key: Type.String(), from: Type.String(), to: Type.String(), schoolDays: Type.Integer() }), { description: 'ISO weeks holding a school day of the range' }),
  total: UsageFigures,
  rooms: Type.Array(RoomUsageRoom, { description: 'every room of the school, by id' }),
  grid: Type.Array(UsageCell, { description: 'the whole school, per weekday and period of the school week: room-periods over the range' }),
  labs: Type.Array(LabUsage, { description: 'rooms of type lab' }),
});
export type RoomUsageRange = Static<typeof RoomUsageRange>;
