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
 * How values map to the y axis. uPlot's own log scale hangs on ranges wider than its tick
 * table (about 1e-16…1e16, easily passed by a loss converging to 1e-59 or diverging to
 * -1e41), so the chart draws transformed values on a linear scale and labels the ticks with
 * the original ones.
 */
const AXES = {
  linear: { to: (v) => v, from: (y) => y },
  log: { to: (v) => Math.log10(v), from: (y) => Math.pow(10, y) },
  // Log-like on both sides of zero and linear near it: asinh(v/2) / ln 10 ≈ ±log10|v|.
  symlog: { to: (v) => Math.asinh(v / 2) / Math.LN10, from: (y) => 2 * Math.sinh(y * Math.LN10) },
};
const MAX_TICKS = 7;

/**
 * A line chart of one x axis (steps) and several y series, redrawn as data arrives.
 * Drag to zoom, double-click to zoom out (uPlot's own cursor handling).
 */
export class LineChart {
  /** `series`: [{label, color}]; `log`: a logarithmic y axis (symmetric-log if a value is ≤ 0). */
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

  /** The y axis the data needs now. */
  axisKind() {
    if (!this.log) return "linear";
    const signed = this.data.slice(1).some((y) => y.some((v) => v !== null && v <= 0));
    return signed ? "symlog" : "log";
  }

  build() {
    this.plot?.destroy();
    this.kind = this.axisKind();
    const { from } = AXES[this.kind];
    const axis = { stroke: css("--fg"), grid: { stroke: css("--grid"), width: 1 }, ticks: { stroke: css("--grid") } };
    const yAxis =
      this.kind === "linear"
        ? { ...axis, size: 70, values: (u, ticks) => ticks.map(shortTick) }
        : { ...axis, size: 70, splits: (u, i, min, max) => niceSplits(this.kind, min, max), values: (u, ticks) => ticks.map((t) => shortTick(from(t))) };
    this.plot = new window.uPlot(
      {
        ...this.size(),
        title: this.title,
        scales: { x: { time: false } },
        axes: [{ ...axis, label: "step" }, yAxis],
        series: [
          { label: "step" },
          ...this.series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 1.5,
            spanGaps: true,
            points: { show: false },
            value: (u, y) => (y === null ? "--" : shortTick(from(y))),
          })),
        ],
        legend: { live: true },
      },
      this.shown(),
      this.container,
    );
  }

  /** The data as drawn: transformed for the axis; values that are not finite are gaps. */
  shown() {
    const { to } = AXES[this.kind ?? this.axisKind()];
    const [x, ...ys] = this.data;
    return [x, ...ys.map((y) => y.map((v) => (v !== null && Number.isFinite(v) && Number.isFinite(to(v)) ? to(v) : null)))];
  }

  /** Draws the data, rebuilding the chart when the axis it needs changed. */
  draw() {
    if (this.axisKind() !== this.kind) this.build();
    else this.plot.setData(this.shown());
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

/** Tick positions (in axis units) at powers of ten (and zero), at most MAX_TICKS of them. */
function niceSplits(kind, min, max) {
  const { to } = AXES[kind];
  let values = [];
  if (kind === "log") {
    for (let k = Math.ceil(min); k <= Math.floor(max); k++) values.push(Math.pow(10, k));
  } else {
    const top = Math.ceil(Math.max(Math.abs(min), Math.abs(max)) * 1.1) + 1;
    for (let k = top; k >= 0; k--) values.push(-Math.pow(10, k));
    values.push(0);
    for (let k = 0; k <= top; k++) values.push(Math.pow(10, k));
  }
  values = values.map(to).filter((y) => y >= min && y <= max);
  if (values.length < 2) return [min, max];
  const stride = Math.ceil(values.length / MAX_TICKS);
  return values.filter((_, i) => i % stride === 0);
}

function shortTick(value) {
  if (value === null || value === undefined) return "";
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
