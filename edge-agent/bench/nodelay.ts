/**
 * Experiment for backlog.bench.ts --no-delay: turn Nagle's algorithm off (TCP_NODELAY) on
 * every TCP socket of the process, client and server side, without touching the sources.
 * Loaded with `node --import tsx --import ./edge-agent/bench/nodelay.ts` (the broker and the
 * cloud) or imported first thing (the bench process, where the agent runs).
 */
import net from 'node:net';

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
  this.setNoDelay(true); // remembered until the socket has its handle
  return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
} as typeof connect;

const emit = net.Server.prototype.emit;
net.Server.prototype.emit = function (this: net.Server, event: string | symbol, ...args: unknown[]) {
  if (event === 'connection') (args[0] as net.Socket).setNoDelay(true);
  return (emit as (this: net.Server, e: string | symbol, ...a: unknown[]) => boolean).call(this, event, ...args);
} as typeof emit;
