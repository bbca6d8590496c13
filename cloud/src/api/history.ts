/**
 * A device's history over a time range, aggregated into buckets by the store.
 *
 * When the question names no bucket width, the route picks one from BUCKET_LADDER_S: the
 * smallest that keeps the answer within MAX_POINTS buckets per metric and that the store
 * holds for the whole range (its historyTiers(): raw rows for a week, 1-minute rollups for a
 * week, 15-minute for 35 days, 1-hour for 400 by default). So a chart of the last hour gets
 * 10 s buckets from raw rows, today 5 min, a week 1 h, a month 3 h, each from the coarsest
 * rollup that fits; a day three weeks ago gets 15 min rather than 5 min its raw rows and
 * 1-minute rollups no longer hold. The range is then widened to whole buckets (from rounded
 * down, to up, both said in the answer), so no bucket at either end is partial. Buckets are
 * aligned to the epoch (UTC), as the dashboard's chart grid expects.
 *
 * A named bucket is kept as asked (any width, the range as given).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { StoreBusyError, type HistoryTier } from '../storage/index.ts';
import type { ApiContext } from './context.ts';
import { sendError } from './errors.ts';
import { DeviceParams, ErrorBody, History, HistoryQuerystring } from '@schoolops/device-profiles/api';

/** Most buckets one answer may hold per metric, so a careless query cannot ask for millions. */
const MAX_BUCKETS = 5_000;
/**
 * Longest range one question may span: a school term is the longest view the dashboard has a
 * use for, and a chosen bucket then stays within MAX_POINTS (92 days in 6 h buckets: 368).
 */
export const MAX_HISTORY_DAYS = 92;
const DAY_MS = 86_400_000;

/** Bucket widths (seconds) the route picks from when the question names none, smallest first. */
export const BUCKET_LADDER_S = [10, 60, 300, 900, 3_600, 10_800, 21_600, 86_400] as const;
/** Most buckets per metric an answer with a chosen bucket holds: enough for a chart's width. */
export const MAX_POINTS = 400;

/** Raw rows only, for ever: what a store that says nothing about its tiers can answer. */
const RAW_ONLY: HistoryTier[] = [{ name: 'raw', bucketMs: 1, since: Number.NEGATIVE_INFINITY }];

const floorTo = (x: number, w: number) => x - (((x % w) + w) % w);
const ceilTo = (x: number, w: number) => -floorTo(-x, w);

/** [from, to) widened to whole buckets of w ms. */
export function wholeBuckets(from: number, to: number, w: number): { from: number; to: number } {
  return { from: floorTo(from, w), to: ceilTo(to, w) };
}

/**
 * The bucket width (seconds) for [from, to): the smallest rung of BUCKET_LADDER_S with at most
 * MAX_POINTS whole buckets whose width some tier divides and holds from the range's start.
 * A range older than every tier keeps gets the fewest buckets the coarsest tier could serve.
 */
export function chooseBucketSeconds(from: number, to: number, tiers: readonly HistoryTier[] = RAW_ONLY): number {
  const fits = BUCKET_LADDER_S.filter((s) => {
    const range = wholeBuckets(from, to, s * 1000);
    return (range.to - range.from) / (s * 1000) <= MAX_POINTS;
  });
  const served = (s: number, tier: HistoryTier) => (s * 1000) % tier.bucketMs === 0;
  const held = fits.find((s) => tiers.some((tier) => served(s, tier) && tier.since <= wholeBuckets(from, to, s * 1000).from));
  if (held !== undefined) return held;
  const longest = tiers.reduce((a, b) => (b.since < a.since ? b : a), tiers[0] ?? RAW_ONLY[0]!);
  return fits.find((s) => served(s, longest)) ?? BUCKET_LADDER_S.at(-1)!;
}

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

export const historyRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { district, store, now = Date.now }) => {
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
      const to = parseTime(request.query.to, now());
      if (to === null) return sendError(reply, 'bad_time', { field: 'to', value: request.query.to ?? '' });
      const from = parseTime(request.query.from, to - 3_600_000);
      if (from === null) return sendError(reply, 'bad_time', { field: 'from', value: request.query.from ?? '' });
      if (from >= to) return sendError(reply, 'range_backwards', { from: new Date(from).toISOString(), to: new Date(to).toISOString() });
      const named = request.query.bucket;
      if (named !== undefined && (to - from) / (named * 1000) > MAX_BUCKETS) return sendError(reply, 'too_many_buckets', { max: MAX_BUCKETS });
      if (to - from > MAX_HISTORY_DAYS * DAY_MS) return sendError(reply, 'range_too_long', { days: Math.ceil((to - from) / DAY_MS), max: MAX_HISTORY_DAYS });
      const bucketSeconds = named ?? chooseBucketSeconds(from, to, store.historyTiers?.());
      const range = named === undefined ? wholeBuckets(from, to, bucketSeconds * 1000) : { from, to };
      const requested = request.query.metric === undefined ? undefined : [request.query.metric].flat();
      const units = new Map(entry.profile.metrics.map((m) => [m.name, m.unit]));
      const unknown = requested?.find((m) => !units.has(m));
      if (unknown) return sendError(reply, 'unknown_metric', { deviceId: entry.record.id, metric: unknown });

      let buckets;
      try {
        buckets = await store.history({
          deviceId: entry.record.id,
          ...(requested ? { metrics: requested } : {}),
          from: range.from,
          to: range.to,
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
        from: range.from,
        to: range.to,
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
