/**
 * HTTP Digest access authentication (RFC 7616), client side, for the camera driver.
 *
 * - parseChallenges(): the challenges of one or more WWW-Authenticate headers (RFC 7235
 *   syntax: several comma-separated challenges per header, auth-params as tokens or quoted
 *   strings with backslash escapes, token68).
 * - digestChallenge(): a Digest challenge's parameters, or null when we cannot answer it.
 * - DigestSession: answers one challenge for many requests (the nonce reused, nc counting up).
 *
 * Algorithms: MD5, MD5-sess, SHA-256, SHA-256-sess, SHA-512-256(-sess). qop "auth" (and
 * "auth-int" when it is the only one offered), and the RFC 2069 form without qop.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface Challenge {
  /** Lower case ("digest", "basic"). */
  scheme: string;
  /** auth-params, names in lower case, values unquoted. */
  params: Record<string, string>;
  token68?: string;
}

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess' | 'SHA-512-256' | 'SHA-512-256-sess';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque?: string;
  /** qop values offered, lower case; empty for the RFC 2069 form. */
  qop: string[];
  algorithm: DigestAlgorithm;
  /** Whether the challenge named its algorithm (when not, none is sent back: MD5 is implied). */
  algorithmGiven: boolean;
  stale: boolean;
  userhash: boolean;
  charset?: string;
}

const HASHES: Record<string, { name: DigestAlgorithm; hash: string; sess: boolean; rank: number }> = {
  md5: { name: 'MD5', hash: 'md5', sess: false, rank: 1 },
  'md5-sess': { name: 'MD5-sess', hash: 'md5', sess: true, rank: 1 },
  'sha-256': { name: 'SHA-256', hash: 'sha256', sess: false, rank: 2 },
  'sha-256-sess': { name: 'SHA-256-sess', hash: 'sha256', sess: true, rank: 2 },
  'sha-512-256': { name: 'SHA-512-256', hash: 'sha512-256', sess: false, rank: 3 },
  'sha-512-256-sess': { name: 'SHA-512-256-sess', hash: 'sha512-256', sess: true, rank: 3 },
};

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

/** Challenges in WWW-Authenticate (or Proxy-Authenticate) values; malformed parts are skipped. */
export function parseChallenges(headers: string | readonly string[] | null | undefined): Challenge[] {
  if (headers == null) return [];
  const list = typeof headers === 'string' ? [headers] : headers;
  return list.flatMap((h) => parseOneHeader(h));
}

function parseOneHeader(text: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  let current: Challenge | null = null;
  const n = text.length;
  const skipSpace = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TCHAR.test(text[i]!)) i++;
    return text.slice(start, i);
  };
  const skipToComma = () => {
    // Recover from junk: drop everything up to the next comma outside quotes.
    let quoted = false;
    while (i < n) {
      const c = text[i]!;
      if (quoted && c === '\\') i++;
      else if (c === '"') quoted = !quoted;
      else if (c === ',' && !quoted) break;
      i++;
    }
  };
  while (i < n) {
    skipSpace();
    if (text[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const token = readToken();
    if (!token) {
      skipToComma();
      continue;
    }
    skipSpace();
    if (text[i] === '=' && current && !current.token68) {
      // name=value: a parameter of the current challenge.
      i++;
      skipSpace();
      let value: string;
      if (text[i] === '"') {
        i++;
        value = '';
        let closed = false;
        while (i < n) {
          const c = text[i]!;
          if (c === '\\' && i + 1 < n) {
            value += text[i + 1];
            i += 2;
          } else if (c === '"') {
            i++;
            closed = true;
            break;
          } else {
            value += c;
            i++;
          }
        }
        if (!closed) break; // unterminated quoted string: the rest is unusable
      } else {
        value = readToken();
      }
      const name = token.toLowerCase();
      if (!(name in current.params)) current.params[name] = value;
      skipSpace();
      if (i < n && text[i] !== ',') skipToComma();
      continue;
    }
    if (text[i] === '=') {
      // A parameter with no challenge to belong to (none yet, or after a token68): junk.
      skipToComma();
      continue;
    }
    // A new challenge: scheme, then maybe a token68 (which must end the challenge).
    i = start + token.length;
    current = { scheme: token.toLowerCase(), params: Object.create(null) as Record<string, string> };
    out.push(current);
    skipSpace();
    const rest = text.slice(i);
    const t68 = TOKEN68.exec(rest);
    if (t68) {
      const after = rest.slice(t68[0].length).trimStart();
      // "realm=" followed by a value is a parameter, not a token68.
      if (after === '' || after.startsWith(',')) {
        current.token68 = t68[0];
        i += t68[0].length;
      }
    }
  }
  return out;
}

/** A Digest challenge we can answer, or null (another scheme, no nonce, unknown algorithm). */
export function digestChallenge(challenge: Challenge): DigestChallenge | null {
  if (challenge.scheme !== 'digest') return null;
  const p = challenge.params;
  if (p.nonce === undefined || p.realm === undefined) return null;
  const algo = HASHES[(p.algorithm ?? 'MD5').toLowerCase()];
  if (!algo) return null;
  const qop = (p.qop ?? '')
    .split(',')
    .map((q) => q.trim().toLowerCase())
    .filter(Boolean);
  if (qop.length > 0 && !qop.includes('auth') && !qop.includes('auth-int')) return null;
  return {
    realm: p.realm,
    nonce: p.nonce,
    ...(p.opaque !== undefined ? { opaque: p.opaque } : {}),
    qop,
    algorithm: algo.name,
    algorithmGiven: p.algorithm !== undefined,
    stale: (p.stale ?? '').toLowerCase() === 'true',
    userhash: (p.userhash ?? '').toLowerCase() === 'true',
    ...(p.charset !== undefined ? { charset: p.charset } : {}),
  };
}

/** The strongest answerable Digest challenge among several (RFC 7616 3.7: prefer SHA-256 to MD5). */
export function bestDigestChallenge(challenges: readonly Challenge[]): DigestChallenge | null {
  let best: DigestChallenge | null = null;
  for (const c of challenges) {
    const d = digestChallenge(c);
    if (d && (!best || rank(d) > rank(best))) best = d;
  }
  return best;
}

const rank = (d: DigestChallenge) => HASHES[d.algorithm.toLowerCase()]!.rank;

export interface DigestAnswer {
  username: string;
  password: string;
  method: string;
  /** The request-target as sent (path and query). */
  uri: string;
  /** Nonce count, 1 for the first use of a nonce (ignored without qop). */
  nc: number;
  /** Client nonce (ignored without qop and -sess). */
  cnonce: string;
  /** Request body, for qop=auth-int (empty for a GET). */
  body?: Uint8Array | string;
}

/** The value of the Authorization header answering `challenge`. */
export function digestAuthorization(challenge: DigestChallenge, answer: DigestAnswer): string {
  const algo = HASHES[challenge.algorithm.toLowerCase()]!;
  const H = (data: string | Uint8Array) => createHash(algo.hash).update(data).digest('hex');
  const qop = challenge.qop.length === 0 ? undefined : challenge.qop.includes('auth') ? 'auth' : 'auth-int';
  const ncHex = answer.nc.toString(16).padStart(8, '0');

  let ha1 = H(`${answer.username}:${challenge.realm}:${answer.password}`);
  if (algo.sess) ha1 = H(`${ha1}:${challenge.nonce}:${answer.cnonce}`);
  const ha2 = qop === 'auth-int' ? H(`${answer.method}:${answer.uri}:${H(answer.body ?? '')}`) : H(`${answer.method}:${answer.uri}`);
  const response = qop ? H(`${ha1}:${challenge.nonce}:${ncHex}:${answer.cnonce}:${qop}:${ha2}`) : H(`${ha1}:${challenge.nonce}:${ha2}`);

  const parts: string[] = [];
  if (challenge.userhash) parts.push(`username=${quote(H(`${answer.username}:${challenge.realm}`))}`);
  else if (needsExtendedName(answer.username)) parts.push(`username*=UTF-8''${encodeRfc8187(answer.username)}`);
  else parts.push(`username=${quote(answer.username)}`);
  parts.push(`realm=${quote(challenge.realm)}`, `uri=${quote(answer.uri)}`);
  if (challenge.algorithmGiven) parts.push(`algorithm=${challenge.algorithm}`);
  parts.push(`nonce=${quote(challenge.nonce)}`);
  if (qop) parts.push(`nc=${ncHex}`, `cnonce=${quote(answer.cnonce)}`, `qop=${qop}`);
  else if (algo.sess) parts.push(`cnonce=${quote(answer.cnonce)}`);
  parts.push(`response=${quote(response)}`);
  if (challenge.opaque !== undefined) parts.push(`opaque=${quote(challenge.opaque)}`);
  if (challenge.userhash) parts.push('userhash=true');
  return `Digest ${parts.join(', ')}`;
}

/** One challenge answered for request after request: the nonce is reused and nc counts up. */
export class DigestSession {
  private nc = 0;

  constructor(
    readonly challenge: DigestChallenge,
    private readonly credentials: { username: string; password: string },
    private readonly cnonce: () => string = () => randomBytes(16).toString('hex'),
  ) {}

  /** Requests answered with this nonce so far. */
  get uses(): number {
    return this.nc;
  }

  authorize(method: string, uri: string): string {
    this.nc++;
    return digestAuthorization(this.challenge, { ...this.credentials, method, uri, nc: this.nc, cnonce: this.cnonce() });
  }
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Names outside printable ASCII go as username* (RFC 7616 3.4.4). */
function needsExtendedName(name: string): boolean {
  return /[^\x20-\x7e]/.test(name);
}

function encodeRfc8187(value: string): string {
  return Array.from(Buffer.from(value, 'utf8'))
    .map((b) => (/[A-Za-z0-9!#$&+\-.^_`|~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');
}
