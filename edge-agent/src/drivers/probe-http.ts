/**
 * HTTP checks and the throughput test. Every request gets a fresh connection (no agent,
 * no keep-alive), so each check measures a real connection setup and leaves nothing open
 * behind it. Nothing here rejects: a service that does not answer is a failed check.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Clock } from './probe-latency.ts';
import type { HttpCheck, ThroughputSettings } from './probe-options.ts';

const USER_AGENT = 'SchoolOps-link-probe/1';
const monotonic: Clock = () => performance.now();

export interface HttpCheckResult {
  name: string;
  /** Something answered with an HTTP status: the path to the service works. */
  answered: boolean;
  /** The status was the one expected (any 2xx/3xx by default). */
  ok: boolean;
  status?: number;
  /** Time to the response headers (connection, TLS, request, server think time). */
  ms?: number;
  error?: string;
}

interface Exchange {
  /** Settles once; later calls are ignored. */
  done(): void;
}

/**
 * Send one GET and hand its response to `onResponse`; every way out (timeout, abort, error,
 * `done`) destroys the request, its socket and the timer.
 */
function get(
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
  signal: AbortSignal,
  onResponse: (res: IncomingMessage, exchange: Exchange) => void,
  onFail: (error: string) => void,
): void {
  let finished = false;
  let req: ClientRequest | undefined;
  const end = (error?: string) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    signal.removeEventListener('abort', aborted);
    req?.destroy();
    if (error !== undefined) onFail(error);
  };
  const aborted = () => end('aborted');
  const timer = setTimeout(() => end(`no answer within ${timeoutMs} ms`), timeoutMs);
  if (signal.aborted) return end('aborted');
  signal.addEventListener('abort', aborted, { once: true });
  try {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    req = send(url, { method: 'GET', agent: false, headers: { 'user-agent': USER_AGENT, accept: '*/*', ...headers } });
  } catch (error) {
    return end((error as Error).message);
  }
  req.on('error', (error: NodeJS.ErrnoException) => end(error.code ?? error.message));
  req.on('response', (res) => {
    res.on('error', () => end('response broke off'));
    onResponse(res, { done: () => end() });
  });
  req.end();
}

export function checkHttp(check: HttpCheck & { timeoutMs: number }, signal: AbortSignal, now: Clock = monotonic): Promise<HttpCheckResult> {
  return new Promise((resolve) => {
    const t0 = now();
    get(
      check.url,
      {},
      check.timeoutMs,
      signal,
      (res, exchange) => {
        const ms = Math.round((now() - t0) * 100) / 100;
        const status = res.statusCode ?? 0;
        const ok = check.expectStatus !== undefined ? status === check.expectStatus : status >= 200 && status < 400;
        // The body is not needed: the headers prove the service answers.
        exchange.done();
        resolve({ name: check.name, answered: true, ok, status, ms });
      },
      (error) => resolve({ name: check.name, answered: false, ok: false, error }),
    );
  });
}

export type ThroughputResult = { ok: true; bytes: number; seconds: number; mbps: number } | { ok: false; error: string };

/** Less than this says nothing about the line (a small error page served with 200, say). */
const MIN_MEASURED_BYTES = 64 * 1024;

/**
 * Download from the district's endpoint within the budget: ask for only `maxBytes` with a
 * Range header, and cut the connection at `maxBytes` in case the server ignores it. The rate
 * is body bytes over the time from the response headers to the last byte read, so
 * connection setup does not count against the line's capacity. Out of time mid-download,
 * what came so far still measures the line.
 */
export function measureThroughput(
  t: Pick<ThroughputSettings, 'url' | 'maxBytes' | 'maxSeconds'>,
  signal: AbortSignal,
  now: Clock = monotonic,
): Promise<ThroughputResult> {
  const enough = Math.min(MIN_MEASURED_BYTES, t.maxBytes);
  return new Promise((resolve) => {
    let t0 = 0;
    let bytes = 0;
    let settled = false;
    const settle = (error?: string) => {
      if (settled) return;
      settled = true;
      // A floor on the duration: a small budget over a fast link would divide by ~0.
      const seconds = Math.max((now() - t0) / 1000, 0.001);
      if (bytes >= enough) resolve({ ok: true, bytes, seconds, mbps: (bytes * 8) / seconds / 1e6 });
      else resolve({ ok: false, error: error ?? `only ${bytes} bytes came, too few to measure` });
    };
    get(
      t.url,
      { range: `bytes=0-${t.maxBytes - 1}`, 'accept-encoding': 'identity' },
      t.maxSeconds * 1000,
      signal,
      (res, exchange) => {
        const status = res.statusCode ?? 0;
        if (status !== 200 && status !== 206) {
          exchange.done();
          settle(`HTTP ${status}`);
          return;
        }
        t0 = now();
        // settle first: it reads the clock before the connection is torn down.
        const finish = () => {
          settle();
          exchange.done();
        };
        // Counted and dropped, never kept.
        res.on('data', (chunk: Buffer) => {
          bytes += Math.min(chunk.length, t.maxBytes - bytes);
          if (bytes >= t.maxBytes) finish();
        });
        res.on('end', finish);
        res.on('close', finish);
      },
      settle,
    );
  });
}
