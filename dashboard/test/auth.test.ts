import { describe, expect, it } from 'vitest';
import { GRANTS, scopeProblem } from '@schoolops/device-profiles';
import {
  ROLES,
  canSeeSchool,
  landingFor,
  normalizeEnrollCode,
  retryAfterMinutes,
  schoolsForRole,
  sectionsFor,
  toMe,
  type Me,
  type Role,
} from '../web/auth.ts';

/** A Me as the cloud builds it (cloud/src/api/auth.ts meOf): the role's grants, its scope. */
function meOf(role: Role, schools: string[] | null, kind: Me['kind'] = role === 'wall-display' ? 'display' : 'user'): Me {
  return { kind, id: `${role}-1`, name: `Người ${role}`, role, schools, permissions: [...GRANTS[role]], csrfToken: 'csrf', expiresAt: 1 };
}

describe('landingFor: where each role starts', () => {
  it('sends district roles to the overview, a display to the wall and a one-school role to its school', () => {
    expect(landingFor(meOf('district-admin', null))).toEqual({ view: 'overview' });
    expect(landingFor(meOf('district-operator', null))).toEqual({ view: 'overview' });
    expect(landingFor(meOf('wall-display', null))).toEqual({ view: 'wall' });
    expect(landingFor(meOf('principal', ['thcs-le-loi']))).toEqual({ view: 'school', schoolId: 'thcs-le-loi' });
    expect(landingFor(meOf('school-it', ['th-kim-dong']))).toEqual({ view: 'school', schoolId: 'th-kim-dong' });
  });

  it('gives a display of several schools the wall of those schools', () => {
    expect(landingFor(meOf('wall-display', ['a', 'b']))).toEqual({ view: 'wall' });
    expect(sectionsFor(meOf('wall-display', ['a', 'b'])).overview).toBe(true);
  });
});

describe('sectionsFor: what each role sees', () => {
  it('shows the principal the school with attendance, no commands, no list of schools, no admin', () => {
    const s = sectionsFor(meOf('principal', ['a']));
    expect(s).toMatchObject({ overview: false, schoolLinks: false, devices: true, attendance: true, commands: false, admin: false, kiosk: false });
  });

  it('shows school IT the devices and commands, not attendance', () => {
    const s = sectionsFor(meOf('school-it', ['a']));
    expect(s).toMatchObject({ overview: false, schoolLinks: false, devices: true, link: true, attendance: false, commands: true, admin: false });
  });

  it('shows a district operator every school with commands and attendance, no admin', () => {
    const s = sectionsFor(meOf('district-operator', null));
    expect(s).toMatchObject({ overview: true, schoolLinks: true, devices: true, attendance: true, commands: true, admin: false, accounts: false, audit: false });
  });

  it('shows the admin everything, the admin page included', () => {
    const s = sectionsFor(meOf('district-admin', null));
    expect(s).toMatchObject({ overview: true, schoolLinks: true, attendance: true, commands: true, admin: true, accounts: true, audit: true, kiosk: false });
  });

  it('shows a wall display the overview as a kiosk: no attendance, no commands, nothing to open', () => {
    const s = sectionsFor(meOf('wall-display', null));
    expect(s).toMatchObject({ overview: true, schoolLinks: false, attendance: false, commands: false, admin: false, kiosk: true });
  });

  it('follows the permissions, not the role name: a section without its permission is hidden', () => {
    const me = { ...meOf('district-admin', null), permissions: ['district:read', 'audit:read'] } as Me;
    expect(sectionsFor(me)).toMatchObject({ overview: true, devices: false, attendance: false, commands: false, admin: true, accounts: false, audit: true });
    expect(sectionsFor({ ...me, permissions: [] })).toMatchObject({ overview: false, devices: false, admin: false });
  });

  it('agrees with the policy for every role: attendance and commands exactly where granted', () => {
    for (const role of ROLES) {
      const s = sectionsFor(meOf(role, null));
      expect(s.attendance, role).toBe(GRANTS[role].includes('attendance:read'));
      expect(s.commands, role).toBe(GRANTS[role].includes('commands:send'));
      expect(s.admin, role).toBe(GRANTS[role].includes('accounts:manage') || GRANTS[role].includes('audit:read'));
    }
  });
});

describe('canSeeSchool', () => {
  it('holds a one-school role to its school and lets district roles see any', () => {
    expect(canSeeSchool(meOf('principal', ['a']), 'a')).toBe(true);
    expect(canSeeSchool(meOf('principal', ['a']), 'b')).toBe(false);
    expect(canSeeSchool(meOf('district-operator', null), 'b')).toBe(true);
    expect(canSeeSchool({ ...meOf('district-operator', null), permissions: ['district:read'] }, 'b')).toBe(false);
  });
});

describe('toMe: the shape of /api/auth/me', () => {
  const wire = { kind: 'user', id: 'hieu-truong-a', name: 'Hiệu trưởng', role: 'principal', schools: ['a'], permissions: ['district:read', 'school:read', 'attendance:read'], csrfToken: 'x', expiresAt: 5 };

  it('reads a good answer', () => {
    expect(toMe(wire)).toEqual(wire);
    expect(toMe({ ...wire, schools: null, csrfToken: null, expiresAt: null })).toMatchObject({ schools: null, csrfToken: null, expiresAt: null });
  });

  it('drops permissions it does not know and refuses what it cannot use', () => {
    expect(toMe({ ...wire, permissions: ['school:read', 'teleport:now'] })!.permissions).toEqual(['school:read']);
    expect(toMe({ ...wire, role: 'janitor' })).toBeNull();
    expect(toMe({ ...wire, kind: 'robot' })).toBeNull();
    expect(toMe({ ...wire, schools: 'a' })).toBeNull();
    expect(toMe({ ...wire, permissions: undefined })).toBeNull();
    expect(toMe(null)).toBeNull();
    expect(toMe([wire])).toBeNull();
  });
});

describe('retryAfterMinutes', () => {
  it('reads seconds or an HTTP date, rounds up to whole minutes, at least one', () => {
    expect(retryAfterMinutes('900')).toBe(15);
    expect(retryAfterMinutes('61')).toBe(2);
    expect(retryAfterMinutes('1')).toBe(1);
    expect(retryAfterMinutes('0')).toBe(1);
    const now = Date.UTC(2025, 2, 10, 2, 0, 0);
    expect(retryAfterMinutes('Mon, 10 Mar 2025 02:05:00 GMT', now)).toBe(5);
  });

  it('says nothing when the header says nothing usable', () => {
    expect(retryAfterMinutes(null)).toBeNull();
    expect(retryAfterMinutes('')).toBeNull();
    expect(retryAfterMinutes('soon')).toBeNull();
  });
});

describe('normalizeEnrollCode', () => {
  it('groups the code as printed, whatever the case, spaces and dashes typed', () => {
    expect(normalizeEnrollCode('abcde-fgh23')).toBe('ABCDE-FGH23');
    expect(normalizeEnrollCode(' ab cdefg h23 ')).toBe('ABCDE-FGH23');
    expect(normalizeEnrollCode('ABCDEFGH23')).toBe('ABCDE-FGH23');
    expect(normalizeEnrollCode('abc')).toBe('ABC');
    expect(normalizeEnrollCode('--')).toBe('');
  });
});

describe('schoolsForRole: the scope the admin forms send', () => {
  it('sends no school for district roles, exactly one for school roles, one or none for displays', () => {
    expect(schoolsForRole('district-admin', 'a')).toEqual({ schools: null });
    expect(schoolsForRole('district-operator', '')).toEqual({ schools: null });
    expect(schoolsForRole('principal', 'a')).toEqual({ schools: ['a'] });
    expect(schoolsForRole('school-it', '')).toEqual({ missing: true });
    expect(schoolsForRole('wall-display', '')).toEqual({ schools: null });
    expect(schoolsForRole('wall-display', 'b')).toEqual({ schools: ['b'] });
  });

  it('never builds a scope the policy refuses', () => {
    for (const role of ROLES) {
      for (const picked of ['', 'a']) {
        const result = schoolsForRole(role, picked);
        if ('missing' in result) continue;
        const scope = result.schools === null ? { all: true as const } : { all: false as const, schools: result.schools };
        expect(scopeProblem(role, scope), `${role} ${picked || '(none)'}`).toBeNull();
      }
    }
  });
});
