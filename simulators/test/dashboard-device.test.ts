/**
 * School IT's day in a real browser, against a small simulated district (startDistrict, what
 * `npm start` runs): signed in through the form as the school's IT, they land on their
 * school, find the projector whose lamp failed, open its page, see its alarm and a chart of
 * its history, switch it off (after a confirmation) and see what became of the command, as
 * the gateway reports it. Bad input on the page (a backwards date range) is said in words,
 * and what a device says about itself (a board's app name) is shown as text, never as markup.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles, localTopics, type School } from '@schoolops/device-profiles';
import { startDistrict, type RunningDistrict } from '../src/launcher/district.ts';
import { signedInPage } from './support/sign-in.ts';
import { SAFETY_DEADLINE_MS, waitFor } from './support/wait.ts';
import { launchChromium } from './support/browser.ts';

/** Waits for what the page shows: long, as a safety net, never a latency requirement. */
const SHOWN = { timeout: SAFETY_DEADLINE_MS };
const LONG = 3 * SAFETY_DEADLINE_MS;

describe("dashboard: school IT's device page", () => {
  let district: RunningDistrict;
  let dataDir: string;
  let browser: Browser;
  let page: Page;
  let school: School;
  const profiles = loadProfiles();
  const errors: string[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'schoolops-dashboard-device-'));
    district = await startDistrict({ schools: 1, port: 0, mqttPort: 0, dataDir, deviceIntervalMs: 1000, cameraSchedule: 'on-request', schoolTime: '2025-03-10 09:05' });
    school = district.inventory.schools[0]!;
    browser = await launchChromium();
    page = await signedInPage(browser, district, 'school-it', { viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (error) => errors.push(error.message));
  }, LONG);

  afterAll(async () => {
    await browser?.close();
    await district?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('finds the projector with a lamp alarm, opens its page, sees the alarm and a chart, switches it off and sees the outcome', async () => {
    const projector = school.devices.find((d) => profiles.get(d.profileId)!.kind === 'display')!;
    const rule = profiles.get(projector.profileId)!.health.rules.find((r) => r.metric === 'errorLamp')!;
    const fault = (method: string, name: string) => fetch(`${district.controlUrl}/faults/${projector.id}/${name}`, { method }).then((r) => r.status);
    expect(await fault('POST', 'lamp-failure')).toBe(200);
    try {
      // Their whole scope is one school: they land on it.
      await page.locator(`[data-testid="school-view"][data-school-id="${school.id}"][data-loaded="true"]`).waitFor(SHOWN);
      // The alarm is listed. (Where it ranks among the school's problems depends on what else is
      // wrong at the moment, and the list shows the widest few: its order is tested in Node.)
      await page.locator(`[data-testid="alarm-${projector.id}-${rule.id}"]`).waitFor(SHOWN);
      // The search finds it by its alarm's words, without accents, among the school's devices
      // (other projectors whose lamps near their end may match too; the list narrows).
      const total = Number(await page.locator('[data-testid="filter-count"]').getAttribute('data-shown'));
      await page.fill('[data-testid="device-search"]', 'bong den');
      await waitFor(async () => {
        const shown = Number(await page.locator('[data-testid="filter-count"]').getAttribute('data-shown'));
        return shown >= 1 && shown < total ? shown : null;
      }, 'the search to narrow the list');
      await page.locator(`[data-testid="device-link-${projector.id}"]`).waitFor(SHOWN);
      await page.click(`[data-testid="device-link-${projector.id}"]`);
      const devicePage = page.locator(`[data-testid="device-page"][data-device-id="${projector.id}"]`);
      await devicePage.waitFor({ state: 'visible', ...SHOWN });
      expect(new URL(page.url()).searchParams.get('device')).toBe(projector.id);
      await expect(page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).resolves.toBe('device-name');
      await page.locator(`[data-testid="device-alarms"] [data-rule="${rule.id}"][data-severity="critical"]`).waitFor(SHOWN);
      await expect(page.locator(`[data-testid="device-alarms"] [data-rule="${rule.id}"]`).innerText()).resolves.toContain(rule.message.vi);

      // A chart of its history over the last hour, with the data the projector sent.
      await page.click('[data-testid="range-hour"]');
      const chart = page.locator('[data-testid="chart-lampHours"]');
      await chart.waitFor(SHOWN);
      await expect(chart.locator('canvas').count()).resolves.toBeGreaterThan(0);
      expect(Number(await chart.getAttribute('data-points'))).toBeGreaterThan(0);
      await expect(chart.locator('figcaption').innerText()).resolves.toContain('Giờ đèn');
    } finally {
      expect(await fault('DELETE', 'all')).toBe(200);
    }

    // Switch it off: a confirmation first; "Hủy" sends nothing.
    await page.click('[data-testid="device-command-powerOff"]');
    await page.locator('[data-testid="command-confirm"][open]').waitFor(SHOWN);
    await expect(page.locator('[data-testid="command-confirm-text"]').innerText()).resolves.toContain('Tắt');
    await page.click('[data-testid="command-confirm-no"]');
    await expect(page.locator('[data-testid="device-command"]').count()).resolves.toBe(0);
    await page.click('[data-testid="device-command-powerOff"]');
    await page.click('[data-testid="command-confirm-yes"]');
    // The command is listed at once, then with the gateway's outcome (done, or the projector's refusal).
    const entry = page.locator('[data-testid="device-command"]').first();
    await entry.waitFor(SHOWN);
    await page.locator('[data-testid="device-command"]:not([data-state="sent"])').first().waitFor(SHOWN);
    const state = await entry.getAttribute('data-state');
    expect(['ok', 'failed']).toContain(state);
    await expect(entry.innerText()).resolves.toMatch(state === 'ok' ? /Tắt · Đã thực hiện/ : /Tắt · Thất bại/);
    expect(errors).toEqual([]);
  }, LONG);

  it('says what is wrong with a backwards date range, or an unknown device, instead of drawing an empty page', async () => {
    // On its own: opens a device's page by its address, whatever the test before left open.
    const device = school.devices.find((d) => profiles.get(d.profileId)!.kind === 'lab')!;
    await page.goto(`${district.url}/?device=${encodeURIComponent(device.id)}`);
    await page.locator(`[data-testid="device-page"][data-device-id="${device.id}"]`).waitFor({ state: 'visible', ...SHOWN });
    await page.click('[data-testid="range-custom"]');
    await page.fill('[data-testid="range-from"]', '2025-03-10');
    await page.fill('[data-testid="range-to"]', '2025-03-03');
    await page.click('[data-testid="range-show"]');
    const note = page.locator('[data-testid="charts-note"][data-problem="error"]');
    await note.waitFor(SHOWN);
    await expect(note.innerText()).resolves.toContain('phải trước');

    // An address naming no device: said in words, no empty page.
    await page.goto(`${district.url}/?device=khong-co-thiet-bi`);
    const message = page.locator('[data-testid="device-message"]', { hasText: 'Không tìm thấy thiết bị “khong-co-thiet-bi”.' });
    await message.waitFor({ state: 'visible', ...SHOWN });
    await expect(page.locator('[data-testid^="chart-"]').count()).resolves.toBe(0);
    expect(errors).toEqual([]);
  }, LONG);

  it("shows what a device reports as text: a board's app name that is markup runs nothing", async () => {
    // A client on the school's LAN speaking for a board (devices there are not authenticated:
    // the gateway checks what they send, not who they are), naming as its app an image whose
    // error handler would run script. It keeps saying so, as the board itself reports every
    // second: the page shows whichever came last when it loads.
    const board = school.devices.find((d) => profiles.get(d.profileId)!.kind === 'interactive-board')!;
    // (Short enough to be shown whole: the page cuts long strings.)
    const markup = '<img src=x onerror=__ran=1><b>Bài</b>';
    const rogue = await mqtt.connectAsync(`mqtt://127.0.0.1:${district.localPort(school.id)}`, { clientId: `rogue-${board.id}`, protocolVersion: 4 });
    let saying = true;
    const say = (async () => {
      while (saying) {
        await rogue.publishAsync(localTopics.deviceState(board.id), JSON.stringify({ time: Date.now(), session: { active: true, app: markup } }), { qos: 1 });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const ran = () => page.evaluate(() => (window as unknown as { __ran?: number }).__ran);
    try {
      await page.goto(`${district.url}/?device=${encodeURIComponent(board.id)}`);
      await page.locator(`[data-testid="device-page"][data-device-id="${board.id}"]`).waitFor({ state: 'visible', ...SHOWN });
      const values = page.locator('[data-testid="device-values"]', { hasText: markup });
      await values.waitFor(SHOWN);
      // The string is on the page as written, and nothing in it became an element or ran.
      await expect(values.locator('img, b').count()).resolves.toBe(0);
      await expect(ran()).resolves.toBeUndefined();

      // The same on the school's device list, where the board's row shows its values.
      await page.goto(`${district.url}/?school=${encodeURIComponent(school.id)}`);
      const row = page.locator(`[data-testid="device-values-${board.id}"]`, { hasText: markup });
      await row.waitFor(SHOWN);
      await expect(row.locator('img, b').count()).resolves.toBe(0);
      await expect(ran()).resolves.toBeUndefined();
    } finally {
      saying = false;
      await say;
      await rogue.endAsync();
    }
    expect(errors).toEqual([]);
  }, LONG);
});
