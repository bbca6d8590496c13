/**
 * Which driver speaks which protocol. MQTT-native devices have no driver: they publish to
 * the gateway's local broker themselves (local-broker.ts, device-intake.ts).
 */
import { CAMERA_SECRET_OPTIONS } from './camera.ts';
import { OPCUA_SECRET_OPTIONS, opcuaDriver } from './opcua.ts';
import { PJLINK_SECRET_OPTIONS, pjlinkDriver } from './pjlink.ts';
import { PROBE_SECRET_OPTIONS } from './probe-options.ts';
import { probeDriver } from './probe.ts';
import { SNMP_SECRET_OPTIONS, snmpDriver } from './snmp.ts';
import type { Driver, ProtocolType } from './types.ts';

// Each driver's options type is its own; the host checks them against the driver's schema.
const DRIVERS: Driver<any, any>[] = [pjlinkDriver, probeDriver, snmpDriver, opcuaDriver];

export const drivers: ReadonlyMap<ProtocolType, Driver> = new Map(DRIVERS.map((d) => [d.protocol, d as Driver]));

/**
 * Which driver options are credentials, by protocol; each list is declared next to its
 * driver's options schema. The config loader keeps them out of world-readable files and the
 * simulated district's launcher writes them to the gateways' secrets files.
 */
export const SECRET_OPTIONS: ReadonlyMap<ProtocolType, readonly string[]> = new Map<ProtocolType, readonly string[]>([
  ['pjlink', PJLINK_SECRET_OPTIONS],
  ['snmp', SNMP_SECRET_OPTIONS],
  ['opcua', OPCUA_SECRET_OPTIONS],
  ['http-snapshot', CAMERA_SECRET_OPTIONS],
  ['probe', PROBE_SECRET_OPTIONS],
]);

export * from './types.ts';
export { DeviceRunner, type DeviceStatus } from './runner.ts';
export { DriverHost } from './host.ts';
