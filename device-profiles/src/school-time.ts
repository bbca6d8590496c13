/**
 * School time: which period it is, and which lessons are running, at an instant, in the
 * district's time zone (Asia/Ho_Chi_Minh) whatever the machine's own TZ is.
 */
import type { Lesson, Period, School, SchoolClass } from './inventory.ts';

export const DISTRICT_TIMEZONE = 'Asia/Ho_Chi_Minh';

export interface LocalTime {
  /** ISO weekday: 1 = Monday ... 7 = Sunday. */
  day: number;
  /** Minutes since local midnight, with the seconds as a fraction. */
  minutes: number;
  /** Local calendar date, yyyy-mm-dd. */
  date: string;
}

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Wall-clock time in the given zone (the district's by default). */
export function localTime(at: Date, timeZone: string = DISTRICT_TIMEZONE): LocalTime {
  const parts: Record<string, string> = {};
  for (const part of formatterFor(timeZone).formatToParts(at)) parts[part.type] = part.value;
  const day = WEEKDAYS[parts.weekday ?? ''];
  if (day === undefined) throw new Error(`cannot read the weekday of ${at.toISOString()} in ${timeZone}`);
  const minutes = Number(parts.hour) * 60 + Number(parts.minute) + Number(parts.second) / 60 + at.getUTCMilliseconds() / 60_000;
  return { day, minutes, date: `${parts.year}-${parts.month}-${parts.day}` };
}

/** 'HH:MM' -> minutes since midnight. */
export function hhmmToMinutes(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

/** 'HH:MM' from minutes since midnight. */
export function minutesToHhmm(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
}

/** The period running at a local time, if any (start inclusive, end exclusive). */
export function periodAt(periods: readonly Period[], minutes: number): Period | undefined {
  return periods.find((p) => hhmmToMinutes(p.start) <= minutes && minutes < hhmmToMinutes(p.end));
}

/** Lessons of a school indexed by day and period, built once per School object. */
const lessonIndex = new WeakMap<School, Map<string, Lesson[]>>();

function lessonsBySlot(school: School): Map<string, Lesson[]> {
  let index = lessonIndex.get(school);
  if (!index) {
    index = new Map();
    for (const lesson of school.timetable.lessons) {
      const key = `${lesson.day}/${lesson.period}`;
      const list = index.get(key);
      if (list) list.push(lesson);
      else index.set(key, [lesson]);
    }
    lessonIndex.set(school, index);
  }
  return index;
}

/** Every lesson running in the school at this instant (empty between periods, at night, on Sunday). */
export function lessonsAt(school: School, at: Date, timeZone: string = DISTRICT_TIMEZONE): Lesson[] {
  const local = localTime(at, timeZone);
  const period = periodAt(school.timetable.periods, local.minutes);
  if (!period) return [];
  return lessonsBySlot(school).get(`${local.day}/${period.n}`) ?? [];
}

/** The lesson in one room at this instant, or undefined when the room is free. */
export function currentLesson(school: School, roomId: string, at: Date, timeZone: string = DISTRICT_TIMEZONE): Lesson | undefined {
  return lessonsAt(school, at, timeZone).find((lesson) => lesson.roomId === roomId);
}

const classIndex = new WeakMap<School, Map<string, SchoolClass>>();

/** A class of the school by id. */
export function classById(school: School, classId: string): SchoolClass | undefined {
  let index = classIndex.get(school);
  if (!index) {
    index = new Map(school.classes.map((c) => [c.id, c]));
    classIndex.set(school, index);
  }
  return index.get(classId);
}

/** The instant at which a local date ('YYYY-MM-DD') and minutes after midnight occur in a time zone. */
export function zonedInstant(date: string, minutes: number, timeZone: string = DISTRICT_TIMEZONE): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const wanted = Date.UTC(y, m - 1, d) + minutes * 60_000;
  // Start from the wall time read as UTC, then correct by the zone's offset at that instant
  // (twice, in case the first guess fell on the other side of a DST change).
  let guess = wanted;
  for (let i = 0; i < 2; i++) {
    const local = localTime(new Date(guess), timeZone);
    const [ly, lm, ld] = local.date.split('-').map(Number) as [number, number, number];
    const seen = Date.UTC(ly, lm - 1, ld) + Math.round(local.minutes * 60_000);
    guess += wanted - seen;
  }
  return guess;
}

/**
 * The clock a timetable is read on: the system clock moved by `offsetMs`. Real deployments
 * use 0; the simulated district moves its whole school day (devices, gateways' counting
 * schedule, the attendance API) by one offset so a demo at night shows lessons. Readings
 * keep real timestamps either way.
 */
export function schoolClock(offsetMs = 0): () => Date {
  return offsetMs === 0 ? () => new Date() : () => new Date(Date.now() + offsetMs);
}
