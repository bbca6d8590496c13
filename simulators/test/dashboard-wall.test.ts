/**
 * The wall display of a district of 150 schools in a real browser (one school with its real
 * gateway and devices, 149 replayed over the real wire protocol): enrolled with its one-time
 * code, it shows the problems, the figures and pages of schools that turn by themselves; when
 * the cloud is killed it says "connection lost", and when the cloud is back it recovers
 * without anyone touching it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDistrict, type RunningDistrict } from '../src/launcher/district.ts';
import { SAFETY_DEADLINE_MS, waitFor } from './support/wait.ts';
import { launchChromium, newPage } from './support/browser.ts';

const SHOWN = { timeout: SAFETY_DEADLINE_MS };
const LONG = 4 * SAFETY_DEADLINE_MS;
const SCHOOLS = 150;

describe('dashboard: the wall display of 150 schools', () => {
  let district: RunningDistrict;
  let dataDir: string;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'schoolops-dashboard-wall-'));
    district = await startDistrict({ schools: 1, replayedSchools: SCHOOLS - 1, port: 0, mqttPort: 0, dataDir, cameraSchedule: 'on-request', schoolTime: '2025-03-12 09:05' });
    browser = await launchChromium();
    page = await newPage(browser, { viewport: { width: 1920, height: 1080 } });
  }, LONG);

  afterAll(async () => {
    await browser?.close();
    await district?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('enrolls, shows problems and figures first, and turns pages of all 150 schools', async () => {
    await page.goto(`${district.url}/?enroll`);
    await page.fill('[data-testid="enroll-code"]', district.displayCode);
    await page.click('[data-testid="enroll-submit"]');
    await page.locator('[data-testid="wall"]').waitFor({ state: 'visible', ...SHOWN });
    // Pages turn every 2 s here (the product's default is 15 s): a test moves faster, it does not wait less.
    await page.goto(`${district.url}/?wall&turn=2`);
    const cards = page.locator('[data-testid="wall-schools"]');
    await cards.locator('li').first().waitFor(SHOWN);
    await page.locator('[data-testid="wall-figures"] [data-figure="online"]').waitFor(SHOWN);
    // The figures count every school of the district.
    await waitFor(async () => ((await page.locator('[data-testid="wall-figures"] [data-figure="online"] dd').innerText()).endsWith(`/${SCHOOLS}`) ? true : null), 'the wall to count 150 schools');
    // Problems come first: the replayer's offline schools are tiles.
    await page.locator('[data-testid="wall-tiles"] [data-kind="offline"]').first().waitFor(SHOWN);
    const pages = Number(await cards.getAttribute('data-pages'));
    const perPage = Number(await cards.getAttribute('data-per-page'));
    expect(pages).toBeGreaterThan(1);
    expect(pages * perPage).toBeGreaterThanOrEqual(SCHOOLS);
    // A full page fits the screen: no card is cut off at the bottom (the count agrees with the grid).
    const overflowing = await cards.locator('li').evaluateAll((items) => items.filter((li) => li.getBoundingClientRect().bottom > window.innerHeight).length);
    expect(overflowing).toBe(0);
    await expect(cards.locator('li').count()).resolves.toBe(Math.min(perPage, SCHOOLS));
    // Every page shows in turn, and comes round to the first again.
    const seen = new Set<string>();
    const schools = new Set<string>();
    await waitFor(async () => {
      const p = await cards.getAttribute('data-page');
      if (p) seen.add(p);
      for (const id of await cards.locator('li').evaluateAll((items) => items.map((li) => li.getAttribute('data-school-id') ?? ''))) schools.add(id);
      return seen.size === pages ? true : null;
    }, 'every page of schools to be shown');
    expect(schools.size).toBe(SCHOOLS);
    await expect(page.locator('[data-testid="wall-connection"]').getAttribute('data-state')).resolves.toBe('live');
  }, LONG);

  it('says the connection is lost while the cloud is down, and recovers by itself when it is back', async () => {
    await district.kill('cloud');
    const lost = page.locator('[data-testid="wall-connection-lost"]');
    await lost.waitFor({ state: 'visible', ...SHOWN });
    await expect(lost.innerText()).resolves.toContain('MẤT KẾT NỐI');
    await expect(page.locator('[data-testid="wall-age"]').isVisible()).resolves.toBe(true);
    await district.start('cloud');
    await lost.waitFor({ state: 'hidden', ...SHOWN });
    await page.locator('[data-testid="wall-connection"][data-state="live"]').waitFor(SHOWN);
    // Nobody touched it: still the wall, still every school, data fresh again.
    await page.locator('[data-testid="wall-schools"] li').first().waitFor(SHOWN);
    expect(new URL(page.url()).searchParams.has('wall')).toBe(true);
    await page.locator('[data-testid="wall-age"][data-stale="false"]').waitFor(SHOWN);
  }, LONG);
});
