/**
 * Which driver speaks which protocol. MQTT-native devices have no driver: they publish to
 * the gateway's local broker themselves (local-broker.ts, device-intake.ts).
 */
import { opcuaDriver } from './opcua.ts';
import { pjlinkDriver } from './pjlink.ts';
import { probeDriver } from './probe.ts';
import { snmpDriver } from './snmp.ts';
import type { Driver, ProtocolType } from './types.ts';

// Each driver's options type is its own; the host checks them against the driver's schema.
const DRIVERS: Driver<any, any>[] = [pjlinkDriver, probeDriver, snmpDriver, opcuaDriver];

export const drivers: ReadonlyMap<ProtocolType, Driver> = new Map(DRIVERS.map((d) => [d.protocol, d as Driver]));

export * from './types.ts';
export { DeviceRunner, type DeviceStatus } from './runner.ts';
export { DriverHost } from './host.ts';
