// Sweeps: launch a race of optimizers over an lr grid, watch the leaderboard fill in, overlay
// every run's loss curve, and draw every run's path on one contour plot for 2-D problems.

import { api, curlCommand, every, fmt, h, isFinished, num, problemView } from "./api.js";
import { LineChart, PALETTE, SvgPlot, chartsMode } from "./charts.js";
import { ContourPlot } from "./contour.js";
import { builtinDomain } from "./job.js";
import { copyText, parsePoint, problemPicker } from "./new-job.js";

const REFRESH_MS = 1000;
const CURVE_POINTS = 500;
const PATH_POINTS = 400;

export async function sweepsPage() {
  const [optimizers, functions] = await Promise.all([api("GET", "/v1/optimizers"), api("GET", "/v1/functions")]);
  const preview = h("pre", { id: "sweep-json", class: "code" });
  const previewError = h("p", { class: "error", hidden: true });
  const result = h("div", { id: "sweep-result" });
  let request = null;
  const update = () => {
    try {
      request = build();
      preview.textContent = curlCommand("POST", "/v1/sweeps", request);
      previewError.hidden = true;
    } catch (error) {
      request = null;
      previewError.textContent = error.message;
      previewError.hidden = false;
    }
  };
  const problem = problemPicker({ functions: functions.items, models: false, onChange: update, defaultFunction: "saddle" });
  const picks = optimizers.items.map((o) =>
    h("label", { class: "pick" }, h("input", { type: "checkbox", name: "optimizer", value: o.name, checked: ["sgd", "adam", "rmsprop"].includes(o.name), onchange: update }), ` ${o.name}`),
  );
  const lrs = h("input", { id: "sweep-lrs", type: "text", value: "0.01, 0.1", oninput: update });
  const maxSteps = h("input", { id: "sweep-max-steps", type: "text", value: "300", oninput: update });
  const target = h("input", { id: "sweep-target", type: "text", placeholder: "none", oninput: update });
  const name = h("input", { id: "sweep-name", type: "text", placeholder: "optional", oninput: update });

  const build = () => {
    const chosen = picks.map((p) => p.querySelector("input")).filter((i) => i.checked).map((i) => ({ name: i.value }));
    if (!chosen.length) throw new Error("optimizers: pick at least one");
    const spec = { problem: problem.problem(), initial: problem.initial(), optimizers: chosen, stop: { max_steps: Number(maxSteps.value) } };
    if (lrs.value.trim()) spec.lrs = parsePoint(lrs.value, "learning rates");
    if (target.value.trim()) spec.target_loss = Number(target.value);
    if (name.value.trim()) spec.name = name.value.trim();
    return spec;
  };
  const copy = h("button", { type: "button", class: "small" }, "Copy as curl");
  copy.addEventListener("click", () => copyText(preview.textContent, copy));
  const submit = h("button", { id: "launch-sweep", type: "submit" }, "Launch the sweep");
  const form = h(
    "form",
    { id: "new-sweep", class: "stack" },
    problem.element,
    h("fieldset", {}, h("legend", {}, "Optimizers (each with its default hyperparameters)"), h("div", { class: "picks" }, picks)),
    h(
      "fieldset",
      {},
      h("legend", {}, "Grid and stopping"),
      h(
        "div",
        { class: "grid" },
        h("div", { class: "field" }, h("label", { for: "sweep-lrs" }, "learning rates"), lrs),
        h("div", { class: "field" }, h("label", { for: "sweep-max-steps" }, "max steps"), maxSteps),
        h("div", { class: "field" }, h("label", { for: "sweep-target" }, "target loss"), target),
        h("div", { class: "field" }, h("label", { for: "sweep-name" }, "name"), name),
      ),
    ),
    h("div", { class: "actions" }, submit),
    previewError,
    h("details", {}, h("summary", {}, "The request, as curl ", copy), preview),
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    update();
    if (!request) return;
    try {
      const sweep = await api("POST", "/v1/sweeps", request);
      location.hash = `#/sweeps/${sweep.id}`;
    } catch (error) {
      result.replaceChildren(problemView(error));
    }
  });
  update();

  const list = h("tbody");
  const stop = every(3000, async () => {
    const { sweeps } = await api("GET", "/v1/sweeps?limit=50");
    list.replaceChildren(
      ...sweeps.map((s) =>
        h("tr", {}, h("td", {}, h("a", { href: `#/sweeps/${s.id}` }, s.name || s.id.slice(0, 8))), h("td", { class: "muted" }, new Date(s.created_at).toLocaleString())),
      ),
    );
  });
  const element = h(
    "section",
    {},
    h("h1", {}, "Sweeps"),
    h("div", { class: "columns" }, form, h("aside", {}, h("h2", {}, "Earlier sweeps"), h("table", { class: "list" }, h("thead", {}, h("tr", {}, h("th", {}, "sweep"), h("th", {}, "created"))), list))),
  );
  return { element, stop };
}

export async function sweepPage(id) {
  const view = new SweepView(id);
  return { element: view.element, stop: () => view.stop() };
}

class SweepView {
  constructor(id) {
    this.id = id;
    this.mode = chartsMode();
    this.board = h("tbody");
    this.title = h("h1", {}, "Sweep");
    this.count = h("span", { id: "sweep-progress", class: "muted" });
    this.message = h("div");
    this.overlay = h("div", { id: "sweep-curves", class: "chart" });
    this.paths = h("div", { id: "sweep-trajectories" });
    this.pathsPanel = h("div", { class: "panel", hidden: true }, h("h2", {}, "Trajectories"), this.paths);
    this.cancel = h("button", { type: "button", id: "cancel-sweep", onclick: () => this.cancelAll() }, "Cancel all");
    this.element = h(
      "section",
      { id: "sweep", dataset: { sweep: id } },
      h("div", { class: "heading" }, this.title, this.count, this.cancel),
      this.message,
      h(
        "div",
        { class: "scroll" },
        h(
          "table",
          { id: "leaderboard", class: "list" },
          h("thead", {}, h("tr", {}, ["#", "run", "status", "final loss", "best loss", "steps", "to target", "diagnosis"].map((c) => h("th", {}, c)))),
          this.board,
        ),
      ),
      h("div", { class: "panel" }, h("h2", {}, "Loss curves"), this.overlay),
      this.pathsPanel,
    );
    this.stopPolling = every(REFRESH_MS, () => this.refresh());
  }

  stop() {
    this.stopPolling();
    this.chart?.destroy();
    this.contour?.destroy();
  }

  async refresh() {
    let sweep;
    try {
      sweep = await api("GET", `/v1/sweeps/${this.id}`);
    } catch (error) {
      this.message.replaceChildren(problemView(error));
      return this.stopPolling();
    }
    this.title.textContent = sweep.name || `Sweep ${sweep.id.slice(0, 8)}`;
    this.count.textContent = `${sweep.finished} of ${sweep.jobs} finished`;
    this.board.replaceChildren(...sweep.leaderboard.map(row));
    const done = sweep.finished === sweep.jobs;
    this.cancel.hidden = done;
    if (done && !this.drawn) {
      this.drawn = true;
      this.stopPolling();
      await this.drawRuns(sweep);
    }
  }

  async cancelAll() {
    try {
      await api("POST", `/v1/sweeps/${this.id}/cancel`);
    } catch (error) {
      this.message.replaceChildren(problemView(error));
    }
  }

  /** Every run's loss curve on one chart, and every path on one contour plot when 2-D. */
  async drawRuns(sweep) {
    if (this.mode === "svg") {
      new SvgPlot(this.overlay, `/v1/sweeps/${this.id}/plots/loss.svg`, "all loss curves");
      return;
    }
    const runs = sweep.leaderboard;
    const histories = await Promise.all(
      runs.map((r) => api("GET", `/v1/jobs/${r.job_id}/steps?max_points=${CURVE_POINTS}&fields=loss,params`).then((page) => page.steps)),
    );
    const allSteps = [...new Set(histories.flatMap((steps) => steps.map((s) => s.step)))].sort((a, b) => a - b);
    const index = new Map(allSteps.map((s, i) => [s, i]));
    const series = histories.map((steps) => {
      const values = new Array(allSteps.length).fill(null);
      for (const s of steps) values[index.get(s.step)] = num(s.loss);
      return values;
    });
    this.chart = new LineChart(this.overlay, { title: "", series: runs.map((r, i) => ({ label: r.label, color: PALETTE[i % PALETTE.length] })), log: true, height: 300 });
    this.chart.setData(allSteps, series);

    const first = await api("GET", `/v1/jobs/${runs[0].job_id}`);
    const twoD = first.spec.problem.kind !== "model" && histories.every((steps) => steps.every((s) => !s.params || s.params.length === 2));
    if (!twoD || !histories[0].some((s) => s.params)) return;
    this.pathsPanel.hidden = false;
    this.contour = new ContourPlot(this.paths, { problem: first.spec.problem, point: first.spec.initial });
    await this.contour.show({
      domain: await builtinDomain(first.spec.problem),
      paths: histories.map((steps, i) => {
        const kept = steps.filter((s) => s.params).slice(-PATH_POINTS * 2);
        return { label: runs[i].label, color: PALETTE[i % PALETTE.length], xs: kept.map((s) => num(s.params[0])), ys: kept.map((s) => num(s.params[1])) };
      }),
    });
    this.paths.append(h("div", { class: "legend" }, runs.map((r, i) => h("span", {}, h("i", { class: `swatch c${i % PALETTE.length}` }), r.label))));
  }
}

function row(entry) {
  return h(
    "tr",
    { dataset: { status: entry.status } },
    h("td", {}, String(entry.rank)),
    h("td", {}, h("a", { href: `#/jobs/${entry.job_id}` }, entry.label)),
    h("td", {}, h("span", { class: `status ${entry.status}` }, entry.status)),
    h("td", { class: "num" }, fmt(entry.final_loss)),
    h("td", { class: "num" }, fmt(entry.best_loss)),
    h("td", { class: "num" }, entry.steps ?? "–"),
    h("td", { class: "num" }, entry.steps_to_target ?? "–"),
    h("td", {}, entry.diagnosis ? entry.diagnosis.replaceAll("_", " ") : (isFinished(entry.status) ? "–" : "…")),
  );
}
