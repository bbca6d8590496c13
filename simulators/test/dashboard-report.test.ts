/**
 * The principal's report in a real browser, against a small simulated district: signed in
 * through the form as the school's principal, they open the attendance and room usage report
 * of their school, pick last week, see the figures, the classes and the rooms, and download
 * the attendance as CSV (opened here: UTF-8 with a BOM, Vietnamese headings). A backwards date
 * range is said in words.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { School } from '@schoolops/device-profiles';
import { startDistrict, type RunningDistrict } from '../src/launcher/district.ts';
import { signedInPage } from './support/sign-in.ts';
import { SAFETY_DEADLINE_MS } from './support/wait.ts';
import { launchChromium } from './support/browser.ts';

const SHOWN = { timeout: SAFETY_DEADLINE_MS };
const LONG = 3 * SAFETY_DEADLINE_MS;

describe("dashboard: the principal's report", () => {
  let district: RunningDistrict;
  let dataDir: string;
  let browser: Browser;
  let page: Page;
  let school: School;
  const errors: string[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'schoolops-dashboard-report-'));
    // A Wednesday: last week is 3-9 March 2025.
    district = await startDistrict({ schools: 1, port: 0, mqttPort: 0, dataDir, deviceIntervalMs: 1000, cameraSchedule: 'on-request', schoolTime: '2025-03-12 09:05' });
    school = district.inventory.schools[0]!;
    browser = await launchChromium();
    page = await signedInPage(browser, district, 'principal', { viewport: { width: 1400, height: 900 }, acceptDownloads: true });
    page.on('pageerror', (error) => errors.push(error.message));
  }, LONG);

  afterAll(async () => {
    await browser?.close();
    await district?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('picks last week, shows attendance by class and room usage, and exports the attendance as CSV', async () => {
    await page.locator(`[data-testid="school-view"][data-school-id="${school.id}"][data-loaded="true"]`).waitFor(SHOWN);
    await page.click('[data-testid="report-link"]');
    const report = page.locator(`[data-testid="report"][data-school-id="${school.id}"]`);
    await report.waitFor({ state: 'visible', ...SHOWN });
    await page.click('[data-testid="report-last-week"]');
    await page.locator('[data-testid="report-last-week"][aria-pressed="true"]').waitFor(SHOWN);
    await page.locator(`[data-testid="report"][data-loaded="true"]`).waitFor(SHOWN);
    const url = new URL(page.url());
    expect([url.searchParams.get('report'), url.searchParams.get('from'), url.searchParams.get('to')]).toEqual([school.id, '2025-03-03', '2025-03-09']);
    await expect(page.locator('[data-testid="report-title"]').innerText()).resolves.toContain('2025-03-03 – 2025-03-09');
    // Every class of the school has a row; every room a row of usage.
    await expect(page.locator('[data-testid="report-classes"] tbody tr').count()).resolves.toBe(school.classes.length);
    await expect(page.locator('[data-testid="report-rooms"] tbody tr').count()).resolves.toBe(school.rooms.length);
    await expect(page.locator('[data-testid="report-grid"] caption').innerText()).resolves.toContain('theo thứ và tiết');
    // Last week the cameras counted nothing (the district lives from today, counting on request):
    // the report names them, in words, rather than showing empty rates as if all were well.
    const never = page.locator('[data-testid="report-cameras"] li[data-problem="never_counted"]');
    await expect(never.count()).resolves.toBeGreaterThan(0);
    await expect(never.first().innerText()).resolves.toContain('camera chưa đếm tiết nào');

    // The attendance of the range, as a CSV file in Vietnamese.
    const [download] = await Promise.all([page.waitForEvent('download', SHOWN), page.click('[data-testid="export-attendance-csv"]')]);
    const file = join(dataDir, 'attendance.csv');
    await download.saveAs(file);
    const bytes = readFileSync(file);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.toString('utf8').slice(1);
    expect(text.split(/\r\n/).length).toBeGreaterThan(2);
    expect(text).toMatch(/Lớp/);
    expect(errors).toEqual([]);
  }, LONG);

  it('says what is wrong with a backwards date range, or one too long', async () => {
    await page.click('[data-testid="report-custom"]');
    await page.fill('[data-testid="report-from"]', '2025-03-09');
    await page.fill('[data-testid="report-to"]', '2025-03-03');
    await page.click('[data-testid="report-show"]');
    const message = page.locator('[data-testid="report-message"][data-problem="error"]');
    await message.waitFor(SHOWN);
    await expect(message.innerText()).resolves.toMatch(/trước|sau/);

    // Longer than one question may span: the cloud's limit, said in words.
    await page.fill('[data-testid="report-from"]', '2024-09-05');
    await page.fill('[data-testid="report-to"]', '2025-03-09');
    await page.click('[data-testid="report-show"]');
    await page.locator('[data-testid="report-message"][data-problem="error"]', { hasText: 'tối đa' }).waitFor(SHOWN);
    expect(errors).toEqual([]);
  }, LONG);
});
