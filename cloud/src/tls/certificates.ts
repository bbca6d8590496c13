/**
 * A district's own certificate authority and the server certificates it signs, for the
 * cloud's HTTPS and the district broker's MQTT over TLS.
 *
 * A district rarely has a public name for its broker, and gateways are installed by the
 * district itself: a small CA of its own, whose certificate every gateway is given
 * (`district.caFile`), is the simplest thing that lets a gateway refuse an impostor.
 * Certificates are built with @peculiar/x509 on Node's WebCrypto (no hand-written ASN.1);
 * files are PEM, checked again with node:crypto's X509Certificate when they are reused.
 *
 * Layout of the folder (mode 0700, it holds private keys):
 *   ca.pem, ca.key              the CA (ECDSA P-256, 10 years); the key may be moved offline
 *                               once the server certificates exist
 *   <name>.pem, <name>.key      a server certificate (serverAuth, ~2 years) and its key
 * Keys are 0600, certificates 0644. On every call only what is missing or no longer fits is
 * made: a server certificate that does not cover its hosts any more, expires within 30 days,
 * is not signed by the CA in the folder or does not match its key is made again.
 */
// @peculiar/x509 reads decorator metadata at load: reflect-metadata must come first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPrivateKey, KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { basename, join, resolve } from 'node:path';

// Node's WebCrypto, whatever globalThis.crypto happens to be in the running process.
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const DAY_MS = 86_400_000;
/** The CA outlives every server certificate it will sign in a district's life with it. */
const CA_LIFETIME_MS = 10 * 365 * DAY_MS;
/**
 * Server certificates: about two years, under the 825 days Apple platforms accept for a
 * TLS server certificate from any CA (a browser on a Mac would refuse a longer one).
 */
const SERVER_LIFETIME_MS = 730 * DAY_MS;
/** A server certificate this close to its end is made again at the next start. */
const RENEW_BEFORE_MS = 30 * DAY_MS;
/** Clocks of gateways and servers disagree a little: certificates start an hour back. */
const BACKDATE_MS = 60 * 60 * 1000;

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca.key';

export class CertificateError extends Error {
  override name = 'CertificateError';
}

export interface ServerCertificateRequest {
  /** File name stem: `<name>.pem` and `<name>.key`. Lower case letters, digits and '-'. */
  name: string;
  /** DNS names and IP addresses the certificate must cover (its SANs); the first is its CN. */
  hosts: string[];
}

export interface ServerCertificateFiles {
  certFile: string;
  keyFile: string;
  /** The hosts asked for. */
  hosts: string[];
  /** Every name and address the certificate covers (its SANs): a kept one may cover more. */
  covers: string[];
  /** When the certificate ends. */
  notAfter: Date;
}

export interface CertificateSet {
  dir: string;
  /** The CA certificate: what gateways, the cloud's MQTT client and browsers trust. */
  caFile: string;
  caKeyFile: string;
  servers: Record<string, ServerCertificateFiles>;
  /** Files this call wrote and why; empty when everything was reused. */
  made: Array<{ file: string; why: string }>;
}

export interface EnsureCertificatesOptions {
  dir: string;
  servers: ServerCertificateRequest[];
  /** The CA's common name when one is made. */
  caName?: string;
  /** Clock, for tests. */
  now?: () => Date;
}

/** Make what is missing under `dir` (see the module comment) and say where everything is. */
export async function ensureCertificates(opts: EnsureCertificatesOptions): Promise<CertificateSet> {
  const dir = resolve(opts.dir);
  const now = opts.now ?? (() => new Date());
  for (const server of opts.servers) checkRequest(server);
  prepareFolder(dir);

  const made: CertificateSet['made'] = [];
  const caFile = join(dir, CA_CERT_FILE);
  const caKeyFile = join(dir, CA_KEY_FILE);
  const ca = await loadOrMakeCa(caFile, caKeyFile, opts.caName ?? 'SchoolOps district CA', now(), made);

  const servers: Record<string, ServerCertificateFiles> = {};
  for (const request of opts.servers) {
    const hosts = request.hosts.map(normaliseHost);
    const certFile = join(dir, `${request.name}.pem`);
    const keyFile = join(dir, `${request.name}.key`);
    const why = serverCertificateProblem(certFile, keyFile, ca.cert, hosts, now());
    if (why) {
      if (!ca.signingKey) {
        throw new CertificateError(
          `${certFile} must be made (${why}), but ${caKeyFile} is not there to sign it: put the CA key back ` +
            `(or remove ${caFile} too to start a new CA, which every gateway must then be given)`,
        );
      }
      await makeServerCertificate(ca.cert, ca.signingKey, ca.signingAlgorithm, hosts, certFile, keyFile, now());
      made.push({ file: certFile, why }, { file: keyFile, why: `with ${basename(certFile)}` });
    } else {
      // Reused: a key file left readable by others (copied in, an older umask) is narrowed.
      narrowMode(keyFile);
    }
    const cert = new X509Certificate(readFileSync(certFile));
    servers[request.name] = { certFile, keyFile, hosts, covers: sanList(cert), notAfter: new Date(cert.validTo) };
  }
  return { dir, caFile, caKeyFile, servers, made };
}

/**
 * Why the certificate in `certFile` cannot serve `hosts` (undefined when it can): missing,
 * unreadable, not signed by `ca`, ending soon, a host not covered, or not matching its key.
 * Exported so an installer's own check (or a test) reads the same rules.
 */
export function serverCertificateProblem(certFile: string, keyFile: string, ca: X509Certificate, hosts: string[], now: Date): string | undefined {
  if (!existsSync(certFile)) return 'new';
  if (!existsSync(keyFile)) return `its key ${keyFile} is missing`;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(certFile));
  } catch (error) {
    return `it could not be read (${(error as Error).message})`;
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return 'it is not signed by the CA in this folder';
  const notAfter = new Date(cert.validTo);
  if (notAfter.getTime() - now.getTime() < RENEW_BEFORE_MS) return `it ends on ${notAfter.toISOString().slice(0, 10)}`;
  for (const host of hosts) {
    const covered = isIP(host) ? cert.checkIP(host) : cert.checkHost(host, { subject: 'never' });
    if (covered === undefined) return `it does not cover ${host}`;
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(readFileSync(keyFile)))) return `it does not match its key ${keyFile}`;
  } catch (error) {
    return `its key could not be read (${(error as Error).message})`;
  }
  return undefined;
}

interface LoadedCa {
  cert: X509Certificate;
  /** Absent when the CA key was moved away: the CA can still check, not sign. */
  signingKey?: CryptoKey;
  signingAlgorithm?: Algorithm | EcdsaParams;
}

async function loadOrMakeCa(caFile: string, caKeyFile: string, caName: string, now: Date, made: CertificateSet['made']): Promise<LoadedCa> {
  const haveCert = existsSync(caFile);
  const haveKey = existsSync(caKeyFile);
  if (!haveCert && haveKey) {
    // A key without its certificate is somebody's half-finished work: never replace it.
    throw new CertificateError(`${caKeyFile} is there without ${caFile}: put the CA certificate back, or remove the key to make a new CA`);
  }
  if (!haveCert) {
    const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=${escapeDn(caName)}`,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + CA_LIFETIME_MS),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      keys,
      extensions: [
        // pathLength 0: this CA signs servers only, never another CA.
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    // Key first: a certificate on disk without its key would block the next start.
    writeKey(caKeyFile, keys.privateKey);
    writeAtomic(caFile, cert.toString('pem') + '\n', 0o644);
    made.push({ file: caFile, why: 'new CA' }, { file: caKeyFile, why: `with ${CA_CERT_FILE}` });
    return { cert: new X509Certificate(readFileSync(caFile)), signingKey: keys.privateKey, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams };
  }

  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(caFile));
  } catch (error) {
    throw new CertificateError(`${caFile}: not a PEM certificate (${(error as Error).message})`);
  }
  if (!cert.ca) throw new CertificateError(`${caFile}: not a CA certificate (basicConstraints CA:false)`);
  if (new Date(cert.validTo).getTime() <= now.getTime()) {
    throw new CertificateError(
      `${caFile}: the CA ended on ${new Date(cert.validTo).toISOString().slice(0, 10)}; remove ${caFile} and ${caKeyFile} to make a new one (every gateway must then be given it)`,
    );
  }
  if (!haveKey) return { cert };
  narrowMode(caKeyFile);
  const { signingKey, signingAlgorithm } = await importSigningKey(caKeyFile);
  if (!cert.checkPrivateKey(createPrivateKey(readFileSync(caKeyFile)))) throw new CertificateError(`${caKeyFile} is not the key of ${caFile}`);
  return { cert, signingKey, signingAlgorithm };
}

/**
 * A CA key on disk as a WebCrypto signing key. A district may have dropped in a CA of its
 * own (openssl makes RSA keys by default): EC P-256, P-384 and RSA keys are taken.
 */
async function importSigningKey(file: string): Promise<{ signingKey: CryptoKey; signingAlgorithm: Algorithm | EcdsaParams }> {
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(file));
  } catch (error) {
    throw new CertificateError(`${file}: not a PEM private key (${(error as Error).message})`);
  }
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === 'ec' && (curve === 'prime256v1' || curve === 'secp384r1')) {
    const namedCurve = curve === 'prime256v1' ? 'P-256' : 'P-384';
    const hash = curve === 'prime256v1' ? 'SHA-256' : 'SHA-384';
    const signingKey = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve }, false, ['sign']);
    return { signingKey: signingKey as CryptoKey, signingAlgorithm: { name: 'ECDSA', hash } as EcdsaParams };
  }
  if (key.asymmetricKeyType === 'rsa') {
    const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    const signingKey = await webcrypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
    return { signingKey: signingKey as CryptoKey, signingAlgorithm: algorithm };
  }
  throw new CertificateError(`${file}: a ${key.asymmetricKeyType} key${curve ? ` on ${curve}` : ''}; the CA key must be EC P-256, EC P-384 or RSA`);
}

async function makeServerCertificate(
  ca: X509Certificate,
  signingKey: CryptoKey,
  signingAlgorithm: Algorithm | EcdsaParams | undefined,
  hosts: string[],
  certFile: string,
  keyFile: string,
  now: Date,
): Promise<void> {
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  // Never past the CA's own end: a chain is only as long-lived as its shortest link.
  const notAfter = Math.min(now.getTime() + SERVER_LIFETIME_MS, new Date(ca.validTo).getTime());
  const issuer = new x509.X509Certificate(ca.raw);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${escapeDn(hosts[0]!)}`,
    // The CA's own encoded name, so the chain links byte for byte.
    issuer: issuer.subjectName,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(notAfter),
    ...(signingAlgorithm ? { signingAlgorithm } : {}),
    publicKey: keys.publicKey,
    signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // ECDHE key exchange: the key only signs the handshake.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(hosts.map((host) => ({ type: isIP(host) ? ('ip' as const) : ('dns' as const), value: host }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await authorityKeyId(issuer),
    ],
  });
  writeKey(keyFile, keys.privateKey);
  writeAtomic(certFile, cert.toString('pem') + '\n', 0o644);
}

/**
 * The CA's own subject key id when it has one: a CA a district brought may have computed it
 * otherwise than from the key's hash, and OpenSSL refuses a chain whose ids disagree.
 */
async function authorityKeyId(issuer: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
  return ski ? new x509.AuthorityKeyIdentifierExtension(ski.keyId) : x509.AuthorityKeyIdentifierExtension.create(issuer);
}

/** The folder holds keys: create it 0700; refuse one that others can enter, as ssh would. */
function prepareFolder(dir: string): void {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is filtered by the umask.
    chmodSync(dir, 0o700);
    return;
  }
  const mode = statSync(dir).mode & 0o777;
  if (!statSync(dir).isDirectory()) throw new CertificateError(`${dir} is not a folder`);
  if (mode & 0o077) {
    throw new CertificateError(
      `${dir}: its mode 0${mode.toString(8)} lets group or others in, and private keys go there: name a folder of ` +
        `their own (one that does not exist yet is made 0700), or chmod 700 ${dir} if nobody else needs it`,
    );
  }
}

function writeKey(file: string, key: CryptoKey): void {
  const pem = KeyObject.from(key as unknown as webcrypto.CryptoKey).export({ type: 'pkcs8', format: 'pem' }) as string;
  writeAtomic(file, pem, 0o600);
}

/**
 * A new file with its final mode from the start, then renamed over the old one: a reader
 * never sees half a file, and a key is never readable by others for an instant.
 */
function writeAtomic(file: string, text: string, mode: number): void {
  const fresh = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(fresh, text, { mode, flag: 'wx' });
  chmodSync(fresh, mode);
  renameSync(fresh, file);
}

function narrowMode(file: string): void {
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
}

/** "DNS:a, IP Address:1.2.3.4" as ["a", "1.2.3.4"] (node:crypto gives SANs as that one string). */
function sanList(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
    .filter((entry) => entry.length > 0);
}

function serial(): string {
  // 16 random bytes, the top bit cleared so the DER integer stays positive without padding.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

function escapeDn(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, '\\$1');
}

const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** A DNS name (a leading "*." for a wildcard); IP addresses are checked by isIP. */
const DNS_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function checkRequest(request: ServerCertificateRequest): void {
  if (!NAME_PATTERN.test(request.name) || request.name === 'ca') {
    throw new CertificateError(`certificate name "${request.name}": use lower case letters, digits and '-' (and not "ca")`);
  }
  if (request.hosts.length === 0) throw new CertificateError(`certificate "${request.name}": give at least one host name or address`);
  for (const host of request.hosts) normaliseHost(host);
}

/** Lower-cased DNS name or a plain IP address; anything else is refused with the reason. */
export function normaliseHost(host: string): string {
  const trimmed = host.trim();
  // An IPv6 address may come in URL brackets.
  const bare = trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed;
  if (isIP(bare)) return bare;
  const name = bare.toLowerCase().replace(/\.$/, '');
  if (name.length > 253 || !DNS_NAME.test(name)) throw new CertificateError(`"${host}" is neither a DNS name nor an IP address`);
  return name;
}
