/**
 * Screenshots of every view, as each role sees it, at 1080p, for docs/screenshots/ (the
 * README shows them): starts a simulated district (what `npm start` runs), signs in through
 * the page's own form as each demo account, and photographs where each one lands and the
 * pages they open. Run after a change to the dashboard:
 *
 *   npm run screenshots                          (docs/screenshots/, Vietnamese)
 *   npm run screenshots -- --out /tmp/shots --lang en
 *
 * Needs Debian's chromium (apt-get install chromium).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import type { Role } from '@schoolops/device-profiles';
import { startDistrict } from '../launcher/district.ts';

const { values: opts } = parseArgs({
  options: {
    out: { type: 'string', default: resolve(import.meta.dirname, '../../../docs/screenshots') },
    lang: { type: 'string', default: 'vi' },
    'replayed-schools': { type: 'string', default: '0' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log('usage: npm run screenshots -- [--out DIR] [--lang vi|en] [--replayed-schools N]');
  process.exit(0);
}
const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  console.error('screenshots: Debian chromium is needed (apt-get install chromium)');
  process.exit(2);
}
const out = resolve(opts.out!);
mkdirSync(out, { recursive: true });
const lang = opts.lang === 'en' ? 'en' : 'vi';
const replayedSchools = Number(opts['replayed-schools']);
const dataDir = mkdtempSync(join(tmpdir(), 'schoolops-screenshots-'));
const step = (text: string) => console.log(`screenshots: ${text}`);

step('starting a simulated district (3 schools)…');
const district = await startDistrict({
  schools: 3,
  ...(replayedSchools > 0 ? { replayedSchools } : {}),
  port: 0,
  mqttPort: 0,
  dataDir,
  deviceIntervalMs: 2000,
  // As `npm start` runs it, at a Wednesday lesson: the cameras count by the timetable.
  schoolTime: '2025-03-12 09:05',
});
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
try {
  const school = district.inventory.schools[0]!;
  const projector = school.devices.find((d) => d.profileId.startsWith('epson'))!;
  // Something to see: a failed lamp.
  await fetch(`${district.controlUrl}/faults/${projector.id}/lamp-failure`, { method: 'POST' });

  const shoot = async (role: Role, path: string, name: string, ready: string, then?: (page: Page) => Promise<void>) => {
    // A browser set to the page's language, as a school's would be (its date fields follow it).
    const context = await browser.newContext({ viewport: { width: 1920, height: 1080 }, deviceScaleFactor: 1, locale: lang === 'vi' ? 'vi-VN' : 'en-GB' });
    const page: Page = await context.newPage();
    const login = district.logins.find((l) => l.role === role)!;
    await page.goto(`${district.url}/?lang=${lang}`);
    await page.fill('[data-testid="sign-in-username"]', login.username);
    await page.fill('[data-testid="sign-in-password"]', login.password);
    await page.click('[data-testid="sign-in-submit"]');
    // Signed in when the page says who (the element is there, hidden, before).
    await page.locator('[data-testid="who"]').waitFor({ state: 'visible', timeout: 120_000 });
    if (path) await page.goto(`${district.url}/${path}${path.includes('?') ? '&' : '?'}lang=${lang}`);
    try {
      await page.locator(ready).first().waitFor({ timeout: 120_000 });
    } catch (error) {
      // What the page showed instead, for whoever has to find out why.
      const shown = join(tmpdir(), `schoolops-screenshot-${name}-failed.png`);
      await page.screenshot({ path: shown }).catch(() => undefined);
      throw new Error(`${name}: "${ready}" did not show within 120 s; what the page showed: ${shown}`, { cause: error });
    }
    await then?.(page);
    // Let the live figures and charts settle on screen.
    await page.waitForTimeout(4000);
    await page.screenshot({ path: join(out, `${name}.png`) });
    step(`${name}.png`);
    await context.close();
  };
  // Give the devices a little history to chart.
  await new Promise((r) => setTimeout(r, 30_000));
  await shoot('district-operator', '', 'overview', '[data-testid="overview"] tbody tr');
  await shoot('school-it', '', 'school-it', '[data-testid="school-view"][data-loaded="true"]');
  // The last hour in 10-second buckets: a district a minute old has a line to show there
  // (today's 5-minute buckets would hold one point).
  await shoot('school-it', `?device=${encodeURIComponent(projector.id)}`, 'device', '[data-testid^="chart-"] canvas', async (page) => {
    await page.click('[data-testid="range-hour"]');
    await page.locator('[data-testid="range-hour"][aria-pressed="true"]').waitFor({ timeout: 120_000 });
  });
  await shoot('principal', '', 'principal-school', '[data-testid="school-view"][data-loaded="true"]');
  // The report of the school day the demo lives in (the simulated days before it have no lessons counted).
  await shoot('principal', `?report=${encodeURIComponent(school.id)}&from=2025-03-12&to=2025-03-12&by=day`, 'principal-report', '[data-testid="report"][data-loaded="true"]');
  await shoot('district-operator', '?wall', 'wall', '[data-testid="wall-schools"] li');
  await shoot('district-admin', '?admin', 'admin', '[data-testid="admin"]');
} finally {
  await browser.close();
  await district.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
step(`done: ${out}`);
