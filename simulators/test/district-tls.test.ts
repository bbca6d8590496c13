/**
 * The simulated district with encrypted links, as `npm start` runs it by default: its own
 * CA under <dataDir>/tls, the cloud on HTTPS, the school's gateway and the cloud on the
 * broker's TLS listener, each checking the broker against the CA. Waits for conditions the
 * system exposes (simulators/test/support/wait.ts), never for a duration.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeConfig } from '@schoolops/edge-agent';
import type { CloudConfig, SchoolSummary } from '@schoolops/cloud';
import { startDistrict, type RunningDistrict } from '../src/launcher/district.ts';
import { SAFETY_DEADLINE_MS, waitFor } from './support/wait.ts';

/** A test's own limit: a safety net above the conditions' deadline, never a latency requirement. */
const LONG = 2 * SAFETY_DEADLINE_MS;

describe('simulated district over TLS', () => {
  let district: RunningDistrict;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'schoolops-tls-'));
    district = await startDistrict({
      schools: 1,
      tls: true,
      port: 0,
      mqttPort: 0,
      dataDir,
      deviceIntervalMs: 1000,
      cameraSchedule: 'on-request',
      schoolTime: '2025-03-10 09:05',
    });
  }, LONG);

  afterAll(async () => {
    await district?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves https, and the school comes online over mqtts', async () => {
    expect(district.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const school = district.inventory.schools[0]!;
    const online = await waitFor(async () => {
      const response = await district.api('/api/schools');
      if (!response.ok) return undefined;
      const schools = (await response.json()) as SchoolSummary[];
      return schools.find((s) => s.id === school.id && s.online);
    }, `${school.id} online over mqtts`);
    expect(online.devices.total).toBe(school.devices.length);
  }, LONG);

  it('wrote the certificates under <dataDir>/tls and pointed every client at the CA', () => {
    const tlsDir = join(dataDir, 'tls');
    expect(district.caFile).toBe(join(tlsDir, 'ca.pem'));
    expect(statSync(tlsDir).mode & 0o777).toBe(0o700);
    for (const key of ['ca.key', 'cloud.key', 'broker.key']) expect(statSync(join(tlsDir, key)).mode & 0o777).toBe(0o600);
    const ca = new X509Certificate(readFileSync(district.caFile!));
    for (const name of ['cloud', 'broker']) {
      const cert = new X509Certificate(readFileSync(join(tlsDir, `${name}.pem`)));
      expect(cert.checkIssued(ca)).toBe(true);
      expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
      expect(cert.checkHost('localhost')).toBe('localhost');
    }

    const school = district.inventory.schools[0]!;
    const gateway = JSON.parse(readFileSync(district.files.gatewayConfigFiles.get(school.id)!, 'utf8')) as EdgeConfig;
    expect(gateway.district).toMatchObject({ url: `mqtts://127.0.0.1:${district.mqttTlsPort}`, caFile: district.caFile });
    const cloud = JSON.parse(readFileSync(district.files.cloudConfigFile, 'utf8')) as CloudConfig;
    expect(cloud.http).toMatchObject({ host: '127.0.0.1', tls: { certFile: join(tlsDir, 'cloud.pem'), keyFile: join(tlsDir, 'cloud.key') } });
    expect(cloud.mqtt).toMatchObject({ url: `mqtts://127.0.0.1:${district.mqttTlsPort}`, caFile: district.caFile });
  });

  it('its api() reads like fetch: posts a body and reads the answer and headers', async () => {
    const response = await district.api('/api/auth/me');
    expect(response.status).toBe(200);
    expect(response.headers.get('strict-transport-security')).toMatch(/^max-age=/);
    expect(((await response.json()) as { role: string }).role).toBe('district-operator');
    const refused = await district.api('/api/devices/no-such-device/commands', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'powerOff' }),
    });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(((await refused.json()) as { message?: string }).message).toBeTruthy();
  });
});
