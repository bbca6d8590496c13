import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ROLES } from '@schoolops/device-profiles';
import { KINDS } from '@schoolops/device-profiles/kinds';
import { inLang, LANGS, STRINGS, type Strings } from '../web/i18n.ts';

const html = readFileSync(new URL('../web/index.html', import.meta.url), 'utf8');

/** Every nested key of a strings table, as dotted paths ('role.principal'). */
function keysOf(table: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(table).flatMap(([key, value]) =>
    typeof value === 'object' && value !== null ? keysOf(value as Record<string, unknown>, `${prefix}${key}.`) : [`${prefix}${key}`],
  );
}

describe('UI strings', () => {
  it('has the same keys, nested tables included, in Vietnamese and English', () => {
    const vi = keysOf(STRINGS.vi).sort();
    const en = keysOf(STRINGS.en).sort();
    expect(en).toEqual(vi);
  });

  it('has no empty text, and the same kind of entry (text or function) under each key', () => {
    for (const lang of LANGS) {
      for (const [key, value] of Object.entries(STRINGS[lang])) {
        expect(typeof value, `${lang}.${key}`).toBe(typeof STRINGS.vi[key as keyof Strings]);
        if (typeof value === 'string') expect(value.trim(), `${lang}.${key}`).not.toBe('');
        if (typeof value === 'function') expect(String((value as (...a: unknown[]) => unknown)('1', '2')).trim(), `${lang}.${key}`).not.toBe('');
      }
    }
  });

  it('gives every key index.html names (text, title, label) a text in both languages', () => {
    const used = [...html.matchAll(/data-i18n(?:-title|-label)?="([^"]+)"/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(20);
    for (const key of used) for (const lang of LANGS) expect(typeof STRINGS[lang][key as keyof Strings], `${lang}.${key}`).toBe('string');
    // The sign-in form, the enrollment form and the header chip are among them.
    expect(used).toEqual(expect.arrayContaining(['signInTitle', 'username', 'password', 'signInButton', 'enrollTitle', 'enrollCode', 'signOut', 'adminLink']));
  });

  it('names every role of the policy and every one-click command, in both languages', () => {
    for (const lang of LANGS) {
      for (const role of ROLES) expect(STRINGS[lang].role[role], `${lang} ${role}`).toBeTruthy();
      for (const name of Object.values(KINDS).flatMap((k) => k.quickCommands)) expect(STRINGS[lang].command[name], `${lang} ${name}`).toBeTruthy();
    }
    expect(STRINGS.vi.role.principal).toBe('Hiệu trưởng');
    expect(STRINGS.en.role['wall-display']).toBe('Wall display');
  });

  it('words the sign-in errors a person can act on', () => {
    expect(STRINGS.vi.signInWrong).toBe('Sai tên đăng nhập hoặc mật khẩu.');
    expect(STRINGS.vi.signInLimited(15)).toContain('15 phút');
    expect(STRINGS.en.signInLimited(15)).toContain('15 min');
    expect(STRINGS.vi.schoolForbidden('b')).toContain('không có quyền');
  });
});

describe('inLang', () => {
  it('gives the text in the page language, else the other one, never undefined', () => {
    const ward = { vi: 'Phường Bến Nghé', en: 'Ben Nghe Ward' };
    expect(inLang(ward, 'vi')).toBe('Phường Bến Nghé');
    expect(inLang(ward, 'en')).toBe('Ben Nghe Ward');
    expect(inLang({ vi: 'Phòng Tin học', en: '' }, 'en')).toBe('Phòng Tin học');
    expect(inLang({ vi: '', en: 'Lab' }, 'vi')).toBe('Lab');
    expect(inLang({ vi: '', en: '' }, 'vi')).toBe('');
  });
});
