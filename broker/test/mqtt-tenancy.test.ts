/**
 * The MQTT part of the tenancy matrix: a gateway of school "a" and the cloud, publishing
 * and subscribing on every topic shape of the district namespace for their own school,
 * another school and every school, plus the topics nobody may touch. The expectation comes
 * from the policy's MQTT table (MQTT_GRANTS); the answer from the broker's ACL, the pure
 * functions every CONNECT, SUBSCRIBE, PUBLISH and delivery goes through (broker.test.ts and
 * abuse.test.ts prove the broker calls them).
 */
import { describe, expect, it } from 'vitest';
import { MQTT_GRANTS, UPLINK_CHANNELS, districtTopics, isId } from '@schoolops/device-profiles';
import { mayPublish, maySubscribe, type Principal } from '../src/acl.ts';

const OWN = 'a';
const OTHER = 'b';
const principals: Record<keyof typeof MQTT_GRANTS, Principal> = {
  gateway: { role: 'gateway', username: `gw-${OWN}`, schoolId: OWN },
  cloud: { role: 'cloud', username: 'cloud' },
};

/** Does a concrete topic or filter fall under a template of the table, for this principal? */
function granted(template: string, topic: string, principal: Principal): boolean {
  const t = template.split('/');
  const levels = topic.split('/');
  for (let i = 0; i < t.length; i++) {
    const want = t[i]!;
    const got = levels[i];
    if (want === '#') return got !== undefined; // anything below, at least one level
    if (got === undefined) return false;
    if (want === '{school}') {
      if (principal.role !== 'gateway' || got !== principal.schoolId) return false;
    } else if (want === '{any}' || want === '{device}') {
      if (!isId(got)) return false;
    } else if (want !== got) return false;
  }
  return levels.length === t.length;
}

const expected = (who: keyof typeof MQTT_GRANTS, action: 'publish' | 'subscribe', topic: string) =>
  (MQTT_GRANTS[who][action] as readonly string[]).some((template) => granted(template, topic, principals[who]));

/** Every topic shape, for the own school, another, and all ('+'), and the forbidden ones. */
function topics(): string[] {
  const out = new Set<string>();
  for (const school of [OWN, OTHER]) {
    for (const channel of UPLINK_CHANNELS) out.add(`schoolops/v1/${school}/up/${channel}`);
    out.add(districtTopics.command(school, `${school}.r101.proj`));
    out.add(districtTopics.ack(school));
    out.add(districtTopics.schoolDownlink(school));
    out.add(`schoolops/v1/${school}/up/#`);
    out.add(`schoolops/v1/${school}/up/telemetry/extra`);
    out.add(`schoolops/v1/${school}/sideways/x`);
  }
  out.add(districtTopics.allUplink);
  out.add('schoolops/v1/+/down/#');
  out.add('schoolops/v1/+/down/command/+');
  out.add(districtTopics.brokerStats);
  out.add('#');
  out.add('schoolops/#');
  out.add('$SYS/broker/clients');
  out.add('$SYS/#');
  out.add('local/v1/device/a.r101.proj/state');
  return [...out];
}

describe('MQTT tenancy matrix', () => {
  it('the broker ACL allows exactly what the policy table grants, for a gateway and the cloud', () => {
    const wrong: string[] = [];
    let cases = 0;
    for (const who of Object.keys(principals) as (keyof typeof MQTT_GRANTS)[]) {
      for (const topic of topics()) {
        const hasWildcard = topic.includes('+') || topic.includes('#');
        const checks: ['publish' | 'subscribe', boolean][] = [
          // A publish topic never holds a wildcard.
          ['publish', !hasWildcard && expected(who, 'publish', topic)],
          ['subscribe', expected(who, 'subscribe', topic)],
        ];
        for (const [action, want] of checks) {
          cases++;
          const got = (action === 'publish' ? mayPublish : maySubscribe)(principals[who], topic);
          if (got.allowed !== want) wrong.push(`${who} ${action} ${topic}: table says ${want ? 'allow' : 'refuse'}, ACL says ${got.allowed ? 'allow' : `refuse (${got.reason})`}`);
        }
      }
    }
    console.info(`tenancy matrix (MQTT): ${cases} cases over ${Object.keys(principals).length} principals and ${topics().length} topics`);
    expect(wrong).toEqual([]);
    expect(cases).toBeGreaterThan(80);
  });

  it('the table itself keeps a gateway to its own school and out of the broker and other schools', () => {
    expect(expected('gateway', 'publish', `schoolops/v1/${OTHER}/up/telemetry`)).toBe(false);
    expect(expected('gateway', 'subscribe', `schoolops/v1/${OTHER}/down/#`)).toBe(false);
    expect(expected('gateway', 'publish', districtTopics.command(OWN, 'a.x'))).toBe(false);
    expect(expected('cloud', 'publish', `schoolops/v1/${OWN}/up/telemetry`)).toBe(false);
    expect(expected('gateway', 'subscribe', '$SYS/#')).toBe(false);
  });

  it("lets a gateway report command results for its own school only, and the cloud read every school's", () => {
    const gateway = principals.gateway;
    expect(mayPublish(gateway, districtTopics['command-result'](OWN))).toEqual({ allowed: true });
    expect(mayPublish(gateway, districtTopics['command-result'](OTHER)).allowed).toBe(false);
    expect(mayPublish(principals.cloud, districtTopics['command-result'](OWN)).allowed).toBe(false);
    expect(maySubscribe(principals.cloud, districtTopics.allUplink)).toEqual({ allowed: true });
    // The table agrees, so the matrix above covered it.
    expect(expected('gateway', 'publish', districtTopics['command-result'](OWN))).toBe(true);
    expect(expected('gateway', 'publish', districtTopics['command-result'](OTHER))).toBe(false);
  });
});
