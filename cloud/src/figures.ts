/**
 * The live figures shown per school, defined as data: which device kind and metric each
 * comes from and how the school's devices are combined. Adding a figure is one line here.
 */
import type { DeviceKind, MetricValue } from '@schoolops/device-profiles';
import type { Figures } from './api/schemas.ts';

type Aggregate = 'sum' | 'avg' | 'max' | 'count-equal';

interface FigureDef {
  kind: DeviceKind;
  metric: string;
  aggregate: Aggregate;
  /** For 'count-equal': count devices whose value equals this. */
  equals?: MetricValue;
}

export const FIGURES = {
  inBps: { kind: 'network', metric: 'inBps', aggregate: 'sum' },
  outBps: { kind: 'network', metric: 'outBps', aggregate: 'sum' },
  latencyMs: { kind: 'network', metric: 'latencyMs', aggregate: 'max' },
  lossPct: { kind: 'network', metric: 'lossPct', aggregate: 'max' },
  projectorsOn: { kind: 'display', metric: 'power', aggregate: 'count-equal', equals: 'on' },
  boardsInSession: { kind: 'interactive-board', metric: 'sessionActive', aggregate: 'count-equal', equals: true },
  headcount: { kind: 'camera', metric: 'headcount', aggregate: 'sum' },
  labTemperatureAvg: { kind: 'lab', metric: 'roomTemperature', aggregate: 'avg' },
} as const satisfies Record<keyof Figures, FigureDef>;

export type FigureName = keyof typeof FIGURES;

/** Combine the current values of a school's reporting devices into its figures. */
export function computeFigures(devices: Iterable<{ kind: DeviceKind; values: Record<string, MetricValue> }>): Figures {
  const list = [...devices];
  const out = {} as Record<FigureName, number | null>;
  for (const [name, def] of Object.entries(FIGURES) as [FigureName, FigureDef][]) {
    const values = list.filter((d) => d.kind === def.kind).map((d) => d.values[def.metric]).filter((v) => v !== undefined);
    if (def.aggregate === 'count-equal') {
      out[name] = values.filter((v) => v === def.equals).length;
      continue;
    }
    const numbers = values.filter((v): v is number => typeof v === 'number');
    if (numbers.length === 0) out[name] = null;
    else if (def.aggregate === 'sum') out[name] = numbers.reduce((a, b) => a + b, 0);
    else if (def.aggregate === 'max') out[name] = Math.max(...numbers);
    else out[name] = Math.round((numbers.reduce((a, b) => a + b, 0) / numbers.length) * 10) / 10;
  }
  return out as Figures; // count-equal figures are always numbers, the rest number | null
}
