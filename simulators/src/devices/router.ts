/**
 * School router (MikroTik hEX S, read over SNMP): WAN traffic follows the school day.
 * Overnight only a trickle (updates, cameras' cloud sync); with staff in, some browsing;
 * in lessons traffic grows with the share of classes being taught (videos, online
 * exercises, the computer labs). Each school has its own line speed and its own appetite,
 * so some links run near saturation at peak, as the district's broadband target expects.
 */
import type { MetricValues } from '@schoolops/device-profiles';
import { PROFILE_IDS } from '../district/generate.ts';
import { between, chance, gaussian, pickWeighted } from '../district/random.ts';
import { HOUR, MINUTE, clamp, happened, elapsedMs, round, schoolOpen, type ValueModel } from './model.ts';

export interface RouterState {
  /** Contracted fibre speed, which the WAN port is set to. */
  linkSpeedMbps: number;
  /** Inbound utilisation when every class is in a lesson (0..1). */
  peakShare: number;
  /** Outbound traffic as a share of inbound. */
  upRatio: number;
  /** Uptime at the first sample, s. */
  uptimeAtStartS: number;
  firstAt?: number;
  lastAt?: number;
  /** A big download (OS updates, a video library) running until this time. */
  burstUntil?: number;
}

export const routerModel: ValueModel<RouterState> = {
  profileId: PROFILE_IDS.router,

  init(rng) {
    return {
      linkSpeedMbps: pickWeighted(rng, [
        [100, 0.25],
        [150, 0.2],
        [200, 0.25],
        [300, 0.2],
        [500, 0.1],
      ]),
      peakShare: chance(rng, 0.15) ? between(rng, 0.8, 0.95) : between(rng, 0.3, 0.7),
      upRatio: between(rng, 0.15, 0.35),
      uptimeAtStartS: Math.round(between(rng, 1, 60) * 86_400),
    };
  },

  sample(state, { now, schoolLoad, rng }) {
    const t = now.getTime();
    const dt = elapsedMs(state.lastAt, now);
    const next: RouterState = { ...state, firstAt: state.firstAt ?? t, lastAt: t };
    if (next.burstUntil !== undefined && next.burstUntil <= t) delete next.burstUntil;
    if (next.burstUntil === undefined && happened(rng, dt, 8 * HOUR)) next.burstUntil = t + between(rng, 5, 25) * MINUTE;

    const baseline = schoolOpen(now) ? 0.06 : 0.015;
    let share = baseline + clamp(schoolLoad, 0, 1) * state.peakShare;
    if (next.burstUntil !== undefined) share += 0.25;
    share *= 1 + gaussian(rng, 0.1);
    const linkBps = state.linkSpeedMbps * 1_000_000;
    const inBps = Math.round(clamp(share, 0.002, 0.995) * linkBps);
    const outShare = clamp((inBps / linkBps) * state.upRatio * (1 + gaussian(rng, 0.15)), 0.001, 0.995);
    const outBps = Math.round(outShare * linkBps);
    const values: MetricValues = {
      inBps,
      outBps,
      utilisationIn: round((inBps / linkBps) * 100, 2),
      utilisationOut: round((outBps / linkBps) * 100, 2),
      linkSpeedMbps: state.linkSpeedMbps,
      linkUp: true,
      uptimeS: state.uptimeAtStartS + Math.round((t - next.firstAt!) / 1000),
    };
    return { state: next, values };
  },
};
