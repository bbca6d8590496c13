/** A device's history over a time range, aggregated into buckets by the store. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { StoreBusyError } from '../storage/index.ts';
import type { ApiContext } from './context.ts';
import { sendError } from './errors.ts';
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

/** A 503 for a query the store refused as busy (it counted it), with Retry-After. */
export function sendBusy(reply: FastifyReply, error: StoreBusyError) {
  return sendError(reply, 'store_busy', { queued: error.queued, retryAfterS: error.retryAfterS }, { 'retry-after': error.retryAfterS });
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
      if (!entry) return sendError(reply, 'unknown_device', { deviceId: request.params.deviceId });
      const to = parseTime(request.query.to, Date.now());
      if (to === null) return sendError(reply, 'bad_time', { field: 'to', value: request.query.to ?? '' });
      const from = parseTime(request.query.from, to - 3_600_000);
      if (from === null) return sendError(reply, 'bad_time', { field: 'from', value: request.query.from ?? '' });
      if (from >= to) return sendError(reply, 'range_backwards', { from: new Date(from).toISOString(), to: new Date(to).toISOString() });
      const bucketSeconds = request.query.bucket ?? Math.max(10, Math.ceil((to - from) / 1000 / 120));
      if ((to - from) / (bucketSeconds * 1000) > MAX_BUCKETS) return sendError(reply, 'too_many_buckets', { max: MAX_BUCKETS });
      if (to - from > MAX_HISTORY_DAYS * DAY_MS) return sendError(reply, 'range_too_long', { days: Math.ceil((to - from) / DAY_MS), max: MAX_HISTORY_DAYS });
      const requested = request.query.metric === undefined ? undefined : [request.query.metric].flat();
      const units = new Map(entry.profile.metrics.map((m) => [m.name, m.unit]));
      const unknown = requested?.find((m) => !units.has(m));
      if (unknown) return sendError(reply, 'unknown_metric', { deviceId: entry.record.id, metric: unknown });

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
        if (error instanceof StoreBusyError) return sendBusy(reply, error);
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
