/**
 * Check one device sample against its profile. Used by the edge agent on every device
 * message and by ingest on every uplink reading, so both sides agree on what is valid.
 */
import type { DeviceProfile, MetricDef } from './profile-schema.ts';
import type { MetricValue, RejectReason } from './wire.ts';

export type ValueProblem = { reason: RejectReason; metric: string; detail: string };

function checkValue(def: MetricDef, value: MetricValue): ValueProblem | null {
  const wrong = (expected: string): ValueProblem => ({
    reason: 'wrong_type',
    metric: def.name,
    detail: `expected ${expected}, got ${JSON.stringify(value)}`,
  });
  switch (def.type) {
    case 'number':
    case 'integer':
      if (typeof value !== 'number' || !Number.isFinite(value)) return wrong(def.type);
      if (def.type === 'integer' && !Number.isInteger(value)) return wrong('integer');
      if ((def.min !== undefined && value < def.min) || (def.max !== undefined && value > def.max))
        return { reason: 'out_of_range', metric: def.name, detail: `${value} is outside [${def.min ?? '-∞'}, ${def.max ?? '∞'}]` };
      return null;
    case 'boolean':
      return typeof value === 'boolean' ? null : wrong('boolean');
    case 'enum':
      if (typeof value !== 'string') return wrong(`one of ${def.values?.join('|')}`);
      return def.values?.includes(value)
        ? null
        : { reason: 'out_of_range', metric: def.name, detail: `"${value}" is not one of ${def.values?.join('|')}` };
    case 'string':
      return typeof value === 'string' ? null : wrong('string');
  }
}

const metricIndex = new WeakMap<DeviceProfile, Map<string, MetricDef>>();

export function metricsOf(profile: DeviceProfile): Map<string, MetricDef> {
  let index = metricIndex.get(profile);
  if (!index) {
    index = new Map(profile.metrics.map((m) => [m.name, m]));
    metricIndex.set(profile, index);
  }
  return index;
}

/** The first problem with a sample, or null when every value fits its metric. */
export function checkValues(profile: DeviceProfile, values: Record<string, MetricValue>): ValueProblem | null {
  const metrics = metricsOf(profile);
  for (const [name, value] of Object.entries(values)) {
    const def = metrics.get(name);
    if (!def) return { reason: 'unknown_metric', metric: name, detail: `profile ${profile.id} has no metric "${name}"` };
    const problem = checkValue(def, value);
    if (problem) return problem;
  }
  return null;
}
