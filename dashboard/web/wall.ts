// What a wall display in the operations center shows, decided without the DOM (unit-tested
// in Node): problems first, as tiles read from across the room (schools offline, schools
// whose internet is down, schools with critical alarms), then the district's figures, then
// every school in pages that turn by themselves when they do not fit on the screen.

import { FIGURE_NAMES, FIGURES, type FigureName } from '@schoolops/device-profiles/kinds';
import type { SchoolSummary } from './api.ts';
import { collator } from './format.ts';
import type { Lang } from './i18n.ts';
import { schoolName } from './store.ts';

export type TileKind = 'offline' | 'link-down' | 'critical' | 'all-well';

export interface Tile {
  kind: TileKind;
  schoolId: string | null;
  name: string;
  /** offline: since when (last seen); critical: how many alarms. */
  since: number | null;
  count: number;
}

/** Most problem tiles shown; more are summed up in the last one ("+N"). */
export const MAX_TILES = 12;

const TILE_RANK: Record<TileKind, number> = { offline: 0, 'link-down': 1, critical: 2, 'all-well': 3 };

/**
 * The problem tiles, widest first: a school offline (none of its figures is current), a
 * school whose internet is down, a school with critical alarms. A school offline gets only
 * that tile. With nothing wrong, one tile says so.
 */
export function problemTiles(schools: readonly SchoolSummary[], lang: Lang): { tiles: Tile[]; more: number } {
  const tiles: Tile[] = [];
  for (const s of schools) {
    const name = schoolName(s, lang);
    if (!s.online) {
      tiles.push({ kind: 'offline', schoolId: s.id, name, since: s.lastSeen, count: 1 });
      continue;
    }
    if ((s.figures.linksDown ?? 0) > 0) tiles.push({ kind: 'link-down', schoolId: s.id, name, since: null, count: s.figures.linksDown });
    if (s.alarms.critical > 0) tiles.push({ kind: 'critical', schoolId: s.id, name, since: null, count: s.alarms.critical });
  }
  if (tiles.length === 0) return { tiles: [{ kind: 'all-well', schoolId: null, name: '', since: null, count: 0 }], more: 0 };
  const c = collator(lang);
  tiles.sort((a, b) => TILE_RANK[a.kind] - TILE_RANK[b.kind] || (a.since ?? 0) - (b.since ?? 0) || c.compare(a.name, b.name));
  if (tiles.length <= MAX_TILES) return { tiles, more: 0 };
  return { tiles: tiles.slice(0, MAX_TILES - 1), more: tiles.length - (MAX_TILES - 1) };
}

export interface DistrictFigures {
  schools: number;
  online: number;
  devicesReporting: number;
  devicesTotal: number;
  problems: number;
  criticalAlarms: number;
  /** Each registry figure summed over the schools online (an offline school's figures are stale); null when none has it. */
  figures: Record<FigureName, number | null>;
}

/** The district's figures from the schools' summaries. Averages (lab temperature) are averaged, not summed. */
export function districtFigures(schools: readonly SchoolSummary[]): DistrictFigures {
  const out: DistrictFigures = { schools: schools.length, online: 0, devicesReporting: 0, devicesTotal: 0, problems: 0, criticalAlarms: 0, figures: {} as Record<FigureName, number | null> };
  const sums = new Map<FigureName, { sum: number; n: number; max: number }>();
  for (const s of schools) {
    out.devicesTotal += s.devices.total;
    out.devicesReporting += s.devices.reporting;
    out.problems += s.devices.problems;
    out.criticalAlarms += s.alarms.critical;
    if (!s.online) continue;
    out.online += 1;
    for (const name of FIGURE_NAMES) {
      const v = s.figures[name];
      if (v === null || v === undefined) continue;
      const acc = sums.get(name) ?? { sum: 0, n: 0, max: -Infinity };
      acc.sum += v;
      acc.n += 1;
      acc.max = Math.max(acc.max, v);
      sums.set(name, acc);
    }
  }
  for (const name of FIGURE_NAMES) {
    const acc = sums.get(name);
    const aggregate = FIGURES[name].aggregate;
    out.figures[name] = acc === undefined ? null : aggregate === 'avg' ? Math.round((acc.sum / acc.n) * 10) / 10 : aggregate === 'max' ? acc.max : acc.sum;
  }
  return out;
}

export interface WallPage {
  page: number;
  pages: number;
  schools: SummaryList;
}
type SummaryList = SchoolSummary[];

/**
 * The page of schools to show at `now`: pages of `perPage` (at least one), turning every
 * `turnMs` from `startedAt`, schools in name order. The clock decides, so every display of the
 * same district turns together and a test moves the clock instead of waiting.
 */
export function wallPage(schools: readonly SchoolSummary[], perPage: number, now: number, startedAt: number, turnMs: number, lang: Lang): WallPage {
  const size = Math.max(1, Math.floor(perPage));
  const c = collator(lang);
  const sorted = [...schools].sort((a, b) => c.compare(schoolName(a, lang), schoolName(b, lang)) || a.id.localeCompare(b.id));
  const pages = Math.max(1, Math.ceil(sorted.length / size));
  const page = pages === 1 ? 0 : Math.floor(Math.max(0, now - startedAt) / Math.max(1, turnMs)) % pages;
  return { page, pages, schools: sorted.slice(page * size, (page + 1) * size) };
}

/** How many cards fit: columns across the width, rows down the height left for them. */
export function cardsPerPage(width: number, height: number, card: { width: number; height: number; gap: number }): number {
  const columns = Math.max(1, Math.floor((width + card.gap) / (card.width + card.gap)));
  const rows = Math.max(1, Math.floor((height + card.gap) / (card.height + card.gap)));
  return columns * rows;
}
