/**
 * Which listen addresses stay on this machine. A plain (unencrypted) listener is allowed
 * there only, unless a config says otherwise: sessions, tokens and children's attendance
 * must not cross a network in clear text by default.
 */
import { BlockList, isIP } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
// How a dual-stack socket writes an IPv4 loopback address.
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/**
 * True for 127.0.0.0/8, ::1 and "localhost". A wildcard ("0.0.0.0", "::", "") listens on
 * every interface and any other name may resolve anywhere: both count as remote.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  const family = isIP(bare);
  if (family === 0) return false;
  return LOOPBACK.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/** A host as it goes into a URL: an IPv6 address in brackets, a wildcard as this machine. */
export function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return isIP(host) === 6 ? `[${host}]` : host;
}
