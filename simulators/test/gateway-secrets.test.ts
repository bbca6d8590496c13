/**
 * The simulated district's files, written as an installer should (issue 11): no gateway
 * config holds a secret, each gateway's device secrets are in its own 0600 file in a 0700
 * folder, and every other secret the launcher writes is 0600 too, also over the files of an
 * earlier run. The files come from writeDistrictFiles alone: no district runs.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles, type Inventory } from '@schoolops/device-profiles';
import { SECRET_OPTIONS, loadEdgeConfig, type EdgeConfig } from '@schoolops/edge-agent';
import { generateDistrict } from '../src/district/index.ts';
import { writeDistrictFiles, writeSecretText, type DistrictFiles, type GatewayDeviceOverride } from '../src/launcher/files.ts';

const profiles = loadProfiles();
const protocolOf = (profileId: string) => profiles.get(profileId)!.protocol.type;
const mode = (path: string) => statSync(path).mode & 0o777;
const SECRET_NAMES = new Set([...SECRET_OPTIONS.values()].flat());

/**
 * What school-peers gives the launcher for each protocol (the same shapes, without starting
 * a simulator): credentials inline where the simulators give them inline (SNMPv3 keys, the OPC
 * UA password), passwordFiles where they write one (PJLink, cameras), and open options.
 */
function overridesFor(inventory: Inventory, secretsDir: string): Map<string, GatewayDeviceOverride> {
  const overrides = new Map<string, GatewayDeviceOverride>();
  let port = 30_000;
  for (const school of inventory.schools)
    for (const device of school.devices) {
      const address = { host: '127.0.0.1', port: port++ };
      const options: Record<string, Record<string, unknown> | undefined> = {
        snmp: { version: '3', user: 'schoolops', authProtocol: 'sha256', authKey: `auth-${device.id}`, privProtocol: 'aes', privKey: `priv-${device.id}`, timeoutMs: 1000 },
        opcua: { userName: 'schoolops-gateway', password: `lab-${device.id}` },
        pjlink: { passwordFile: join(secretsDir, `${device.id}.pjlink.secret`) },
        'http-snapshot': { username: 'schoolops', passwordFile: join(secretsDir, `${device.id}.camera.secret`) },
        probe: { targets: [{ host: '127.0.0.1', port: 7, method: 'udp-echo' }] },
      };
      const protocol = protocolOf(device.profileId);
      if (protocol === 'mqtt') continue;
      overrides.set(device.id, { address, ...(options[protocol] ? { options: options[protocol] } : {}) });
    }
  return overrides;
}

async function writeFiles(dataDir: string, inventory: Inventory): Promise<DistrictFiles> {
  const { files, finish } = await writeDistrictFiles({ dataDir, inventory, mqttUrl: (port) => `mqtt://127.0.0.1:${port}`, httpPort: 18_080, ackTimeoutMs: 10_000 });
  finish(18_830, overridesFor(inventory, files.secretsDir), 1000);
  return files;
}

describe('the launcher\'s gateway files', () => {
  const inventory = generateDistrict({ seed: 7, schools: 2 });
  let dataDir: string;
  let files: DistrictFiles;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'district-files-'));
    files = await writeFiles(dataDir, inventory);
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('has devices of every protocol with secrets, so the checks below check something', () => {
    const protocols = new Set(inventory.schools.flatMap((s) => s.devices.map((d) => protocolOf(d.profileId))));
    for (const protocol of ['snmp', 'opcua', 'pjlink', 'http-snapshot']) expect(protocols).toContain(protocol);
  });

  it('writes gateway configs without any secret option, readable by others (0644)', () => {
    for (const school of inventory.schools) {
      const configFile = files.gatewayConfigFiles.get(school.id)!;
      expect(mode(configFile), configFile).toBe(0o644);
      const config = JSON.parse(readFileSync(configFile, 'utf8')) as EdgeConfig;
      expect(config.district.password).toBeUndefined();
      expect(config.secretsFile).toBe(files.gatewaySecretsFiles.get(school.id));
      for (const device of config.devices) {
        const names = Object.keys(device.options ?? {});
        // Whatever the device's driver declares secret, and no name any driver declares secret.
        for (const name of SECRET_OPTIONS.get(protocolOf(device.profileId)) ?? []) expect(names, device.id).not.toContain(name);
        expect(names.filter((n) => SECRET_NAMES.has(n)), device.id).toEqual([]);
      }
      // Not even as text: no value of the secrets file appears in the config.
      const text = readFileSync(configFile, 'utf8');
      for (const secrets of Object.values(JSON.parse(readFileSync(config.secretsFile!, 'utf8')).devices as Record<string, Record<string, string>>))
        for (const value of Object.values(secrets)) expect(text).not.toContain(value);
    }
  });

  it('writes each gateway\'s device secrets to its own 0600 file in a 0700 folder', () => {
    expect(mode(files.secretsDir)).toBe(0o700);
    const secretsFiles = inventory.schools.map((s) => files.gatewaySecretsFiles.get(s.id)!);
    expect(new Set(secretsFiles).size).toBe(inventory.schools.length);
    for (const [i, school] of inventory.schools.entries()) {
      const file = secretsFiles[i]!;
      expect(mode(file), file).toBe(0o600);
      const secrets = JSON.parse(readFileSync(file, 'utf8')) as { v: number; devices: Record<string, Record<string, unknown>> };
      expect(secrets.v).toBe(1);
      // Only this school's devices, and for each exactly the options its driver declares secret.
      const ids = new Set(school.devices.map((d) => d.id));
      for (const id of Object.keys(secrets.devices)) expect(ids, id).toContain(id);
      const router = school.devices.find((d) => protocolOf(d.profileId) === 'snmp')!;
      expect(secrets.devices[router.id]).toEqual({ authKey: `auth-${router.id}`, privKey: `priv-${router.id}` });
      for (const lab of school.devices.filter((d) => protocolOf(d.profileId) === 'opcua')) expect(secrets.devices[lab.id]).toEqual({ password: `lab-${lab.id}` });
    }
  });

  it('writes every other secret 0600: gateway passwords, the cloud\'s MQTT password, the broker\'s hashes', () => {
    for (const school of inventory.schools) {
      const config = JSON.parse(readFileSync(files.gatewayConfigFiles.get(school.id)!, 'utf8')) as EdgeConfig;
      expect(mode(config.district.passwordFile!), school.id).toBe(0o600);
    }
    const cloud = JSON.parse(readFileSync(files.cloudConfigFile, 'utf8')) as { mqtt: { passwordFile: string } };
    expect(mode(cloud.mqtt.passwordFile)).toBe(0o600);
    expect(mode(files.credentialsFile)).toBe(0o600);
  });

  it('gives each gateway back its devices\' full options when it loads its config', () => {
    const overrides = overridesFor(inventory, files.secretsDir);
    for (const school of inventory.schools) {
      const loaded = loadEdgeConfig(files.gatewayConfigFiles.get(school.id)!);
      for (const device of loaded.devices) expect(device.options, device.id).toEqual(overrides.get(device.id)?.options);
    }
  });

  it('tightens the modes of an earlier run\'s files and folder', async () => {
    const reused = mkdtempSync(join(tmpdir(), 'district-files-again-'));
    try {
      const first = await writeFiles(reused, inventory);
      const school = inventory.schools[0]!;
      const loose = [first.gatewaySecretsFiles.get(school.id)!, join(reused, 'gateways', `${school.id}.secret`), first.credentialsFile];
      for (const file of loose) chmodSync(file, 0o644);
      chmodSync(first.secretsDir, 0o755);
      const again = await writeFiles(reused, inventory);
      expect(mode(again.secretsDir)).toBe(0o700);
      for (const file of loose) expect(mode(file), file).toBe(0o600);
      expect(() => loadEdgeConfig(again.gatewayConfigFiles.get(school.id)!)).not.toThrow();
    } finally {
      rmSync(reused, { recursive: true, force: true });
    }
  });

  it('replaces a secret file of a wider mode without ever widening the secret', () => {
    const file = join(dataDir, 'device.secret');
    writeFileSync(file, 'old\n', { mode: 0o644 });
    chmodSync(file, 0o644);
    writeSecretText(file, 'new\n');
    expect(mode(file)).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe('new\n');
  });
});
