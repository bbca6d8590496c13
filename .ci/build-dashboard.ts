/**
 * vitest globalSetup: builds the dashboard (dashboard/dist) when it is missing or older than
 * its sources, before any test file runs. The browser tests open the page the cloud serves
 * from that folder; without it the cloud serves the API only, and a test run straight with
 * `npx vitest run FILE` or `npm run test:repeat` (not through `npm test`) would wait for a
 * page that never comes. Costs a stat of the sources when the build is fresh.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dashboard = join(root, 'dashboard');
const built = join(dashboard, 'dist', 'index.html');

function newestSource(): number {
  const sources = [join(dashboard, 'vite.config.ts'), join(dashboard, 'package.json')];
  for (const file of readdirSync(join(dashboard, 'web'), { recursive: true, encoding: 'utf8' })) sources.push(join(dashboard, 'web', file));
  return Math.max(...sources.map((file) => statSync(file).mtimeMs));
}

export default function setup(): void {
  if (existsSync(built) && statSync(built).mtimeMs >= newestSource()) return;
  console.log(existsSync(built) ? 'dashboard sources changed: building dashboard/dist' : 'dashboard/dist missing: building it');
  execFileSync('npm', ['run', 'build', '--workspace', 'dashboard', '--silent'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}
