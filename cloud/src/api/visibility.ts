/**
 * What of a school a principal may see, beyond whether it may see the school at all: the
 * devices of kinds its role lacks the permission for (KIND_PERMISSIONS in the policy: the
 * internet link's router and probe) are left out of lists, alarms and events, and a school
 * summary's figures measured by them (bandwidth, latency, loss) are empty. One place, used
 * by the routes and the live push alike.
 */
import { FIGURES, FIGURE_NAMES, maySeeKind, type Principal } from '@schoolops/device-profiles';
import type { DistrictIndex } from '../inventory.ts';
import type { SchoolSummary } from '@schoolops/device-profiles/api';

export function visibleSummary<T extends SchoolSummary>(summary: T, principal: Principal): T {
  const hidden = FIGURE_NAMES.filter((name) => !maySeeKind(principal, FIGURES[name].kind));
  if (hidden.length === 0) return summary;
  const figures: Record<string, number | null> = { ...summary.figures };
  for (const name of hidden) figures[name] = FIGURES[name].aggregate === 'count-equal' ? 0 : null;
  return { ...summary, figures: figures as T['figures'] };
}

/** Keep the items about devices this principal may see (items about no device stay). */
export function visibleDeviceItems<T>(district: DistrictIndex, principal: Principal, items: readonly T[], deviceOf: (item: T) => string | undefined): T[] {
  return items.filter((item) => {
    const id = deviceOf(item);
    const entry = id === undefined ? undefined : district.devices.get(id);
    return !entry || maySeeKind(principal, entry.profile.kind);
  });
}
