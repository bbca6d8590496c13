// What the school view says about each device: its key values per kind, its status in
// words, and the order devices and alarms are listed in. No DOM here: unit-tested in Node.

import { DEVICE_KINDS, KINDS, isKind } from '@schoolops/device-profiles/kinds';
import type { AlarmSeverity, DeviceAlarm, DeviceStatus, DeviceView, MetricValue } from './api.ts';
import {
  MISSING,
  collator,
  formatBitrate,
  formatDecimal,
  formatDuration,
  formatInteger,
  formatLatency,
  formatMegabytes,
  formatPercent,
  formatTemperature,
  withUnit,
} from './format.ts';
import { STRINGS, inLang, type Lang } from './i18n.ts';

type MetricView = DeviceView['metrics'][number];

/** bad: broken, act now; warn: worth a look. Always shown with words, never by colour alone. */
export type Tone = 'bad' | 'warn';

export interface KeyValue {
  /** Metric name ('' for the "+N more" line of a raw listing). */
  metric: string;
  label: string;
  text: string;
  tone: Tone | null;
  /** The value as sent, for tests and tools. */
  raw: string;
}

/** Kinds in the order the view lists them (the kind registry's); kinds the page does not know follow, by name. */
export const KIND_ORDER: readonly string[] = DEVICE_KINDS;

/** Raw values shown for a device this page has no key metrics for, at most. */
const RAW_MAX = 8;
const RAW_TEXT_MAX = 40;

type Shown = { text: string; tone?: Tone } | null;
/** Returns null to hide a value that is only noise when fine (errorLamp 'ok', linkUp true). */
type Formatter = (value: MetricValue, lang: Lang) => Shown;

function word(lang: Lang, key: string): string {
  return STRINGS[lang].word[key] ?? key;
}

const number =
  (format: (v: number, lang: Lang) => string): Formatter =>
  (v, lang) =>
    typeof v === 'number' ? { text: format(v, lang) } : { text: formatRaw(v, lang) };

/** A projector's error flag: hidden while 'ok'. */
const errorFlag: Formatter = (v, lang) => {
  if (v === 'ok') return null;
  if (v === 'error') return { text: word(lang, 'error'), tone: 'bad' };
  if (v === 'warning') return { text: word(lang, 'warning'), tone: 'warn' };
  return { text: formatRaw(v, lang), tone: 'warn' };
};

/** A yes/no that only matters when it is `false` (a link down, a camera unreachable). */
const failsWhenFalse =
  (whenFalse: string): Formatter =>
  (v, lang) =>
    v === true ? null : v === false ? { text: word(lang, whenFalse), tone: 'bad' } : { text: formatRaw(v, lang), tone: 'warn' };

const upDown =
  (up: string, down: string): Formatter =>
  (v, lang) =>
    v === true ? { text: word(lang, up) } : v === false ? { text: word(lang, down), tone: 'bad' } : { text: formatRaw(v, lang) };

const FORMATTERS: Readonly<Record<string, Formatter>> = {
  // PJLink power is on/off/cooling/warming; a board's is a boolean.
  power: (v, lang) => ({ text: typeof v === 'boolean' ? word(lang, v ? 'on' : 'off') : typeof v === 'string' ? word(lang, v) : formatRaw(v, lang) }),
  lampHours: number((v, lang) => withUnit(formatInteger(v, lang), STRINGS[lang].unit.hours ?? 'h')),
  errorFan: errorFlag,
  errorLamp: errorFlag,
  errorTemperature: errorFlag,
  errorCover: errorFlag,
  errorFilter: errorFlag,
  errorOther: errorFlag,

  linkUp: failsWhenFalse('linkDown'),
  inBps: number(formatBitrate),
  outBps: number(formatBitrate),
  utilisationIn: number(formatPercent),
  utilisationOut: number(formatPercent),
  uptimeS: number(formatDuration),

  wanUp: upDown('up', 'down'),
  latencyMs: number(formatLatency),
  lossPct: number(formatPercent),
  jitterMs: number(formatLatency),
  dnsMs: number(formatLatency),
  httpOk: upDown('servicesOk', 'servicesDown'),

  roomTemperature: number(formatTemperature),
  humidity: number(formatPercent),
  fumeHoodAirflow: number((v, lang) => withUnit(formatDecimal(v, lang, 2), 'm/s')),
  fridgeTemperature: number(formatTemperature),
  printerState: (v, lang) => ({ text: typeof v === 'string' ? word(lang, v) : formatRaw(v, lang), ...(v === 'error' ? { tone: 'bad' as const } : {}) }),

  sessionActive: (v, lang) => ({ text: typeof v === 'boolean' ? word(lang, v ? 'inSession' : 'noSession') : formatRaw(v, lang) }),
  appInUse: (v, lang) => ({ text: v === 'none' || v === '' ? word(lang, 'none') : formatRaw(v, lang) }),
  temperature: number(formatTemperature),
  freeStorageMb: number(formatMegabytes),

  reachable: failsWhenFalse('unreachable'),
  headcount: number(formatInteger),
};

/** Any value, compactly: numbers in the language's style, yes/no, strings cut short. */
export function formatRaw(v: MetricValue | null | undefined, lang: Lang): string {
  if (typeof v === 'number') return formatDecimal(v, lang, 2);
  if (typeof v === 'boolean') return v ? STRINGS[lang].yes : STRINGS[lang].no;
  if (typeof v !== 'string' || v === '') return MISSING;
  return v.length > RAW_TEXT_MAX ? `${v.slice(0, RAW_TEXT_MAX - 1)}…` : v;
}

/** One metric's value in words, or null when it is hidden because all is well. */
export function formatMetric(metric: string, value: MetricValue, lang: Lang): { text: string; tone: Tone | null } | null {
  const format = Object.hasOwn(FORMATTERS, metric) ? FORMATTERS[metric] : undefined;
  if (format === undefined) return { text: formatRaw(value, lang), tone: null };
  const shown = format(value, lang);
  return shown === null ? null : { text: shown.text, tone: shown.tone ?? null };
}

/**
 * A metric's name in the page's language: the page's own short word for it, else its
 * profile's description (from the device's answer), else the metric's id.
 */
export function metricLabel(metric: string, lang: Lang, profile?: readonly MetricView[]): string {
  const own = STRINGS[lang].metric[metric];
  if (own !== undefined) return own;
  const described = profile?.find((m) => m.name === metric)?.description;
  return (described && inLang(described, lang)) || metric;
}

/** The values to show for a device, in order; empty when it has no reading yet. */
export function keyValues(device: DeviceView, lang: Lang): KeyValue[] {
  const values = device.latest?.values;
  if (values === undefined) return [];
  // The metrics worth a glance come from the kind registry; a kind it lacks shows its raw values.
  const wanted: readonly string[] | undefined = isKind(device.kind) ? KINDS[device.kind].keyMetrics : undefined;
  if (wanted !== undefined && wanted.some((m) => Object.hasOwn(values, m))) {
    const shown: KeyValue[] = [];
    for (const metric of wanted) {
      if (!Object.hasOwn(values, metric)) continue;
      const value = values[metric]!;
      const f = formatMetric(metric, value, lang);
      if (f !== null) shown.push({ metric, label: metricLabel(metric, lang, device.metrics), text: f.text, tone: f.tone, raw: String(value) });
    }
    return shown;
  }
  // A profile this page does not know yet: its values as sent, compactly.
  const entries = Object.entries(values);
  const shown: KeyValue[] = entries.slice(0, RAW_MAX).map(([metric, value]) => ({
    metric,
    label: metricLabel(metric, lang, device.metrics),
    text: formatRaw(value, lang),
    tone: null,
    raw: String(value),
  }));
  if (entries.length > RAW_MAX) {
    shown.push({ metric: '', label: '', text: STRINGS[lang].moreValues(entries.length - RAW_MAX), tone: null, raw: '' });
  }
  return shown;
}

export interface StatusWords {
  /** 'Mất kết nối' */
  label: string;
  /** What the state means, for a tooltip. */
  hint: string;
  /** Why, when the driver said: 'Sai mật khẩu/thông tin xác thực'; an unknown reason as sent. */
  reason: string | null;
}

export function statusWords(status: DeviceStatus, lang: Lang): StatusWords {
  const t = STRINGS[lang];
  const reason = status.reason === null || status.reason === '' ? null : (t.reason[status.reason] ?? status.reason);
  return {
    label: t.deviceState[status.state] ?? status.state,
    hint: t.deviceStateHint[status.state] ?? '',
    // A reason only explains a problem: an 'ok' device keeps none.
    reason: status.state === 'ok' ? null : reason,
  };
}

export function severityLabel(severity: AlarmSeverity, lang: Lang): string {
  return STRINGS[lang].severity[severity] ?? severity;
}

export function kindLabel(kind: string, lang: Lang): string {
  return isKind(kind) ? KINDS[kind].label[lang] : STRINGS[lang].otherKind(kind);
}

/** The device's name in the UI language, falling back to the other language, then the id. */
export function deviceName(device: Pick<DeviceView, 'id' | 'name'>, lang: Lang): string {
  const other: Lang = lang === 'vi' ? 'en' : 'vi';
  return device.name[lang].trim() || device.name[other].trim() || device.id;
}

/** Unreachable, faulty, silent or never heard: the gateway cannot vouch for it. */
export function hasProblem(device: DeviceView): boolean {
  return device.status.state !== 'ok';
}

export interface DeviceGroup {
  kind: string;
  devices: DeviceView[];
}


/**
 * Devices grouped by kind (KIND_ORDER, then unknown kinds by name). Within a group, devices
 * that need attention (a problem or a raised alarm) come first, then by name
 * ('Phòng 2' before 'Phòng 10').
 */
export function groupByKind(devices: readonly DeviceView[], lang: Lang): DeviceGroup[] {
  const byKind = new Map<string, DeviceView[]>();
  for (const d of devices) {
    const list = byKind.get(d.kind);
    if (list === undefined) byKind.set(d.kind, [d]);
    else list.push(d);
  }
  const c = collator(lang);
  const attention = (d: DeviceView) => (hasProblem(d) || d.alarms.length > 0 ? 0 : 1);
  const known = KIND_ORDER.filter((k) => byKind.has(k));
  const unknown = [...byKind.keys()].filter((k) => !KIND_ORDER.includes(k)).sort((a, b) => c.compare(a, b));
  return [...known, ...unknown].map((kind) => ({
    kind,
    devices: byKind
      .get(kind)!
      .slice()
      .sort(
        (a, b) =>
          attention(a) - attention(b) ||
          c.compare(deviceName(a, lang), deviceName(b, lang)) ||
          (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      ),
  }));
}

const SEVERITY_RANK: Record<AlarmSeverity, number> = { critical: 0, warning: 1, info: 2 };

/** Alarms most severe first, then oldest first: the cloud's order for /alarms. */
export function sortAlarms(alarms: readonly DeviceAlarm[]): DeviceAlarm[] {
  return [...alarms].sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || a.since - b.since);
}

/** Every device's raised alarms, for when /alarms could not be read. */
export function alarmsOfDevices(devices: readonly DeviceView[]): DeviceAlarm[] {
  return sortAlarms(devices.flatMap((d) => d.alarms));
}

export interface SchoolCounts {
  devices: number;
  problems: number;
  alarms: number;
  critical: number;
}

export function schoolCounts(devices: readonly DeviceView[], alarms: readonly DeviceAlarm[]): SchoolCounts {
  return {
    devices: devices.length,
    problems: devices.filter(hasProblem).length,
    alarms: alarms.length,
    critical: alarms.filter((a) => a.severity === 'critical').length,
  };
}

/**
 * The one-click commands of a device: those of its kind's quick commands (the kind
 * registry: powerOn/powerOff, a camera's countNow, a board's endSession) that its own
 * profile lists without parameters.
 */
export function quickCommands(device: Pick<DeviceView, 'kind' | 'commands'>): readonly string[] {
  const known: readonly string[] = isKind(device.kind) ? KINDS[device.kind].quickCommands : [];
  const own = new Set(device.commands.filter((c) => c.params === undefined || Object.keys(c.params).length === 0).map((c) => c.name));
  return known.filter((name) => own.has(name));
}

/** The devices a role sees: the internet link's only with link:read. */
export function visibleDevices(devices: readonly DeviceView[], link: boolean): DeviceView[] {
  return link ? [...devices] : devices.filter((d) => d.kind !== 'network');
}

/**
 * A value on a chart of `metric`: as the device's values are shown, in the metric's unit. A
 * boolean metric is charted as the share of samples that were true (avg of 1/0), in %.
 */
export function chartValue(metric: string, v: number | null, lang: Lang, boolean: boolean): string {
  if (v === null || !Number.isFinite(v)) return MISSING;
  if (boolean) return formatPercent(v * 100, lang);
  return formatMetric(metric, v, lang)?.text ?? formatDecimal(v, lang, 2);
}
