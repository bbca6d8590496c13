// The page's copy of every school's summary: merges the /api/schools snapshot with live
// 'school' events and sorts for display. No DOM here: unit-tested in Node.

import type { SchoolSummary } from './api.ts';
import type { Lang } from './i18n.ts';
import { collator } from './format.ts';

/** One school that changed: `before` is absent for a new school, `after` for a removed one. */
export interface SchoolChange {
  id: string;
  before?: SchoolSummary;
  after?: SchoolSummary;
}

export type ChangeListener = (changes: SchoolChange[]) => void;

export class SchoolStore {
  readonly #schools = new Map<string, SchoolSummary>();
  readonly #listeners = new Set<ChangeListener>();
  /** Live events received while a snapshot request is in flight, by school id. */
  #sinceSnapshot: Map<string, SchoolSummary> | null = null;
  #snapshotToken = 0;

  get size(): number {
    return this.#schools.size;
  }

  get(id: string): SchoolSummary | undefined {
    return this.#schools.get(id);
  }

  all(): SchoolSummary[] {
    return [...this.#schools.values()];
  }

  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Call just before requesting /api/schools. Events that arrive while the request is in
   * flight may be newer than the snapshot; they are kept and laid over it on arrival.
   * Returns a token: only the latest request's snapshot is applied.
   */
  beginSnapshot(): number {
    this.#sinceSnapshot = new Map();
    this.#snapshotToken += 1;
    return this.#snapshotToken;
  }

  /**
   * Replace the whole state with a snapshot (schools missing from it are removed).
   * Returns false when a newer snapshot was requested meanwhile and this one was dropped.
   */
  applySnapshot(token: number, snapshot: readonly SchoolSummary[]): boolean {
    if (token !== this.#snapshotToken) return false;
    const next = new Map<string, SchoolSummary>();
    for (const school of snapshot) next.set(school.id, school);
    // The contract has no per-school version, so "newer" is judged by lastSeen: an event
    // that arrived during the request wins unless the snapshot has seen the school later.
    for (const [id, live] of this.#sinceSnapshot ?? []) {
      const snap = next.get(id);
      if (snap === undefined || (live.lastSeen ?? -Infinity) >= (snap.lastSeen ?? -Infinity)) next.set(id, live);
    }
    this.#sinceSnapshot = null;

    const changes: SchoolChange[] = [];
    for (const [id, before] of this.#schools) {
      const after = next.get(id);
      if (after === undefined) changes.push({ id, before });
      else if (!sameSummary(before, after)) changes.push({ id, before, after });
    }
    for (const [id, after] of next) if (!this.#schools.has(id)) changes.push({ id, after });

    this.#schools.clear();
    for (const [id, school] of next) this.#schools.set(id, school);
    this.#emit(changes);
    return true;
  }

  /** A live 'school' event: the full, current summary of one school. */
  applyEvent(school: SchoolSummary): void {
    this.#sinceSnapshot?.set(school.id, school);
    const before = this.#schools.get(school.id);
    this.#schools.set(school.id, school);
    if (before === undefined) this.#emit([{ id: school.id, after: school }]);
    else if (!sameSummary(before, school)) this.#emit([{ id: school.id, before, after: school }]);
  }

  #emit(changes: SchoolChange[]): void {
    if (changes.length === 0) return;
    for (const listener of this.#listeners) listener(changes);
  }
}

function sameSummary(a: SchoolSummary, b: SchoolSummary): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The school's name in the UI language, falling back to the other language, then the id. */
export function schoolName(school: SchoolSummary, lang: Lang): string {
  const other: Lang = lang === 'vi' ? 'en' : 'vi';
  return school.name[lang].trim() || school.name[other].trim() || school.id;
}

/** Display order: offline schools first (they need attention), then by name, then by id. */
export function sortForDisplay(schools: readonly SchoolSummary[], lang: Lang): SchoolSummary[] {
  const c = collator(lang);
  return [...schools].sort(
    (a, b) =>
      Number(a.online) - Number(b.online) ||
      c.compare(schoolName(a, lang), schoolName(b, lang)) ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

export interface DistrictTotals {
  schools: number;
  online: number;
  offline: number;
  devicesReporting: number;
  devicesTotal: number;
  headcount: number;
  /** Sum over online schools that report a rate; null when none does. */
  inBps: number | null;
}

export function districtTotals(schools: readonly SchoolSummary[]): DistrictTotals {
  const totals: DistrictTotals = {
    schools: schools.length,
    online: 0,
    offline: 0,
    devicesReporting: 0,
    devicesTotal: 0,
    headcount: 0,
    inBps: null,
  };
  for (const s of schools) {
    if (s.online) totals.online += 1;
    else totals.offline += 1;
    totals.devicesReporting += s.devices.reporting;
    totals.devicesTotal += s.devices.total;
    if (!s.online) continue;
    // An offline school's last figures are stale: they do not count towards "now".
    totals.headcount += s.figures.headcount ?? 0;
    if (s.figures.inBps !== null) totals.inBps = (totals.inBps ?? 0) + s.figures.inBps;
  }
  return totals;
}
