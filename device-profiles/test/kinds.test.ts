import { describe, expect, it } from 'vitest';
import { DEVICE_KINDS, FIGURES, FIGURE_NAMES, KINDS, computeFigures, loadProfiles, type DeviceProfile } from '../src/index.ts';

// The kind registry names metrics and commands by string; the profiles are what devices
// really have. Every name in the registry must exist in a shipped profile of its kind.
const profiles = [...loadProfiles().values()];
const ofKind = (kind: string): DeviceProfile[] => profiles.filter((p) => p.kind === kind);

describe('the kind registry agrees with the profiles', () => {
  it('lists every kind a profile has, and has a profile for every kind it lists', () => {
    expect(new Set(profiles.map((p) => p.kind))).toEqual(new Set(DEVICE_KINDS));
  });

  it.each(DEVICE_KINDS)("%s: every key metric is a metric of one of the kind's profiles", (kind) => {
    const metrics = new Set(ofKind(kind).flatMap((p) => p.metrics.map((m) => m.name)));
    const unknown = KINDS[kind].keyMetrics.filter((m) => !metrics.has(m));
    expect(unknown, `key metrics of ${kind} that no ${kind} profile has`).toEqual([]);
  });

  it.each(DEVICE_KINDS)("%s: every quick command is a parameterless command of one of the kind's profiles", (kind) => {
    const commands = new Set(ofKind(kind).flatMap((p) => p.commands.filter((c) => !c.params || Object.keys(c.params).length === 0).map((c) => c.name)));
    const unknown = KINDS[kind].quickCommands.filter((c) => !commands.has(c));
    expect(unknown, `quick commands of ${kind} that no ${kind} profile lists without parameters`).toEqual([]);
  });

  it.each(FIGURE_NAMES)('figure %s is computed from a metric its kind has, of a fitting type', (name) => {
    const def = FIGURES[name];
    const metrics = ofKind(def.kind).flatMap((p) => p.metrics.filter((m) => m.name === def.metric));
    expect(metrics.length, `${def.kind} profiles with ${def.metric}`).toBeGreaterThan(0);
    for (const metric of metrics) {
      if (def.aggregate === 'count-equal') {
        const equals: unknown = 'equals' in def ? def.equals : undefined;
        if (metric.type === 'enum') expect(metric.values, `${name}: ${def.metric}'s values`).toContain(equals);
        else expect(typeof equals, `${name}: ${def.metric} is ${metric.type}`).toBe(metric.type === 'boolean' ? 'boolean' : metric.type === 'string' ? 'string' : 'number');
      } else {
        expect(['number', 'integer'], `${name} ${def.aggregate}s ${def.metric}`).toContain(metric.type);
      }
    }
  });
});

describe('figures', () => {
  it('combine devices of the figure kind only: sums, maxima, averages and counts; null when nothing reports', () => {
    const figures = computeFigures([
      { kind: 'network', values: { inBps: 1000, outBps: 10, latencyMs: 20, lossPct: 0 } },
      { kind: 'network', values: { wanUp: false } },
      { kind: 'network', values: { inBps: 500, latencyMs: 35 } },
      { kind: 'display', values: { power: 'on' } },
      { kind: 'display', values: { power: 'cooling' } },
      { kind: 'display', values: { power: 'on' } },
      { kind: 'lab', values: { roomTemperature: 24 } },
      { kind: 'lab', values: { roomTemperature: 25.5 } },
      // A metric of the right name on a device of another kind counts for nothing.
      { kind: 'camera', values: { inBps: 99_999, power: 'on' } },
    ]);
    expect(figures).toEqual({
      inBps: 1500,
      outBps: 10,
      latencyMs: 35,
      lossPct: 0,
      linksDown: 1,
      projectorsOn: 2,
      boardsInSession: 0,
      headcount: null,
      labTemperatureAvg: 24.8,
    });
  });
});
