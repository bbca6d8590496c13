// The district admin's page (?admin): people, API tokens, wall displays and the audit log.
// Forms are built once (what the admin typed survives a language switch); lists are
// rebuilt from the latest answer. A token or a display code comes back from the cloud once:
// it is shown in a box with a copy button until the admin closes it, then dropped.

import {
  auditUrl,
  createDisplayCode,
  createToken,
  createUser,
  fetchAudit,
  fetchDisplays,
  fetchTokens,
  fetchUsers,
  revokeDisplay,
  revokeToken,
  setUserDisabled,
  type AuditEntry,
  type AuditFilter,
  type DisplayRecord,
  type TokenRecord,
  type UserRecord,
} from './admin-api.ts';
import { HttpError, type SchoolSummary } from './api.ts';
import { PERSON_ROLES, ROLES, isRole, schoolPickFor, schoolsForRole, type Role } from './auth.ts';
import { el, setText } from './dom.ts';
import { collator, formatDateTime, formatInteger } from './format.ts';
import { STRINGS, type Lang, type Strings } from './i18n.ts';
import { schoolName } from './store.ts';

/** The audit list shows this many newest entries; the CSV export has them all. */
const AUDIT_LIMIT = 200;
const DETAIL_MAX = 200;

export interface AdminDeps {
  lang: () => Lang;
  timeZone: () => string;
  /** The schools the admin may pick from (the overview's copy of /api/schools). */
  schools: () => SchoolSummary[];
  /** The signed-in admin's own username: they are not offered to disable themselves. */
  self: () => string | null;
  onBack: () => void;
}

export interface AdminAccess {
  accounts: boolean;
  audit: boolean;
}

type Section = 'users' | 'tokens' | 'displays' | 'audit';

/** Why a section shows no (fresh) data. */
type Problem = { kind: 'load' | 'save' | 'forbidden'; reason: (lang: Lang) => string } | null;

/** Pieces of text that follow the language: re-set on every render. */
type Text = (t: Strings) => string;

let idCounter = 0;
const uid = (prefix: string) => `${prefix}-${++idCounter}`;

function problemOf(error: unknown, kind: 'load' | 'save'): Problem {
  if (error instanceof HttpError && error.status === 403) return { kind: 'forbidden', reason: (lang) => error.text(lang) };
  const message = error instanceof Error ? error.message : String(error);
  return { kind, reason: (lang) => (error instanceof HttpError ? error.text(lang) : message) };
}

function problemText(p: Problem, t: Strings): string {
  if (p === null) return '';
  if (p.kind === 'forbidden') return t.actionForbidden;
  if (p.kind === 'load') return t.adminLoadError;
  return t.saveFailed(p.reason(t.lang));
}

/** What a shown-once box holds until it is closed. */
interface Secret {
  value: string;
  copied: 'no' | 'yes' | 'failed';
}

export class AdminPage {
  readonly element: HTMLElement;
  readonly #deps: AdminDeps;
  readonly #texts: Array<[HTMLElement, Text]> = [];
  #access: AdminAccess = { accounts: false, audit: false };
  #open = false;
  #abort: AbortController | null = null;

  #users: UserRecord[] | null = null;
  #tokens: TokenRecord[] | null = null;
  #displays: DisplayRecord[] | null = null;
  #audit: AuditEntry[] | null = null;
  #auditFilter: AuditFilter = { limit: AUDIT_LIMIT };
  readonly #problems: Record<Section, Problem> = { users: null, tokens: null, displays: null, audit: null };
  #notice: { users: string | null } = { users: null };
  #tokenSecret: Secret | null = null;
  #displaySecret: Secret | null = null;

  // sections
  readonly #usersSection: HTMLElement;
  readonly #tokensSection: HTMLElement;
  readonly #displaysSection: HTMLElement;
  readonly #auditSection: HTMLElement;
  // lists
  readonly #usersBody: HTMLTableSectionElement;
  readonly #tokensBody: HTMLTableSectionElement;
  readonly #displaysBody: HTMLTableSectionElement;
  readonly #auditBody: HTMLTableSectionElement;
  readonly #auditCount: HTMLElement;
  // errors and notices, one line per section
  readonly #usersError: HTMLElement;
  readonly #usersNotice: HTMLElement;
  readonly #tokensError: HTMLElement;
  readonly #displaysError: HTMLElement;
  readonly #auditError: HTMLElement;
  // forms
  readonly #userForm: { form: HTMLFormElement; username: HTMLInputElement; displayName: HTMLInputElement; password: HTMLInputElement; role: HTMLSelectElement; school: HTMLSelectElement; submit: HTMLButtonElement };
  readonly #tokenForm: { form: HTMLFormElement; name: HTMLInputElement; role: HTMLSelectElement; school: HTMLSelectElement; days: HTMLInputElement; submit: HTMLButtonElement };
  readonly #displayForm: { form: HTMLFormElement; name: HTMLInputElement; school: HTMLSelectElement; submit: HTMLButtonElement };
  readonly #auditForm: { form: HTMLFormElement; action: HTMLSelectElement; actor: HTMLInputElement; csv: HTMLAnchorElement; actors: HTMLDataListElement };
  readonly #tokenOnce: { box: HTMLElement; secret: HTMLElement; status: HTMLElement };
  readonly #displayOnce: { box: HTMLElement; secret: HTMLElement; status: HTMLElement };

  constructor(root: HTMLElement, deps: AdminDeps) {
    this.element = root;
    this.#deps = deps;
    const headingId = uid('admin-title');
    root.setAttribute('aria-labelledby', headingId);

    const back = el('button', { type: 'button', class: 'back', 'data-testid': 'admin-back' }, el('span', { 'aria-hidden': 'true' }, '←'), this.#text(el('span'), (t) => t.backToOverview));
    back.addEventListener('click', () => deps.onBack());
    const heading = this.#text(el('h2', { id: headingId, tabindex: '-1', 'data-testid': 'admin-title' }), (t) => t.adminTitle);

    // ---- people ----
    this.#usersError = el('p', { class: 'form-error', role: 'alert', 'data-testid': 'users-error' });
    this.#usersNotice = el('p', { class: 'form-ok', role: 'status', 'data-testid': 'users-notice' });
    this.#usersBody = el('tbody');
    this.#userForm = {
      form: el('form', { class: 'admin-form', 'data-testid': 'user-form', novalidate: '' }),
      username: el('input', { name: 'username', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', maxlength: '64', required: '', pattern: '[a-z0-9][a-z0-9._\\-]{1,63}', 'data-testid': 'user-username' }),
      displayName: el('input', { name: 'displayName', autocomplete: 'off', maxlength: '120', required: '', 'data-testid': 'user-display-name' }),
      password: el('input', { name: 'password', type: 'password', autocomplete: 'new-password', maxlength: '256', required: '', 'data-testid': 'user-password' }),
      // The least powerful role first picked: a slip should not make a district admin.
      role: this.#roleSelect(PERSON_ROLES, 'user-role', 'principal'),
      school: el('select', { name: 'school', 'data-testid': 'user-school' }),
      submit: this.#text(el('button', { type: 'submit', class: 'primary', 'data-testid': 'user-submit' }), (t) => t.addUser),
    };
    const uf = this.#userForm;
    uf.form.append(
      this.#field((t) => t.colUsername, uf.username),
      this.#field((t) => t.colDisplayName, uf.displayName),
      this.#field((t) => t.firstPassword, uf.password),
      this.#field((t) => t.colRole, uf.role),
      this.#field((t) => t.colSchools, uf.school),
      uf.submit,
    );
    uf.role.addEventListener('change', () => this.#renderSchoolPicker(uf.school, this.#roleOf(uf.role)));
    uf.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#addUser();
    });
    this.#usersSection = this.#section(
      'admin-users',
      (t) => t.usersHeading,
      null,
      this.#table([(t) => t.colUsername, (t) => t.colDisplayName, (t) => t.colRole, (t) => t.colSchools, (t) => t.colState, (t) => t.colActions], this.#usersBody, 'users-table'),
      this.#usersError,
      this.#subheading((t) => t.addUserHeading),
      uf.form,
      this.#usersNotice,
    );

    // ---- API tokens ----
    this.#tokensError = el('p', { class: 'form-error', role: 'alert', 'data-testid': 'tokens-error' });
    this.#tokensBody = el('tbody');
    this.#tokenOnce = this.#onceBox('token', (t) => t.tokenOnce, () => this.#closeSecret('token'));
    this.#tokenForm = {
      form: el('form', { class: 'admin-form', 'data-testid': 'token-form', novalidate: '' }),
      name: el('input', { name: 'name', autocomplete: 'off', maxlength: '120', required: '', 'data-testid': 'token-name' }),
      role: this.#roleSelect(ROLES, 'token-role', 'wall-display'),
      school: el('select', { name: 'school', 'data-testid': 'token-school' }),
      days: el('input', { name: 'days', type: 'number', min: '1', max: '3650', step: '1', inputmode: 'numeric', 'data-testid': 'token-days' }),
      submit: this.#text(el('button', { type: 'submit', class: 'primary', 'data-testid': 'token-submit' }), (t) => t.makeToken),
    };
    const tf = this.#tokenForm;
    tf.form.append(
      this.#field((t) => t.tokenName, tf.name),
      this.#field((t) => t.colRole, tf.role),
      this.#field((t) => t.colSchools, tf.school),
      this.#field((t) => t.expiresInDays, tf.days),
      tf.submit,
    );
    tf.role.addEventListener('change', () => this.#renderSchoolPicker(tf.school, this.#roleOf(tf.role)));
    tf.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#makeToken();
    });
    this.#tokensSection = this.#section(
      'admin-tokens',
      (t) => t.tokensHeading,
      (t) => t.tokensNote,
      this.#tokenOnce.box,
      this.#table([(t) => t.colName, (t) => t.colRole, (t) => t.colSchools, (t) => t.colCreatedBy, (t) => t.colCreated, (t) => t.colExpires, (t) => t.colState, (t) => t.colActions], this.#tokensBody, 'tokens-table'),
      this.#tokensError,
      this.#subheading((t) => t.addTokenHeading),
      tf.form,
    );

    // ---- wall displays ----
    this.#displaysError = el('p', { class: 'form-error', role: 'alert', 'data-testid': 'displays-error' });
    this.#displaysBody = el('tbody');
    this.#displayOnce = this.#onceBox('display', (t) => t.codeOnce, () => this.#closeSecret('display'));
    this.#displayForm = {
      form: el('form', { class: 'admin-form', 'data-testid': 'display-form', novalidate: '' }),
      name: el('input', { name: 'name', autocomplete: 'off', maxlength: '120', required: '', 'data-testid': 'display-name' }),
      school: el('select', { name: 'school', 'data-testid': 'display-school' }),
      submit: this.#text(el('button', { type: 'submit', class: 'primary', 'data-testid': 'display-submit' }), (t) => t.makeCode),
    };
    const df = this.#displayForm;
    df.form.append(this.#field((t) => t.displayName, df.name), this.#field((t) => t.colSchools, df.school), df.submit);
    df.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#makeDisplayCode();
    });
    this.#displaysSection = this.#section(
      'admin-displays',
      (t) => t.displaysHeading,
      (t) => t.displaysNote,
      this.#displayOnce.box,
      this.#table([(t) => t.colName, (t) => t.colSchools, (t) => t.colCreatedBy, (t) => t.colCreated, (t) => t.colState, (t) => t.colActions], this.#displaysBody, 'displays-table'),
      this.#displaysError,
      this.#subheading((t) => t.addDisplayHeading),
      df.form,
    );

    // ---- audit log ----
    this.#auditError = el('p', { class: 'form-error', role: 'alert', 'data-testid': 'audit-error' });
    this.#auditBody = el('tbody');
    this.#auditCount = el('p', { class: 'sv-note', 'data-testid': 'audit-count' });
    const actorsId = uid('audit-actors');
    this.#auditForm = {
      form: el('form', { class: 'admin-form audit-filter', 'data-testid': 'audit-filter', role: 'search' }),
      action: el('select', { name: 'action', 'data-testid': 'audit-action' }),
      actor: el('input', { name: 'actor', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', maxlength: '128', list: actorsId, 'data-testid': 'audit-actor' }),
      csv: el('a', { class: 'button-link', 'data-testid': 'audit-csv', download: '' }),
      actors: el('datalist', { id: actorsId }),
    };
    const af = this.#auditForm;
    const filterButton = this.#text(el('button', { type: 'submit', 'data-testid': 'audit-submit' }), (t) => t.auditFilter);
    af.form.append(this.#field((t) => t.auditAction, af.action), this.#field((t) => t.auditActor, af.actor), af.actors, filterButton, this.#text(af.csv, (t) => t.auditExport));
    af.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#auditFilter = { action: af.action.value, actor: af.actor.value, limit: AUDIT_LIMIT };
      void this.#loadAudit();
    });
    this.#auditSection = this.#section(
      'admin-audit',
      (t) => t.auditHeading,
      (t) => t.auditNote,
      af.form,
      this.#auditError,
      this.#auditCount,
      this.#table([(t) => t.colTime, (t) => t.auditActor, (t) => t.auditAction, (t) => t.colOutcome, (t) => t.colSchools, (t) => t.colTarget, (t) => t.colDetail, (t) => t.colAddress], this.#auditBody, 'audit-table'),
    );

    root.replaceChildren(
      el('nav', { class: 'sv-nav' }, back),
      el('header', { class: 'sv-header' }, el('div', { class: 'sv-title' }, heading)),
      this.#usersSection,
      this.#tokensSection,
      this.#displaysSection,
      this.#auditSection,
    );
  }

  // ---- building blocks ----

  #t(): Strings {
    return STRINGS[this.#deps.lang()];
  }

  #text<N extends HTMLElement>(node: N, text: Text): N {
    this.#texts.push([node, text]);
    node.textContent = text(this.#t());
    return node;
  }

  #field(label: Text, control: HTMLElement): HTMLElement {
    const id = control.id || uid('f');
    control.id = id;
    return el('div', { class: 'field' }, this.#text(el('label', { for: id }), label), control);
  }

  #subheading(text: Text): HTMLElement {
    return this.#text(el('h4'), text);
  }

  #section(testid: string, heading: Text, note: Text | null, ...children: HTMLElement[]): HTMLElement {
    const id = uid(testid);
    const parts: HTMLElement[] = [this.#text(el('h3', { id }), heading)];
    if (note !== null) parts.push(this.#text(el('p', { class: 'sv-note' }), note));
    return el('section', { class: 'admin-section panel', 'aria-labelledby': id, 'data-testid': testid }, ...parts, ...children);
  }

  #table(head: Text[], body: HTMLTableSectionElement, testid: string): HTMLElement {
    return el('div', { class: 'table-wrap' }, el('table', { 'data-testid': testid }, el('thead', {}, el('tr', {}, ...head.map((h) => this.#text(el('th', { scope: 'col' }), h)))), body));
  }

  #roleSelect(roles: readonly Role[], testid: string, preselected: Role): HTMLSelectElement {
    const select = el('select', { name: 'role', 'data-testid': testid });
    // `selected` as an attribute, so form.reset() comes back to it too.
    for (const role of roles) select.append(this.#text(el('option', role === preselected ? { value: role, selected: '' } : { value: role }), (t) => t.role[role] ?? role));
    return select;
  }

  #roleOf(select: HTMLSelectElement): Role {
    return isRole(select.value) ? select.value : 'principal';
  }

  #onceBox(testid: string, warning: Text, onDone: () => void): { box: HTMLElement; secret: HTMLElement; status: HTMLElement } {
    const secret = el('code', { class: 'once-secret', 'data-testid': `${testid}-secret` });
    const status = el('span', { class: 'once-status', role: 'status', 'data-testid': `${testid}-copy-status` });
    const copy = this.#text(el('button', { type: 'button', class: 'primary', 'data-testid': `${testid}-copy` }), (t) => t.copy);
    const done = this.#text(el('button', { type: 'button', 'data-testid': `${testid}-once-done` }), (t) => t.shownOnceDone);
    copy.addEventListener('click', () => void this.#copy(testid === 'token' ? 'token' : 'display'));
    done.addEventListener('click', onDone);
    const box = el(
      'div',
      { class: 'once', role: 'alert', 'data-testid': `${testid}-once` },
      this.#text(el('p', { class: 'once-warning' }), warning),
      secret,
      el('div', { class: 'once-actions' }, copy, done, status),
    );
    box.hidden = true;
    return { box, secret, status };
  }

  // ---- opening and closing ----

  setAccess(access: AdminAccess): void {
    this.#access = access;
  }

  open(): void {
    if (this.#open) return;
    this.#open = true;
    this.render();
    void this.reload();
  }

  /** Forget everything, secrets first: another person may sign in on this screen next. */
  close(): void {
    this.#open = false;
    this.#abort?.abort();
    this.#abort = null;
    this.#tokenSecret = null;
    this.#displaySecret = null;
    this.#users = this.#tokens = this.#displays = this.#audit = null;
    this.#problems.users = this.#problems.tokens = this.#problems.displays = this.#problems.audit = null;
    this.#notice.users = null;
    for (const form of [this.#userForm.form, this.#tokenForm.form, this.#displayForm.form, this.#auditForm.form]) form.reset();
    this.#auditFilter = { limit: AUDIT_LIMIT };
    this.render();
  }

  focusHeading(): void {
    this.element.querySelector<HTMLElement>('h2')?.focus({ preventScroll: true });
    window.scrollTo({ top: 0 });
  }

  async reload(): Promise<void> {
    this.#abort?.abort();
    const abort = new AbortController();
    this.#abort = abort;
    const tasks: Promise<void>[] = [];
    if (this.#access.accounts) tasks.push(this.#loadUsers(abort.signal), this.#loadTokens(abort.signal), this.#loadDisplays(abort.signal));
    if (this.#access.audit) tasks.push(this.#loadAudit(abort.signal));
    await Promise.all(tasks);
  }

  async #load<T>(signal: AbortSignal | undefined, fetcher: (signal?: AbortSignal) => Promise<T>, set: (value: T) => void, section: Section): Promise<void> {
    try {
      const value = await fetcher(signal);
      if (!this.#open || signal?.aborted) return;
      set(value);
      this.#problems[section] = null;
    } catch (error) {
      if (!this.#open || signal?.aborted) return;
      console.warn(`SchoolOps: loading ${section} failed`, error);
      this.#problems[section] = problemOf(error, 'load');
    }
    this.render();
  }

  #loadUsers(signal?: AbortSignal): Promise<void> {
    return this.#load(signal, fetchUsers, (v) => (this.#users = v), 'users');
  }
  #loadTokens(signal?: AbortSignal): Promise<void> {
    return this.#load(signal, fetchTokens, (v) => (this.#tokens = v), 'tokens');
  }
  #loadDisplays(signal?: AbortSignal): Promise<void> {
    return this.#load(signal, fetchDisplays, (v) => (this.#displays = v), 'displays');
  }
  #loadAudit(signal?: AbortSignal): Promise<void> {
    if (!this.#access.audit) return Promise.resolve();
    const filter = this.#auditFilter;
    return this.#load(signal, (s) => fetchAudit(filter, s), (v) => (this.#audit = v), 'audit');
  }

  // ---- changes ----

  /** Run a change: the form's button is disabled meanwhile; the section says how it went. */
  async #change(section: 'users' | 'tokens' | 'displays', button: HTMLButtonElement | null, work: () => Promise<void>): Promise<void> {
    if (button) button.disabled = true;
    try {
      await work();
      this.#problems[section] = null;
    } catch (error) {
      if (!this.#open) return;
      this.#problems[section] = problemOf(error, 'save');
    } finally {
      if (button) button.disabled = false;
    }
    this.render();
    // The audit log now has the change in it.
    if (this.#open) void this.#loadAudit();
  }

  async #addUser(): Promise<void> {
    const f = this.#userForm;
    const role = this.#roleOf(f.role);
    this.#notice.users = null;
    const scope = schoolsForRole(role, f.school.value);
    if ('missing' in scope) {
      this.#problems.users = { kind: 'save', reason: (lang) => STRINGS[lang].schoolRequired };
      this.render();
      f.school.focus();
      return;
    }
    if (!f.form.reportValidity()) return;
    await this.#change('users', f.submit, async () => {
      const user = await createUser({ username: f.username.value.trim().toLowerCase(), displayName: f.displayName.value.trim(), role, schools: scope.schools, password: f.password.value });
      this.#notice.users = this.#t().userAdded(user.displayName);
      f.form.reset();
      this.#renderSchoolPicker(f.school, this.#roleOf(f.role));
      await this.#loadUsers();
    });
  }

  async #toggleUser(user: UserRecord, button: HTMLButtonElement): Promise<void> {
    if (!user.disabled && !window.confirm(this.#t().confirmDisableUser(user.displayName))) return;
    await this.#change('users', button, async () => {
      await setUserDisabled(user.username, !user.disabled);
      await this.#loadUsers();
    });
  }

  async #makeToken(): Promise<void> {
    const f = this.#tokenForm;
    const role = this.#roleOf(f.role);
    const scope = schoolsForRole(role, f.school.value);
    if ('missing' in scope) {
      this.#problems.tokens = { kind: 'save', reason: (lang) => STRINGS[lang].schoolRequired };
      this.render();
      f.school.focus();
      return;
    }
    if (!f.form.reportValidity()) return;
    const days = f.days.value.trim() === '' ? null : Number(f.days.value);
    await this.#change('tokens', f.submit, async () => {
      const { token } = await createToken({ name: f.name.value.trim(), role, schools: scope.schools, expiresInDays: days });
      this.#tokenSecret = { value: token, copied: 'no' };
      f.form.reset();
      this.#renderSchoolPicker(f.school, this.#roleOf(f.role));
      await this.#loadTokens();
    });
    if (this.#tokenSecret) this.#tokenOnce.box.scrollIntoView({ block: 'nearest' });
  }

  async #revokeToken(token: TokenRecord, button: HTMLButtonElement): Promise<void> {
    if (!window.confirm(this.#t().confirmRevokeToken(token.name))) return;
    await this.#change('tokens', button, async () => {
      await revokeToken(token.id);
      await this.#loadTokens();
    });
  }

  async #makeDisplayCode(): Promise<void> {
    const f = this.#displayForm;
    if (!f.form.reportValidity()) return;
    await this.#change('displays', f.submit, async () => {
      const { code } = await createDisplayCode(f.name.value.trim(), f.school.value === '' ? null : [f.school.value]);
      this.#displaySecret = { value: code, copied: 'no' };
      f.form.reset();
      await this.#loadDisplays();
    });
    if (this.#displaySecret) this.#displayOnce.box.scrollIntoView({ block: 'nearest' });
  }

  async #revokeDisplay(display: DisplayRecord, button: HTMLButtonElement): Promise<void> {
    if (!window.confirm(this.#t().confirmRevokeDisplay(display.name))) return;
    await this.#change('displays', button, async () => {
      await revokeDisplay(display.id);
      await this.#loadDisplays();
    });
  }

  #closeSecret(which: 'token' | 'display'): void {
    if (which === 'token') this.#tokenSecret = null;
    else this.#displaySecret = null;
    this.render();
  }

  /**
   * The clipboard API needs a secure context (HTTPS, or loopback); on a plain LAN address
   * the text is selected and copied the old way, and if that fails too the admin is told
   * to copy the selected text by hand.
   */
  async #copy(which: 'token' | 'display'): Promise<void> {
    const secret = which === 'token' ? this.#tokenSecret : this.#displaySecret;
    const box = which === 'token' ? this.#tokenOnce : this.#displayOnce;
    if (secret === null) return;
    let ok = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(secret.value);
        ok = true;
      }
    } catch {
      ok = false;
    }
    const range = document.createRange();
    range.selectNodeContents(box.secret);
    const selection = window.getSelection();
    selection?.removeAllRanges();
    selection?.addRange(range);
    if (!ok) {
      try {
        ok = document.execCommand('copy');
      } catch {
        ok = false;
      }
    }
    secret.copied = ok ? 'yes' : 'failed';
    this.render();
  }

  // ---- drawing ----

  /** The list of schools changed: only the pickers follow (lists keep focus and scroll). */
  onSchools(): void {
    if (!this.#open) return;
    this.#renderSchoolPicker(this.#userForm.school, this.#roleOf(this.#userForm.role));
    this.#renderSchoolPicker(this.#tokenForm.school, this.#roleOf(this.#tokenForm.role));
    this.#renderSchoolPicker(this.#displayForm.school, 'wall-display', this.#t().allSchools);
  }

  /** Re-draw with the current language, data and schools. */
  render(): void {
    const t = this.#t();
    const lang = this.#deps.lang();
    for (const [node, text] of this.#texts) setText(node, text(t));
    this.#usersSection.hidden = !this.#access.accounts;
    this.#tokensSection.hidden = !this.#access.accounts;
    this.#displaysSection.hidden = !this.#access.accounts;
    this.#auditSection.hidden = !this.#access.audit;

    this.#renderSchoolPicker(this.#userForm.school, this.#roleOf(this.#userForm.role));
    this.#renderSchoolPicker(this.#tokenForm.school, this.#roleOf(this.#tokenForm.role));
    this.#renderSchoolPicker(this.#displayForm.school, 'wall-display', t.allSchools);
    this.#renderActionFilter(t);

    this.#line(this.#usersError, problemText(this.#problems.users, t));
    this.#line(this.#usersNotice, this.#notice.users ?? '');
    this.#line(this.#tokensError, problemText(this.#problems.tokens, t));
    this.#line(this.#displaysError, problemText(this.#problems.displays, t));
    this.#line(this.#auditError, problemText(this.#problems.audit, t));

    this.#renderUsers(t);
    this.#renderTokens(t);
    this.#renderDisplays(t);
    this.#renderAudit(t, lang);
    this.#renderSecret(this.#tokenOnce, this.#tokenSecret, t);
    this.#renderSecret(this.#displayOnce, this.#displaySecret, t);
  }

  #line(node: HTMLElement, text: string): void {
    setText(node, text);
    node.hidden = text === '';
  }

  #schoolLabel(id: string): string {
    const school = this.#deps.schools().find((s) => s.id === id);
    return school ? schoolName(school, this.#deps.lang()) : id;
  }

  #schoolsText(schools: string[] | null, t: Strings): string {
    return schools === null ? t.wholeDistrict : schools.map((id) => this.#schoolLabel(id)).join(', ');
  }

  #time(ms: number | null): string {
    return ms === null ? '' : formatDateTime(ms, this.#deps.timeZone());
  }

  /** The school picker for a role: off for district roles, "pick one" or "every school" else. */
  #renderSchoolPicker(select: HTMLSelectElement, role: Role, noneLabel?: string): void {
    const t = this.#t();
    const pick = schoolPickFor(role);
    const lang = this.#deps.lang();
    const names = collator(lang);
    const schools = [...this.#deps.schools()].sort((a, b) => names.compare(schoolName(a, lang), schoolName(b, lang)));
    const first = pick === 'none' ? t.schoolNotNeeded : pick === 'required' ? t.pickSchool : (noneLabel ?? t.wholeDistrict);
    const wanted = [['', first], ...(pick === 'none' ? [] : schools.map((s) => [s.id, schoolName(s, lang)]))] as [string, string][];
    const current = [...select.options].map((o) => [o.value, o.textContent ?? '']);
    if (JSON.stringify(current) !== JSON.stringify(wanted)) {
      const value = select.value;
      select.replaceChildren(...wanted.map(([v, label]) => el('option', { value: v }, label)));
      select.value = wanted.some(([v]) => v === value) ? value : '';
    }
    select.disabled = pick === 'none';
    select.required = pick === 'required';
  }

  #renderActionFilter(t: Strings): void {
    const select = this.#auditForm.action;
    const wanted = [['', t.auditAllActions], ...Object.keys(t.auditActionName).map((a) => [a, `${t.auditActionName[a]} (${a})`])];
    const current = [...select.options].map((o) => [o.value, o.textContent ?? '']);
    if (JSON.stringify(current) !== JSON.stringify(wanted)) {
      const value = select.value;
      select.replaceChildren(...wanted.map(([v, label]) => el('option', { value: v! }, label!)));
      select.value = value;
    }
    this.#auditForm.csv.href = auditUrl({ action: this.#auditFilter.action, actor: this.#auditFilter.actor }, true);
    const actors = [...new Set((this.#users ?? []).map((u) => u.username))].sort();
    const have = [...this.#auditForm.actors.options].map((o) => o.value);
    if (JSON.stringify(have) !== JSON.stringify(actors)) this.#auditForm.actors.replaceChildren(...actors.map((a) => el('option', { value: a })));
  }

  #emptyRow(body: HTMLTableSectionElement, columns: number, list: unknown[] | null, t: Strings): boolean {
    if (list !== null && list.length > 0) return false;
    body.replaceChildren(el('tr', {}, el('td', { colspan: String(columns), class: 'none' }, list === null ? t.loadingShort : t.noEntries)));
    return true;
  }

  #renderUsers(t: Strings): void {
    const body = this.#usersBody;
    if (this.#emptyRow(body, 6, this.#users, t)) return;
    const self = this.#deps.self();
    body.replaceChildren(
      ...this.#users!.map((u) => {
        const actions = el('td', { class: 'c-actions' });
        if (u.username !== self) {
          const button = el('button', { type: 'button', 'data-testid': `user-toggle-${u.username}` }, u.disabled ? t.enableUser : t.disableUser);
          button.addEventListener('click', () => void this.#toggleUser(u, button));
          actions.append(button);
        }
        return el(
          'tr',
          { 'data-testid': `user-${u.username}`, 'data-disabled': String(u.disabled) },
          el('th', { scope: 'row' }, u.username),
          el('td', {}, u.displayName),
          el('td', { 'data-role': u.role }, t.role[u.role] ?? u.role),
          el('td', {}, this.#schoolsText(u.schools, t)),
          el('td', {}, el('span', { class: 'state', 'data-state': u.disabled ? 'off' : 'on' }, u.disabled ? t.userDisabled : t.userActive)),
          actions,
        );
      }),
    );
  }

  #renderTokens(t: Strings): void {
    const body = this.#tokensBody;
    if (this.#emptyRow(body, 8, this.#tokens, t)) return;
    const now = Date.now();
    // Active tokens first, newest first: the ones an admin may want to revoke.
    const list = [...this.#tokens!].sort((a, b) => Number(a.revokedAt !== null) - Number(b.revokedAt !== null) || b.createdAt - a.createdAt);
    body.replaceChildren(
      ...list.map((k) => {
        const expired = k.expiresAt !== null && k.expiresAt <= now;
        const state = k.revokedAt !== null ? t.revoked(this.#time(k.revokedAt)) : expired ? t.tokenExpired : t.tokenActive;
        const actions = el('td', { class: 'c-actions' });
        if (k.revokedAt === null) {
          const button = el('button', { type: 'button', class: 'danger', 'data-testid': `token-revoke-${k.id}` }, t.revoke);
          button.addEventListener('click', () => void this.#revokeToken(k, button));
          actions.append(button);
        }
        return el(
          'tr',
          { 'data-testid': `token-${k.id}`, 'data-name': k.name, 'data-revoked': String(k.revokedAt !== null) },
          el('th', { scope: 'row' }, k.name),
          el('td', {}, t.role[k.role] ?? k.role),
          el('td', {}, this.#schoolsText(k.schools, t)),
          el('td', {}, k.createdBy),
          el('td', { class: 'c-time' }, this.#time(k.createdAt)),
          el('td', { class: 'c-time' }, k.expiresAt === null ? t.noExpiry : this.#time(k.expiresAt)),
          el('td', {}, el('span', { class: 'state', 'data-state': k.revokedAt !== null || expired ? 'off' : 'on' }, state)),
          actions,
        );
      }),
    );
  }

  #renderDisplays(t: Strings): void {
    const body = this.#displaysBody;
    if (this.#emptyRow(body, 6, this.#displays, t)) return;
    const now = Date.now();
    const list = [...this.#displays!].sort((a, b) => Number(a.revokedAt !== null) - Number(b.revokedAt !== null) || b.createdAt - a.createdAt);
    body.replaceChildren(
      ...list.map((d) => {
        const state =
          d.revokedAt !== null
            ? t.revoked(this.#time(d.revokedAt))
            : d.enrolledAt !== null
              ? t.displayEnrolled(this.#time(d.enrolledAt))
              : d.codeExpiresAt !== null && d.codeExpiresAt > now
                ? t.displayWaiting(this.#time(d.codeExpiresAt))
                : t.displayCodeExpired;
        const actions = el('td', { class: 'c-actions' });
        if (d.revokedAt === null) {
          const button = el('button', { type: 'button', class: 'danger', 'data-testid': `display-revoke-${d.id}` }, t.revoke);
          button.addEventListener('click', () => void this.#revokeDisplay(d, button));
          actions.append(button);
        }
        return el(
          'tr',
          { 'data-testid': `display-${d.id}`, 'data-name': d.name },
          el('th', { scope: 'row' }, d.name),
          el('td', {}, this.#schoolsText(d.schools, t)),
          el('td', {}, d.createdBy),
          el('td', { class: 'c-time' }, this.#time(d.createdAt)),
          el('td', {}, el('span', { class: 'state', 'data-state': d.revokedAt !== null ? 'off' : d.enrolledAt !== null ? 'on' : 'wait' }, state)),
          actions,
        );
      }),
    );
  }

  #renderAudit(t: Strings, lang: Lang): void {
    const body = this.#auditBody;
    const entries = this.#audit;
    setText(this.#auditCount, entries === null ? '' : t.auditShowing(formatInteger(entries.length, lang)));
    if (this.#emptyRow(body, 8, entries, t)) return;
    body.replaceChildren(
      ...entries!.map((e) => {
        const detail = Object.keys(e.detail).length === 0 ? '' : JSON.stringify(e.detail);
        return el(
          'tr',
          { 'data-testid': `audit-${e.seq}`, 'data-action': e.action, 'data-actor': e.actor ?? '', 'data-target': e.target ?? '', 'data-outcome': e.outcome },
          el('td', { class: 'c-time' }, el('time', { datetime: new Date(e.ts).toISOString() }, this.#time(e.ts))),
          el('td', {}, e.actor ?? '—'),
          el('td', { title: e.action }, t.auditActionName[e.action] ?? e.action),
          el('td', {}, el('span', { class: 'state', 'data-state': e.outcome === 'ok' ? 'on' : 'off' }, t.outcome[e.outcome] ?? e.outcome)),
          el('td', {}, e.schoolId === null ? '' : this.#schoolLabel(e.schoolId)),
          el('td', { class: 'c-target' }, e.target ?? ''),
          el('td', { class: 'c-detail', title: detail.length > DETAIL_MAX ? detail : '' }, detail.length > DETAIL_MAX ? `${detail.slice(0, DETAIL_MAX)}…` : detail),
          el('td', {}, e.address ?? ''),
        );
      }),
    );
  }

  #renderSecret(box: { box: HTMLElement; secret: HTMLElement; status: HTMLElement }, secret: Secret | null, t: Strings): void {
    box.box.hidden = secret === null;
    setText(box.secret, secret?.value ?? '');
    const status = secret === null || secret.copied === 'no' ? '' : secret.copied === 'yes' ? t.copied : t.copyFailed;
    setText(box.status, status);
  }
}
