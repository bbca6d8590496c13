/**
 * What of a school a principal may see, beyond whether it may see the school at all: the
 * devices of kinds its role lacks the permission for (KIND_PERMISSIONS in the policy: the
 * internet link's router and probe) are left out of lists, alarms and events, and a school
 * summary's figures measured by them (bandwidth, latency, loss) are empty. One place, used
 * by the routes and the live push alike.
 */
import { maySeeKind, type Principal } from '@schoolops/device-profiles';
import type { DistrictIndex } from '../inventory.ts';
import type { SchoolSummary } from './schemas.ts';

/** The summary figures the network devices measure. */
const LINK_FIGURES = ['inBps', 'outBps', 'latencyMs', 'lossPct'] as const;

export function visibleSummary<T extends SchoolSummary>(summary: T, principal: Principal): T {
  if (maySeeKind(principal, 'network')) return summary;
  const figures = { ...summary.figures };
  for (const name of LINK_FIGURES) figures[name] = null;
  return { ...summary, figures };
}

/** Keep the items about devices this principal may see (items about no device stay). */
export function visibleDeviceItems<T>(district: DistrictIndex, principal: Principal, items: readonly T[], deviceOf: (item: T) => string | undefined): T[] {
  return items.filter((item) => {
    const id = deviceOf(item);
    const entry = id === undefined ? undefined : district.devices.get(id);
    return !entry || maySeeKind(principal, entry.profile.kind);
  });
}
