/**
 * Device secrets out of the gateway config (issue 11): a config names a secrets file whose
 * options are merged into its devices' options, and the gateway refuses files holding
 * secrets that group or others can read. Real files with real modes in a temporary folder.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { BUILTIN_PROFILES_DIR, loadProfiles } from '@schoolops/device-profiles';
import { ConfigError, DriverHost, SECRET_OPTIONS, drivers, loadEdgeConfig, parseEdgeConfig, type ProtocolType } from '../src/index.ts';
import { withDeviceSecrets } from '../src/config.ts';
import { CameraOptions } from '../src/drivers/camera.ts';
import { OpcuaOptions } from '../src/drivers/opcua.ts';
import { PjlinkOptions } from '../src/drivers/pjlink.ts';
import { ProbeOptions } from '../src/drivers/probe-options.ts';
import { SnmpOptions } from '../src/drivers/snmp.ts';

const dir = mkdtempSync(join(tmpdir(), 'edge-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A file with exactly this mode, whatever the process's umask. */
function file(content: unknown, mode: number): string {
  const path = join(dir, `f${++n}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2), { mode });
  chmodSync(path, mode);
  return path;
}

const ROUTER = { id: 'thcs-a.router', profileId: 'mikrotik-hex-s', roomId: 'server-room', address: { host: '127.0.0.1', port: 16100, ifIndex: 1 } };
const LAB = { id: 'thcs-a.lab1', profileId: 'schoolops-lab-controller', roomId: 'lab1', address: { host: '127.0.0.1', port: 48400 } };
const PROJECTOR = { id: 'thcs-a.r101.proj', profileId: 'epson-eb-x51', roomId: 'r101', address: { host: '127.0.0.1', port: 43520 } };

function config(extra: Record<string, unknown> = {}, devices: unknown[] = [
  { ...ROUTER, options: { version: '3', user: 'schoolops', authProtocol: 'sha256', privProtocol: 'aes', timeoutMs: 1000 } },
  { ...LAB, options: { securityMode: 'None', userName: 'schoolops-gateway' } },
  PROJECTOR,
]) {
  return {
    v: 1,
    gatewayId: 'gw-thcs-a',
    schoolId: 'thcs-a',
    district: { url: 'mqtt://127.0.0.1:1883', username: 'gw-thcs-a', passwordFile: join(dir, 'gateway.secret') },
    local: { host: '127.0.0.1', port: 0 },
    dataDir: join(dir, 'queue'),
    devices,
    ...extra,
  };
}

const SECRETS = {
  v: 1,
  devices: {
    [ROUTER.id]: { authKey: 'auth-key-of-the-router', privKey: 'priv-key-of-the-router' },
    [LAB.id]: { password: 'lab-password' },
  },
};

const profiles = loadProfiles([BUILTIN_PROFILES_DIR]);
/** What the agent does at start with the devices' options: each driver's schema checks them. */
function driverHostFor(devices: ReturnType<typeof parseEdgeConfig>['devices']): DriverHost {
  return new DriverHost({
    devices: devices.map((record) => ({ record, profile: profiles.get(record.profileId)! })),
    drivers,
    logger: pino({ level: 'silent' }),
    onValues: () => undefined,
    onStatus: () => undefined,
  });
}

describe('secretsFile', () => {
  it('merges each device\'s secret options into its options, for the drivers\' schemas to check', () => {
    const secrets = file(SECRETS, 0o600);
    const loaded = loadEdgeConfig(file(config({ secretsFile: secrets }), 0o644));
    const byId = new Map(loaded.devices.map((d) => [d.id, d]));
    expect(byId.get(ROUTER.id)!.options).toEqual({
      version: '3',
      user: 'schoolops',
      authProtocol: 'sha256',
      authKey: 'auth-key-of-the-router',
      privProtocol: 'aes',
      privKey: 'priv-key-of-the-router',
      timeoutMs: 1000,
    });
    expect(byId.get(LAB.id)!.options).toEqual({ securityMode: 'None', userName: 'schoolops-gateway', password: 'lab-password' });
    expect(byId.get(PROJECTOR.id)!.options).toBeUndefined();
    // Consumed: the agent's own merge (for configs built in code) does nothing more.
    expect(loaded.secretsFile).toBeUndefined();
    expect(withDeviceSecrets(loaded)).toBe(loaded);
    expect(driverHostFor(loaded.devices).runners.size).toBe(3);
  });

  it('gives a device options it had none of inline', () => {
    const secrets = file({ v: 1, devices: { [PROJECTOR.id]: { password: 'pjlink-pw' } } }, 0o600);
    const loaded = loadEdgeConfig(file(config({ secretsFile: secrets }), 0o644));
    expect(loaded.devices.find((d) => d.id === PROJECTOR.id)!.options).toEqual({ password: 'pjlink-pw' });
  });

  it('merges for a config built in code too (parseEdgeConfig, then the agent)', () => {
    const secrets = file(SECRETS, 0o600);
    const parsed = parseEdgeConfig(config({ secretsFile: secrets }), 'in code');
    expect(parsed.devices[1]!.options).not.toHaveProperty('password');
    expect(withDeviceSecrets(parsed).devices[1]!.options).toHaveProperty('password', 'lab-password');
  });

  it('leaves a merged option the driver refuses to the driver\'s schema, as an inline one', () => {
    const secrets = file({ v: 1, devices: { ...SECRETS.devices, [LAB.id]: { password: 12345678 } } }, 0o600);
    const loaded = loadEdgeConfig(file(config({ secretsFile: secrets }), 0o644));
    expect(() => driverHostFor(loaded.devices)).toThrow('device thcs-a.lab1 (devices[1]) options: /password: must be string');
  });

  it('refuses a secrets file that group or others can read, naming the file, the mode and the fix', () => {
    const modes: [number, string, string][] = [
      [0o644, '0644', 'group and others'],
      [0o640, '0640', 'group'],
      [0o604, '0604', 'others'],
      [0o660, '0660', 'group'],
      [0o601, '0601', 'others'], // execute alone reads nothing, but a mode like that is a mistake all the same
    ];
    for (const [mode, octal, who] of modes) {
      const secrets = file(SECRETS, mode);
      const configFile = file(config({ secretsFile: secrets }), 0o644);
      expect(() => loadEdgeConfig(configFile)).toThrow(ConfigError);
      expect(() => loadEdgeConfig(configFile)).toThrow(
        `${secrets}: it is the gateway's device secrets file, and its mode ${octal} lets ${who} access it: the gateway does not start until only its own user can read it (chmod 600 ${secrets})`,
      );
    }
    // Owner-only modes are fine, read-only included.
    for (const mode of [0o600, 0o400]) expect(() => loadEdgeConfig(file(config({ secretsFile: file(SECRETS, mode) }), 0o644))).not.toThrow();
  });

  it('refuses a config that holds secrets inline unless only its user can read it', () => {
    const inline = config({}, [
      { ...ROUTER, options: { version: '3', user: 'schoolops', authKey: 'auth-key-of-the-router' } },
      { ...LAB, options: { userName: 'schoolops-gateway', password: 'lab-password' } },
      { ...PROJECTOR, options: { password: 'pjlink-pw' } },
    ]);
    const open = file(inline, 0o644);
    expect(() => loadEdgeConfig(open)).toThrow(
      `${open}: it holds secrets inline (/devices/0/options/authKey, /devices/1/options/password, /devices/2/options/password), and its mode 0644 lets group and others access it`,
    );
    expect(() => loadEdgeConfig(open)).toThrow(`chmod 600 ${open}, or move the device options to a secretsFile of mode 0600`);
    // A careful installer's 0600 config keeps working as before.
    expect(loadEdgeConfig(file(inline, 0o600)).devices[0]!.options).toHaveProperty('authKey', 'auth-key-of-the-router');

    // A v2c community and the gateway's own district password are secrets too.
    const community = config({}, [{ ...ROUTER, options: { community: 'school-secret' } }]);
    expect(() => loadEdgeConfig(file(community, 0o640))).toThrow(/holds secrets inline \(\/devices\/0\/options\/community\), and its mode 0640 lets group access it/);
    const districtPassword = { ...config(), district: { url: 'mqtt://127.0.0.1:1883', username: 'gw-thcs-a', password: 'gateway-pw' } };
    expect(() => loadEdgeConfig(file(districtPassword, 0o604))).toThrow(/holds secrets inline \(\/district\/password\), and its mode 0604 lets others access it/);
    expect(() => loadEdgeConfig(file(districtPassword, 0o600))).not.toThrow();
  });

  it('names the device ids the config does not have', () => {
    const secrets = file({ v: 1, devices: { ...SECRETS.devices, 'thcs-a.routr': { authKey: 'x'.repeat(10) }, 'thcs-b.lab1': {} } }, 0o600);
    const configFile = file(config({ secretsFile: secrets }), 0o644);
    expect(() => loadEdgeConfig(configFile)).toThrow(ConfigError);
    expect(() => loadEdgeConfig(configFile)).toThrow(`${secrets}: /devices: no device "thcs-a.routr", "thcs-b.lab1" in ${configFile}`);
  });

  it('refuses an option set both inline and in the secrets file', () => {
    const secrets = file({ v: 1, devices: { [LAB.id]: { password: 'lab-password', userName: 'other' } } }, 0o600);
    const configFile = file(config({ secretsFile: secrets }), 0o644);
    expect(() => loadEdgeConfig(configFile)).toThrow(`${secrets}: /devices/${LAB.id}/userName: also set in ${configFile} at /devices/1/options/userName: keep it in one place`);
  });

  it('refuses a secrets file of the wrong shape with the JSON path', () => {
    const cases: [unknown, RegExp][] = [
      [{ devices: {} }, /: \/: must have required property 'v'/],
      [{ v: 2, devices: {} }, /: \/v: must be equal to constant/],
      [{ v: 1 }, /: \/: must have required property 'devices'/],
      [{ v: 1, devices: [] }, /: \/devices: must be object/],
      [{ v: 1, devices: { [ROUTER.id]: ['auth-key-of-the-router'] } }, /: \/devices\/thcs-a\.router: must be object/],
      [{ v: 1, devices: { [ROUTER.id]: 'auth-key-of-the-router' } }, /: \/devices\/thcs-a\.router: must be object/],
      [{ v: 1, devices: {}, keys: {} }, /: \/: unknown field "keys"/],
    ];
    for (const [content, message] of cases) {
      const secrets = file(content, 0o600);
      const configFile = file(config({ secretsFile: secrets }), 0o644);
      expect(() => loadEdgeConfig(configFile)).toThrow(ConfigError);
      expect(() => loadEdgeConfig(configFile)).toThrow(new RegExp(`^${escape(secrets)}${message.source}`));
    }
  });

  it('reports bad JSON by line and column, never quoting the text (it may hold secrets)', () => {
    const texts = [
      '{ "v": 1,\n  "devices": { "thcs-a.router": { "authKey": "auth-key-of-the-router" "privKey": "priv-key-of-the-router" } } }',
      '{ "v": 1,\n  "devices": { "thcs-a.router": { "authKey": auth-key-of-the-router } } }',
      '{ "v": 1,\n  "devices": { "thcs-a.router": { "authKey": "auth-key-of-the-router"',
      '',
    ];
    // Line 2, where "privKey" starts: the comma before it is missing.
    const column = texts[0]!.split('\n')[1]!.indexOf('"privKey"') + 1;
    const expected = [new RegExp(`: not valid JSON at line 2, column ${column}$`), /: not valid JSON: an unexpected token/,
      // Cut short: V8 points past the last character.
      new RegExp(`: not valid JSON at line 2, column ${texts[2]!.split('\n')[1]!.length + 1}$`),
      /: not valid JSON: the text ends too early$/,
    ];
    texts.forEach((text, i) => {
      const secrets = file(text, 0o600);
      const configFile = file(config({ secretsFile: secrets }), 0o644);
      let error: unknown;
      try {
        loadEdgeConfig(configFile);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message.startsWith(`${secrets}: `), message).toBe(true);
      expect(message).toMatch(expected[i]!);
      expect(message).not.toMatch(/auth-key|priv-key/);
    });
  });

  it('refuses a secrets file that is not there, naming it', () => {
    const missing = join(dir, 'nowhere.json');
    expect(() => loadEdgeConfig(file(config({ secretsFile: missing }), 0o644))).toThrow(new RegExp(`^${escape(missing)}: ENOENT`));
  });

  it('loads a config without secrets whatever its mode', () => {
    expect(loadEdgeConfig(file(config(), 0o644)).devices).toHaveLength(3);
  });
});

describe('secret option declarations', () => {
  const schemas: Record<string, TSchema> = { pjlink: PjlinkOptions, snmp: SnmpOptions, opcua: OpcuaOptions, 'http-snapshot': CameraOptions, probe: ProbeOptions };
  const propertiesOf = (schema: TSchema): string[] =>
    schema.anyOf ? (schema.anyOf as TSchema[]).flatMap(propertiesOf) : Object.keys((schema.properties as Record<string, unknown>) ?? {});

  it('covers every driver with options, and names options its schema has', () => {
    for (const protocol of [...drivers.keys(), 'http-snapshot' as ProtocolType]) expect(SECRET_OPTIONS.has(protocol), protocol).toBe(true);
    for (const [protocol, names] of SECRET_OPTIONS) for (const name of names) expect(propertiesOf(schemas[protocol]!), `${protocol} ${name}`).toContain(name);
    expect(SECRET_OPTIONS.get('snmp')).toEqual(['community', 'authKey', 'privKey']);
    expect(SECRET_OPTIONS.get('opcua')).toEqual(['password']);
  });

  it('leaves no option that looks like a credential undeclared', () => {
    // A file option holds a path, not the secret (the file itself must be 0600).
    const looksSecret = (name: string) => /pass|key|community|secret|token|credential/i.test(name) && !/File$/.test(name);
    for (const [protocol, schema] of Object.entries(schemas))
      for (const name of propertiesOf(schema).filter(looksSecret)) expect(SECRET_OPTIONS.get(protocol as ProtocolType), `${protocol} ${name}`).toContain(name);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
