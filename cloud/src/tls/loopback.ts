/**
 * Which listen addresses stay on this machine. A plain (unencrypted) listener is allowed
 * there only, unless a config says otherwise: sessions, tokens and children's attendance
 * must not cross a network in clear text by default.
 */
import { isIP } from 'node:net';

// One rule for every plain listener of the district: the broker's.
export { isLoopbackHost } from '@schoolops/broker';

/** A host as it goes into a URL: an IPv6 address in brackets, a wildcard as this machine. */
export function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return isIP(host) === 6 ? `[${host}]` : host;
}
