/** Counters that make bad input visible: what ingest, the gateways and the broker refused. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { droppedSince } from '../storage/index.ts';
import type { ApiContext } from './context.ts';
import { DeliveryQuerystring, DeliveryReport, ErrorBody, IngestStatsBody } from './schemas.ts';

export const statsRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { district, live, ingest, store }) => {
  app.get(
    '/ingest/stats',
    {
      schema: {
        tags: ['operations'],
        summary: 'Accepted and rejected counts: district ingest, each gateway, the broker',
        response: { 200: IngestStatsBody },
      },
    },
    async () => ({
      ...ingest.stats,
      gateways: [...district.schools.keys()].map((schoolId) => {
        const gateway = live.gateway(schoolId);
        return {
          schoolId,
          state: gateway.state,
          link: live.link(schoolId),
          rejected: gateway.health?.rejected ?? {},
          queueDepth: gateway.health?.queueDepth ?? null,
        };
      }),
      storage: { rows: await store.count() },
    }),
  );

  app.get(
    '/delivery',
    {
      schema: {
        tags: ['operations'],
        summary: 'What the district stored of numbered device samples, per device (for the delivery checker)',
        querystring: DeliveryQuerystring,
        response: { 200: DeliveryReport, 400: ErrorBody },
      },
    },
    async (request, reply) => {
      const text = request.query.since;
      const since = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
      if (Number.isNaN(since)) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `"since" is not a time: ${text}` });
      return { since, dropped: await droppedSince(store, since), devices: await store.deliveryReport(since) };
    },
  );
};
