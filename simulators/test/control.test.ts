/**
 * The fault switchboard takes requests from a person's tools at this machine, not from web
 * pages the same machine's browser has open (a cross-origin POST needs no preflight, and a
 * DNS-rebinding page arrives under its own host name).
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlServer, type ControlServer, type FaultTarget } from '../src/launcher/control.ts';

/** A device that takes one fault and remembers what it was told (the switchboard is under test). */
function recordingTarget(): FaultTarget & { injected: string[] } {
  const injected: string[] = [];
  return {
    deviceId: 'school.r1.proj',
    protocol: 'pjlink',
    faults: ['lamp-failure'],
    injected,
    active: () => [...injected],
    inject: async (fault) => void injected.push(fault),
    clear: async () => void injected.splice(0),
  };
}

/** A raw HTTP request, so the test decides every header (fetch would not let it set Host). */
function send(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('fault switchboard', () => {
  let control: ControlServer;
  const target = recordingTarget();
  let port: number;
  beforeAll(async () => {
    control = await startControlServer(new Map([[target.deviceId, target]]));
    port = Number(new URL(control.url).port);
  });
  afterAll(async () => {
    await control?.close();
  });

  it('refuses what a web page sends, and what comes under another host name, changing nothing', async () => {
    const path = `/faults/${target.deviceId}/lamp-failure`;
    expect(await send(port, 'POST', path, { origin: 'http://evil.example' })).toBe(403);
    expect(await send(port, 'POST', path, { 'sec-fetch-site': 'cross-site' })).toBe(403);
    expect(await send(port, 'POST', path, { host: 'rebound.evil.example:18090' })).toBe(403);
    expect(await send(port, 'GET', '/faults', { host: `evil.example:${port}` })).toBe(403);
    expect(target.injected).toEqual([]);
  });

  it('takes the same request from curl or a script', async () => {
    expect(await send(port, 'POST', `/faults/${target.deviceId}/lamp-failure`)).toBe(200);
    expect(target.injected).toEqual(['lamp-failure']);
    expect(await send(port, 'DELETE', `/faults/${target.deviceId}/all`, { 'sec-fetch-site': 'none' })).toBe(200);
    expect(target.injected).toEqual([]);
  });
});
