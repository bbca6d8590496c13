/**
 * The district's digital record, loaded once and indexed for ingest and the API:
 * which schools exist, which gateway speaks for each, and which devices (with their
 * profiles) each school has.
 */
import { Inventory, loadJsonFile, type DeviceProfile, type DeviceRecord, type ProfileRegistry, type School } from '@schoolops/device-profiles';

export interface DeviceEntry {
  record: DeviceRecord;
  school: School;
  profile: DeviceProfile;
}

export class DistrictIndex {
  readonly schools = new Map<string, School>();
  readonly devices = new Map<string, DeviceEntry>();
  /** gatewayId -> schoolId */
  readonly gateways = new Map<string, string>();

  constructor(
    readonly inventory: Inventory,
    readonly profiles: ProfileRegistry,
  ) {
    for (const school of inventory.schools) {
      if (this.schools.has(school.id)) throw new Error(`inventory: school "${school.id}" appears twice`);
      this.schools.set(school.id, school);
      this.gateways.set(school.gatewayId, school.id);
      for (const record of school.devices) {
        const profile = profiles.get(record.profileId);
        if (!profile) throw new Error(`inventory: device "${record.id}" uses unknown profile "${record.profileId}"`);
        if (this.devices.has(record.id)) throw new Error(`inventory: device id "${record.id}" appears twice`);
        this.devices.set(record.id, { record, school, profile });
      }
    }
  }

  devicesOf(schoolId: string): DeviceEntry[] {
    return (this.schools.get(schoolId)?.devices ?? []).map((d) => this.devices.get(d.id)!);
  }
}

export function loadInventory(file: string, profiles: ProfileRegistry): DistrictIndex {
  return new DistrictIndex(loadJsonFile(Inventory, file), profiles);
}
