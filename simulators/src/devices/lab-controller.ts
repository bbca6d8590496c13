/**
 * Lab controller (OPC UA) in a science lab: room climate, the fume hood, the chemical
 * fridge and the 3D printer. The air conditioning runs during lessons and pulls the room
 * to about 25 °C and drier air; otherwise the room drifts with the day's heat. The fume
 * hood exhausts continuously (it also ventilates the chemical store), so its face
 * velocity stays near 0.5 m/s unless the unit is weak. The fridge cycles between about
 * 3.5 and 5.5 °C, a little warmer for a while after the door is opened in a lesson.
 * The printer is switched on with the building and prints jobs started in lessons.
 */
import type { MetricValues } from '@schoolops/device-profiles';
import { PROFILE_IDS } from '../district/generate.ts';
import { between, chance, gaussian } from '../district/random.ts';
import { MINUTE, ambientTemperature, clamp, elapsedMs, happened, round, schoolOpen, type ValueModel } from './model.ts';

export type PrinterState = 'idle' | 'printing' | 'error' | 'offline';

export interface LabControllerState {
  roomTemperature?: number;
  humidity?: number;
  /** Face velocity of this hood when running, m/s. */
  hoodAirflow: number;
  /** Compressor cycle length (ms) and where in the cycle this fridge started. */
  fridgeCycleMs: number;
  fridgePhase: number;
  /** Degrees added by recent door openings; decays. */
  fridgeDoorBump: number;
  /** A jammed printer stays in error until someone clears it. */
  printerJammed: boolean;
  printUntil?: number;
  lastAt?: number;
}

/** Where the room's climate heads: cooled and dried during lessons, following the weather otherwise. */
function climateTarget(now: Date, inLesson: boolean): { temperature: number; humidity: number } {
  if (inLesson) return { temperature: 25.5, humidity: 58 };
  const outside = ambientTemperature(now);
  return { temperature: outside - 0.8, humidity: 76 - (outside - 29.5) * 3 };
}

export const labControllerModel: ValueModel<LabControllerState> = {
  profileId: PROFILE_IDS.lab,

  init(rng) {
    return {
      hoodAirflow: chance(rng, 0.05) ? between(rng, 0.3, 0.38) : between(rng, 0.48, 0.6),
      fridgeCycleMs: between(rng, 35, 50) * MINUTE,
      fridgePhase: between(rng, 0, 2 * Math.PI),
      fridgeDoorBump: 0,
      printerJammed: chance(rng, 0.02),
    };
  },

  sample(state, { now, activity, rng }) {
    const t = now.getTime();
    const dt = elapsedMs(state.lastAt, now);
    const target = climateTarget(now, activity !== null);
    // First-order approach to the target, time constant 20 minutes.
    const k = 1 - Math.exp(-dt / (20 * MINUTE));
    const roomTemperature = state.roomTemperature === undefined ? target.temperature : state.roomTemperature + (target.temperature - state.roomTemperature) * k;
    const humidity = state.humidity === undefined ? target.humidity : state.humidity + (target.humidity - state.humidity) * k;

    let fridgeDoorBump = state.fridgeDoorBump * Math.exp(-dt / (10 * MINUTE));
    if (activity && happened(rng, dt, 30 * MINUTE)) fridgeDoorBump = Math.min(0.6, fridgeDoorBump + between(rng, 0.3, 0.6));
    const fridge = 4.4 + 0.8 * Math.sin((2 * Math.PI * t) / state.fridgeCycleMs + state.fridgePhase) + fridgeDoorBump + gaussian(rng, 0.05);

    let printUntil = state.printUntil !== undefined && state.printUntil > t ? state.printUntil : undefined;
    if (printUntil === undefined && activity && happened(rng, dt, 90 * MINUTE)) printUntil = t + between(rng, 20, 180) * MINUTE;
    let printerState: PrinterState;
    if (state.printerJammed) printerState = 'error';
    else if (printUntil !== undefined) printerState = 'printing';
    else printerState = schoolOpen(now) ? 'idle' : 'offline';

    const next: LabControllerState = { ...state, roomTemperature, humidity, fridgeDoorBump, lastAt: t };
    if (printUntil === undefined) delete next.printUntil;
    else next.printUntil = printUntil;
    const values: MetricValues = {
      roomTemperature: round(clamp(roomTemperature + gaussian(rng, 0.1), -20, 70), 1),
      humidity: round(clamp(humidity + gaussian(rng, 0.5), 0, 100), 1),
      fumeHoodAirflow: round(clamp(state.hoodAirflow + gaussian(rng, 0.015), 0, 5), 2),
      fridgeTemperature: round(clamp(fridge, -40, 40), 1),
      printerState,
    };
    return { state: next, values };
  },
};
