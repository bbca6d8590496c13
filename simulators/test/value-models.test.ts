import { describe, expect, it } from 'vitest';
import { checkValues, loadProfiles, type DeviceProfile, type MetricValues, type School } from '@schoolops/device-profiles';
import { classById, deriveRng, generateDistrict, lessonsAt } from '../src/district/index.ts';
import { absentees, genericModel, modelFor, projectorModel, VALUE_MODELS, type RoomActivity } from '../src/devices/index.ts';
import { COOLING_MS, WARMING_MS } from '../src/devices/projector.ts';

const profiles = loadProfiles();
const district = generateDistrict({ seed: 11, schools: 6 });
const MINUTE = 60_000;
/** Monday 10 March 2025, 00:00 in Ho Chi Minh City. */
const MONDAY = Date.parse('2025-03-10T00:00:00+07:00');

interface Sample {
  t: number;
  values: MetricValues;
  activity: RoomActivity | null;
  load: number;
}

/** Step every device of a school through [from, to) as the fleet would, recording each sample. */
function simulate(school: School, from: number, to: number, stepMs: number, seed = 1): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  const devices = school.devices.map((device) => {
    const profile = profiles.get(device.profileId)!;
    const model = modelFor(profile);
    const rng = deriveRng(seed, 'device', device.id);
    out.set(device.id, []);
    return { device, model, rng, state: model.init(rng, device, school) as unknown };
  });
  for (let t = from; t < to; t += stepMs) {
    const now = new Date(t);
    const running = lessonsAt(school, now);
    const byRoom = new Map(running.map((l) => [l.roomId, l]));
    const load = running.length / school.classes.length;
    for (const d of devices) {
      const lesson = byRoom.get(d.device.roomId);
      const activity = lesson ? { lesson, schoolClass: classById(school, lesson.classId)! } : null;
      const { state, values } = d.model.sample(d.state, { now, activity, schoolLoad: load, rng: d.rng });
      d.state = state;
      out.get(d.device.id)!.push({ t, values, activity, load });
    }
  }
  return out;
}

const ofProfile = (school: School, profileId: string) => school.devices.filter((d) => d.profileId === profileId).map((d) => d.id);

// One school of each level through a whole Monday, a sample every 2 minutes.
const days = district.schools.slice(0, 3).map((school) => ({ school, samples: simulate(school, MONDAY, MONDAY + 24 * 60 * MINUTE, 2 * MINUTE) }));

describe('value models', () => {
  it('has a model for each built-in profile', () => {
    expect([...VALUE_MODELS.keys()].sort()).toEqual([...profiles.keys()].sort());
  });

  it('produce every metric of the profile, valid, at every time of a school day', () => {
    const problems: string[] = [];
    let count = 0;
    // Lesson-only metrics (a camera's class and attendance) appear only in lessons: each
    // profile's metrics must all show up over the day, and every sample must be valid.
    const seen = new Map<string, Set<string>>();
    for (const { school, samples } of days) {
      for (const device of school.devices) {
        const profile = profiles.get(device.profileId)!;
        const names = seen.get(profile.id) ?? new Set<string>();
        seen.set(profile.id, names);
        for (const s of samples.get(device.id)!) {
          const problem = checkValues(profile, s.values);
          if (problem) problems.push(`${device.id} @${new Date(s.t).toISOString()}: ${problem.metric} ${problem.detail}`);
          for (const name of Object.keys(s.values)) names.add(name);
          count++;
        }
      }
    }
    for (const [id, names] of seen) expect([...names].sort(), id).toEqual(profiles.get(id)!.metrics.map((m) => m.name).sort());
    expect(problems.slice(0, 10)).toEqual([]);
    expect(count).toBeGreaterThan(100_000);
  });

  it('is deterministic for a seed', () => {
    const school = district.schools[3]!;
    const a = simulate(school, MONDAY + 7 * 60 * MINUTE, MONDAY + 8 * 60 * MINUTE, MINUTE, 5);
    const b = simulate(school, MONDAY + 7 * 60 * MINUTE, MONDAY + 8 * 60 * MINUTE, MINUTE, 5);
    const c = simulate(school, MONDAY + 7 * 60 * MINUTE, MONDAY + 8 * 60 * MINUTE, MINUTE, 6);
    const values = (m: Map<string, Sample[]>) => JSON.stringify([...m].map(([id, s]) => [id, s.map((x) => x.values)]));
    expect(values(a) === values(b)).toBe(true);
    expect(values(a) === values(c)).toBe(false);
  });

  it('counts the class in the room during a lesson and next to nobody otherwise', () => {
    const problems: string[] = [];
    let inLesson = 0;
    for (const { school, samples } of days) {
      for (const id of ofProfile(school, 'hikvision-ds-2cd2143')) {
        for (const s of samples.get(id)!) {
          const { headcount, occupied, reachable } = s.values as { headcount: number; occupied: boolean; reachable: boolean };
          const at = `${id} @${new Date(s.t).toISOString()}`;
          if (reachable !== true) problems.push(`${at}: unreachable`);
          if (occupied !== headcount > 0) problems.push(`${at}: occupied ${occupied} with headcount ${headcount}`);
          if (s.activity) {
            const { enrolment, id: classId } = s.activity.schoolClass;
            // The class minus today's absentees, plus the teacher, +-1 for counting.
            const expected = enrolment - absentees(school.id, classId, '2025-03-10') + 1;
            if (Math.abs(headcount - expected) > 1) problems.push(`${at}: ${headcount} counted, class of ${enrolment} expects ${expected}`);
            if (headcount < enrolment - 7 || headcount > enrolment + 2) problems.push(`${at}: ${headcount} for a class of ${enrolment}`);
            inLesson++;
          } else if (headcount > 2) problems.push(`${at}: ${headcount} people outside a lesson`);
        }
      }
    }
    expect(problems.slice(0, 10)).toEqual([]);
    expect(inLesson).toBeGreaterThan(1000);
    // A few absentees is the norm, not zero every day and not a third of the class.
    const counts = Array.from({ length: 200 }, (_, i) => absentees('s', `c${i}`, '2025-03-10'));
    expect(counts.some((n) => n > 0)).toBe(true);
    expect(counts.some((n) => n === 0)).toBe(true);
    expect(Math.max(...counts)).toBeLessThanOrEqual(6);
  });

  it('turns projectors on for lessons in their room and off after, lamp hours rising', () => {
    const problems: string[] = [];
    let litChecked = 0;
    for (const { school, samples } of days) {
      for (const id of ofProfile(school, 'epson-eb-x51')) {
        const series = samples.get(id)!;
        let lessonStart: number | undefined;
        let lessonEnd: number | undefined;
        for (const s of series) {
          const power = s.values.power;
          const at = `${id} @${new Date(s.t).toISOString()}`;
          if (s.activity) {
            lessonStart ??= s.t;
            lessonEnd = undefined;
            const expected = s.values.errorLamp === 'error' ? 'off' : s.t - lessonStart < WARMING_MS ? 'warming' : 'on';
            if (power !== expected) problems.push(`${at}: ${power} in a lesson, expected ${expected}`);
            litChecked++;
          } else {
            lessonStart = undefined;
            lessonEnd ??= s.t;
            if (!(power === 'off' || (power === 'cooling' && s.t - lessonEnd < COOLING_MS))) problems.push(`${at}: ${power} outside lessons`);
          }
          for (const e of ['errorFan', 'errorCover', 'errorFilter', 'errorOther', 'errorTemperature'] as const)
            if (s.values[e] === 'error') problems.push(`${at}: ${e} error`);
        }
        const hours = series.map((s) => s.values.lampHours as number);
        for (let i = 1; i < hours.length; i++) if (hours[i]! < hours[i - 1]!) problems.push(`${id}: lamp hours fell`);
        // A projector lit for five or more periods in the day gains at least three hours.
        const litMinutes = series.filter((s) => s.activity).length * 2;
        if (litMinutes >= 5 * 45 && hours.at(-1)! - hours[0]! < 3) problems.push(`${id}: lit ${litMinutes} min, lamp +${hours.at(-1)! - hours[0]!} h`);
      }
    }
    expect(problems.slice(0, 10)).toEqual([]);
    expect(litChecked).toBeGreaterThan(1000);
  });

  it('leaves a few projectors past the 4,500 h lamp warning, and fails only worn-out lamps', () => {
    const big = generateDistrict({ seed: 3, schools: 30 });
    const lamps = big.schools.flatMap((school) =>
      school.devices
        .filter((d) => d.profileId === 'epson-eb-x51')
        .map((d) => projectorModel.sample(projectorModel.init(deriveRng(1, 'device', d.id), d, school), { now: new Date(MONDAY), activity: null, schoolLoad: 0, rng: deriveRng(1, 'x') }).values),
    );
    const worn = lamps.filter((v) => (v.lampHours as number) > 4500).length;
    expect(worn).toBeGreaterThan(0);
    expect(worn / lamps.length).toBeLessThan(0.08);
    expect(lamps.filter((v) => v.errorFilter === 'ok').length / lamps.length).toBeGreaterThan(0.9);
    for (const v of lamps) if (v.errorLamp !== 'ok') expect(v.lampHours).toBeGreaterThanOrEqual(5000);
  });

  it('runs interactive boards for lessons, touches rising through a session', () => {
    let sessions = 0;
    for (const { school, samples } of days) {
      for (const id of ofProfile(school, 'promethean-activpanel-9')) {
        let previous: Sample | undefined;
        for (const s of samples.get(id)!) {
          const v = s.values as { power: boolean; sessionActive: boolean; touchCount: number; temperature: number };
          expect(v.power).toBe(s.activity !== null);
          if (!v.power) expect([v.sessionActive, v.touchCount]).toEqual([false, 0]);
          const sameLesson = previous?.activity && s.activity && previous.activity.lesson === s.activity.lesson;
          if (sameLesson && v.sessionActive) {
            expect(v.touchCount).toBeGreaterThanOrEqual(previous!.values.touchCount as number);
            sessions++;
          }
          expect(v.temperature).toBeGreaterThan(20);
          expect(v.temperature).toBeLessThan(65);
          previous = s;
        }
      }
    }
    expect(sessions).toBeGreaterThan(100);
  });

  it('puts router traffic on a school-day curve with utilisation = bps / link speed', () => {
    for (const { school, samples } of days) {
      const series = samples.get(ofProfile(school, 'mikrotik-hex-s')[0]!)!;
      for (const s of series) {
        const v = s.values as { inBps: number; outBps: number; utilisationIn: number; utilisationOut: number; linkSpeedMbps: number; linkUp: boolean };
        expect(v.linkUp).toBe(true);
        expect(v.utilisationIn).toBeCloseTo((v.inBps / (v.linkSpeedMbps * 1e6)) * 100, 1);
        expect(v.utilisationOut).toBeCloseTo((v.outBps / (v.linkSpeedMbps * 1e6)) * 100, 1);
        expect(v.outBps).toBeLessThan(v.inBps * 1.5);
      }
      const mean = (xs: Sample[]) => xs.reduce((sum, s) => sum + (s.values.inBps as number), 0) / xs.length;
      const teaching = series.filter((s) => s.load > 0.5);
      const night = series.filter((s) => new Date(s.t).getTime() < MONDAY + 5 * 60 * MINUTE);
      expect(teaching.length).toBeGreaterThan(30);
      expect(mean(teaching), school.id).toBeGreaterThan(5 * mean(night));
      // Uptime counts on with the clock.
      const up = series.map((s) => s.values.uptimeS as number);
      expect(up.at(-1)! - up[0]!).toBeCloseTo((series.at(-1)!.t - series[0]!.t) / 1000, -1);
    }
  });

  it('measures the link at 10-60 ms with jitter, loss mostly zero', () => {
    for (const { school, samples } of days) {
      const series = samples.get(ofProfile(school, 'schoolops-link-probe')[0]!)!;
      const latency = series.map((s) => s.values.latencyMs as number);
      expect(Math.min(...latency)).toBeGreaterThanOrEqual(10);
      expect(Math.max(...latency)).toBeLessThanOrEqual(60);
      expect(new Set(latency).size).toBeGreaterThan(50);
      expect(series.filter((s) => s.values.lossPct === 0).length / series.length).toBeGreaterThan(0.85);
      for (const s of series) expect(s.values.wanUp).toBe(true);
      const busy = series.filter((s) => s.load > 0.5).map((s) => s.values.latencyMs as number);
      const quiet = series.filter((s) => s.load === 0).map((s) => s.values.latencyMs as number);
      const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(avg(busy)).toBeGreaterThan(avg(quiet));
    }
  });

  it('keeps lab climate plausible and the chemical fridge at 3-6 °C', () => {
    for (const { school, samples } of days) {
      for (const id of ofProfile(school, 'schoolops-lab-controller')) {
        for (const s of samples.get(id)!) {
          const v = s.values as { roomTemperature: number; humidity: number; fridgeTemperature: number; fumeHoodAirflow: number; printerState: string };
          expect(v.fridgeTemperature).toBeGreaterThanOrEqual(3);
          expect(v.fridgeTemperature).toBeLessThanOrEqual(6);
          expect(v.roomTemperature).toBeGreaterThan(22);
          expect(v.roomTemperature).toBeLessThan(36);
          expect(v.humidity).toBeGreaterThan(45);
          expect(v.humidity).toBeLessThan(95);
          if (s.activity) expect(v.printerState).not.toBe('offline');
        }
      }
    }
  });

  it('simulates a profile it has no model for from the profile alone', () => {
    const epson = profiles.get('epson-eb-x51')!;
    const other: DeviceProfile = { ...epson, id: 'acme-projector-1' };
    const model = genericModel(other);
    const rng = deriveRng(1, 'generic');
    for (let i = 0; i < 50; i++) {
      const { values } = model.sample(null, { now: new Date(MONDAY + i * MINUTE), activity: null, schoolLoad: 0, rng });
      expect(checkValues(other, values)).toBeNull();
      expect(Object.keys(values).sort()).toEqual(other.metrics.map((m) => m.name).sort());
    }
    expect(modelFor(other).profileId).toBe('acme-projector-1');
  });
});
