/**
 * The dashboard's school device view in a real browser, against a small simulated district
 * (startDistrict, what `npm start` runs): open a school from the overview, see every device
 * kind with its status and key values, watch an injected projector lamp failure arrive as
 * an alarm and an error and go again, switch language, and come back to the overview.
 * Signed in through the page's own sign-in form as the district operator, as a person is.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_KINDS, loadProfiles, type School } from '@schoolops/device-profiles';
import { startDistrict, type RunningDistrict } from '../src/launcher/district.ts';
import { signedInPage } from './support/sign-in.ts';
import { countCameras } from './support/cameras.ts';
import { SAFETY_DEADLINE_MS } from './support/wait.ts';
import { launchChromium } from './support/browser.ts';

/** Waits for what the page shows: long, as a safety net, never a latency requirement. */
const SHOWN = { timeout: SAFETY_DEADLINE_MS };
const LONG = 2 * SAFETY_DEADLINE_MS;

const NBSP = '\u00a0';

describe('dashboard: one school’s devices', () => {
  let district: RunningDistrict;
  let dataDir: string;
  let browser: Browser;
  let page: Page;
  let school: School;
  const profiles = loadProfiles();
  const kindOf = (profileId: string) => profiles.get(profileId)!.kind;
  const row = (deviceId: string) => page.locator(`[data-testid="device-${deviceId}"]`);
  const value = (deviceId: string, metric: string) => row(deviceId).locator(`[data-metric="${metric}"]`);
  const deviceOf = (profileId: string) => school.devices.find((d) => d.profileId === profileId)!;
  /** The name the API gives a device: its own, else its model's. */
  const nameOf = (d: School['devices'][number]) => d.name ?? profiles.get(d.profileId)!.name;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'schoolops-dashboard-school-'));
    // Cameras count when asked (the test asks one), not all at once at start; the district
    // lives at a Monday lesson whenever the test runs, so nothing depends on the hour.
    district = await startDistrict({ schools: 1, port: 0, mqttPort: 0, dataDir, deviceIntervalMs: 1000, cameraSchedule: 'on-request', schoolTime: '2025-03-10 09:05' });
    school = district.inventory.schools[0]!;
    browser = await launchChromium();
    // Through the sign-in form, as the district's operator: every school, no admin page.
    page = await signedInPage(browser, district, 'district-operator', { viewport: { width: 1400, height: 900 } });
  }, LONG);

  afterAll(async () => {
    await browser?.close();
    await district?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('opens a school from its row, in Vietnamese, with every device of every kind', async () => {
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${district.url}/`);
    const schoolRow = page.locator(`[data-testid="school-${school.id}"]`);
    await schoolRow.locator('[data-online="true"]').waitFor(SHOWN);
    await expect(page.locator('[data-testid="school-view"]').isHidden()).resolves.toBe(true);

    // A click on the row (not on the name's link) opens the view, and the address says so.
    await schoolRow.locator('td').first().click();
    const view = page.locator('[data-testid="school-view"][data-loaded="true"]');
    await view.waitFor(SHOWN);
    expect(new URL(page.url()).searchParams.get('school')).toBe(school.id);
    await expect(page.locator('[data-testid="overview"]').isHidden()).resolves.toBe(true);
    // Focus moved to the school's name, a heading.
    await expect(page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).resolves.toBe('school-view-name');
    await expect(page.locator('h2[data-testid="school-view-name"]').innerText()).resolves.toBe(school.name.vi);
    await expect(page.evaluate(() => document.documentElement.lang)).resolves.toBe('vi');
    await expect(page.locator('[data-testid="back-to-overview"]').innerText()).resolves.toContain('Tổng quan các trường');

    // Every device has a row, in the group of its kind, once the devices report.
    for (const d of school.devices) {
      await expect(page.locator(`[data-testid="device-group-${kindOf(d.profileId)}"] [data-testid="device-${d.id}"]`).count(), d.id).resolves.toBe(1);
    }
    await expect(page.locator('[data-testid="school-count-devices"]').getAttribute('data-value')).resolves.toBe(String(school.devices.length));
    for (const kind of DEVICE_KINDS) {
      await expect(page.locator(`[data-testid="device-group-${kind}"] tbody tr`).count(), kind).resolves.toBeGreaterThan(0);
    }
    await expect(page.locator('[data-testid="device-group-display"] h4').innerText()).resolves.toContain('Máy chiếu / Màn hình');

    // Key values per kind, in Vietnamese number style, once every device reported.
    const projector = deviceOf('epson-eb-x51');
    const router = deviceOf('mikrotik-hex-s');
    const probe = deviceOf('schoolops-link-probe');
    const lab = deviceOf('schoolops-lab-controller');
    const board = deviceOf('promethean-activpanel-9');
    const camera = deviceOf('hikvision-ds-2cd2143');
    // Each value shows once its device has reported (the router's rates after two polls).
    for (const [id, metric] of [
      [projector.id, 'lampHours'],
      [projector.id, 'power'],
      [router.id, 'inBps'],
      [router.id, 'uptimeS'],
      [probe.id, 'latencyMs'],
      [probe.id, 'wanUp'],
      [lab.id, 'roomTemperature'],
      [board.id, 'freeStorageMb'],
    ] as const)
      await value(id, metric).waitFor(SHOWN);
    await expect(row(projector.id).locator(`[data-testid="device-status-${projector.id}"]`).getAttribute('data-state')).resolves.toBe('ok');
    await expect(row(projector.id).locator(`[data-testid="device-status-${projector.id}"]`).innerText()).resolves.toContain('Kết nối tốt');
    await expect(value(projector.id, 'lampHours').innerText()).resolves.toMatch(new RegExp(`^Giờ đèn: [\\d.]+${NBSP}giờ$`));
    await expect(value(projector.id, 'power').innerText()).resolves.toMatch(/^Nguồn: (Bật|Tắt|Đang làm mát|Đang khởi động)$/);
    await expect(value(router.id, 'inBps').innerText()).resolves.toMatch(/bit\/s$/);
    await expect(value(router.id, 'uptimeS').innerText()).resolves.toMatch(/ngày|giờ|phút|giây/);
    await expect(value(probe.id, 'latencyMs').innerText()).resolves.toMatch(/ms$/);
    await expect(value(probe.id, 'wanUp').innerText()).resolves.toBe('Internet: Có kết nối');
    await expect(value(lab.id, 'roomTemperature').innerText()).resolves.toMatch(new RegExp(`\\d+,\\d${NBSP}°C$`));
    await expect(value(board.id, 'freeStorageMb').innerText()).resolves.toMatch(/(MB|GB)$/);
    // The camera counts when the district asks it to.
    await countCameras(district.api, [camera.id]);
    await value(camera.id, 'headcount').waitFor(SHOWN);
    expect(errors).toEqual([]);
  }, LONG);

  it('shows an injected lamp failure as an alarm and an error on the projector, then clears it', async () => {
    const projector = deviceOf('epson-eb-x51');
    const rule = profiles.get(projector.profileId)!.health.rules.find((r) => r.metric === 'errorLamp')!;
    const alarm = page.locator(`[data-testid="alarm-${projector.id}-${rule.id}"]`);
    const lampError = value(projector.id, 'errorLamp');
    await expect(alarm.count()).resolves.toBe(0);
    await expect(lampError.count()).resolves.toBe(0);

    const fault = (method: string, name: string) => fetch(`${district.controlUrl}/faults/${projector.id}/${name}`, { method }).then((r) => r.status);
    expect(await fault('POST', 'lamp-failure')).toBe(200);
    try {
      await alarm.waitFor(SHOWN);
      await expect(alarm.getAttribute('data-severity')).resolves.toBe('critical');
      const text = await alarm.innerText();
      expect(text).toContain('Nghiêm trọng');
      expect(text).toContain(rule.message.vi);
      expect(text).toContain(nameOf(projector).vi);
      await lampError.waitFor(SHOWN);
      await expect(lampError.innerText()).resolves.toBe('Bóng đèn: Lỗi');
      await expect(lampError.getAttribute('data-tone')).resolves.toBe('bad');
      // The header counts what the list shows (other simulated alarms may come and go meanwhile).
      // Both read in one turn of the page's event loop, so no update falls between them.
      const { counted, listed } = await page.evaluate(() => ({
        counted: Number(document.querySelector('[data-testid="school-count-alarms"]')?.getAttribute('data-value')),
        listed: document.querySelectorAll('[data-testid="alarm-list"] li').length,
      }));
      expect(counted).toBeGreaterThanOrEqual(1);
      expect(listed).toBe(counted);
      // The most severe alarm is listed first.
      await expect(page.locator('[data-testid="alarm-list"] li').first().getAttribute('data-severity')).resolves.toBe('critical');
    } finally {
      expect(await fault('DELETE', 'all')).toBe(200);
    }
    await alarm.waitFor({ state: 'detached', ...SHOWN });
    await lampError.waitFor({ state: 'detached', ...SHOWN });
    await expect(row(projector.id).locator(`[data-testid="device-status-${projector.id}"]`).getAttribute('data-state')).resolves.toBe('ok');
  }, LONG);

  it('switches to English and back, returns to the overview, and opens from a link', async () => {
    const projector = deviceOf('epson-eb-x51');
    await page.click('[data-testid="lang-en"]');
    await expect(page.locator('[data-testid="school-view-name"]').innerText()).resolves.toBe(school.name.en);
    await expect(page.evaluate(() => document.documentElement.lang)).resolves.toBe('en');
    await expect(page.locator('[data-testid="device-group-display"] h4').innerText()).resolves.toContain('Projectors / Displays');
    await expect(page.locator(`[data-testid="device-status-${projector.id}"]`).innerText()).resolves.toContain('Connected');
    await expect(value(projector.id, 'lampHours').innerText()).resolves.toMatch(new RegExp(`^Lamp hours: [\\d,]+${NBSP}h$`));
    await expect(row(projector.id).locator('th .name').innerText()).resolves.toBe(nameOf(projector).en);
    await expect(page.locator('[data-testid="back-to-overview"]').innerText()).resolves.toContain('Schools overview');
    await page.click('[data-testid="lang-vi"]');
    await expect(page.locator('[data-testid="device-group-display"] h4').innerText()).resolves.toContain('Máy chiếu / Màn hình');

    // Back to the overview: the address drops the school, focus returns to its link.
    await page.click('[data-testid="back-to-overview"]');
    await page.locator('[data-testid="overview"]').waitFor({ state: 'visible' });
    await expect(page.locator('[data-testid="school-view"]').isHidden()).resolves.toBe(true);
    expect(new URL(page.url()).searchParams.has('school')).toBe(false);
    await expect(page.evaluate(() => document.activeElement?.closest('tr')?.dataset.schoolId)).resolves.toBe(school.id);

    // The keyboard opens it too: Enter on the focused school link.
    await page.keyboard.press('Enter');
    await page.locator('[data-testid="school-view"][data-loaded="true"]').waitFor(SHOWN);
    expect(new URL(page.url()).searchParams.get('school')).toBe(school.id);
    // The browser's back button returns to the overview as well.
    await page.goBack();
    await page.locator('[data-testid="overview"]').waitFor({ state: 'visible' });

    // A link (or a reload) opens the school directly.
    await page.goto(`${district.url}/?school=${encodeURIComponent(school.id)}`);
    await page.locator('[data-testid="school-view"][data-loaded="true"]').waitFor(SHOWN);
    await expect(row(projector.id).count()).resolves.toBe(1);
    // An unknown school says so instead of loading for ever.
    await page.goto(`${district.url}/?school=no-such-school`);
    await page.locator('[data-testid="school-view-message"]', { hasText: 'Không tìm thấy trường “no-such-school”' }).waitFor(SHOWN);
    await expect(page.locator('[data-testid="device-group-display"]').count()).resolves.toBe(0);
  }, LONG);
});
