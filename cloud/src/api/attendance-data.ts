/**
 * What the classroom cameras' counts say about a school's lessons and rooms, over one school
 * day or a range of them: the facts the attendance routes (one day, summary, room usage,
 * labs, exports) are built from, so every view means the same by "counted" and "in use".
 *
 *  - A lesson is one entry of the timetable on a date. It is **counted** when the camera of
 *    its room reported an attendance rate (`attendancePct`, which the gateway works out from
 *    the faces it counted less the teacher, over the class's enrolment) during its period.
 *  - A room is **in use** in a period when a count of its camera during the period saw
 *    someone (`occupied`, i.e. headcount > 0); **empty** when its camera counted and saw
 *    nobody; and there is **no data** when its camera did not count (or it has none).
 *
 * Cost: one history question per camera for the whole range (never one per lesson or per
 * day), in 1-minute buckets aligned to school time: counts come at most twice a lesson and
 * every 15 minutes otherwise, so a bucket holds one count and the answer is about as long as
 * the counts themselves. At most READ_CONCURRENCY questions of one request run at a time, so
 * one school's month does not fill the store's query queue on its own
 * (cloud/bench/attendance-range.ts measures it).
 */
import { hhmmToMinutes, localTime, zonedInstant, type Lesson, type Period, type Room, type School, type SchoolClass } from '@schoolops/device-profiles';
import type { ApiErrorCode, AttendanceFigures, ErrorParams, UsageFigures } from '@schoolops/device-profiles/api';
import { MAX_ATTENDANCE_RANGE_DAYS } from '@schoolops/device-profiles/api';
import type { DistrictIndex } from '../inventory.ts';
import type { HistoryBucket, ReadingStore } from '../storage/types.ts';

export const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
/** History questions one request keeps in flight (the store has 4 read connections by default). */
export const READ_CONCURRENCY = 4;
/** The camera metrics the attendance views read. */
export const CAMERA_METRICS = ['headcount', 'attendancePct', 'occupied'] as const;

// ---- dates --------------------------------------------------------------------------

/** The date when `text` is a real calendar date written YYYY-MM-DD (years 1000-9999), else null. */
export function parseDate(text: string): string | null {
  if (!/^[1-9]\d{3}-\d{2}-\d{2}$/.test(text)) return null;
  const [y, m, d] = text.split('-').map(Number) as [number, number, number];
  const ms = Date.UTC(y, m - 1, d);
  return new Date(ms).toISOString().slice(0, 10) === text ? text : null;
}

const dateMs = (date: string) => Date.parse(`${date}T00:00:00Z`);
const dateOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function addDays(date: string, days: number): string {
  return dateOf(dateMs(date) + days * DAY_MS);
}

/** Days from `from` to `to`, both counted (1 for one day). */
export function daysInRange(from: string, to: string): number {
  return Math.round((dateMs(to) - dateMs(from)) / DAY_MS) + 1;
}

/** ISO weekday of a date: 1 = Monday ... 7 = Sunday, as the timetable counts days. */
export function weekdayOf(date: string): number {
  return ((new Date(dateMs(date)).getUTCDay() + 6) % 7) + 1;
}

/** The ISO week of a date, 'YYYY-Www' (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeekOf(date: string): string {
  const thursday = dateMs(date) + (4 - weekdayOf(date)) * DAY_MS;
  const year = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - Date.UTC(year, 0, 1)) / DAY_MS / 7) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

export type BucketBy = 'day' | 'week' | 'month';

export function bucketKeyOf(date: string, by: BucketBy): string {
  return by === 'day' ? date : by === 'week' ? isoWeekOf(date) : date.slice(0, 7);
}

export interface DateRange {
  from: string;
  to: string;
  /** Every date from `from` to `to`. */
  dates: string[];
}

export type Refusal = { code: ApiErrorCode; params: ErrorParams };

/**
 * The range a question names: `to` defaults to today (school time), `from` to 29 days
 * before it. Refused with a code of the catalog: a date that is not one, `from` after `to`,
 * more than MAX_ATTENDANCE_RANGE_DAYS days.
 */
export function resolveRange(query: { from?: string | undefined; to?: string | undefined }, today: string, maxDays = MAX_ATTENDANCE_RANGE_DAYS): DateRange | Refusal {
  const to = query.to === undefined ? today : parseDate(query.to);
  if (to === null) return { code: 'bad_date', params: { field: 'to', value: query.to ?? '' } };
  const from = query.from === undefined ? addDays(to, -29) : parseDate(query.from);
  if (from === null) return { code: 'bad_date', params: { field: 'from', value: query.from ?? '' } };
  if (from > to) return { code: 'range_backwards', params: { from, to } };
  const days = daysInRange(from, to);
  if (days > maxDays) return { code: 'range_too_long', params: { days, max: maxDays } };
  return { from, to, dates: Array.from({ length: days }, (_, i) => addDays(from, i)) };
}

export function isRefusal(value: unknown): value is Refusal {
  return typeof value === 'object' && value !== null && 'code' in value;
}

// ---- the school as the timetable has it --------------------------------------------------

/** A school's timetable, rooms and cameras, read on the school clock. */
export class SchoolFrame {
  readonly periods: Period[];
  readonly classes: Map<string, SchoolClass>;
  readonly rooms: Map<string, Room>;
  /** roomId -> the camera whose counts stand for the room (the last one listed, as ever). */
  readonly cameraOfRoom: Map<string, string>;
  /** roomId -> the lab controller of the room. */
  readonly labControllerOfRoom: Map<string, string>;
  /** ISO weekday -> its lessons, by period then room. */
  private readonly lessonsByDay = new Map<number, Lesson[]>();
  /** `${day}/${period}/${roomId}` -> the lesson in that room then. */
  private readonly lessonAt = new Map<string, Lesson>();
  /** Weekdays with at least one lesson. */
  readonly schoolWeekdays: Set<number>;
  private readonly instants = new Map<string, number>();

  constructor(
    readonly school: School,
    district: DistrictIndex,
    readonly timeZone: string,
    /** School time minus real time, ms. */
    readonly offsetMs: number,
  ) {
    this.periods = [...school.timetable.periods].sort((a, b) => a.n - b.n);
    this.classes = new Map(school.classes.map((c) => [c.id, c]));
    this.rooms = new Map(school.rooms.map((r) => [r.id, r]));
    const devices = district.devicesOf(school.id);
    this.cameraOfRoom = new Map(devices.filter((e) => e.profile.kind === 'camera').map((e) => [e.record.roomId, e.record.id]));
    this.labControllerOfRoom = new Map(devices.filter((e) => e.profile.kind === 'lab').map((e) => [e.record.roomId, e.record.id]));
    const periodNumbers = new Set(this.periods.map((p) => p.n));
    for (const lesson of school.timetable.lessons) {
      // A lesson of a period the bell schedule lacks, or of an unknown class, has no time or no class: left out.
      if (!periodNumbers.has(lesson.period) || !this.classes.has(lesson.classId)) continue;
      const list = this.lessonsByDay.get(lesson.day) ?? [];
      list.push(lesson);
      this.lessonsByDay.set(lesson.day, list);
      const key = `${lesson.day}/${lesson.period}/${lesson.roomId}`;
      if (!this.lessonAt.has(key)) this.lessonAt.set(key, lesson);
    }
    for (const list of this.lessonsByDay.values()) list.sort((a, b) => a.period - b.period || a.roomId.localeCompare(b.roomId));
    this.schoolWeekdays = new Set(this.lessonsByDay.keys());
  }

  /** The real instant (readings' timestamps) of a school-clock date and minutes after midnight. */
  at(date: string, minutes: number): number {
    // Remembered: a month of rooms x periods asks for the same few instants thousands of
    // times, and each costs two passes through Intl (zonedInstant).
    const key = `${date}/${minutes}`;
    let instant = this.instants.get(key);
    if (instant === undefined) {
      instant = zonedInstant(date, minutes, this.timeZone) - this.offsetMs;
      this.instants.set(key, instant);
    }
    return instant;
  }

  /** The real instants a period of a date runs [from, to). */
  window(date: string, period: Period): { from: number; to: number } {
    return { from: this.at(date, hhmmToMinutes(period.start)), to: this.at(date, hhmmToMinutes(period.end)) };
  }

  /** Today on the school clock. */
  today(now: number): string {
    return localTime(new Date(now + this.offsetMs), this.timeZone).date;
  }

  lessonsOn(weekday: number): readonly Lesson[] {
    return this.lessonsByDay.get(weekday) ?? [];
  }

  lessonIn(weekday: number, period: number, roomId: string): Lesson | undefined {
    return this.lessonAt.get(`${weekday}/${period}/${roomId}`);
  }

  /** Does the timetable give this class any lesson (on any day)? */
  hasLessons(classId: string): boolean {
    for (const list of this.lessonsByDay.values()) if (list.some((l) => l.classId === classId)) return true;
    return false;
  }

  /** Dates of the range with lessons (of this class, when one is named). */
  schoolDates(dates: readonly string[], classId?: string): string[] {
    return dates.filter((date) => {
      const lessons = this.lessonsOn(weekdayOf(date));
      return classId === undefined ? lessons.length > 0 : lessons.some((l) => l.classId === classId);
    });
  }
}

// ---- readings ------------------------------------------------------------------------

/** One metric of one device over the range: its buckets, oldest first. */
class Series {
  constructor(readonly buckets: HistoryBucket[]) {}

  /** The buckets that start within [from, to). */
  within(from: number, to: number): HistoryBucket[] {
    const b = this.buckets;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (b[mid]!.t < from) lo = mid + 1;
      else hi = mid;
    }
    let end = lo;
    while (end < b.length && b[end]!.t < to) end++;
    return b.slice(lo, end);
  }
}

/** What the store holds of some devices' metrics over a range, by device and metric. */
export class Readings {
  private readonly series = new Map<string, Series>();
  private static readonly NONE = new Series([]);

  add(deviceId: string, buckets: HistoryBucket[]): void {
    const byMetric = new Map<string, HistoryBucket[]>();
    for (const bucket of buckets) {
      const list = byMetric.get(bucket.metric) ?? [];
      list.push(bucket);
      byMetric.set(bucket.metric, list);
    }
    for (const [metric, list] of byMetric) this.series.set(`${deviceId}\u0000${metric}`, new Series(list.sort((a, b) => a.t - b.t)));
  }

  within(deviceId: string | null | undefined, metric: string, from: number, to: number): HistoryBucket[] {
    if (!deviceId) return [];
    return (this.series.get(`${deviceId}\u0000${metric}`) ?? Readings.NONE).within(from, to);
  }
}

/** Runs `fn` over `items`, at most `limit` at a time; rejects with the first failure. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * The devices' metrics over [from, to), one history question per device, in buckets of
 * `bucketMs` aligned to school-time minutes. A StoreBusyError of the store is passed on.
 */
export async function loadReadings(
  store: ReadingStore,
  q: { deviceIds: readonly string[]; metrics: readonly string[]; from: number; to: number; bucketMs?: number; offsetMs: number },
): Promise<Readings> {
  const readings = new Readings();
  const bucketMs = q.bucketMs ?? MINUTE_MS;
  await eachLimited([...new Set(q.deviceIds)], READ_CONCURRENCY, async (deviceId) => {
    // Windows start at whole school-time minutes, i.e. at -offset modulo a minute of real time.
    readings.add(deviceId, await store.history({ deviceId, metrics: q.metrics, from: q.from, to: q.to, bucketMs, origin: -q.offsetMs }));
  });
  return readings;
}

/** The cameras' counts over the dates of a range (from the first's midnight to the day after the last). */
export function loadCameraCounts(store: ReadingStore, frame: SchoolFrame, range: { from: string; to: string }, metrics: readonly string[] = CAMERA_METRICS): Promise<Readings> {
  return loadReadings(store, {
    deviceIds: [...frame.cameraOfRoom.values()],
    metrics,
    from: frame.at(range.from, 0),
    to: frame.at(addDays(range.to, 1), 0),
    offsetMs: frame.offsetMs,
  });
}

/** The mean of the samples in some buckets (each bucket's average weighted by its count), or null. */
export function sampleMean(buckets: readonly HistoryBucket[]): number | null {
  let sum = 0;
  let n = 0;
  for (const b of buckets) {
    if (b.avg === null) continue;
    sum += b.avg * b.count;
    n += b.count;
  }
  return n > 0 ? sum / n : null;
}

export const round1 = (value: number | null): number | null => (value === null ? null : Math.round(value * 10) / 10);

// ---- lessons ----------------------------------------------------------------------------

export type LessonStatus = 'counted' | 'no_camera' | 'no_count' | 'later';

export interface LessonFact {
  date: string;
  weekday: number;
  period: Period;
  lesson: Lesson;
  schoolClass: SchoolClass;
  roomId: string;
  cameraId: string | null;
  /** Real instants of the period. */
  from: number;
  to: number;
  when: 'past' | 'now' | 'later';
  /** Counts of the room's camera during the period (headcount samples). */
  counts: number;
  /** People counted, the mean of the counts. */
  headcount: number | null;
  /** Students present over enrolled, the mean of the counts' rates (unrounded). */
  attendancePct: number | null;
  /**
   * counted: an attendance rate was reported; no_camera: the room has no camera;
   * no_count: the period is over (or running past its first count) and none came;
   * later: to come (or running, not yet counted), which is no fault.
   */
  status: LessonStatus;
}

/** Every lesson of the timetable on these dates (of one class, when named), with the counts of its room's camera. */
export function lessonFacts(frame: SchoolFrame, dates: readonly string[], readings: Readings, now: number, classId?: string): LessonFact[] {
  const periods = new Map(frame.periods.map((p) => [p.n, p]));
  const facts: LessonFact[] = [];
  for (const date of dates) {
    const weekday = weekdayOf(date);
    for (const lesson of frame.lessonsOn(weekday)) {
      if (classId !== undefined && lesson.classId !== classId) continue;
      const period = periods.get(lesson.period)!;
      const schoolClass = frame.classes.get(lesson.classId)!;
      const { from, to } = frame.window(date, period);
      const when = now >= to ? ('past' as const) : now >= from ? ('now' as const) : ('later' as const);
      const cameraId = frame.cameraOfRoom.get(lesson.roomId) ?? null;
      const heads = readings.within(cameraId, 'headcount', from, to);
      const attendancePct = sampleMean(readings.within(cameraId, 'attendancePct', from, to));
      let status: LessonStatus;
      if (when === 'later') status = 'later';
      else if (!cameraId) status = 'no_camera';
      else if (attendancePct !== null) status = 'counted';
      else status = when === 'now' ? 'later' : 'no_count';
      facts.push({
        date,
        weekday,
        period,
        lesson,
        schoolClass,
        roomId: lesson.roomId,
        cameraId,
        from,
        to,
        when,
        counts: heads.reduce((n, b) => n + b.count, 0),
        headcount: sampleMean(heads),
        attendancePct,
        status,
      });
    }
  }
  return facts;
}

/** Lessons added up: how many, how many counted and why not, and the rate weighted by enrolment. */
export class AttendanceTally {
  lessons = 0;
  counted = 0;
  noCamera = 0;
  noCount = 0;
  later = 0;
  /** Σ rate × enrolled and Σ enrolled over the counted lessons. */
  private present = 0;
  private expected = 0;

  add(fact: LessonFact): void {
    if (fact.status === 'later') {
      this.later++;
      return;
    }
    this.lessons++;
    if (fact.status === 'no_camera') this.noCamera++;
    else if (fact.status === 'no_count') this.noCount++;
    else {
      this.counted++;
      this.present += (fact.attendancePct ?? 0) * fact.schoolClass.enrolment;
      this.expected += fact.schoolClass.enrolment;
    }
  }

  /** Unrounded. */
  rate(): number | null {
    return this.expected > 0 ? this.present / this.expected : null;
  }

  figures(): AttendanceFigures {
    return { lessons: this.lessons, counted: this.counted, noCamera: this.noCamera, noCount: this.noCount, later: this.later, attendancePct: round1(this.rate()) };
  }
}

// ---- rooms and periods -----------------------------------------------------------------

export type RoomState = 'occupied' | 'empty' | 'no_data';

export interface RoomPeriodFact {
  date: string;
  weekday: number;
  period: Period;
  room: Room;
  cameraId: string | null;
  /** The lesson the timetable has in the room then, if any. */
  lesson: Lesson | undefined;
  /** The period has begun (school time); one to come is left out of every figure. */
  begun: boolean;
  state: RoomState;
  /** Counts of the room's camera during the period. */
  counts: number;
  /** Most people one count saw. */
  maxHeadcount: number | null;
}

/** What the camera's counts say about one room in one window: in use, empty, or no data. */
export function roomState(readings: Readings, cameraId: string | null | undefined, from: number, to: number): { state: RoomState; counts: number } {
  const seen = readings.within(cameraId, 'occupied', from, to);
  if (seen.length === 0) return { state: 'no_data', counts: 0 };
  return { state: seen.some((b) => (b.max ?? 0) > 0) ? 'occupied' : 'empty', counts: seen.reduce((n, b) => n + b.count, 0) };
}

/** Every room in every period of these dates. */
export function roomPeriodFacts(frame: SchoolFrame, dates: readonly string[], readings: Readings, now: number, rooms: readonly Room[] = frame.school.rooms): RoomPeriodFact[] {
  const facts: RoomPeriodFact[] = [];
  for (const date of dates) {
    const weekday = weekdayOf(date);
    for (const room of rooms) {
      const cameraId = frame.cameraOfRoom.get(room.id) ?? null;
      for (const period of frame.periods) {
        const { from, to } = frame.window(date, period);
        const { state, counts } = roomState(readings, cameraId, from, to);
        const heads = readings.within(cameraId, 'headcount', from, to);
        const maxHeadcount = heads.reduce<number | null>((m, b) => (b.max === null ? m : Math.max(m ?? 0, b.max)), null);
        facts.push({ date, weekday, period, room, cameraId, lesson: frame.lessonIn(weekday, period.n, room.id), begun: now >= from, state, counts, maxHeadcount });
      }
    }
  }
  return facts;
}

/** Room-periods added up. */
export class UsageTally {
  periods = 0;
  counted = 0;
  inUse = 0;
  scheduled = 0;
  scheduledCounted = 0;
  scheduledInUse = 0;
  unscheduledInUse = 0;

  add(fact: RoomPeriodFact): void {
    if (!fact.begun) return;
    const scheduled = fact.lesson !== undefined;
    this.periods++;
    if (scheduled) this.scheduled++;
    if (fact.state === 'no_data') return;
    this.counted++;
    if (scheduled) this.scheduledCounted++;
    if (fact.state !== 'occupied') return;
    this.inUse++;
    if (scheduled) this.scheduledInUse++;
    else this.unscheduledInUse++;
  }

  figures(): UsageFigures {
    const pct = (part: number, whole: number) => (whole > 0 ? round1((100 * part) / whole) : null);
    return {
      periods: this.periods,
      counted: this.counted,
      inUse: this.inUse,
      usePct: pct(this.inUse, this.counted),
      scheduled: this.scheduled,
      scheduledCounted: this.scheduledCounted,
      scheduledInUse: this.scheduledInUse,
      scheduledUsePct: pct(this.scheduledInUse, this.scheduledCounted),
      unscheduledInUse: this.unscheduledInUse,
    };
  }
}

/** A tally per key, made on first use. */
export class TallyMap<K, T> extends Map<K, T> {
  constructor(private readonly make: () => T) {
    super();
  }

  of(key: K): T {
    let tally = this.get(key);
    if (tally === undefined) {
      tally = this.make();
      this.set(key, tally);
    }
    return tally;
  }
}

/** Class names in the school's order: by grade, then as a person reads them (6A2 before 6A10). */
export function byClassName(a: SchoolClass, b: SchoolClass): number {
  return a.grade - b.grade || a.name.localeCompare(b.name, 'vi', { numeric: true });
}
