import { describe, expect, it } from 'vitest';
import { toLessonAttendance } from '../web/api.ts';
import { LOW_ATTENDANCE_PCT, attendanceGrid, lessonCells } from '../web/attendance-view.ts';

const lesson = { period: 3, start: '08:50', end: '09:35', classId: 'thcs-le-loi.6a1', className: '6A1', roomId: 'r101', enrolled: 40, counts: 2, headcount: 38, attendancePct: 92.5, when: 'past' as const };

describe('attendance', () => {
  it('reads a lesson the API sends, and refuses shapes it does not understand', () => {
    expect(toLessonAttendance(lesson)).toEqual(lesson);
    expect(toLessonAttendance({ ...lesson, headcount: null, attendancePct: null, counts: 0 })).not.toBeNull();
    expect(toLessonAttendance({ ...lesson, enrolled: '40' })).toBeNull();
    expect(toLessonAttendance({ ...lesson, className: undefined })).toBeNull();
    expect(toLessonAttendance(null)).toBeNull();
    // `when` is part of the contract: a lesson without it, or with another word, is not drawn.
    const { when: _, ...without } = lesson;
    expect(toLessonAttendance(without)).toBeNull();
    expect(toLessonAttendance({ ...lesson, when: 'soon' })).toBeNull();
    expect(toLessonAttendance({ ...lesson, when: 'later' })?.when).toBe('later');
  });

  it('shows students present against enrolment, in each language, and marks a low rate', () => {
    expect(lessonCells(lesson, 'vi')).toEqual({ present: '37 / 40', rate: '92,5 %', low: false });
    expect(lessonCells(lesson, 'en')).toEqual({ present: '37 / 40', rate: '92.5 %', low: false });
    expect(lessonCells({ ...lesson, attendancePct: LOW_ATTENDANCE_PCT - 5 }, 'en').low).toBe(true);
    const uncounted = { ...lesson, counts: 0, headcount: null, attendancePct: null };
    expect(lessonCells(uncounted, 'vi')).toEqual({ present: 'chưa đếm', rate: '—', low: false });
    // A lesson to come, or one running but not counted yet, is waiting, not missed.
    expect(lessonCells({ ...uncounted, when: 'later' }, 'vi').present).toBe('chưa đến giờ');
    expect(lessonCells({ ...uncounted, when: 'now' }, 'en').present).toBe('not yet');
  });

  it('lays lessons out as classes down and periods across', () => {
    const day = {
      schoolId: 'thcs-le-loi',
      date: '2025-03-10',
      clockOffsetMs: 0,
      rooms: [],
      lessons: [
        { ...lesson, period: 2, start: '07:50', end: '08:35', classId: 'c10', className: '10A1' },
        lesson,
        { ...lesson, classId: 'c9', className: '9A1', period: 1, start: '07:00', end: '07:45' },
      ],
    };
    const grid = attendanceGrid(day, 'vi');
    expect(grid.periods.map((p) => p.n)).toEqual([1, 2, 3]);
    // 6A1 before 9A1 before 10A1 (numeric order), each lesson in its period's column.
    expect(grid.rows.map((r) => [r.className, r.cells.map((c) => c?.period ?? null)])).toEqual([
      ['6A1', [null, null, 3]],
      ['9A1', [1, null, null]],
      ['10A1', [null, 2, null]],
    ]);
  });
});
