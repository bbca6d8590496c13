/**
 * Classroom projector (Epson EB-X51, PJLink class 1). It is switched on for a lesson in
 * its room and off after it; PJLink reports 'warming' for the first seconds after power
 * on and 'cooling' for a minute after power off. The lamp accumulates hours only while
 * lit. Errors are rare and sticky, as on real units: a clogged filter, a fan warning,
 * and a failed lamp on units run far past their lamp life.
 */
import type { MetricValues } from '@schoolops/device-profiles';
import { PROFILE_IDS } from '../district/generate.ts';
import { between, chance, pickWeighted } from '../district/random.ts';
import { HOUR, MINUTE, elapsedMs, happened, type ValueModel } from './model.ts';

type ErrorLevel = 'ok' | 'warning' | 'error';
export type ProjectorPower = 'off' | 'on' | 'cooling' | 'warming';

export interface ProjectorState {
  /** Lamp hours with their fraction; the PJLink LAMP query reports whole hours. */
  lampHours: number;
  /** PJLink INPT code this projector is usually on: 31 = DIGITAL (HDMI) 1, 11 = RGB (VGA) 1. */
  input: string;
  errors: { fan: ErrorLevel; filter: ErrorLevel; temperature: ErrorLevel; cover: ErrorLevel; other: ErrorLevel };
  lit: boolean;
  /** When the lamp was last switched on or off (ms since epoch). */
  switchedAt?: number;
  lastAt?: number;
  avMute: boolean;
}

export const WARMING_MS = 40_000;
export const COOLING_MS = 60_000;
/** Past this many hours a lamp may fail outright (Epson rates the EB-X51 lamp 6,000-12,000 h in normal/eco mode). */
const LAMP_FAILS_AFTER = 5000;

export function lampError(lampHours: number): ErrorLevel {
  if (lampHours >= LAMP_FAILS_AFTER + 400) return 'error';
  if (lampHours >= LAMP_FAILS_AFTER) return 'warning';
  return 'ok';
}

export const projectorModel: ValueModel<ProjectorState> = {
  profileId: PROFILE_IDS.projector,

  init(rng) {
    // Most lamps are part way through their life; a few, never replaced, are past the 4,500 h warning.
    const lampHours = chance(rng, 0.04) ? between(rng, 4500, 5500) : between(rng, 80, 4200);
    const rare = (p: number): ErrorLevel => (chance(rng, p) ? 'warning' : 'ok');
    return {
      lampHours,
      input: pickWeighted(rng, [
        ['31', 0.7],
        ['11', 0.3],
      ]),
      errors: { fan: rare(0.01), filter: rare(0.04), temperature: rare(0.01), cover: 'ok', other: 'ok' },
      lit: false,
      avMute: false,
    };
  },

  sample(state, { now, activity, rng }) {
    const t = now.getTime();
    const lampDead = lampError(state.lampHours) === 'error';
    const wantLit = activity !== null && !lampDead;
    const next: ProjectorState = { ...state, errors: { ...state.errors } };
    if (state.lit) next.lampHours += elapsedMs(state.lastAt, now) / 3_600_000;
    if (wantLit !== state.lit) {
      next.lit = wantLit;
      next.switchedAt = t;
      next.avMute = false;
    }
    const sinceSwitch = next.switchedAt === undefined ? Infinity : t - next.switchedAt;
    let power: ProjectorPower;
    if (next.lit) power = sinceSwitch < WARMING_MS ? 'warming' : 'on';
    else power = sinceSwitch < COOLING_MS ? 'cooling' : 'off';
    const dt = elapsedMs(state.lastAt, now);
    // Teachers blank the screen now and then (group work, a test) and un-blank it a few minutes later.
    if (power !== 'on') next.avMute = false;
    else if (state.avMute) next.avMute = !happened(rng, dt, 3 * MINUTE);
    else next.avMute = happened(rng, dt, 40 * MINUTE);
    // A projector in a stuffy room sometimes warns of heat, and recovers once it has cooled.
    if (power === 'on' && state.errors.temperature === 'ok' && happened(rng, dt, 300 * HOUR)) next.errors.temperature = 'warning';
    else if (state.errors.temperature === 'warning' && happened(rng, dt, 20 * MINUTE)) next.errors.temperature = 'ok';
    next.lastAt = t;

    const values: MetricValues = {
      power,
      input: next.input,
      avMute: next.avMute,
      lampHours: Math.floor(next.lampHours),
      errorFan: next.errors.fan,
      errorLamp: lampError(next.lampHours),
      errorTemperature: next.errors.temperature,
      errorCover: next.errors.cover,
      errorFilter: next.errors.filter,
      errorOther: next.errors.other,
    };
    return { state: next, values };
  },
};
