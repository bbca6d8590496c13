// DOM for the schools table and the district totals. Rows are created once per school and
// updated in place, so a live update touches only the cells whose text changed.

import type { SchoolSummary } from './api.ts';
import { el, setText } from './dom.ts';
import {
  formatBitrate,
  formatDateTime,
  formatInteger,
  formatLatency,
  formatPercent,
  formatRelative,
  formatTemperature,
} from './format.ts';
import { STRINGS, inLang, type Lang } from './i18n.ts';
import { searchWithSchool } from './route.ts';
import { districtTotals, schoolName, sortForDisplay } from './store.ts';

/** What every render needs to know besides the school itself. */
export interface RenderContext {
  lang: Lang;
  /** Current time in ms epoch, corrected to the server's clock. */
  now: number;
  timeZone: string;
}

const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');

let flashColor: string | null = null;

/** Draw the eye to a figure that just changed; a short fade, not a blink. */
function flash(node: HTMLElement): void {
  if (reducedMotion.matches || typeof node.animate !== 'function') return;
  // The colour lives in styles.css (--flash); read once, keyframes take resolved values.
  flashColor ??= getComputedStyle(document.documentElement).getPropertyValue('--flash').trim() || 'rgba(56, 189, 248, 0.4)';
  node.animate([{ backgroundColor: flashColor }, { backgroundColor: 'rgba(0, 0, 0, 0)' }], {
    duration: 1200,
    easing: 'ease-out',
  });
}

/** Set text (and the raw value for tests/tools); flash when it changed and flashing is on. */
function setFigure(node: HTMLElement, text: string, raw: number | null, withFlash: boolean): void {
  const value = raw === null ? '' : String(raw);
  if (node.dataset.value !== value) node.dataset.value = value;
  if (node.textContent === text) return;
  const hadText = node.textContent !== '';
  node.textContent = text;
  if (withFlash && hadText) flash(node);
}

interface Row {
  tr: HTMLTableRowElement;
  name: HTMLElement;
  meta: HTMLElement;
  badge: HTMLElement;
  lastSeen: HTMLTimeElement;
  devices: HTMLElement;
  rejected: HTMLElement;
  problems: HTMLElement;
  alarms: HTMLElement;
  inBps: HTMLElement;
  outBps: HTMLElement;
  latency: HTMLElement;
  loss: HTMLElement;
  projectors: HTMLElement;
  boards: HTMLElement;
  headcount: HTMLElement;
  labTemp: HTMLElement;
}

/** The address of a school's device view; main.ts turns a plain click into in-page navigation. */
function schoolHref(id: string): string {
  return searchWithSchool(location.search, id);
}

function createRow(id: string): Row {
  const span = (testid: string, cls = 'fig') => el('span', { class: cls, 'data-testid': `${testid}-${id}` });
  const row: Row = {
    tr: el('tr', { 'data-testid': `school-${id}`, 'data-school-id': id }),
    name: span('name', 'name'),
    meta: span('meta', 'meta'),
    badge: span('online', 'badge'),
    lastSeen: el('time', { class: 'ago', 'data-testid': `lastseen-${id}` }),
    devices: span('devices'),
    rejected: span('rejected', 'chip'),
    problems: span('problems', 'chip warn'),
    alarms: span('alarms', 'chip alarm'),
    inBps: span('inbps'),
    outBps: span('outbps'),
    latency: span('latency'),
    loss: span('loss', 'fig sub'),
    projectors: span('projectors'),
    boards: span('boards'),
    headcount: span('headcount'),
    labTemp: span('labtemp'),
  };
  row.tr.append(
    // A real link: keyboard (Enter), a new tab, a copied address all open the school's view.
    el('th', { scope: 'row', class: 'c-school' }, el('a', { class: 'school-link', href: schoolHref(id) }, row.name), row.meta),
    el('td', { class: 'c-status' }, row.badge),
    el('td', { class: 'c-lastseen' }, row.lastSeen),
    el('td', { class: 'num c-devices' }, row.devices, row.alarms, row.problems, row.rejected),
    el('td', { class: 'num' }, row.inBps),
    el('td', { class: 'num' }, row.outBps),
    el('td', { class: 'num c-latency' }, row.latency, row.loss),
    el('td', { class: 'num' }, row.projectors),
    el('td', { class: 'num' }, row.boards),
    el('td', { class: 'num' }, row.headcount),
    el('td', { class: 'num' }, row.labTemp),
  );
  return row;
}

function updateLastSeen(row: Row, school: SchoolSummary, ctx: RenderContext): void {
  setText(row.lastSeen, formatRelative(school.lastSeen, ctx.now, ctx.lang));
  const iso = school.lastSeen === null ? '' : new Date(school.lastSeen).toISOString();
  if (row.lastSeen.dateTime !== iso) {
    row.lastSeen.dateTime = iso;
    row.lastSeen.title = school.lastSeen === null ? '' : formatDateTime(school.lastSeen, ctx.timeZone);
  }
  row.lastSeen.dataset.value = school.lastSeen === null ? '' : String(school.lastSeen);
}

function updateRow(row: Row, school: SchoolSummary, ctx: RenderContext, withFlash: boolean): void {
  const t = STRINGS[ctx.lang];
  const { lang } = ctx;
  const f = school.figures;

  row.tr.dataset.online = String(school.online);
  row.tr.classList.toggle('offline', !school.online);

  setText(row.name, schoolName(school, lang));
  setText(row.meta, [t.level[school.level] ?? school.level, inLang(school.ward, lang)].filter(Boolean).join(' · '));

  row.badge.dataset.online = String(school.online);
  setText(row.badge, school.online ? t.online : t.offline);

  updateLastSeen(row, school, ctx);

  const { reporting, total } = school.devices;
  row.devices.dataset.reporting = String(reporting);
  row.devices.dataset.total = String(total);
  row.devices.classList.toggle('short', reporting < total);
  row.devices.title = t.devicesReporting(formatInteger(reporting, lang), formatInteger(total, lang));
  setFigure(row.devices, `${formatInteger(reporting, lang)}/${formatInteger(total, lang)}`, reporting, withFlash);

  // Older clouds do not send these: treat them as none.
  const problems = school.devices.problems ?? 0;
  row.problems.hidden = problems <= 0;
  row.problems.title = t.problemsHint;
  setFigure(row.problems, t.problems(formatInteger(problems, lang)), problems, withFlash);
  const alarms = school.alarms ?? { critical: 0, warning: 0, info: 0 };
  const raised = alarms.critical + alarms.warning;
  row.alarms.hidden = raised <= 0;
  row.alarms.dataset.severity = alarms.critical > 0 ? 'critical' : 'warning';
  row.alarms.title = t.alarmsHint(formatInteger(alarms.critical, lang), formatInteger(alarms.warning, lang));
  setFigure(row.alarms, t.alarms(formatInteger(raised, lang)), raised, withFlash);

  row.rejected.hidden = school.rejected <= 0;
  row.rejected.title = t.rejectedHint;
  setFigure(row.rejected, t.rejected(formatInteger(school.rejected, lang)), school.rejected, withFlash);

  setFigure(row.inBps, formatBitrate(f.inBps, lang), f.inBps, withFlash);
  setFigure(row.outBps, formatBitrate(f.outBps, lang), f.outBps, withFlash);
  setFigure(row.latency, formatLatency(f.latencyMs, lang), f.latencyMs, withFlash);
  // Loss is shown only when there is some: '0%' on every row would be noise on a wall.
  const lossy = f.lossPct !== null && f.lossPct > 0;
  row.loss.hidden = !lossy;
  setFigure(row.loss, lossy ? t.loss(formatPercent(f.lossPct, lang)) : '', f.lossPct, withFlash && lossy);
  setFigure(row.projectors, formatInteger(f.projectorsOn, lang), f.projectorsOn, withFlash);
  setFigure(row.boards, formatInteger(f.boardsInSession, lang), f.boardsInSession, withFlash);
  setFigure(row.headcount, formatInteger(f.headcount, lang), f.headcount, withFlash);
  setFigure(row.labTemp, formatTemperature(f.labTemperatureAvg, lang), f.labTemperatureAvg, withFlash);
}

export class SchoolTable {
  readonly #tbody: HTMLTableSectionElement;
  readonly #rows = new Map<string, Row>();
  #order: string[] = [];

  constructor(tbody: HTMLTableSectionElement) {
    this.#tbody = tbody;
  }

  /**
   * Bring the table in line with `schools`. `changed` lists the ids whose data changed since
   * the last render (their figures flash); pass null to refresh everything without flashing
   * (first paint, language switch).
   */
  render(schools: readonly SchoolSummary[], changed: ReadonlySet<string> | null, ctx: RenderContext): void {
    const present = new Set<string>();
    for (const school of schools) {
      present.add(school.id);
      let row = this.#rows.get(school.id);
      const isNew = row === undefined;
      if (row === undefined) {
        row = createRow(school.id);
        this.#rows.set(school.id, row);
      }
      if (isNew || changed === null || changed.has(school.id)) updateRow(row, school, ctx, !isNew && changed !== null);
    }
    for (const [id, row] of this.#rows) {
      if (present.has(id)) continue;
      row.tr.remove();
      this.#rows.delete(id);
    }

    const order = sortForDisplay(schools, ctx.lang).map((s) => s.id);
    if (order.length !== this.#order.length || order.some((id, i) => id !== this.#order[i])) {
      // append() moves existing rows; only runs when the order actually changed.
      this.#tbody.append(...order.map((id) => this.#rows.get(id)!.tr));
      this.#order = order;
    }
  }

  /** Relative "last seen" texts age with the clock; called once a second. */
  tick(schools: readonly SchoolSummary[], ctx: RenderContext): void {
    for (const school of schools) {
      const row = this.#rows.get(school.id);
      if (row !== undefined) updateLastSeen(row, school, ctx);
    }
  }
}

export interface TotalsView {
  online: HTMLElement;
  offline: HTMLElement;
  devices: HTMLElement;
  headcount: HTMLElement;
  inBps: HTMLElement;
}

export function renderTotals(view: TotalsView, schools: readonly SchoolSummary[], lang: Lang, withFlash: boolean): void {
  const t = districtTotals(schools);
  setFigure(view.online, `${formatInteger(t.online, lang)}/${formatInteger(t.schools, lang)}`, t.online, withFlash);
  setFigure(view.offline, formatInteger(t.offline, lang), t.offline, withFlash);
  view.offline.closest('.kpi')?.classList.toggle('alert', t.offline > 0);
  setFigure(
    view.devices,
    `${formatInteger(t.devicesReporting, lang)}/${formatInteger(t.devicesTotal, lang)}`,
    t.devicesReporting,
    withFlash,
  );
  setFigure(view.headcount, formatInteger(t.headcount, lang), t.headcount, withFlash);
  setFigure(view.inBps, formatBitrate(t.inBps, lang), t.inBps, withFlash);
}
