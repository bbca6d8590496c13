/**
 * Classroom camera (Hikvision DS-2CD2143G2-I) with people counting. During a lesson it
 * counts the class (its enrolment minus the day's absentees) plus the teacher, give or
 * take one for counting error; between lessons a cleaner or a teacher or two at most.
 * Absentees depend on the class and the date only, so the same class counts the same in
 * its home room and in a lab that day. During a lesson it also tells the class, the period,
 * the enrolment and the attendance rate, as the gateway's camera driver does.
 */
import type { MetricValues } from '@schoolops/device-profiles';
import { PROFILE_IDS } from '../district/generate.ts';
import { between, deriveRng, gaussian, pickWeighted, type Rng } from '../district/random.ts';
import { localTime } from '@schoolops/device-profiles';
import { clamp, round, schoolOpen, type ValueModel } from './model.ts';

export interface CameraState {
  schoolId: string;
  /** This unit's usual time to take a snapshot and count, ms. */
  snapshotBaseMs: number;
}

/** Students of a class absent on a date: usually none to three, up to six in a flu week. */
export function absentees(schoolId: string, classId: string, date: string): number {
  const rng = deriveRng(0, 'absent', schoolId, classId, date);
  return pickWeighted(rng, [
    [0, 0.3],
    [1, 0.3],
    [2, 0.2],
    [3, 0.13],
    [4, 0.05],
    [6, 0.02],
  ]);
}

function countingError(rng: Rng): number {
  return pickWeighted(rng, [
    [-1, 0.12],
    [0, 0.76],
    [1, 0.12],
  ]);
}

export const cameraModel: ValueModel<CameraState> = {
  profileId: PROFILE_IDS.camera,

  init(rng, _device, school) {
    return { schoolId: school.id, snapshotBaseMs: between(rng, 180, 350) };
  },

  sample(state, { now, activity, rng }) {
    let headcount: number;
    if (activity) {
      const { schoolClass } = activity;
      const present = schoolClass.enrolment - absentees(state.schoolId, schoolClass.id, localTime(now).date);
      headcount = Math.max(0, present) + 1 + countingError(rng); // + 1: the teacher
    } else if (schoolOpen(now)) {
      headcount = pickWeighted(rng, [
        [0, 0.75],
        [1, 0.18],
        [2, 0.07],
      ]);
    } else {
      headcount = pickWeighted(rng, [
        [0, 0.98],
        [1, 0.02],
      ]);
    }
    headcount = clamp(headcount, 0, 120);
    const values: MetricValues = {
      reachable: true,
      headcount,
      occupied: headcount > 0,
      snapshotMs: round(clamp(state.snapshotBaseMs + Math.abs(gaussian(rng, 60)) + headcount * 2, 0, 60_000), 1),
    };
    if (activity) {
      // What the gateway reports with a count during a lesson (edge-agent/src/drivers/camera.ts).
      const enrolled = activity.schoolClass.enrolment;
      const students = Math.min(enrolled, Math.max(0, headcount - 1));
      values.classId = activity.schoolClass.id;
      values.period = activity.lesson.period;
      values.enrolled = enrolled;
      values.attendancePct = enrolled ? Math.round((1000 * students) / enrolled) / 10 : 0;
    }
    return { state, values };
  },
};
