/**
 * Which replayed schools show which faults. A wall display of a district where everything is
 * fine shows nothing worth looking at, so a replayed district carries a few planned faults,
 * drawn from the seed (the same seed, the same faults in the same schools):
 *
 *  - a handful of schools whose gateway is off from the start: their retained status says
 *    offline and they send nothing;
 *  - one school whose internet link is down: its link probe reports wanUp false (loss 100 %,
 *    the services unreachable), which raises the probe profile's alarms;
 *  - a projector with a failed lamp in about one school in ten: errorLamp 'error', which
 *    raises the projector profile's critical alarm.
 *
 * Pure: no I/O, no clock. The launcher plans, writes the plan into the replayer's config and
 * hands it to whoever started the district (tests check the faults show).
 */
import type { ProfileRegistry, School } from '@schoolops/device-profiles';
import { deriveRng, pick, shuffled } from '../district/random.ts';

export interface ReplayFaults {
  /** Schools whose gateway is off from the start (retained offline status, no telemetry). */
  offline: string[];
  /** Schools whose internet link is down (their link probe reports wanUp false). */
  linkDown: string[];
  /** Projectors (device ids) whose lamp has failed (errorLamp 'error'). */
  lampErrors: string[];
}

/** The device faults the readings model knows (values.ts applies them). */
export type DeviceFault = 'lamp-failure' | 'link-down';

/** How many of `n` replayed schools get each fault; none while there are too few to spare. */
export function faultCounts(n: number): { offline: number; linkDown: number; lampSchools: number } {
  return {
    offline: n >= 4 ? Math.max(1, Math.round(n * 0.03)) : 0,
    linkDown: n >= 3 ? 1 : 0,
    lampSchools: n >= 2 ? Math.max(1, Math.round(n / 10)) : 0,
  };
}

/**
 * `keepHealthy`: schools to spare while others are left (the launcher's demo accounts are for
 * the inventory's first school: a principal who signs in should find it working).
 */
export function planFaults(schools: readonly School[], profiles: ProfileRegistry, seed: number, keepHealthy: ReadonlySet<string> = new Set()): ReplayFaults {
  const rng = deriveRng(seed, 'replay-faults');
  const counts = faultCounts(schools.length);
  const drawn = shuffled(rng, schools);
  const order = [...drawn.filter((s) => !keepHealthy.has(s.id)), ...drawn.filter((s) => keepHealthy.has(s.id))];
  const offline = order.slice(0, counts.offline);
  const linkDown = order.slice(counts.offline, counts.offline + counts.linkDown).filter((s) => s.devices.some((d) => profiles.get(d.profileId)?.protocol.type === 'probe'));
  // Lamps fail in schools that are online and on the internet, so each fault shows on its own.
  const lampSchools = order.slice(counts.offline + counts.linkDown, counts.offline + counts.linkDown + counts.lampSchools);
  const lampErrors: string[] = [];
  for (const school of lampSchools) {
    const projectors = school.devices.filter((d) => profiles.get(d.profileId)?.metrics.some((m) => m.name === 'errorLamp'));
    if (projectors.length > 0) lampErrors.push(pick(rng, projectors).id);
  }
  return { offline: offline.map((s) => s.id), linkDown: linkDown.map((s) => s.id), lampErrors };
}

/** deviceId -> its planned fault, for the schools in `faults`. */
export function deviceFaults(schools: readonly School[], profiles: ProfileRegistry, faults: ReplayFaults): Map<string, DeviceFault> {
  const out = new Map<string, DeviceFault>();
  for (const id of faults.lampErrors) out.set(id, 'lamp-failure');
  const linkDown = new Set(faults.linkDown);
  for (const school of schools.filter((s) => linkDown.has(s.id)))
    for (const device of school.devices) if (profiles.get(device.profileId)?.protocol.type === 'probe') out.set(device.id, 'link-down');
  return out;
}
