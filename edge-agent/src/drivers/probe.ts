/**
 * The internet link probe: runs on the gateway and measures the school's link (latency,
 * jitter, loss, DNS, the services schools depend on, now and then throughput).
 *
 * A link that is down is a measurement, not a driver failure: the probe still answers,
 * with wanUp=false and lossPct=100, so the district sees "school offline" rather than
 * "probe unreachable". The poll fails (DriverError) only for configuration that cannot
 * work or a bug of its own. Each check is bounded by its own timer, so a poll always ends
 * within pollTimeoutMs, whatever the network does.
 */
import { metricsOf, type MetricValues } from '@schoolops/device-profiles';
import { checkDns, type DnsResult } from './probe-dns.ts';
import { checkHttp, measureThroughput, type HttpCheckResult, type ThroughputResult } from './probe-http.ts';
import { measureLatency, type Clock, type LatencyResult } from './probe-latency.ts';
import { ProbeOptions, assertUsable, pollBoundMs, resolveSettings, type ProbeSettings } from './probe-options.ts';
import { DriverError, type Driver } from './types.ts';

export { ProbeOptions } from './probe-options.ts';

/** After a failed throughput test, try again sooner than the usual interval (at most this). */
const THROUGHPUT_RETRY_S = 300;
/** With every latency probe lost, how much longer DNS and HTTP checks may take. */
export const DEAD_LINE_GRACE_MS = 1_000;

interface PollResults {
  latency?: LatencyResult;
  dns?: DnsResult;
  http?: HttpCheckResult[];
  throughput?: ThroughputResult;
}

/** Turn the checks' results into the profile's metrics (names are fixed, so HTTP is aggregated). */
export function toMetrics(r: PollResults): MetricValues {
  const values: MetricValues = {};
  const httpAnswered = r.http?.some((c) => c.answered) ?? false;
  // DNS alone does not prove the WAN: a school router's resolver answers from its cache
  // while the line is down. It decides only when it is the only check.
  const overWan = r.latency !== undefined || r.http !== undefined || r.throughput !== undefined;
  values.wanUp = (r.latency?.answered ?? 0) > 0 || httpAnswered || r.throughput?.ok === true || (!overWan && (r.dns?.answered ?? 0) > 0);
  if (r.latency) {
    values.lossPct = r.latency.lossPct;
    if (r.latency.latencyMs !== undefined) values.latencyMs = r.latency.latencyMs;
    if (r.latency.jitterMs !== undefined) values.jitterMs = r.latency.jitterMs;
  }
  if (r.dns) {
    values.dnsFailed = r.dns.failed;
    if (r.dns.meanMs !== undefined) values.dnsMs = r.dns.meanMs;
  }
  if (r.http) {
    values.httpOk = r.http.every((c) => c.ok);
    values.httpFailed = r.http.filter((c) => !c.ok).length;
    // The slowest service is what teachers notice; an average would hide it.
    const times = r.http.flatMap((c) => (c.ms !== undefined ? [c.ms] : []));
    if (times.length) values.httpMs = Math.max(...times);
  }
  if (r.throughput?.ok) values.throughputMbps = Math.round(r.throughput.mbps * 100) / 100;
  return values;
}

/**
 * Aborted when either signal is. Hand-made rather than AbortSignal.any(), which on Node 20
 * keeps every composed signal alive as long as its sources (nodejs/node#54614): one per
 * poll, tied to the agent's lifetime signal, would be a slow leak.
 */
function eitherSignal(a: AbortSignal, b: AbortSignal): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const onA = () => controller.abort(a.reason);
  const onB = () => controller.abort(b.reason);
  if (a.aborted) onA();
  else if (b.aborted) onB();
  else {
    a.addEventListener('abort', onA, { once: true });
    b.addEventListener('abort', onB, { once: true });
  }
  return {
    signal: controller.signal,
    done: () => {
      a.removeEventListener('abort', onA);
      b.removeEventListener('abort', onB);
    },
  };
}

export interface ProbeDriverDeps {
  /**
   * Monotonic ms (default performance.now): times every check, and says when the next
   * throughput test is due. Tests give their own to check the arithmetic without a stopwatch.
   */
  now?: Clock;
}

export function createProbeDriver(deps: ProbeDriverDeps = {}): Driver<'probe', ProbeOptions> {
  const now: Clock = deps.now ?? (() => performance.now());
  return {
    protocol: 'probe',
    mode: 'poll',
    options: ProbeOptions,

    pollTimeoutMs(device) {
      return pollBoundMs(resolveSettings(device));
    },

    open(ctx) {
      const settings: ProbeSettings = resolveSettings(ctx.device);
      assertUsable(settings, ctx.device);
      // Report only what the device's profile declares: the agent refuses a reading with an unknown metric.
      const declared = new Set(metricsOf(ctx.device.profile).keys());
      /** When the next throughput test is due, on `now` (the first poll runs one). */
      let throughputDueAt = -Infinity;

      return {
        async poll(signal) {
          const { signal: run, done } = eitherSignal(signal, ctx.signal);
          // Cut short when the line is dead: DNS and HTTP then end as failed (not thrown).
          const cut = new AbortController();
          const { signal: checks, done: checksDone } = eitherSignal(run, cut.signal);
          let grace: NodeJS.Timeout | undefined;
          try {
            const [latency, dns, http] = await Promise.all([
              settings.latency
                ? measureLatency(settings.latency, run, now).then((r) => {
                    // Every probe lost: the line is most likely down, and DNS and HTTP checks
                    // would only wait out their timeouts (5 s by default), delaying the news.
                    // A line that drops only the probes still gets DEAD_LINE_GRACE_MS for
                    // its services to answer (they are then the proof the WAN is up).
                    if (r.answered === 0) grace = setTimeout(() => cut.abort(), DEAD_LINE_GRACE_MS);
                    return r;
                  })
                : undefined,
              settings.dns ? checkDns(settings.dns, checks, now) : undefined,
              settings.http ? Promise.all(settings.http.checks.map((c) => checkHttp(c, checks, now))) : undefined,
            ]);
            clearTimeout(grace);
            let throughput: ThroughputResult | undefined;
            const t = settings.throughput;
            if (t && now() >= throughputDueAt && !run.aborted) {
              throughput = await measureThroughput(t, run, now);
              const wait = throughput.ok ? t.everySeconds : Math.min(t.everySeconds, THROUGHPUT_RETRY_S);
              throughputDueAt = now() + wait * 1000;
              if (!throughput.ok) ctx.logger.debug({ error: throughput.error }, 'throughput test failed');
            }
            run.throwIfAborted();
            for (const c of http ?? []) if (!c.ok) ctx.logger.debug({ check: c.name, status: c.status, error: c.error }, 'http check failed');
            const values = toMetrics({
              ...(latency ? { latency } : {}),
              ...(dns ? { dns } : {}),
              ...(http ? { http } : {}),
              ...(throughput ? { throughput } : {}),
            });
            for (const name of Object.keys(values)) if (!declared.has(name)) delete values[name];
            return values;
          } catch (error) {
            if (run.aborted) throw run.reason;
            throw new DriverError('protocol_error', `probe failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
          } finally {
            clearTimeout(grace);
            checksDone();
            done();
          }
        },
        // Every poll opens and closes its own sockets: nothing outlives it.
        async close() {},
      };
    },
  };
}

export const probeDriver: Driver<'probe', ProbeOptions> = createProbeDriver();
