/**
 * The district end of the gateways' link probes: a download of a given size for the
 * periodic throughput test ("how fast can this school pull from the district?").
 * The bytes are pseudo-random so no proxy or link compression flatters the figure, and the
 * size is capped: a misconfigured gateway cannot turn this into a bandwidth sink.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from './context.ts';

export const MAX_PROBE_BYTES = 25 * 1024 * 1024;
const CHUNK = 64 * 1024;

export const probeRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app) => {
  // One random block, sent over and over: random enough to defeat compression, cheap to serve.
  const block = randomBytes(CHUNK);
  app.get(
    '/probe/download',
    {
      schema: {
        tags: ['probe'],
        summary: "Bytes for a gateway's throughput test (link probe)",
        querystring: Type.Object({ bytes: Type.Integer({ minimum: 1, maximum: MAX_PROBE_BYTES, description: 'how many bytes to send' }) }),
      },
    },
    async (request, reply) => {
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
