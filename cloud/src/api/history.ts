/** A device's history over a time range, aggregated into buckets by the store. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { StoreBusyError } from '../storage/index.ts';
import type { ApiContext } from './context.ts';
import { DeviceParams, ErrorBody, History, HistoryQuerystring } from '@schoolops/device-profiles/api';

/** Most buckets one answer may hold per metric, so a careless query cannot ask for millions. */
const MAX_BUCKETS = 5_000;
/**
 * Longest range one question may span. The store reads raw rows (no rollups yet), so a range
 * of centuries with a wide bucket was a scan of everything the district ever stored; a
 * school term is the longest view the dashboard has a use for.
 */
export const MAX_HISTORY_DAYS = 92;
const DAY_MS = 86_400_000;

/** ms since the epoch, or null when the text is not a time a safe integer can hold. */
export function parseTime(text: string | undefined, fallback: number): number | null {
  if (text === undefined) return fallback;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  return Number.isSafeInteger(ms) ? ms : null;
}

/** The body of a 503 for a query the store refused as busy (it counted it); Retry-After goes with it. */
export function busyBody(error: StoreBusyError) {
  return { statusCode: 503, error: 'Service Unavailable', message: error.message };
}

export const historyRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { district, store }) => {
  app.get(
    '/devices/:deviceId/history',
    {
      schema: {
        tags: ['devices'],
        summary: 'Bucketed history of a device (avg/min/max/count/last per bucket)',
        params: DeviceParams,
        querystring: HistoryQuerystring,
        response: { 200: History, 400: ErrorBody, 404: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const entry = district.devices.get(request.params.deviceId);
      if (!entry) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no device "${request.params.deviceId}"` });
      const bad = (message: string) => reply.code(400).send({ statusCode: 400, error: 'Bad Request', message });
      const to = parseTime(request.query.to, Date.now());
      if (to === null) return bad(`"to" is not a time: ${request.query.to}`);
      const from = parseTime(request.query.from, to - 3_600_000);
      if (from === null) return bad(`"from" is not a time: ${request.query.from}`);
      if (from >= to) return bad('"from" must be before "to"');
      const bucketSeconds = request.query.bucket ?? Math.max(10, Math.ceil((to - from) / 1000 / 120));
      if ((to - from) / (bucketSeconds * 1000) > MAX_BUCKETS) return bad(`that range holds more than ${MAX_BUCKETS} buckets; use a wider bucket`);
      if (to - from > MAX_HISTORY_DAYS * DAY_MS)
        return bad(`that range spans ${Math.ceil((to - from) / DAY_MS)} days; one question may span at most ${MAX_HISTORY_DAYS} days: ask for it in parts`);
      const requested = request.query.metric === undefined ? undefined : [request.query.metric].flat();
      const units = new Map(entry.profile.metrics.map((m) => [m.name, m.unit]));
      const unknown = requested?.find((m) => !units.has(m));
      if (unknown) return bad(`device ${entry.record.id} has no metric "${unknown}"`);

      let buckets;
      try {
        buckets = await store.history({
          deviceId: entry.record.id,
          ...(requested ? { metrics: requested } : {}),
          from,
          to,
          bucketMs: bucketSeconds * 1000,
        });
      } catch (error) {
        if (error instanceof StoreBusyError) return reply.code(503).header('retry-after', String(error.retryAfterS)).send(busyBody(error));
        throw error;
      }
      const series = new Map<string, typeof buckets>();
      for (const bucket of buckets) {
        const points = series.get(bucket.metric) ?? [];
        points.push(bucket);
        series.set(bucket.metric, points);
      }
      return {
        deviceId: entry.record.id,
        from,
        to,
        bucketSeconds,
        series: [...series].map(([metric, points]) => ({
          metric,
          unit: units.get(metric) ?? '',
          points: points.map(({ t, count, avg, min, max, last }) => ({ t, count, avg, min, max, last })),
        })),
      };
    },
  );
};
