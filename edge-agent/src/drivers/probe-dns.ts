/**
 * DNS check: how long the school's resolver (or a configured one) takes to resolve a few
 * names the school depends on. Uses node:dns's Resolver (c-ares), which talks to the
 * server given here, not the operating system's cache, so the time is the resolver's.
 * Never rejects: a name that does not resolve is a failure counted in the result.
 */
import { Resolver } from 'node:dns';
import type { Clock } from './probe-latency.ts';
import type { DnsSettings } from './probe-options.ts';

export interface DnsResult {
  /** Names the resolver answered for, found or not (it is reachable). */
  answered: number;
  /** Names that did not resolve to an address (timeout, refusal, NXDOMAIN). */
  failed: number;
  /** Mean time of the successful resolutions. */
  meanMs?: number;
}

/** Resolver errors that are answers from the server (the name does not exist / has no A record). */
const ANSWERED = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME', 'EREFUSED', 'ESERVFAIL', 'EFORMERR', 'ENOTIMP']);

export function checkDns(s: DnsSettings, signal: AbortSignal, now: Clock = () => performance.now()): Promise<DnsResult> {
  // One try: a retry would hide exactly the loss this check is meant to show.
  const resolver = new Resolver({ timeout: s.timeoutMs, tries: 1 });
  if (s.server) resolver.setServers([s.server]);
  return new Promise<DnsResult>((resolve) => {
    const times: number[] = [];
    let answered = 0;
    let pending = s.names.length;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
      const meanMs = times.length ? Math.round((times.reduce((a, b) => a + b, 0) / times.length) * 100) / 100 : undefined;
      resolve({ answered, failed: s.names.length - times.length, ...(meanMs !== undefined ? { meanMs } : {}) });
    };
    // c-ares's own timeout grows between attempts; this is the hard bound.
    const stop = () => {
      resolver.cancel();
      finish();
    };
    const timer = setTimeout(stop, s.timeoutMs);
    if (signal.aborted) return stop();
    signal.addEventListener('abort', stop, { once: true });
    for (const name of s.names) {
      const t0 = now();
      resolver.resolve4(name, (error, addresses) => {
        if (finished) return;
        if (!error && addresses.length > 0) {
          times.push(now() - t0);
          answered++;
        } else if (error && ANSWERED.has(error.code ?? '')) answered++;
        if (--pending === 0) finish();
      });
    }
  });
}
