// The dashboard: wires the cloud's API and live socket to the page, for whoever is signed in.
//
//   GET /api/auth/me         -> who is signed in (401: the sign-in form), their role's view
//   GET /api/district        -> header (district name, time zone)
//   GET /api/schools         -> SchoolStore snapshot (on sign-in, on every (re)connect, every minute)
//   socket.io 'school' event -> SchoolStore.applyEvent -> table row update (batched per frame)
//   ?school=<id>             -> that school's devices instead of the overview (school-page.ts)
//   ?admin                   -> people, tokens, displays, audit log (admin-page.ts)
//   ?enroll                  -> a wall display trades its one-time code for its session
//
// The cloud decides who may see what; the page shows each role its part and hides what the
// cloud would refuse (auth.ts). Any 401 brings the sign-in form, with the address kept so
// the person goes on where they were going; signing out, or signing in as someone else,
// drops everything the previous person's page had loaded.

import { io, type Socket } from 'socket.io-client';
import { AdminPage } from './admin-page.ts';
import { WallView } from './wall-view.ts';
import { ReportPage } from './report-page.ts';
import { DevicePage } from './device-page.ts';
import {
  HttpError,
  configureSession,
  enroll,
  fetchDistrict,
  fetchMe,
  fetchSchools,
  isSchoolSummary,
  login,
  logout,
  sendCommand,
  setCsrfToken,
  type ClientToServerEvents,
  type District,
  type ServerToClientEvents,
} from './api.ts';
import { canSeeSchool, landingFor, normalizeEnrollCode, retryAfterMinutes, sectionsFor, type Me, type Sections } from './auth.ts';
import { DEFAULT_TIMEZONE, formatDateTime } from './format.ts';
import { LANG_STORAGE_KEY, STRINGS, inLang, initialLang, isLang, rememberLang, type Lang, type Strings } from './i18n.ts';
import { routeFromSearch, searchFor, type Route } from './route.ts';
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
/** The socket.io server refuses a handshake without a session with a message starting so. */
const SIGN_IN_FIRST = 'sign in first';

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
  who: must<HTMLElement>('[data-testid="who"]'),
  whoName: must<HTMLElement>('[data-testid="who-name"]'),
  whoRole: must<HTMLElement>('[data-testid="who-role"]'),
  adminLink: must<HTMLAnchorElement>('[data-testid="admin-link"]'),
  signOut: must<HTMLButtonElement>('[data-testid="sign-out"]'),
  staleBanner: must<HTMLElement>('[data-testid="stale-banner"]'),
  errorBanner: must<HTMLElement>('[data-testid="load-error"]'),
  main: must<HTMLElement>('main'),
  signIn: must<HTMLElement>('[data-testid="sign-in"]'),
  signInForm: must<HTMLFormElement>('[data-testid="sign-in-form"]'),
  signInStatus: must<HTMLElement>('[data-testid="sign-in-status"]'),
  username: must<HTMLInputElement>('[data-testid="sign-in-username"]'),
  password: must<HTMLInputElement>('[data-testid="sign-in-password"]'),
  signInError: must<HTMLElement>('[data-testid="sign-in-error"]'),
  signInSubmit: must<HTMLButtonElement>('[data-testid="sign-in-submit"]'),
  enrollLink: must<HTMLAnchorElement>('[data-testid="enroll-link"]'),
  enroll: must<HTMLElement>('[data-testid="enroll"]'),
  enrollForm: must<HTMLFormElement>('[data-testid="enroll-form"]'),
  enrollCode: must<HTMLInputElement>('[data-testid="enroll-code"]'),
  enrollError: must<HTMLElement>('[data-testid="enroll-error"]'),
  enrollSubmit: must<HTMLButtonElement>('[data-testid="enroll-submit"]'),
  forbidden: must<HTMLElement>('[data-testid="forbidden"]'),
  overviewKpis: must<HTMLElement>('[data-testid="overview-kpis"]'),
  overview: must<HTMLElement>('[data-testid="overview"]'),
  schoolView: must<HTMLElement>('[data-testid="school-view"]'),
  devicePage: must<HTMLElement>('[data-testid="device-page"]'),
  wall: must<HTMLElement>('[data-testid="wall"]'),
  report: must<HTMLElement>('[data-testid="report"]'),
  admin: must<HTMLElement>('[data-testid="admin"]'),
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

/** Who is signed in; null while the sign-in or enrollment form shows (or before we know). */
let me: Me | null = null;
let sections: Sections | null = null;
/** What the sign-in form says above the fields: why it is shown. */
type SignInReason = 'none' | 'expired' | 'signed-out';
let signInReason: SignInReason = 'none';
/** The sign-in or enrollment form's own error, re-worded on a language switch. */
type FormError = { kind: 'missing' | 'wrong' | 'unreachable' } | { kind: 'limited'; minutes: number } | null;
let signInError: FormError = null;
let enrollError: FormError = null;
type Screen = 'loading' | 'sign-in' | 'enroll' | 'app';
let screen: Screen = 'loading';
/** The view shown while signed in, once routed. */
let shown: Route['view'] | 'forbidden' | null = null;

const store = new SchoolStore();
const table = new SchoolTable(dom.tbody);

function t(): Strings {
  return STRINGS[lang];
}
function now(): number {
  return Date.now() + clockOffsetMs;
}
function timeZone(): string {
  return district?.timezone || DEFAULT_TIMEZONE;
}
function ctx(): RenderContext {
  return { lang, now: now(), timeZone: timeZone() };
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
  renderWho();
  renderForms();
  renderForbidden();
  schoolPage.render();
  if (devicePage.deviceId !== null) devicePage.render();
  if (reportPage.schoolId !== null) reportPage.render();
  adminPage.render();
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
  const name = district ? inLang(district.name, lang) : '';
  dom.district.textContent = name || (me === null ? '' : t().districtLoading);
  dom.district.dataset.districtId = district?.id ?? '';
  renderTitle();
}

function renderTitle(): void {
  const s = t();
  const name = district ? inLang(district.name, lang) : '';
  const open = schoolPage.schoolId;
  const school = open === null ? undefined : store.get(open);
  if (screen === 'sign-in') document.title = `${s.signInTitle} · ${s.appTitle}`;
  else if (screen === 'enroll') document.title = `${s.enrollTitle} · ${s.appTitle}`;
  else if (shown === 'admin') document.title = s.adminPageTitle;
  else if (open !== null) document.title = s.schoolPageTitle(school ? schoolName(school, lang) : open);
  else document.title = name ? s.pageTitle(name) : s.appTitle;
}

// ---- who is signed in: the header chip ----

function renderWho(): void {
  const s = t();
  dom.who.hidden = me === null;
  if (me === null) return;
  dom.whoName.textContent = me.name;
  dom.whoRole.textContent = s.role[me.role] ?? me.role;
  dom.who.dataset.role = me.role;
  dom.adminLink.hidden = !sections?.admin || shown === 'admin';
  dom.adminLink.href = `${location.pathname}${searchFor(location.search, { view: 'admin' })}`;
  // A wall display is revoked by the admin, not signed out by a passer-by.
  dom.signOut.hidden = sections?.kiosk === true;
}

// ---- the sign-in and enrollment forms ----

function formErrorText(error: FormError, kind: 'sign-in' | 'enroll'): string {
  const s = t();
  if (error === null) return '';
  if (error.kind === 'missing') return kind === 'sign-in' ? s.signInMissing : s.enrollMissing;
  if (error.kind === 'wrong') return kind === 'sign-in' ? s.signInWrong : s.enrollWrong;
  if (error.kind === 'limited') return kind === 'sign-in' ? s.signInLimited(error.minutes) : s.enrollLimited(error.minutes);
  return s.signInUnreachable;
}

function renderForms(): void {
  const s = t();
  const status = signInReason === 'expired' ? s.signInExpired : signInReason === 'signed-out' ? s.signedOut : '';
  dom.signInStatus.textContent = status;
  dom.signInStatus.hidden = status === '';
  const signInText = formErrorText(signInError, 'sign-in');
  dom.signInError.textContent = signInText;
  dom.signInError.hidden = signInText === '';
  dom.signInError.dataset.kind = signInError?.kind ?? '';
  const enrollText = formErrorText(enrollError, 'enroll');
  dom.enrollError.textContent = enrollText;
  dom.enrollError.hidden = enrollText === '';
  dom.enrollError.dataset.kind = enrollError?.kind ?? '';
  dom.enrollLink.href = `${location.pathname}${searchFor(location.search, { view: 'enroll' })}`;
}

/** A refused sign-in or enrollment, as the form words it. */
function formErrorOf(error: unknown): FormError {
  if (error instanceof HttpError && error.status === 401) return { kind: 'wrong' };
  if (error instanceof HttpError && error.status === 429) {
    // The header is the rule; the message ("try again in N min") is the cloud's own words.
    const fromHeader = retryAfterMinutes(error.retryAfter);
    const fromReason = /(\d+)\s*min/.exec(error.reason ?? '')?.[1];
    return { kind: 'limited', minutes: fromHeader ?? (fromReason ? Number(fromReason) : 1) };
  }
  return { kind: 'unreachable' };
}

function setScreen(next: Screen): void {
  screen = next;
  document.body.dataset.screen = next;
  dom.signIn.hidden = next !== 'sign-in';
  dom.enroll.hidden = next !== 'enroll';
  dom.connection.hidden = next !== 'app';
  if (next !== 'app') {
    for (const node of [dom.overviewKpis, dom.overview, dom.schoolView, dom.devicePage, dom.wall, dom.report, dom.admin, dom.forbidden, dom.staleBanner, dom.errorBanner]) node.hidden = true;
    document.body.classList.remove('wall-mode');
    dom.main.classList.remove('stale');
    shown = null;
  }
  renderTitle();
}

/** The sign-in form, instead of whatever showed: the address stays, to go on after. */
function showSignIn(reason: SignInReason): void {
  const wasSignedIn = me !== null;
  endSession();
  signInReason = reason;
  signInError = null;
  setScreen('sign-in');
  renderForms();
  if (wasSignedIn || reason !== 'none') dom.password.value = '';
  // Signed out on a shared screen: the next person should not find the last one's name.
  if (reason === 'signed-out') dom.username.value = '';
  (dom.username.value === '' ? dom.username : dom.password).focus();
}

function showEnroll(): void {
  endSession();
  enrollError = null;
  setScreen('enroll');
  renderForms();
  dom.enrollCode.focus();
}

dom.signInForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void submitSignIn();
});

let signingIn = false;
async function submitSignIn(): Promise<void> {
  if (signingIn) return;
  const username = dom.username.value.trim();
  const password = dom.password.value;
  if (username === '' || password === '') {
    signInError = { kind: 'missing' };
    renderForms();
    (username === '' ? dom.username : dom.password).focus();
    return;
  }
  signingIn = true;
  // The last answer's error goes while this try is out: it may not be this one's answer.
  signInError = null;
  renderForms();
  dom.signInSubmit.disabled = true;
  dom.signInSubmit.textContent = t().signingIn;
  try {
    const who = await login(username, password);
    dom.password.value = '';
    signInError = null;
    startSession(who);
  } catch (error) {
    signInError = formErrorOf(error);
    if (signInError?.kind === 'unreachable') console.warn('SchoolOps: signing in failed', error);
    dom.password.value = '';
    renderForms();
    dom.password.focus();
  } finally {
    signingIn = false;
    dom.signInSubmit.disabled = false;
    dom.signInSubmit.textContent = t().signInButton;
  }
}

// The code is shown as it is printed (ABCDE-FGH23) while it is typed.
dom.enrollCode.addEventListener('input', () => {
  const at = dom.enrollCode.selectionStart === dom.enrollCode.value.length;
  const normalized = normalizeEnrollCode(dom.enrollCode.value);
  if (normalized !== dom.enrollCode.value && at) dom.enrollCode.value = normalized;
});

dom.enrollForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void submitEnroll();
});

let enrolling = false;
async function submitEnroll(): Promise<void> {
  if (enrolling) return;
  const code = normalizeEnrollCode(dom.enrollCode.value);
  if (code === '') {
    enrollError = { kind: 'missing' };
    renderForms();
    dom.enrollCode.focus();
    return;
  }
  enrolling = true;
  enrollError = null;
  renderForms();
  dom.enrollSubmit.disabled = true;
  dom.enrollSubmit.textContent = t().enrolling;
  try {
    const who = await enroll(code);
    dom.enrollCode.value = '';
    enrollError = null;
    // Enrolled: from now on this screen is the district overview (a reload keeps it).
    history.replaceState(null, '', `${location.pathname}${searchFor(location.search, { view: 'overview' })}`);
    startSession(who);
  } catch (error) {
    enrollError = formErrorOf(error);
    if (enrollError?.kind === 'unreachable') console.warn('SchoolOps: enrolling failed', error);
    renderForms();
    dom.enrollCode.select();
  } finally {
    enrolling = false;
    dom.enrollSubmit.disabled = false;
    dom.enrollSubmit.textContent = t().enrollButton;
  }
}

dom.signOut.addEventListener('click', () => void signOut());

async function signOut(): Promise<void> {
  dom.signOut.disabled = true;
  // The socket first: its server would otherwise drop it and we would try again.
  socket.disconnect();
  try {
    await logout();
  } catch (error) {
    // The session ends on this page either way; the server's will expire.
    console.warn('SchoolOps: signing out failed', error);
  } finally {
    dom.signOut.disabled = false;
  }
  // The next person starts at their own landing view, not at this one's last page.
  history.replaceState(null, '', `${location.pathname}${searchFor(location.search, { view: 'overview' })}`);
  showSignIn('signed-out');
}

// ---- a session: from signing in to signing out (or a 401) ----

let resyncTimer: ReturnType<typeof setInterval> | undefined;

function startSession(who: Me): void {
  const switched = me !== null && me.id !== who.id;
  if (switched) endSession();
  me = who;
  sections = sectionsFor(who);
  setCsrfToken(who.csrfToken);
  signInReason = 'none';
  document.body.classList.toggle('kiosk', sections.kiosk);
  schoolView.setAccess({ back: sections.schoolLinks, link: sections.link, commands: sections.commands, report: sections.attendance });
  adminPage.setAccess({ accounts: sections.accounts, audit: sections.audit });
  setScreen('app');
  setConnection('connecting');
  renderWho();
  renderDistrict();
  route(false);
  void loadDistrict();
  void resync();
  socket.connect();
  clearInterval(resyncTimer);
  resyncTimer = setInterval(() => {
    if (socket.connected) void resync();
  }, RESYNC_INTERVAL_MS);
}

/** Forget the signed-in principal and everything loaded for them. */
function endSession(): void {
  me = null;
  sections = null;
  setCsrfToken(null);
  socket.disconnect();
  clearInterval(resyncTimer);
  clearTimeout(retryTimer);
  clearTimeout(districtTimer);
  schoolPage.close();
  adminPage.close();
  // The next person must not see a single row of this one's schools.
  store.applySnapshot(store.beginSnapshot(), []);
  schoolsLoaded = false;
  district = null;
  document.body.classList.remove('kiosk');
  renderWho();
  renderDistrict();
  renderEmpty();
}

/**
 * The session is gone (expired, ended elsewhere, the user disabled, the display revoked).
 * A wall display goes back to its code entry, a person to the sign-in form.
 */
function sessionLost(): void {
  if (me === null) return;
  if (me.kind === 'display') {
    history.replaceState(null, '', `${location.pathname}${searchFor(location.search, { view: 'enroll' })}`);
    showEnroll();
  } else showSignIn('expired');
}

configureSession({
  // Any 401 while signed in.
  onSignInNeeded: sessionLost,
  refreshCsrf: async () => {
    try {
      const fresh = await fetchMe();
      return fresh?.csrfToken ?? null;
    } catch {
      return null;
    }
  },
});

// ---- clock ----

function renderClock(): void {
  const at = now();
  dom.clock.textContent = formatDateTime(at, timeZone());
  dom.clock.dateTime = new Date(at).toISOString();
}

function scheduleTick(): void {
  // Wake just after each full second of the (server-corrected) clock so seconds never skip.
  setTimeout(() => {
    renderClock();
    table.tick(store.all(), ctx());
    if (shown === 'wall') wallView.tick(ctx());
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
  renderWall();
  const s = t();
  dom.connection.dataset.state = connection;
  dom.connectionText.textContent =
    connection === 'live' ? s.connLive : connection === 'reconnecting' ? s.connReconnecting : s.connConnecting;
  // Once the live feed is lost, say so next to the figures: they stop updating.
  const stale = connection === 'reconnecting' && screen === 'app';
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
  renderWall();
}

function renderDirty(): void {
  frameRequested = false;
  if (dirty.size === 0) return;
  const schools = store.all();
  table.render(schools, new Set(dirty), ctx());
  renderTotals(totalsView, schools, lang, true);
  dirty.clear();
  renderEmpty();
  renderWall();
  announce();
}

store.onChange((changes) => {
  lastDataAt = now();
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
  // The admin's school pickers follow the list of schools.
  if (shown === 'admin') adminPage.onSchools();
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

// ---- the views: overview, one school (?school=<id>), admin (?admin) ----

const schoolView = new SchoolView(
  dom.schoolView,
  () => closeSchool(),
  async (deviceId, name) => {
    await sendCommand(deviceId, name);
  },
  (roomId) => {
    const schoolId = schoolPage.schoolId;
    if (schoolId !== null) navigate(roomId === null ? { view: 'school', schoolId } : { view: 'school', schoolId, roomId });
  },
);
const schoolPage = new SchoolPage({
  view: schoolView,
  ctx,
  summary: (id) => store.get(id),
  allowed: (id) => me !== null && canSeeSchool(me, id),
  attendance: () => sections?.attendance === true,
});
const devicePage = new DevicePage(dom.devicePage, {
  ctx,
  canCommand: () => sections?.commands === true,
  sendCommand: (deviceId, name) => sendCommand(deviceId, name),
  onBack: (schoolId) => (schoolId === null ? navigate({ view: 'overview' }) : navigate({ view: 'school', schoolId })),
});
const adminPage = new AdminPage(dom.admin, {
  lang: () => lang,
  timeZone,
  schools: () => store.all(),
  self: () => (me?.kind === 'user' ? me.id : null),
  onBack: () => navigate({ view: 'overview' }),
});
const reportPage = new ReportPage(dom.report, {
  ctx,
  schoolName: (id, l) => {
    const s = store.get(id);
    return s ? schoolName(s, l) : null;
  },
  onBack: (schoolId) => navigate({ view: 'school', schoolId }),
  onQuery: (q) => {
    const schoolId = reportPage.schoolId;
    if (schoolId !== null) navigate({ view: 'report', schoolId, ...q });
  },
});

// The wall turns its pages on the clock; ?wall&turn=SECONDS sets how long a page stays.
const turnSeconds = Number(params.get('turn'));
const wallView = new WallView(dom.wall, { startedAt: Date.now(), ...(Number.isFinite(turnSeconds) && turnSeconds >= 1 ? { turnMs: turnSeconds * 1000 } : {}) });
/** When the page last heard from the district: a snapshot or a live event. */
let lastDataAt: number | null = null;

function renderWall(): void {
  if (shown !== 'wall') return;
  wallView.render(store.all(), { districtName: district ? inLang(district.name, lang) : '', connection, lastDataAt }, ctx());
}

/** history.state of an entry this page pushed when opening a view from the overview. */
const FROM_OVERVIEW = 'schoolops:from-overview';

function renderForbidden(): void {
  dom.forbidden.textContent = t().forbidden;
}

/**
 * Show what the URL asks for, as far as the signed-in role may see it. A bare address
 * takes the role's landing view: a principal or a school's IT goes straight to their
 * school. `focus`: the user navigated, so move focus to the new view.
 */
function route(focus: boolean): void {
  if (me === null || sections === null) return;
  const wanted = routeFromSearch(location.search);
  let r: Route = wanted.view === 'enroll' ? { view: 'overview' } : wanted;
  if (!wanted.explicit || (r.view === 'overview' && !sections.overview)) {
    const landing = landingFor(me);
    if (landing.view === 'school' || landing.view === 'wall') {
      // Their whole scope is one school (no list of schools to show them), or a wall display.
      history.replaceState(history.state, '', `${location.pathname}${searchFor(location.search, landing)}`);
      r = landing;
    }
  }
  const wasOpen = schoolPage.schoolId;
  let view: typeof shown = r.view;
  if (r.view === 'overview' && !sections.overview) view = 'forbidden';
  if (r.view === 'admin' && !sections.admin) view = 'forbidden';

  if (r.view === 'school') {
    schoolPage.open(r.schoolId);
    schoolView.setRoom(r.roomId ?? null);
  } else schoolPage.close();
  if (r.view === 'device') devicePage.open(r.deviceId);
  else devicePage.close();
  if (r.view === 'report') {
    if (!sections.attendance) view = 'forbidden';
    else reportPage.open(r.schoolId, r);
  } else reportPage.close();
  if (view === 'admin') adminPage.open();
  else adminPage.close();
  if (r.view === 'wall' && !sections.overview && me.kind !== 'display') view = 'forbidden';

  shown = view;
  dom.overviewKpis.hidden = view !== 'overview';
  dom.overview.hidden = view !== 'overview';
  dom.schoolView.hidden = view !== 'school';
  dom.devicePage.hidden = view !== 'device';
  dom.wall.hidden = view !== 'wall';
  dom.report.hidden = view !== 'report';
  // The wall has its own header: the page's is hidden, nothing to navigate.
  document.body.classList.toggle('wall-mode', view === 'wall');
  if (view === 'wall') renderWall();
  dom.admin.hidden = view !== 'admin';
  dom.forbidden.hidden = view !== 'forbidden';
  renderForbidden();
  renderWho();
  renderTitle();
  // Only a visible element takes focus.
  if (view === 'school' && focus) schoolView.focusHeading();
  if (view === 'device' && focus) devicePage.focusHeading();
  if (view === 'report' && focus) reportPage.focusHeading();
  if (view === 'admin' && focus) adminPage.focusHeading();
  // Back on the overview: focus returns to the school the user came from.
  if (view === 'overview' && focus && wasOpen !== null) {
    dom.tbody.querySelector<HTMLAnchorElement>(`tr[data-school-id="${CSS.escape(wasOpen)}"] a.school-link`)?.focus();
  }
}

function navigate(to: Route): void {
  const search = searchFor(location.search, to);
  if (search === location.search) return;
  // Going back to the overview from a view opened from it: the browser's back, as expected.
  if (to.view === 'overview' && history.state === FROM_OVERVIEW) {
    history.back();
    return;
  }
  history.pushState(shown === 'overview' ? FROM_OVERVIEW : null, '', `${location.pathname}${search}`);
  route(true);
}

function openSchool(id: string): void {
  if (schoolPage.schoolId === id) return;
  navigate({ view: 'school', schoolId: id });
}

function closeSchool(): void {
  navigate({ view: 'overview' });
}

// A device's link (in a school's list) opens its page in place, keeping the session and the live feed.
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target instanceof Element ? event.target.closest<HTMLAnchorElement>('a[data-device-link], a[data-room-link], a[data-report-link]') : null;
  const reportOf = link?.dataset.reportLink;
  if (reportOf) {
    event.preventDefault();
    navigate({ view: 'report', schoolId: reportOf });
    return;
  }
  const deviceId = link?.dataset.deviceLink;
  const [schoolId, roomId] = (link?.dataset.roomLink ?? '').split('/');
  if (deviceId) {
    event.preventDefault();
    navigate({ view: 'device', deviceId });
  } else if (schoolId && roomId) {
    event.preventDefault();
    navigate({ view: 'school', schoolId, roomId });
  }
});

window.addEventListener('popstate', () => {
  if (me !== null) {
    route(true);
    return;
  }
  // Not signed in: the enrollment form is an address of its own, back and forth with sign-in.
  if (routeFromSearch(location.search).view === 'enroll') showEnroll();
  else if (screen === 'enroll') showSignIn('none');
});

dom.adminLink.addEventListener('click', (event) => {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate({ view: 'admin' });
});

// A click anywhere on a school's row opens it; the name is a real link, so Enter and a
// middle click (new tab) work too. A wall display's rows open nothing.
dom.tbody.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const target = event.target instanceof Element ? event.target : null;
  const row = target?.closest<HTMLTableRowElement>('tr[data-school-id]');
  const id = row?.dataset.schoolId;
  if (!id) return;
  if (!sections?.schoolLinks) {
    event.preventDefault();
    return;
  }
  // Selecting text in a row is not a click on it.
  if (target?.closest('a') === null && (window.getSelection()?.toString() ?? '') !== '') return;
  event.preventDefault();
  openSchool(id);
});

// ---- data: snapshot, district, live socket ----

let resyncInFlight = false;
let resyncAgain = false;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let districtTimer: ReturnType<typeof setTimeout> | undefined;

async function resync(): Promise<void> {
  if (me === null) return;
  if (resyncInFlight) {
    // A (re)connect during a request: its snapshot might predate the new subscription.
    resyncAgain = true;
    return;
  }
  resyncInFlight = true;
  clearTimeout(retryTimer);
  const token = store.beginSnapshot();
  const session = me;
  try {
    const { body, serverDate, malformed } = await fetchSchools();
    // Signed out (or someone else signed in) meanwhile: this answer was for them.
    if (me !== session) return;
    if (malformed > 0) console.warn(`SchoolOps: ignored ${malformed} school(s) with an unexpected shape`);
    if (serverDate !== null) {
      const skew = serverDate - Date.now();
      clockOffsetMs = Math.abs(skew) > CLOCK_SKEW_TOLERANCE_MS ? skew : 0;
    }
    schoolsLoaded = true;
    dom.errorBanner.hidden = true;
    store.applySnapshot(token, body);
    lastDataAt = now();
    renderEmpty();
    renderWall();
  } catch (error) {
    if (me !== session || me === null) return;
    console.warn('SchoolOps: loading schools failed', error);
    if (error instanceof HttpError && error.status === 403) {
      // Not this role's to see: no banner saying "retrying", nothing to retry.
      schoolsLoaded = true;
      renderEmpty();
      return;
    }
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
  const session = me;
  if (session === null) return;
  try {
    const loaded = await fetchDistrict();
    if (me !== session) return;
    district = loaded;
    renderDistrict();
    renderClock();
    renderAll();
  } catch (error) {
    if (me !== session) return;
    if (error instanceof HttpError && (error.status === 401 || error.status === 403)) return;
    console.warn('SchoolOps: loading district failed', error);
    districtTimer = setTimeout(() => void loadDistrict(attempt + 1), Math.min(RETRY_MS * 2 ** attempt, 60_000));
  }
}

const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({
  // Same origin, default path /socket.io; the handshake carries the session cookie. Not
  // before someone is signed in: the server refuses it then. Once connected, keep trying
  // for ever: a wall display is unattended.
  autoConnect: false,
  reconnectionDelay: 1_000,
  reconnectionDelayMax: 10_000,
});

socket.on('connect', () => {
  setConnection('live');
  void resync();
});
socket.on('disconnect', (reason) => {
  if (me === null) return;
  setConnection('reconnecting');
  // After a server-side disconnect socket.io does not reconnect by itself. The server also
  // drops a socket whose session ended: the new handshake then says "sign in first".
  if (reason === 'io server disconnect') socket.connect();
});
socket.on('connect_error', (error) => {
  if (me === null) return;
  if (error.message.startsWith(SIGN_IN_FIRST)) {
    sessionLost();
    return;
  }
  setConnection('reconnecting');
  // A refusal by the server's middleware is not retried by socket.io itself.
  if (!socket.active) setTimeout(() => {
    if (me !== null && !socket.connected) socket.connect();
  }, RETRY_MS);
});
socket.on('school', (school: unknown) => {
  if (me === null) return;
  if (isSchoolSummary(school)) store.applyEvent(school);
  else console.warn('SchoolOps: ignored a school event with an unexpected shape', school);
});

// ---- start ----

/** Who is this? A signed-in page goes on; anyone else gets the sign-in or enrollment form. */
async function boot(attempt = 0): Promise<void> {
  let who: Me | null;
  try {
    who = await fetchMe();
  } catch (error) {
    // The cloud is down or restarting (a wall display after a power cut): keep asking.
    console.warn('SchoolOps: asking who is signed in failed', error);
    dom.errorBanner.hidden = false;
    setTimeout(() => void boot(attempt + 1), Math.min(RETRY_MS * 2 ** attempt, 60_000));
    return;
  }
  dom.errorBanner.hidden = true;
  const wanted = routeFromSearch(location.search);
  if (wanted.view === 'enroll') {
    // An enrolled display reloading its enrollment address goes on to its overview.
    if (who?.kind === 'display') {
      history.replaceState(null, '', `${location.pathname}${searchFor(location.search, { view: 'overview' })}`);
      startSession(who);
    } else showEnroll();
    return;
  }
  if (who === null) showSignIn('none');
  else startSession(who);
}

dom.enrollLink.addEventListener('click', (event) => {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  history.pushState(null, '', dom.enrollLink.href);
  showEnroll();
});

setScreen('loading');
applyLanguage();
renderClock();
scheduleTick();
void boot();
