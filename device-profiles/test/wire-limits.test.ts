/**
 * The wire contract bounds everything it lets through: key patterns are enforced (not just
 * described), every map, string, array and integer has a limit, and sample times are checked
 * against a window around the receiver's clock.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import * as wire from '../src/wire.ts';
import { DeviceCommand, DeviceStateMessage, GatewayHealth, GatewayStatus, LIMITS, MetricValue, Reading, TIME_WINDOWS, TelemetryBatch, TelemetryGapEvent, check, outsideTimeWindow } from '../src/wire.ts';

const identity = { v: 1, gatewayId: 'gw-a', schoolId: 'a', bootId: 'boot-0001' };
const health = { ...identity, ts: 1, uptimeS: 1, accepted: 0, rejected: {}, forwardedBatches: 0, queueDepth: 0, devicesConfigured: 0, devicesReporting: 0 };

/** Every schema node under `schema`, with its JSON path. */
function* walk(schema: TSchema, path: string): Generator<[string, TSchema]> {
  yield [path, schema];
  const s = schema as Record<string, unknown>;
  for (const [key, child] of Object.entries((s.properties ?? {}) as Record<string, TSchema>)) yield* walk(child, `${path}/${key}`);
  for (const [key, child] of Object.entries((s.patternProperties ?? {}) as Record<string, TSchema>)) yield* walk(child, `${path}/{${key}}`);
  if (Array.isArray(s.items)) for (const [i, child] of (s.items as TSchema[]).entries()) yield* walk(child, `${path}/${i}`);
  else if (s.items) yield* walk(s.items as TSchema, `${path}/*`);
  for (const keyword of ['anyOf', 'allOf', 'oneOf'])
    for (const [i, child] of ((s[keyword] ?? []) as TSchema[]).entries()) yield* walk(child, `${path}|${keyword}${i}`);
}

describe('wire limits', () => {
  it('refuses metric, counter and parameter names outside their pattern', () => {
    expect(check(DeviceStateMessage, { values: { 'Bad-Key': 1 } })).toMatchObject({ ok: false, path: '/values', message: 'unknown field "Bad-Key"' });
    expect(check(Reading, { deviceId: 'a.proj', ts: 1, values: { ok: 1, 'Bad-Key': 1 } }).ok).toBe(false);
    expect(check(DeviceCommand, { v: 1, commandId: 'c1', deviceId: 'a.proj', name: 'setInput', params: { 'Bad-Key': 1 }, issuedAt: 1 }).ok).toBe(false);
    expect(check(GatewayHealth, { ...health, rejected: { 'Bad-Key': 1 } }).ok).toBe(false);
    expect(check(TelemetryGapEvent, { ...identity, eventId: 'e1', ts: 1, type: 'telemetry-gap', dropped: { 'NOT AN ID': 1 }, from: 1, to: 2 }).ok).toBe(false);
    // What the patterns allow still passes.
    expect(check(DeviceStateMessage, { values: { lampHours: 1, power_state: 'on' } }).ok).toBe(true);
    expect(check(GatewayHealth, { ...health, rejected: { bad_schema: 2, ts_out_of_window: 1 } }).ok).toBe(true);
  });

  it('refuses maps larger than their limit', () => {
    const values = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`m${i}`, i]));
    expect(check(DeviceStateMessage, { values: values(LIMITS.metricValues) }).ok).toBe(true);
    expect(check(DeviceStateMessage, { values: values(LIMITS.metricValues + 1) })).toMatchObject({ ok: false, path: '/values' });
    const reasons = Object.fromEntries(Array.from({ length: LIMITS.counters + 1 }, (_, i) => [`r${i}`, 1]));
    expect(check(GatewayHealth, { ...health, rejected: reasons }).ok).toBe(false);
  });

  it('refuses a 500 KB string where a short one belongs', () => {
    const status = { ...identity, state: 'online', ts: 1, agentVersion: 'x'.repeat(500 * 1024) };
    expect(check(GatewayStatus, status)).toMatchObject({ ok: false, path: '/agentVersion' });
    expect(check(GatewayStatus, { ...status, agentVersion: '0.2.0' }).ok).toBe(true);
    expect(check(GatewayStatus, { ...status, agentVersion: undefined, bootId: 'b'.repeat(500 * 1024) }).ok).toBe(false);
  });

  it('refuses counters and times no JS number or DuckDB BIGINT holds exactly', () => {
    expect(check(DeviceStateMessage, { values: { x: 1 }, n: 1e20 })).toMatchObject({ ok: false, path: '/n' });
    expect(check(DeviceStateMessage, { values: { x: 1 }, ts: 1e300 })).toMatchObject({ ok: false, path: '/ts' });
    expect(check(Reading, { deviceId: 'a.proj', ts: 1e300, values: { x: 1 } }).ok).toBe(false);
    expect(check(TelemetryBatch, { ...identity, seq: 1e20, sentAt: 1, readings: [{ deviceId: 'a.proj', ts: 1, values: { x: 1 } }] }).ok).toBe(false);
    expect(check(Reading, { deviceId: 'a.proj', ts: 1, values: { x: 1 }, n: Number.MAX_SAFE_INTEGER }).ok).toBe(true);
  });

  it('bounds every string, integer, array and map of every wire schema', () => {
    const problems: string[] = [];
    // A metric's number is bounded by its device's profile (checkValues), not by the wire.
    const profileBounded = new Set<unknown>([(MetricValue as { anyOf: unknown[] }).anyOf[0]]);
    // Reads the identity out of a body already refused whole, to answer it: open on purpose.
    const readsRefusedBodies = new Set<unknown>([wire.BatchIdentity, wire.CommandResultIdentity]);
    let schemas = 0;
    for (const [name, value] of Object.entries(wire)) {
      if (typeof value !== 'object' || value === null || !(Kind in value)) continue;
      schemas++;
      for (const [path, node] of walk(value as TSchema, name)) {
        const s = node as Record<string, unknown>;
        if (s.type === 'string' && s.const === undefined && s.maxLength === undefined) problems.push(`${path}: string without maxLength`);
        if ((s.type === 'integer' || s.type === 'number') && s.const === undefined && s.maximum === undefined && !profileBounded.has(node))
          problems.push(`${path}: ${s.type} without maximum`);
        if (s.type === 'array' && !Array.isArray(s.items) && s.maxItems === undefined) problems.push(`${path}: array without maxItems`);
        if (s.type === 'object') {
          if (s.additionalProperties !== false && !readsRefusedBodies.has(node)) problems.push(`${path}: object open to any key`);
          if (s.patternProperties !== undefined && s.maxProperties === undefined) problems.push(`${path}: map without maxProperties`);
        }
      }
    }
    expect(schemas).toBeGreaterThan(10);
    expect(problems).toEqual([]);
  });

  it('tells a sample time inside the window from one ahead of the clock or long past', () => {
    const now = Date.UTC(2026, 11, 7, 4, 0, 0);
    const window = TIME_WINDOWS.device;
    expect(outsideTimeWindow(now, now, window)).toBeNull();
    expect(outsideTimeWindow(now + window.futureMs, now, window)).toBeNull();
    expect(outsideTimeWindow(now - window.pastMs, now, window)).toBeNull();
    expect(outsideTimeWindow(now + window.futureMs + 1, now, window)).toMatch(/ahead of the clock/);
    expect(outsideTimeWindow(9e15, now, window)).toMatch(/ahead of the clock/);
    expect(outsideTimeWindow(now - window.pastMs - 1, now, window)).toMatch(/days old/);
    expect(outsideTimeWindow(0, now, window)).toMatch(/days old/);
    // The district's window holds a gateway's backlog of what the device window let through.
    expect(TIME_WINDOWS.district.pastMs).toBeGreaterThan(TIME_WINDOWS.device.pastMs);
    expect(TIME_WINDOWS.district.futureMs).toBeGreaterThan(TIME_WINDOWS.device.futureMs);
  });
});
