/**
 * Replayed schools: many schools of the district, each seen by the district exactly as a
 * school with a real gateway (online status, health, telemetry of every device, alarms),
 * made by one process instead of an edge agent and a fleet of device simulators per school.
 * What `startDistrict({ replayedSchools })` runs, so a wall display can be shown and measured
 * with 150 schools on one small machine.
 *
 * One clock drives everything: every `batchMs` (2 s by default) it asks each device of a
 * school that is due for its next reading (values.ts), hands the school's readings of the
 * moment to its gateway as one batch (gateway.ts, one MQTT connection per school with that
 * school's credentials), and sends the health reports that are due. A school's devices start reporting when its gateway first connects, with one
 * reading of every device at once (as an agent's first poll), then each at its profile's
 * interval (or the district's deviceIntervalMs) from a phase of its own, so a school does not
 * report in lockstep.
 *
 * Memory: the inventory is read, checked and let go; what stays per school is its devices'
 * records and tracks, a compact room timetable (rooms.ts) and its connection.
 */
import { readFileSync } from 'node:fs';
import { Inventory, checkOrThrow, localTime, loadProfiles, readJsonFile, type LocalTime, type Reading } from '@schoolops/device-profiles';
import type { Logger } from 'pino';
import { deriveRng } from '../district/random.ts';
import type { ReplayConfig } from './config.ts';
import { ConnectGate, type GateLimits } from './connect-gate.ts';
import { ReplayedGateway, type GatewayEvents } from './gateway.ts';
import { deviceFaults } from './plan.ts';
import { RoomTimetable, type RoomUse } from './rooms.ts';
import { ReplayedDevice } from './values.ts';

/** How often the clock looks for work: the finest `batchMs` honoured. */
const TICK_MS = 100;
/**
 * A school's readings are sealed into a batch this often by default. An edge agent seals
 * within 200 ms (batch.maxDelayMs: its devices wait for their PUBACK until then); nothing
 * waits on a replayed school, and the cloud's cost is per batch (a store write, an ack) more
 * than per reading. 147 replayed schools sealing every 200 ms sent the cloud some 200 batches
 * a second, more than it stored on a busy 2-core machine (it fell behind, and the acks it owed
 * came after the gateways' ack timeout, so they sent again); every 2 s, a third as many, with
 * the same readings (docs/BENCHMARKS.md, "Replayed schools"). `batchMs` 200 replays a real
 * gateway's batching.
 */
export const DEFAULT_BATCH_MS = 2_000;
/** How often unconfirmed batches are looked at (sent again past ackTimeoutMs). */
const RESEND_CHECK_MS = 1_000;
/** How often the log gets a summary line, when something changed. */
const SUMMARY_MS = 10_000;

export interface ReplayProgress {
  /** Schools done connecting: online, or (planned offline) their offline status published. */
  ready: number;
  of: number;
}

export interface ReplayerOptions {
  logger: Logger;
  /** Called whenever the number of schools ready changes. */
  onProgress?: (progress: ReplayProgress) => void;
  /** Connect pacing (default: within the broker's default admission limits). */
  gate?: GateLimits;
}

interface Scheduled {
  device: ReplayedDevice;
  intervalMs: number;
  /** Real time of its next reading; null until its school's gateway first connects. */
  nextAt: number | null;
  /** After the first reading (all at once), the next comes this far into the interval. */
  phaseMs: number;
  first: boolean;
}

interface ReplayedSchool {
  schoolId: string;
  gateway: ReplayedGateway;
  devices: Scheduled[];
  rooms: RoomTimetable;
  /** The earliest nextAt of its devices: a school with nothing due is skipped at once. */
  nextDueAt: number;
  /** When its due readings are next collected into a batch. */
  nextBatchAt: number;
  nextHealthAt: number;
}

export interface Replayer {
  progress(): ReplayProgress;
  /** Readings made so far, over every school. */
  readings(): number;
  stop(): Promise<void>;
}

export async function startReplayer(config: ReplayConfig, options: ReplayerOptions): Promise<Replayer> {
  const { logger } = options;
  const gate = new ConnectGate(options.gate);
  const batchMs = Math.max(TICK_MS, config.batchMs ?? DEFAULT_BATCH_MS);
  const ready = new Set<string>();
  let lostSinceConnect = false;
  let disconnects = 0;
  let lastError: string | null = null;
  const bySchool = new Map<string, ReplayedSchool>();
  const progress = (): ReplayProgress => ({ ready: ready.size, of: bySchool.size });

  const events: GatewayEvents = {
    connected(gateway) {
      const first = !ready.has(gateway.schoolId);
      ready.add(gateway.schoolId);
      if (first) options.onProgress?.(progress());
      const school = bySchool.get(gateway.schoolId);
      if (school && !gateway.plannedOffline && school.devices[0]?.nextAt === null) startDevices(school, Date.now());
      // A connection came back after one was lost: the broker may have restarted and
      // forgotten its retained messages, the planned offline statuses among them.
      if (!gateway.plannedOffline && lostSinceConnect) {
        lostSinceConnect = false;
        for (const r of bySchool.values()) r.gateway.reannounce();
      }
    },
    disconnected(gateway, reason) {
      disconnects++;
      if (reason) lastError = reason;
      if (!gateway.plannedOffline) lostSinceConnect = true;
    },
  };

  const replayed = buildSchools(config, { gate, events, batchMs });
  for (const r of replayed) bySchool.set(r.schoolId, r);

  /** Every device due now: the school's first batch holds a reading of each. */
  function startDevices(r: ReplayedSchool, now: number): void {
    for (const d of r.devices) d.nextAt = now;
    r.nextDueAt = now;
  }

  let made = 0;
  const tick = () => {
    const now = Date.now();
    // The school time of this tick, read once for every school (the district has one time zone).
    let local: LocalTime | null = null;
    for (const r of replayed) {
      if (now >= r.nextHealthAt) {
        r.gateway.publishHealth();
        r.nextHealthAt = now + config.healthIntervalMs;
      }
      if (now < r.nextDueAt || now < r.nextBatchAt) continue;
      r.nextBatchAt += batchMs;
      if (r.nextBatchAt <= now) r.nextBatchAt = now + batchMs;
      local ??= localTime(new Date(now + config.schoolClockOffsetMs));
      const rooms = r.rooms.at(local);
      const readings: Reading[] = [];
      let nextDueAt = Infinity;
      for (const d of r.devices) {
        if (d.nextAt === null) continue;
        if (d.nextAt <= now) {
          const use: RoomUse | null = rooms.get(d.device.record.roomId) ?? null;
          readings.push({ deviceId: d.device.record.id, ts: now, values: d.device.sample(now, use) });
          // After the first reading, the device's own phase; a process that stalled does not catch up in a burst.
          d.nextAt = d.first ? now + d.phaseMs : Math.max(d.nextAt + d.intervalMs, now + d.intervalMs / 2);
          d.first = false;
        }
        nextDueAt = Math.min(nextDueAt, d.nextAt);
      }
      r.nextDueAt = nextDueAt;
      made += readings.length;
      r.gateway.add(readings);
    }
  };
  const ticker = setInterval(tick, TICK_MS);
  const resender = setInterval(() => replayed.forEach((r) => r.gateway.resendExpired()), RESEND_CHECK_MS);

  let lastSummary = '';
  const summarise = () => {
    const online = replayed.filter((r) => r.gateway.connected).length;
    const planned = replayed.filter((r) => r.gateway.plannedOffline).length;
    let queued = 0;
    let dropped = 0;
    for (const r of replayed) {
      queued += r.gateway.depth.queued;
      dropped += r.gateway.droppedReadings;
    }
    const line = `${online}/${replayed.length - planned} replayed gateways online (${planned} planned offline), ${made} readings made, ${queued} queued, ${dropped} dropped, ${disconnects} connections lost or refused${lastError ? ` (last: ${lastError})` : ''}, ${gate.queued} waiting to connect`;
    if (line !== lastSummary) logger.info(line);
    lastSummary = line;
  };
  const summary = setInterval(summarise, SUMMARY_MS);

  logger.info({ schools: replayed.length, devices: replayed.reduce((n, r) => n + r.devices.length, 0), faults: config.faults, broker: config.brokerUrl }, 'replaying schools');
  for (const r of replayed) r.gateway.start();

  return {
    progress,
    readings: () => made,
    async stop() {
      clearInterval(ticker);
      clearInterval(resender);
      clearInterval(summary);
      gate.close();
      await Promise.all(replayed.map((r) => r.gateway.close()));
      summarise();
    },
  };
}

/**
 * Each replayed school's devices, room timetable and gateway, from the inventory. A function
 * of its own so that nothing long-lived holds the inventory (150 schools' timetables with
 * their subjects' names): the closures of startReplayer share one scope, and whatever they
 * can reach stays in memory.
 */
function buildSchools(config: ReplayConfig, shared: { gate: ConnectGate; events: GatewayEvents; batchMs: number }): ReplayedSchool[] {
  const inventory = checkOrThrow(Inventory, readJsonFile(config.inventoryFile), config.inventoryFile);
  const profiles = loadProfiles();
  const byId = new Map(inventory.schools.map((s) => [s.id, s]));
  const schools = config.schools.map((entry) => {
    const school = byId.get(entry.schoolId);
    if (!school) throw new Error(`replayed school ${entry.schoolId} is not in ${config.inventoryFile}`);
    if (school.gatewayId !== entry.gatewayId) throw new Error(`replayed school ${entry.schoolId}: its gateway is ${school.gatewayId}, not ${entry.gatewayId}`);
    return { entry, school };
  });
  const faults = deviceFaults(
    schools.map((s) => s.school),
    profiles,
    config.faults,
  );
  const offline = new Set(config.faults.offline);
  const ca = config.caFile ? readFileSync(config.caFile) : undefined;
  const now = Date.now();
  return schools.map(({ entry, school }, i) => {
    const phase = deriveRng(config.seed, 'replay-phase', school.id);
    const devices: Scheduled[] = school.devices.map((record) => {
      const profile = profiles.get(record.profileId);
      if (!profile) throw new Error(`device ${record.id} of ${school.id}: no profile "${record.profileId}"`);
      const intervalMs = config.deviceIntervalMs ?? profile.reportIntervalSeconds * 1000;
      return {
        device: new ReplayedDevice(record, profile, config.seed, faults.get(record.id) ?? null),
        intervalMs,
        nextAt: null,
        phaseMs: Math.max(TICK_MS, phase() * intervalMs),
        first: true,
      };
    });
    const gateway = new ReplayedGateway({
      schoolId: school.id,
      gatewayId: entry.gatewayId,
      password: readPassword(entry.passwordFile, school.id),
      brokerUrl: config.brokerUrl,
      ...(ca ? { ca } : {}),
      deviceIds: new Set(school.devices.map((d) => d.id)),
      offline: offline.has(school.id),
      ackTimeoutMs: config.ackTimeoutMs,
      gate: shared.gate,
      rng: deriveRng(config.seed, 'replay-backoff', school.id),
      events: shared.events,
    });
    // Health reports and batches spread over their intervals, not all on the same tick.
    return {
      schoolId: school.id,
      gateway,
      devices,
      rooms: new RoomTimetable(school),
      nextDueAt: Infinity,
      nextBatchAt: now + ((i * TICK_MS) % shared.batchMs),
      nextHealthAt: now + ((i * 997) % config.healthIntervalMs),
    };
  });
}

function readPassword(file: string, schoolId: string): string {
  try {
    const password = readFileSync(file, 'utf8').trim();
    if (password.length > 0) return password;
  } catch (error) {
    throw new Error(`cannot read the gateway password of ${schoolId} (${file}): ${(error as Error).message}`);
  }
  throw new Error(`the gateway password file of ${schoolId} (${file}) is empty`);
}
