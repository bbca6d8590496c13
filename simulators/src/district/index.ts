export { generateDistrict, DEMO_DISTRICT, PROFILE_IDS, MIN_ROOMS, MAX_ROOMS, type DistrictOptions } from './generate.ts';
export {
  DISTRICT_TIMEZONE,
  classById,
  currentLesson,
  hhmmToMinutes,
  lessonsAt,
  localTime,
  periodAt,
  type LocalTime,
} from '@schoolops/device-profiles';
export { BELL_SCHEDULE } from './timetable.ts';
export { slug, withoutDiacritics } from './names.ts';
export { deriveRng, hashString, mulberry32, type Rng } from './random.ts';
