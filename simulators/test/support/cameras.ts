/**
 * Counting a simulated district's cameras on the test's schedule: each camera is asked for a
 * count through the district's command API (its profile's `countNow`), a school's cameras a
 * few at a time, and the next camera is asked once the previous count has reached the API.
 * The gateways run with `cameraSchedule: 'on-request'`, so nothing else competes for their
 * face counter: no count waits for a turn or is sent away busy, however loaded the machine.
 */
import { waitFor } from './wait.ts';

/** Counts in flight per school: below the gateway's counter queue (4), so none waits its turn. */
const AT_ONCE_PER_SCHOOL = 2;

/** The school a device id belongs to ("{schoolId}.{room}.{device}"). */
const schoolOf = (deviceId: string) => deviceId.slice(0, deviceId.indexOf('.'));

/**
 * Asks every camera for a count and resolves with each camera's headcount once all have
 * reached the district's API (schools side by side, each school's cameras in the given order).
 */
/** fetch() on the district API with the test's credentials (RunningDistrict.api). */
export type Api = (path: string, init?: RequestInit) => Promise<Response>;

export async function countCameras(api: Api, cameraIds: string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const bySchool = new Map<string, string[]>();
  for (const id of cameraIds) bySchool.set(schoolOf(id), [...(bySchool.get(schoolOf(id)) ?? []), id]);
  const countOne = async (id: string) => {
    const before = await latestTs(api, id);
    const sent = await api(`/api/devices/${encodeURIComponent(id)}/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"countNow"}' });
    if (sent.status !== 202) throw new Error(`countNow to ${id}: HTTP ${sent.status} ${await sent.text()}`);
    const headcount = await waitFor(async () => {
      const device = await getDevice(api, id);
      const latest = device.latest;
      return latest && latest.ts > before && typeof latest.values.headcount === 'number' ? { n: latest.values.headcount } : undefined;
    }, `a count from ${id}`);
    counts.set(id, headcount.n);
  };
  await Promise.all(
    [...bySchool.values()].map(async (ids) => {
      let next = 0;
      const lane = async () => {
        while (next < ids.length) await countOne(ids[next++]!);
      };
      await Promise.all(Array.from({ length: AT_ONCE_PER_SCHOOL }, lane));
    }),
  );
  return counts;
}

interface DeviceLatest {
  latest: { ts: number; values: Record<string, unknown> } | null;
}

async function getDevice(api: Api, id: string): Promise<DeviceLatest> {
  const response = await api(`/api/devices/${encodeURIComponent(id)}`);
  if (!response.ok) throw new Error(`GET /api/devices/${id}: HTTP ${response.status}`);
  return (await response.json()) as DeviceLatest;
}

async function latestTs(api: Api, id: string): Promise<number> {
  return (await getDevice(api, id)).latest?.ts ?? 0;
}
