// District overview: wires the cloud's API and live socket to the page.
//
//   GET /api/district        -> header (district name, time zone)
//   GET /api/schools         -> SchoolStore snapshot (on load, on every (re)connect, every minute)
//   socket.io 'school' event -> SchoolStore.applyEvent -> table row update (batched per frame)
//   ?school=<id>             -> that school's devices instead of the overview (school-page.ts)

import { io, type Socket } from 'socket.io-client';
import {
  fetchDistrict,
  fetchSchools,
  isSchoolSummary,
  type ClientToServerEvents,
  type District,
  type ServerToClientEvents,
} from './api.ts';
import { DEFAULT_TIMEZONE, formatDateTime } from './format.ts';
import { LANG_STORAGE_KEY, STRINGS, initialLang, isLang, rememberLang, type Lang, type Strings } from './i18n.ts';
import { schoolFromSearch, searchWithSchool } from './route.ts';
import { SchoolPage } from './school-page.ts';
import { SchoolView } from './school-view.ts';
import { SchoolStore, schoolName, type SchoolChange } from './store.ts';
import { SchoolTable, renderTotals, type RenderContext, type TotalsView } from './view.ts';

/** A full snapshot now and then bounds any drift between the snapshot and live events. */
const RESYNC_INTERVAL_MS = 60_000;
const RETRY_MS = 5_000;
/** Clock correction below this is noise (the HTTP Date header has one-second resolution). */
const CLOCK_SKEW_TOLERANCE_MS = 5_000;
/** Above this many simultaneous status changes, one summary sentence is announced. */
const ANNOUNCE_EACH_MAX = 3;

function must<T extends Element>(selector: string): T {
  const node = document.querySelector<T>(selector);
  if (node === null) throw new Error(`index.html is missing ${selector}`);
  return node;
}

const dom = {
  title: must<HTMLElement>('[data-testid="app-title"]'),
  district: must<HTMLElement>('[data-testid="district-name"]'),
  clock: must<HTMLTimeElement>('[data-testid="clock"]'),
  connection: must<HTMLElement>('[data-testid="connection"]'),
  connectionText: must<HTMLElement>('[data-testid="connection"] .conn-text'),
  langButtons: [...document.querySelectorAll<HTMLButtonElement>('[data-testid="lang-toggle"] button[data-lang]')],
  staleBanner: must<HTMLElement>('[data-testid="stale-banner"]'),
  errorBanner: must<HTMLElement>('[data-testid="load-error"]'),
  main: must<HTMLElement>('main'),
  overviewKpis: must<HTMLElement>('[data-testid="overview-kpis"]'),
  overview: must<HTMLElement>('[data-testid="overview"]'),
  schoolView: must<HTMLElement>('[data-testid="school-view"]'),
  tbody: must<HTMLTableSectionElement>('[data-testid="schools-table"] tbody'),
  empty: must<HTMLElement>('[data-testid="schools-empty"]'),
  announcer: must<HTMLElement>('[data-testid="announcer"]'),
};
const totalsView: TotalsView = {
  online: must('[data-testid="kpi-online"]'),
  offline: must('[data-testid="kpi-offline"]'),
  devices: must('[data-testid="kpi-devices"]'),
  headcount: must('[data-testid="kpi-headcount"]'),
  inBps: must('[data-testid="kpi-inbps"]'),
};

// ---- page state ----

const params = new URLSearchParams(location.search);
function safeStorage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

let lang: Lang = initialLang(location.search, safeStorage());
let district: District | null = null;
/** Server clock minus this browser's clock, when they disagree by more than the tolerance. */
let clockOffsetMs = 0;
type ConnectionState = 'connecting' | 'live' | 'reconnecting';
let connection: ConnectionState = 'connecting';
let schoolsLoaded = false;

const store = new SchoolStore();
const table = new SchoolTable(dom.tbody);

function t(): Strings {
  return STRINGS[lang];
}
function now(): number {
  return Date.now() + clockOffsetMs;
}
function ctx(): RenderContext {
  return { lang, now: now(), timeZone: district?.timezone || DEFAULT_TIMEZONE };
}

// ---- static text and language ----

function applyLanguage(): void {
  const s = t();
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll<HTMLElement>('[data-i18n]')) {
    const key = node.dataset.i18n as keyof Strings;
    const value = s[key];
    if (typeof value === 'string') node.textContent = value;
  }
  for (const node of document.querySelectorAll<HTMLElement>('[data-i18n-title]')) {
    const key = node.dataset.i18nTitle as keyof Strings;
    const value = s[key];
    if (typeof value === 'string') node.title = value;
  }
  for (const node of document.querySelectorAll<HTMLElement>('[data-i18n-label]')) {
    const key = node.dataset.i18nLabel as keyof Strings;
    const value = s[key];
    if (typeof value === 'string') node.setAttribute('aria-label', value);
  }
  for (const button of dom.langButtons) button.setAttribute('aria-pressed', String(button.dataset.lang === lang));
  renderDistrict();
  renderConnection();
  renderEmpty();
  renderAll();
  schoolPage.render();
}

function setLanguage(next: Lang): void {
  if (next === lang) return;
  lang = next;
  rememberLang(lang, safeStorage());
  applyLanguage();
}

for (const button of dom.langButtons) {
  button.addEventListener('click', () => {
    const choice = button.dataset.lang;
    if (isLang(choice)) setLanguage(choice);
  });
}
// Keep several open tabs/displays on one machine in the same language.
window.addEventListener('storage', (event) => {
  if (event.key === LANG_STORAGE_KEY && isLang(event.newValue) && !params.has('lang')) setLanguage(event.newValue);
});

function renderDistrict(): void {
  const name = district ? district.name[lang] || district.name.vi : '';
  dom.district.textContent = name || t().districtLoading;
  dom.district.dataset.districtId = district?.id ?? '';
  renderTitle();
}

function renderTitle(): void {
  const name = district ? district.name[lang] || district.name.vi : '';
  const open = schoolPage.schoolId;
  const school = open === null ? undefined : store.get(open);
  if (open !== null) document.title = t().schoolPageTitle(school ? schoolName(school, lang) : open);
  else document.title = name ? t().pageTitle(name) : t().appTitle;
}

// ---- clock ----

function renderClock(): void {
  const at = now();
  dom.clock.textContent = formatDateTime(at, district?.timezone || DEFAULT_TIMEZONE);
  dom.clock.dateTime = new Date(at).toISOString();
}

function scheduleTick(): void {
  // Wake just after each full second of the (server-corrected) clock so seconds never skip.
  setTimeout(() => {
    renderClock();
    table.tick(store.all(), ctx());
    scheduleTick();
  }, 1000 - (now() % 1000) + 15);
}

// ---- connection indicator ----

function setConnection(state: ConnectionState): void {
  if (state === connection) return;
  connection = state;
  renderConnection();
}

function renderConnection(): void {
  const s = t();
  dom.connection.dataset.state = connection;
  dom.connectionText.textContent =
    connection === 'live' ? s.connLive : connection === 'reconnecting' ? s.connReconnecting : s.connConnecting;
  // Once the live feed is lost, say so next to the figures: they stop updating.
  const stale = connection === 'reconnecting';
  dom.staleBanner.hidden = !stale;
  dom.main.classList.toggle('stale', stale);
}

// ---- rendering, batched to one pass per animation frame ----

const dirty = new Set<string>();
let frameRequested = false;
const pendingAnnouncements: SchoolChange[] = [];

function renderAll(): void {
  const schools = store.all();
  table.render(schools, null, ctx());
  renderTotals(totalsView, schools, lang, false);
}

function renderDirty(): void {
  frameRequested = false;
  if (dirty.size === 0) return;
  const schools = store.all();
  table.render(schools, new Set(dirty), ctx());
  renderTotals(totalsView, schools, lang, true);
  dirty.clear();
  renderEmpty();
  announce();
}

store.onChange((changes) => {
  for (const change of changes) {
    dirty.add(change.id);
    if (change.id === schoolPage.schoolId) {
      schoolPage.onSummary(change.after, change.id);
      renderTitle();
    }
    // Only transitions of a school already on screen are news; the first load is not.
    if (change.before !== undefined && change.after !== undefined && change.before.online !== change.after.online) {
      pendingAnnouncements.push(change);
    }
  }
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(renderDirty);
  }
});

function renderEmpty(): void {
  dom.empty.hidden = schoolsLoaded && store.size > 0;
  dom.empty.textContent = schoolsLoaded ? t().empty : t().loading;
}

function announce(): void {
  if (pendingAnnouncements.length === 0) return;
  const s = t();
  const wentOffline = pendingAnnouncements.filter((c) => c.after?.online === false);
  const cameOnline = pendingAnnouncements.filter((c) => c.after?.online === true);
  pendingAnnouncements.length = 0;
  const sentences: string[] = [];
  if (wentOffline.length > ANNOUNCE_EACH_MAX) sentences.push(s.announceManyOffline(wentOffline.length));
  else for (const c of wentOffline) sentences.push(s.announceOffline(schoolName(c.after!, lang)));
  if (cameOnline.length > ANNOUNCE_EACH_MAX) sentences.push(s.announceManyOnline(cameOnline.length));
  else for (const c of cameOnline) sentences.push(s.announceOnline(schoolName(c.after!, lang)));
  dom.announcer.textContent = sentences.join(' ');
}

// ---- one school's devices: ?school=<id> ----

const schoolView = new SchoolView(dom.schoolView, () => closeSchool());
const schoolPage = new SchoolPage({ view: schoolView, ctx, summary: (id) => store.get(id) });
/** history.state of an entry this page pushed when opening a school from the overview. */
const FROM_OVERVIEW = 'schoolops:from-overview';

/** Show what the URL asks for. `focus`: the user navigated, so move focus to the new view. */
function route(focus: boolean): void {
  const id = schoolFromSearch(location.search);
  const wasOpen = schoolPage.schoolId;
  if (id !== null) schoolPage.open(id);
  else schoolPage.close();
  const open = id !== null;
  dom.overviewKpis.hidden = open;
  dom.overview.hidden = open;
  dom.schoolView.hidden = !open;
  renderTitle();
  // Only a visible element takes focus.
  if (open && focus) schoolView.focusHeading();
  // Back on the overview: focus returns to the school the user came from.
  if (!open && focus && wasOpen !== null) {
    dom.tbody.querySelector<HTMLAnchorElement>(`tr[data-school-id="${CSS.escape(wasOpen)}"] a.school-link`)?.focus();
  }
}

function openSchool(id: string): void {
  if (schoolPage.schoolId === id) return;
  history.pushState(FROM_OVERVIEW, '', `${location.pathname}${searchWithSchool(location.search, id)}`);
  route(true);
}

function closeSchool(): void {
  // Opened from the overview: going back keeps the browser's history as the user expects.
  if (history.state === FROM_OVERVIEW) {
    history.back();
    return;
  }
  history.pushState(null, '', `${location.pathname}${searchWithSchool(location.search, null)}`);
  route(true);
}

window.addEventListener('popstate', () => route(true));

// A click anywhere on a school's row opens it; the name is a real link, so Enter and a
// middle click (new tab) work too.
dom.tbody.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const target = event.target instanceof Element ? event.target : null;
  const row = target?.closest<HTMLTableRowElement>('tr[data-school-id]');
  const id = row?.dataset.schoolId;
  if (!id) return;
  // Selecting text in a row is not a click on it.
  if (target?.closest('a') === null && (window.getSelection()?.toString() ?? '') !== '') return;
  event.preventDefault();
  openSchool(id);
});

// ---- data: snapshot, district, live socket ----

let resyncInFlight = false;
let resyncAgain = false;
let retryTimer: ReturnType<typeof setTimeout> | undefined;

async function resync(): Promise<void> {
  if (resyncInFlight) {
    // A (re)connect during a request: its snapshot might predate the new subscription.
    resyncAgain = true;
    return;
  }
  resyncInFlight = true;
  clearTimeout(retryTimer);
  const token = store.beginSnapshot();
  try {
    const { body, serverDate, malformed } = await fetchSchools();
    if (malformed > 0) console.warn(`SchoolOps: ignored ${malformed} school(s) with an unexpected shape`);
    if (serverDate !== null) {
      const skew = serverDate - Date.now();
      clockOffsetMs = Math.abs(skew) > CLOCK_SKEW_TOLERANCE_MS ? skew : 0;
    }
    schoolsLoaded = true;
    dom.errorBanner.hidden = true;
    store.applySnapshot(token, body);
    renderEmpty();
  } catch (error) {
    console.warn('SchoolOps: loading schools failed', error);
    dom.errorBanner.hidden = false;
    retryTimer = setTimeout(() => void resync(), RETRY_MS);
  } finally {
    resyncInFlight = false;
    if (resyncAgain) {
      resyncAgain = false;
      void resync();
    }
  }
}

async function loadDistrict(attempt = 0): Promise<void> {
  try {
    district = await fetchDistrict();
    renderDistrict();
    renderClock();
    renderAll();
  } catch (error) {
    console.warn('SchoolOps: loading district failed', error);
    setTimeout(() => void loadDistrict(attempt + 1), Math.min(RETRY_MS * 2 ** attempt, 60_000));
  }
}

const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({
  // Same origin, default path /socket.io. Keep trying for ever: a wall display is unattended.
  reconnectionDelay: 1_000,
  reconnectionDelayMax: 10_000,
});

socket.on('connect', () => {
  setConnection('live');
  void resync();
});
socket.on('disconnect', (reason) => {
  setConnection('reconnecting');
  // After a server-side disconnect socket.io does not reconnect by itself.
  if (reason === 'io server disconnect') socket.connect();
});
socket.on('connect_error', () => setConnection('reconnecting'));
socket.on('school', (school: unknown) => {
  if (isSchoolSummary(school)) store.applyEvent(school);
  else console.warn('SchoolOps: ignored a school event with an unexpected shape', school);
});

setInterval(() => {
  if (socket.connected) void resync();
}, RESYNC_INTERVAL_MS);

// ---- start ----

route(false);
applyLanguage();
renderClock();
scheduleTick();
void loadDistrict();
void resync();
