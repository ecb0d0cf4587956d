// The jobs list: status, problem, optimizer, progress and final loss, filtered, kept fresh
// by polling.

import { api, every, fmt, h } from "./api.js";

const STATUSES = ["", "queued", "running", "succeeded", "failed", "cancelled"];
const REFRESH_MS = 1500;

export async function jobsPage() {
  const status = h("select", { id: "filter-status", "aria-label": "status" }, STATUSES.map((s) => h("option", { value: s }, s || "any status")));
  const tag = h("input", { id: "filter-tag", type: "search", placeholder: "tag", "aria-label": "tag" });
  const text = h("input", { id: "filter-text", type: "search", placeholder: "problem or optimizer", "aria-label": "search" });
  const body = h("tbody");
  const empty = h("p", { class: "muted", hidden: true }, "No jobs yet. ", h("a", { href: "#/new" }, "Start one."));
  const table = h(
    "table",
    { id: "jobs-table", class: "list" },
    h("thead", {}, h("tr", {}, ["name", "status", "problem", "optimizer", "progress", "final loss", "created"].map((c) => h("th", {}, c)))),
    body,
  );

  const refresh = async () => {
    const query = new URLSearchParams({ limit: "200" });
    if (status.value) query.set("status", status.value);
    if (tag.value.trim()) query.set("tag", tag.value.trim());
    const { jobs } = await api("GET", `/v1/jobs?${query}`);
    const needle = text.value.trim().toLowerCase();
    const shown = jobs.filter((j) => !needle || `${j.problem} ${j.optimizer} ${j.name || ""}`.toLowerCase().includes(needle));
    body.replaceChildren(...shown.map(row));
    empty.hidden = shown.length > 0;
  };
  const stop = every(REFRESH_MS, refresh);
  for (const input of [status, tag, text]) input.addEventListener("input", () => refresh().catch(() => {}));

  const element = h(
    "section",
    {},
    h("div", { class: "heading" }, h("h1", {}, "Jobs"), h("a", { class: "button", href: "#/new" }, "New job")),
    h("div", { class: "filters" }, status, tag, text),
    h("div", { class: "scroll" }, table),
    empty,
  );
  return { element, stop };
}

function row(job) {
  const { step, max_steps } = job.progress;
  const share = max_steps ? Math.min(1, step / max_steps) : 0;
  return h(
    "tr",
    { dataset: { job: job.id, status: job.status } },
    h("td", {}, h("a", { href: `#/jobs/${job.id}` }, job.name || job.id.slice(0, 8))),
    h("td", {}, h("span", { class: `status ${job.status}` }, job.status)),
    h("td", { class: "clip", title: job.problem }, job.problem),
    h("td", {}, job.optimizer),
    h("td", {}, h("progress", { max: 1, value: job.status === "succeeded" ? 1 : share }), ` ${step}/${max_steps}`),
    h("td", { class: "num" }, fmt(job.final_loss)),
    h("td", { class: "muted" }, new Date(job.created_at).toLocaleTimeString()),
  );
}
