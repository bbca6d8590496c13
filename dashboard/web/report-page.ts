// The principal's report (?report=<schoolId>&from=&to=&by=): attendance by day, week or
// month over picked dates, per class with its trend and the classes below a threshold; room
// usage per room and week and per weekday and period; the labs; the cameras that did not count;
// export to CSV and to a spreadsheet (the cloud writes both, and audits the read); a print
// layout for the weekly report. Every table is a table: it prints and it reads aloud.

import { HttpError, exportUrl, fetchAttendanceSummary, fetchRoomUsage, type AttendanceSummary, type ReportQuery, type RoomUsageRange } from './api.ts';
import { el, setText } from './dom.ts';
import { formatDecimal, formatInteger } from './format.ts';
import { STRINGS, inLang, type Lang, type Strings } from './i18n.ts';
import { REPORT_PRESETS, presetDates, type ReportPreset } from './report.ts';
import type { RenderContext } from './view.ts';

export interface ReportPageDeps {
  ctx: () => RenderContext;
  /** The school's name in a language (from the overview's store), or null before it loads. */
  schoolName: (schoolId: string, lang: Lang) => string | null;
  onBack: (schoolId: string) => void;
  /** The address changed (dates, grouping): keep it in the URL, so a link or a reload shows the same report. */
  onQuery: (q: ReportQuery) => void;
}

type By = 'day' | 'week' | 'month';

let idCounter = 0;
const uid = (p: string) => `${p}-${++idCounter}`;

const pct = (v: number | null | undefined, lang: Lang) => (v === null || v === undefined ? '—' : `${formatDecimal(v, lang, 1)} %`);

export class ReportPage {
  readonly #root: HTMLElement;
  readonly #deps: ReportPageDeps;
  readonly #heading: HTMLElement;
  readonly #back: HTMLButtonElement;
  readonly #presets = new Map<ReportPreset, HTMLButtonElement>();
  readonly #from: HTMLInputElement;
  readonly #to: HTMLInputElement;
  readonly #by: HTMLSelectElement;
  readonly #threshold: HTMLInputElement;
  readonly #show: HTMLButtonElement;
  readonly #labels: Array<[HTMLElement, (t: Strings) => string]> = [];
  readonly #message: HTMLElement;
  readonly #exports: HTMLElement;
  readonly #print: HTMLButtonElement;
  readonly #body: HTMLElement;
  #schoolId: string | null = null;
  #query: ReportQuery = { from: '', to: '', by: 'week' };
  #preset: ReportPreset = 'last-week';
  #summary: AttendanceSummary | null = null;
  #usage: RoomUsageRange | null = null;
  #problem: string | null = null;
  #loading = false;
  #generation = 0;
  /**
   * School time minus real time, from the cloud's answers: 0 in a real district; a simulated
   * one may run its school days at another date. "Last week" is the school's last week.
   */
  #offsetMs: number | null = null;

  constructor(root: HTMLElement, deps: ReportPageDeps) {
    this.#root = root;
    this.#deps = deps;
    const label = <E extends HTMLElement>(node: E, of: (t: Strings) => string): E => {
      this.#labels.push([node, of]);
      return node;
    };
    const headingId = uid('rp-title');
    this.#back = el('button', { type: 'button', class: 'back no-print', 'data-testid': 'report-back' }, el('span', { 'aria-hidden': 'true' }, '←'), label(el('span'), (t) => t.reportBack));
    this.#back.addEventListener('click', () => this.#schoolId && this.#deps.onBack(this.#schoolId));
    this.#heading = el('h2', { id: headingId, tabindex: '-1', 'data-testid': 'report-title' });
    const presets = el('div', { class: 'dp-ranges', role: 'group', 'data-testid': 'report-presets' });
    for (const preset of REPORT_PRESETS) {
      const button = el('button', { type: 'button', 'data-testid': `report-${preset}`, 'aria-pressed': 'false' });
      button.addEventListener('click', () => this.#pick(preset));
      this.#presets.set(preset, button);
      presets.append(button);
    }
    const field = (control: HTMLElement, of: (t: Strings) => string) => {
      const id = uid('rp-field');
      control.id = id;
      return el('div', { class: 'filter' }, label(el('label', { for: id }), of), control);
    };
    this.#from = el('input', { type: 'date', 'data-testid': 'report-from' });
    this.#to = el('input', { type: 'date', 'data-testid': 'report-to' });
    this.#by = el('select', { 'data-testid': 'report-by' });
    this.#threshold = el('input', { type: 'number', min: '0', max: '100', step: '1', value: '90', 'data-testid': 'report-threshold' });
    this.#show = el('button', { type: 'button', class: 'primary', 'data-testid': 'report-show' });
    this.#show.addEventListener('click', () => this.#pick('custom'));
    this.#by.addEventListener('change', () => this.#pick(this.#preset));
    this.#exports = el('div', { class: 'rp-exports no-print', 'data-testid': 'report-exports' });
    this.#print = el('button', { type: 'button', class: 'no-print', 'data-testid': 'report-print' });
    this.#print.addEventListener('click', () => window.print());
    this.#message = el('p', { class: 'empty', role: 'status', 'data-testid': 'report-message' });
    this.#body = el('div', { class: 'rp-body', 'data-testid': 'report-body' });
    root.setAttribute('aria-labelledby', headingId);
    root.replaceChildren(
      el('nav', { class: 'sv-nav no-print' }, this.#back),
      el('header', { class: 'sv-header' }, el('div', { class: 'sv-title' }, this.#heading)),
      el(
        'section',
        { class: 'panel rp-controls no-print' },
        presets,
        el('div', { class: 'sv-filters' }, field(this.#from, (t) => t.rangeFrom), field(this.#to, (t) => t.rangeTo), field(this.#by, (t) => t.reportBy), field(this.#threshold, (t) => t.reportThreshold), this.#show),
        el('div', { class: 'rp-actions' }, this.#exports, this.#print),
      ),
      this.#message,
      this.#body,
    );
  }

  get schoolId(): string | null {
    return this.#schoolId;
  }

  /** Open the report of a school; dates from the address, else last week. */
  open(schoolId: string, q: Partial<ReportQuery>): void {
    const { timeZone } = this.#deps.ctx();
    if (this.#offsetMs === null && !(q.from && q.to)) {
      // The school's clock first (one question without dates), then its last week.
      this.#schoolId = schoolId;
      void this.#learnClock(schoolId, q);
      return;
    }
    const now = this.#now();
    const fallback = presetDates('last-week', now, timeZone);
    const query: ReportQuery = { from: q.from || fallback.from, to: q.to || fallback.to, by: q.by ?? 'week', threshold: q.threshold ?? 90 };
    if (schoolId === this.#schoolId && JSON.stringify(query) === JSON.stringify(this.#query)) return;
    this.#schoolId = schoolId;
    this.#query = query;
    this.#preset = REPORT_PRESETS.find((p) => p !== 'custom' && JSON.stringify(presetDates(p, now, timeZone)) === JSON.stringify({ from: query.from, to: query.to })) ?? 'custom';
    this.#offsetMs ??= 0;
    this.#from.value = query.from;
    this.#to.value = query.to;
    this.#by.value = query.by ?? 'week';
    this.#threshold.value = String(query.threshold ?? 90);
    void this.#load();
  }

  /** Now on the school's clock. */
  #now(): number {
    return this.#deps.ctx().now + (this.#offsetMs ?? 0);
  }

  async #learnClock(schoolId: string, q: Partial<ReportQuery>): Promise<void> {
    const generation = ++this.#generation;
    this.#loading = true;
    this.render();
    try {
      const probe = await fetchAttendanceSummary(schoolId, { from: '', to: '', by: 'day' });
      if (generation !== this.#generation) return;
      this.#offsetMs = probe.clockOffsetMs;
    } catch {
      if (generation !== this.#generation) return;
      this.#offsetMs = 0;
    }
    this.#schoolId = null;
    this.open(schoolId, q);
  }

  close(): void {
    this.#generation += 1;
    this.#schoolId = null;
    this.#summary = null;
    this.#usage = null;
  }

  focusHeading(): void {
    this.#heading.focus({ preventScroll: true });
    window.scrollTo({ top: 0 });
  }

  #pick(preset: ReportPreset): void {
    const { timeZone } = this.#deps.ctx();
    const now = this.#now();
    this.#preset = preset;
    const dates = preset === 'custom' ? { from: this.#from.value, to: this.#to.value } : presetDates(preset, now, timeZone);
    const threshold = Number(this.#threshold.value);
    const q: ReportQuery = { ...dates, by: this.#by.value as By, threshold: Number.isFinite(threshold) ? threshold : 90 };
    this.#from.value = q.from;
    this.#to.value = q.to;
    this.#deps.onQuery(q);
  }

  async #load(): Promise<void> {
    const schoolId = this.#schoolId;
    if (schoolId === null) return;
    const generation = ++this.#generation;
    this.#loading = true;
    this.#problem = null;
    this.render();
    try {
      const [summary, usage] = await Promise.all([fetchAttendanceSummary(schoolId, this.#query), fetchRoomUsage(schoolId, this.#query)]);
      if (generation !== this.#generation) return;
      this.#summary = summary;
      this.#usage = usage;
      this.#offsetMs = summary.clockOffsetMs;
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#summary = null;
      this.#usage = null;
      // Said in words (a backwards range, a range too long, not allowed), never a blank page.
      this.#problem = error instanceof HttpError ? error.text(this.#deps.ctx().lang) : String((error as Error).message ?? error);
    }
    this.#loading = false;
    this.render();
  }

  render(): void {
    const ctx = this.#deps.ctx();
    const { lang } = ctx;
    const t = STRINGS[lang];
    for (const [node, of] of this.#labels) setText(node, of(t));
    const schoolId = this.#schoolId ?? '';
    this.#root.dataset.schoolId = schoolId;
    this.#root.dataset.loaded = String(this.#summary !== null && !this.#loading);
    setText(this.#heading, t.reportTitle(this.#deps.schoolName(schoolId, lang) ?? schoolId, this.#query.from, this.#query.to));
    for (const [preset, button] of this.#presets) {
      setText(button, t.reportPreset[preset] ?? preset);
      button.setAttribute('aria-pressed', String(preset === this.#preset));
      // "Last week" needs the school's clock: until the cloud has told it, nothing to pick.
      button.disabled = this.#offsetMs === null;
    }
    this.#show.disabled = this.#offsetMs === null;
    if (this.#by.options.length === 0) for (const by of ['day', 'week', 'month']) this.#by.append(el('option', { value: by }));
    for (const option of this.#by.options) setText(option, t.reportByOption[option.value] ?? option.value);
    this.#by.value = this.#query.by ?? 'week';
    setText(this.#show, t.rangeShow);
    setText(this.#print, t.reportPrint);
    this.#renderExports(ctx);
    const message = this.#problem ?? (this.#loading ? t.chartsLoading : '');
    setText(this.#message, message);
    this.#message.hidden = message === '';
    this.#message.dataset.problem = this.#problem === null ? 'none' : 'error';
    if (this.#summary === null || this.#usage === null) {
      if (this.#problem !== null) this.#body.replaceChildren();
      return;
    }
    this.#body.replaceChildren(...this.#attendanceSections(this.#summary, lang), ...this.#usageSections(this.#usage, lang));
  }

  #renderExports(ctx: RenderContext): void {
    const t = STRINGS[ctx.lang];
    if (this.#schoolId === null) return;
    const link = (what: 'attendance' | 'room-usage', format: 'csv' | 'xlsx') =>
      el('a', { class: 'button', href: exportUrl(what, this.#schoolId!, { ...this.#query, format, lang: ctx.lang }), download: '', 'data-testid': `export-${what}-${format}` }, t.reportExport(what === 'attendance' ? t.reportAttendance : t.reportRooms, format === 'csv' ? 'CSV' : 'Excel'));
    this.#exports.replaceChildren(link('attendance', 'csv'), link('attendance', 'xlsx'), link('room-usage', 'csv'), link('room-usage', 'xlsx'));
  }

  #attendanceSections(s: AttendanceSummary, lang: Lang): HTMLElement[] {
    const t = STRINGS[lang];
    const figures = el(
      'dl',
      { class: 'wall-figures rp-figures', 'data-testid': 'report-figures' },
      el('div', { class: 'wall-figure' }, el('dt', {}, t.reportRate), el('dd', { 'data-testid': 'report-rate' }, pct(s.total.attendancePct, lang))),
      el('div', { class: 'wall-figure' }, el('dt', {}, t.reportSchoolDays), el('dd', {}, formatInteger(s.schoolDays, lang))),
      el('div', { class: 'wall-figure' }, el('dt', {}, t.reportLessonsCounted), el('dd', {}, `${formatInteger(s.total.counted, lang)}/${formatInteger(s.total.lessons, lang)}`)),
    );
    // Attendance per day, week or month: a table with a bar per row (prints, reads aloud).
    const buckets = el(
      'table',
      { class: 'rp-table', 'data-testid': 'report-buckets' },
      el('caption', {}, t.reportByHeading(t.reportByOption[s.by] ?? s.by)),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, t.reportPeriod), el('th', { scope: 'col' }, t.reportRate), el('th', { scope: 'col' }, t.reportLessonsCounted))),
      el(
        'tbody',
        {},
        ...s.buckets.map((b) =>
          el(
            'tr',
            { 'data-key': b.key },
            el('th', { scope: 'row' }, b.from === b.to ? b.from : `${b.key} (${b.from} – ${b.to})`),
            el('td', {}, el('span', { class: 'bar', style: `--pct: ${b.attendancePct ?? 0}` }), ' ', pct(b.attendancePct, lang)),
            el('td', {}, `${formatInteger(b.counted, lang)}/${formatInteger(b.lessons, lang)}`),
          ),
        ),
      ),
    );
    const below = el(
      'section',
      { class: 'panel', 'data-testid': 'report-below' },
      el('h3', {}, t.reportBelow(s.threshold)),
      s.below.length === 0
        ? el('p', { class: 'none' }, t.reportBelowNone)
        : el('ul', {}, ...s.below.map((c) => el('li', { 'data-class-id': c.classId }, `${c.className}: ${pct(c.attendancePct, lang)}`))),
    );
    const classes = el(
      'table',
      { class: 'rp-table', 'data-testid': 'report-classes' },
      el('caption', {}, t.reportClasses),
      el(
        'thead',
        {},
        el('tr', {}, el('th', { scope: 'col' }, t.attendanceClass), el('th', { scope: 'col' }, t.reportEnrolled), el('th', { scope: 'col' }, t.reportRate), el('th', { scope: 'col' }, t.reportChange), ...s.buckets.map((b) => el('th', { scope: 'col' }, b.key))),
      ),
      el(
        'tbody',
        {},
        ...s.classes.map((c) =>
          el(
            'tr',
            { 'data-class-id': c.classId, ...(c.below ? { 'data-below': 'true' } : {}) },
            el('th', { scope: 'row' }, c.className),
            el('td', {}, formatInteger(c.enrolled, lang)),
            el('td', {}, pct(c.total.attendancePct, lang), c.below ? el('span', { class: 'low' }, ` ${t.attendanceLow}`) : ''),
            el('td', {}, c.change === null ? '—' : `${c.change > 0 ? '+' : ''}${formatDecimal(c.change, lang, 1)}`),
            ...c.trend.map((p) => el('td', {}, pct(p.attendancePct, lang))),
          ),
        ),
      ),
    );
    const cameraProblems = s.cameras.filter((c) => c.problem !== null);
    const cameras = el(
      'section',
      { class: 'panel', 'data-testid': 'report-cameras' },
      el('h3', {}, t.reportCameras),
      cameraProblems.length === 0
        ? el('p', { class: 'none' }, t.reportCamerasOk)
        : el('ul', {}, ...cameraProblems.map((c) => el('li', { 'data-room-id': c.roomId, 'data-problem': c.problem ?? '' }, t.reportCameraProblem[c.problem ?? ''] ? `${c.roomId}: ${t.reportCameraProblem[c.problem ?? '']} (${c.counted}/${c.lessons})` : c.roomId))),
    );
    return [figures, el('section', { class: 'panel' }, buckets), below, el('section', { class: 'panel rp-wide' }, classes), cameras];
  }

  #usageSections(u: RoomUsageRange, lang: Lang): HTMLElement[] {
    const t = STRINGS[lang];
    const rooms = el(
      'table',
      { class: 'rp-table', 'data-testid': 'report-rooms' },
      el('caption', {}, t.reportRoomsHeading),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, t.filterRoom), el('th', { scope: 'col' }, t.reportUse), ...u.weeks.map((w) => el('th', { scope: 'col' }, w.key)))),
      el(
        'tbody',
        {},
        ...u.rooms.map((r) =>
          el(
            'tr',
            { 'data-room-id': r.roomId },
            el('th', { scope: 'row' }, inLang(r.name, lang)),
            el('td', {}, r.cameraId === null ? t.reportNoData : pct(r.total.usePct, lang)),
            ...r.weeks.map((w) => el('td', {}, r.cameraId === null ? '—' : pct(w.usePct, lang))),
          ),
        ),
      ),
    );
    // Weekdays x periods for the whole school: how much of the school is in use when.
    const days = [...new Set(u.grid.map((c) => c.day))].sort((a, b) => a - b);
    const grid = el(
      'table',
      { class: 'rp-table rp-grid', 'data-testid': 'report-grid' },
      el('caption', {}, t.reportGrid),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, t.reportPeriod), ...days.map((d) => el('th', { scope: 'col' }, t.weekday[d] ?? String(d))))),
      el(
        'tbody',
        {},
        ...u.periods.map((p) =>
          el(
            'tr',
            {},
            el('th', { scope: 'row' }, `${t.attendancePeriod(String(p.n))} (${p.start})`),
            ...days.map((d) => {
              const cell = u.grid.find((c) => c.day === d && c.period === p.n);
              const state = !cell || cell.counted === 0 ? 'none' : (cell.usePct ?? 0) >= 50 ? 'used' : 'empty';
              return el('td', { 'data-state': state }, cell && cell.counted > 0 ? pct(cell.usePct, lang) : t.reportNoData);
            }),
          ),
        ),
      ),
    );
    const labs = el(
      'section',
      { class: 'panel', 'data-testid': 'report-labs' },
      el('h3', {}, t.reportLabs),
      u.labs.length === 0
        ? el('p', { class: 'none' }, t.reportNoLabs)
        : el(
            'ul',
            {},
            ...u.labs.map((l) =>
              el(
                'li',
                { 'data-room-id': l.roomId },
                `${inLang(l.name, lang)}: ${l.cameraId === null ? t.reportNoData : t.reportLabUse(pct(l.total.usePct, lang), l.total.inUse, l.total.counted)}`,
                l.controller ? ` · ${t.reportLabPrinting(l.controller.periodsPrinting, l.controller.periodsReporting)}` : '',
              ),
            ),
          ),
    );
    return [el('p', { class: 'rp-basis' }, t.reportBasis), el('section', { class: 'panel rp-wide' }, rooms), el('section', { class: 'panel' }, grid), labs];
  }
}
