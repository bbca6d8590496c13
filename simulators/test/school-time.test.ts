/**
 * The simulated district's school time: real while lessons are on, else a lesson of the
 * latest school day (so a demo at night or on a Sunday still shows attendance).
 */
import { describe, expect, it } from 'vitest';
import { localTime, periodAt } from '@schoolops/device-profiles';
import { generateDistrict } from '../src/district/index.ts';
import { isSchoolTimeChoice, resolveSchoolTime } from '../src/launcher/school-time.ts';

const inventory = generateDistrict({ seed: 1, schools: 5 });
const zone = inventory.district.timezone;
const periods = inventory.schools[0]!.timetable.periods;
const schoolNow = (now: Date, offsetMs: number) => localTime(new Date(now.getTime() + offsetMs), zone);

describe('school time of the simulated district', () => {
  it('keeps the real clock while a lesson is on', () => {
    const now = new Date('2025-03-10T09:00:00+07:00'); // Monday, period 3
    const t = resolveSchoolTime('auto', inventory, now);
    expect(t.offsetMs).toBe(0);
    expect(t.describe).toMatch(/real/);
  });

  it('at night moves to the second period of the same school day, just past its first count', () => {
    const now = new Date('2025-03-10T21:49:00+07:00');
    const t = resolveSchoolTime('auto', inventory, now);
    const local = schoolNow(now, t.offsetMs);
    expect(local.date).toBe('2025-03-10');
    expect(periodAt(periods, local.minutes)?.n).toBe(periods[1]!.n);
    expect(t.describe).toMatch(/simulated, 2025-03-10 \d\d:\d\d/);
  });

  it('on a Sunday moves to Saturday, when the district has lessons then', () => {
    const now = new Date('2025-03-16T10:00:00+07:00');
    const schoolDays = new Set(inventory.schools.flatMap((s) => s.timetable.lessons.map((l) => l.day)));
    expect(schoolDays.has(7)).toBe(false);
    const local = schoolNow(now, resolveSchoolTime('auto', inventory, now).offsetMs);
    expect(local.day).toBe(Math.max(...schoolDays));
    expect(schoolDays.has(local.day)).toBe(true);
  });

  it('takes a time, or a date and time, as asked; real is always the clock', () => {
    const now = new Date('2025-03-12T23:10:00+07:00'); // a Wednesday night
    const at = schoolNow(now, resolveSchoolTime('10:15', inventory, now).offsetMs);
    expect([at.date, Math.round(at.minutes)]).toEqual(['2025-03-12', 615]);
    const pinned = schoolNow(now, resolveSchoolTime('2025-03-10 07:20', inventory, now).offsetMs);
    expect([pinned.date, pinned.day, Math.round(pinned.minutes)]).toEqual(['2025-03-10', 1, 440]);
    expect(resolveSchoolTime('real', inventory, now).offsetMs).toBe(0);
  });

  it('refuses what is not a school time', () => {
    for (const bad of ['', 'now', '25:00', '7:5', '2025-13-45 08:00', '08:00 tomorrow']) {
      expect(isSchoolTimeChoice(bad), bad).toBe(false);
      expect(() => resolveSchoolTime(bad, inventory)).toThrow(RangeError);
    }
    for (const good of ['auto', 'real', '07:00', '2025-03-10 09:00', '2025-03-10T09:00']) expect(isSchoolTimeChoice(good), good).toBe(true);
  });
});
