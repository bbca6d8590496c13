// One metric's trend as a chart (uPlot, bundled: no CDN): the average per bucket as a line,
// the range from min to max as a band around it, and a gap wherever a bucket holds no data.
// Times on the axis are the district's (its time zone), not the browser's.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { el, setText } from './dom.ts';
import { formatDateTime, timeTick } from './format.ts';
import { STRINGS, type Lang } from './i18n.ts';
import type { TrendColumns } from './trend.ts';

export interface ChartLabels {
  title: string;
  /** Formats a value of the metric with its unit, for the axis and the legend. */
  format: (v: number | null) => string;
  /** The value axis's fixed range (a boolean's share of time true: 0 to 1); else from the data. */
  range?: readonly [number, number];
}

const HEIGHT = 220;

/** A chart in a figure, sized to its container and redrawn when that changes. */
export class TrendChart {
  readonly element: HTMLElement;
  readonly #plotBox: HTMLElement;
  readonly #caption: HTMLElement;
  readonly #summary: HTMLElement;
  #plot: uPlot | null = null;
  readonly #resize: ResizeObserver;

  constructor(testid: string) {
    this.#caption = el('figcaption', { class: 'chart-title' });
    this.#summary = el('p', { class: 'chart-summary' });
    this.#plotBox = el('div', { class: 'chart-plot', role: 'img' });
    this.element = el('figure', { class: 'chart panel', 'data-testid': testid }, this.#caption, this.#plotBox, this.#summary);
    this.#resize = new ResizeObserver(() => {
      if (this.#plot && this.#plotBox.clientWidth > 0) this.#plot.setSize({ width: this.#plotBox.clientWidth, height: HEIGHT });
    });
    this.#resize.observe(this.#plotBox);
  }

  /** Draw (again) with new columns; the old plot is dropped. */
  draw(columns: TrendColumns, labels: ChartLabels, lang: Lang, timeZone: string): void {
    const t = STRINGS[lang];
    setText(this.#caption, labels.title);
    this.element.dataset.metric = columns.metric;
    this.element.dataset.points = String(columns.filled);
    this.element.dataset.gaps = String(columns.avg.filter((v) => v === null).length);
    const numbers = columns.avg.filter((v): v is number => v !== null);
    const lows = columns.min.filter((v): v is number => v !== null);
    const highs = columns.max.filter((v): v is number => v !== null);
    const summary = t.chartSummary(
      labels.format(numbers.length ? numbers.reduce((a, b) => a + b, 0) / numbers.length : null),
      labels.format(lows.length ? Math.min(...lows) : null),
      labels.format(highs.length ? Math.max(...highs) : null),
      columns.filled,
      columns.xs.length,
    );
    setText(this.#summary, summary);
    this.#plotBox.setAttribute('aria-label', `${labels.title}. ${summary}`);
    this.#plot?.destroy();
    const style = getComputedStyle(document.documentElement);
    const line = style.getPropertyValue('--chart-line').trim() || '#38bdf8';
    const band = style.getPropertyValue('--chart-band').trim() || 'rgba(56, 189, 248, 0.18)';
    const ink = style.getPropertyValue('--muted').trim() || '#94a3b8';
    const grid = style.getPropertyValue('--chart-grid').trim() || 'rgba(148, 163, 184, 0.15)';
    const value = (_: uPlot, v: number | null) => labels.format(v);
    const opts: uPlot.Options = {
      width: Math.max(this.#plotBox.clientWidth, 320),
      height: HEIGHT,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), timeZone),
      scales: { x: { time: true }, ...(labels.range ? { y: { range: [labels.range[0], labels.range[1]] as uPlot.Range.MinMax } } : {}) },
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      series: [
        { label: t.chartTime, value: (_: uPlot, v: number | null) => (v === null ? '—' : formatDateTime(v * 1000, timeZone).slice(0, 16)) },
        { label: t.chartMax, stroke: 'transparent', points: { show: false }, value },
        { label: t.chartAvg, stroke: line, width: 2, points: { show: false }, value },
        { label: t.chartMin, stroke: 'transparent', points: { show: false }, value },
      ],
      bands: [{ series: [1, 3], fill: band }],
      axes: [
        { stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid }, values: (_, splits, _axis, _space, step) => splits.map((s) => timeTick(s, step, timeZone)) },
        { stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid }, size: 80, values: (_, splits) => splits.map((v) => labels.format(v)) },
      ],
    };
    this.#plot = new uPlot(opts, [columns.xs, columns.max, columns.avg, columns.min], this.#plotBox);
  }

  destroy(): void {
    this.#resize.disconnect();
    this.#plot?.destroy();
    this.#plot = null;
    this.element.remove();
  }
}
