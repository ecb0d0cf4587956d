// A 2-D objective drawn as shaded contours from POST /v1/landscape, with optimization paths,
// known minima and an escape direction on top. Drag a box to zoom in (the landscape is
// sampled again for the new box), double-click or "Reset" to zoom out.

import { api, h, num } from "./api.js";

const GRID = 120;
const LEVELS = 18;
const MARGIN = { left: 48, right: 10, top: 10, bottom: 28 };

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

export class ContourPlot {
  /**
   * `problem`: the job's problem config; `point`: a point of the problem (fixes n and the
   * other coordinates); `paths`: [{label, color, xs, ys}].
   */
  constructor(container, { problem, point }) {
    this.problem = problem;
    this.point = point;
    this.paths = [];
    this.minima = [];
    this.arrow = null;
    this.grid = null;
    this.canvas = h("canvas", { class: "contour", "aria-label": "trajectory over the contours of the objective" });
    this.status = h("span", { class: "muted" });
    const reset = h("button", { type: "button", class: "small", onclick: () => this.resetZoom() }, "Reset zoom");
    const zoomIn = h("button", { type: "button", class: "small", onclick: () => this.zoomBy(0.5) }, "+");
    const zoomOut = h("button", { type: "button", class: "small", onclick: () => this.zoomBy(2) }, "−");
    container.append(h("div", { class: "toolbar" }, zoomIn, zoomOut, reset, this.status), this.canvas);
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.canvas);
    this.listen();
  }

  /**
   * Sets the paths (and optionally markers), fits the view to them — within `domain`, a
   * builtin's recommended box, so a diverging run does not hide the landscape — and samples
   * the landscape.
   */
  async show({ paths, minima = [], arrow = null, domain = null }) {
    this.paths = paths;
    this.minima = minima;
    this.arrow = arrow;
    const points = paths.flatMap((p) => p.xs.map((x, i) => [x, p.ys[i]]));
    const box = fitBox([...nearest(points, 0.9), ...minima, ...(arrow ? [arrow.at] : [])]);
    this.home = domain ? { x: within(box.x, domain[0]), y: within(box.y, domain[1]) } : box;
    await this.load(this.home);
  }

  async load(box) {
    this.box = box;
    this.status.textContent = "sampling the landscape…";
    const landscape = await api("POST", "/v1/landscape", {
      problem: this.problem,
      point: this.point,
      x_range: box.x,
      y_range: box.y,
      resolution: [GRID, GRID],
    });
    this.grid = {
      xs: landscape.xs,
      ys: landscape.ys,
      values: landscape.values.map((row) => row.map(num)),
      names: landscape.axis_names,
    };
    this.image = null;
    this.status.textContent = `${landscape.axis_names[0]} ∈ [${short(box.x[0])}, ${short(box.x[1])}], ${landscape.axis_names[1]} ∈ [${short(box.y[0])}, ${short(box.y[1])}]`;
    this.draw();
  }

  resetZoom() {
    if (this.home) this.load(this.home);
  }

  zoomBy(factor) {
    if (!this.box) return;
    const scale = ([lo, hi]) => {
      const mid = (lo + hi) / 2;
      const half = ((hi - lo) / 2) * factor;
      return [mid - half, mid + half];
    };
    this.load({ x: scale(this.box.x), y: scale(this.box.y) });
  }

  /** Pixel ↔ data mapping of the current box and canvas size. */
  frame() {
    const width = this.canvas.clientWidth;
    const height = this.canvas.clientHeight;
    const plotW = width - MARGIN.left - MARGIN.right;
    const plotH = height - MARGIN.top - MARGIN.bottom;
    const [x0, x1] = this.box.x;
    const [y0, y1] = this.box.y;
    return {
      width,
      height,
      plotW,
      plotH,
      px: (x) => MARGIN.left + ((x - x0) / (x1 - x0)) * plotW,
      py: (y) => MARGIN.top + (1 - (y - y0) / (y1 - y0)) * plotH,
      dx: (px) => x0 + ((px - MARGIN.left) / plotW) * (x1 - x0),
      dy: (py) => y0 + (1 - (py - MARGIN.top) / plotH) * (y1 - y0),
    };
  }

  draw() {
    if (!this.grid || !this.canvas.isConnected) return;
    const dpr = window.devicePixelRatio || 1;
    const f = this.frame();
    if (f.plotW <= 0 || f.plotH <= 0) return;
    this.canvas.width = Math.round(f.width * dpr);
    this.canvas.height = Math.round(f.height * dpr);
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, f.width, f.height);

    const levels = contourLevels(this.grid.values);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(this.shading(levels), f.px(this.grid.xs[0]), f.py(this.grid.ys.at(-1)), f.plotW, f.plotH);
    this.drawContours(ctx, f, levels);
    this.drawAxes(ctx, f);
    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.left, MARGIN.top, f.plotW, f.plotH);
    ctx.clip();
    for (const path of this.paths) drawPath(ctx, f, path);
    for (const [x, y] of this.minima) cross(ctx, f.px(x), f.py(y), css("--fg"));
    if (this.arrow) drawArrow(ctx, f, this.arrow, this.box);
    ctx.restore();
    if (this.selection) {
      const { from, to } = this.selection;
      ctx.strokeStyle = css("--accent");
      ctx.setLineDash([4, 3]);
      ctx.strokeRect(from[0], from[1], to[0] - from[0], to[1] - from[1]);
      ctx.setLineDash([]);
    }
  }

  /** The grid shaded by level band, as an image of GRID × GRID pixels (cached per grid). */
  shading(levels) {
    if (this.image) return this.image;
    const { xs, ys, values } = this.grid;
    const image = document.createElement("canvas");
    image.width = xs.length;
    image.height = ys.length;
    const ctx = image.getContext("2d");
    const pixels = ctx.createImageData(xs.length, ys.length);
    const dark = matchMedia("(prefers-color-scheme: dark)").matches;
    for (let j = 0; j < ys.length; j++) {
      for (let i = 0; i < xs.length; i++) {
        const v = values[j][i];
        const band = levels.findIndex((level) => v < level);
        const t = band < 0 ? 1 : band / levels.length;
        const [r, g, b] = shade(Number.isFinite(v) ? t : 1, dark);
        const k = ((ys.length - 1 - j) * xs.length + i) * 4;
        pixels.data.set([r, g, b, 255], k);
      }
    }
    ctx.putImageData(pixels, 0, 0);
    this.image = image;
    return image;
  }

  /** Contour lines by marching squares, one segment per crossed cell and level. */
  drawContours(ctx, f, levels) {
    const { xs, ys, values } = this.grid;
    ctx.strokeStyle = css("--contour");
    ctx.lineWidth = 0.8;
    ctx.beginPath();
    for (const level of levels) {
      for (let j = 0; j + 1 < ys.length; j++) {
        for (let i = 0; i + 1 < xs.length; i++) {
          const corners = [
            [xs[i], ys[j], values[j][i]],
            [xs[i + 1], ys[j], values[j][i + 1]],
            [xs[i + 1], ys[j + 1], values[j + 1][i + 1]],
            [xs[i], ys[j + 1], values[j + 1][i]],
          ];
          const crossings = [];
          for (let e = 0; e < 4; e++) {
            const [ax, ay, av] = corners[e];
            const [bx, by, bv] = corners[(e + 1) % 4];
            if (!Number.isFinite(av) || !Number.isFinite(bv)) continue;
            if ((av < level) !== (bv < level)) {
              const t = (level - av) / (bv - av);
              crossings.push([ax + t * (bx - ax), ay + t * (by - ay)]);
            }
          }
          for (let c = 0; c + 1 < crossings.length; c += 2) {
            ctx.moveTo(f.px(crossings[c][0]), f.py(crossings[c][1]));
            ctx.lineTo(f.px(crossings[c + 1][0]), f.py(crossings[c + 1][1]));
          }
        }
      }
    }
    ctx.stroke();
  }

  drawAxes(ctx, f) {
    ctx.strokeStyle = css("--grid");
    ctx.strokeRect(MARGIN.left, MARGIN.top, f.plotW, f.plotH);
    ctx.fillStyle = css("--fg");
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    for (const x of ticks(this.box.x)) ctx.fillText(short(x), f.px(x), f.height - MARGIN.bottom + 14);
    ctx.textAlign = "right";
    for (const y of ticks(this.box.y)) ctx.fillText(short(y), MARGIN.left - 4, f.py(y) + 4);
    ctx.textAlign = "center";
    ctx.fillText(this.grid.names[0], MARGIN.left + f.plotW / 2, f.height - 2);
    ctx.save();
    ctx.translate(10, MARGIN.top + f.plotH / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(this.grid.names[1], 0, 0);
    ctx.restore();
  }

  /** Drag a box to zoom, double-click to reset. */
  listen() {
    const at = (event) => {
      const rect = this.canvas.getBoundingClientRect();
      return [event.clientX - rect.left, event.clientY - rect.top];
    };
    this.canvas.addEventListener("pointerdown", (event) => {
      if (!this.box) return;
      this.selection = { from: at(event), to: at(event) };
      this.canvas.setPointerCapture(event.pointerId);
    });
    this.canvas.addEventListener("pointermove", (event) => {
      if (!this.selection) return;
      this.selection.to = at(event);
      this.draw();
    });
    this.canvas.addEventListener("pointerup", () => {
      const selection = this.selection;
      this.selection = null;
      if (!selection) return;
      const [ax, ay] = selection.from;
      const [bx, by] = selection.to;
      if (Math.abs(bx - ax) < 8 || Math.abs(by - ay) < 8) return this.draw();
      const f = this.frame();
      const x = [f.dx(Math.min(ax, bx)), f.dx(Math.max(ax, bx))];
      const y = [f.dy(Math.max(ay, by)), f.dy(Math.min(ay, by))];
      this.load({ x, y });
    });
    this.canvas.addEventListener("dblclick", () => this.resetZoom());
  }

  destroy() {
    this.resize.disconnect();
  }
}

/**
 * The share of the points closest to the first one (the start): a run that diverges far away
 * would otherwise shrink everything interesting to a dot. Zooming out shows the rest.
 */
function nearest(points, share) {
  if (points.length < 10) return points;
  const [x0, y0] = points[0];
  const sorted = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((a, b) => Math.hypot(a[0] - x0, a[1] - y0) - Math.hypot(b[0] - x0, b[1] - y0));
  return sorted.slice(0, Math.max(2, Math.ceil(sorted.length * share)));
}

/** A box around the points, padded by a fifth of its size, never degenerate. */
function fitBox(points) {
  const finite = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (!finite.length) return { x: [-2, 2], y: [-2, 2] };
  const span = (values) => {
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const pad = hi > lo ? (hi - lo) * 0.2 : Math.max(0.5, Math.abs(lo) * 0.2);
    return [lo - pad, hi + pad];
  };
  return { x: span(finite.map((p) => p[0])), y: span(finite.map((p) => p[1])) };
}

/** `range` cut to `limits` when they overlap, else `range` as it is. */
function within([lo, hi], [min, max]) {
  const cut = [Math.max(lo, min), Math.min(hi, max)];
  return cut[1] > cut[0] ? cut : [lo, hi];
}

/**
 * Levels at evenly spaced quantiles of the sampled values: every band covers about the same
 * area, so a narrow valley (Rosenbrock) and a function unbounded below (the saddle) both show.
 */
function contourLevels(values) {
  const finite = values.flat().filter(Number.isFinite).sort((a, b) => a - b);
  if (!finite.length) return [];
  const levels = [];
  for (let k = 1; k <= LEVELS; k++) {
    const level = finite[Math.floor((k / (LEVELS + 1)) * (finite.length - 1))];
    if (!levels.length || level > levels.at(-1)) levels.push(level);
  }
  return levels;
}

/** Light: pale blue (low) to warm sand (high); dark: deep blue to muted brown. */
function shade(t, dark) {
  const low = dark ? [20, 40, 70] : [206, 227, 245];
  const high = dark ? [90, 70, 40] : [250, 236, 210];
  return low.map((l, i) => Math.round(l + (high[i] - l) * t));
}

function drawPath(ctx, f, { xs, ys, color }) {
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.8;
  ctx.beginPath();
  xs.forEach((x, i) => (i ? ctx.lineTo(f.px(x), f.py(ys[i])) : ctx.moveTo(f.px(x), f.py(ys[i]))));
  ctx.stroke();
  if (!xs.length) return;
  dot(ctx, f.px(xs[0]), f.py(ys[0]), "#2ca02c", true);
  dot(ctx, f.px(xs.at(-1)), f.py(ys.at(-1)), color, false);
}

function dot(ctx, x, y, color, filled) {
  ctx.beginPath();
  ctx.arc(x, y, 4.5, 0, 2 * Math.PI);
  ctx.lineWidth = 2;
  if (filled) {
    ctx.fillStyle = color;
    ctx.fill();
  } else {
    ctx.strokeStyle = color;
    ctx.stroke();
  }
}

function cross(ctx, x, y, color) {
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(x - 5, y - 5);
  ctx.lineTo(x + 5, y + 5);
  ctx.moveTo(x + 5, y - 5);
  ctx.lineTo(x - 5, y + 5);
  ctx.stroke();
}

/** The escape direction: a double-headed arrow (±v both descend) through the saddle. */
function drawArrow(ctx, f, { at, dir }, box) {
  const norm = Math.hypot(dir[0], dir[1]) || 1;
  const length = 0.2 * Math.min(box.x[1] - box.x[0], box.y[1] - box.y[0]);
  const [ux, uy] = [(dir[0] / norm) * length, (dir[1] / norm) * length];
  const color = css("--accent");
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = 2.5;
  for (const sign of [1, -1]) {
    const x0 = f.px(at[0]);
    const y0 = f.py(at[1]);
    const x1 = f.px(at[0] + sign * ux);
    const y1 = f.py(at[1] + sign * uy);
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1, y1);
    ctx.stroke();
    const angle = Math.atan2(y1 - y0, x1 - x0);
    ctx.beginPath();
    ctx.moveTo(x1, y1);
    ctx.lineTo(x1 - 10 * Math.cos(angle - 0.4), y1 - 10 * Math.sin(angle - 0.4));
    ctx.lineTo(x1 - 10 * Math.cos(angle + 0.4), y1 - 10 * Math.sin(angle + 0.4));
    ctx.closePath();
    ctx.fill();
  }
}

function ticks([lo, hi]) {
  const raw = (hi - lo) / 5;
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

const short = (v) => String(Number(v.toPrecision(3)));
