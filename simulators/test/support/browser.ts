/**
 * Debian's chromium for the browser tests, launched one way, and pages whose every action
 * (click, fill, goto, innerText…) has the suite's safety deadline as its limit.
 *
 * Playwright gives each action 30 s by default. That is a latency requirement the tests do
 * not mean to make: every wait in them is a safety net (SAFETY_DEADLINE_MS), and on a loaded
 * 2-core machine a page can take longer than 30 s to answer one click (seen in a CI run at
 * load 10-20: the sign-out button was found, then the page did not answer the click's next
 * step for 30 s). How fast the page is belongs in benchmarks (simulators/bench/).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { SAFETY_DEADLINE_MS } from './wait.ts';

export const CHROMIUM = '/usr/bin/chromium';

/** Chromium, headless, without the background traffic it would try to make (no internet here). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Debian chromium is not installed at ${CHROMIUM} (apt-get install chromium; npm test's pretest does it)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** A new context (its own cookies) whose actions wait up to the safety deadline. */
export async function newContext(browser: Browser, options: BrowserContextOptions = {}): Promise<BrowserContext> {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(SAFETY_DEADLINE_MS);
  return context;
}

/** A page in a new context of its own. */
export async function newPage(browser: Browser, options: BrowserContextOptions = {}): Promise<Page> {
  return (await newContext(browser, options)).newPage();
}
