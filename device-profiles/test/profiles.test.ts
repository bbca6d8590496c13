import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BUILTIN_PROFILES_DIR,
  DEVICE_KINDS,
  ProfileError,
  checkValues,
  loadProfiles,
} from '../src/index.ts';

function tempDirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'profiles-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const projector = () => JSON.parse(readFileSync(join(BUILTIN_PROFILES_DIR, 'epson-eb-x51.json'), 'utf8'));

describe('device profiles', () => {
  it('every shipped profile is valid, and every device kind has one', () => {
    const registry = loadProfiles();
    expect(registry.size).toBeGreaterThanOrEqual(5);
    const kinds = new Set([...registry.values()].map((p) => p.kind));
    expect([...kinds].sort()).toEqual([...DEVICE_KINDS].sort());
  });

  it('names file, JSON path and reason for a schema violation', () => {
    const bad = projector();
    bad.metrics[3].type = 'float';
    const dir = tempDirWith({ 'bad.json': JSON.stringify(bad) });
    try {
      loadProfiles([dir]);
      expect.unreachable('a bad profile must not load');
    } catch (error) {
      expect(error).toBeInstanceOf(ProfileError);
      const problem = (error as ProfileError).problems[0]!;
      expect(problem.file).toBe(join(dir, 'bad.json'));
      expect(problem.path).toBe('/metrics/3/type');
      expect((error as Error).message).toContain('bad.json: /metrics/3/type');
    }
  });

  it('reports unknown fields, syntax errors and cross-reference errors, all at once', () => {
    const typo = projector();
    typo.reportIntervalSecs = 30;
    const dangling = projector();
    dangling.id = 'epson-other';
    dangling.health.rules[0].metric = 'lampError';
    const dir = tempDirWith({
      'a-typo.json': JSON.stringify(typo),
      'b-syntax.json': '{ "id": "x", ',
      'c-dangling.json': JSON.stringify(dangling),
    });
    let problems: ProfileError['problems'] = [];
    try {
      loadProfiles([dir]);
    } catch (error) {
      problems = (error as ProfileError).problems;
    }
    expect(problems.map((p) => [p.file.split('/').pop(), p.path])).toEqual([
      ['a-typo.json', ''],
      ['b-syntax.json', ''],
      ['c-dangling.json', '/health/rules/0/metric'],
    ]);
    expect(problems[0]!.reason).toContain('reportIntervalSecs');
    expect(problems[2]!.reason).toContain('lampError');
  });

  it('refuses the same profile id in two files', () => {
    const dir = tempDirWith({ 'one.json': JSON.stringify(projector()), 'two.json': JSON.stringify(projector()) });
    expect(() => loadProfiles([dir])).toThrow(/two\.json: \/id: profile id "epson-eb-x51" is already defined in one\.json/);
  });

  it('checks a sample against its profile: type, range, enum and unknown metric', () => {
    const profile = loadProfiles().get('epson-eb-x51')!;
    expect(checkValues(profile, { power: 'on', lampHours: 1200, avMute: false })).toBeNull();
    expect(checkValues(profile, { lampHours: 'many' })).toMatchObject({ reason: 'wrong_type', metric: 'lampHours' });
    expect(checkValues(profile, { lampHours: 12.5 })).toMatchObject({ reason: 'wrong_type' });
    expect(checkValues(profile, { lampHours: -1 })).toMatchObject({ reason: 'out_of_range' });
    expect(checkValues(profile, { power: 'exploded' })).toMatchObject({ reason: 'out_of_range', metric: 'power' });
    expect(checkValues(profile, { brightness: 3 })).toMatchObject({ reason: 'unknown_metric', metric: 'brightness' });
  });
});
