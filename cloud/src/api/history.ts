/** A device's history over a time range, aggregated into buckets by the store. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiContext } from './context.ts';
import { DeviceParams, ErrorBody, History, HistoryQuerystring } from './schemas.ts';

/** Most buckets one answer may hold per metric, so a careless query cannot ask for millions. */
const MAX_BUCKETS = 5_000;

function parseTime(text: string | undefined, fallback: number): number | null {
  if (text === undefined) return fallback;
  if (/^\d+$/.test(text)) return Number(text);
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
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
        response: { 200: History, 400: ErrorBody, 404: ErrorBody },
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
      const requested = request.query.metric === undefined ? undefined : [request.query.metric].flat();
      const units = new Map(entry.profile.metrics.map((m) => [m.name, m.unit]));
      const unknown = requested?.find((m) => !units.has(m));
      if (unknown) return bad(`device ${entry.record.id} has no metric "${unknown}"`);

      const buckets = await store.history({
        deviceId: entry.record.id,
        ...(requested ? { metrics: requested } : {}),
        from,
        to,
        bucketMs: bucketSeconds * 1000,
      });
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
