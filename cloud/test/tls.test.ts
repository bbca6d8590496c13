/**
 * Encrypted links of the cloud, over real sockets and real TLS: certificates made by
 * ensureCertificates (as `npm start` and `make-certs` make them), the cloud serving HTTPS
 * with them and reading the district broker over mqtts:// with its `mqtt.caFile`, the
 * session cookie and HSTS a browser gets, a client with another CA refused, and a config
 * that would serve plain HTTP to the network refused before anything opens.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword, startDistrictBroker, type DistrictBroker } from '@schoolops/broker';
import type { Inventory } from '@schoolops/device-profiles';
import { CertificateError, ensureCertificates, parseCloudConfig, startCloud, type Cloud, type CloudConfig } from '../src/index.ts';

const inventory: Inventory = {
  v: 1,
  district: { id: 'test', name: { vi: 'Quận Thử', en: 'Test District' }, timezone: 'Asia/Ho_Chi_Minh' },
  schools: [
    {
      id: 'a',
      name: { vi: 'Trường a', en: 'School a' },
      level: 'lower-secondary',
      ward: 'Phường 1',
      gatewayId: 'gw-a',
      rooms: [{ id: 'p101', name: { vi: 'Phòng 101', en: 'Room 101' }, type: 'classroom', floor: 1, capacity: 45 }],
      classes: [],
      timetable: { periods: [], lessons: [] },
      devices: [{ id: 'a.proj', profileId: 'epson-eb-x51', roomId: 'p101' }],
    },
  ],
};

const PASSWORD = 'mật-khẩu-thử-1234';
const silent = pino({ level: 'silent' });

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTPS request that trusts `ca` only (fetch in Node 20 takes no CA per call). */
function https(url: string, ca: Buffer, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: init.method ?? 'GET', headers: init.headers ?? {}, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

const baseConfig = (dir: string, over: Partial<CloudConfig> = {}): CloudConfig => ({
  v: 1,
  http: { host: '127.0.0.1', port: 0 },
  mqtt: { url: 'mqtt://127.0.0.1:1', username: 'cloud', password: 'x' },
  dataDir: dir,
  inventoryFile: join(dir, 'inventory.json'),
  ...over,
});

describe('the cloud over HTTPS, reading the broker over MQTTS', () => {
  let dir: string;
  let ca: Buffer;
  let otherCa: Buffer;
  let broker: DistrictBroker;
  let cloud: Cloud;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cloud-tls-'));
    writeFileSync(join(dir, 'inventory.json'), JSON.stringify(inventory));
    const certs = await ensureCertificates({
      dir: join(dir, 'tls'),
      servers: [
        { name: 'cloud', hosts: ['127.0.0.1', 'localhost'] },
        { name: 'broker', hosts: ['127.0.0.1', 'localhost'] },
      ],
    });
    ca = readFileSync(certs.caFile);
    otherCa = readFileSync((await ensureCertificates({ dir: join(dir, 'other'), servers: [{ name: 'cloud', hosts: ['127.0.0.1'] }] })).caFile);

    // The real district broker, with a TLS listener and the cloud's credentials.
    broker = await startDistrictBroker({
      port: 0,
      credentials: { v: 1, clients: [{ username: 'cloud', role: 'cloud', passwordHash: await hashPassword('cloud-secret-123') }] },
      logger: silent,
      tls: { port: 0, cert: readFileSync(certs.servers.broker!.certFile), key: readFileSync(certs.servers.broker!.keyFile) },
    });
    cloud = await startCloud(
      parseCloudConfig(
        baseConfig(dir, {
          http: { host: '127.0.0.1', port: 0, tls: { certFile: certs.servers.cloud!.certFile, keyFile: certs.servers.cloud!.keyFile } },
          mqtt: { url: `mqtts://127.0.0.1:${broker.tlsPort}`, username: 'cloud', password: 'cloud-secret-123', caFile: certs.caFile },
        }),
      ),
      { logger: silent },
    );
    await cloud.accounts.createUser({ username: 'it-a', displayName: 'IT a', role: 'school-it', scope: { all: false, schools: ['a'] }, password: PASSWORD });
  });

  afterAll(async () => {
    await cloud?.close();
    await broker?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('says https:// and answers /healthz to a client that trusts the district CA', async () => {
    expect(cloud.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const answer = await https(`${cloud.url}/healthz`, ca);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ ok: true });
    // Also under the certificate's other name.
    expect((await https(`https://localhost:${cloud.port}/healthz`, ca)).status).toBe(200);
  });

  it('its MQTT client reached the broker over TLS only', () => {
    // startCloud waits for ingest's CONNECT: the broker's TLS listener is the only way in it was given.
    expect(broker.stats().clientsConnected).toBeGreaterThanOrEqual(1);
    expect(broker.stats().refused.tls_handshake_failed ?? 0).toBe(0);
  });

  it('sends HSTS and the usual security headers', async () => {
    const answer = await https(`${cloud.url}/healthz`, ca);
    expect(answer.headers['strict-transport-security']).toMatch(/^max-age=\d+/);
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(answer.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });

  it('signs in with a __Host- cookie that is Secure, HttpOnly and SameSite=Strict', async () => {
    const answer = await https(`${cloud.url}/api/auth/login`, ca, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'it-a', password: PASSWORD }),
    });
    expect(answer.status).toBe(200);
    const cookie = [answer.headers['set-cookie'] ?? []].flat().find((line) => line.startsWith('__Host-schoolops_session='));
    expect(cookie).toBeDefined();
    expect(cookie).toMatch(/; Secure(;|$)/);
    expect(cookie).toMatch(/; HttpOnly(;|$)/);
    expect(cookie).toMatch(/; SameSite=Strict(;|$)/);
    expect(cookie).toMatch(/; Path=\/(;|$)/);
    expect(cookie).not.toMatch(/; Domain=/i);

    // The cookie is the session: it opens the API over the same link.
    const session = cookie!.split(';')[0]!;
    const schools = await https(`${cloud.url}/api/schools`, ca, { headers: { cookie: session } });
    expect(schools.status).toBe(200);
    expect(JSON.parse(schools.body).map((s: { id: string }) => s.id)).toEqual(['a']);
  });

  it('a client that trusts another CA (or only the public ones) refuses the cloud', async () => {
    for (const trusted of [otherCa, undefined]) {
      const error = await https(`${cloud.url}/healthz`, trusted as Buffer).then(
        () => undefined,
        (e: NodeJS.ErrnoException) => e,
      );
      expect(error?.code).toMatch(/^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/);
    }
  });

  it('plain HTTP to the HTTPS port gets no API', async () => {
    const answer = await fetch(`${cloud.url.replace('https:', 'http:')}/healthz`).then(
      (response) => response.status,
      () => 'refused',
    );
    expect(answer).not.toBe(200);
  });
});

describe('plain HTTP stays on loopback', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cloud-plain-'));
    writeFileSync(join(dir, 'inventory.json'), JSON.stringify(inventory));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a config with a non-loopback plain host is refused with what to do instead', () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.10', 'ops.example.edu.vn']) {
      expect(() => parseCloudConfig(baseConfig(dir, { http: { host, port: 8080 } }), 'cloud.json')).toThrow(
        /cloud\.json: \/http: plain HTTP on ".*" would reach other machines: add "tls".*make-certs.*127\.0\.0\.1.*"allowPlainRemote": true/,
      );
    }
  });

  it('loopback, TLS, or an explicit allowPlainRemote pass', () => {
    for (const host of ['127.0.0.1', 'localhost', '::1']) expect(() => parseCloudConfig(baseConfig(dir, { http: { host, port: 8080 } }))).not.toThrow();
    const tls = { certFile: 'server.pem', keyFile: 'server.key' };
    expect(() => parseCloudConfig(baseConfig(dir, { http: { host: '0.0.0.0', port: 443, tls } }))).not.toThrow();
    expect(() => parseCloudConfig(baseConfig(dir, { http: { host: '0.0.0.0', port: 8080, allowPlainRemote: true } }))).not.toThrow();
  });

  it('startCloud refuses such a config too, before it opens anything', async () => {
    const sub = join(dir, 'start');
    mkdirSync(sub);
    writeFileSync(join(sub, 'inventory.json'), JSON.stringify(inventory));
    await expect(startCloud(baseConfig(sub, { http: { host: '0.0.0.0', port: 0 } }), { logger: silent })).rejects.toThrow(/plain HTTP on "0\.0\.0\.0"/);
    // Nothing opened: no database file was made.
    expect(() => statSync(join(sub, 'accounts.duckdb'))).toThrow();
  });
});

describe('certificates on disk', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cloud-certs-'));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const mode = (file: string) => statSync(file).mode & 0o777;

  it('makes a CA and a server certificate with the right shape and file modes, and keeps them on the next run', async () => {
    const certs = join(dir, 'tls');
    const first = await ensureCertificates({ dir: certs, servers: [{ name: 'cloud', hosts: ['127.0.0.1', 'Localhost'] }] });
    expect(first.made.map((m) => m.file.slice(certs.length + 1))).toEqual(['ca.pem', 'ca.key', 'cloud.pem', 'cloud.key']);
    expect(mode(certs)).toBe(0o700);
    expect(mode(first.caKeyFile)).toBe(0o600);
    expect(mode(first.servers.cloud!.keyFile)).toBe(0o600);
    expect(mode(first.caFile)).toBe(0o644);

    const caCert = new X509Certificate(readFileSync(first.caFile));
    expect(caCert.ca).toBe(true);
    expect(caCert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(new Date(caCert.validTo).getTime() - Date.now()).toBeGreaterThan(9.9 * 365 * 86_400_000);
    const server = new X509Certificate(readFileSync(first.servers.cloud!.certFile));
    expect(server.ca).toBe(false);
    expect(server.checkIssued(caCert) && server.verify(caCert.publicKey)).toBe(true);
    expect(server.subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost');
    expect(server.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth
    const days = (new Date(server.validTo).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(700);
    expect(days).toBeLessThan(825);

    const again = await ensureCertificates({ dir: certs, servers: [{ name: 'cloud', hosts: ['localhost'] }] });
    expect(again.made).toEqual([]);
    expect(readFileSync(again.servers.cloud!.certFile)).toEqual(readFileSync(first.servers.cloud!.certFile));
  });

  it('remakes a server certificate whose names no longer cover the host, under the same CA', async () => {
    const certs = join(dir, 'tls');
    const caBefore = readFileSync(join(certs, 'ca.pem'));
    const moved = await ensureCertificates({ dir: certs, servers: [{ name: 'cloud', hosts: ['ops.example.edu.vn', '203.0.113.10'] }] });
    expect(moved.made.map((m) => [m.file.slice(certs.length + 1), m.why])).toEqual([
      ['cloud.pem', 'it does not cover ops.example.edu.vn'],
      ['cloud.key', 'with cloud.pem'],
    ]);
    expect(readFileSync(moved.caFile)).toEqual(caBefore);
    expect(moved.servers.cloud!.covers).toEqual(['ops.example.edu.vn', '203.0.113.10']);
  });

  it('remakes only what is missing, and one CA new means every server certificate new', async () => {
    const certs = join(dir, 'tls');
    rmSync(join(certs, 'cloud.key'));
    const keyLost = await ensureCertificates({ dir: certs, servers: [{ name: 'cloud', hosts: ['ops.example.edu.vn'] }] });
    expect(keyLost.made.map((m) => m.file.slice(certs.length + 1))).toEqual(['cloud.pem', 'cloud.key']);

    rmSync(join(certs, 'ca.pem'));
    rmSync(join(certs, 'ca.key'));
    const newCa = await ensureCertificates({ dir: certs, servers: [{ name: 'cloud', hosts: ['ops.example.edu.vn'] }] });
    expect(newCa.made.map((m) => [m.file.slice(certs.length + 1), m.why])).toEqual([
      ['ca.pem', 'new CA'],
      ['ca.key', 'with ca.pem'],
      ['cloud.pem', 'it is not signed by the CA in this folder'],
      ['cloud.key', 'with cloud.pem'],
    ]);
  });

  it('keeps working without the CA key while nothing needs signing, and says what to do when something does', async () => {
    const certs = join(dir, 'tls');
    const keyFile = join(certs, 'ca.key');
    const kept = readFileSync(keyFile);
    rmSync(keyFile);
    expect((await ensureCertificates({ dir: certs, servers: [{ name: 'cloud', hosts: ['ops.example.edu.vn'] }] })).made).toEqual([]);
    await expect(ensureCertificates({ dir: certs, servers: [{ name: 'cloud', hosts: ['other.example.edu.vn'] }] })).rejects.toThrow(
      /cloud\.pem must be made \(it does not cover other\.example\.edu\.vn\), but .*ca\.key is not there to sign it/,
    );
    writeFileSync(keyFile, kept, { mode: 0o600 });
  });

  it('refuses a folder others can enter, bad names and bad hosts', async () => {
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o755);
    await expect(ensureCertificates({ dir: open, servers: [{ name: 'cloud', hosts: ['localhost'] }] })).rejects.toThrow(/mode 0755 lets group or others in/);
    const certs = join(dir, 'tls');
    await expect(ensureCertificates({ dir: certs, servers: [{ name: 'ca', hosts: ['localhost'] }] })).rejects.toThrow(CertificateError);
    await expect(ensureCertificates({ dir: certs, servers: [{ name: 'cloud', hosts: ['bad host!'] }] })).rejects.toThrow(/neither a DNS name nor an IP address/);
    await expect(ensureCertificates({ dir: certs, servers: [{ name: 'cloud', hosts: [] }] })).rejects.toThrow(/at least one host/);
  });

  it('make-certs prints what it made, and what it kept when run again', async () => {
    const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.once('exit', (code) => resolve({ code, stdout }));
      });
    const certs = join(dir, 'installer');
    const args = ['make-certs', '--dir', certs, '--host', 'ops.example.edu.vn,203.0.113.10'];
    const first = await run(args);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`${join(certs, 'ca.pem')}  CA certificate, made now (new CA)`);
    expect(first.stdout).toContain(`${join(certs, 'server.pem')}  server certificate for ops.example.edu.vn, 203.0.113.10`);
    expect(first.stdout).toContain(`--tls-cert ${join(certs, 'server.pem')} --tls-key ${join(certs, 'server.key')}`);
    const second = await run(args);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('CA certificate, kept');
    expect(second.stdout).not.toContain('made now');
  });
});
