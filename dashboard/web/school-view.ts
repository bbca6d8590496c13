// DOM for one school's devices: a header with counts, the raised alarms, then a table per
// device kind. Rows are keyed by device id and updated in place, so a refresh every few
// seconds touches only what changed and keeps a screen reader's place.

import { HttpError, type AttendanceDay, type DeviceAlarm, type DeviceView, type RoomView, type SchoolSummary } from './api.ts';
import { InternetPanel } from './internet-panel.ts';
import { NO_FILTER, STATUS_FILTERS, filterDevices, problemDevice, rankProblems, roomsOf, type DeviceFilter, type StatusFilter } from './school-problems.ts';
import { AttendanceSection } from './attendance-view.ts';
import {
  deviceName,
  formatMetric,
  groupByKind,
  hasProblem,
  keyValues,
  kindLabel,
  quickCommands,
  schoolCounts,
  severityLabel,
  statusWords,
  visibleDevices,
} from './device-values.ts';
import { el, replaceKeepingFocus, setAttr, setText } from './dom.ts';
import { formatDateTime, formatInteger, formatRelative, formatSince } from './format.ts';
import { STRINGS, inLang, type Lang } from './i18n.ts';
import { searchFor } from './route.ts';
import { schoolName } from './store.ts';
import type { RenderContext } from './view.ts';

/** Everything the view shows; the page (school-page.ts) owns it. */
export interface SchoolViewState {
  schoolId: string;
  /** From the overview's store: name, level, ward, online. Absent until the schools load. */
  summary: SchoolSummary | undefined;
  /** null until the first answer. */
  devices: DeviceView[] | null;
  alarms: DeviceAlarm[];
  /** Today's attendance per lesson; null until loaded (or when it could not be). */
  attendance: AttendanceDay | null;
  /** The school's rooms by id (names for the room filter and the search). */
  rooms: Map<string, RoomView>;
  /** When `devices` was fetched (server clock), ms epoch. */
  loadedAt: number | null;
  /**
   * failed: the last refresh failed (the data shown is the last good one); forbidden: the
   * school is not in the signed-in principal's scope (the page's own check or a 403).
   */
  problem: 'none' | 'failed' | 'not-found' | 'forbidden';
}

/** What the signed-in role gets on a school's page (auth.ts sectionsFor). */
export interface SchoolAccess {
  /** A way back to the overview: not for someone whose whole scope is this one school. */
  back: boolean;
  /** The internet link's devices (router, probe) and their alarms. */
  link: boolean;
  /** One-click device commands. */
  commands: boolean;
  /** A link to the school's attendance and room usage report (roles that may read attendance). */
  report?: boolean;
}

/** Sends a command; resolves when the cloud accepted it (202), throws an HttpError when not. */
export type CommandSender = (deviceId: string, name: string) => Promise<void>;

const DETAIL_MAX = 160;
/** Problems listed at the top of a school's page; the others are behind the status filter. */
const PROBLEMS_SHOWN = 8;

/** A shape besides colour for each state (forced colours, colour blindness). */
const STATE_ICON: Record<string, string> = { ok: '✓', unreachable: '✕', faulty: '!', silent: '…', unknown: '?' };

interface DeviceRow {
  tr: HTMLTableRowElement;
  name: HTMLElement;
  model: HTMLElement;
  status: HTMLElement;
  statusIcon: HTMLElement;
  statusLabel: HTMLElement;
  reason: HTMLElement;
  alarmChip: HTMLElement;
  values: HTMLUListElement;
  valuesKey: string;
  updated: HTMLTimeElement;
  /** The command buttons' box, present when the role may send commands. */
  commands: HTMLElement | null;
  commandButtons: Map<string, HTMLButtonElement>;
  commandResult: HTMLElement | null;
  /** The command last sent from this row and how it went, re-worded on a language switch. */
  commandOutcome: { state: 'sending' | 'sent' | 'failed'; reason: string; forbidden: boolean } | null;
}

interface Group {
  section: HTMLElement;
  title: HTMLElement;
  count: HTMLElement;
  tbody: HTMLTableSectionElement;
  head: [HTMLElement, HTMLElement, HTMLElement, HTMLElement];
  order: string[];
}

let idCounter = 0;
const uid = (prefix: string) => `${prefix}-${++idCounter}`;

export class SchoolView {
  readonly #root: HTMLElement;
  readonly #back: HTMLButtonElement;
  readonly #backText: HTMLElement;
  readonly #heading: HTMLHeadingElement;
  readonly #meta: HTMLElement;
  readonly #online: HTMLElement;
  readonly #countLabels: HTMLElement[];
  readonly #counts: HTMLElement;
  readonly #countDevices: HTMLElement;
  readonly #countProblems: HTMLElement;
  readonly #countAlarms: HTMLElement;
  readonly #updated: HTMLElement;
  readonly #error: HTMLElement;
  readonly #message: HTMLElement;
  readonly #alarmsSection: HTMLElement;
  readonly #alarmsHeading: HTMLElement;
  readonly #alarmsList: HTMLUListElement;
  readonly #alarmsNone: HTMLElement;
  readonly #devicesSection: HTMLElement;
  readonly #devicesHeading: HTMLElement;
  readonly #groupsBox: HTMLElement;
  readonly #groups = new Map<string, Group>();
  readonly #rows = new Map<string, DeviceRow>();
  #groupOrder: string[] = [];
  readonly #attendance: AttendanceSection;
  readonly #problemsSection: HTMLElement;
  readonly #problemsHeading: HTMLElement;
  readonly #problemsList: HTMLUListElement;
  readonly #problemsNone: HTMLElement;
  readonly #internet: InternetPanel;
  readonly #search: HTMLInputElement;
  readonly #kindSelect: HTMLSelectElement;
  readonly #roomSelect: HTMLSelectElement;
  readonly #statusSelect: HTMLSelectElement;
  readonly #filterLabels: HTMLElement[] = [];
  readonly #filterCount: HTMLElement;
  readonly #filterNone: HTMLElement;
  #filter: DeviceFilter = { ...NO_FILTER };
  #lastState: SchoolViewState | null = null;
  #lastCtx: RenderContext | null = null;
  /** The room the address names (?room=): the view is that room's page. */
  #roomId: string | null = null;
  readonly #onRoom: (roomId: string | null) => void;
  #alarmsKey = '';
  #problemsKey = '';
  #schoolId: string | null = null;
  #access: SchoolAccess = { back: true, link: true, commands: false };
  readonly #reportLink: HTMLAnchorElement;
  readonly #sendCommand: CommandSender | null;
  #lang: RenderContext['lang'] = 'vi';

  constructor(root: HTMLElement, onBack: () => void, sendCommand: CommandSender | null = null, onRoom: (roomId: string | null) => void = () => undefined) {
    this.#root = root;
    this.#sendCommand = sendCommand;
    this.#onRoom = onRoom;
    const headingId = uid('sv-title');
    const alarmsId = uid('sv-alarms');
    const devicesId = uid('sv-devices');
    root.setAttribute('aria-labelledby', headingId);

    this.#backText = el('span');
    this.#back = el('button', { type: 'button', class: 'back', 'data-testid': 'back-to-overview' }, el('span', { 'aria-hidden': 'true' }, '←'), this.#backText);
    this.#back.addEventListener('click', onBack);

    this.#heading = el('h2', { id: headingId, tabindex: '-1', 'data-testid': 'school-view-name' });
    this.#meta = el('span', { class: 'sv-meta-text', 'data-testid': 'school-view-meta' });
    this.#online = el('span', { class: 'badge', 'data-testid': 'school-view-online' });
    const count = (testid: string) => el('dd', { class: 'kpi-value', 'data-testid': testid }, '—');
    this.#countDevices = count('school-count-devices');
    this.#countProblems = count('school-count-problems');
    this.#countAlarms = count('school-count-alarms');
    this.#countLabels = [el('dt', { class: 'kpi-label' }), el('dt', { class: 'kpi-label' }), el('dt', { class: 'kpi-label' })];
    const [devicesLabel, problemsLabel, alarmsLabel] = this.#countLabels as [HTMLElement, HTMLElement, HTMLElement];
    this.#counts = el(
      'dl',
      { class: 'sv-counts' },
      el('div', { class: 'kpi' }, devicesLabel, this.#countDevices),
      el('div', { class: 'kpi kpi-problems' }, problemsLabel, this.#countProblems),
      el('div', { class: 'kpi kpi-alarms' }, alarmsLabel, this.#countAlarms),
    );
    this.#updated = el('p', { class: 'sv-updated', 'data-testid': 'school-view-updated' });
    this.#reportLink = el('a', { class: 'button report-link', 'data-testid': 'report-link', href: '?' });

    this.#error = el('div', { class: 'banner error', role: 'alert', 'data-testid': 'school-view-error' });
    this.#error.hidden = true;
    this.#message = el('p', { class: 'empty', role: 'status', 'data-testid': 'school-view-message' });

    this.#alarmsHeading = el('h3', { id: alarmsId });
    this.#alarmsList = el('ul', { class: 'alarm-list', 'data-testid': 'alarm-list' });
    this.#alarmsNone = el('p', { class: 'none' });
    this.#alarmsSection = el('section', { class: 'sv-alarms panel', 'aria-labelledby': alarmsId }, this.#alarmsHeading, this.#alarmsList, this.#alarmsNone);

    this.#attendance = new AttendanceSection(uid('sv-attendance'));

    // What needs fixing first, widest problem first.
    const problemsId = uid('sv-problems');
    this.#problemsHeading = el('h3', { id: problemsId });
    this.#problemsList = el('ul', { class: 'problem-list', 'data-testid': 'problem-list' });
    this.#problemsNone = el('p', { class: 'none' });
    this.#problemsSection = el('section', { class: 'sv-problems panel', 'aria-labelledby': problemsId }, this.#problemsHeading, this.#problemsList, this.#problemsNone);
    this.#internet = new InternetPanel();

    // Narrowing the device list: words, kind, room, status.
    const field = (control: HTMLElement, testid: string) => {
      const id = uid('sv-filter');
      control.id = id;
      control.dataset.testid = testid;
      const label = el('label', { for: id });
      this.#filterLabels.push(label);
      return el('div', { class: 'filter' }, label, control);
    };
    this.#search = el('input', { type: 'search', autocomplete: 'off', spellcheck: 'false' });
    this.#kindSelect = el('select');
    this.#roomSelect = el('select');
    this.#statusSelect = el('select');
    this.#search.addEventListener('input', () => this.#setFilter({ search: this.#search.value }));
    this.#kindSelect.addEventListener('change', () => this.#setFilter({ kind: this.#kindSelect.value }));
    this.#statusSelect.addEventListener('change', () => this.#setFilter({ status: this.#statusSelect.value as StatusFilter }));
    // The room is an address of its own (?room=): a room's page, with a link and a back button.
    this.#roomSelect.addEventListener('change', () => this.#onRoom(this.#roomSelect.value === '' ? null : this.#roomSelect.value));
    this.#filterCount = el('p', { class: 'filter-count', role: 'status', 'data-testid': 'filter-count' });
    this.#filterNone = el('p', { class: 'empty', 'data-testid': 'filter-none' });
    const toolbar = el(
      'div',
      { class: 'sv-filters', role: 'search', 'data-testid': 'device-filters' },
      field(this.#search, 'device-search'),
      field(this.#kindSelect, 'filter-kind'),
      field(this.#roomSelect, 'filter-room'),
      field(this.#statusSelect, 'filter-status'),
      this.#filterCount,
    );

    this.#devicesHeading = el('h3', { id: devicesId, class: 'sr-only' });
    this.#groupsBox = el('div', { class: 'sv-groups' });
    this.#devicesSection = el('section', { class: 'sv-devices', 'aria-labelledby': devicesId }, this.#devicesHeading, toolbar, this.#filterNone, this.#groupsBox);

    root.replaceChildren(
      el('nav', { class: 'sv-nav' }, this.#back),
      el(
        'header',
        { class: 'sv-header' },
        el('div', { class: 'sv-title' }, this.#heading, el('p', { class: 'sv-meta' }, this.#meta, this.#online)),
        this.#counts,
      ),
      this.#updated,
      this.#reportLink,
      this.#error,
      this.#message,
      this.#problemsSection,
      this.#alarmsSection,
      this.#internet.element,
      this.#attendance.element,
      this.#devicesSection,
    );
  }

  /** What the signed-in role gets; rows are rebuilt on the next render. */
  setAccess(access: SchoolAccess): void {
    this.#access = access;
    this.#schoolId = null;
  }

  /** Move focus to the school's name, so a keyboard or screen reader user starts there. */
  focusHeading(): void {
    this.#heading.focus({ preventScroll: true });
    // From the top: the page header (language, connection) stays in view.
    window.scrollTo({ top: 0 });
  }

  render(state: SchoolViewState, ctx: RenderContext): void {
    if (state.schoolId !== this.#schoolId) this.#reset(state.schoolId);
    const t = STRINGS[ctx.lang];
    this.#lang = ctx.lang;
    this.#root.dataset.schoolId = state.schoolId;
    this.#root.dataset.problem = state.problem;
    // Someone whose scope is one school has no overview; on a school they may not see (a
    // link, a typed address) the button takes them back to their own.
    const refused = state.problem === 'forbidden' || state.problem === 'not-found';
    setText(this.#backText, this.#access.back ? t.backToOverview : t.backToMySchool);
    this.#reportLink.hidden = this.#access.report !== true || refused;
    setText(this.#reportLink, t.reportLink);
    setAttr(this.#reportLink, 'href', searchFor(location.search, { view: 'report', schoolId: state.schoolId }) || '?');
    this.#reportLink.dataset.reportLink = state.schoolId;
    this.#back.hidden = !this.#access.back && !refused;
    this.#renderHeader(state, ctx);

    setText(this.#error, t.schoolDevicesError);
    this.#error.hidden = state.problem !== 'failed';

    const loaded = state.devices !== null && state.problem !== 'not-found' && state.problem !== 'forbidden';
    this.#root.dataset.loaded = String(loaded);
    const message =
      state.problem === 'not-found'
        ? t.schoolNotFound(state.schoolId)
        : state.problem === 'forbidden'
          ? t.schoolForbidden(state.schoolId)
          : state.devices === null
          ? state.problem === 'failed'
            ? ''
            : t.schoolDevicesLoading
          : state.devices.length === 0
            ? t.schoolNoDevices
            : '';
    setText(this.#message, message);
    this.#message.hidden = message === '';
    this.#counts.hidden = refused;
    this.#alarmsSection.hidden = !loaded;
    if (!loaded) this.#attendance.element.hidden = true;
    this.#devicesSection.hidden = !loaded;
    if (!loaded) return;

    // What the role may not see is left out of the counts as well as the lists.
    const devices = visibleDevices(state.devices ?? [], this.#access.link);
    const shown = new Set(devices.map((d) => d.id));
    const alarms = state.alarms.filter((a) => shown.has(a.deviceId));
    this.#lastState = state;
    this.#lastCtx = ctx;
    this.#renderProblems(state.summary, devices, alarms, ctx);
    this.#renderAlarms(alarms, devices, ctx);
    if (this.#access.link) this.#internet.show(state.schoolId, devices, ctx);
    else this.#internet.hide();
    this.#attendance.render(state.attendance, ctx.lang);
    this.#renderFilters(devices, state.rooms, ctx);
    const filtered = filterDevices(devices, { ...this.#filter, roomId: this.#roomId ?? '' }, state.rooms);
    setText(this.#filterCount, t.filterCount(filtered.length, devices.length));
    this.#filterCount.dataset.shown = String(filtered.length);
    setText(this.#filterNone, t.filterNone);
    this.#filterNone.hidden = filtered.length > 0 || devices.length === 0;
    this.#renderDevices(filtered, ctx);
  }

  /** The room whose page this is (?room=), or null for the whole school. */
  setRoom(roomId: string | null): void {
    this.#roomId = roomId;
    if (this.#lastState && this.#lastCtx && this.#lastState.schoolId === this.#schoolId) this.render(this.#lastState, this.#lastCtx);
  }

  #setFilter(change: Partial<DeviceFilter>): void {
    this.#filter = { ...this.#filter, ...change };
    if (this.#lastState && this.#lastCtx) this.render(this.#lastState, this.#lastCtx);
  }

  #renderFilters(devices: readonly DeviceView[], rooms: ReadonlyMap<string, RoomView>, ctx: RenderContext): void {
    const t = STRINGS[ctx.lang];
    const [searchLabel, kindLabelNode, roomLabel, statusLabel] = this.#filterLabels as [HTMLElement, HTMLElement, HTMLElement, HTMLElement];
    setText(searchLabel, t.filterSearch);
    setText(kindLabelNode, t.filterKind);
    setText(roomLabel, t.filterRoom);
    setText(statusLabel, t.filterStatus);
    this.#search.placeholder = t.filterSearchHint;
    const kinds = [...new Set(devices.map((d) => d.kind))];
    fillSelect(this.#kindSelect, [['', t.filterAll], ...groupByKind(devices, ctx.lang).filter((g) => kinds.includes(g.kind as DeviceView['kind'])).map((g): [string, string] => [g.kind, kindLabel(g.kind, ctx.lang)])], this.#filter.kind);
    fillSelect(this.#roomSelect, [['', t.filterAllRooms], ...roomsOf(devices, rooms, ctx.lang).map((r): [string, string] => [r.id, r.name])], this.#roomId ?? '');
    fillSelect(this.#statusSelect, STATUS_FILTERS.map((f): [string, string] => [f, t.filterStatusOption[f] ?? f]), this.#filter.status);
  }

  #renderProblems(summary: SchoolSummary | undefined, devices: readonly DeviceView[], alarms: readonly DeviceAlarm[], ctx: RenderContext): void {
    const t = STRINGS[ctx.lang];
    const all = rankProblems(summary, devices, alarms);
    // The widest first, a screenful at most: the rest are a filter away.
    const problems = all.slice(0, PROBLEMS_SHOWN);
    setText(this.#problemsHeading, `${t.problemsHeading} (${formatInteger(all.length, ctx.lang)})`);
    setText(this.#problemsNone, t.problemsNone);
    this.#problemsNone.hidden = all.length > 0;
    const rest = all.length - problems.length;
    // Rebuilt only when what it says changed (a live summary comes every second), and then
    // with the keyboard's place kept.
    const key = JSON.stringify([ctx.lang, rest, problems.map((p) => [p.kind, p.deviceId, p.detail, problemDevice(devices, p.deviceId, ctx.lang), p.since === null ? '' : formatSince(p.since, ctx.now, ctx.lang)])]);
    if (key === this.#problemsKey) return;
    this.#problemsKey = key;
    const more = el('li', { class: 'problem-more' }, el('button', { type: 'button', class: 'linkish', 'data-testid': 'problems-more' }, t.problemsMore(rest)));
    more.querySelector('button')!.addEventListener('click', () => {
      this.#statusSelect.value = 'problems';
      this.#setFilter({ status: 'problems' });
      this.#devicesSection.scrollIntoView({ block: 'start' });
    });
    replaceKeepingFocus(this.#problemsList, [
      ...problems.map((p) => {
        const name = problemDevice(devices, p.deviceId, ctx.lang);
        const detail = p.kind === 'device-down' || p.kind === 'router-down' ? (t.deviceState[p.detail ?? ''] ?? '') : '';
        const what = t.problemKind[p.kind] ?? p.kind;
        return el(
          'li',
          { class: 'problem', 'data-kind': p.kind, 'data-testid': `problem-${p.deviceId ?? 'school'}` },
          el('span', { class: 'problem-kind', 'data-kind': p.kind }, what),
          ' ',
          p.deviceId === null
            ? ''
            : el('a', { class: 'device-link', href: searchFor(location.search, { view: 'device', deviceId: p.deviceId }) || '?', 'data-device-link': p.deviceId }, name),
          detail ? ` — ${detail}` : '',
          p.since === null ? '' : el('time', { class: 'ago', datetime: new Date(p.since).toISOString(), title: formatDateTime(p.since, ctx.timeZone) }, ` ${formatSince(p.since, ctx.now, ctx.lang)}`),
        );
      }),
      ...(rest > 0 ? [more] : []),
    ]);
  }

  #reset(schoolId: string): void {
    this.#schoolId = schoolId;
    this.#filter = { ...NO_FILTER };
    this.#search.value = '';
    this.#rows.clear();
    this.#groups.clear();
    this.#groupOrder = [];
    this.#alarmsKey = '';
    this.#problemsKey = '';
    this.#groupsBox.replaceChildren();
    this.#alarmsList.replaceChildren();
  }

  #renderHeader(state: SchoolViewState, ctx: RenderContext): void {
    const t = STRINGS[ctx.lang];
    const { summary } = state;
    const school = summary ? schoolName(summary, ctx.lang) : state.schoolId;
    const room = this.#roomId === null ? null : state.rooms.get(this.#roomId);
    // A room's page: the room first, then its school.
    setText(this.#heading, this.#roomId === null ? school : `${room ? inLang(room.name, ctx.lang) : this.#roomId} · ${school}`);
    this.#root.dataset.roomId = this.#roomId ?? '';
    setText(this.#meta, summary ? [t.level[summary.level] ?? summary.level, inLang(summary.ward, ctx.lang)].filter(Boolean).join(' · ') : '');
    this.#online.hidden = summary === undefined;
    if (summary) {
      this.#online.dataset.online = String(summary.online);
      setText(this.#online, summary.online ? t.online : t.offline);
    }

    const [devicesLabel, problemsLabel, alarmsLabel] = this.#countLabels as [HTMLElement, HTMLElement, HTMLElement];
    setText(devicesLabel, t.countDevices);
    setText(problemsLabel, t.countProblems);
    problemsLabel.title = t.countProblemsHint;
    setText(alarmsLabel, t.countAlarms);

    const devices = state.devices === null ? null : visibleDevices(state.devices, this.#access.link);
    const shown = new Set(devices?.map((d) => d.id));
    const counts = devices === null ? null : schoolCounts(devices, state.alarms.filter((a) => shown.has(a.deviceId)));
    const figure = (node: HTMLElement, n: number | null) => {
      setText(node, formatInteger(n, ctx.lang));
      node.dataset.value = n === null ? '' : String(n);
    };
    figure(this.#countDevices, counts?.devices ?? null);
    figure(this.#countProblems, counts?.problems ?? null);
    figure(this.#countAlarms, counts?.alarms ?? null);
    this.#countProblems.closest('.kpi')?.classList.toggle('alert', (counts?.problems ?? 0) > 0);
    const alarmsKpi = this.#countAlarms.closest<HTMLElement>('.kpi');
    alarmsKpi?.classList.toggle('alert', (counts?.critical ?? 0) > 0);
    alarmsKpi?.classList.toggle('warn', (counts?.alarms ?? 0) > 0 && (counts?.critical ?? 0) === 0);

    setText(this.#updated, state.loadedAt === null ? '' : t.updatedAt(formatDateTime(state.loadedAt, ctx.timeZone)));
  }

  #renderAlarms(alarms: readonly DeviceAlarm[], devices: readonly DeviceView[], ctx: RenderContext): void {
    const t = STRINGS[ctx.lang];
    setText(this.#alarmsHeading, `${t.alarmsHeading} (${formatInteger(alarms.length, ctx.lang)})`);
    setText(this.#alarmsNone, t.alarmsNone);
    this.#alarmsNone.hidden = alarms.length > 0;

    const names = new Map(devices.map((d) => [d.id, deviceName(d, ctx.lang)]));
    const items = alarms.map((a) => {
      const value = typeof a.value === 'number' && a.metric !== undefined ? formatMetric(a.metric, a.value, ctx.lang)?.text ?? '' : '';
      return {
        alarm: a,
        device: names.get(a.deviceId) ?? a.deviceId,
        message: inLang(a.message, ctx.lang) || a.ruleId,
        value,
        ago: formatSince(a.since, ctx.now, ctx.lang),
      };
    });
    // Rebuilt only when something on it changed (alarms come and go rarely).
    const key = JSON.stringify([ctx.lang, items.map((i) => [i.alarm.deviceId, i.alarm.ruleId, i.alarm.severity, i.device, i.message, i.value, i.ago])]);
    if (key === this.#alarmsKey) return;
    this.#alarmsKey = key;
    this.#alarmsList.replaceChildren(
      ...items.map(({ alarm, device, message, value, ago }) =>
        el(
          'li',
          { class: 'alarm-item', 'data-testid': `alarm-${alarm.deviceId}-${alarm.ruleId}`, 'data-severity': alarm.severity, 'data-device-id': alarm.deviceId },
          el('span', { class: 'sev', 'data-severity': alarm.severity }, severityLabel(alarm.severity, ctx.lang)),
          el('span', { class: 'alarm-device' }, device),
          el('span', { class: 'alarm-message' }, message, ...(value ? [el('span', { class: 'alarm-value' }, ` (${value})`)] : [])),
          el('time', { class: 'ago', datetime: new Date(alarm.since).toISOString(), title: formatDateTime(alarm.since, ctx.timeZone) }, ago),
        ),
      ),
    );
  }

  #renderDevices(devices: readonly DeviceView[], ctx: RenderContext): void {
    const t = STRINGS[ctx.lang];
    setText(this.#devicesHeading, t.devicesHeading);
    const groups = groupByKind(devices, ctx.lang);
    const presentRows = new Set<string>();
    const presentGroups = new Set<string>();

    for (const { kind, devices: list } of groups) {
      presentGroups.add(kind);
      let group = this.#groups.get(kind);
      if (group === undefined) {
        group = createGroup(kind);
        this.#groups.set(kind, group);
      }
      setText(group.title, kindLabel(kind, ctx.lang));
      setText(group.count, ` (${formatInteger(list.length, ctx.lang)})`);
      const [c0, c1, c2, c3] = group.head;
      setText(c0, t.colDevice);
      setText(c1, t.colStatus);
      setText(c2, t.colValues);
      setText(c3, t.colUpdated);

      for (const device of list) {
        presentRows.add(device.id);
        let row = this.#rows.get(device.id);
        if (row === undefined) {
          row = createDeviceRow(device.id);
          this.#rows.set(device.id, row);
        }
        updateDeviceRow(row, device, ctx);
        if (this.#access.commands && this.#sendCommand !== null) this.#renderCommands(row, device, ctx);
      }
      const order = list.map((d) => d.id);
      if (order.length !== group.order.length || order.some((id, i) => id !== group.order[i])) {
        // append() moves rows (also from another group if a device changed kind).
        group.tbody.append(...order.map((id) => this.#rows.get(id)!.tr));
        group.order = order;
      }
    }

    for (const [id, row] of this.#rows) {
      if (presentRows.has(id)) continue;
      row.tr.remove();
      this.#rows.delete(id);
    }
    for (const [kind, group] of this.#groups) {
      if (presentGroups.has(kind)) continue;
      group.section.remove();
      this.#groups.delete(kind);
    }
    const groupOrder = groups.map((g) => g.kind);
    if (groupOrder.length !== this.#groupOrder.length || groupOrder.some((k, i) => k !== this.#groupOrder[i])) {
      this.#groupsBox.append(...groupOrder.map((k) => this.#groups.get(k)!.section));
      this.#groupOrder = groupOrder;
    }
  }

  /** The row's command buttons; each sends one command and says how it went, in the row. */
  #renderCommands(row: DeviceRow, device: DeviceView, ctx: RenderContext): void {
    const names = quickCommands(device);
    if (names.length === 0) return;
    const t = STRINGS[ctx.lang];
    if (row.commands === null) {
      row.commands = el('div', { class: 'cmds', role: 'group', 'data-testid': `device-commands-${device.id}` });
      row.commandResult = el('span', { class: 'cmd-result', role: 'status', 'data-testid': `command-result-${device.id}` });
      for (const name of names) {
        const button = el('button', { type: 'button', class: 'cmd', 'data-command': name, 'data-testid': `command-${device.id}-${name}` });
        button.addEventListener('click', () => void this.#send(row, device.id, name));
        row.commandButtons.set(name, button);
        row.commands.append(button);
      }
      row.commands.append(row.commandResult);
      row.values.after(row.commands);
    }
    row.commands.setAttribute('aria-label', t.commandsLabel);
    const name = deviceName(device, ctx.lang);
    for (const [command, button] of row.commandButtons) {
      const label = t.command[command] ?? command;
      setText(button, label);
      setAttr(button, 'title', t.commandHint(label, name));
    }
    this.#renderOutcome(row);
  }

  async #send(row: DeviceRow, deviceId: string, name: string): Promise<void> {
    if (this.#sendCommand === null) return;
    for (const button of row.commandButtons.values()) button.disabled = true;
    row.commandOutcome = { state: 'sending', reason: '', forbidden: false };
    this.#renderOutcome(row);
    try {
      await this.#sendCommand(deviceId, name);
      row.commandOutcome = { state: 'sent', reason: '', forbidden: false };
    } catch (error) {
      const forbidden = error instanceof HttpError && error.status === 403;
      const reason = error instanceof HttpError ? error.text(this.#lang) : String((error as Error).message ?? error);
      row.commandOutcome = { state: 'failed', reason, forbidden };
    } finally {
      for (const button of row.commandButtons.values()) button.disabled = false;
    }
    this.#renderOutcome(row);
  }

  #renderOutcome(row: DeviceRow): void {
    const result = row.commandResult;
    if (result === null) return;
    const t = STRINGS[this.#lang];
    const o = row.commandOutcome;
    result.dataset.state = o?.state ?? '';
    const text = o === null ? '' : o.state === 'sending' ? t.commandSending : o.state === 'sent' ? t.commandSent : o.forbidden ? t.actionForbidden : t.commandFailed(o.reason);
    setText(result, text);
    result.hidden = text === '';
  }
}

function createGroup(kind: string): Group {
  const titleId = uid('sv-kind');
  const title = el('span');
  const count = el('span', { class: 'count' });
  const th = (cls = '') => el('th', { scope: 'col', class: cls });
  const head: Group['head'] = [th('c-device'), th(), th(), th()];
  const tbody = el('tbody');
  const section = el(
    'section',
    { class: 'sv-group panel', 'data-kind': kind, 'data-testid': `device-group-${kind}` },
    el('h4', { id: titleId }, title, count),
    el('table', { 'aria-labelledby': titleId }, el('thead', {}, el('tr', {}, ...head)), tbody),
  );
  return { section, title, count, tbody, head, order: [] };
}

function createDeviceRow(id: string): DeviceRow {
  const row: DeviceRow = {
    tr: el('tr', { 'data-testid': `device-${id}`, 'data-device-id': id }),
    // The device's own page (?device=<id>): a real link, so a new tab and Enter work too.
    name: el('a', { class: 'name device-link', href: `?device=${encodeURIComponent(id)}`, 'data-testid': `device-link-${id}`, 'data-device-link': id }),
    model: el('span', { class: 'meta' }),
    status: el('span', { class: 'status', 'data-testid': `device-status-${id}` }),
    statusIcon: el('span', { class: 'status-icon', 'aria-hidden': 'true' }),
    statusLabel: el('span', { class: 'status-label' }),
    reason: el('span', { class: 'status-reason', 'data-testid': `device-reason-${id}` }),
    alarmChip: el('span', { class: 'chip alarm', 'data-testid': `device-alarms-${id}` }),
    values: el('ul', { class: 'kv', 'data-testid': `device-values-${id}` }),
    valuesKey: '',
    updated: el('time', { class: 'ago' }),
    commands: null,
    commandButtons: new Map(),
    commandResult: null,
    commandOutcome: null,
  };
  row.status.append(row.statusIcon, row.statusLabel);
  row.tr.append(
    el('th', { scope: 'row', class: 'c-device' }, row.name, row.model),
    el('td', { class: 'c-state' }, row.status, row.reason, row.alarmChip),
    el('td', { class: 'c-values' }, row.values),
    el('td', { class: 'c-updated' }, row.updated),
  );
  return row;
}

function updateDeviceRow(row: DeviceRow, device: DeviceView, ctx: RenderContext): void {
  const t = STRINGS[ctx.lang];
  const { lang } = ctx;
  const { state } = device.status;
  row.tr.dataset.state = state;
  row.tr.dataset.kind = device.kind;
  row.tr.classList.toggle('problem', hasProblem(device));

  setText(row.name, deviceName(device, lang));
  setAttr(row.name, 'href', searchFor(location.search, { view: 'device', deviceId: device.id }) || '?');
  setText(row.model, [device.vendor, device.model].filter(Boolean).join(' '));

  // Status: icon, word and reason, never colour alone.
  const words = statusWords(device.status, lang);
  row.status.dataset.state = state;
  setText(row.statusIcon, STATE_ICON[state] ?? '?');
  setText(row.statusLabel, words.label);
  // The driver's detail is technical and may quote a garbled answer: a tooltip, kept short.
  const detail = device.status.detail === null ? '' : device.status.detail.slice(0, DETAIL_MAX);
  setAttr(row.status, 'title', [words.hint, detail].filter(Boolean).join(' — ') || null);
  const since =
    state !== 'ok' && device.status.since !== null ? formatSince(device.status.since, ctx.now, lang) : '';
  const reason = [words.reason, since].filter(Boolean).join(' · ');
  setText(row.reason, reason);
  row.reason.hidden = reason === '';
  row.reason.dataset.reason = device.status.reason ?? '';

  const raised = device.alarms.length;
  row.alarmChip.hidden = raised === 0;
  row.alarmChip.dataset.severity = device.alarms.some((a) => a.severity === 'critical') ? 'critical' : 'warning';
  setText(row.alarmChip, raised === 0 ? '' : t.deviceAlarms(raised, formatInteger(raised, lang)));
  setAttr(row.alarmChip, 'title', raised === 0 ? null : device.alarms.map((a) => inLang(a.message, lang)).join('; '));

  renderValues(row, device, lang);

  const ts = device.latest?.ts ?? null;
  setText(row.updated, formatRelative(ts, ctx.now, lang));
  setAttr(row.updated, 'datetime', ts === null ? null : new Date(ts).toISOString());
  setAttr(row.updated, 'title', ts === null ? null : formatDateTime(ts, ctx.timeZone));
}

function renderValues(row: DeviceRow, device: DeviceView, lang: Lang): void {
  const values = keyValues(device, lang);
  const key = JSON.stringify([lang, device.latest === null, values]);
  if (key === row.valuesKey) return;
  row.valuesKey = key;
  if (device.latest === null) {
    row.values.replaceChildren(el('li', { class: 'kv-none' }, STRINGS[lang].noReadings));
    return;
  }
  row.values.replaceChildren(
    ...values.map((v) => {
      const item = el('li', { 'data-metric': v.metric, 'data-value': v.raw });
      if (v.tone !== null) item.dataset.tone = v.tone;
      if (v.label !== '') item.append(el('span', { class: 'kv-label' }, `${v.label}: `));
      item.append(el('span', { class: 'kv-value' }, v.text));
      return item;
    }),
  );
}

/** Options of a select as [value, text], rebuilt only when they change; `value` selected. */
function fillSelect(select: HTMLSelectElement, options: Array<[string, string]>, value: string): void {
  const current = [...select.options].map((o) => [o.value, o.textContent ?? '']);
  if (JSON.stringify(current) !== JSON.stringify(options)) select.replaceChildren(...options.map(([v, text]) => el('option', { value: v }, text)));
  if (select.value !== value) select.value = value;
}
