/**
 * Who may connect to the district broker, and how we check it.
 *
 * The credentials file names every principal (one gateway per school, plus the cloud)
 * with a scrypt hash of its password. Plaintext is never stored: installers run
 * `cli.ts hash-password` and paste the hash. The file is validated when it is loaded,
 * so a typo stops the broker at start with the file, the JSON path and the problem,
 * instead of locking a school out at 3 a.m.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Type, type Static } from '@sinclair/typebox';
import { Id, check } from '@schoolops/device-profiles';

// ---------------------------------------------------------------------------------------
// Password hashing
// ---------------------------------------------------------------------------------------

/**
 * scrypt cost for new hashes: N=2^14, r=8, p=1 (16 MiB, tens of ms per check). A broker
 * verifies once per connect, and gateways reconnect rarely, so we can afford a cost that
 * makes a stolen credentials file expensive to brute-force.
 */
const NEW_HASH = { N: 16384, r: 8, p: 1, saltBytes: 16, keyBytes: 32 } as const;

/**
 * Bounds on parameters read back from a stored hash. The file is trusted config, but a
 * wrong digit in N must fail at load time rather than make every connect allocate
 * gigabytes.
 */
const STORED_LIMITS = { maxMemoryBytes: 256 * 1024 * 1024, maxP: 16, minBytes: 16, maxBytes: 64 } as const;

const HASH_PREFIX = 'scrypt';

interface ScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function scryptAsync(password: Buffer, salt: Buffer, keyBytes: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyBytes, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** Memory scrypt needs for these parameters, plus headroom for node's own check. */
function scryptMemory(N: number, r: number, p: number): number {
  return 128 * N * r + 128 * r * p + 1024 * 1024;
}

/**
 * Vietnamese passwords carry diacritics, which keyboards and input methods may send
 * composed (NFC) or decomposed (NFD). Normalise so the same typed password always
 * hashes the same.
 */
function passwordBytes(password: string | Uint8Array): Buffer {
  const text = typeof password === 'string' ? password : Buffer.from(password).toString('utf8');
  return Buffer.from(text.normalize('NFC'), 'utf8');
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parse `scrypt$N$r$p$<saltB64>$<hashB64>`; null when malformed or out of bounds. */
function parseScryptHash(stored: string): ScryptHash | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== HASH_PREFIX) return null;
  const [, nText, rText, pText, saltText, hashText] = parts as [string, string, string, string, string, string];
  if (![nText, rText, pText].every((text) => /^[1-9][0-9]{0,9}$/.test(text))) return null;
  if (!BASE64.test(saltText) || !BASE64.test(hashText)) return null;
  const N = Number(nText);
  const r = Number(rText);
  const p = Number(pText);
  // scrypt requires N to be a power of two greater than 1.
  if (N < 2 || (N & (N - 1)) !== 0) return null;
  if (p > STORED_LIMITS.maxP || scryptMemory(N, r, p) > STORED_LIMITS.maxMemoryBytes) return null;
  const salt = Buffer.from(saltText, 'base64');
  const hash = Buffer.from(hashText, 'base64');
  const sizeOk = (b: Buffer) => b.length >= STORED_LIMITS.minBytes && b.length <= STORED_LIMITS.maxBytes;
  if (!sizeOk(salt) || !sizeOk(hash)) return null;
  return { N, r, p, salt, hash };
}

/** True when `stored` is a hash this module can verify (used by the file loader). */
export function isPasswordHash(stored: string): boolean {
  return parseScryptHash(stored) !== null;
}

/** Hash a password for the credentials file: `scrypt$N$r$p$<saltB64>$<hashB64>`. */
export async function hashPassword(password: string): Promise<string> {
  if (password.length === 0) throw new Error('refusing to hash an empty password');
  const { N, r, p, saltBytes, keyBytes } = NEW_HASH;
  const salt = randomBytes(saltBytes);
  const hash = await scryptAsync(passwordBytes(password), salt, keyBytes, { N, r, p, maxmem: scryptMemory(N, r, p) });
  return [HASH_PREFIX, N, r, p, salt.toString('base64'), hash.toString('base64')].join('$');
}

/**
 * Check a password (as typed, or the raw bytes of an MQTT CONNECT) against a stored
 * hash. A malformed stored hash never matches. The comparison is constant-time.
 */
export async function verifyPassword(password: string | Uint8Array, stored: string): Promise<boolean> {
  const parsed = parseScryptHash(stored);
  if (!parsed) return false;
  const { N, r, p, salt, hash } = parsed;
  const candidate = await scryptAsync(passwordBytes(password), salt, hash.length, { N, r, p, maxmem: scryptMemory(N, r, p) });
  return timingSafeEqual(candidate, hash);
}

// ---------------------------------------------------------------------------------------
// The credentials file
// ---------------------------------------------------------------------------------------

const PasswordHash = Type.String({
  pattern: '^scrypt\\$',
  description: 'scrypt$N$r$p$<saltB64>$<hashB64>, made by `cli.ts hash-password`',
});

/** A school gateway; it authenticates as its school and only ever speaks for it. */
export const GatewayCredential = Type.Object(
  {
    username: Type.String({ pattern: '^gw-', description: 'always gw-<schoolId>' }),
    role: Type.Literal('gateway'),
    schoolId: Id,
    passwordHash: PasswordHash,
  },
  { additionalProperties: false },
);
export type GatewayCredential = Static<typeof GatewayCredential>;

/** The district cloud (ingest, command sender). */
export const CloudCredential = Type.Object(
  {
    username: Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }),
    role: Type.Literal('cloud'),
    passwordHash: PasswordHash,
  },
  { additionalProperties: false },
);
export type CloudCredential = Static<typeof CloudCredential>;

export type ClientCredential = GatewayCredential | CloudCredential;

export const CREDENTIALS_VERSION = 1 as const;

/**
 * First pass: the envelope, with each entry only required to say its role. Each entry
 * is then checked against its own role's schema, so an error names the real problem
 * ("must have required property 'schoolId'") instead of ajv's "must match anyOf".
 */
const CredentialsEnvelope = Type.Object(
  {
    v: Type.Literal(CREDENTIALS_VERSION),
    clients: Type.Array(
      Type.Object({ role: Type.Union([Type.Literal('gateway'), Type.Literal('cloud')]) }, { additionalProperties: true }),
    ),
  },
  { additionalProperties: false },
);

export interface CredentialsFile {
  v: typeof CREDENTIALS_VERSION;
  clients: ClientCredential[];
}

/** A credentials file that cannot be used; the message names the file, path and problem. */
export class CredentialsError extends Error {
  constructor(
    readonly source: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super(`credentials file ${source}: ${path === '' ? '(document)' : path}: ${problem}`);
    this.name = 'CredentialsError';
  }
}

/**
 * Validate an already-parsed credentials document. `source` names where it came from
 * (a file path, or e.g. '<inline>') for the error message.
 */
export function parseCredentials(value: unknown, source = '<inline>'): CredentialsFile {
  const envelope = check(CredentialsEnvelope, value);
  if (!envelope.ok) throw new CredentialsError(source, envelope.path, envelope.message);

  const seen = new Set<string>();
  const clients = envelope.value.clients.map((entry, index): ClientCredential => {
    const path = `/clients/${index}`;
    const checked = entry.role === 'gateway' ? check(GatewayCredential, entry) : check(CloudCredential, entry);
    if (!checked.ok) throw new CredentialsError(source, path + checked.path, checked.message);
    const client = checked.value;
    if (!isPasswordHash(client.passwordHash)) {
      throw new CredentialsError(source, `${path}/passwordHash`, 'not a usable scrypt hash (make one with `hash-password`)');
    }
    // The username is the identity a gateway shows; tie it to the school it speaks for
    // so a log line or a refused connect can be read without looking the file up.
    if (client.role === 'gateway' && client.username !== `gw-${client.schoolId}`) {
      throw new CredentialsError(source, `${path}/username`, `a gateway's username must be gw-${client.schoolId}`);
    }
    if (seen.has(client.username)) {
      throw new CredentialsError(source, `${path}/username`, `duplicate username ${client.username}`);
    }
    seen.add(client.username);
    return client;
  });
  return { v: CREDENTIALS_VERSION, clients };
}

/** Read and validate a credentials file. */
export async function loadCredentials(file: string): Promise<CredentialsFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CredentialsError(file, '', `cannot read: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CredentialsError(file, '', `not valid JSON: ${(error as Error).message}`);
  }
  return parseCredentials(value, file);
}
