/**
 * The district end of the gateways' link probes: a download of a given size for the
 * periodic throughput test ("how fast can this school pull from the district?").
 * The bytes are pseudo-random so no proxy or link compression flatters the figure, and the
 * size is capped: a misconfigured gateway cannot turn this into a bandwidth sink.
 *
 * Gateways have no HTTP account, so the route is public; what keeps it from being a
 * bandwidth sink for anyone else is a budget per address (a gateway tests once an hour,
 * a failed test a few times more) and a cap on downloads running at once (503 past it).
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from './context.ts';
import { sendError } from './errors.ts';

export const MAX_PROBE_BYTES = 25 * 1024 * 1024;
const CHUNK = 64 * 1024;
/** Downloads one address may start per hour. */
export const PROBE_DOWNLOADS_PER_HOUR = 12;
/** Downloads running at once, over every address. */
export const PROBE_DOWNLOADS_AT_ONCE = 8;

export const probeRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app) => {
  // One random block, sent over and over: random enough to defeat compression, cheap to serve.
  const block = randomBytes(CHUNK);
  await app.register(fastifyRateLimit, { global: false });
  let running = 0;
  app.get(
    '/probe/download',
    {
      schema: {
        tags: ['probe'],
        summary: "Bytes for a gateway's throughput test (link probe)",
        querystring: Type.Object({ bytes: Type.Integer({ minimum: 1, maximum: MAX_PROBE_BYTES, description: 'how many bytes to send' }) }),
      },
      config: { rateLimit: { max: PROBE_DOWNLOADS_PER_HOUR, timeWindow: 3_600_000 } },
    },
    async (request, reply) => {
      if (running >= PROBE_DOWNLOADS_AT_ONCE) {
        return sendError(reply, 'probe_busy', { running: PROBE_DOWNLOADS_AT_ONCE }, { 'retry-after': 60 });
      }
      running++;
      let done = false;
      const finished = () => {
        if (!done) (done = true), running--;
      };
      reply.raw.once('close', finished);
      let left = request.query.bytes;
      const body = new Readable({
        read() {
          if (left <= 0) return void this.push(null);
          const n = Math.min(left, CHUNK);
          left -= n;
          this.push(n === CHUNK ? block : block.subarray(0, n));
        },
      });
      return reply.header('content-type', 'application/octet-stream').header('cache-control', 'no-store').header('content-length', request.query.bytes).send(body);
    },
  );
};
