import { describe, expect, it } from 'vitest';
import {
  MISSING,
  formatBitrate,
  formatDateTime,
  formatInteger,
  formatLatency,
  formatPercent,
  formatRelative,
  formatTemperature,
  timeTick,
} from '../web/format.ts';
import { initialLang, rememberLang, LANG_STORAGE_KEY } from '../web/i18n.ts';

const NBSP = '\u00a0';

describe('formatBitrate', () => {
  it('uses SI units and a comma decimal separator in Vietnamese', () => {
    expect(formatBitrate(0, 'vi')).toBe(`0${NBSP}bit/s`);
    expect(formatBitrate(850, 'vi')).toBe(`850${NBSP}bit/s`);
    expect(formatBitrate(1_250, 'vi')).toBe(`1,25${NBSP}kbit/s`);
    expect(formatBitrate(12_500_000, 'vi')).toBe(`12,5${NBSP}Mbit/s`);
    expect(formatBitrate(125_000_000, 'vi')).toBe(`125${NBSP}Mbit/s`);
    expect(formatBitrate(2_340_000_000, 'vi')).toBe(`2,34${NBSP}Gbit/s`);
  });

  it('uses a point in English', () => {
    expect(formatBitrate(12_500_000, 'en')).toBe(`12.5${NBSP}Mbit/s`);
  });

  it('moves to the next unit instead of printing 1000', () => {
    expect(formatBitrate(999_600, 'vi')).toBe(`1${NBSP}Mbit/s`);
    expect(formatBitrate(999_400, 'vi')).toBe(`999${NBSP}kbit/s`);
  });

  it('keeps whole Gbit/s with grouping above the largest unit', () => {
    expect(formatBitrate(1_234_000_000_000, 'vi')).toBe(`1.234${NBSP}Gbit/s`);
  });

  it('shows a dash for unknown or invalid rates', () => {
    expect(formatBitrate(null, 'vi')).toBe(MISSING);
    expect(formatBitrate(Number.NaN, 'vi')).toBe(MISSING);
    expect(formatBitrate(-5, 'vi')).toBe(MISSING);
  });
});

describe('other figures', () => {
  it('formats latency, loss, temperature and counts per language', () => {
    expect(formatLatency(23.4, 'vi')).toBe(`23${NBSP}ms`);
    expect(formatLatency(4.25, 'vi')).toBe(`4,3${NBSP}ms`);
    expect(formatLatency(null, 'vi')).toBe(MISSING);
    expect(formatPercent(0.5, 'vi')).toBe('0,5%');
    expect(formatPercent(0.5, 'en')).toBe('0.5%');
    expect(formatTemperature(27.44, 'vi')).toBe(`27,4${NBSP}°C`);
    expect(formatTemperature(27, 'en')).toBe(`27.0${NBSP}°C`);
    expect(formatTemperature(null, 'en')).toBe(MISSING);
    expect(formatInteger(1234, 'vi')).toBe('1.234');
    expect(formatInteger(1234, 'en')).toBe('1,234');
  });
});

describe('formatRelative', () => {
  const now = Date.UTC(2025, 8, 5, 3, 0, 0);
  it('says how long ago in words', () => {
    expect(formatRelative(now - 10_000, now, 'vi')).toBe('vừa xong');
    expect(formatRelative(now - 2 * 60_000, now, 'vi')).toBe('2 phút trước');
    expect(formatRelative(now - 2 * 60_000, now, 'en')).toBe('2 min ago');
    expect(formatRelative(now - 3 * 3_600_000, now, 'vi')).toBe('3 giờ trước');
    expect(formatRelative(now - 49 * 3_600_000, now, 'vi')).toBe('2 ngày trước');
    expect(formatRelative(null, now, 'vi')).toBe('Chưa từng');
  });
  it('treats a time in the future (clock skew) as just now', () => {
    expect(formatRelative(now + 30_000, now, 'vi')).toBe('vừa xong');
  });
});

describe('formatDateTime', () => {
  it('prints dd/mm/yyyy HH:mm:ss in Vietnam time regardless of the host zone', () => {
    // 23:05:09 UTC on 31/12/2024 is 06:05:09 on 01/01/2025 in Asia/Ho_Chi_Minh (UTC+7).
    expect(formatDateTime(Date.UTC(2024, 11, 31, 23, 5, 9))).toBe('01/01/2025 06:05:09');
  });
  it('falls back to Vietnam time for an unknown zone', () => {
    expect(formatDateTime(Date.UTC(2024, 11, 31, 23, 5, 9), 'Not/AZone')).toBe('01/01/2025 06:05:09');
  });
});

describe('timeTick (chart time axis)', () => {
  const HCM = 'Asia/Ho_Chi_Minh';
  it('writes 24-hour times within a day, in the district zone, never am/pm', () => {
    // 06:15 UTC is 13:15 in Vietnam.
    expect(timeTick(Date.UTC(2025, 2, 10, 6, 15) / 1000, 900, HCM)).toBe('13:15');
    expect(timeTick(Date.UTC(2025, 2, 10, 6, 15) / 1000, 900, 'UTC')).toBe('06:15');
  });
  it('writes the day and month across days, and at midnight', () => {
    expect(timeTick(Date.UTC(2025, 2, 10, 17, 0) / 1000, 3600, HCM)).toBe('11/03');
    expect(timeTick(Date.UTC(2025, 2, 10, 5, 0) / 1000, 86_400, HCM)).toBe('10/03');
  });
});

describe('language choice', () => {
  const storage = (value: string | null) => ({ getItem: () => value });
  it('defaults to Vietnamese, then remembers, and ?lang= wins', () => {
    expect(initialLang('', storage(null))).toBe('vi');
    expect(initialLang('', storage('en'))).toBe('en');
    expect(initialLang('', storage('fr'))).toBe('vi');
    expect(initialLang('?lang=en', storage('vi'))).toBe('en');
    expect(initialLang('', { getItem: () => { throw new Error('denied'); } })).toBe('vi');
  });
  it('stores the choice under one key', () => {
    const saved: Record<string, string> = {};
    rememberLang('en', { setItem: (k: string, v: string) => { saved[k] = v; } });
    expect(saved).toEqual({ [LANG_STORAGE_KEY]: 'en' });
  });
});
