/**
 * The ACL as a table: every row is a (principal, topic) pair and what must happen.
 * Deny by default means the "denied" rows matter most; each one is a way in that must
 * stay shut.
 */
import { describe, expect, it } from 'vitest';
import { districtTopics, localTopics } from '@schoolops/device-profiles';
import { mayPublish, mayReceive, maySubscribe, principalOf, type Principal } from '../src/acl.ts';

const A = 'thcs-nguyen-du';
const B = 'th-le-loi';
const gatewayA: Principal = { role: 'gateway', username: `gw-${A}`, schoolId: A };
const cloud: Principal = { role: 'cloud', username: 'cloud' };

/**
 * Shapes the wire contract would never build, derived from the ones it does (so this file
 * spells no topic): the namespace root, a school's uplink and downlink levels.
 */
const parent = (topic: string) => topic.slice(0, topic.lastIndexOf('/'));
const uplink = (school: string) => parent(districtTopics.telemetry(school));
const commands = (school: string) => parent(districtTopics.command(school, 'x'));
const downlink = (school: string) => parent(commands(school));
const districtRoot = parent(parent(uplink(A)));

describe('mayPublish', () => {
  const allowed: [string, Principal, string][] = [
    ['gateway: own telemetry', gatewayA, districtTopics.telemetry(A)],
    ['gateway: own status', gatewayA, districtTopics.status(A)],
    ['gateway: own health', gatewayA, districtTopics.health(A)],
    ['cloud: a command to a device of school A', cloud, districtTopics.command(A, 'proj-101')],
    ['cloud: a command to a device of school B', cloud, districtTopics.command(B, 'cam-2')],
  ];
  it.each(allowed)('allows %s', (_name, principal, topic) => {
    expect(mayPublish(principal, topic)).toEqual({ allowed: true });
  });

  const denied: [string, Principal, string, RegExp][] = [
    ['gateway: another school', gatewayA, districtTopics.telemetry(B), /may not publish for school th-le-loi/],
    ['gateway: a command (downlink) to its own school', gatewayA, districtTopics.command(A, 'proj-101'), /only uplink/],
    ['gateway: an unknown channel', gatewayA, `${uplink(A)}/firmware`, /channels telemetry, status, health/],
    ['gateway: a sub-level under a channel', gatewayA, `${districtTopics.telemetry(A)}/x`, /channels/],
    ['gateway: the bare uplink', gatewayA, uplink(A), /channels/],
    ['gateway: + as school', gatewayA, districtTopics.telemetry('+'), /wildcards/],
    ['gateway: # in topic', gatewayA, `${uplink(A)}/#`, /wildcards/],
    ['gateway: broker stats', gatewayA, districtTopics.brokerStats, /broker only/],
    ['gateway: $SYS', gatewayA, '$SYS/x/heartbeat', /reserved/],
    ['gateway: outside the namespace', gatewayA, localTopics.deviceState('x'), /not a district/],
    ['gateway: empty topic', gatewayA, '', /empty/],
    ['gateway: a school level that is not an id', gatewayA, districtTopics.telemetry('THCS A'), /not a school id/],
    ['cloud: uplink (impersonating a gateway)', cloud, districtTopics.telemetry(A), /only downlink/],
    ['cloud: broker stats', cloud, districtTopics.brokerStats, /broker only/],
    ['cloud: a command to every school', cloud, districtTopics.command('+', 'proj-101'), /wildcards/],
    ['cloud: a downlink that is not a command', cloud, `${downlink(A)}/reboot`, /device command/],
    ['cloud: a command with no device', cloud, commands(A), /device command/],
    ['cloud: a command with an extra level', cloud, `${districtTopics.command(A, 'proj-101')}/x`, /device command/],
    ['cloud: $SYS', cloud, '$SYS/x', /reserved/],
  ];
  it.each(denied)('denies %s', (_name, principal, topic, reason) => {
    const decision = mayPublish(principal, topic);
    expect(decision.allowed).toBe(false);
    if (!decision.allowed) expect(decision.reason).toMatch(reason);
  });
});

describe('mayPublish with retain', () => {
  it("allows only a gateway's own school status", () => {
    expect(mayPublish(gatewayA, districtTopics.status(A), true)).toEqual({ allowed: true });
  });
  const denied: [string, Principal, string][] = [
    ['gateway: own telemetry', gatewayA, districtTopics.telemetry(A)],
    ['gateway: own health', gatewayA, districtTopics.health(A)],
    ["gateway: another school's status", gatewayA, districtTopics.status(B)],
    ['cloud: a command (would run again at every reconnect)', cloud, districtTopics.command(A, 'proj-101')],
    ['cloud: an ack', cloud, districtTopics.ack(A)],
  ];
  it.each(denied)('denies %s', (_name, principal, topic) => {
    const decision = mayPublish(principal, topic, true);
    expect(decision).toEqual({ allowed: false, reason: "only a gateway's own school status may be retained" });
    // The same publish, not retained: the retain flag alone is what is refused (except B's status).
    if (topic !== districtTopics.status(B)) expect(mayPublish(principal, topic, false)).toEqual({ allowed: true });
  });
});

describe('maySubscribe', () => {
  const allowed: [string, Principal, string][] = [
    ['gateway: its downlink', gatewayA, districtTopics.schoolDownlink(A)],
    ['gateway: one device of its school', gatewayA, districtTopics.command(A, 'proj-101')],
    ['gateway: commands of its school by +', gatewayA, districtTopics.command(A, '+')],
    ['cloud: all uplink', cloud, districtTopics.allUplink],
    ['cloud: one school uplink', cloud, `${uplink(A)}/#`],
    ['cloud: one channel of every school', cloud, districtTopics.telemetry('+')],
    ['cloud: broker stats', cloud, districtTopics.brokerStats],
  ];
  it.each(allowed)('allows %s', (_name, principal, filter) => {
    expect(maySubscribe(principal, filter)).toEqual({ allowed: true });
  });

  const denied: [string, Principal, string, RegExp][] = [
    ["gateway: another school's downlink", gatewayA, districtTopics.schoolDownlink(B), /only to its own school/],
    ['gateway: every school downlink', gatewayA, districtTopics.schoolDownlink('+'), /only to its own school/],
    ['gateway: all uplink', gatewayA, districtTopics.allUplink, /only to its own school/],
    ['gateway: its own uplink', gatewayA, districtTopics.telemetry(A), /only to its downlink/],
    ['gateway: broker stats', gatewayA, districtTopics.brokerStats, /district namespace/],
    ['gateway: everything', gatewayA, '#', /district namespace/],
    ['gateway: the district root', gatewayA, `${districtRoot}/#`, /district namespace/],
    ['gateway: any direction', gatewayA, `${districtRoot}/${A}/+/#`, /district namespace/],
    ['gateway: $SYS', gatewayA, '$SYS/#', /reserved/],
    ['cloud: downlink', cloud, districtTopics.schoolDownlink(A), /only to uplink/],
    ['cloud: everything', cloud, '#', /district namespace/],
    ['cloud: the district root', cloud, `${districtRoot}/#`, /district namespace/],
    ['cloud: every direction of every school', cloud, `${districtRoot}/+/+/#`, /district namespace/],
    ['cloud: a school level that is not an id', cloud, `${uplink('A B')}/#`, /neither a school id/],
    ['cloud: $SYS', cloud, '$SYS/#', /reserved/],
    ['anyone: a malformed filter', cloud, `${districtTopics.telemetry('+')}#`, /malformed/],
    ['anyone: # not last', cloud, uplink('#'), /malformed/],
    ['anyone: empty filter', gatewayA, '', /malformed/],
  ];
  it.each(denied)('denies %s', (_name, principal, filter, reason) => {
    const decision = maySubscribe(principal, filter);
    expect(decision.allowed).toBe(false);
    if (!decision.allowed) expect(decision.reason).toMatch(reason);
  });
});

describe('mayReceive', () => {
  it('lets each principal receive only what it may subscribe to', () => {
    expect(mayReceive(gatewayA, districtTopics.command(A, 'proj-101')).allowed).toBe(true);
    expect(mayReceive(gatewayA, districtTopics.command(B, 'proj-101')).allowed).toBe(false);
    expect(mayReceive(gatewayA, districtTopics.telemetry(B)).allowed).toBe(false);
    expect(mayReceive(cloud, districtTopics.telemetry(B)).allowed).toBe(true);
    expect(mayReceive(cloud, districtTopics.brokerStats).allowed).toBe(true);
    expect(mayReceive(cloud, districtTopics.command(A, 'proj-101')).allowed).toBe(false);
  });

  it('never treats a wildcard as a concrete topic', () => {
    expect(mayReceive(cloud, districtTopics.allUplink).allowed).toBe(false);
  });
});

describe('principalOf', () => {
  it('takes identity from the credentials entry', () => {
    expect(principalOf({ username: `gw-${A}`, role: 'gateway', schoolId: A, passwordHash: 'scrypt$' })).toEqual(gatewayA);
    expect(principalOf({ username: 'cloud', role: 'cloud', passwordHash: 'scrypt$' })).toEqual(cloud);
  });
});
