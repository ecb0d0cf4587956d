// One job: live curves (SSE), the trajectory over the contours for 2-D problems, the
// diagnosis, the parameters, and cancel / continue / delete / CSV download.

import { api, every, fmt, h, isFinished, num, problemLabel, problemView } from "./api.js";
import { LineChart, SvgPlot, chartsMode } from "./charts.js";
import { ContourPlot } from "./contour.js";

const CURVE_POINTS = 2000;
const PATH_POINTS = 1000;
const LIVE_HZ = 20;
const SVG_REFRESH_MS = 2000;

export async function jobPage(id) {
  let job;
  try {
    job = await api("GET", `/v1/jobs/${id}`);
  } catch (error) {
    return { element: h("section", {}, h("h1", {}, "Job"), problemView(error)) };
  }
  const view = new JobView(job);
  return { element: view.element, stop: () => view.stop() };
}

/** The recommended 2-D box of a builtin function, null for other problems. */
export async function builtinDomain(problem) {
  if (problem.kind !== "builtin") return null;
  const info = await api("GET", `/v1/functions/${encodeURIComponent(problem.name)}`).catch(() => null);
  return info?.domain?.length === 2 ? info.domain : null;
}

class JobView {
  constructor(job) {
    this.job = job;
    this.mode = chartsMode();
    this.stops = [];
    this.header = h("div", { class: "heading" });
    this.actions = h("div", { class: "actions" });
    this.message = h("div");
    this.summary = h("dl", { id: "job-summary", class: "facts" });
    this.diagnosis = h("div", { id: "diagnosis" });
    this.params = h("div", { id: "parameters" });
    const panel = (title, id, ...extra) => h("div", { class: "panel" }, h("div", { class: "heading" }, h("h2", {}, title), ...extra), h("div", { id, class: "chart" }));
    this.logScale = h("input", { type: "checkbox", id: "log-scale", checked: true });
    this.curves = h(
      "div",
      { class: "charts" },
      panel("Loss", "chart-loss", h("label", { class: "switch" }, this.logScale, " log scale")),
      panel("Gradient norm", "chart-grad"),
      panel("Learning rate", "chart-lr"),
    );
    this.trajectory = h("div", { class: "panel", hidden: true }, h("h2", {}, "Trajectory"), h("div", { id: "trajectory" }));
    this.element = h(
      "section",
      { id: "job", dataset: { job: job.id } },
      this.header,
      this.actions,
      this.message,
      h("div", { class: "columns" }, h("div", { class: "stack" }, this.curves, this.trajectory), h("aside", { class: "stack" }, this.summary, this.diagnosis, this.params)),
    );
    this.renderJob();
    queueMicrotask(() => this.start());
  }

  stop() {
    for (const stop of this.stops) stop();
    this.charts?.forEach((c) => c.destroy?.());
    this.contour?.destroy();
  }

  start() {
    this.learnStepOffset().catch((error) => console.warn("no first step yet:", error.message));
    const finished = isFinished(this.job.status);
    if (this.mode === "uplot") {
      const loss = new LineChart(this.element.querySelector("#chart-loss"), { title: "", series: [{ label: "loss", color: "#e4572e" }], log: true });
      const grad = new LineChart(this.element.querySelector("#chart-grad"), { title: "", series: [{ label: "‖∇f‖", color: "#2e86ab" }], log: true });
      const lr = new LineChart(this.element.querySelector("#chart-lr"), { title: "", series: [{ label: "lr", color: "#59a14f" }] });
      this.charts = [loss, grad, lr];
      this.logScale.addEventListener("change", () => loss.setLog(this.logScale.checked));
    } else {
      this.svgCharts();
    }
    if (finished) this.loadHistory();
    else this.follow();
  }

  /** The server's figures, reloaded while the job runs (the no-uPlot fallback). */
  svgCharts() {
    const base = `/v1/jobs/${this.job.id}/plots/loss.svg`;
    const url = (metric, log) => `${base}?metric=${metric}&scale=${log ? "log" : "linear"}`;
    const make = () => {
      if (this.svgPlots || this.job.progress.step === 0 && !isFinished(this.job.status)) return;
      this.svgPlots = [
        new SvgPlot(this.element.querySelector("#chart-loss"), url("loss", true), "loss curve"),
        new SvgPlot(this.element.querySelector("#chart-grad"), url("grad_norm", true), "gradient norm"),
        new SvgPlot(this.element.querySelector("#chart-lr"), url("lr", false), "learning rate"),
      ];
      this.logScale.addEventListener("change", () => this.svgPlots[0].reload(url("loss", this.logScale.checked)));
    };
    this.refreshSvg = () => {
      make();
      this.svgPlots?.forEach((p) => p.reload());
    };
    make();
  }

  /** Streams the job's steps (SSE) until its `end` event, then loads the whole history. */
  follow() {
    const source = new EventSource(`/v1/jobs/${this.job.id}/events?max_hz=${LIVE_HZ}&fields=loss,grad_norm,lr`);
    const [loss, grad, lr] = this.charts || [];
    source.addEventListener("status", (event) => {
      this.job.status = JSON.parse(event.data).status;
      this.renderJob();
    });
    source.addEventListener("step", (event) => {
      const step = JSON.parse(event.data);
      // The stream starts at the first record: a continuation's first step is its offset.
      if (this.job.continued_from && this.offset === undefined) this.offset = step.step;
      this.job.progress.step = step.step;
      if (loss) {
        loss.push(step.step, [step.loss]);
        grad.push(step.step, [step.grad_norm]);
        lr.push(step.step, [step.lr]);
        this.charts.forEach((c) => c.flush());
      }
      this.renderProgress();
    });
    source.addEventListener("end", (event) => {
      source.close();
      this.job = JSON.parse(event.data);
      this.learnStepOffset().catch((error) => console.warn("no first step:", error.message));
      this.renderJob();
      this.loadHistory();
    });
    source.addEventListener("error", () => {
      // EventSource reconnects by itself with Last-Event-ID; nothing to do but say so.
      if (source.readyState === EventSource.CONNECTING) this.message.replaceChildren(h("p", { class: "muted" }, "reconnecting…"));
    });
    source.addEventListener("open", () => this.message.replaceChildren());
    this.stops.push(() => source.close());
    if (this.mode === "svg") this.stops.push(every(SVG_REFRESH_MS, () => this.refreshSvg()));
  }

  async loadHistory() {
    if (this.mode === "svg") this.refreshSvg();
    if (this.job.progress.step === 0 && !this.job.result) return;
    if (this.charts) {
      const { steps } = await api("GET", `/v1/jobs/${this.job.id}/steps?max_points=${CURVE_POINTS}&fields=loss,grad_norm,lr`);
      const x = steps.map((s) => s.step);
      const [loss, grad, lr] = this.charts;
      loss.setData(x, [steps.map((s) => s.loss)]);
      grad.setData(x, [steps.map((s) => s.grad_norm)]);
      lr.setData(x, [steps.map((s) => s.lr)]);
    }
    await this.drawTrajectory();
  }

  /** 2-D problems: the path over the contours, the known minimum and the escape direction. */
  async drawTrajectory() {
    const { problem, initial } = this.job.spec;
    const final = this.job.result?.final_params;
    if (problem.kind === "model" || !final || final.length !== 2) return;
    this.trajectory.hidden = false;
    const container = this.element.querySelector("#trajectory");
    if (this.mode === "svg") {
      container.replaceChildren();
      new SvgPlot(container, `/v1/jobs/${this.job.id}/plots/trajectory.svg`, "trajectory over the contours");
      return;
    }
    const { steps } = await api("GET", `/v1/jobs/${this.job.id}/steps?max_points=${PATH_POINTS}&fields=params`);
    const withParams = steps.filter((s) => s.params);
    if (!withParams.length) {
      container.replaceChildren(h("p", { class: "muted" }, "This job did not record its parameters (record.params = false)."));
      return;
    }
    const xs = withParams.map((s) => num(s.params[0]));
    const ys = withParams.map((s) => num(s.params[1]));
    const known = this.job.result.known_minimum;
    const diagnosis = this.job.result.diagnosis;
    const arrow = diagnosis?.escape_direction ? { at: final.map(num), dir: diagnosis.escape_direction.map(num) } : null;
    this.contour ??= new ContourPlot(container, { problem, point: initial });
    await this.contour.show({
      domain: await builtinDomain(problem),
      paths: [{ label: this.job.spec.optimizer.name, color: "#e4572e", xs, ys }],
      minima: known ? [known.x_star.map(num)] : [],
      arrow,
    });
  }

  /**
   * A continuation numbers its steps on from its parent's last one, while `max_steps` counts
   * its own: its first recorded step is the offset.
   */
  async learnStepOffset() {
    if (!this.job.continued_from || this.offset !== undefined) return;
    const { steps } = await api("GET", `/v1/jobs/${this.job.id}/steps?limit=1&fields=loss`);
    // Not recorded yet (the continuation is still queued): the first streamed step says it.
    if (steps.length === 0 || this.offset !== undefined) return;
    this.offset = steps[0].step;
    this.renderProgress();
  }

  progressText() {
    const { step, max_steps } = this.job.progress;
    const offset = this.offset || 0;
    return offset ? `step ${step} (${step - offset} of ${max_steps} in this job)` : `step ${step} of ${max_steps}`;
  }

  progressShare() {
    const { step, max_steps } = this.job.progress;
    if (this.job.status === "succeeded") return 1;
    return max_steps ? Math.min(1, Math.max(0, (step - (this.offset || 0)) / max_steps)) : 0;
  }

  renderProgress() {
    const progress = this.header.querySelector("progress");
    if (progress) progress.value = this.progressShare();
    const label = this.header.querySelector("#job-step");
    if (label) label.textContent = this.progressText();
  }

  renderJob() {
    const job = this.job;
    this.header.replaceChildren(
      h("h1", {}, job.name || `${problemLabel(job.spec.problem)} · ${job.spec.optimizer.name}`),
      h("span", { id: "job-status", class: `status ${job.status}` }, job.status),
      h("progress", { max: 1, value: this.progressShare() }),
      h("span", { id: "job-step", class: "muted" }, this.progressText()),
    );
    this.renderActions();
    this.renderSummary();
    this.renderDiagnosis();
    this.params.replaceChildren(h("h2", {}, "Parameters"), h("pre", { class: "code" }, JSON.stringify(job.spec, null, 2)));
  }

  renderActions() {
    const job = this.job;
    const buttons = [];
    if (!isFinished(job.status)) {
      buttons.push(h("button", { type: "button", id: "cancel", onclick: () => this.act(() => api("POST", `/v1/jobs/${job.id}/cancel`)) }, "Cancel"));
    } else {
      const steps = h("input", { id: "continue-steps", type: "text", inputmode: "numeric", value: "500", size: 6, "aria-label": "more steps" });
      const proceed = async () => {
        const next = await api("POST", `/v1/jobs/${job.id}/continue`, { steps: Number(steps.value) });
        location.hash = `#/jobs/${next.id}`;
      };
      buttons.push(h("span", { class: "inline" }, h("button", { type: "button", id: "continue", onclick: () => this.act(proceed) }, "Continue for"), steps, " steps"));
      const remove = h("button", { type: "button", id: "delete", class: "danger" }, "Delete");
      remove.addEventListener("click", () => {
        if (remove.dataset.armed) {
          return this.act(async () => {
            await api("DELETE", `/v1/jobs/${job.id}`);
            location.hash = "#/jobs";
          });
        }
        remove.dataset.armed = "yes";
        remove.textContent = "Click again to delete";
      });
      buttons.push(remove);
    }
    buttons.push(h("a", { class: "button", id: "download-csv", href: `/v1/jobs/${job.id}/steps?format=csv`, download: `${job.id}.csv` }, "Download CSV"));
    if (job.continued_from) buttons.push(h("a", { href: `#/jobs/${job.continued_from}` }, "← continued from"));
    this.actions.replaceChildren(...buttons);
  }

  async act(action) {
    try {
      await action();
      this.message.replaceChildren();
    } catch (error) {
      this.message.replaceChildren(problemView(error));
    }
  }

  renderSummary() {
    const { result, error, spec } = this.job;
    const facts = [
      ["problem", problemLabel(spec.problem)],
      ["optimizer", `${spec.optimizer.name}${spec.optimizer.lr !== undefined ? ` (lr ${spec.optimizer.lr})` : ""}`],
    ];
    if (result) {
      facts.push(
        ["stop reason", result.stop_reason],
        ["final loss", fmt(result.final_loss, 6)],
        ["best loss", `${fmt(result.best_loss, 6)} at step ${result.best_step}`],
        ["final ‖∇f‖", fmt(result.final_grad_norm)],
        ["final point", `[${result.final_params.slice(0, 6).map((v) => fmt(v)).join(", ")}${result.final_params.length > 6 ? ", …" : ""}]`],
        ["evaluations", `${result.function_evaluations} f, ${result.gradient_evaluations} ∇f`],
        ["wall time", `${fmt(result.wall_time_seconds, 3)} s`],
      );
      if (result.known_minimum) facts.push(["distance to x*", `${fmt(result.known_minimum.distance)} (gap ${fmt(result.known_minimum.gap)})`]);
    }
    if (error) facts.push(["error", error.message || JSON.stringify(error)]);
    this.summary.replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]));
  }

  renderDiagnosis() {
    const diagnosis = this.job.result?.diagnosis;
    if (!diagnosis) return this.diagnosis.replaceChildren();
    const words = {
      local_minimum: "a local minimum",
      saddle_point: "a saddle point",
      local_maximum: "a local maximum",
      flat_region: "a plateau (flat region)",
      not_stationary: "not a stationary point (still descending)",
    };
    const lines = [
      h("p", { id: "diagnosis-feature", class: `feature ${diagnosis.feature}`, dataset: { feature: diagnosis.feature } }, `The run ended at ${words[diagnosis.feature] || diagnosis.feature}${diagnosis.degenerate ? " (degenerate Hessian)" : ""}.`),
      h("p", { class: "muted" }, `‖∇f‖ = ${fmt(diagnosis.grad_norm)}; Hessian eigenvalues in [${fmt(diagnosis.min_eigenvalue)}, ${fmt(diagnosis.max_eigenvalue)}]; Morse index ${diagnosis.morse_index}.`),
    ];
    if (diagnosis.escape_direction) {
      lines.push(h("p", {}, `Escape direction: [${diagnosis.escape_direction.slice(0, 6).map((v) => fmt(v, 3)).join(", ")}] (drawn as a double arrow on the trajectory).`));
    }
    for (const episode of this.job.result.episodes || []) {
      lines.push(h("p", { class: "muted" }, `${episode.kind.replaceAll("_", " ")}: steps ${episode.start_step}–${episode.end_step}${episode.left_at_step != null ? `, left at step ${episode.left_at_step}` : ""}`));
    }
    this.diagnosis.replaceChildren(h("h2", {}, "Diagnosis"), ...lines);
  }
}
