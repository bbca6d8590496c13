// The wall display's page (?wall; where an enrolled display lands): no navigation, type
// sized to the screen, problems first as big tiles, then the district's figures, then the
// schools as cards in pages that turn on their own. A clock, how old the data is, and a
// "connection lost" state that clears by itself when the live feed comes back.

import { FIGURE_NAMES, FIGURES, type FigureName } from '@schoolops/device-profiles/kinds';
import type { SchoolSummary } from './api.ts';
import { el, setText } from './dom.ts';
import { formatBitrate, formatDateTime, formatDecimal, formatInteger, formatLatency, formatPercent, formatRelative, formatTemperature, withUnit } from './format.ts';
import { STRINGS, type Lang } from './i18n.ts';
import { schoolName } from './store.ts';
import type { RenderContext } from './view.ts';
import { cardsPerPage, districtFigures, problemTiles, wallPage, type Tile } from './wall.ts';

/** A page of schools stays this long unless the address says otherwise (?wall&turn=SECONDS). */
export const DEFAULT_TURN_MS = 15_000;
/** A performance mark set when the wall first shows schools (simulators/bench/wall-display.ts reads it). */
export const WALL_FIRST_RENDER = 'schoolops:wall-first-render';
/** Data older than this is called stale on the wall even while connected. */
const STALE_MS = 60_000;

/** Card size in rem when the style sheet does not say (styles.css .wall-cards sets --wall-card-*). */
const CARD = { width: 21, height: 6.2, gap: 0.7 };

export interface WallState {
  districtName: string;
  connection: 'connecting' | 'live' | 'reconnecting';
  /** When the page last heard anything from the district (snapshot or live event), ms epoch; null before. */
  lastDataAt: number | null;
}

function figureText(name: FigureName, v: number | null, lang: Lang): string {
  const unit = FIGURES[name].unit;
  if (unit === 'bit/s') return formatBitrate(v, lang);
  if (unit === 'ms') return formatLatency(v, lang);
  if (unit === '%') return formatPercent(v, lang);
  if (unit === '°C') return formatTemperature(v, lang);
  if (unit === '') return formatInteger(v, lang);
  return withUnit(formatDecimal(v, lang), unit);
}

export class WallView {
  readonly #root: HTMLElement;
  readonly #title: HTMLElement;
  readonly #clock: HTMLTimeElement;
  readonly #age: HTMLElement;
  readonly #conn: HTMLElement;
  readonly #lost: HTMLElement;
  readonly #tilesHeading: HTMLElement;
  readonly #tiles: HTMLUListElement;
  readonly #figures: HTMLElement;
  readonly #schoolsHeading: HTMLElement;
  readonly #cards: HTMLUListElement;
  readonly #pageNote: HTMLElement;
  readonly #startedAt: number;
  readonly #turnMs: number;
  #schools: readonly SchoolSummary[] = [];
  #state: WallState = { districtName: '', connection: 'connecting', lastDataAt: null };
  #tilesKey = '';
  #cardsKey = '';
  /** Schools have been on the wall once (the first-render mark is set). */
  #shownSchools = false;

  constructor(root: HTMLElement, o: { startedAt: number; turnMs?: number }) {
    this.#root = root;
    this.#startedAt = o.startedAt;
    this.#turnMs = o.turnMs ?? DEFAULT_TURN_MS;
    this.#title = el('h1', { class: 'wall-title', 'data-testid': 'wall-title' });
    this.#clock = el('time', { class: 'wall-clock', 'data-testid': 'wall-clock' });
    this.#age = el('p', { class: 'wall-age', 'data-testid': 'wall-age' });
    this.#conn = el('p', { class: 'wall-conn', role: 'status', 'data-testid': 'wall-connection' });
    this.#lost = el('div', { class: 'wall-lost', role: 'alert', 'data-testid': 'wall-connection-lost' });
    this.#lost.hidden = true;
    this.#tilesHeading = el('h2', { class: 'sr-only', id: 'wall-problems' });
    this.#tiles = el('ul', { class: 'wall-tiles', 'data-testid': 'wall-tiles' });
    this.#figures = el('dl', { class: 'wall-figures', 'data-testid': 'wall-figures' });
    this.#schoolsHeading = el('h2', { class: 'sr-only', id: 'wall-schools' });
    this.#cards = el('ul', { class: 'wall-cards', 'data-testid': 'wall-schools' });
    this.#pageNote = el('p', { class: 'wall-page', 'data-testid': 'wall-page' });
    root.replaceChildren(
      el('header', { class: 'wall-top' }, this.#title, el('div', { class: 'wall-status' }, this.#clock, this.#age, this.#conn)),
      this.#lost,
      el('section', { class: 'wall-problems', 'aria-labelledby': 'wall-problems' }, this.#tilesHeading, this.#tiles),
      this.#figures,
      el('section', { class: 'wall-schools', 'aria-labelledby': 'wall-schools' }, this.#schoolsHeading, this.#cards, this.#pageNote),
    );
  }

  /** New data or a new state of the connection: draw everything that depends on it. */
  render(schools: readonly SchoolSummary[], state: WallState, ctx: RenderContext): void {
    this.#schools = schools;
    this.#state = state;
    const t = STRINGS[ctx.lang];
    setText(this.#title, state.districtName || t.appTitle);
    setText(this.#tilesHeading, t.wallProblems);
    setText(this.#schoolsHeading, t.wallSchools);
    this.#renderTiles(ctx);
    this.#renderFigures(ctx);
    this.tick(ctx);
  }

  /** Every second: the clock, the data's age, the connection, and the page of schools. */
  tick(ctx: RenderContext): void {
    const t = STRINGS[ctx.lang];
    setText(this.#clock, formatDateTime(ctx.now, ctx.timeZone));
    const { lastDataAt, connection } = this.#state;
    const age = lastDataAt === null ? null : Math.max(0, ctx.now - lastDataAt);
    setText(this.#age, lastDataAt === null ? t.wallNoData : t.wallAge(formatRelative(lastDataAt, ctx.now, ctx.lang)));
    this.#age.dataset.stale = String(age === null || age > STALE_MS);
    this.#conn.dataset.state = connection;
    setText(this.#conn, connection === 'live' ? t.connLive : connection === 'reconnecting' ? t.connReconnecting : t.connConnecting);
    const lost = connection === 'reconnecting';
    this.#lost.hidden = !lost;
    this.#root.dataset.connection = connection;
    if (lost) setText(this.#lost, t.wallLost(lastDataAt === null ? '—' : formatDateTime(lastDataAt, ctx.timeZone)));
    this.#renderCards(ctx);
  }

  #renderTiles(ctx: RenderContext): void {
    const t = STRINGS[ctx.lang];
    const { tiles, more } = problemTiles(this.#schools, ctx.lang);
    const key = JSON.stringify([ctx.lang, tiles, more, Math.floor(ctx.now / 60_000)]);
    if (key === this.#tilesKey) return;
    this.#tilesKey = key;
    const text = (tile: Tile) =>
      tile.kind === 'offline'
        ? t.wallOffline(tile.since === null ? '' : formatRelative(tile.since, ctx.now, ctx.lang))
        : tile.kind === 'link-down'
          ? t.wallLinkDown
          : tile.kind === 'critical'
            ? t.wallCritical(tile.count)
            : t.wallAllWell;
    this.#tiles.replaceChildren(
      ...tiles.map((tile) =>
        el('li', { class: 'wall-tile', 'data-kind': tile.kind, 'data-school-id': tile.schoolId ?? '' }, tile.name ? el('span', { class: 'tile-name' }, tile.name) : '', el('span', { class: 'tile-what' }, text(tile))),
      ),
      ...(more > 0 ? [el('li', { class: 'wall-tile', 'data-kind': 'more' }, el('span', { class: 'tile-what' }, t.wallMore(more)))] : []),
    );
    this.#tiles.dataset.count = String(tiles.filter((x) => x.kind !== 'all-well').length + more);
  }

  #renderFigures(ctx: RenderContext): void {
    const t = STRINGS[ctx.lang];
    const d = districtFigures(this.#schools);
    const item = (key: string, label: string, value: string) => [el('div', { class: 'wall-figure', 'data-figure': key }, el('dt', {}, label), el('dd', {}, value))];
    this.#figures.replaceChildren(
      ...item('online', t.kpiOnline, `${formatInteger(d.online, ctx.lang)}/${formatInteger(d.schools, ctx.lang)}`),
      ...item('devices', t.kpiDevices, `${formatInteger(d.devicesReporting, ctx.lang)}/${formatInteger(d.devicesTotal, ctx.lang)}`),
      ...item('problems', t.countProblems, formatInteger(d.problems, ctx.lang)),
      ...item('critical', t.wallCriticalLabel, formatInteger(d.criticalAlarms, ctx.lang)),
      // Every figure of the kind registry: a new figure shows here without a change to this file.
      ...FIGURE_NAMES.flatMap((name) => item(name, FIGURES[name].label[ctx.lang], figureText(name, d.figures[name], ctx.lang))),
    );
  }

  #renderCards(ctx: RenderContext): void {
    const t = STRINGS[ctx.lang];
    const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    // The card's size from the style sheet, so the count and the grid agree.
    const style = getComputedStyle(this.#cards);
    const size = (name: string, fallback: number) => parseFloat(style.getPropertyValue(`--wall-card-${name}`)) || fallback;
    const card = { width: size('width', CARD.width), height: size('height', CARD.height), gap: size('gap', CARD.gap) };
    const top = this.#cards.getBoundingClientRect().top;
    const width = this.#cards.clientWidth || window.innerWidth;
    // The height left below the figures, less the page note's line.
    const height = Math.max(window.innerHeight - top - 3 * rem, card.height * rem);
    const perPage = cardsPerPage(width, height, { width: card.width * rem, height: card.height * rem, gap: card.gap * rem });
    const { page, pages, schools } = wallPage(this.#schools, perPage, ctx.now, this.#startedAt, this.#turnMs, ctx.lang);
    this.#cards.dataset.page = String(page + 1);
    this.#cards.dataset.pages = String(pages);
    this.#cards.dataset.perPage = String(perPage);
    setText(this.#pageNote, pages > 1 ? t.wallPage(page + 1, pages, this.#schools.length) : t.wallAllSchools(this.#schools.length));
    const key = JSON.stringify([ctx.lang, page, pages, schools.map((s) => [s.id, s.online, s.devices, s.alarms, s.figures.inBps, s.figures.linksDown])]);
    if (key === this.#cardsKey) return;
    // The first time schools are on the wall: what the first-render benchmark measures. (Not
    // "the first render": that one, before the schools load, draws an empty page.)
    if (!this.#shownSchools && schools.length > 0) {
      this.#shownSchools = true;
      performance.mark(WALL_FIRST_RENDER);
    }
    this.#cardsKey = key;
    this.#cards.replaceChildren(
      ...schools.map((s) => {
        const state = !s.online ? 'offline' : s.alarms.critical > 0 || (s.figures.linksDown ?? 0) > 0 ? 'bad' : s.devices.problems > 0 || s.alarms.warning > 0 ? 'warn' : 'ok';
        return el(
          'li',
          { class: 'wall-card', 'data-school-id': s.id, 'data-state': state },
          el('span', { class: 'card-name' }, schoolName(s, ctx.lang)),
          el('span', { class: 'card-state' }, s.online ? t.online : t.offline),
          el('span', { class: 'card-line' }, t.wallCardDevices(s.devices.reporting, s.devices.total), s.alarms.critical + s.alarms.warning > 0 ? ` · ${t.wallCardAlarms(s.alarms.critical + s.alarms.warning)}` : ''),
          el('span', { class: 'card-line' }, s.online && s.figures.inBps !== null ? `↓ ${formatBitrate(s.figures.inBps, ctx.lang)}` : ''),
        );
      }),
    );
  }
}
