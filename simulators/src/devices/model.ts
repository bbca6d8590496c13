/**
 * What every device value model looks like. A model is two small functions: `init`
 * draws a device's fixed traits and starting state from its own seeded generator, and
 * `sample` turns (state, now, what is happening in the room) into the next state and one
 * set of metric values. No I/O, no timers, no clock reads: the publishing loop
 * (fleet.ts) owns those, and tests can step a model through a simulated day.
 */
import type { DeviceRecord, Lesson, MetricValues, School, SchoolClass } from '@schoolops/device-profiles';
import { localTime } from '@schoolops/device-profiles';
import type { Rng } from '../district/random.ts';

/** A lesson running in the device's room, with the class taking it. */
export interface RoomActivity {
  lesson: Lesson;
  schoolClass: SchoolClass;
}

export interface SampleContext {
  now: Date;
  /** The lesson in the device's room at `now`, or null when the room is free. */
  activity: RoomActivity | null;
  /** Share of the school's classes in a lesson at `now`, 0..1: what drives the school's network load. */
  schoolLoad: number;
  rng: Rng;
}

export interface ValueModel<S> {
  /** The profile whose metrics this model produces. */
  profileId: string;
  init(rng: Rng, device: DeviceRecord, school: School): S;
  sample(state: S, ctx: SampleContext): { state: S; values: MetricValues };
}

/** Round to a number of decimals (readings carry no false precision). */
export function round(value: number, decimals = 0): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** Local hour of day in the district, as a fraction (10.5 = 10:30). */
export function localHour(now: Date): number {
  return localTime(now).minutes / 60;
}

/**
 * Outdoor-like air temperature in a Ho Chi Minh City building without air conditioning:
 * about 26 °C before dawn, 33 °C mid-afternoon.
 */
export function ambientTemperature(now: Date): number {
  const hour = localHour(now);
  // Coolest near 05:00, warmest near 14:00-15:00.
  return 29.5 + 3.5 * Math.sin(((hour - 9.5) / 24) * 2 * Math.PI);
}

/** Whether staff are in the building (gates open 06:30-17:30, Monday-Saturday). */
export function schoolOpen(now: Date): boolean {
  const t = localTime(now);
  return t.day <= 6 && t.minutes >= 6.5 * 60 && t.minutes < 17.5 * 60;
}

/** Milliseconds since the previous sample, 0 for the first; never negative. */
export function elapsedMs(previous: number | undefined, now: Date): number {
  return previous === undefined ? 0 : Math.max(0, now.getTime() - previous);
}

/**
 * Whether an event with a mean time between occurrences of `meanMs` happened in the last
 * `elapsed` ms. Rate-based, so a device reporting every 200 ms in a test behaves like
 * one reporting every 30 s, only sampled more often.
 */
export function happened(rng: Rng, elapsed: number, meanMs: number): boolean {
  return elapsed > 0 && rng() < 1 - Math.exp(-elapsed / meanMs);
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
