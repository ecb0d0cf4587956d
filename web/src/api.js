// Talking to the saddle API, and small helpers shared by the pages.

/** An error answer of the API: an RFC 9457 problem document. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.errors = problem.errors || [];
  }
}

/** Calls the API; resolves to the JSON answer (null for 204), rejects with an ApiError. */
export async function api(method, path, body) {
  const init = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return answer(await fetch(path, init));
}

/** Uploads a CSV file as a dataset. */
export async function uploadCsv(file, { target, name }) {
  const query = new URLSearchParams({ target });
  if (name) query.set("name", name);
  const response = await fetch(`/v1/datasets?${query}`, {
    method: "POST",
    headers: { "content-type": "text/csv", accept: "application/json" },
    body: file,
  });
  return answer(response);
}

async function answer(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  let body;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { detail: text };
  }
  if (!response.ok) throw new ApiError(response.status, body || {});
  return body;
}

/** A JSON float of the API as a number ("NaN", "Infinity" and "-Infinity" are strings there). */
export function num(value) {
  if (value === null || value === undefined) return null;
  return typeof value === "number" ? value : Number(value);
}

/** A number for people: short, exponent when very large or small. */
export function fmt(value, digits = 4) {
  const x = num(value);
  if (x === null) return "–";
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e5 || a < 1e-3 ? x.toExponential(digits - 1) : String(Number(x.toPrecision(digits)));
}

/** Builds an element: h("a", {href: "#"}, "text", child, ...). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(key, "");
    else element.setAttribute(key, value);
  }
  element.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return element;
}

/** A problem document as a list of its field errors (or its detail). */
export function problemView(error) {
  if (!(error instanceof ApiError)) return h("p", { class: "error" }, String(error.message || error));
  const items = error.errors.length
    ? error.errors.map((e) => h("li", {}, h("code", {}, e.field), " ", e.message))
    : [h("li", {}, error.message)];
  return h("div", { class: "error", role: "alert" }, h("strong", {}, error.problem.title || "Error"), h("ul", {}, items));
}

/** Runs `tick` now and every `ms` until the returned stop function is called. */
export function every(ms, tick) {
  let timer = null;
  let stopped = false;
  const run = async () => {
    try {
      await tick();
    } catch (error) {
      console.warn("refresh failed:", error.message);
    }
    if (!stopped) timer = setTimeout(run, ms);
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Whether a job status is final. */
export const isFinished = (status) => ["succeeded", "failed", "cancelled"].includes(status);

/** The short label of a problem config. */
export function problemLabel(problem) {
  if (problem.kind === "builtin") return problem.name;
  if (problem.kind === "expression") return problem.expression;
  if (problem.kind === "model") return `${problem.model?.type} model`;
  return problem.kind;
}

/** A shell-quoted curl command that sends `body` to `path` on this server. */
export function curlCommand(method, path, body) {
  const quote = (s) => `'${s.replaceAll("'", `'\\''`)}'`;
  return `curl -s -X ${method} ${quote(location.origin + path)} -H 'content-type: application/json' -d ${quote(
    JSON.stringify(body, null, 2),
  )}`;
}
