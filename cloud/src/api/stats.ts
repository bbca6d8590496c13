/** Counters that make bad input visible: what ingest, the gateways and the broker refused. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiContext } from './context.ts';
import { IngestStatsBody } from './schemas.ts';

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
          rejected: gateway.health?.rejected ?? {},
          queueDepth: gateway.health?.queueDepth ?? null,
        };
      }),
      storage: { rows: await store.count() },
    }),
  );
};
