// The school's internet, as school IT reads it: inbound and outbound bit/s and the link's
// utilisation over today (5-minute buckets), with the day's peak and 95th percentile (the
// figure links are sized and billed by), and the probe's latency, loss and DNS time. Shown to
// roles that may see the link (the cloud leaves its devices out for the others anyway).

import { HttpError, fetchHistory, type DeviceView, type History } from './api.ts';
import { TrendChart } from './chart.ts';
import { chartValue, metricLabel } from './device-values.ts';
import { el, setText } from './dom.ts';
import { STRINGS } from './i18n.ts';
import { networkRole, peakAndP95 } from './school-problems.ts';
import { rangeFor, trendColumns } from './trend.ts';
import type { RenderContext } from './view.ts';

const BUCKET_S = 300;
const REFRESH_MS = 60_000;
const ROUTER_METRICS = ['inBps', 'outBps', 'utilisationIn', 'utilisationOut'];
const PROBE_METRICS = ['latencyMs', 'lossPct', 'dnsMs'];
/** The figures with a peak and a 95th percentile. */
const RATE_METRICS = ['inBps', 'outBps'];

let idCounter = 0;

export class InternetPanel {
  readonly element: HTMLElement;
  readonly #heading: HTMLElement;
  readonly #note: HTMLElement;
  readonly #figures: HTMLElement;
  readonly #charts: HTMLElement;
  readonly #chartMap = new Map<string, TrendChart>();
  #schoolId: string | null = null;
  #router: string | null = null;
  #probe: string | null = null;
  #histories: History[] = [];
  #problem: string | null = null;
  #loading = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #generation = 0;
  #ctx: RenderContext | null = null;

  constructor() {
    const id = `sv-internet-${++idCounter}`;
    this.#heading = el('h3', { id });
    this.#note = el('p', { class: 'dp-charts-note', role: 'status', 'data-testid': 'internet-note' });
    this.#figures = el('dl', { class: 'internet-figures', 'data-testid': 'internet-figures' });
    this.#charts = el('div', { class: 'dp-charts' });
    this.element = el('section', { class: 'panel sv-internet', 'aria-labelledby': id, 'data-testid': 'internet-panel' }, this.#heading, this.#figures, this.#note, this.#charts);
    this.element.hidden = true;
  }

  /** Show the internet of this school (its router and probe among `devices`), loading today's history when the school changes. */
  show(schoolId: string, devices: readonly DeviceView[], ctx: RenderContext): void {
    this.#ctx = ctx;
    const router = devices.find((d) => networkRole(d) === 'router')?.id ?? null;
    const probe = devices.find((d) => networkRole(d) === 'probe')?.id ?? null;
    this.element.hidden = router === null && probe === null;
    if (schoolId !== this.#schoolId || router !== this.#router || probe !== this.#probe) {
      this.#schoolId = schoolId;
      this.#router = router;
      this.#probe = probe;
      this.#histories = [];
      for (const chart of this.#chartMap.values()) chart.destroy();
      this.#chartMap.clear();
      void this.#load();
    }
    this.#render();
  }

  hide(): void {
    this.element.hidden = true;
    this.#generation += 1;
    clearTimeout(this.#timer);
    this.#schoolId = null;
  }

  async #load(): Promise<void> {
    clearTimeout(this.#timer);
    const ctx = this.#ctx;
    if (ctx === null || this.#schoolId === null) return;
    const generation = ++this.#generation;
    const range = rangeFor('today', ctx.now, ctx.timeZone);
    if (!range.ok) return;
    this.#loading = true;
    const asks: Array<[string, string[]]> = [];
    if (this.#router) asks.push([this.#router, ROUTER_METRICS]);
    if (this.#probe) asks.push([this.#probe, PROBE_METRICS]);
    try {
      const histories = await Promise.all(asks.map(([id, metrics]) => fetchHistory(id, { from: range.from, to: range.to, bucketSeconds: BUCKET_S, metrics })));
      if (generation !== this.#generation) return;
      this.#histories = histories;
      this.#problem = null;
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#problem = error instanceof HttpError ? error.text(ctx.lang) : String((error as Error).message ?? error);
    }
    this.#loading = false;
    this.#render();
    this.#timer = setTimeout(() => void this.#load(), REFRESH_MS);
  }

  #render(): void {
    const ctx = this.#ctx;
    if (ctx === null || this.element.hidden) return;
    const t = STRINGS[ctx.lang];
    setText(this.#heading, t.internetHeading);
    const note = this.#problem !== null ? t.chartsError(this.#problem) : this.#loading && this.#histories.length === 0 ? t.chartsLoading : t.internetNote;
    setText(this.#note, note);
    const figures: HTMLElement[] = [];
    for (const history of this.#histories) {
      for (const series of history.series) {
        const columns = trendColumns(history, series.metric);
        if (columns === null) continue;
        const format = (v: number | null) => chartValue(series.metric, v, ctx.lang, false);
        if (RATE_METRICS.includes(series.metric)) {
          // The peak is the highest sample; the 95th percentile is over the 5-minute averages, as links are billed.
          const peak = peakAndP95(columns.max).peak;
          const p95Avg = peakAndP95(columns.avg).p95;
          figures.push(
            el('dt', {}, metricLabel(series.metric, ctx.lang)),
            el('dd', { 'data-metric': series.metric, 'data-peak': String(peak ?? ''), 'data-p95': String(p95Avg ?? '') }, t.internetPeak(format(peak), format(p95Avg))),
          );
        }
        let chart = this.#chartMap.get(series.metric);
        if (!chart) {
          chart = new TrendChart(`internet-chart-${series.metric}`);
          this.#chartMap.set(series.metric, chart);
          this.#charts.append(chart.element);
        }
        chart.draw(columns, { title: `${metricLabel(series.metric, ctx.lang)}${columns.unit ? ` (${columns.unit})` : ''}`, format }, ctx.lang, ctx.timeZone);
      }
    }
    this.#figures.replaceChildren(...figures);
  }
}
