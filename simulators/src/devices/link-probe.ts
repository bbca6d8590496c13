/**
 * Internet link probe, run from the school gateway: latency, jitter and loss to the
 * district's reference targets, DNS resolution time, the services schools depend on and
 * the download rate left over. A Vietnamese fibre line sits at 10-30 ms to domestic
 * targets; queues build up when the school's traffic peaks, so latency and jitter rise
 * with the school's load, a little loss appears at the busiest times, and less of the
 * line is left for a download.
 */
import type { MetricValues } from '@schoolops/device-profiles';
import { PROFILE_IDS } from '../district/generate.ts';
import { between, chance, gaussian } from '../district/random.ts';
import { clamp, round, type ValueModel } from './model.ts';

export interface LinkProbeState {
  /** Latency of the idle line, ms. */
  baseLatencyMs: number;
  /** How much latency the line adds when the school is at full load, ms. */
  congestionMs: number;
  /** Download rate of the idle line (a school fibre plan), Mbit/s. */
  capacityMbps: number;
}

export const linkProbeModel: ValueModel<LinkProbeState> = {
  profileId: PROFILE_IDS.linkProbe,

  init(rng) {
    return { baseLatencyMs: between(rng, 11, 28), congestionMs: between(rng, 5, 25), capacityMbps: between(rng, 80, 300) };
  },

  sample(state, { schoolLoad, rng }) {
    const load = clamp(schoolLoad, 0, 1);
    const jitterMs = round(Math.abs(0.8 + load * 4 + gaussian(rng, 0.6)), 2);
    const latencyMs = round(clamp(state.baseLatencyMs + load * state.congestionMs + Math.abs(gaussian(rng, jitterMs)), 10, 60), 1);
    const lossy = chance(rng, 0.02 + load * 0.08);
    const lossPct = lossy ? round(between(rng, 0.1, 1.5 + load * 2), 1) : 0;
    // Mostly answered from the resolver's cache; now and then a cold lookup goes upstream.
    const dnsMs = round(chance(rng, 0.08) ? between(rng, 40, 120) : between(rng, 3, 20), 1);
    const dnsFailed = chance(rng, 0.005) ? 1 : 0;
    // The services answer after a handshake and a request (two round trips) plus their own time.
    const httpMs = round(2 * latencyMs + between(rng, 40, 160) + load * 60, 1);
    const httpFailed = chance(rng, 0.01) ? 1 : 0;
    // What is left of the line for a download test once the school's own traffic has its share.
    const throughputMbps = round(state.capacityMbps * (1 - 0.6 * load) * between(rng, 0.85, 1), 1);
    const values: MetricValues = { wanUp: true, latencyMs, jitterMs, lossPct, dnsMs, dnsFailed, httpOk: httpFailed === 0, httpFailed, httpMs, throughputMbps };
    return { state, values };
  },
};
