import { describe, expect, it } from 'vitest';
import type { SchoolSummary } from '../web/api.ts';
import { MAX_TILES, cardsPerPage, districtFigures, problemTiles, wallPage } from '../web/wall.ts';

const figures: SchoolSummary['figures'] = { inBps: 1_000_000, outBps: 100_000, latencyMs: 20, lossPct: 0, linksDown: 0, projectorsOn: 2, boardsInSession: 1, headcount: 30, labTemperatureAvg: 24 };
function school(id: string, patch: Partial<SchoolSummary> = {}, figurePatch: Partial<SchoolSummary['figures']> = {}): SchoolSummary {
  return {
    id,
    name: { vi: `Trường ${id}`, en: `School ${id}` },
    level: 'primary',
    ward: { vi: 'Phường 1', en: 'Ward 1' },
    online: true,
    lastSeen: 1_000,
    devices: { total: 10, reporting: 10, problems: 0 },
    rejected: 0,
    alarms: { critical: 0, warning: 0, info: 0 },
    figures: { ...figures, ...figurePatch },
    ...patch,
  };
}

describe('problem tiles', () => {
  it('put schools offline first, then internet down, then critical alarms; an offline school gets only that tile', () => {
    const { tiles, more } = problemTiles(
      [
        school('c', { alarms: { critical: 2, warning: 0, info: 0 } }),
        school('b', {}, { linksDown: 1 }),
        school('a', { online: false, lastSeen: 5, alarms: { critical: 3, warning: 0, info: 0 } }),
        school('d'),
      ],
      'vi',
    );
    expect(tiles.map((t) => [t.kind, t.schoolId, t.count])).toEqual([
      ['offline', 'a', 1],
      ['link-down', 'b', 1],
      ['critical', 'c', 2],
    ]);
    expect(more).toBe(0);
  });

  it('say all is well when nothing is wrong, and sum up what does not fit', () => {
    expect(problemTiles([school('a')], 'vi').tiles.map((t) => t.kind)).toEqual(['all-well']);
    const many = Array.from({ length: 30 }, (_, i) => school(`s${String(i).padStart(2, '0')}`, { online: false }));
    const { tiles, more } = problemTiles(many, 'vi');
    expect(tiles).toHaveLength(MAX_TILES - 1);
    expect(more).toBe(30 - (MAX_TILES - 1));
  });
});

describe('district figures', () => {
  it('sum the schools online, average the averages, and count devices and problems everywhere', () => {
    const d = districtFigures([school('a', {}, { labTemperatureAvg: 20 }), school('b', {}, { labTemperatureAvg: 25, inBps: null }), school('c', { online: false, devices: { total: 5, reporting: 0, problems: 5 } })]);
    expect(d).toMatchObject({ schools: 3, online: 2, devicesTotal: 25, devicesReporting: 20, problems: 5 });
    expect(d.figures.inBps).toBe(1_000_000);
    expect(d.figures.headcount).toBe(60);
    expect(d.figures.labTemperatureAvg).toBe(22.5);
    expect(d.figures.latencyMs).toBe(20);
  });
});

describe('pages of schools', () => {
  const schools = Array.from({ length: 150 }, (_, i) => school(`s${i}`));

  it('turn on the clock, every display of the district together, and come round again', () => {
    const at = (n: number) => wallPage(schools, 40, 1_000 + n * 15_000, 1_000, 15_000, 'vi');
    expect(at(0)).toMatchObject({ page: 0, pages: 4 });
    expect(at(0).schools).toHaveLength(40);
    expect(at(1).page).toBe(1);
    expect(at(3).schools).toHaveLength(30);
    expect(at(4).page).toBe(0);
    // Every school is on exactly one page.
    const seen = [0, 1, 2, 3].flatMap((n) => at(n).schools.map((s) => s.id));
    expect(new Set(seen).size).toBe(150);
    // In name order ("Trường s2" before "Trường s10").
    expect(at(0).schools.slice(0, 3).map((s) => s.id)).toEqual(['s0', 's1', 's2']);
    expect(wallPage(schools.slice(0, 10), 40, 99_999, 0, 15_000, 'vi')).toMatchObject({ page: 0, pages: 1 });
  });

  it('fit as many cards as the screen holds', () => {
    // 1080p, 16 px rem, cards of 17 x 6.2 rem with 0.7 rem gaps, 600 px left for them.
    expect(cardsPerPage(1880, 600, { width: 272, height: 99.2, gap: 11.2 })).toBe(6 * 5);
    expect(cardsPerPage(100, 10, { width: 272, height: 99.2, gap: 11.2 })).toBe(1);
  });
});
