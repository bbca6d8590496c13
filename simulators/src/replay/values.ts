/**
 * Readings for a replayed device, made from its profile alone (no protocol, no simulator):
 * cheap enough for a hundred schools' worth of devices in one process.
 *
 * Each metric of the profile gets a track: a number moves a little at every reading within
 * a band where such a value usually lies (or grows, for a counter such as lamp hours or
 * uptime), a boolean or an enum holds a value drawn once from its profile's values, a
 * string holds a plausible text. Every value is of the metric's type and within its range,
 * and, unless the device has a planned fault, clear of every health rule of its profile: a
 * healthy replayed device raises no alarm (the bands are moved out of the rules' thresholds,
 * the values a rule raises on are never drawn). TYPICAL says where values usually lie for the
 * metrics of the shipped profiles; a metric it does not know (a new profile) gets a band a
 * fifth to two fifths up its range, the first value of its enum, true, or "ok".
 *
 * Rooms are used as the timetable says (the school time the district lives at): projectors
 * and boards are on in a lesson, a camera counts the class that is in (its enrolment less a
 * few absentees) and names it, and nothing is on in an empty room, so a wall display's
 * "projectors on", "boards in session" and headcounts follow the school day.
 *
 * Deterministic: everything is drawn from the device's own generator, seeded from the
 * district's seed and the device id.
 */
import type { DeviceProfile, DeviceRecord, HealthRule, MetricDef, MetricValue, MetricValues } from '@schoolops/device-profiles';
import { chance, deriveRng, gaussian, intBetween, pickWeighted, type Rng } from '../district/random.ts';
import type { DeviceFault } from './plan.ts';
import type { RoomUse } from './rooms.ts';

/** Where a metric's value usually lies, for the metrics of the shipped profiles. */
interface Typical {
  /** A number's usual band (clipped to the profile's range and out of its rules' thresholds). */
  band?: readonly [number, number];
  /** A counter: grows by this much per second of real time instead of wandering. */
  perSecond?: number;
  /** Decimals a number is given (default: 0 for integers and counters, else 1). */
  decimals?: number;
  /** A boolean: the share of devices for which it holds. */
  trueShare?: number;
  /** An enum or a string (or a number held steady): values and their weights. */
  weights?: ReadonlyArray<readonly [string | number, number]>;
  /** A string made for each device. */
  text?: (rng: Rng) => string;
}

const TYPICAL: Readonly<Record<string, Typical>> = {
  // Projectors (PJLink): the input is a PJLink code (31 HDMI, 11 RGB).
  input: { weights: [['31', 0.7], ['11', 0.3]] },
  avMute: { trueShare: 0.03 },
  freeze: { trueShare: 0.01 },
  lampHours: { band: [80, 4200], perSecond: 1 / 3600 },
  filterHours: { band: [50, 3000], perSecond: 1 / 3600 },
  serialNumber: { text: (rng) => `DA${intBetween(rng, 1_000_000, 9_999_999)}` },
  softwareVersion: { weights: [['1.02', 1], ['1.10', 2], ['1.12', 3]] },
  filterModel: { weights: [['ET-RFM100', 1]] },
  // Interactive boards.
  appInUse: { weights: [['Whiteboard', 5], ['ClassFlow', 2], ['Chrome', 2], ['Screen share', 1]] },
  temperature: { band: [34, 48] },
  osVersion: { weights: [['Android 11 / Promethean 1.4.2', 6], ['Android 11 / Promethean 1.3.8', 3], ['Android 11 / Promethean 1.2.5', 1]] },
  freeStorageMb: { band: [6_000, 48_000], decimals: 0 },
  touchCount: { band: [0, 0], decimals: 0 },
  // Classroom cameras (the headcount and the lesson fields follow the timetable).
  reachable: { trueShare: 1 },
  headcount: { band: [0, 0] },
  snapshotMs: { band: [60, 250], decimals: 0 },
  // The school router (SNMP): a school's internet line of 100 Mbit/s to 1 Gbit/s, well below saturation.
  linkSpeedMbps: { weights: [[100, 3], [300, 5], [1000, 2]] },
  inBps: { band: [3_000_000, 40_000_000], decimals: 0 },
  outBps: { band: [500_000, 12_000_000], decimals: 0 },
  linkUp: { trueShare: 1 },
  uptimeS: { band: [86_400, 40 * 86_400], perSecond: 1 },
  // The link probe.
  wanUp: { trueShare: 1 },
  latencyMs: { band: [8, 45] },
  jitterMs: { band: [0.3, 6] },
  lossPct: { band: [0, 0.8] },
  dnsMs: { band: [4, 35] },
  dnsFailed: { band: [0, 0] },
  httpOk: { trueShare: 1 },
  httpFailed: { band: [0, 0] },
  httpMs: { band: [80, 450], decimals: 0 },
  throughputMbps: { band: [20, 90] },
  // Labs (OPC UA): a Ho Chi Minh City lab, a fridge at 4 °C, a fume hood drawing well.
  roomTemperature: { band: [26, 31] },
  humidity: { band: [55, 80] },
  fumeHoodAirflow: { band: [0.5, 0.9], decimals: 2 },
  fridgeTemperature: { band: [3, 5.5] },
  printerState: { weights: [['idle', 8], ['printing', 2]] },
};

/** Metrics set by the room's use (below), not by their track. */
const LESSON_FIELDS = ['classId', 'period', 'enrolled', 'attendancePct'] as const;

/**
 * What every device of a profile shares for one of its metrics, worked out once per profile
 * (a replayer holds ten thousand devices: per device there is only each metric's value).
 */
type MetricPlan =
  | { type: 'number'; name: string; lo: number; hi: number; step: number; ceiling: number; perSecond: number; factor: number; integer: boolean }
  | { type: 'steady-number'; name: string; choices: Array<[number, number]> }
  | { type: 'boolean'; name: string; trueShare: number; healthyTrue: boolean; healthyFalse: boolean }
  | { type: 'enum'; name: string; weighted: Array<[string, number]>; fallback: string }
  | { type: 'text'; name: string; typical: Typical };

/** One metric of one device: its plan and its current value. */
interface Track {
  plan: MetricPlan;
  value: MetricValue;
}

/** Would `rule` raise on `value`? (The cloud's AlarmBook, without the hold time.) */
function raises(rule: HealthRule, value: MetricValue): boolean {
  if (rule.op === 'eq') return value === rule.value;
  if (rule.op === 'ne') return value !== rule.value;
  if (typeof value !== 'number' || typeof rule.value !== 'number') return false;
  return rule.op === 'gt' ? value > rule.value : value < rule.value;
}

/**
 * The band a healthy value of `def` stays in: the typical band (or a fifth to two fifths up
 * the range), clipped to the range, and below every gt rule's clear level and above every lt
 * rule's, so it neither raises an alarm nor keeps one up.
 */
function healthyBand(def: MetricDef, rules: readonly HealthRule[], typical: Typical): [number, number] {
  const min = def.min ?? -Infinity;
  const max = def.max ?? Infinity;
  const low = Number.isFinite(min) ? min : 0;
  const span = (Number.isFinite(max) ? max : low + 100) - low;
  let [lo, hi] = typical.band ?? [low + span / 5, low + (2 * span) / 5];
  for (const rule of rules) {
    if (rule.metric !== def.name || typeof rule.value !== 'number') continue;
    const edge = rule.op === 'gt' ? Math.min(rule.value, rule.clear ?? rule.value) : rule.op === 'lt' ? Math.max(rule.value, rule.clear ?? rule.value) : null;
    if (edge === null) continue;
    const margin = Math.max(Math.abs(edge) * 0.02, 1e-3);
    if (rule.op === 'gt') hi = Math.min(hi, edge - margin);
    else lo = Math.max(lo, edge + margin);
  }
  lo = Math.max(lo, min);
  hi = Math.min(hi, max);
  if (lo > hi) lo = hi;
  return [lo, hi];
}

function planMetric(def: MetricDef, rules: readonly HealthRule[]): MetricPlan {
  const typical = TYPICAL[def.name] ?? {};
  const own = rules.filter((r) => r.metric === def.name);
  const healthy = (v: MetricValue) => !own.some((rule) => raises(rule, v));
  const name = def.name;
  if (def.type === 'number' || def.type === 'integer') {
    if (typical.weights) return { type: 'steady-number', name, choices: typical.weights.filter(([v]) => typeof v === 'number') as Array<[number, number]> };
    const integer = def.type === 'integer';
    const decimals = integer ? 0 : (typical.decimals ?? (typical.perSecond ? 0 : 1));
    const [lo, hi] = healthyBand(def, rules, typical);
    // A counter starts in its band and grows past it, up to its range or a rule's threshold.
    const ceiling = typical.perSecond ? healthyBand(def, rules, { band: [lo, Infinity] })[1] : hi;
    // Each reading moves a few hundredths of the band: a value that lives, not one that jumps.
    return { type: 'number', name, lo, hi, step: (hi - lo) * 0.04, ceiling, perSecond: typical.perSecond ?? 0, factor: 10 ** decimals, integer };
  }
  if (def.type === 'boolean') return { type: 'boolean', name, trueShare: typical.trueShare ?? 1, healthyTrue: healthy(true), healthyFalse: healthy(false) };
  if (def.type === 'enum') {
    const allowed = (def.values ?? []).filter(healthy);
    const weighted = (typical.weights ?? []).filter(([v]) => typeof v === 'string' && allowed.includes(v)) as Array<[string, number]>;
    return { type: 'enum', name, weighted, fallback: allowed[0] ?? def.values?.[0] ?? '' };
  }
  return { type: 'text', name, typical };
}

const plans = new WeakMap<DeviceProfile, MetricPlan[]>();

/** The plans of a profile's metrics (those the room's use sets are left out). */
function plansOf(profile: DeviceProfile): MetricPlan[] {
  let list = plans.get(profile);
  if (!list) {
    list = profile.metrics.filter((def) => !(LESSON_FIELDS as readonly string[]).includes(def.name)).map((def) => planMetric(def, profile.health.rules));
    plans.set(profile, list);
  }
  return list;
}

/** A device's first value of a metric, drawn from its own generator. */
function firstValue(plan: MetricPlan, rng: Rng): MetricValue {
  switch (plan.type) {
    case 'number':
      return plan.lo + rng() * (plan.hi - plan.lo);
    case 'steady-number':
      return pickWeighted(rng, plan.choices);
    case 'boolean': {
      const wanted = chance(rng, plan.trueShare);
      return (wanted ? plan.healthyTrue : plan.healthyFalse) ? wanted : !wanted;
    }
    case 'enum':
      return plan.weighted.length > 0 ? pickWeighted(rng, plan.weighted) : plan.fallback;
    case 'text':
      return plan.typical.text ? plan.typical.text(rng) : plan.typical.weights ? String(pickWeighted(rng, plan.typical.weights)) : 'ok';
  }
}

/** The track's next value (a number moves or grows; an enum with several usual values changes now and then). */
function advance(track: Track, rng: Rng, elapsedS: number): MetricValue {
  const plan = track.plan;
  if (plan.type === 'number') {
    let value = track.value as number;
    if (plan.perSecond) value = Math.min(plan.ceiling, value + plan.perSecond * elapsedS);
    else if (plan.step > 0) {
      value += gaussian(rng, plan.step);
      if (value > plan.hi) value = 2 * plan.hi - value;
      if (value < plan.lo) value = 2 * plan.lo - value;
      value = Math.min(plan.hi, Math.max(plan.lo, value));
    }
    track.value = value;
    const out = Math.round(value * plan.factor) / plan.factor;
    return plan.integer ? Math.round(out) : out;
  }
  // A printer starts a job, finishes it.
  if (plan.type === 'enum' && plan.weighted.length > 1 && chance(rng, 0.05)) track.value = pickWeighted(rng, plan.weighted);
  return track.value;
}

/** One replayed device: its profile's metrics, its traits, its fault if it has one. */
export class ReplayedDevice {
  private readonly rng: Rng;
  private readonly tracks: Track[];
  private lastAt: number | null = null;
  /** Used in lessons (a teacher who switches the projector or the board on). */
  private readonly usedInLessons: boolean;
  /** A board taught from (a session on it) when it is on. */
  private readonly teachesOnBoard: boolean;
  private touches: number;

  constructor(
    readonly record: DeviceRecord,
    readonly profile: DeviceProfile,
    private readonly seed: number,
    readonly fault: DeviceFault | null = null,
  ) {
    this.rng = deriveRng(seed, 'replay', record.id);
    this.tracks = plansOf(profile).map((plan) => ({ plan, value: firstValue(plan, this.rng) }));
    this.usedInLessons = chance(this.rng, 0.9);
    this.teachesOnBoard = chance(this.rng, 0.6);
    this.touches = intBetween(this.rng, 1_000, 200_000);
  }

  /** The device's values at real time `at` (ms), with its room in `use` (null: empty). */
  sample(at: number, use: RoomUse | null): MetricValues {
    const elapsedS = this.lastAt === null ? 0 : Math.max(0, (at - this.lastAt) / 1000);
    this.lastAt = at;
    const values: MetricValues = {};
    for (const track of this.tracks) values[track.plan.name] = advance(track, this.rng, elapsedS);
    this.useRoom(values, use, elapsedS);
    this.derive(values);
    if (this.fault) applyFault(this.fault, values);
    return values;
  }

  private has(name: string): boolean {
    return this.profile.metrics.some((m) => m.name === name);
  }

  private useRoom(values: MetricValues, use: RoomUse | null, elapsedS: number): void {
    const on = use !== null && this.usedInLessons;
    if (this.profile.kind === 'display' && typeof values.power === 'string') values.power = on ? 'on' : 'off';
    if (this.profile.kind === 'interactive-board') {
      const session = on && this.teachesOnBoard;
      if (typeof values.power === 'boolean') values.power = on;
      if (typeof values.sessionActive === 'boolean') values.sessionActive = session;
      if (session) this.touches += Math.round(elapsedS * 0.5);
      if (this.has('touchCount')) values.touchCount = session ? this.touches % 10_000_000 : 0;
      if (typeof values.appInUse === 'string') values.appInUse = !on ? 'none' : session ? values.appInUse : 'HDMI 1';
    }
    if (this.profile.kind === 'camera' && this.has('headcount')) {
      const enrolled = use?.enrolment ?? 0;
      if (use && enrolled > 0) {
        // A few absent, the same few for the whole lesson.
        const absent = intBetween(deriveRng(this.seed, 'absent', this.record.id, use.day, use.period), 0, 3);
        const students = Math.max(0, enrolled - absent);
        values.headcount = students;
        if (this.has('classId')) values.classId = use.classId;
        if (this.has('period')) values.period = use.period;
        if (this.has('enrolled')) values.enrolled = enrolled;
        if (this.has('attendancePct')) values.attendancePct = Math.round((1000 * students) / enrolled) / 10;
      } else values.headcount = 0;
    }
  }

  /** Values that follow from others, as the device or its driver would give them. */
  private derive(values: MetricValues): void {
    const link = values.linkSpeedMbps;
    if (typeof link === 'number' && link > 0) {
      if (typeof values.inBps === 'number' && this.has('utilisationIn')) values.utilisationIn = Math.round((values.inBps / (link * 1e4)) * 100) / 100;
      if (typeof values.outBps === 'number' && this.has('utilisationOut')) values.utilisationOut = Math.round((values.outBps / (link * 1e4)) * 100) / 100;
    }
    if (typeof values.headcount === 'number' && this.has('occupied')) values.occupied = values.headcount > 0;
    if (typeof values.httpFailed === 'number' && this.has('httpOk')) values.httpOk = values.httpFailed === 0;
  }
}

/**
 * A planned fault, as the device (or its gateway's driver) would report it:
 *  - lamp-failure: the projector reports its lamp in error and cannot be on;
 *  - link-down: the probe's checks across the internet all fail (what the edge agent's probe
 *    driver sends then: wanUp false, loss 100 %, the services down, no latency to give).
 */
function applyFault(fault: DeviceFault, values: MetricValues): void {
  if (fault === 'lamp-failure') {
    if ('errorLamp' in values) values.errorLamp = 'error';
    if (typeof values.power === 'string') values.power = 'off';
    return;
  }
  if ('wanUp' in values) values.wanUp = false;
  if ('lossPct' in values) values.lossPct = 100;
  if ('httpOk' in values) values.httpOk = false;
  if ('httpFailed' in values) values.httpFailed = 2;
  for (const name of ['latencyMs', 'jitterMs', 'httpMs', 'throughputMbps']) delete values[name];
}
