// Today's attendance in one school, for its principal: per lesson, the class, its room,
// how many are enrolled and how many the room's camera counted (counted on the school's own
// gateway; only numbers reach the district). Rebuilt when the numbers change.

import type { AttendanceDay, LessonAttendance } from './api.ts';
import { el, setText } from './dom.ts';
import { collator, formatDecimal, formatInteger } from './format.ts';
import { STRINGS, type Lang } from './i18n.ts';

/** Below this share of the class present, the row is marked for a second look. */
export const LOW_ATTENDANCE_PCT = 80;

/** What one row shows, without the DOM (tested on its own). */
export function lessonCells(lesson: LessonAttendance, lang: Lang): { present: string; rate: string; low: boolean } {
  const t = STRINGS[lang];
  if (lesson.counts === 0 || lesson.attendancePct === null) {
    // A lesson to come, or one that started before its first count, is not a missed count.
    const waiting = lesson.when === 'later' || (lesson.when === 'now' && lesson.counts === 0);
    return { present: waiting ? t.attendanceLater : t.attendanceNotCounted, rate: '—', low: false };
  }
  const students = Math.round((lesson.attendancePct / 100) * lesson.enrolled);
  return {
    present: `${formatInteger(students, lang)} / ${formatInteger(lesson.enrolled, lang)}`,
    rate: `${formatDecimal(lesson.attendancePct, lang, 1)} %`,
    low: lesson.attendancePct < LOW_ATTENDANCE_PCT,
  };
}

/** Classes down, periods across: one cell per lesson. */
export function attendanceGrid(day: AttendanceDay, lang: Lang): { periods: { n: number; label: string }[]; rows: { className: string; classId: string; cells: (LessonAttendance | null)[] }[] } {
  const periods = [...new Map(day.lessons.map((l) => [l.period, `${l.start}–${l.end}`])).entries()]
    .sort(([a], [b]) => a - b)
    .map(([n, time]) => ({ n, label: time }));
  const byClass = new Map<string, { className: string; classId: string; cells: (LessonAttendance | null)[] }>();
  for (const lesson of day.lessons) {
    let row = byClass.get(lesson.classId);
    if (!row) byClass.set(lesson.classId, (row = { className: lesson.className, classId: lesson.classId, cells: periods.map(() => null) }));
    row.cells[periods.findIndex((p) => p.n === lesson.period)] = lesson;
  }
  const names = collator(lang);
  return { periods, rows: [...byClass.values()].sort((a, b) => names.compare(a.className, b.className)) };
}

export class AttendanceSection {
  readonly element: HTMLElement;
  readonly #heading: HTMLElement;
  readonly #note: HTMLElement;
  readonly #table: HTMLTableElement;
  readonly #head: HTMLTableRowElement;
  readonly #body: HTMLTableSectionElement;
  readonly #none: HTMLElement;
  readonly #simulated: HTMLElement;
  #key = '';

  constructor(headingId: string) {
    this.#heading = el('h3', { id: headingId });
    this.#note = el('p', { class: 'sv-note' });
    this.#head = el('tr');
    this.#body = el('tbody');
    this.#table = el('table', { class: 'attendance', 'data-testid': 'attendance-table' }, el('thead', {}, this.#head), this.#body);
    this.#none = el('p', { class: 'none', 'data-testid': 'attendance-none' });
    this.#simulated = el('p', { class: 'sv-note simulated', 'data-testid': 'attendance-simulated' });
    this.element = el(
      'section',
      { class: 'sv-attendance panel', 'aria-labelledby': headingId, 'data-testid': 'attendance' },
      this.#heading,
      this.#note,
      this.#simulated,
      this.#table,
      this.#none,
    );
  }

  render(day: AttendanceDay | null, lang: Lang): void {
    const t = STRINGS[lang];
    setText(this.#heading, t.attendanceHeading);
    setText(this.#note, t.attendanceNote);
    this.element.hidden = day === null;
    if (day === null) return;
    const key = JSON.stringify([lang, day]);
    if (key === this.#key) return;
    this.#key = key;
    this.#simulated.hidden = day.clockOffsetMs === 0;
    setText(this.#simulated, day.clockOffsetMs === 0 ? '' : t.attendanceSimulated(day.date));
    const grid = attendanceGrid(day, lang);
    this.#head.replaceChildren(
      el('th', { scope: 'col' }, t.attendanceClass),
      ...grid.periods.map((p) => el('th', { scope: 'col', title: p.label }, t.attendancePeriod(formatInteger(p.n, lang)))),
    );
    this.#none.hidden = day.lessons.length > 0;
    setText(this.#none, t.attendanceNoLessons);
    this.#table.hidden = day.lessons.length === 0;
    this.#body.replaceChildren(
      ...grid.rows.map((row) =>
        el(
          'tr',
          { 'data-testid': `attendance-${row.classId}` },
          el('th', { scope: 'row' }, row.className),
          ...row.cells.map((lesson) => {
            if (!lesson) return el('td', { class: 'num no-lesson' }, '');
            const cells = lessonCells(lesson, lang);
            const cell = el('td', { class: 'num', title: `${lesson.roomId} · ${cells.present}`, 'data-testid': `attendance-${row.classId}-${lesson.period}` }, cells.rate === '—' ? cells.present : cells.rate);
            if (cells.low) cell.classList.add('low');
            if (lesson.when !== 'past') cell.classList.add(lesson.when);
            return cell;
          }),
        ),
      ),
    );
  }
}
