/**
 * The replayer's config: which schools it speaks for, with which credentials, where the
 * broker is, and the planned faults. The launcher writes it (next to the gateways' configs)
 * once the broker has its port; it holds no secret itself, only the paths of each school's
 * gateway password file, which the launcher writes 0600 for the school's gateway anyway.
 */
import { writeFileSync } from 'node:fs';
import { readJsonFile } from '@schoolops/device-profiles';
import type { ReplayFaults } from './plan.ts';

export interface ReplayedSchoolConfig {
  schoolId: string;
  /** The school's gateway: its broker username, client id and the gatewayId on the wire. */
  gatewayId: string;
  /** The gateway's password, as the launcher wrote it for the school. */
  passwordFile: string;
}

export interface ReplayConfig {
  v: 1;
  /** The district broker as gateways reach it: mqtt:// or mqtts:// (then `caFile`). */
  brokerUrl: string;
  caFile?: string;
  /** The district's inventory (the launcher's inventory.json): the schools' rooms, timetables and devices. */
  inventoryFile: string;
  /** The district's seed: the readings and their faults follow from it. */
  seed: number;
  /** Every device reports this often; absent: each profile's reportIntervalSeconds. */
  deviceIntervalMs?: number;
  /** A school's readings are sealed into a batch this often (default 2000; an edge agent's batch.maxDelayMs is 200). */
  batchMs?: number;
  /** How often each replayed gateway sends its health report. */
  healthIntervalMs: number;
  /** A batch the district has not confirmed is sent again after this long. */
  ackTimeoutMs: number;
  /** School time minus real time (the district's demo clock); 0 for real time. */
  schoolClockOffsetMs: number;
  schools: ReplayedSchoolConfig[];
  faults: ReplayFaults;
}

export function writeReplayConfig(file: string, config: ReplayConfig): void {
  writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o644 });
}

/** Read and check the config; a problem is one line naming the file and the field. */
export function loadReplayConfig(file: string): ReplayConfig {
  const raw = readJsonFile(file) as Partial<ReplayConfig> | null;
  const problem = (field: string, wanted: string) => new Error(`${file}: /${field}: must be ${wanted}`);
  if (typeof raw !== 'object' || raw === null) throw problem('', 'an object');
  if (raw.v !== 1) throw problem('v', '1');
  if (typeof raw.brokerUrl !== 'string' || !/^mqtts?:\/\//.test(raw.brokerUrl)) throw problem('brokerUrl', 'an mqtt:// or mqtts:// URL');
  if (raw.caFile !== undefined && typeof raw.caFile !== 'string') throw problem('caFile', 'a file path');
  if (typeof raw.inventoryFile !== 'string') throw problem('inventoryFile', 'a file path');
  for (const field of ['seed', 'healthIntervalMs', 'ackTimeoutMs', 'schoolClockOffsetMs'] as const)
    if (typeof raw[field] !== 'number' || !Number.isFinite(raw[field])) throw problem(field, 'a number');
  if (raw.deviceIntervalMs !== undefined && !(typeof raw.deviceIntervalMs === 'number' && raw.deviceIntervalMs >= 100)) throw problem('deviceIntervalMs', 'a number of ms >= 100');
  if (raw.batchMs !== undefined && !(typeof raw.batchMs === 'number' && raw.batchMs >= 0)) throw problem('batchMs', 'a number of ms >= 0');
  if (!Array.isArray(raw.schools) || raw.schools.length === 0) throw problem('schools', 'a non-empty list');
  raw.schools.forEach((s, i) => {
    for (const field of ['schoolId', 'gatewayId', 'passwordFile'] as const) if (typeof s?.[field] !== 'string') throw problem(`schools/${i}/${field}`, 'a string');
  });
  const faults = raw.faults;
  if (typeof faults !== 'object' || faults === null) throw problem('faults', 'an object');
  for (const field of ['offline', 'linkDown', 'lampErrors'] as const)
    if (!Array.isArray(faults[field]) || faults[field].some((x) => typeof x !== 'string')) throw problem(`faults/${field}`, 'a list of ids');
  return raw as ReplayConfig;
}
