/** When the camera driver counts a room: twice a period during a lesson, every 15 minutes otherwise. */
import { describe, expect, it } from 'vitest';
import { slotAt, type SchoolTimetable } from '../src/drivers/camera.ts';

const timetable: SchoolTimetable = {
  timezone: 'Asia/Ho_Chi_Minh',
  periods: [
    { n: 1, start: '07:00', end: '07:45' },
    { n: 2, start: '07:50', end: '08:35' },
  ],
  // Monday (day 1), period 1, class 6A1 in room r101.
  lessons: [{ day: 1, period: 1, classId: '6a1', roomId: 'r101', subject: { vi: 'Toán', en: 'Maths' } }],
  classes: [{ id: '6a1', name: '6A1', grade: 6, enrolment: 40, homeRoomId: 'r101' }],
};
// 2025-03-10 is a Monday; Ho Chi Minh City is UTC+7.
const at = (hhmm: string) => new Date(`2025-03-10T${hhmm}:00+07:00`);

describe('slotAt', () => {
  it('counts a lesson twice: a quarter and three quarters of the way through the period', () => {
    expect(slotAt(timetable, 'r101', at('07:05')).key).toBe(''); // too early: late arrivals still coming
    const first = slotAt(timetable, 'r101', at('07:12'));
    expect(first).toMatchObject({ key: '2025-03-10/p1/0', lesson: { classId: '6a1' }, period: { n: 1 } });
    expect(slotAt(timetable, 'r101', at('07:20')).key).toBe(first.key); // the same count: not again
    expect(slotAt(timetable, 'r101', at('07:30')).key).toBe(''); // second half, before its count
    expect(slotAt(timetable, 'r101', at('07:36')).key).toBe('2025-03-10/p1/1');
  });

  it('counts a free room every 15 minutes, for room usage', () => {
    expect(slotAt(timetable, 'r102', at('07:12'))).toMatchObject({ key: '2025-03-10/free/28', lesson: null });
    expect(slotAt(timetable, 'r101', at('07:47')).key).toBe('2025-03-10/free/31'); // between periods
    expect(slotAt(timetable, 'r101', at('08:00')).key).toBe('2025-03-10/free/32'); // no lesson in period 2
    // Without a timetable every camera is a free room.
    expect(slotAt(null, 'r101', at('07:12')).lesson).toBeNull();
  });
});
