// One device's page (?device=<id>): what it is and where, its status and latest values, its
// alarms, a trend chart of every numeric metric over a chosen range, its recent commands with
// what became of each, buttons for its one-click commands (each asks for confirmation first),
// and the gateway's events about it. It refreshes itself while open; only the latest answer
// for the open device counts.

import {
  HttpError,
  fetchCommands,
  fetchDevice,
  fetchHistory,
  fetchRooms,
  fetchSchoolEvents,
  type CommandView,
  type DeviceView,
  type EventItem,
  type History,
} from './api.ts';
import { TrendChart } from './chart.ts';
import { chartValue, deviceName, keyValues, kindLabel, metricLabel, quickCommands, severityLabel, sortAlarms, statusWords } from './device-values.ts';
import { el, setText } from './dom.ts';
import { formatDateTime, formatDuration, formatSince } from './format.ts';
import { STRINGS, inLang, type Lang } from './i18n.ts';
import { RANGE_KINDS, chartableMetrics, localDate, rangeFor, trendColumns, type RangeKind } from './trend.ts';
import { searchFor } from './route.ts';
import type { RenderContext } from './view.ts';
import { KINDS, isKind } from '@schoolops/device-profiles/kinds';

/** The device, its commands and its events are read this often while the page is open. */
const REFRESH_MS = 5_000;
/** Sooner while a command waits for the gateway's answer. */
const COMMAND_WAIT_MS = 1_500;
/** A range that ends now is charted again this often. */
const HISTORY_REFRESH_MS = 60_000;
const EVENTS_SHOWN = 20;

export interface DevicePageDeps {
  ctx: () => RenderContext;
  /** May the signed-in principal send commands? (The cloud decides; this only hides buttons.) */
  canCommand: () => boolean;
  sendCommand: (deviceId: string, name: string) => Promise<unknown>;
  /** Back to the device's school. */
  onBack: (schoolId: string | null) => void;
}

type Problem = 'none' | 'not-found' | 'forbidden' | 'load';

let idCounter = 0;
const uid = (prefix: string) => `${prefix}-${++idCounter}`;

export class DevicePage {
  readonly #root: HTMLElement;
  readonly #deps: DevicePageDeps;
  readonly #heading: HTMLElement;
  readonly #meta: HTMLElement;
  readonly #status: HTMLElement;
  readonly #updated: HTMLElement;
  readonly #message: HTMLElement;
  readonly #values: HTMLElement;
  readonly #alarms: HTMLUListElement;
  readonly #commandsBox: HTMLElement;
  readonly #commandButtons: HTMLElement;
  readonly #commandNote: HTMLElement;
  readonly #commandList: HTMLElement;
  readonly #confirm: HTMLDialogElement;
  readonly #confirmText: HTMLElement;
  readonly #confirmYes: HTMLButtonElement;
  readonly #confirmNo: HTMLButtonElement;
  readonly #rangeButtons = new Map<RangeKind, HTMLButtonElement>();
  readonly #customBox: HTMLElement;
  readonly #customFrom: HTMLInputElement;
  readonly #customTo: HTMLInputElement;
  readonly #customShow: HTMLButtonElement;
  readonly #chartsNote: HTMLElement;
  readonly #charts: HTMLElement;
  readonly #chartMap = new Map<string, TrendChart>();
  readonly #eventList: HTMLUListElement;
  readonly #rangeGroup: HTMLElement;
  readonly #texts: Array<[HTMLElement, (t: (typeof STRINGS)['vi']) => string]> = [];
  readonly #back: HTMLButtonElement;

  #deviceId: string | null = null;
  #device: DeviceView | null = null;
  #roomName: string | null = null;
  #commands: CommandView[] = [];
  #events: EventItem[] = [];
  #history: History | null = null;
  #historyProblem: string | null = null;
  #historyLoading = false;
  #problem: Problem = 'none';
  #commandProblem: string | null = null;
  #pendingCommand: string | null = null;
  #range: RangeKind = 'today';
  #rangeError: string | null = null;
  #generation = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #historyTimer: ReturnType<typeof setTimeout> | undefined;
  #abort: AbortController | null = null;

  constructor(root: HTMLElement, deps: DevicePageDeps) {
    this.#root = root;
    this.#deps = deps;
    const text = <E extends HTMLElement>(node: E, of: (t: (typeof STRINGS)['vi']) => string): E => {
      this.#texts.push([node, of]);
      return node;
    };
    const headingId = uid('dp-title');
    this.#back = el('button', { type: 'button', class: 'back', 'data-testid': 'device-back' }, el('span', { 'aria-hidden': 'true' }, '←'), text(el('span'), (t) => t.deviceBack));
    this.#back.addEventListener('click', () => this.#deps.onBack(this.#device?.schoolId ?? null));
    this.#heading = el('h2', { id: headingId, tabindex: '-1', 'data-testid': 'device-name' });
    this.#meta = el('p', { class: 'sv-meta', 'data-testid': 'device-meta' });
    this.#status = el('p', { class: 'dp-status', 'data-testid': 'device-status' });
    this.#updated = el('p', { class: 'sv-updated', 'data-testid': 'device-updated' });
    this.#message = el('p', { class: 'empty', role: 'status', 'data-testid': 'device-message' });
    this.#values = el('dl', { class: 'dp-values', 'data-testid': 'device-values' });
    this.#alarms = el('ul', { class: 'alarm-list', 'data-testid': 'device-alarms' });

    // Commands: buttons, a confirmation, what became of the latest ones.
    this.#commandButtons = el('div', { class: 'dp-command-buttons', role: 'group' });
    this.#commandNote = el('p', { class: 'dp-command-note', role: 'status', 'data-testid': 'device-command-note' });
    this.#commandList = el('ol', { class: 'dp-command-list', 'data-testid': 'device-commands' });
    const commandsId = uid('dp-commands');
    this.#commandsBox = el(
      'section',
      { class: 'panel dp-commands', 'aria-labelledby': commandsId },
      text(el('h3', { id: commandsId }), (t) => t.commandsLabel),
      this.#commandButtons,
      this.#commandNote,
      text(el('h4'), (t) => t.commandsRecent),
      this.#commandList,
    );
    this.#confirmText = el('p', { 'data-testid': 'command-confirm-text' });
    this.#confirmYes = el('button', { type: 'button', class: 'primary', 'data-testid': 'command-confirm-yes' });
    this.#confirmNo = el('button', { type: 'button', 'data-testid': 'command-confirm-no' });
    this.#confirm = el('dialog', { class: 'confirm', 'data-testid': 'command-confirm' }, this.#confirmText, el('div', { class: 'confirm-buttons' }, this.#confirmNo, this.#confirmYes));
    this.#confirmNo.addEventListener('click', () => this.#closeConfirm());
    this.#confirmYes.addEventListener('click', () => void this.#confirmed());
    this.#confirm.addEventListener('cancel', () => (this.#pendingCommand = null));

    // Trends: a range picker, then one chart per numeric metric.
    const rangeGroup = el('div', { class: 'dp-ranges', role: 'group', 'data-testid': 'range-picker' });
    this.#rangeGroup = rangeGroup;
    for (const kind of RANGE_KINDS) {
      const button = el('button', { type: 'button', 'data-range': kind, 'data-testid': `range-${kind}`, 'aria-pressed': 'false' });
      button.addEventListener('click', () => this.#pickRange(kind));
      this.#rangeButtons.set(kind, button);
      rangeGroup.append(button);
    }
    this.#customFrom = el('input', { type: 'date', 'data-testid': 'range-from' });
    this.#customTo = el('input', { type: 'date', 'data-testid': 'range-to' });
    this.#customShow = el('button', { type: 'button', 'data-testid': 'range-show' });
    this.#customShow.addEventListener('click', () => this.#pickRange('custom'));
    const fromId = uid('dp-from');
    const toId = uid('dp-to');
    this.#customFrom.id = fromId;
    this.#customTo.id = toId;
    this.#customBox = el(
      'div',
      { class: 'dp-custom' },
      text(el('label', { for: fromId }), (t) => t.rangeFrom),
      this.#customFrom,
      text(el('label', { for: toId }), (t) => t.rangeTo),
      this.#customTo,
      this.#customShow,
    );
    this.#chartsNote = el('p', { class: 'dp-charts-note', role: 'status', 'data-testid': 'charts-note' });
    this.#charts = el('div', { class: 'dp-charts', 'data-testid': 'device-charts' });
    const trendsId = uid('dp-trends');
    const eventsId = uid('dp-events');
    const alarmsId = uid('dp-alarms');
    const valuesId = uid('dp-values');
    this.#eventList = el('ul', { class: 'dp-events', 'data-testid': 'device-events' });

    root.setAttribute('aria-labelledby', headingId);
    root.replaceChildren(
      el('nav', { class: 'sv-nav' }, this.#back),
      el('header', { class: 'sv-header' }, el('div', { class: 'sv-title' }, this.#heading, this.#meta, this.#status)),
      this.#updated,
      this.#message,
      el('div', { class: 'dp-top' },
        el('section', { class: 'panel', 'aria-labelledby': valuesId }, text(el('h3', { id: valuesId }), (t) => t.deviceLatest), this.#values),
        el('section', { class: 'panel', 'aria-labelledby': alarmsId }, text(el('h3', { id: alarmsId }), (t) => t.alarmsHeading), this.#alarms),
        this.#commandsBox,
      ),
      el('section', { class: 'panel dp-trends', 'aria-labelledby': trendsId }, text(el('h3', { id: trendsId }), (t) => t.trendsHeading), rangeGroup, this.#customBox, this.#chartsNote, this.#charts),
      el('section', { class: 'panel', 'aria-labelledby': eventsId }, text(el('h3', { id: eventsId }), (t) => t.eventsHeading), this.#eventList),
      this.#confirm,
    );
  }

  get deviceId(): string | null {
    return this.#deviceId;
  }

  open(deviceId: string): void {
    if (this.#deviceId === deviceId) return;
    this.close();
    this.#deviceId = deviceId;
    this.#problem = 'none';
    const { now, timeZone } = this.#deps.ctx();
    this.#customTo.value = localDate(now, timeZone);
    this.#customFrom.value = localDate(now - 6 * 86_400_000, timeZone);
    this.render();
    void this.#refresh();
    void this.#loadHistory();
  }

  close(): void {
    this.#generation += 1;
    this.#abort?.abort();
    this.#abort = null;
    clearTimeout(this.#timer);
    clearTimeout(this.#historyTimer);
    if (this.#confirm.open) this.#confirm.close();
    for (const chart of this.#chartMap.values()) chart.destroy();
    this.#chartMap.clear();
    this.#deviceId = null;
    this.#device = null;
    this.#roomName = null;
    this.#commands = [];
    this.#events = [];
    this.#history = null;
    this.#historyProblem = null;
    this.#commandProblem = null;
    this.#rangeError = null;
  }

  focusHeading(): void {
    this.#heading.focus({ preventScroll: true });
    window.scrollTo({ top: 0 });
  }

  // ---- loading ----

  async #refresh(): Promise<void> {
    const id = this.#deviceId;
    if (id === null) return;
    const generation = this.#generation;
    this.#abort = new AbortController();
    const { signal } = this.#abort;
    try {
      const device = await fetchDevice(id, signal);
      if (generation !== this.#generation) return;
      const first = this.#device === null;
      this.#device = device.body;
      this.#problem = 'none';
      const [commands, events, rooms] = await Promise.allSettled([
        fetchCommands(id, signal),
        fetchSchoolEvents(device.body.schoolId, signal),
        first ? fetchRooms(device.body.schoolId, signal) : Promise.resolve(null),
      ]);
      if (generation !== this.#generation) return;
      if (commands.status === 'fulfilled') this.#commands = commands.value;
      if (events.status === 'fulfilled') this.#events = events.value.filter((e) => e.deviceId === id || e.type === 'telemetry-gap').slice(0, EVENTS_SHOWN);
      if (rooms.status === 'fulfilled' && rooms.value) {
        const room = rooms.value.find((r) => r.id === device.body.roomId);
        this.#roomName = room ? room.name[this.#deps.ctx().lang] || room.name.vi : null;
      }
    } catch (error) {
      if (generation !== this.#generation || signal.aborted) return;
      this.#problem = error instanceof HttpError && error.status === 404 ? 'not-found' : error instanceof HttpError && error.status === 403 ? 'forbidden' : 'load';
    }
    this.render();
    const waiting = this.#commands.some((c) => c.state === 'sent');
    // Not found or not allowed will not change by asking again.
    if (this.#problem === 'not-found' || this.#problem === 'forbidden') return;
    this.#timer = setTimeout(() => void this.#refresh(), waiting ? COMMAND_WAIT_MS : REFRESH_MS);
  }

  #pickRange(kind: RangeKind): void {
    this.#range = kind;
    void this.#loadHistory();
  }

  async #loadHistory(): Promise<void> {
    const id = this.#deviceId;
    if (id === null) return;
    clearTimeout(this.#historyTimer);
    const generation = this.#generation;
    const { now, timeZone, lang } = this.#deps.ctx();
    const range = rangeFor(this.#range, now, timeZone, { from: this.#customFrom.value, to: this.#customTo.value });
    if (!range.ok) {
      // Said in the page, in the page's language, from the same catalog as the API's errors.
      this.#rangeError = new HttpError('', 400, { code: range.code, params: range.params, message: null }).text(lang);
      this.render();
      return;
    }
    this.#rangeError = null;
    this.#historyLoading = true;
    this.render();
    try {
      const history = await fetchHistory(id, { from: range.from, to: range.to });
      if (generation !== this.#generation) return;
      this.#history = history;
      this.#historyProblem = null;
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#historyProblem = error instanceof HttpError ? error.text(this.#deps.ctx().lang) : String((error as Error).message ?? error);
    }
    this.#historyLoading = false;
    this.render();
    if (this.#range !== 'custom') this.#historyTimer = setTimeout(() => void this.#loadHistory(), HISTORY_REFRESH_MS);
  }

  // ---- commands ----

  #ask(name: string): void {
    const device = this.#device;
    if (device === null) return;
    const t = STRINGS[this.#deps.ctx().lang];
    this.#pendingCommand = name;
    setText(this.#confirmText, t.commandConfirm(t.command[name] ?? name, deviceName(device, this.#deps.ctx().lang)));
    setText(this.#confirmYes, t.commandConfirmYes);
    setText(this.#confirmNo, t.commandConfirmNo);
    this.#confirm.showModal();
    this.#confirmNo.focus();
  }

  #closeConfirm(): void {
    this.#pendingCommand = null;
    if (this.#confirm.open) this.#confirm.close();
  }

  async #confirmed(): Promise<void> {
    const name = this.#pendingCommand;
    const id = this.#deviceId;
    this.#closeConfirm();
    if (name === null || id === null) return;
    const generation = this.#generation;
    const lang = this.#deps.ctx().lang;
    this.#commandProblem = null;
    setText(this.#commandNote, STRINGS[lang].commandSending);
    try {
      await this.#deps.sendCommand(id, name);
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#commandProblem = error instanceof HttpError && error.status === 403 ? STRINGS[lang].actionForbidden : STRINGS[lang].commandFailed(error instanceof HttpError ? error.text(lang) : String((error as Error).message ?? error));
    }
    if (generation !== this.#generation) return;
    // The command shows in the list at once, then its outcome when the gateway reports it.
    clearTimeout(this.#timer);
    void this.#refresh();
  }

  // ---- drawing ----

  render(): void {
    const ctx = this.#deps.ctx();
    const { lang } = ctx;
    const t = STRINGS[lang];
    for (const [node, of] of this.#texts) setText(node, of(t));
    this.#root.dataset.deviceId = this.#deviceId ?? '';
    this.#root.dataset.problem = this.#problem;
    const device = this.#device;

    const message =
      this.#problem === 'not-found'
        ? t.deviceNotFound(this.#deviceId ?? '')
        : this.#problem === 'forbidden'
          ? t.forbidden
          : this.#problem === 'load'
            ? t.deviceLoadError
            : device === null
              ? t.deviceLoading
              : '';
    setText(this.#message, message);
    this.#message.hidden = message === '';

    setText(this.#heading, device ? deviceName(device, lang) : (this.#deviceId ?? ''));
    if (device) {
      // The room is a link to the room's page (its other devices together).
      const room = el('a', { class: 'device-link', 'data-testid': 'device-room', href: searchFor(location.search, { view: 'school', schoolId: device.schoolId, roomId: device.roomId }) || '?', 'data-room-link': `${device.schoolId}/${device.roomId}` }, t.deviceRoom(this.#roomName ?? device.roomId));
      this.#meta.replaceChildren([kindLabel(device.kind, lang), [device.vendor, device.model].filter(Boolean).join(' ')].filter(Boolean).join(' · '), ' · ', room);
    } else this.#meta.replaceChildren();
    if (device) {
      const words = statusWords(device.status, lang);
      this.#status.dataset.state = device.status.state;
      // The state says whether the gateway can vouch for the device; its worst alarm says the
      // rest, beside it, so a connected projector with a dead lamp never reads as all well.
      const worst = (['critical', 'warning'] as const).find((s) => device.alarms.some((a) => a.severity === s));
      if (worst) this.#status.dataset.alarm = worst;
      else delete this.#status.dataset.alarm;
      const alarms = worst ? t.deviceAlarmsNow(device.alarms.filter((a) => a.severity === worst).length, severityLabel(worst, lang)) : null;
      setText(this.#status, [words.label, words.reason, alarms].filter(Boolean).join(' — '));
      this.#status.title = words.hint;
    } else setText(this.#status, '');
    setText(this.#updated, device?.latest ? `${t.updatedAt(formatDateTime(device.latest.ts, ctx.timeZone))} (${formatSince(device.latest.ts, ctx.now, lang)})` : '');
    this.#renderValues(device, lang);
    this.#renderAlarms(device, ctx);
    this.#renderCommands(device, ctx);
    this.#renderTrends(device, ctx);
    this.#renderEvents(ctx);
  }

  #renderValues(device: DeviceView | null, lang: Lang): void {
    const items = device ? keyValues(device, lang) : [];
    this.#values.replaceChildren(
      ...items.flatMap((v) => [el('dt', {}, v.label), el('dd', { 'data-metric': v.metric, ...(v.tone ? { 'data-tone': v.tone } : {}) }, v.text)]),
    );
  }

  #renderAlarms(device: DeviceView | null, ctx: RenderContext): void {
    const t = STRINGS[ctx.lang];
    const alarms = device ? sortAlarms(device.alarms) : [];
    if (alarms.length === 0) {
      this.#alarms.replaceChildren(el('li', { class: 'none' }, t.deviceNoAlarms));
      return;
    }
    this.#alarms.replaceChildren(
      ...alarms.map((a) =>
        el(
          'li',
          { class: `alarm ${a.severity}`, 'data-rule': a.ruleId, 'data-severity': a.severity },
          el('span', { class: 'sev' }, severityLabel(a.severity, ctx.lang)),
          ' ',
          el('span', { class: 'msg' }, inLang(a.message, ctx.lang)),
          ' ',
          el('time', { class: 'ago', datetime: new Date(a.since).toISOString() }, formatSince(a.since, ctx.now, ctx.lang)),
        ),
      ),
    );
  }

  #renderCommands(device: DeviceView | null, ctx: RenderContext): void {
    const t = STRINGS[ctx.lang];
    const names = device && this.#deps.canCommand() ? quickCommands(device) : [];
    this.#commandsBox.hidden = device === null || (names.length === 0 && this.#commands.length === 0);
    const have = [...this.#commandButtons.querySelectorAll<HTMLButtonElement>('button')].map((b) => b.dataset.command);
    if (have.join() !== names.join()) {
      this.#commandButtons.replaceChildren(
        ...names.map((name) => {
          const button = el('button', { type: 'button', class: 'command', 'data-command': name, 'data-testid': `device-command-${name}` });
          button.addEventListener('click', () => this.#ask(name));
          return button;
        }),
      );
    }
    for (const button of this.#commandButtons.querySelectorAll<HTMLButtonElement>('button')) {
      const name = button.dataset.command ?? '';
      setText(button, t.command[name] ?? name);
    }
    this.#commandButtons.setAttribute('aria-label', t.commandsLabel);
    if (this.#commandProblem !== null) setText(this.#commandNote, this.#commandProblem);
    else if (this.#commandNote.textContent === t.commandSending || this.#commandNote.textContent === STRINGS[ctx.lang === 'vi' ? 'en' : 'vi'].commandSending) setText(this.#commandNote, '');
    this.#commandNote.dataset.problem = this.#commandProblem === null ? 'none' : 'failed';
    if (this.#commands.length === 0) {
      this.#commandList.replaceChildren(el('li', { class: 'none' }, t.commandsNone));
      return;
    }
    this.#commandList.replaceChildren(
      ...this.#commands.map((c) => {
        const outcome = [t.commandState[c.state] ?? c.state, c.reason, c.detail].filter(Boolean).join(' — ');
        const after = c.values ? keyValuesText(device, c.values, ctx.lang) : '';
        return el(
          'li',
          { 'data-command-id': c.commandId, 'data-state': c.state, 'data-testid': 'device-command' },
          el('span', { class: 'cmd-name' }, t.command[c.name] ?? c.name),
          ' · ',
          el('span', { class: 'cmd-state', 'data-state': c.state }, outcome),
          after ? el('span', { class: 'cmd-values' }, ` · ${after}`) : '',
          ' · ',
          el('time', { datetime: new Date(c.issuedAt).toISOString() }, formatDateTime(c.issuedAt, ctx.timeZone)),
          c.sentBy ? ` ${t.commandBy(c.sentBy)}` : '',
        );
      }),
    );
  }

  #renderTrends(device: DeviceView | null, ctx: RenderContext): void {
    const t = STRINGS[ctx.lang];
    this.#rangeGroup.setAttribute('aria-label', t.rangeLabel);
    for (const [kind, button] of this.#rangeButtons) {
      setText(button, t.range[kind] ?? kind);
      button.setAttribute('aria-pressed', String(kind === this.#range));
    }
    setText(this.#customShow, t.rangeShow);
    this.#customBox.hidden = this.#range !== 'custom';
    const history = this.#history;
    const preferred = device && isKind(device.kind) ? KINDS[device.kind].keyMetrics : [];
    const metrics = history ? chartableMetrics(history, preferred) : [];
    const note = this.#rangeError ?? (this.#historyProblem !== null ? t.chartsError(this.#historyProblem) : this.#historyLoading && history === null ? t.chartsLoading : history && metrics.length === 0 ? t.chartsNone : history ? t.bucketNote(formatDuration(history.bucketSeconds, ctx.lang)) : '');
    setText(this.#chartsNote, note);
    this.#chartsNote.dataset.problem = this.#rangeError !== null || this.#historyProblem !== null ? 'error' : history && metrics.length === 0 ? 'empty' : 'none';
    this.#charts.dataset.loading = String(this.#historyLoading);
    if (history === null || this.#rangeError !== null) return;
    // One chart per metric, in the kind's order; charts of metrics no longer answered go.
    for (const [metric, chart] of this.#chartMap) {
      if (!metrics.includes(metric)) {
        chart.destroy();
        this.#chartMap.delete(metric);
      }
    }
    // Booleans chart as the share of time true (0-100 %): the profile says which they are.
    const profile = device?.metrics ?? [];
    const booleans = new Set(profile.filter((m) => m.type === 'boolean').map((m) => m.name));
    for (const [m, v] of Object.entries(device?.latest?.values ?? {})) if (typeof v === 'boolean') booleans.add(m);
    for (const metric of metrics) {
      const columns = trendColumns(history, metric);
      if (columns === null) continue;
      let chart = this.#chartMap.get(metric);
      if (!chart) {
        chart = new TrendChart(`chart-${metric}`);
        this.#chartMap.set(metric, chart);
      }
      this.#charts.append(chart.element);
      const boolean = booleans.has(metric);
      const unit = columns.unit && !boolean ? ` (${columns.unit})` : boolean ? ' (%)' : '';
      chart.draw(
        columns,
        { title: `${metricLabel(metric, ctx.lang, profile)}${unit}`, format: (v) => chartValue(metric, v, ctx.lang, boolean), ...(boolean ? { range: [0, 1] as const } : {}) },
        ctx.lang,
        ctx.timeZone,
      );
    }
  }

  #renderEvents(ctx: RenderContext): void {
    const t = STRINGS[ctx.lang];
    if (this.#events.length === 0) {
      this.#eventList.replaceChildren(el('li', { class: 'none' }, t.eventsNone));
      return;
    }
    this.#eventList.replaceChildren(
      ...this.#events.map((e) => {
        const what =
          e.type === 'device-status'
            ? t.eventStatus(t.deviceState[e.state ?? ''] ?? e.state ?? '', e.reason ? (t.reason[e.reason] ?? e.reason) : '')
            : t.eventGap(e.dropped ?? 0);
        return el('li', { 'data-type': e.type }, el('time', { datetime: new Date(e.ts).toISOString() }, formatDateTime(e.ts, ctx.timeZone)), ' ', what);
      }),
    );
  }

}

/** What the device read right after a command, in words (its key metrics only). */
function keyValuesText(device: DeviceView | null, values: Record<string, string | number | boolean>, lang: Lang): string {
  if (device === null) return '';
  return keyValues({ ...device, latest: { ts: 0, values } }, lang)
    .map((v) => `${v.label}: ${v.text}`)
    .join(', ');
}
