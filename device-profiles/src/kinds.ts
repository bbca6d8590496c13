/**
 * The kind registry: what the district and its dashboard know about each kind of device,
 * as data. The profiles say what one model measures and accepts; this says how a kind is
 * shown (its name, its order, the metrics worth a glance, its one-click commands) and which
 * district figures are computed from it. `device-profiles/test/kinds.test.ts` checks every
 * entry against the shipped profiles, so a metric or command named here that no profile of
 * the kind has fails the suite.
 *
 * Adding a kind is one entry in KINDS (and its profiles); adding a district figure is one
 * entry in FIGURES: the API schema (`Figures`), the cloud's aggregation and the dashboard's
 * labels all follow from it.
 *
 * No imports with effects and no Node modules: the browser bundle imports this file.
 */

/** A name in both UI languages (the same shape as LocalizedText). */
export interface Label {
  vi: string;
  en: string;
}

export interface KindDef {
  /** The heading of the kind's group of devices. */
  label: Label;
  /** The metrics worth a glance, in display order; a device shows those it has. */
  keyMetrics: readonly string[];
  /** Commands without parameters offered as buttons (when the device's profile lists them). */
  quickCommands: readonly string[];
}

/** Every device kind, in the order the dashboard lists them. */
export const KINDS = {
  display: {
    label: { vi: 'Máy chiếu / Màn hình', en: 'Projectors / Displays' },
    keyMetrics: ['power', 'lampHours', 'errorLamp', 'errorTemperature', 'errorFan', 'errorFilter', 'errorCover', 'errorOther'],
    quickCommands: ['powerOn', 'powerOff'],
  },
  'interactive-board': {
    label: { vi: 'Bảng tương tác', en: 'Interactive boards' },
    keyMetrics: ['power', 'sessionActive', 'appInUse', 'temperature', 'freeStorageMb'],
    quickCommands: ['endSession'],
  },
  camera: {
    label: { vi: 'Camera lớp học', en: 'Classroom cameras' },
    keyMetrics: ['reachable', 'headcount'],
    quickCommands: ['countNow'],
  },
  network: {
    label: { vi: 'Mạng & Internet', en: 'Network & Internet' },
    // The router's and the link probe's metrics: each device has one set.
    keyMetrics: ['linkUp', 'inBps', 'outBps', 'utilisationIn', 'utilisationOut', 'uptimeS', 'wanUp', 'latencyMs', 'lossPct', 'jitterMs', 'dnsMs', 'httpOk'],
    quickCommands: [],
  },
  lab: {
    label: { vi: 'Phòng thí nghiệm', en: 'Labs' },
    keyMetrics: ['roomTemperature', 'humidity', 'fumeHoodAirflow', 'fridgeTemperature', 'printerState'],
    quickCommands: [],
  },
} as const satisfies Record<string, KindDef>;

export type DeviceKind = keyof typeof KINDS;
export const DEVICE_KINDS = Object.keys(KINDS) as DeviceKind[];

/**
 * How the district sees a device, as its gateway's driver reports it: answering (ok), no
 * answer (unreachable), a wrong answer (faulty), no reading for a while (silent), never heard.
 */
export const DEVICE_STATES = ['ok', 'unreachable', 'faulty', 'silent', 'unknown'] as const;

export type Aggregate = 'sum' | 'avg' | 'max' | 'count-equal';

export interface FigureDef {
  kind: DeviceKind;
  metric: string;
  /** How the school's reporting devices of the kind are combined. */
  aggregate: Aggregate;
  /** For 'count-equal': count the devices whose value equals this. */
  equals?: number | boolean | string;
  label: Label;
  /** The unit of the figure ('' for a count). */
  unit: string;
}

/**
 * The live figures of each school (SchoolSummary.figures), computed by the cloud from its
 * devices' latest values. A 'count-equal' figure is always a number; the others are null
 * when no reporting device of the kind has the metric.
 */
export const FIGURES = {
  inBps: { kind: 'network', metric: 'inBps', aggregate: 'sum', unit: 'bit/s', label: { vi: 'Internet tải xuống', en: 'Internet in' } },
  outBps: { kind: 'network', metric: 'outBps', aggregate: 'sum', unit: 'bit/s', label: { vi: 'Internet tải lên', en: 'Internet out' } },
  latencyMs: { kind: 'network', metric: 'latencyMs', aggregate: 'max', unit: 'ms', label: { vi: 'Độ trễ', en: 'Latency' } },
  lossPct: { kind: 'network', metric: 'lossPct', aggregate: 'max', unit: '%', label: { vi: 'Mất gói', en: 'Packet loss' } },
  // The link probes that see no internet (WAN down): a school's internet is down when > 0.
  linksDown: { kind: 'network', metric: 'wanUp', aggregate: 'count-equal', equals: false, unit: '', label: { vi: 'Mất Internet', en: 'Internet down' } },
  projectorsOn: { kind: 'display', metric: 'power', aggregate: 'count-equal', equals: 'on', unit: '', label: { vi: 'Máy chiếu đang bật', en: 'Projectors on' } },
  boardsInSession: { kind: 'interactive-board', metric: 'sessionActive', aggregate: 'count-equal', equals: true, unit: '', label: { vi: 'Bảng đang dạy', en: 'Boards in session' } },
  headcount: { kind: 'camera', metric: 'headcount', aggregate: 'sum', unit: '', label: { vi: 'Sĩ số đếm được', en: 'People counted' } },
  labTemperatureAvg: { kind: 'lab', metric: 'roomTemperature', aggregate: 'avg', unit: '°C', label: { vi: 'Nhiệt độ phòng thí nghiệm', en: 'Lab temperature' } },
} as const satisfies Record<string, FigureDef>;

export type FigureName = keyof typeof FIGURES;
export const FIGURE_NAMES = Object.keys(FIGURES) as FigureName[];

/** A school's figures: counts are numbers, the rest null when nothing reports them. */
export type Figures = { [K in FigureName]: (typeof FIGURES)[K]['aggregate'] extends 'count-equal' ? number : number | null };

export function isKind(kind: string): kind is DeviceKind {
  return Object.hasOwn(KINDS, kind);
}

/** Combine the current values of a school's reporting devices into its figures. */
export function computeFigures(devices: Iterable<{ kind: string; values: Readonly<Record<string, number | boolean | string>> }>): Figures {
  const list = [...devices];
  const out: Record<string, number | null> = {};
  for (const name of FIGURE_NAMES) {
    const def: FigureDef = FIGURES[name];
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
  return out as Figures;
}
