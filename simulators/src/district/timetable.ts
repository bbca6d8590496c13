/**
 * A week's timetable for one school: the bell schedule and a lesson for every class in
 * every period it attends. Each class owns its home classroom, so only the shared
 * specialised rooms (labs, computer labs) need booking; the booking table guarantees no
 * room and no class is ever in two places in one period.
 */
import type { Lesson, Period, SchoolClass } from '@schoolops/device-profiles';
import { SUBJECTS, type SchoolLevel, type SpecialRoom, type Subject } from './names.ts';
import { chance, pick, shuffled, type Rng } from './random.ts';
import { hhmmToMinutes, minutesToHhmm } from '@schoolops/device-profiles';

const PERIOD_MINUTES = 45;
const SHORT_BREAK = 5;
const LONG_BREAK = 20;

/** One session of periods: 45 minutes each, 5-minute breaks, a long break after the second. */
function session(firstN: number, start: string, count: number): Period[] {
  const periods: Period[] = [];
  let t = hhmmToMinutes(start);
  for (let i = 0; i < count; i++) {
    periods.push({ n: firstN + i, start: minutesToHhmm(t), end: minutesToHhmm(t + PERIOD_MINUTES) });
    t += PERIOD_MINUTES + (i === 1 ? LONG_BREAK : SHORT_BREAK);
  }
  return periods;
}

/**
 * The bell schedule shared by every level: periods 1-5 in the morning from 07:00,
 * periods 6-9 in the afternoon from 13:30.
 */
export const BELL_SCHEDULE: readonly Period[] = [...session(1, '07:00', 5), ...session(6, '13:30', 4)];

const MORNING = [1, 2, 3, 4, 5];
const MON_FRI = [1, 2, 3, 4, 5];
const MON_SAT = [1, 2, 3, 4, 5, 6];

type Slot = { day: number; period: number };

/**
 * The periods a class attends in a week:
 *  - primary: full-day schooling Monday-Friday, four periods each morning and three each afternoon;
 *  - lower secondary: mornings Monday-Saturday;
 *  - upper secondary: mornings Monday-Saturday and two afternoons a week (which two depends on the grade).
 */
function weeklySlots(level: SchoolLevel, grade: number): Slot[] {
  const slots: Slot[] = [];
  const add = (days: number[], periods: number[]) => {
    for (const day of days) for (const period of periods) slots.push({ day, period });
  };
  if (level === 'primary') add(MON_FRI, [1, 2, 3, 4, 6, 7, 8]);
  else if (level === 'lower-secondary') add(MON_SAT, MORNING);
  else {
    add(MON_SAT, MORNING);
    const afternoons = [
      [2, 4],
      [3, 5],
      [1, 4],
    ][grade % 3]!;
    add(afternoons, [6, 7]);
  }
  return slots;
}

/**
 * Leave `free` slots empty, always the last period of a session on some day, so a class
 * goes home early rather than idling in the middle of a morning.
 */
function dropFreeSlots(rng: Rng, slots: Slot[], free: number): Slot[] {
  const kept = slots.slice();
  for (let i = 0; i < free; i++) {
    const days = [...new Set(kept.map((s) => s.day))];
    if (days.length === 0) break;
    const day = pick(rng, days);
    const last = kept.filter((s) => s.day === day).reduce((a, b) => (b.period > a.period ? b : a));
    kept.splice(kept.indexOf(last), 1);
  }
  return kept.sort((a, b) => a.day - b.day || a.period - b.period);
}

/** Deal the week's lessons into the slots, no subject more than twice a day where avoidable. */
function dealSubjects(rng: Rng, subjects: Subject[], slots: Slot[]): { slot: Slot; subject: Subject }[] {
  let pool = shuffled(rng, subjects.flatMap((subject) => Array.from({ length: subject.perWeek }, () => subject)));
  const perDay = new Map<string, number>();
  const dealt: { slot: Slot; subject: Subject }[] = [];
  for (const slot of slots) {
    if (pool.length === 0) break;
    let index = pool.findIndex((subject) => (perDay.get(`${slot.day}/${subject.name.vi}`) ?? 0) < 2);
    if (index < 0) index = 0;
    const subject = pool[index]!;
    pool = [...pool.slice(0, index), ...pool.slice(index + 1)];
    const key = `${slot.day}/${subject.name.vi}`;
    perDay.set(key, (perDay.get(key) ?? 0) + 1);
    dealt.push({ slot, subject });
  }
  return dealt;
}

export interface TimetableInput {
  level: SchoolLevel;
  classes: readonly SchoolClass[];
  /** Room ids of each kind of specialised room the school has. */
  specialRooms: Partial<Record<SpecialRoom, string[]>>;
}

export function buildTimetable(rng: Rng, input: TimetableInput): { periods: Period[]; lessons: Lesson[] } {
  const booked = new Set<string>(); // `${roomId}@${day}/${period}` of shared rooms
  const lessons: Lesson[] = [];
  for (const schoolClass of input.classes) {
    const subjects = SUBJECTS[input.level](schoolClass.grade);
    const weekly = subjects.reduce((sum, subject) => sum + subject.perWeek, 0);
    const available = weeklySlots(input.level, schoolClass.grade);
    const slots = dropFreeSlots(rng, available, Math.max(0, available.length - weekly));
    for (const { slot, subject } of dealSubjects(rng, subjects, slots)) {
      let roomId = schoolClass.homeRoomId;
      if (subject.room && chance(rng, subject.roomShare ?? 1)) {
        const free = (input.specialRooms[subject.room] ?? []).find((id) => !booked.has(`${id}@${slot.day}/${slot.period}`));
        if (free) {
          booked.add(`${free}@${slot.day}/${slot.period}`);
          roomId = free;
        }
      }
      lessons.push({ day: slot.day, period: slot.period, classId: schoolClass.id, roomId, subject: { ...subject.name } });
    }
  }
  lessons.sort((a, b) => a.day - b.day || a.period - b.period || (a.classId < b.classId ? -1 : a.classId > b.classId ? 1 : 0));
  return { periods: BELL_SCHEDULE.map((p) => ({ ...p })), lessons };
}
