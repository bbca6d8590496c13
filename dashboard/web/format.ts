// Pure formatting for figures, times and relative ages. No DOM here: unit-tested in Node.

import { LOCALE, STRINGS, type Lang } from './i18n.ts';

/** Shown where a figure is unknown (null, or not a finite number). */
export const MISSING = '—';
/** Non-breaking space between a number and its unit, so '12,5 Mbit/s' never wraps. */
const NBSP = '\u00a0';

const numberFormats = new Map<string, Intl.NumberFormat>();
function numberFormat(lang: Lang, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `${lang}|${JSON.stringify(options)}`;
  let nf = numberFormats.get(key);
  if (nf === undefined) {
    nf = new Intl.NumberFormat(LOCALE[lang], options);
    numberFormats.set(key, nf);
  }
  return nf;
}

function isKnown(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Whole numbers with the language's digit grouping: vi '1.234', en '1,234'. */
export function formatInteger(v: number | null | undefined, lang: Lang): string {
  if (!isKnown(v)) return MISSING;
  return numberFormat(lang, { maximumFractionDigits: 0 }).format(v);
}

const BIT_UNITS = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s'] as const;

/**
 * Link rate in SI units (1 kbit/s = 1000 bit/s) with three significant digits:
 * vi '1,25 Mbit/s', '12,5 Mbit/s', '125 Mbit/s'; en '1.25 Mbit/s'.
 */
export function formatBitrate(bps: number | null | undefined, lang: Lang): string {
  if (!isKnown(bps) || bps < 0) return MISSING;
  let value = bps;
  let unit = 0;
  // 999.5 would round to '1000 kbit/s': move it to the next unit instead.
  while (value >= 999.5 && unit < BIT_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const options: Intl.NumberFormatOptions =
    unit === 0 || value >= 1000 ? { maximumFractionDigits: 0 } : { maximumSignificantDigits: 3 };
  return `${numberFormat(lang, options).format(value)}${NBSP}${BIT_UNITS[unit]}`;
}

/** '23 ms'; one decimal below 10 ms ('4,2 ms'). */
export function formatLatency(ms: number | null | undefined, lang: Lang): string {
  if (!isKnown(ms) || ms < 0) return MISSING;
  const digits = ms < 10 ? 1 : 0;
  return `${numberFormat(lang, { maximumFractionDigits: digits }).format(ms)}${NBSP}ms`;
}

/** '0,5%' (vi) / '0.5%' (en). */
export function formatPercent(pct: number | null | undefined, lang: Lang): string {
  if (!isKnown(pct) || pct < 0) return MISSING;
  return `${numberFormat(lang, { maximumFractionDigits: 1 }).format(pct)}%`;
}

/** '27,4 °C' (vi) / '27.4 °C' (en). */
export function formatTemperature(celsius: number | null | undefined, lang: Lang): string {
  if (!isKnown(celsius)) return MISSING;
  const text = numberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(celsius);
  return `${text}${NBSP}°C`;
}

/** A plain number with at most `digits` decimals: vi '0,55', en '0.55'. */
export function formatDecimal(v: number | null | undefined, lang: Lang, digits = 1): string {
  if (!isKnown(v)) return MISSING;
  return numberFormat(lang, { maximumFractionDigits: digits }).format(v);
}

/** A number and its unit, never wrapped between them: '0,5 m/s'. */
export function withUnit(text: string, unit: string): string {
  return text === MISSING || unit === '' ? text : `${text}${NBSP}${unit}`;
}

/**
 * A duration such as an uptime, in its two largest units: vi '10 ngày 22 giờ', '3 giờ 5 phút',
 * '12 phút', '40 giây'; en '10 d 22 h'.
 */
export function formatDuration(seconds: number | null | undefined, lang: Lang): string {
  if (!isKnown(seconds) || seconds < 0) return MISSING;
  const u = STRINGS[lang].unit;
  const s = Math.floor(seconds);
  const parts: Array<[number, string]> = [
    [Math.floor(s / 86_400), u.day ?? 'd'],
    [Math.floor((s % 86_400) / 3_600), u.hour ?? 'h'],
    [Math.floor((s % 3_600) / 60), u.minute ?? 'min'],
    [s % 60, u.second ?? 's'],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  if (first === -1) return withUnit('0', u.second ?? 's');
  return parts
    .slice(first, first + 2)
    .filter(([n], i) => i === 0 || n > 0)
    .map(([n, unit]) => withUnit(formatInteger(n, lang), unit))
    .join(' ');
}

/** Storage given in MB (as devices report it): '850 MB', then GB with one decimal: '29,7 GB'. */
export function formatMegabytes(mb: number | null | undefined, lang: Lang): string {
  if (!isKnown(mb) || mb < 0) return MISSING;
  if (mb < 1024) return withUnit(formatInteger(mb, lang), 'MB');
  return withUnit(formatDecimal(mb / 1024, lang, 1), 'GB');
}

/**
 * How long ago `then` was, in words: 'vừa xong', '2 phút trước', '3 giờ trước'.
 * A time in the future (clock skew) reads as 'just now'.
 */
export function formatRelative(then: number | null | undefined, now: number, lang: Lang): string {
  const t = STRINGS[lang];
  if (!isKnown(then)) return t.never;
  const seconds = Math.max(0, (now - then) / 1000);
  if (seconds < 45) return t.justNow;
  const minutes = Math.max(1, Math.floor(seconds / 60));
  if (minutes < 60) return t.minutesAgo(minutes);
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return t.hoursAgo(hours);
  return t.daysAgo(Math.floor(hours / 24));
}

/** Since when a state holds: 'từ 5 phút trước'; 'vừa xong' alone (never 'từ vừa xong'). */
export function formatSince(then: number | null | undefined, now: number, lang: Lang): string {
  const t = STRINGS[lang];
  const ago = formatRelative(then, now, lang);
  return ago === t.justNow || ago === t.never ? ago : t.since(ago);
}

export const DEFAULT_TIMEZONE = 'Asia/Ho_Chi_Minh';

const dateTimeFormats = new Map<string, Intl.DateTimeFormat>();
function dateTimeFormat(timeZone: string): Intl.DateTimeFormat {
  let dtf = dateTimeFormats.get(timeZone);
  if (dtf === undefined) {
    const options: Intl.DateTimeFormatOptions = {
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    };
    try {
      dtf = new Intl.DateTimeFormat('en-GB', { ...options, timeZone });
    } catch {
      // An unknown zone from the server must not blank the clock: use Vietnam time.
      dtf = new Intl.DateTimeFormat('en-GB', { ...options, timeZone: DEFAULT_TIMEZONE });
    }
    dateTimeFormats.set(timeZone, dtf);
  }
  return dtf;
}

/**
 * 'dd/mm/yyyy HH:mm:ss' in the given zone, whatever the UI language. Built from parts so
 * the layout does not depend on a locale's default pattern.
 */
export function formatDateTime(epochMs: number, timeZone: string = DEFAULT_TIMEZONE): string {
  const parts: Partial<Record<Intl.DateTimeFormatPartTypes, string>> = {};
  for (const part of dateTimeFormat(timeZone).formatToParts(epochMs)) parts[part.type] = part.value;
  const { day = '??', month = '??', year = '????', hour = '??', minute = '??', second = '??' } = parts;
  return `${day}/${month}/${year} ${hour}:${minute}:${second}`;
}

const DAY_S = 86_400;

/**
 * Time on the axis as people here write it, whatever uPlot's defaults: 24-hour 'HH:mm' within
 * a day, 'dd/mm' across days (and at midnight), in the district's zone.
 */
export function timeTick(epochS: number, stepS: number, timeZone: string): string {
  const text = formatDateTime(epochS * 1000, timeZone); // 'dd/mm/yyyy HH:mm:ss'
  const dayMonth = text.slice(0, 5);
  const hourMinute = text.slice(11, 16);
  return stepS >= DAY_S || hourMinute === '00:00' ? dayMonth : hourMinute;
}

/** Name order in the UI language ('Phòng 2' before 'Phòng 10', accents and case ignored). */
const collators = new Map<Lang, Intl.Collator>();
export function collator(lang: Lang): Intl.Collator {
  let c = collators.get(lang);
  if (c === undefined) {
    c = new Intl.Collator(LOCALE[lang], { sensitivity: 'base', numeric: true });
    collators.set(lang, c);
  }
  return c;
}
