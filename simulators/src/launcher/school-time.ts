/**
 * Which school time the simulated district lives at. Real time is right for a district, but a
 * demo started at night or on a Sunday would show no lessons and so no attendance; `auto`
 * then moves the whole simulated district (devices, gateways' counting schedule, the
 * attendance API) to a lesson of the latest school day, and says so.
 */
import { hhmmToMinutes, localTime, minutesToHhmm, periodAt, zonedInstant, type Inventory } from '@schoolops/device-profiles';

/**
 * 'real' follows the clock; 'auto' does unless no lesson is on; 'HH:MM' is that time on the
 * latest school day; 'YYYY-MM-DD HH:MM' is that local time (tests pin a weekday this way).
 */
export type SchoolTimeChoice = 'real' | 'auto' | string;

export interface SchoolTime {
  /** School time minus real time, ms (0 for real time). */
  offsetMs: number;
  /** One line for a person: what school time it is and why. */
  describe: string;
}

const AT = /^(?:(\d{4}-\d{2}-\d{2})[ T])?((?:[01]\d|2[0-3]):[0-5]\d)$/;

export function isSchoolTimeChoice(text: string): boolean {
  if (text === 'real' || text === 'auto') return true;
  const m = AT.exec(text);
  return m !== null && (m[1] === undefined || !Number.isNaN(Date.parse(`${m[1]}T00:00:00Z`)));
}

/** yyyy-mm-dd `days` before `date`, and its ISO weekday. */
function daysBefore(date: string, days: number): { date: string; day: number } {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const t = new Date(Date.UTC(y, m - 1, d - days));
  return { date: t.toISOString().slice(0, 10), day: ((t.getUTCDay() + 6) % 7) + 1 };
}

export function resolveSchoolTime(choice: SchoolTimeChoice, inventory: Inventory, now = new Date()): SchoolTime {
  const timeZone = inventory.district.timezone;
  const local = localTime(now, timeZone);
  const realLine = `School time: real (${local.date} ${minutesToHhmm(Math.floor(local.minutes))} ${timeZone}).`;
  if (choice === 'real') return { offsetMs: 0, describe: realLine };
  if (choice !== 'auto' && !isSchoolTimeChoice(choice)) throw new RangeError(`school time must be real, auto, HH:MM or YYYY-MM-DD HH:MM, not "${choice}"`);

  const schoolDays = new Set(inventory.schools.flatMap((s) => s.timetable.lessons.map((l) => l.day)));
  const periods = inventory.schools[0]?.timetable.periods ?? [];
  if (schoolDays.size === 0 || periods.length === 0) return { offsetMs: 0, describe: `${realLine} The timetable has no lessons.` };
  if (choice === 'auto' && schoolDays.has(local.day) && periodAt(periods, local.minutes)) return { offsetMs: 0, describe: `${realLine} Lessons are on.` };

  // The latest school day: today, or the last one before it.
  let target = { date: local.date, day: local.day };
  for (let back = 1; !schoolDays.has(target.day) && back <= 7; back++) target = daysBefore(local.date, back);
  let minutes: number;
  const pinned = choice === 'auto' ? null : AT.exec(choice)!;
  if (pinned?.[1]) target = { date: pinned[1], day: daysBefore(pinned[1], 0).day };
  if (pinned === null) {
    // Just past the first count of the second period (a quarter of the way in): every
    // camera counts a lesson within its first poll.
    const p = periods[Math.min(1, periods.length - 1)]!;
    const start = hhmmToMinutes(p.start);
    minutes = start + Math.ceil((hhmmToMinutes(p.end) - start) * 0.3);
  } else {
    minutes = hhmmToMinutes(pinned[2]!);
  }
  const offsetMs = Math.round(zonedInstant(target.date, minutes, timeZone) - now.getTime());
  const why = choice === 'auto' ? 'no lesson is on now, so the demo runs in one (--school-time real keeps the real clock)' : 'as asked with --school-time';
  return { offsetMs, describe: `School time: simulated, ${target.date} ${minutesToHhmm(minutes)} ${timeZone}, running from there: ${why}.` };
}
