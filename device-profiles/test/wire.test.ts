import { describe, expect, it } from 'vitest';
import { TelemetryBatch, decode, districtTopics, localTopics, parseDistrictTopic, parseLocalStateTopic } from '../src/index.ts';

describe('wire contract', () => {
  it('round-trips district topics through the parser', () => {
    expect(parseDistrictTopic(districtTopics.telemetry('thcs-a'))).toEqual({ schoolId: 'thcs-a', direction: 'up', rest: ['telemetry'] });
    expect(parseDistrictTopic(districtTopics.command('thcs-a', 'd1'))).toEqual({
      schoolId: 'thcs-a',
      direction: 'down',
      rest: ['command', 'd1'],
    });
    expect(parseDistrictTopic(districtTopics.allUplink)?.schoolId).toBe('+');
    expect(parseDistrictTopic('other/v1/thcs-a/up/telemetry')).toBeNull();
    expect(parseDistrictTopic('schoolops/v1/thcs-a/sideways/x')).toBeNull();
  });

  it('finds the device id in a local state topic and nothing else', () => {
    expect(parseLocalStateTopic(localTopics.deviceState('s1.r101.proj1'))).toBe('s1.r101.proj1');
    expect(parseLocalStateTopic(localTopics.deviceCommand('s1.r101.proj1'))).toBeNull();
    expect(parseLocalStateTopic('local/v1/device/a/b/state')).toBeNull();
  });

  it('tells malformed JSON from a schema violation', () => {
    expect(decode(TelemetryBatch, '{not json')).toMatchObject({ ok: false, malformed: true });
    const noReadings = { v: 1, gatewayId: 'g', schoolId: 's', bootId: 'abcdefgh', seq: 0, sentAt: 1, readings: [] };
    expect(decode(TelemetryBatch, JSON.stringify(noReadings))).toMatchObject({ ok: false, path: '/readings' });
    const good = { ...noReadings, readings: [{ deviceId: 'd', ts: 1, values: { x: 1 } }] };
    expect(decode(TelemetryBatch, JSON.stringify(good)).ok).toBe(true);
  });
});
