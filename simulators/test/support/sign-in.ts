/**
 * A browser page signed in as one of a simulated district's demo accounts: the session
 * cookie the cloud sets at sign-in, in a fresh browser context of its own.
 */
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import type { Role } from '@schoolops/device-profiles';
import type { RunningDistrict } from '../../src/launcher/district.ts';

export async function signedInPage(browser: Browser, district: RunningDistrict, role: Role, options: BrowserContextOptions = {}): Promise<Page> {
  const login = district.logins.find((l) => l.role === role);
  if (!login) throw new Error(`the district has no demo account of role ${role}`);
  const response = await fetch(`${district.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: login.username, password: login.password }),
  });
  if (response.status !== 200) throw new Error(`sign-in as ${login.username}: HTTP ${response.status} ${await response.text()}`);
  const cookie = /^([^=]+)=([^;]+)/.exec(response.headers.get('set-cookie') ?? '');
  if (!cookie) throw new Error('the sign-in answer set no cookie');
  const context = await browser.newContext(options);
  await context.addCookies([{ name: cookie[1]!, value: cookie[2]!, url: district.url, httpOnly: true, sameSite: 'Strict' }]);
  return context.newPage();
}
