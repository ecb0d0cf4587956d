// Line charts with uPlot, or the server's SVG plots when uPlot was not built in.

import { h, num } from "./api.js";

/** "uplot" when the library is here (and not turned off with ?svg), else "svg". */
export function chartsMode() {
  const forced = new URLSearchParams(location.search).has("svg");
  return window.uPlot && !forced ? "uplot" : "svg";
}

/** Distinct colours for overlaid series, readable on light and dark backgrounds. */
export const PALETTE = ["#e4572e", "#2e86ab", "#59a14f", "#b07aa1", "#f2a541", "#17becf", "#8c564b", "#d62728", "#7f7f7f", "#bcbd22"];

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/**
 * A line chart of one x axis (steps) and several y series, redrawn as data arrives.
 * Drag to zoom, double-click to zoom out (uPlot's own cursor handling).
 */
export class LineChart {
  /** `series`: [{label, color}]; `log`: a log-scaled y axis. */
  constructor(container, { title, series, log = false, height = 240 }) {
    this.container = container;
    this.title = title;
    this.series = series;
    this.log = log;
    this.height = height;
    this.data = [[], ...series.map(() => [])];
    this.plot = null;
    this.resize = new ResizeObserver(() => this.plot?.setSize(this.size()));
    this.resize.observe(container);
    this.build();
  }

  size() {
    return { width: Math.max(200, this.container.clientWidth), height: this.height };
  }

  build() {
    this.plot?.destroy();
    this.distr = this.yScale().distr || 1;
    const axis = { stroke: css("--fg"), grid: { stroke: css("--grid"), width: 1 }, ticks: { stroke: css("--grid") } };
    const yAxis = { ...axis, grid: { ...axis.grid, filter: decadesOnly }, ticks: { ...axis.ticks, filter: decadesOnly } };
    this.plot = new window.uPlot(
      {
        ...this.size(),
        title: this.title,
        scales: { x: { time: false }, y: this.yScale() },
        axes: [{ ...axis, label: "step" }, { ...yAxis, size: 70, values: (u, ticks) => ticks.map(shortTick), filter: decadesOnly }],
        series: [
          { label: "step" },
          ...this.series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, spanGaps: true, points: { show: false } })),
        ],
        legend: { live: true },
      },
      this.shown(),
      this.container,
    );
  }

  /**
   * The y scale: linear, or logarithmic when asked — which becomes asinh (log-like on both
   * sides of zero) as soon as a value is ≤ 0, e.g. a loss unbounded below.
   */
  yScale() {
    if (!this.log) return {};
    const signed = this.data.slice(1).some((y) => y.some((v) => v !== null && v <= 0));
    return signed ? { distr: 4, asinh: 1 } : { distr: 3 };
  }

  /** The data as drawn: values that are not finite are gaps. */
  shown() {
    const [x, ...ys] = this.data;
    return [x, ...ys.map((y) => y.map((v) => (v !== null && Number.isFinite(v) ? v : null)))];
  }

  /** Draws the data, rebuilding the chart when the scale it needs changed. */
  draw() {
    const distr = this.yScale().distr || 1;
    if (distr !== this.distr) {
      this.distr = distr;
      this.build();
    } else {
      this.plot.setData(this.shown());
    }
  }

  /** Replaces the data: `x` the steps, `ys` one array per series (null for a gap). */
  setData(x, ys) {
    this.data = [x, ...ys.map((y) => y.map(num))];
    this.draw();
  }

  /** Appends one point to every series. */
  push(step, values) {
    this.data[0].push(step);
    values.forEach((v, i) => this.data[i + 1].push(num(v)));
  }

  /** Redraws after pushes (once per animation frame at most). */
  flush() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = null;
      this.draw();
    });
  }

  setLog(log) {
    this.log = log;
    this.build();
  }

  destroy() {
    this.resize.disconnect();
    this.plot?.destroy();
  }
}

/**
 * On log and asinh axes, keep the ticks and grid lines at powers of ten (and zero) only:
 * uPlot also draws 2×, 3×, … 9×, which packs the grid into grey bands.
 */
function decadesOnly(u, splits) {
  if ((u.scales.y.distr ?? 1) === 1) return splits;
  const decade = (v) => v === 0 || Math.abs(Math.log10(Math.abs(v)) % 1) < 1e-9;
  const kept = splits.filter(decade);
  const stride = Math.max(1, Math.ceil(kept.length / 7));
  return splits.map((v) => (decade(v) && kept.indexOf(v) % stride === 0 ? v : null));
}

function shortTick(value) {
  if (value === null) return "";
  const a = Math.abs(value);
  return a !== 0 && (a >= 1e4 || a < 1e-2) ? value.toExponential(0) : String(Number(value.toPrecision(3)));
}

/**
 * A server-drawn SVG plot. It is fetched (not linked) so a running job's figure can be
 * fetched again without a cache-busting query parameter, which the API would refuse.
 */
export class SvgPlot {
  constructor(container, url, alt) {
    this.img = h("img", { class: "svg-plot", alt });
    container.append(this.img);
    this.reload(url);
  }

  async reload(url = this.url) {
    this.url = url;
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) return;
    const svg = await response.text();
    this.img.dataset.src = url;
    this.img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
  }
}
