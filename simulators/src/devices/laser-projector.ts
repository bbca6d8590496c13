/**
 * Laser projector (Panasonic PT-TMZ400, PJLink class 2). It is used like the lamp
 * projector (on for lessons, off after), so it reuses that model for power, input, mute
 * and errors, and adds what class 2 tells: filter hours, freeze, serial number and
 * software version. A laser light source lasts about 20,000 h, so it does not fail in a
 * school's lifetime the way a lamp does: its hours are reported, its error stays 'ok'.
 */
import type { MetricValues } from '@schoolops/device-profiles';
import { between, intBetween, pick } from '../district/random.ts';
import { elapsedMs, type ValueModel } from './model.ts';
import { projectorModel, type ProjectorState } from './projector.ts';

export const LASER_PROJECTOR_PROFILE = 'panasonic-pt-tmz400';

export interface LaserProjectorState {
  base: ProjectorState;
  lightHours: number;
  filterHours: number;
  serialNumber: string;
  softwareVersion: string;
}

export const laserProjectorModel: ValueModel<LaserProjectorState> = {
  profileId: LASER_PROJECTOR_PROFILE,

  init(rng, device, school) {
    // Bought in the last few years: hundreds to a few thousand hours, filters cleaned now and then.
    const lightHours = between(rng, 200, 6000);
    return {
      base: { ...projectorModel.init(rng, device, school), lampHours: 0 },
      lightHours,
      filterHours: between(rng, 0, Math.min(lightHours, 3000)),
      serialNumber: `DA${intBetween(rng, 1000000, 9999999)}`,
      softwareVersion: pick(rng, ['1.02', '1.10', '1.12']),
    };
  },

  sample(state, ctx) {
    const { state: base, values } = projectorModel.sample(state.base, ctx);
    const litHours = state.base.lit ? elapsedMs(state.base.lastAt, ctx.now) / 3_600_000 : 0;
    const next: LaserProjectorState = {
      ...state,
      // The lamp model's own counter and lamp failure do not apply to a laser source.
      base: { ...base, lampHours: 0 },
      lightHours: state.lightHours + litHours,
      filterHours: state.filterHours + litHours,
    };
    const out: MetricValues = {
      ...values,
      lampHours: Math.floor(next.lightHours),
      errorLamp: 'ok',
      filterHours: Math.floor(next.filterHours),
      freeze: false,
      serialNumber: next.serialNumber,
      softwareVersion: next.softwareVersion,
      filterModel: 'ET-RFM100',
    };
    return { state: next, values: out };
  },
};
