/**
 * Which class is in which room, slot by slot: the part of a school's timetable a replayed
 * school's devices need. Kept compact: the replayer holds it for 150 schools, and the
 * inventory's lessons (with their subjects' names in two languages) take tens of megabytes;
 * the replayer lets the inventory go once these are built. Per slot (day and period) one
 * small typed array says which class, if any, is in each room; a RoomUse is made only when a
 * device of the room reports.
 */
import { periodAt, type LocalTime, type Period, type School } from '@schoolops/device-profiles';

/** A lesson in the device's room at the school time of a reading. */
export interface RoomUse {
  classId: string;
  day: number;
  period: number;
  /** The class's enrolment (what a camera counts, less the absent). */
  enrolment: number;
}

/** The rooms of a school at one moment. */
export interface RoomsAt {
  get(roomId: string): RoomUse | undefined;
  readonly size: number;
}

const NO_CLASS = -1;
const NOTHING_ON: RoomsAt = { get: () => undefined, size: 0 };

export class RoomTimetable {
  private readonly periods: Period[];
  private readonly roomIndex = new Map<string, number>();
  private readonly classes: Array<{ id: string; enrolment: number }>;
  /** `${day}/${period}` -> class index per room index (NO_CLASS: the room is free). */
  private readonly bySlot = new Map<string, Int32Array>();

  constructor(school: School) {
    this.periods = school.timetable.periods.map((p) => ({ ...p }));
    this.classes = school.classes.map((c) => ({ id: c.id, enrolment: c.enrolment }));
    const classIndex = new Map(this.classes.map((c, i) => [c.id, i]));
    for (const lesson of school.timetable.lessons) {
      if (!this.roomIndex.has(lesson.roomId)) this.roomIndex.set(lesson.roomId, this.roomIndex.size);
    }
    for (const lesson of school.timetable.lessons) {
      const slot = `${lesson.day}/${lesson.period}`;
      let rooms = this.bySlot.get(slot);
      if (!rooms) this.bySlot.set(slot, (rooms = new Int32Array(this.roomIndex.size).fill(NO_CLASS)));
      rooms[this.roomIndex.get(lesson.roomId)!] = classIndex.get(lesson.classId) ?? NO_CLASS;
    }
  }

  /** The rooms in use at local school time `local` (none between periods, at night, on Sunday). */
  at(local: LocalTime): RoomsAt {
    const period = periodAt(this.periods, local.minutes);
    const rooms = period && this.bySlot.get(`${local.day}/${period.n}`);
    if (!period || !rooms) return NOTHING_ON;
    const use = (roomId: string): RoomUse | undefined => {
      const index = this.roomIndex.get(roomId);
      const c = index === undefined ? NO_CLASS : rooms[index]!;
      if (c === NO_CLASS) return undefined;
      const schoolClass = this.classes[c]!;
      return { classId: schoolClass.id, day: local.day, period: period.n, enrolment: schoolClass.enrolment };
    };
    return { get: use, size: rooms.reduce((n, c) => n + (c === NO_CLASS ? 0 : 1), 0) };
  }
}
