/**
 * Signing in to the dashboard as a person does: the page's own sign-in form, with one of a
 * simulated district's demo accounts, in a browser context of its own (its own cookies).
 * The session cookie is HttpOnly and set by the cloud; nothing here reads or plants it.
 */
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import type { Role } from '@schoolops/device-profiles';
import type { DemoLogin } from '@schoolops/cloud';
import type { RunningDistrict } from '../../src/launcher/district.ts';
import { newPage } from './browser.ts';
import { SAFETY_DEADLINE_MS } from './wait.ts';

const SHOWN = { timeout: SAFETY_DEADLINE_MS };

/** The district's demo account of this role. */
export function loginOf(district: RunningDistrict, role: Role): DemoLogin {
  const login = district.logins.find((l) => l.role === role);
  if (!login) throw new Error(`the district has no demo account of role ${role}`);
  return login;
}

/**
 * Fill in and send the sign-in form the page shows (it must be showing, or `path` is
 * opened first and must bring it up), then wait until the page says who is signed in.
 */
export async function signInThroughUi(page: Page, district: RunningDistrict, who: Role | { username: string; password: string }, path?: string): Promise<void> {
  const { username, password } = typeof who === 'string' ? loginOf(district, who) : who;
  if (path !== undefined) await page.goto(`${district.url}${path}`);
  await page.locator('[data-testid="sign-in"]').waitFor({ state: 'visible', ...SHOWN });
  await page.fill('[data-testid="sign-in-username"]', username);
  await page.fill('[data-testid="sign-in-password"]', password);
  await page.click('[data-testid="sign-in-submit"]');
  await page.locator('[data-testid="who"]').waitFor({ state: 'visible', ...SHOWN });
}

/** A new browser context and page, signed in through the form as the district's `role` account. */
export async function signedInPage(browser: Browser, district: RunningDistrict, role: Role, options: BrowserContextOptions = {}): Promise<Page> {
  const page = await newPage(browser, options);
  await signInThroughUi(page, district, role, '/');
  return page;
}
