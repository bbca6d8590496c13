/**
 * Interactive board (Promethean ActivPanel 9, reports over MQTT). The teacher turns it on
 * for a lesson and nearly always opens a teaching session; touches accumulate through
 * the session and start again from zero with the next. It warms up while on, and its
 * storage slowly fills with lesson files.
 */
import type { MetricValues } from '@schoolops/device-profiles';
import { PROFILE_IDS } from '../district/generate.ts';
import { between, chance, pick, pickWeighted } from '../district/random.ts';
import { localTime } from '@schoolops/device-profiles';
import { MINUTE, ambientTemperature, clamp, elapsedMs, happened, round, type ValueModel } from './model.ts';

export interface BoardSession {
  /** Which lesson the session belongs to (date, period, class). */
  lessonKey: string;
  active: boolean;
  touches: number;
  /** Touches a minute this teacher makes, on average. */
  touchRate: number;
  app: string;
}

export interface BoardState {
  osVersion: string;
  freeStorageMb: number;
  /** Extra degrees when on: most units ~9 °C over the room, a badly ventilated few much more. */
  heating: number;
  onSince?: number;
  lastAt?: number;
  session: BoardSession | null;
}

const APPS = ['ActivInspire', 'Promethean Whiteboard', 'Chrome', 'PowerPoint', 'YouTube', 'Google Classroom'] as const;

export const boardModel: ValueModel<BoardState> = {
  profileId: PROFILE_IDS.board,

  init(rng) {
    return {
      osVersion: pickWeighted(rng, [
        ['Android 11 / Promethean 1.4.2', 0.6],
        ['Android 11 / Promethean 1.3.8', 0.3],
        ['Android 11 / Promethean 1.2.5', 0.1],
      ]),
      // 64 GB units with something between a little and a lot already used; a few nearly full.
      freeStorageMb: chance(rng, 0.05) ? between(rng, 700, 1500) : between(rng, 6000, 48000),
      heating: chance(rng, 0.03) ? between(rng, 26, 32) : between(rng, 7, 11),
      session: null,
    };
  },

  sample(state, { now, activity, rng }) {
    const t = now.getTime();
    const dtMin = elapsedMs(state.lastAt, now) / 60_000;
    const next: BoardState = { ...state, lastAt: t };
    if (!activity) {
      next.session = null;
      delete next.onSince;
    } else {
      next.onSince = state.onSince ?? t;
      const lessonKey = `${localTime(now).date}|${activity.lesson.period}|${activity.lesson.classId}`;
      if (state.session?.lessonKey !== lessonKey) {
        // A new lesson: a few teachers only use the board as a screen, without a session.
        next.session = {
          lessonKey,
          active: chance(rng, 0.9),
          touches: 0,
          touchRate: between(rng, 3, 20),
          app: pick(rng, APPS),
        };
      } else {
        const session = { ...state.session };
        if (session.active) {
          session.touches += Math.round(session.touchRate * dtMin * between(rng, 0.3, 1.7));
          session.touches = Math.min(session.touches, 10_000_000);
          next.freeStorageMb = Math.max(200, state.freeStorageMb - between(rng, 0, 1) * dtMin);
          // Now and then the teacher switches app (a video, a browser).
          if (happened(rng, dtMin * MINUTE, 15 * MINUTE)) session.app = pick(rng, APPS);
        }
        next.session = session;
      }
    }
    const power = activity !== null;
    const onMinutes = next.onSince === undefined ? 0 : (t - next.onSince) / 60_000;
    const temperature = ambientTemperature(now) + (power ? next.heating * (1 - Math.exp(-onMinutes / 15)) : 0);
    const active = power && next.session?.active === true;
    const values: MetricValues = {
      power,
      sessionActive: active,
      touchCount: active ? next.session!.touches : 0,
      appInUse: !power ? 'none' : active ? next.session!.app : 'HDMI 1',
      temperature: round(clamp(temperature, -10, 100), 1),
      osVersion: next.osVersion,
      freeStorageMb: round(next.freeStorageMb),
    };
    return { state: next, values };
  },
};
