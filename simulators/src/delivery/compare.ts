/**
 * The delivery check: what devices say they published against what the district stored.
 * A device numbers its samples 1, 2, 3, ... (field n); a sample is lost when its number
 * never arrived, duplicated when it was stored more than once, out of order when it was
 * stored after a higher number of the same stream (live or replayed backlog).
 */
import type { DeviceDelivery } from '@schoolops/cloud';

export interface PublishedCounts {
  /** Samples counted from this time (the sample times the district is asked about). */
  since: number;
  /** deviceId -> samples published, numbered 1..count */
  devices: Record<string, number>;
}

/** What the district stored of one device's numbered samples (GET /api/delivery). */
export type StoredDelivery = DeviceDelivery;

export interface DeviceVerdict {
  deviceId: string;
  published: number;
  stored: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  /** Numbers above what the device says it published (another run's data, or a bad count). */
  unexpected: number;
  /** Of the lost, how many its gateway reported dropping to stay within its disk quota. */
  dropped: number;
}

export interface DeliveryVerdict {
  devices: DeviceVerdict[];
  totals: Omit<DeviceVerdict, 'deviceId'> & { devices: number };
}

export function compareDelivery(published: PublishedCounts, stored: StoredDelivery[], dropped: Record<string, number> = {}): DeliveryVerdict {
  const byDevice = new Map(stored.map((s) => [s.deviceId, s]));
  const ids = new Set([...Object.keys(published.devices), ...byDevice.keys()]);
  const devices: DeviceVerdict[] = [...ids].sort().map((deviceId) => {
    const count = published.devices[deviceId] ?? 0;
    const s = byDevice.get(deviceId);
    const distinct = s?.distinct ?? 0;
    const unexpected = s && s.maxN > count ? Math.min(distinct, s.maxN - count) : 0;
    return {
      deviceId,
      published: count,
      stored: s?.samples ?? 0,
      lost: Math.max(0, count - (distinct - unexpected)),
      duplicated: (s?.samples ?? 0) - distinct,
      outOfOrder: s?.outOfOrder ?? 0,
      unexpected,
      dropped: dropped[deviceId] ?? 0,
    };
  });
  const totals = { devices: devices.length, published: 0, stored: 0, lost: 0, duplicated: 0, outOfOrder: 0, unexpected: 0, dropped: 0 };
  for (const d of devices)
    for (const key of ['published', 'stored', 'lost', 'duplicated', 'outOfOrder', 'unexpected', 'dropped'] as const) totals[key] += d[key];
  return { devices, totals };
}
