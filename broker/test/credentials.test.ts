/**
 * Password hashing and the credentials file format.
 */
import { describe, expect, it } from 'vitest';
import { CredentialsError, hashPassword, isPasswordHash, parseCredentials, verifyPassword } from '../src/credentials.ts';

describe('hashPassword / verifyPassword', () => {
  it('hashes to scrypt$N$r$p$salt$hash with a random 16-byte salt, never the plaintext', async () => {
    const first = await hashPassword('trường-thcs-2025');
    const second = await hashPassword('trường-thcs-2025');
    expect(first).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    expect(first).not.toEqual(second);
    expect(first).not.toContain('trường');
    const salt = Buffer.from(first.split('$')[4]!, 'base64');
    expect(salt.length).toBe(16);
    expect(isPasswordHash(first)).toBe(true);
  });

  it('verifies the right password, as text or as the raw bytes of an MQTT CONNECT', async () => {
    const stored = await hashPassword('correct horse');
    expect(await verifyPassword('correct horse', stored)).toBe(true);
    expect(await verifyPassword(Buffer.from('correct horse'), stored)).toBe(true);
  });

  it('rejects a wrong password, a prefix, and an empty one', async () => {
    const stored = await hashPassword('correct horse');
    expect(await verifyPassword('correct hors', stored)).toBe(false);
    expect(await verifyPassword('correct horse ', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
  });

  it('treats composed and decomposed Vietnamese diacritics as the same password', async () => {
    const composed = 'mật khẩu'.normalize('NFC');
    const decomposed = composed.normalize('NFD');
    expect(composed).not.toEqual(decomposed);
    expect(await verifyPassword(decomposed, await hashPassword(composed))).toBe(true);
  });

  it('never matches a malformed or unreasonable stored hash', async () => {
    const good = await hashPassword('pw');
    const [, , r, p, salt, hash] = good.split('$');
    const bad = [
      '',
      'pw',
      'bcrypt$2b$10$abc',
      good.replace('scrypt', 'Scrypt'),
      `scrypt$16383$${r}$${p}$${salt}$${hash}`, // N not a power of two
      `scrypt$1073741824$${r}$${p}$${salt}$${hash}`, // 2^30: would need 128 GiB
      `scrypt$16384$${r}$${p}$${salt}$AAAA`, // hash too short
      `scrypt$16384$${r}$${p}$not*base64$${hash}`,
    ];
    for (const stored of bad) {
      expect(isPasswordHash(stored), stored).toBe(false);
      expect(await verifyPassword('pw', stored), stored).toBe(false);
    }
  });

  it('refuses to hash an empty password', async () => {
    await expect(hashPassword('')).rejects.toThrow(/empty/);
  });
});

describe('parseCredentials', () => {
  const hash = () => hashPassword('pw');

  it('accepts gateways and the cloud', async () => {
    const file = {
      v: 1,
      clients: [
        { username: 'gw-th-a', role: 'gateway', schoolId: 'th-a', passwordHash: await hash() },
        { username: 'cloud', role: 'cloud', passwordHash: await hash() },
      ],
    };
    expect(parseCredentials(file, 'test.json')).toEqual(file);
  });

  const cases: [string, (h: string) => unknown, RegExp][] = [
    ['a wrong version', (h) => ({ v: 2, clients: [{ username: 'cloud', role: 'cloud', passwordHash: h }] }), /test\.json: \/v: must be equal to constant/],
    ['an unknown role', (h) => ({ v: 1, clients: [{ username: 'x', role: 'admin', passwordHash: h }] }), /\/clients\/0\/role/],
    ['a plaintext password field', () => ({ v: 1, clients: [{ username: 'cloud', role: 'cloud', password: 'pw' }] }), /\/clients\/0: must have required property 'passwordHash'/],
    ['a plaintext password beside the hash', (h) => ({ v: 1, clients: [{ username: 'cloud', role: 'cloud', passwordHash: h, password: 'pw' }] }), /\/clients\/0: unknown field "password"/],
    ['a gateway without a school', (h) => ({ v: 1, clients: [{ username: 'gw-a', role: 'gateway', passwordHash: h }] }), /\/clients\/0: must have required property 'schoolId'/],
    ['a school id that is not an id', (h) => ({ v: 1, clients: [{ username: 'gw-A B', role: 'gateway', schoolId: 'A B', passwordHash: h }] }), /\/clients\/0\/schoolId: must match pattern/],
    ['a gateway named for another school', (h) => ({ v: 1, clients: [{ username: 'gw-th-b', role: 'gateway', schoolId: 'th-a', passwordHash: h }] }), /\/clients\/0\/username: a gateway's username must be gw-th-a/],
    ['a plaintext password in the hash field', () => ({ v: 1, clients: [{ username: 'cloud', role: 'cloud', passwordHash: 'hunter2' }] }), /\/clients\/0\/passwordHash: must match pattern/],
    ['a truncated hash', (h) => ({ v: 1, clients: [{ username: 'cloud', role: 'cloud', passwordHash: h.slice(0, 30) }] }), /\/clients\/0\/passwordHash: not a usable scrypt hash/],
    ['a duplicate username', (h) => ({ v: 1, clients: [{ username: 'cloud', role: 'cloud', passwordHash: h }, { username: 'cloud', role: 'cloud', passwordHash: h }] }), /\/clients\/1\/username: duplicate username cloud/],
    ['no clients array', () => ({ v: 1 }), /\(document\): must have required property 'clients'/],
  ];
  it.each(cases)('rejects %s, naming the file, the path and the problem', async (_name, build, expected) => {
    const document = build(await hash());
    expect(() => parseCredentials(document, 'test.json')).toThrow(CredentialsError);
    expect(() => parseCredentials(document, 'test.json')).toThrow(expected);
  });
});
