// The principal's report: which dates it covers (this week, last week, this month, last
// month, or two picked dates), as the school counts them (Monday first, the district's zone).
// No DOM here: unit-tested in Node.

import { localDate } from './trend.ts';

export type ReportPreset = 'this-week' | 'last-week' | 'this-month' | 'last-month' | 'custom';
export const REPORT_PRESETS: readonly ReportPreset[] = ['this-week', 'last-week', 'this-month', 'last-month', 'custom'];

const DAY_MS = 86_400_000;

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

/** ISO weekday of a date, 1 = Monday. */
function weekday(date: string): number {
  return ((new Date(`${date}T00:00:00Z`).getUTCDay() + 6) % 7) + 1;
}

/** The first and last date (YYYY-MM-DD, both included) a preset stands for on the day `now` falls on in `timeZone`. */
export function presetDates(preset: Exclude<ReportPreset, 'custom'>, now: number, timeZone: string): { from: string; to: string } {
  const today = localDate(now, timeZone);
  const monday = addDays(today, 1 - weekday(today));
  if (preset === 'this-week') return { from: monday, to: addDays(monday, 6) };
  if (preset === 'last-week') return { from: addDays(monday, -7), to: addDays(monday, -1) };
  const first = `${today.slice(0, 7)}-01`;
  if (preset === 'this-month') {
    const next = new Date(Date.UTC(Number(today.slice(0, 4)), Number(today.slice(5, 7)), 1)).toISOString().slice(0, 10);
    return { from: first, to: addDays(next, -1) };
  }
  const lastOfPrevious = addDays(first, -1);
  return { from: `${lastOfPrevious.slice(0, 7)}-01`, to: lastOfPrevious };
}
