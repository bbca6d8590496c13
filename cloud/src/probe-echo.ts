/**
 * The district's UDP echo reflector for the gateways' link probes: latency, jitter and loss
 * are measured against it (no root needed on the gateway, unlike ICMP ping).
 *
 * An echo service on the internet can be abused to reflect traffic at a spoofed victim, so
 * this one answers only small datagrams (a probe is a few dozen bytes), at most
 * `perSourcePerSecond` per source address and at most `totalPerSecond` over all sources
 * (spoofed sources are as many as an attacker likes); the rest is dropped and counted.
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

export const ECHO_MAX_BYTES = 64;

export interface ProbeEcho {
  port: number;
  stats: { echoed: number; oversized: number; rateLimited: number };
  close(): Promise<void>;
}

export async function startProbeEcho(opts: {
  host: string;
  port: number;
  perSourcePerSecond?: number;
  /** Datagrams answered per second over every source (default 2000: a district's gateways probe ~10 a second each). */
  totalPerSecond?: number;
  logger: Logger;
  /** The clock whose seconds the cap counts in (default Date.now; tests give their own). */
  now?: () => number;
}): Promise<ProbeEcho> {
  const limit = opts.perSourcePerSecond ?? 50;
  const totalLimit = opts.totalPerSecond ?? 2000;
  let total = 0;
  const now = opts.now ?? Date.now;
  const stats = { echoed: 0, oversized: 0, rateLimited: 0 };
  // source address -> [second, count]: a fixed one-second window is enough to cap reflection.
  let windowSecond = 0;
  let counts = new Map<string, number>();
  const socket = dgram.createSocket(opts.host.includes(':') ? 'udp6' : 'udp4');
  socket.on('message', (message, from) => {
    if (message.length > ECHO_MAX_BYTES) return void stats.oversized++;
    const second = Math.floor(now() / 1000);
    if (second !== windowSecond) {
      windowSecond = second;
      counts = new Map();
      total = 0;
    }
    if (total >= totalLimit) return void stats.rateLimited++;
    const count = (counts.get(from.address) ?? 0) + 1;
    counts.set(from.address, count);
    if (count > limit) return void stats.rateLimited++;
    total++;
    stats.echoed++;
    socket.send(message, from.port, from.address);
  });
  socket.on('error', (error) => opts.logger.warn({ error: error.message }, 'probe echo socket error'));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port, opts.host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return {
    port: (socket.address() as AddressInfo).port,
    stats,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
