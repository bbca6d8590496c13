/**
 * HTTP Digest (RFC 7616) client pieces: challenge parsing (several challenges, quoted
 * strings with escapes, token68) and Authorization headers checked against the RFCs'
 * published examples and against hashes computed here step by step with node:crypto.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bestDigestChallenge, digestAuthorization, digestChallenge, DigestSession, parseChallenges, type DigestChallenge } from '../src/drivers/http-digest.ts';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const sha512_256 = (s: string) => createHash('sha512-256').update(s).digest('hex');

/** The auth-params of an Authorization value, for checking what was sent (a small parser of the test's own). */
function params(header: string): Record<string, string> {
  expect(header.startsWith('Digest ')).toBe(true);
  const out: Record<string, string> = {};
  const re = /([a-z*]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))(?:,\s*|$)/gy;
  re.lastIndex = 'Digest '.length;
  let m: RegExpExecArray | null;
  let end = re.lastIndex;
  while ((m = re.exec(header))) {
    out[m[1]!] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
    end = re.lastIndex;
  }
  expect(end).toBe(header.length); // every part of the header read
  return out;
}

// RFC 7616 section 3.9.1: the same challenge with SHA-256 and with MD5, two headers.
const RFC7616_HEADERS = [
  'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
  'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
];
const RFC7616_ANSWER = { username: 'Mufasa', password: 'Circle of Life', method: 'GET', uri: '/dir/index.html', nc: 1, cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ' };

describe('parseChallenges', () => {
  it('reads several challenges in one header, token68 and quoted strings with escapes', () => {
    const list = parseChallenges(
      'Negotiate YIIB9gYGKwYBBQUCoIIB6jCCAeag==, Basic realm="Cam \\"A\\", room 1", charset="UTF-8",' +
        ' Digest realm="IP Camera(DS-2CD2143G2-I)",qop="auth,auth-int" , nonce=abc123, opaque="", stale=TRUE, algorithm=SHA-256-sess, NewAuth',
    );
    expect(list.map((c) => c.scheme)).toEqual(['negotiate', 'basic', 'digest', 'newauth']);
    expect(list[0]!.token68).toBe('YIIB9gYGKwYBBQUCoIIB6jCCAeag==');
    expect(list[1]!.params).toEqual({ realm: 'Cam "A", room 1', charset: 'UTF-8' });
    expect(list[2]!.params).toEqual({ realm: 'IP Camera(DS-2CD2143G2-I)', qop: 'auth,auth-int', nonce: 'abc123', opaque: '', stale: 'TRUE', algorithm: 'SHA-256-sess' });
    expect(digestChallenge(list[2]!)).toEqual({
      realm: 'IP Camera(DS-2CD2143G2-I)',
      nonce: 'abc123',
      opaque: '',
      qop: ['auth', 'auth-int'],
      algorithm: 'SHA-256-sess',
      algorithmGiven: true,
      stale: true,
      userhash: false,
    });
    expect(list[3]!.params).toEqual({});
  });

  it('reads several headers, mixed-case names, and skips junk without losing the rest', () => {
    const list = parseChallenges(['DIGEST REALM="r", NONCE="n1", Stale="false"', '', '  ,, = oops, Basic realm="b"', 'Digest realm="unterminated, nonce="x']);
    expect(list.map((c) => c.scheme)).toEqual(['digest', 'basic', 'digest']);
    expect(digestChallenge(list[0]!)).toMatchObject({ realm: 'r', nonce: 'n1', stale: false, qop: [], algorithm: 'MD5', algorithmGiven: false });
    expect(list[1]!.params.realm).toBe('b');
    expect(digestChallenge(list[2]!)).toBeNull(); // its realm never ended: no nonce
    expect(parseChallenges(null)).toEqual([]);
  });

  it('refuses to answer what it cannot: other schemes, no nonce, unknown algorithm or qop', () => {
    const one = (h: string) => digestChallenge(parseChallenges(h)[0]!);
    expect(one('Basic realm="x"')).toBeNull();
    expect(one('Digest realm="x"')).toBeNull();
    expect(one('Digest realm="x", nonce="n", algorithm=SHA-1')).toBeNull();
    expect(one('Digest realm="x", nonce="n", qop="auth-conf"')).toBeNull();
    expect(one('Digest realm="x", nonce="n", qop="auth-conf, auth"')).toMatchObject({ qop: ['auth-conf', 'auth'] });
  });

  it('prefers the strongest algorithm offered (RFC 7616 3.7)', () => {
    expect(bestDigestChallenge(parseChallenges([...RFC7616_HEADERS].reverse()))?.algorithm).toBe('SHA-256');
    expect(bestDigestChallenge(parseChallenges('Basic realm="x", Digest realm="x", nonce="n", algorithm=MD5-sess'))?.algorithm).toBe('MD5-sess');
    expect(bestDigestChallenge(parseChallenges('Basic realm="x"'))).toBeNull();
  });
});

describe('digestAuthorization', () => {
  it("matches RFC 7616 3.9.1's published responses for SHA-256 and MD5", () => {
    const challenges = parseChallenges(RFC7616_HEADERS).map((c) => digestChallenge(c)!);
    const sha = params(digestAuthorization(challenges[0]!, RFC7616_ANSWER));
    expect(sha).toEqual({
      username: 'Mufasa',
      realm: 'http-auth@example.org',
      uri: '/dir/index.html',
      algorithm: 'SHA-256',
      nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
      nc: '00000001',
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
      qop: 'auth',
      response: '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
      opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS',
    });
    expect(params(digestAuthorization(challenges[1]!, RFC7616_ANSWER)).response).toBe('8ca523f5e9506fed4657c9700eebdbec');
  });

  it("matches RFC 2617 3.5's example (MD5, no algorithm named, qop=auth)", () => {
    const c = digestChallenge(
      parseChallenges('Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')[0]!,
    )!;
    const header = digestAuthorization(c, { username: 'Mufasa', password: 'Circle Of Life', method: 'GET', uri: '/dir/index.html', nc: 1, cnonce: '0a4f113b' });
    expect(params(header)).toMatchObject({ response: '6629fae49393a05397450978507c4ef1', qop: 'auth', nc: '00000001' });
    expect(header).not.toMatch(/algorithm=/); // the challenge named none: none is sent back
  });

  it('computes -sess, auth-int, the legacy no-qop form and SHA-512-256 as the RFC defines them, step by step', () => {
    const base = { realm: 'IP Camera(DS-2CD2143G2-I)', nonce: 'a1b2c3', opaque: 'op', algorithmGiven: true, stale: false, userhash: false } as const;
    const ans = { username: 'schoolops', password: 'p:w"\\d', method: 'GET', uri: '/ISAPI/Streaming/channels/101/picture?snapShotImageType=JPEG', nc: 26, cnonce: 'cn0' };
    const ha1 = (H: (s: string) => string) => H(`${ans.username}:${base.realm}:${ans.password}`);
    const ha2 = (H: (s: string) => string) => H(`${ans.method}:${ans.uri}`);

    // MD5-sess, qop=auth: HA1 = H(H(user:realm:pass):nonce:cnonce); nc as 8 hex digits (26 = 0000001a).
    const sess = params(digestAuthorization({ ...base, qop: ['auth'], algorithm: 'MD5-sess' }, ans));
    const sessHa1 = md5(`${ha1(md5)}:${base.nonce}:${ans.cnonce}`);
    expect(sess).toMatchObject({ algorithm: 'MD5-sess', nc: '0000001a', qop: 'auth', response: md5(`${sessHa1}:a1b2c3:0000001a:cn0:auth:${ha2(md5)}`) });

    // SHA-256-sess.
    const s256 = params(digestAuthorization({ ...base, qop: ['auth'], algorithm: 'SHA-256-sess' }, ans));
    expect(s256.response).toBe(sha256(`${sha256(`${ha1(sha256)}:a1b2c3:cn0`)}:a1b2c3:0000001a:cn0:auth:${ha2(sha256)}`));

    // SHA-512-256.
    const s512 = params(digestAuthorization({ ...base, qop: ['auth'], algorithm: 'SHA-512-256' }, ans));
    expect(s512.response).toBe(sha512_256(`${ha1(sha512_256)}:a1b2c3:0000001a:cn0:auth:${ha2(sha512_256)}`));

    // auth-int only: HA2 = H(method:uri:H(body)), the body of a GET being empty.
    const int = params(digestAuthorization({ ...base, qop: ['auth-int'], algorithm: 'MD5' }, ans));
    expect(int).toMatchObject({ qop: 'auth-int', response: md5(`${ha1(md5)}:a1b2c3:0000001a:cn0:auth-int:${md5(`GET:${ans.uri}:${md5('')}`)}`) });

    // No qop (RFC 2069): response = H(HA1:nonce:HA2), and no nc or cnonce.
    const legacy = params(digestAuthorization({ ...base, qop: [], algorithm: 'MD5', algorithmGiven: false }, ans));
    expect(legacy).toEqual({ username: 'schoolops', realm: base.realm, uri: ans.uri, nonce: 'a1b2c3', response: md5(`${ha1(md5)}:a1b2c3:${ha2(md5)}`), opaque: 'op' });
  });

  it('escapes quotes and backslashes, hashes the user with userhash, and sends a non-ASCII user as username*', () => {
    const c: DigestChallenge = { realm: 'r "q" \\ x', nonce: 'n', qop: ['auth'], algorithm: 'SHA-256', algorithmGiven: true, stale: false, userhash: false };
    const ans = { username: 'a"b\\c', password: 'pw', method: 'GET', uri: '/p', nc: 1, cnonce: 'c' };
    const header = digestAuthorization(c, ans);
    expect(header).toContain('username="a\\"b\\\\c"');
    expect(header).toContain('realm="r \\"q\\" \\\\ x"');
    expect(params(header)).toMatchObject({ username: 'a"b\\c', realm: 'r "q" \\ x' });
    const expected = sha256(`${sha256('a"b\\c:r "q" \\ x:pw')}:n:00000001:c:auth:${sha256('GET:/p')}`);
    expect(params(header).response).toBe(expected);

    const hashed = params(digestAuthorization({ ...c, userhash: true }, ans));
    expect(hashed).toMatchObject({ username: sha256('a"b\\c:r "q" \\ x'), userhash: 'true', response: expected });

    const vi = digestAuthorization(c, { ...ans, username: 'Nguyễn' });
    expect(vi).toContain("username*=UTF-8''Nguy%E1%BB%85n");
    expect(vi).not.toContain('username=');
  });
});

describe('DigestSession', () => {
  it('reuses the nonce with nc counting up and a new cnonce each time', () => {
    const c = digestChallenge(parseChallenges(RFC7616_HEADERS[1]!)[0]!)!;
    let n = 0;
    const session = new DigestSession(c, { username: 'Mufasa', password: 'Circle of Life' }, () => `cn${++n}`);
    const first = params(session.authorize('GET', '/dir/index.html'));
    const second = params(session.authorize('GET', '/dir/index.html'));
    expect([first.nc, first.cnonce, second.nc, second.cnonce]).toEqual(['00000001', 'cn1', '00000002', 'cn2']);
    expect(second.nonce).toBe(first.nonce);
    expect(session.uses).toBe(2);
    const ha1 = md5('Mufasa:http-auth@example.org:Circle of Life');
    expect(second.response).toBe(md5(`${ha1}:${c.nonce}:00000002:cn2:auth:${md5('GET:/dir/index.html')}`));
    // Random cnonces by default, never the same twice.
    const real = new DigestSession(c, { username: 'u', password: 'p' });
    expect(params(real.authorize('GET', '/')).cnonce).not.toBe(params(real.authorize('GET', '/')).cnonce);
  });
});
