/** Counters that make bad input visible: what ingest, the gateways and the broker refused. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { StoreBusyError, droppedSince } from '../storage/index.ts';
import type { ApiContext } from './context.ts';
import { parseTime, sendBusy } from './history.ts';
import { sendError } from './errors.ts';
import { DeliveryQuerystring, DeliveryReport, ErrorBody, IngestStatsBody } from '@schoolops/device-profiles/api';

/**
 * How far back a delivery report may reach. It counts every numbered sample since `since`
 * with a window function per device: `since=0` was a full scan of every sample ever stored.
 * A week covers any delivery check run (a soak test, a fault drill).
 */
export const MAX_DELIVERY_DAYS = 7;
const DAY_MS = 86_400_000;

export const statsRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { district, live, ingest, store, now = Date.now }) => {
  app.get(
    '/ingest/stats',
    {
      schema: {
        tags: ['operations'],
        summary: 'Accepted and rejected counts: district ingest, each gateway, the broker',
        response: { 200: IngestStatsBody, 503: ErrorBody },
      },
    },
    async (_request, reply) => {
      // Ingest's counters are read before the store is counted, never after: a batch stored
      // while the count runs then shows in the rows and not yet in the counters, so a client
      // that sees N readings counted also finds their rows (the reverse read showed readings
      // whose rows the count had not seen).
      const counters = structuredClone(ingest.stats);
      let rows: number;
      try {
        rows = await store.count();
      } catch (error) {
        if (error instanceof StoreBusyError) return sendBusy(reply, error);
        throw error;
      }
      return {
        ...counters,
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
        storage: { rows, queries: store.queryStats() },
      };
    },
  );

  app.get(
    '/delivery',
    {
      schema: {
        tags: ['operations'],
        summary: 'What the district stored of numbered device samples, per device (for the delivery checker)',
        querystring: DeliveryQuerystring,
        response: { 200: DeliveryReport, 400: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const text = request.query.since;
      const since = parseTime(text, 0);
      if (since === null) return sendError(reply, 'bad_time', { field: 'since', value: text });
      const earliest = now() - MAX_DELIVERY_DAYS * DAY_MS;
      if (since < earliest) return sendError(reply, 'too_far_back', { field: '"since"', max: MAX_DELIVERY_DAYS, earliest: new Date(earliest).toISOString(), value: text });
      try {
        return { since, dropped: await droppedSince(store, since), devices: await store.deliveryReport(since) };
      } catch (error) {
        if (error instanceof StoreBusyError) return sendBusy(reply, error);
        throw error;
      }
    },
  );
};
