/**
 * `edge-agent count-faces`: the installer's command, run as a real child process.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FACES_JPG } from './scene.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'count-faces-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, 'count-faces', ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

describe('count-faces CLI', () => {
  it('prints the face count of a real group photo as JSON and exits 0', async () => {
    const r = await run(FACES_JPG);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
    expect(out).toMatchObject({ faces: 3, width: 600, height: 346 });
    expect(typeof out.ms).toBe('number');
    expect(Object.keys(out).sort()).toEqual(['faces', 'height', 'ms', 'width']);
  });

  it('exits 2 with a clear message for a file that is not an image', async () => {
    const bogus = join(dir, 'notes.jpg');
    writeFileSync(bogus, 'this is text, not a JPEG');
    const r = await run(bogus);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/not a readable image/);
  });

  it('counts several files with one model load, names each, and still counts the good ones past a bad one', async () => {
    const bogus = join(dir, 'bogus.jpg');
    writeFileSync(bogus, 'not an image');
    const r = await run(FACES_JPG, bogus, FACES_JPG);
    expect(r.code).toBe(2);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatchObject({ file: FACES_JPG, faces: 3 });
    expect(r.stderr).toContain(`${bogus} is not a readable image`);
  });

  it("takes a camera's face sizes as flags, and refuses nonsense with the usage", async () => {
    const ok = await run('--min-face-px', '60', '--max-face-px', '150', FACES_JPG);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout.trim())).toMatchObject({ faces: 3 });
    for (const bad of [['--min-face-px', 'big'], ['--min-face-px', '40', '--max-face-px', '30'], ['--roi-top', '2'], ['--frobnicate']]) {
      const r = await run(...bad, FACES_JPG);
      expect(r.code, bad.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/usage: edge-agent count-faces/);
    }
  });

  it('exits 2 for a missing file', async () => {
    const r = await run(join(dir, 'missing.jpg'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read/);
  });
});
