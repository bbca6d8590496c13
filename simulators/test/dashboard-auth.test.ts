/**
 * Signing in to the dashboard, and what each role then sees, in a real browser against a
 * small simulated district (startDistrict, what `npm start` runs) with its demo accounts:
 * the sign-in form and its errors; a principal held to their school, with attendance and
 * no commands; a school's IT with devices and commands; the admin page making a person and
 * an API token and finding both in the audit log; a wall display enrolled by its code; and
 * signing out. Everything goes through the page as a person would; the cloud's own answers
 * are checked where the page's hiding must agree with the server's refusing.
 *
 * Every step waits for what the page shows (locators' waitFor, the shared waitFor), never
 * for a fixed time, and nothing asserts how long anything took.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles, type School } from '@schoolops/device-profiles';
import { startDistrict, type RunningDistrict } from '../src/launcher/district.ts';
import { loginOf, signInThroughUi } from './support/sign-in.ts';
import { unnamedOnScreen } from './support/a11y.ts';
import { SAFETY_DEADLINE_MS, waitFor } from './support/wait.ts';
import { launchChromium, newPage } from './support/browser.ts';

/** Waits for what the page shows: long, as a safety net, never a latency requirement. */
const SHOWN = { timeout: SAFETY_DEADLINE_MS };
const LONG = 2 * SAFETY_DEADLINE_MS;
/** Screenshots for a person to look at, when asked for (never inside the repository). */
const SHOTS = process.env.SCHOOLOPS_SCREENSHOTS;

describe('dashboard: signing in, and what each role sees', () => {
  let district: RunningDistrict;
  let dataDir: string;
  let browser: Browser;
  let schoolA: School;
  let schoolB: School;
  const profiles = loadProfiles();
  const errors: string[] = [];
  const pages: Page[] = [];
  /** The admin's page, kept open from the admin test for the wall display's revocation. */
  let adminPage: Page | undefined;

  /** A fresh browser context (no cookie) and a page in it, its script errors collected. */
  async function freshPage(options: BrowserContextOptions = {}): Promise<Page> {
    const page = await newPage(browser, { viewport: { width: 1400, height: 900 }, ...options });
    page.on('pageerror', (error) => errors.push(`${page.url()}: ${error.message}`));
    pages.push(page);
    return page;
  }
  const shot = async (page: Page, name: string, fullPage = false) => {
    if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
  };
  /** What the cloud answers this page's session (the cookie rides along, as the page's own calls). */
  const statusFromPage = (page: Page, path: string) => page.evaluate((p) => fetch(p, { credentials: 'same-origin' }).then((r) => r.status), path);
  const testid = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'schoolops-dashboard-auth-'));
    // Cameras count only when asked; the district lives at a Monday lesson, so attendance
    // has lessons whatever the hour the test runs.
    district = await startDistrict({ schools: 2, port: 0, mqttPort: 0, dataDir, deviceIntervalMs: 1000, cameraSchedule: 'on-request', schoolTime: '2025-03-10 09:05' });
    // The demo's school roles work in the first school; the second is "another school".
    const home = loginOf(district, 'principal').schoolId;
    schoolA = district.inventory.schools.find((s) => s.id === home)!;
    schoolB = district.inventory.schools.find((s) => s.id !== home)!;
    browser = await launchChromium();
  }, LONG);

  afterAll(async () => {
    await browser?.close();
    await district?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows the sign-in form to anyone not signed in, and says when the password is wrong', async () => {
    const page = await freshPage();
    await page.goto(`${district.url}/`);
    await testid(page, 'sign-in').waitFor({ state: 'visible', ...SHOWN });
    await expect(page.locator('[data-testid="sign-in"] h2').innerText()).resolves.toBe('Đăng nhập');
    // Nothing of the district shows, and the cloud agrees there is nothing to show.
    for (const hidden of ['overview', 'overview-kpis', 'school-view', 'admin', 'who', 'connection']) await expect(testid(page, hidden).isHidden(), hidden).resolves.toBe(true);
    await expect(page.locator('[data-testid="schools-table"] tbody tr').count()).resolves.toBe(0);
    expect(await statusFromPage(page, '/api/schools')).toBe(401);

    // Empty fields are caught on the page.
    await page.click('[data-testid="sign-in-submit"]');
    await testid(page, 'sign-in-error').filter({ hasText: 'Hãy nhập tên đăng nhập và mật khẩu.' }).waitFor(SHOWN);

    const principal = loginOf(district, 'principal');
    await page.fill('[data-testid="sign-in-username"]', principal.username);
    await page.fill('[data-testid="sign-in-password"]', `${principal.password}-wrong`);
    await page.click('[data-testid="sign-in-submit"]');
    const error = page.locator('[data-testid="sign-in-error"][data-kind="wrong"]');
    await error.waitFor(SHOWN);
    await expect(error.innerText()).resolves.toBe('Sai tên đăng nhập hoặc mật khẩu.');
    // The password is cleared for the next try; the name is kept.
    await expect(page.inputValue('[data-testid="sign-in-password"]')).resolves.toBe('');
    await expect(page.inputValue('[data-testid="sign-in-username"]')).resolves.toBe(principal.username);
    await shot(page, 'a-sign-in-wrong-password');
    // The language toggle works here too, the error included.
    await page.click('[data-testid="lang-en"]');
    await expect(error.innerText()).resolves.toBe('Wrong username or password.');
    await expect(page.locator('[data-testid="sign-in"] h2').innerText()).resolves.toBe('Sign in');
    await page.click('[data-testid="lang-vi"]');
    await expect(testid(page, 'who').isHidden()).resolves.toBe(true);

    // Guessing is slowed per account: after five misses the form says how long to wait.
    // (An account nobody has, so no demo account is held back for the tests after this.)
    for (let attempt = 1; attempt <= 6; attempt++) {
      await page.fill('[data-testid="sign-in-username"]', 'khong-co-ai');
      await page.fill('[data-testid="sign-in-password"]', `doan-${attempt}`);
      await page.click('[data-testid="sign-in-submit"]');
      await page.locator(`[data-testid="sign-in-error"][data-kind="${attempt <= 5 ? 'wrong' : 'limited'}"]`).waitFor(SHOWN);
      // The form is ready again before the next try (the answer has come).
      await page.locator('[data-testid="sign-in-submit"]:not([disabled])').waitFor(SHOWN);
    }
    await expect(error.count()).resolves.toBe(0);
    await expect(testid(page, 'sign-in-error').innerText()).resolves.toMatch(/^Đăng nhập sai quá nhiều lần\. Vui lòng đợi \d+ phút rồi thử lại\.$/);
    await shot(page, 'a-sign-in-limited');
  }, LONG);

  it("lands a principal on their school's page with attendance, no commands, and no other school", async () => {
    const page = await freshPage();
    await signInThroughUi(page, district, 'principal', '/');
    // Straight to their school: the address says so, the overview never shows.
    const view = page.locator('[data-testid="school-view"][data-loaded="true"]');
    await view.waitFor(SHOWN);
    expect(new URL(page.url()).searchParams.get('school')).toBe(schoolA.id);
    // Its name (the id stands in until the district's list of schools has loaded).
    await page.locator('h2[data-testid="school-view-name"]', { hasText: schoolA.name.vi }).waitFor(SHOWN);
    await expect(page.locator('h2[data-testid="school-view-name"]').innerText()).resolves.toBe(schoolA.name.vi);
    await expect(testid(page, 'who-role').innerText()).resolves.toBe('Hiệu trưởng');
    await expect(testid(page, 'who-name').innerText()).resolves.not.toBe('');
    // Attendance, today's lessons.
    await page.locator('[data-testid="attendance"] [data-testid="attendance-table"]').waitFor({ state: 'visible', ...SHOWN });
    // No command anywhere, no way to the overview, no admin page.
    await page.locator('[data-testid^="device-"][data-device-id]').first().waitFor(SHOWN);
    await expect(page.locator('[data-testid^="device-commands-"]').count()).resolves.toBe(0);
    await expect(page.locator('button[data-command]').count()).resolves.toBe(0);
    await expect(testid(page, 'back-to-overview').isHidden()).resolves.toBe(true);
    await expect(testid(page, 'admin-link').isHidden()).resolves.toBe(true);
    await expect(testid(page, 'overview').isHidden()).resolves.toBe(true);
    await expect(testid(page, `school-${schoolB.id}`).count()).resolves.toBe(0);
    await shot(page, 'b-principal-school');

    // Another school's address: a clear "not allowed", nothing of it loaded.
    await page.goto(`${district.url}/?school=${encodeURIComponent(schoolB.id)}`);
    const refused = page.locator('[data-testid="school-view"][data-problem="forbidden"]');
    await refused.waitFor(SHOWN);
    await expect(testid(page, 'school-view-message').innerText()).resolves.toBe(`Bạn không có quyền xem trường “${schoolB.id}”.`);
    await expect(page.locator('[data-testid^="device-group-"]').count()).resolves.toBe(0);
    await expect(page.locator('[data-testid="attendance"]:visible').count()).resolves.toBe(0);
    await shot(page, 'b-principal-other-school');
    // The page only hides what the cloud refuses anyway.
    expect(await statusFromPage(page, `/api/schools/${schoolB.id}/devices`)).toBe(403);
    expect(await statusFromPage(page, `/api/schools/${schoolB.id}/attendance`)).toBe(403);
    // A way back to their own school, and the overview's address leads there too.
    const back = testid(page, 'back-to-overview');
    await expect(back.innerText()).resolves.toContain('Về trường của tôi');
    await back.click();
    await page.locator(`[data-testid="school-view"][data-loaded="true"][data-school-id="${schoolA.id}"]`).waitFor(SHOWN);
    expect(new URL(page.url()).searchParams.get('school')).toBe(schoolA.id);
    await page.goto(`${district.url}/`);
    await page.locator('[data-testid="school-view"][data-loaded="true"]').waitFor(SHOWN);
    expect(new URL(page.url()).searchParams.get('school')).toBe(schoolA.id);
  }, LONG);

  it("shows a school's IT the devices, with commands that reach the cloud, and no attendance", async () => {
    const page = await freshPage();
    await signInThroughUi(page, district, 'school-it', '/');
    await page.locator('[data-testid="school-view"][data-loaded="true"]').waitFor(SHOWN);
    expect(new URL(page.url()).searchParams.get('school')).toBe(schoolA.id);
    await expect(testid(page, 'who-role').innerText()).resolves.toBe('Cán bộ CNTT trường');
    for (const kind of ['display', 'network', 'lab']) await testid(page, `device-group-${kind}`).waitFor({ state: 'visible', ...SHOWN });
    await expect(testid(page, 'attendance').isHidden()).resolves.toBe(true);
    await expect(testid(page, 'admin-link').isHidden()).resolves.toBe(true);

    // A projector's "On" button: sent with the session's CSRF token, accepted by the cloud.
    const projector = schoolA.devices.find((d) => profiles.get(d.profileId)!.kind === 'display')!;
    const on = testid(page, `command-${projector.id}-powerOn`);
    await on.waitFor(SHOWN);
    await expect(on.innerText()).resolves.toBe('Bật');
    await on.click();
    const result = page.locator(`[data-testid="command-result-${projector.id}"][data-state="sent"]`);
    await result.waitFor(SHOWN);
    await expect(result.innerText()).resolves.toContain('Đã gửi lệnh');
    await shot(page, 'c-school-it-devices');
    if (SHOTS) await testid(page, `device-${projector.id}`).screenshot({ path: join(SHOTS, 'c-school-it-command.png') });

    // The admin page's address: "not allowed", not a broken page.
    await page.goto(`${district.url}/?admin`);
    await testid(page, 'forbidden').filter({ hasText: 'Bạn không có quyền xem mục này.' }).waitFor({ state: 'visible', ...SHOWN });
    await expect(testid(page, 'admin').isHidden()).resolves.toBe(true);
    expect(await statusFromPage(page, '/api/users')).toBe(403);
  }, LONG);

  it('lets the admin add a person and make an API token, and finds both in the audit log', async () => {
    const page = await freshPage({ permissions: ['clipboard-read', 'clipboard-write'] });
    adminPage = page;
    page.on('dialog', (dialog) => void dialog.accept());
    await signInThroughUi(page, district, 'district-admin', '/');
    // District roles land on the overview, live.
    await testid(page, `school-${schoolB.id}`).waitFor(SHOWN);
    await page.locator('[data-testid="connection"][data-state="live"]').waitFor(SHOWN);
    await expect(testid(page, 'who-role').innerText()).resolves.toBe('Quản trị viên quận/huyện');
    await page.click('[data-testid="admin-link"]');
    await testid(page, 'admin').waitFor({ state: 'visible', ...SHOWN });
    expect(new URL(page.url()).search).toBe('?admin');
    await testid(page, `user-${loginOf(district, 'principal').username}`).waitFor(SHOWN);

    // A principal for the other school, with the school picked from the list.
    const username = 'hieu-truong-thu';
    const password = 'mat-khau-thu-nghiem-1';
    await page.fill('[data-testid="user-username"]', username);
    await page.fill('[data-testid="user-display-name"]', 'Hiệu trưởng thử nghiệm');
    await page.fill('[data-testid="user-password"]', password);
    await page.selectOption('[data-testid="user-role"]', 'principal');
    await page.locator(`[data-testid="user-school"] option[value="${schoolB.id}"]`).waitFor({ state: 'attached', ...SHOWN });
    await page.selectOption('[data-testid="user-school"]', schoolB.id);
    await page.click('[data-testid="user-submit"]');
    const userRow = testid(page, `user-${username}`);
    await userRow.waitFor(SHOWN);
    await expect(userRow.innerText()).resolves.toContain(schoolB.name.vi);

    // An API token for school A's IT: shown once, with a copy button and a warning.
    const tokenName = 'Tích hợp sổ liên lạc';
    await page.fill('[data-testid="token-name"]', tokenName);
    await page.selectOption('[data-testid="token-role"]', 'school-it');
    await page.selectOption('[data-testid="token-school"]', schoolA.id);
    await page.click('[data-testid="token-submit"]');
    const once = testid(page, 'token-once');
    await once.waitFor({ state: 'visible', ...SHOWN });
    await expect(once.innerText()).resolves.toContain('chỉ hiện MỘT LẦN');
    const token = await testid(page, 'token-secret').innerText();
    expect(token).toMatch(/^sot_/);
    await page.click('[data-testid="token-copy"]');
    await testid(page, 'token-copy-status').filter({ hasText: /Đã sao chép|sao chép thủ công/ }).waitFor(SHOWN);
    await shot(page, 'd-admin-token-once');
    // The token works for its school and nothing else.
    const bearer = (path: string) => fetch(`${district.url}${path}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
    expect(await bearer(`/api/schools/${schoolA.id}/devices`)).toBe(200);
    expect(await bearer(`/api/schools/${schoolB.id}/devices`)).toBe(403);
    // Closed, it is gone from the page.
    await page.click('[data-testid="token-once-done"]');
    await once.waitFor({ state: 'hidden', ...SHOWN });
    await expect(page.locator(`text=${token}`).count()).resolves.toBe(0);
    const tokenRow = page.locator(`[data-testid^="token-"][data-name="${tokenName}"]`);
    await tokenRow.waitFor(SHOWN);

    // A code for another wall display, shown once and large.
    await page.fill('[data-testid="display-name"]', 'Màn hình phòng họp');
    await page.selectOption('[data-testid="display-school"]', schoolA.id);
    await page.click('[data-testid="display-submit"]');
    await testid(page, 'display-once').waitFor({ state: 'visible', ...SHOWN });
    await expect(testid(page, 'display-secret').innerText()).resolves.toMatch(/^[A-Z0-9]{5}-[A-Z0-9]{5}$/);
    await page.locator('[data-testid^="display-"][data-name="Màn hình phòng họp"]').waitFor(SHOWN);
    await page.click('[data-testid="display-once-done"]');
    await testid(page, 'display-once').waitFor({ state: 'hidden', ...SHOWN });

    // The audit log, newest first: both changes, by the admin.
    const admin = loginOf(district, 'district-admin').username;
    const created = page.locator(`[data-testid="audit-table"] tr[data-action="user.create"][data-target="${username}"][data-actor="${admin}"]`);
    await created.waitFor(SHOWN);
    await page.locator(`[data-testid="audit-table"] tr[data-action="token.create"][data-actor="${admin}"]`).first().waitFor(SHOWN);
    await expect(created.innerText()).resolves.toContain('Thêm người dùng');
    await page.locator('[data-testid="audit-table"] tr[data-action="display.create"]').first().waitFor(SHOWN);
    const seqs = await page.locator('[data-testid="audit-table"] tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-testid')!.slice('audit-'.length))));
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    // What happened earlier in this file is there too: the wrong password, the IT's command.
    await page.locator('[data-testid="audit-table"] tr[data-action="login.failed"]').first().waitFor(SHOWN);
    await page.locator(`[data-testid="audit-table"] tr[data-action="command.send"][data-actor="${loginOf(district, 'school-it').username}"]`).first().waitFor(SHOWN);
    // Filtered by action, and exported with the same filter.
    await page.selectOption('[data-testid="audit-action"]', 'user.create');
    await page.click('[data-testid="audit-submit"]');
    await waitFor(async () => {
      const actions = await page.locator('[data-testid="audit-table"] tbody tr[data-action]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
      return actions.length > 0 && actions.every((a) => a === 'user.create');
    }, 'the audit log filtered to user.create');
    const csvHref = await testid(page, 'audit-csv').getAttribute('href');
    expect(csvHref).toBe('/api/audit?action=user.create&format=csv');
    const csv = await page.evaluate((href) => fetch(href).then(async (r) => `${r.status} ${r.headers.get('content-type')} ${await r.text()}`), csvHref!);
    expect(csv).toMatch(/^200 text\/csv/);
    expect(csv).toContain(username);
    await shot(page, 'd-admin-audit', true);

    // The new principal signs in and lands on their school; when the admin disables them,
    // their page goes back to the sign-in form (the socket's "sign in first", or a 401).
    const newcomer = await freshPage();
    await signInThroughUi(newcomer, district, { username, password }, '/');
    await newcomer.locator('[data-testid="school-view"][data-loaded="true"]').waitFor(SHOWN);
    expect(new URL(newcomer.url()).searchParams.get('school')).toBe(schoolB.id);
    await newcomer.locator('[data-testid="connection"][data-state="live"]').waitFor(SHOWN);
    await page.click(`[data-testid="user-toggle-${username}"]`);
    await userRow.locator('[data-state="off"]').waitFor(SHOWN);
    await testid(newcomer, 'sign-in').waitFor({ state: 'visible', ...SHOWN });
    await expect(testid(newcomer, 'sign-in-status').innerText()).resolves.toBe('Phiên đăng nhập đã kết thúc. Vui lòng đăng nhập lại.');
    await expect(newcomer.locator('[data-testid="schools-table"] tbody tr').count()).resolves.toBe(0);

    // Revoked, the token is refused at once.
    await tokenRow.locator('button[data-testid^="token-revoke-"]').click();
    await page.locator(`[data-testid^="token-"][data-name="${tokenName}"][data-revoked="true"]`).waitFor(SHOWN);
    expect(await bearer(`/api/schools/${schoolA.id}/devices`)).toBe(401);
  }, LONG);

  it('enrolls a wall display with its one-time code and shows the wall, read-only', async () => {
    const page = await freshPage({ viewport: { width: 1920, height: 1080 } });
    await page.goto(`${district.url}/?enroll`);
    await testid(page, 'enroll').waitFor({ state: 'visible', ...SHOWN });
    // Readable from across the room.
    const size = await testid(page, 'enroll-code').evaluate((input) => parseFloat(getComputedStyle(input).fontSize));
    expect(size).toBeGreaterThanOrEqual(40);
    // A wrong code says so.
    await page.fill('[data-testid="enroll-code"]', 'AAAAA-BBBBB');
    await page.click('[data-testid="enroll-submit"]');
    await page.locator('[data-testid="enroll-error"][data-kind="wrong"]').waitFor(SHOWN);
    await expect(testid(page, 'enroll-error').innerText()).resolves.toContain('Mã không đúng');
    // The right one, typed as a person might (lower case, no dash), is put in its printed form.
    await page.fill('[data-testid="enroll-code"]', '');
    await page.type('[data-testid="enroll-code"]', district.displayCode.replace('-', '').toLowerCase());
    await expect(page.inputValue('[data-testid="enroll-code"]')).resolves.toBe(district.displayCode.toUpperCase());
    await shot(page, 'e-enroll');
    await page.click('[data-testid="enroll-submit"]');

    // The wall of every school, live, as a kiosk: no header to navigate or sign out with.
    const card = (id: string) => page.locator(`[data-testid="wall-schools"] [data-school-id="${id}"]`);
    for (const s of [schoolA, schoolB]) await card(s.id).locator('.card-state', { hasText: 'Trực tuyến' }).waitFor(SHOWN);
    await page.locator('[data-testid="wall-connection"][data-state="live"]').waitFor(SHOWN);
    expect(new URL(page.url()).searchParams.has('enroll')).toBe(false);
    expect(new URL(page.url()).searchParams.has('wall')).toBe(true);
    await expect(testid(page, 'sign-out').isVisible()).resolves.toBe(false);
    await expect(testid(page, 'admin-link').isVisible()).resolves.toBe(false);
    // Read-only: a card opens nothing.
    await card(schoolA.id).click();
    await expect(testid(page, 'school-view').isHidden()).resolves.toBe(true);
    expect(new URL(page.url()).searchParams.has('school')).toBe(false);
    await shot(page, 'e-wall-display');
    // Children's data stays out of reach; the session outlives a reload.
    expect(await statusFromPage(page, `/api/schools/${schoolA.id}/attendance`)).toBe(403);
    await page.reload();
    await card(schoolA.id).locator('.card-state', { hasText: 'Trực tuyến' }).waitFor(SHOWN);
    await page.locator('[data-testid="wall-connection"][data-state="live"]').waitFor(SHOWN);

    // The admin revokes it: the screen goes back to its code entry, nothing of the district left.
    expect(adminPage, 'the admin test ran first').toBeDefined();
    await adminPage!.click('[data-testid="admin-back"]');
    await adminPage!.click('[data-testid="admin-link"]');
    const enrolled = adminPage!.locator('[data-testid^="display-"][data-name="Màn hình trung tâm điều hành (demo)"]');
    await enrolled.locator('[data-state="on"]').waitFor(SHOWN);
    await enrolled.locator('button[data-testid^="display-revoke-"]').click();
    await enrolled.locator('[data-state="off"]').waitFor(SHOWN);
    await testid(page, 'enroll').waitFor({ state: 'visible', ...SHOWN });
    expect(new URL(page.url()).searchParams.has('enroll')).toBe(true);
    await expect(page.locator('[data-testid="schools-table"] tbody tr').count()).resolves.toBe(0);
    await expect(testid(page, 'overview').isHidden()).resolves.toBe(true);
    await expect(testid(page, 'wall').isHidden()).resolves.toBe(true);
  }, LONG);

  it('goes on to the address asked for after signing in, and signs out to the sign-in form', async () => {
    // A link to a school, opened in English before signing in.
    const page = await freshPage();
    await page.goto(`${district.url}/?lang=en&school=${encodeURIComponent(schoolB.id)}`);
    await testid(page, 'sign-in').waitFor({ state: 'visible', ...SHOWN });
    await expect(page.locator('[data-testid="sign-in"] h2').innerText()).resolves.toBe('Sign in');
    await signInThroughUi(page, district, 'district-operator');
    await page.locator(`[data-testid="school-view"][data-loaded="true"][data-school-id="${schoolB.id}"]`).waitFor(SHOWN);
    await expect(testid(page, 'who-role').innerText()).resolves.toBe('District operator');
    // The school's level and ward in English too (the district file gives the ward both ways).
    const ward = schoolB.ward;
    expect(typeof ward, 'the simulated district names wards in both languages').toBe('object');
    // (Waited for: it shows once the district's list of schools has loaded, maybe after the devices.)
    await page.locator('[data-testid="school-view-meta"]', { hasText: typeof ward === 'string' ? ward : ward.en }).waitFor(SHOWN);
    await expect(page.locator('button[data-command]').count()).resolves.toBeGreaterThan(0);

    await page.click('[data-testid="sign-out"]');
    await testid(page, 'sign-in').waitFor({ state: 'visible', ...SHOWN });
    await expect(testid(page, 'sign-in-status').innerText()).resolves.toBe('You have signed out.');
    // On a shared screen the next person finds no name and no password of the last one.
    await expect(page.inputValue('[data-testid="sign-in-username"]')).resolves.toBe('');
    await expect(page.inputValue('[data-testid="sign-in-password"]')).resolves.toBe('');
    await expect(testid(page, 'who').isHidden()).resolves.toBe(true);
    await expect(testid(page, 'school-view').isHidden()).resolves.toBe(true);
    await expect(page.locator('[data-testid="schools-table"] tbody tr').count()).resolves.toBe(0);
    expect(new URL(page.url()).searchParams.has('school')).toBe(false);
    expect(await statusFromPage(page, '/api/auth/me')).toBe(401);
    await shot(page, 'f-signed-out');

    // The next person on this screen starts at their own view, with nothing of the last one's.
    await signInThroughUi(page, district, 'school-it');
    await page.locator(`[data-testid="school-view"][data-loaded="true"][data-school-id="${schoolA.id}"]`).waitFor(SHOWN);
    await expect(testid(page, 'back-to-overview').isHidden()).resolves.toBe(true);
    expect(errors).toEqual([]);
  }, LONG);

  it('works from the keyboard alone, and names every control for a screen reader on each view', async () => {
    const page = await freshPage();
    const tabTo = async (selector: string) => {
      // Tab until the element has focus: it is reachable from the keyboard, in the page's order.
      for (let presses = 0; presses < 200; presses++) {
        if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return presses;
        await page.keyboard.press('Tab');
      }
      throw new Error(`${selector} never took the focus in 200 presses of Tab`);
    };
    await page.goto(`${district.url}/`);
    await testid(page, 'sign-in').waitFor({ state: 'visible', ...SHOWN });
    expect(await unnamedOnScreen(page), 'the sign-in form').toEqual([]);
    // The check itself sees an unnamed control (an icon button with no label).
    await page.evaluate(() => document.body.append(Object.assign(document.createElement('button'), { id: 'unnamed-probe' })));
    await expect(unnamedOnScreen(page)).resolves.toEqual(['<button id="unnamed-probe"> has no accessible name']);
    await page.evaluate(() => document.getElementById('unnamed-probe')?.remove());
    // Signing in: the name field has the focus, Tab to the password, Enter sends.
    const itStaff = loginOf(district, 'school-it');
    await expect(page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).resolves.toBe('sign-in-username');
    await page.keyboard.type(itStaff.username);
    await page.keyboard.press('Tab');
    await page.keyboard.type(itStaff.password);
    await page.keyboard.press('Enter');
    await page.locator(`[data-testid="school-view"][data-loaded="true"][data-school-id="${schoolA.id}"]`).waitFor(SHOWN);
    expect(await unnamedOnScreen(page), "school IT's view").toEqual([]);
    // The search box, then a device's link, then Enter opens its page with the focus on its name.
    await tabTo('[data-testid="device-search"]');
    // Not the projector the IT test before sends a command to: this one's list of commands is empty.
    const projector = schoolA.devices.filter((d) => profiles.get(d.profileId)!.kind === 'display').at(-1)!;
    await page.keyboard.type(projector.id);
    await page.locator('[data-testid="filter-count"][data-shown="1"]').waitFor(SHOWN);
    await tabTo(`[data-testid="device-link-${projector.id}"]`);
    await page.keyboard.press('Enter');
    await page.locator(`[data-testid="device-page"][data-device-id="${projector.id}"]`).waitFor({ state: 'visible', ...SHOWN });
    await expect(page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).resolves.toBe('device-name');
    await page.locator('[data-testid^="chart-"] canvas').first().waitFor(SHOWN);
    expect(await unnamedOnScreen(page), 'the device page').toEqual([]);
    // A command from the keyboard: its confirmation takes the focus, Escape sends nothing.
    await tabTo('[data-testid="device-command-powerOn"]');
    await page.keyboard.press('Enter');
    await page.locator('[data-testid="command-confirm"][open]').waitFor(SHOWN);
    expect(await unnamedOnScreen(page), 'the confirmation').toEqual([]);
    await page.keyboard.press('Escape');
    await page.locator('[data-testid="command-confirm"]:not([open])').waitFor({ state: 'attached', ...SHOWN });
    await expect(page.locator('[data-testid="device-command"]').count()).resolves.toBe(0);

    // The principal's report, the admin page and the wall, each named throughout.
    const principal = await freshPage();
    await signInThroughUi(principal, district, 'principal', `/?report=${encodeURIComponent(schoolA.id)}`);
    await principal.locator('[data-testid="report"][data-loaded="true"]').waitFor(SHOWN);
    expect(await unnamedOnScreen(principal), "the principal's report").toEqual([]);
    const admin = await freshPage();
    await signInThroughUi(admin, district, 'district-admin', '/?admin');
    await testid(admin, 'admin').waitFor({ state: 'visible', ...SHOWN });
    await testid(admin, `user-${loginOf(district, 'principal').username}`).waitFor(SHOWN);
    expect(await unnamedOnScreen(admin), 'the admin page').toEqual([]);
    const wall = await freshPage({ viewport: { width: 1920, height: 1080 } });
    await signInThroughUi(wall, district, 'district-operator', '/');
    await testid(wall, `school-${schoolB.id}`).waitFor(SHOWN);
    expect(await unnamedOnScreen(wall), 'the overview').toEqual([]);
    // (The wall has no header: who is signed in is not shown there.)
    await wall.goto(`${district.url}/?wall`);
    await wall.locator('[data-testid="wall-schools"] li').first().waitFor(SHOWN);
    expect(await unnamedOnScreen(wall), 'the wall').toEqual([]);
    expect(errors).toEqual([]);
  }, LONG);
});
