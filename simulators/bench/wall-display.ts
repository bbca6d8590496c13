/**
 * The wall display with a district of 150 schools, in Debian's chromium: how long until the
 * first page of schools is on screen (from the start of navigation, the page's own
 * performance mark), at 1080p and at 4K, and whether its memory stays flat over a long run
 * (JS heap after a forced garbage collection, sampled every minute; start against end).
 *
 *   node --import tsx simulators/bench/wall-display.ts                          (3 real + 147 replayed schools, 10 minutes)
 *   node --import tsx simulators/bench/wall-display.ts --minutes 120            (the 2-hour run)
 *   node --import tsx simulators/bench/wall-display.ts --schools 3 --replayed 147 --loads 10
 *   node --import tsx simulators/bench/wall-display.ts --schools 1 --replayed 149 --loads 0 --minutes 120
 *                                                                              (memory only, fewer cameras)
 *
 * Prints figures; asserts nothing. Record them with the command in docs/BENCHMARKS.md.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import { startDistrict } from '../src/launcher/district.ts';

const { values: opts } = parseArgs({
  options: {
    schools: { type: 'string', default: '3' },
    replayed: { type: 'string', default: '147' },
    minutes: { type: 'string', default: '10' },
    loads: { type: 'string', default: '10' },
  },
});
const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) throw new Error('Debian chromium is needed (apt-get install chromium)');
const minutes = Number(opts.minutes);
const loads = Number(opts.loads);
const dataDir = mkdtempSync(join(tmpdir(), 'schoolops-wall-bench-'));
const log = (text: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);

log(`starting a district of ${opts.schools} real and ${opts.replayed} replayed schools…`);
const district = await startDistrict({ schools: Number(opts.schools), replayedSchools: Number(opts.replayed), port: 0, mqttPort: 0, dataDir });
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--enable-precise-memory-info'] });
try {
  const total = district.inventory.schools.length;
  // Wait until the district knows every school (the replayer connects them all).
  for (;;) {
    const schools = (await (await district.api('/api/schools')).json()) as Array<{ online: boolean }>;
    if (schools.length === total && schools.filter((s) => s.online).length >= total * 0.9) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  log(`${total} schools known to the cloud`);
  const operator = district.logins.find((l) => l.role === 'district-operator')!;
  /** Through the form, as the district's operator (whose wall it is). */
  const signIn = async (page: Page) => {
    await page.goto(`${district.url}/`);
    await page.fill('[data-testid="sign-in-username"]', operator.username);
    await page.fill('[data-testid="sign-in-password"]', operator.password);
    await page.click('[data-testid="sign-in-submit"]');
    await page.locator('[data-testid="who"]').waitFor({ state: 'visible' });
  };

  // --loads 0: the memory run alone.
  for (const [label, viewport] of loads > 0 ? ([
    ['1080p', { width: 1920, height: 1080 }],
    ['4K', { width: 3840, height: 2160 }],
  ] as const) : []) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    await signIn(page);
    const times: number[] = [];
    for (let i = 0; i < loads; i++) {
      await page.goto(`${district.url}/?wall`);
      await page.locator('[data-testid="wall-schools"] li').first().waitFor();
      const at = await page.evaluate(() => performance.getEntriesByName('schoolops:wall-first-render')[0]?.startTime ?? NaN);
      times.push(at);
    }
    const sorted = [...times].sort((a, b) => a - b);
    const perPage = await page.locator('[data-testid="wall-schools"]').getAttribute('data-per-page');
    const pages = await page.locator('[data-testid="wall-schools"]').getAttribute('data-pages');
    log(`${label}: first render over ${loads} loads: median ${sorted[Math.floor(loads / 2)]!.toFixed(0)} ms, max ${sorted[loads - 1]!.toFixed(0)} ms; ${perPage} schools per page, ${pages} pages`);
    await context.close();
  }

  if (minutes > 0) {
    const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
    const page = await context.newPage();
    await signIn(page);
    await page.goto(`${district.url}/?wall&turn=5`);
    await page.locator('[data-testid="wall-schools"] li').first().waitFor();
    const cdp = await context.newCDPSession(page);
    const heap = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      const { usedSize } = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
      const nodes = await page.evaluate(() => document.getElementsByTagName('*').length);
      return { mb: usedSize / 1e6, nodes };
    };
    const start = await heap();
    log(`memory run: ${minutes} min, pages turning every 5 s; heap at start ${start.mb.toFixed(1)} MB, ${start.nodes} DOM nodes`);
    const samples = [start.mb];
    for (let m = 1; m <= minutes; m++) {
      await new Promise((r) => setTimeout(r, 60_000));
      const now = await heap();
      samples.push(now.mb);
      if (m % 10 === 0 || m === minutes) log(`  minute ${m}: heap ${now.mb.toFixed(1)} MB, ${now.nodes} DOM nodes, page ${await page.locator('[data-testid="wall-schools"]').getAttribute('data-page')}`);
    }
    const end = samples[samples.length - 1]!;
    log(`heap start ${start.mb.toFixed(1)} MB, end ${end.toFixed(1)} MB, min ${Math.min(...samples).toFixed(1)}, max ${Math.max(...samples).toFixed(1)} (after GC, every minute)`);
    await context.close();
  }
} finally {
  await browser.close();
  await district.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
