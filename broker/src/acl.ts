/**
 * Who may publish and subscribe where: pure functions over the wire contract, deny by
 * default. Anything not explicitly allowed below is refused with a reason a person can
 * read in the log.
 *
 *  - A gateway speaks only for its own school: it publishes on its school's uplink
 *    channels and subscribes only to its school's downlink.
 *  - The cloud reads every uplink and the broker's stats, and sends commands down to a
 *    named school.
 *  - Nobody publishes the broker's stats but the broker itself (which does not pass
 *    through this ACL), and `$`-topics belong to the broker.
 *
 * Topics are never spelled here: shapes come from `districtTopics` and
 * `parseDistrictTopic` in the wire contract.
 */
import { UPLINK_CHANNELS, districtTopics, isId, isUplinkChannel, parseDistrictTopic } from '@schoolops/device-profiles';
import type { ClientCredential } from './credentials.ts';

/** An authenticated identity: what a connection may do depends on this alone. */
export type Principal =
  | { role: 'gateway'; username: string; schoolId: string }
  | { role: 'cloud'; username: string };

export type AclDecision = { allowed: true } | { allowed: false; reason: string };

const ALLOW: AclDecision = { allowed: true };
const deny = (reason: string): AclDecision => ({ allowed: false, reason });

/** The principal a credentials entry authenticates as. */
export function principalOf(entry: ClientCredential): Principal {
  return entry.role === 'gateway'
    ? { role: 'gateway', username: entry.username, schoolId: entry.schoolId }
    : { role: 'cloud', username: entry.username };
}

const hasWildcard = (topic: string) => topic.includes('+') || topic.includes('#');

/** MQTT filter syntax: '+' fills a whole level, '#' only as the whole last level. */
function isWellFormedFilter(filter: string): boolean {
  if (filter.length === 0) return false;
  const levels = filter.split('/');
  return levels.every((level, index) => {
    if (level.includes('#')) return level === '#' && index === levels.length - 1;
    if (level.includes('+')) return level === '+';
    return true;
  });
}

/**
 * May this principal publish a message on this topic?
 *
 * `retain`: whether the publish asks the broker to keep it. Only a school's status is kept
 * (the gateway's online/offline and its last will): every retained topic costs the broker
 * memory for ever and is sent to every matching subscriber, so a principal free to retain
 * on a topic with a free level (a command's device id) could grow the broker without bound,
 * and a retained command would run again at each gateway reconnect.
 */
export function mayPublish(principal: Principal, topic: string, retain = false): AclDecision {
  if (topic.length === 0) return deny('empty topic');
  if (retain && !(principal.role === 'gateway' && topic === districtTopics.status(principal.schoolId))) {
    return deny("only a gateway's own school status may be retained");
  }
  if (hasWildcard(topic)) return deny('wildcards are not allowed in a publish topic');
  if (topic.startsWith('$')) return deny('$-topics are reserved for the broker');
  if (topic === districtTopics.brokerStats) return deny('broker stats are published by the broker only');

  const parsed = parseDistrictTopic(topic);
  if (!parsed) return deny('not a district school topic');
  if (!isId(parsed.schoolId)) return deny(`"${parsed.schoolId}" is not a school id`);

  if (principal.role === 'gateway') {
    if (parsed.schoolId !== principal.schoolId) {
      return deny(`gateway of school ${principal.schoolId} may not publish for school ${parsed.schoolId}`);
    }
    if (parsed.direction !== 'up') return deny('a gateway publishes only uplink topics');
    const [channel, ...extra] = parsed.rest;
    if (extra.length > 0 || !isUplinkChannel(channel)) {
      return deny(`uplink topic must be one of the channels ${UPLINK_CHANNELS.join(', ')}`);
    }
    return ALLOW;
  }

  // The cloud sends commands down to one named device of one named school, and tells a
  // school's gateway which batches it has stored; it never publishes uplink, which would
  // let it impersonate a gateway.
  if (parsed.direction !== 'down') return deny('the cloud publishes only downlink commands');
  if (topic === districtTopics.ack(parsed.schoolId) && isId(parsed.schoolId)) return ALLOW;
  const deviceId = parsed.rest[1];
  if (!isId(deviceId) || topic !== districtTopics.command(parsed.schoolId, deviceId)) {
    return deny('downlink topic must be a device command');
  }
  return ALLOW;
}

/** May this principal subscribe with this filter? */
export function maySubscribe(principal: Principal, filter: string): AclDecision {
  if (!isWellFormedFilter(filter)) return deny('malformed topic filter');
  if (filter.startsWith('$')) return deny('$-topics are reserved for the broker');

  if (principal.role === 'cloud' && filter === districtTopics.brokerStats) return ALLOW;

  const parsed = parseDistrictTopic(filter);
  if (!parsed) return deny('filter must name a school level and a direction of the district namespace');

  if (principal.role === 'gateway') {
    // A literal, own school: '+' there would match every school's commands.
    if (parsed.schoolId !== principal.schoolId) {
      return deny(`gateway of school ${principal.schoolId} may subscribe only to its own school`);
    }
    if (parsed.direction !== 'down') return deny('a gateway subscribes only to its downlink');
    return ALLOW;
  }

  if (parsed.direction !== 'up') return deny('the cloud subscribes only to uplink and broker stats');
  if (parsed.schoolId !== '+' && !isId(parsed.schoolId)) {
    return deny(`"${parsed.schoolId}" is neither a school id nor '+'`);
  }
  return ALLOW;
}

/**
 * May a message on this (concrete) topic be delivered to this principal? The same rule
 * as subscribing to exactly that topic. Checked at delivery as a second line: in a
 * non-clean session aedes may store a refused filter (when another filter of the same
 * SUBSCRIBE packet was granted) and queue messages for it while the client is away.
 */
export function mayReceive(principal: Principal, topic: string): AclDecision {
  if (hasWildcard(topic)) return deny('not a concrete topic');
  return maySubscribe(principal, topic);
}
