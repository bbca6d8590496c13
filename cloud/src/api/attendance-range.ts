/**
 * The principal's view over a range of school days, built from the facts of
 * attendance-data.ts: attendance by day, ISO week or month, per class with its trend and
 * the classes below a threshold; room usage per room, per week and per weekday x period;
 * the labs. Pure functions of the facts: the routes (attendance-reports.ts) load, these add up.
 */
import type { AttendanceSummary, CameraCoverage, ClassAttendance, LabUsage, RoomUsageRange, UsageCell } from '@schoolops/device-profiles/api';
import {
  AttendanceTally,
  bucketKeyOf,
  byClassName,
  isoWeekOf,
  round1,
  TallyMap,
  UsageTally,
  weekdayOf,
  type BucketBy,
  type DateRange,
  type LessonFact,
  type Readings,
  type RoomPeriodFact,
  type SchoolFrame,
} from './attendance-data.ts';

/** What "in use" means in the room-usage answer (also written into its exports). */
export const IN_USE_BASIS =
  "A room is in use in a period when a count of its camera during the period saw someone (the camera's 'occupied': headcount above 0); " +
  "empty when its camera counted and saw nobody; no data when its camera did not count or the room has none. Cameras count twice a lesson " +
  "and every 15 minutes in a free room. A lab's controller (room climate, fume hood, chemical fridge, 3D printer) does not say whether people " +
  'are there: its hood and fridge run all day and a print runs on after the lesson, so its activity is shown beside the counts, never instead of them.';

interface Bucket {
  key: string;
  from: string;
  to: string;
  schoolDays: number;
}

/** The buckets (day, week, month) of a range that hold at least one of `schoolDates`, oldest first. */
export function bucketsOf(range: DateRange, schoolDates: readonly string[], by: BucketBy): Bucket[] {
  const buckets = new Map<string, Bucket>();
  for (const date of range.dates) {
    const key = bucketKeyOf(date, by);
    const bucket = buckets.get(key);
    if (bucket) bucket.to = date;
    else buckets.set(key, { key, from: date, to: date, schoolDays: 0 });
  }
  for (const date of schoolDates) buckets.get(bucketKeyOf(date, by))!.schoolDays++;
  return [...buckets.values()].filter((b) => b.schoolDays > 0);
}

export type SummaryBody = Omit<AttendanceSummary, 'schoolId' | 'clockOffsetMs'>;

/** Attendance over the range (of one class when `classId` is given): `facts` are its lessons. */
export function buildSummary(frame: SchoolFrame, range: DateRange, facts: readonly LessonFact[], o: { by: BucketBy; threshold: number; classId?: string }): SummaryBody {
  const schoolDates = frame.schoolDates(range.dates, o.classId);
  const buckets = bucketsOf(range, schoolDates, o.by);
  const total = new AttendanceTally();
  const perBucket = new TallyMap<string, AttendanceTally>(() => new AttendanceTally());
  const perClass = new TallyMap<string, AttendanceTally>(() => new AttendanceTally());
  const perClassBucket = new TallyMap<string, AttendanceTally>(() => new AttendanceTally());
  const perRoom = new TallyMap<string, AttendanceTally>(() => new AttendanceTally());
  for (const fact of facts) {
    const key = bucketKeyOf(fact.date, o.by);
    total.add(fact);
    perBucket.of(key).add(fact);
    perClass.of(fact.schoolClass.id).add(fact);
    perClassBucket.of(`${fact.schoolClass.id}\u0000${key}`).add(fact);
    perRoom.of(fact.roomId).add(fact);
  }

  const empty = new AttendanceTally();
  const classes = (o.classId === undefined ? [...frame.classes.values()] : [frame.classes.get(o.classId)!]).sort(byClassName);
  const classViews: ClassAttendance[] = classes.map((c) => {
    const tally = perClass.get(c.id) ?? empty;
    const points = buckets.map((b) => perClassBucket.get(`${c.id}\u0000${b.key}`) ?? empty);
    const rated = points.map((p) => p.rate()).filter((r): r is number => r !== null);
    const rate = round1(tally.rate());
    return {
      classId: c.id,
      className: c.name,
      grade: c.grade,
      enrolled: c.enrolment,
      total: tally.figures(),
      trend: points.map((p, i) => ({ key: buckets[i]!.key, ...p.figures() })),
      change: rated.length >= 2 ? round1(rated[rated.length - 1]! - rated[0]!) : null,
      // As shown: a class at 89.96 % shows 90 % and is not below 90.
      below: rate !== null && rate < o.threshold,
    };
  });
  const below = classViews
    .filter((c) => c.below)
    .map((c) => ({ classId: c.classId, className: c.className, attendancePct: c.total.attendancePct!, counted: c.total.counted }))
    .sort((a, b) => a.attendancePct - b.attendancePct || a.className.localeCompare(b.className, 'vi', { numeric: true }));

  const cameras: CameraCoverage[] = [...perRoom]
    .filter(([, t]) => t.lessons > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([roomId, t]) => ({
      roomId,
      cameraId: frame.cameraOfRoom.get(roomId) ?? null,
      lessons: t.lessons,
      counted: t.counted,
      problem: t.noCamera > 0 ? 'no_camera' : t.counted === 0 ? 'never_counted' : t.counted < t.lessons ? 'some_not_counted' : null,
    }));

  return {
    from: range.from,
    to: range.to,
    by: o.by,
    threshold: o.threshold,
    classId: o.classId ?? null,
    schoolDays: schoolDates.length,
    total: total.figures(),
    buckets: buckets.map((b) => ({ ...b, ...(perBucket.get(b.key) ?? empty).figures() })),
    classes: classViews,
    below,
    cameras,
  };
}

export type RoomUsageBody = Omit<RoomUsageRange, 'schoolId' | 'clockOffsetMs'>;

/**
 * Room usage over the school days of the range: `facts` are every room's periods on those
 * days; `controllers` the lab controllers' printerState in 5-minute buckets.
 */
export function buildRoomUsage(frame: SchoolFrame, range: DateRange, schoolDates: readonly string[], facts: readonly RoomPeriodFact[], controllers: Readings): RoomUsageBody {
  const weeks = bucketsOf(range, schoolDates, 'week');
  const weekdays = [...new Set(schoolDates.map(weekdayOf))].sort((a, b) => a - b);
  const total = new UsageTally();
  const perRoom = new TallyMap<string, UsageTally>(() => new UsageTally());
  const perRoomWeek = new TallyMap<string, UsageTally>(() => new UsageTally());
  const perCell = new TallyMap<string, UsageTally>(() => new UsageTally());
  const perRoomCell = new TallyMap<string, UsageTally>(() => new UsageTally());
  const labs = frame.school.rooms.filter((r) => r.type === 'lab');
  const labIds = new Set(labs.map((r) => r.id));
  const controllerOf = new Map(labs.flatMap((r) => (frame.labControllerOfRoom.has(r.id) ? [[r.id, frame.labControllerOfRoom.get(r.id)!] as const] : [])));
  const equipment = new Map<string, { periodsReporting: number; periodsPrinting: number }>();

  for (const fact of facts) {
    const week = isoWeekOf(fact.date);
    const cell = `${fact.weekday}/${fact.period.n}`;
    total.add(fact);
    perRoom.of(fact.room.id).add(fact);
    perRoomWeek.of(`${fact.room.id}\u0000${week}`).add(fact);
    perCell.of(cell).add(fact);
    if (!labIds.has(fact.room.id)) continue;
    perRoomCell.of(`${fact.room.id}\u0000${cell}`).add(fact);
    const controller = controllerOf.get(fact.room.id);
    if (!controller || !fact.begun) continue;
    const figures = equipment.get(fact.room.id) ?? { periodsReporting: 0, periodsPrinting: 0 };
    equipment.set(fact.room.id, figures);
    const { from, to } = frame.window(fact.date, fact.period);
    const states = controllers.within(controller, 'printerState', from, to);
    if (states.length > 0) figures.periodsReporting++;
    if (states.some((b) => b.last === 'printing')) figures.periodsPrinting++;
  }

  const empty = new UsageTally();
  const weeksOf = (roomId: string) => weeks.map((w) => ({ key: w.key, from: w.from, to: w.to, ...(perRoomWeek.get(`${roomId}\u0000${w.key}`) ?? empty).figures() }));
  const gridOf = (tally: (cell: string) => UsageTally | undefined): UsageCell[] =>
    weekdays.flatMap((day) => frame.periods.map((p) => ({ day, period: p.n, ...(tally(`${day}/${p.n}`) ?? empty).figures() })));
  const rooms = [...frame.school.rooms].sort((a, b) => a.id.localeCompare(b.id));

  return {
    from: range.from,
    to: range.to,
    basis: IN_USE_BASIS,
    schoolDays: schoolDates.length,
    periods: frame.periods.map((p) => ({ n: p.n, start: p.start, end: p.end })),
    weeks,
    total: total.figures(),
    rooms: rooms.map((room) => ({
      roomId: room.id,
      name: room.name,
      type: room.type,
      cameraId: frame.cameraOfRoom.get(room.id) ?? null,
      total: (perRoom.get(room.id) ?? empty).figures(),
      weeks: weeksOf(room.id),
    })),
    grid: gridOf((cell) => perCell.get(cell)),
    labs: rooms
      .filter((room) => labIds.has(room.id))
      .map(
        (room): LabUsage => ({
          roomId: room.id,
          name: room.name,
          cameraId: frame.cameraOfRoom.get(room.id) ?? null,
          total: (perRoom.get(room.id) ?? empty).figures(),
          weeks: weeksOf(room.id),
          grid: gridOf((cell) => perRoomCell.get(`${room.id}\u0000${cell}`)),
          controller: controllerOf.has(room.id) ? { deviceId: controllerOf.get(room.id)!, ...(equipment.get(room.id) ?? { periodsReporting: 0, periodsPrinting: 0 }) } : null,
        }),
      ),
  };
}
