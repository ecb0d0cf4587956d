// The new-job form, built from the catalogues (/v1/optimizers, /v1/schedules, /v1/functions)
// so that a new optimizer or function appears here without touching the page.

import { ApiError, api, curlCommand, fmt, h, problemView, uploadCsv } from "./api.js";

const CHECK_DELAY_MS = 250;

/** Reads a field's text as the API wants it; throws an Error naming the field otherwise. */
function parseValue(text, type, field) {
  const trimmed = text.trim();
  if (type === "number" || type === "integer") {
    const value = Number(trimmed);
    if (trimmed === "" || !Number.isFinite(value)) throw new Error(`${field}: expected a number`);
    return value;
  }
  if (type === "string") return trimmed;
  if (trimmed === "") return null;
  try {
    return JSON.parse(trimmed);
  } catch {
    if (type.includes("string")) return trimmed;
    throw new Error(`${field}: expected JSON (${type})`);
  }
}

/** A starting point typed as "x, y" or as JSON ([…] or {"x": …}). */
export function parsePoint(text, field = "initial") {
  const trimmed = text.trim();
  if (trimmed.startsWith("[") || trimmed.startsWith("{")) {
    try {
      return JSON.parse(trimmed);
    } catch {
      throw new Error(`${field}: not valid JSON`);
    }
  }
  const values = trimmed.split(/[\s,]+/).filter(Boolean).map(Number);
  if (!values.length || values.some((v) => !Number.isFinite(v))) throw new Error(`${field}: expected numbers separated by commas`);
  return values;
}

/**
 * Inputs for a catalogue entry's hyperparameters, prefilled with the defaults. `values()`
 * returns only what differs from a default (and the required ones), so the request stays
 * short and the server's defaults apply.
 */
export function hyperparameterFields(entry, onChange, idPrefix) {
  const inputs = entry.hyperparameters.map((p) => {
    const id = `${idPrefix}-${p.name}`;
    const input =
      p.type === "boolean"
        ? h("input", { id, type: "checkbox", checked: p.default === true })
        : h("input", {
            id,
            type: "text",
            inputmode: p.type === "number" || p.type === "integer" ? "decimal" : null,
            value: p.default === null ? "" : typeof p.default === "string" ? p.default : JSON.stringify(p.default),
            placeholder: p.required ? "required" : "",
          });
    input.addEventListener("input", onChange);
    const label = h("label", { for: id, title: `${p.description} (${p.type}; ${p.range || "any"})` }, p.name, p.required ? " *" : "");
    return { p, input, field: h("div", { class: "field" }, label, input, h("small", { class: "muted" }, p.description)) };
  });
  const values = () => {
    const out = {};
    for (const { p, input } of inputs) {
      if (p.type === "boolean") {
        if (input.checked !== p.default) out[p.name] = input.checked;
        continue;
      }
      const text = input.value;
      const isDefault = text === (p.default === null ? "" : typeof p.default === "string" ? p.default : JSON.stringify(p.default));
      if (isDefault && !p.required) continue;
      if (text.trim() === "" && !p.required) continue;
      out[p.name] = parseValue(text, p.type, p.name);
    }
    return out;
  };
  return { element: h("div", { class: "grid" }, inputs.map((i) => i.field)), values };
}

/**
 * The problem part of a form: a builtin function, an expression (checked as you type, parse
 * errors shown at their column) or, with `models`, a model on a dataset.
 */
export function problemPicker({ functions, datasets, models, onChange, defaultFunction = "rosenbrock" }) {
  const kind = h("select", { id: "problem-kind" }, h("option", { value: "builtin" }, "test function"), h("option", { value: "expression" }, "expression"));
  if (models) kind.append(h("option", { value: "model" }, "model on a dataset"));
  const fn = h("select", { id: "function" }, functions.map((f) => h("option", { value: f.name, selected: f.name === defaultFunction }, `${f.title}`)));
  const expression = h("textarea", { id: "expression", rows: 2, spellcheck: "false", placeholder: "(1 - x)^2 + 100*(y - x^2)^2" }, "(1 - x)^2 + 100*(y - x^2)^2");
  const check = h("div", { id: "expression-check", class: "check", "aria-live": "polite" });
  const initial = h("input", { id: "initial", type: "text", spellcheck: "false" });
  const functionInfo = h("small", { class: "muted", id: "function-info" });

  // Model problems.
  const datasetSelect = h("select", { id: "dataset" });
  const fillDatasets = (list, selected) =>
    datasetSelect.replaceChildren(
      ...(list.length ? [] : [h("option", { value: "" }, "no dataset yet: upload one")]),
      ...list.map((d) => h("option", { value: d.id, selected: d.id === selected }, `${d.name || d.id.slice(0, 8)} (${d.rows}×${d.columns})`)),
    );
  fillDatasets(datasets || []);
  const upload = h("input", { id: "upload-file", type: "file", accept: ".csv,text/csv" });
  const uploadTarget = h("input", { id: "upload-target", type: "text", placeholder: "target column(s)", value: "label" });
  const uploadStatus = h("span", { class: "muted" });
  const uploadButton = h("button", { type: "button", class: "small", id: "upload-dataset" }, "Upload CSV");
  uploadButton.addEventListener("click", async () => {
    const file = upload.files[0];
    if (!file) return (uploadStatus.textContent = "choose a CSV file first");
    uploadStatus.textContent = "uploading…";
    try {
      const dataset = await uploadCsv(file, { target: uploadTarget.value.trim(), name: file.name.replace(/\.csv$/i, "") });
      const { datasets: list } = await api("GET", "/v1/datasets?limit=100");
      fillDatasets(list, dataset.id);
      uploadStatus.textContent = `uploaded: ${dataset.rows} rows`;
      onChange();
    } catch (error) {
      uploadStatus.replaceChildren(problemView(error));
    }
  });
  const modelType = h("select", { id: "model-type" }, ["linear", "logistic", "softmax", "mlp"].map((t) => h("option", { value: t }, t)));
  const hidden = h("input", { id: "model-hidden", type: "text", value: "16, 16" });
  const loss = h("select", { id: "model-loss" }, h("option", { value: "" }, "model's default"), ["mse", "mae", "huber", "bce", "cross_entropy"].map((l) => h("option", { value: l }, l)));
  const batch = h("input", { id: "model-batch", type: "text", placeholder: "full batch" });
  const init = h("select", { id: "model-init" }, ["xavier_uniform", "he_normal", "torch_default", "zeros"].map((s) => h("option", { value: s }, s)));

  const field = (label, input, ...rest) => h("div", { class: "field" }, h("label", { for: input.id }, label), input, ...rest);
  const builtinPart = h("div", {}, field("function", fn, functionInfo));
  const expressionPart = h("div", { hidden: true }, field("expression", expression), check);
  const modelPart = h(
    "div",
    { hidden: true },
    h("div", { class: "grid" }, field("dataset", datasetSelect), field("model", modelType), field("hidden layers (mlp)", hidden), field("loss", loss), field("batch size", batch), field("initialization", init)),
    h("div", { class: "upload" }, upload, uploadTarget, uploadButton, uploadStatus),
  );
  const initialField = field("initial point", initial, h("small", { class: "muted" }, "numbers separated by commas, or JSON such as {\"x\": -1.5, \"y\": 2}"));

  const selectedFunction = () => functions.find((f) => f.name === fn.value);
  const setDefaultStart = () => {
    const f = selectedFunction();
    if (!f) return;
    initial.value = f.default_start.join(", ");
    functionInfo.textContent = `${f.formula} — ${f.note}`;
  };
  setDefaultStart();

  let checkTimer = null;
  let checkRound = 0;
  const checkExpression = async () => {
    const round = ++checkRound;
    const text = expression.value;
    let point = {};
    try {
      point = parsePoint(initial.value);
    } catch {
      // Check the formula alone; the point error shows in the request preview.
    }
    try {
      const result = await api("POST", "/v1/evaluate", { problem: { kind: "expression", expression: text }, point });
      if (round !== checkRound) return;
      const names = result.variables.map((v) => v.name).join(", ");
      check.replaceChildren(h("span", { class: "ok" }, `✓ variables ${names}; f(initial) = ${fmt(result.value)}, ‖∇f‖ = ${fmt(result.gradient_norm)}`));
      check.dataset.state = "ok";
      check.dataset.expression = text;
    } catch (error) {
      if (round !== checkRound) return;
      if (!(error instanceof ApiError)) return check.replaceChildren(problemView(error));
      const fault = error.errors.find((e) => e.field === "problem.expression");
      if (fault) {
        check.replaceChildren(expressionError(text, fault));
        check.dataset.state = "error";
      } else {
        const first = error.errors[0];
        check.replaceChildren(h("span", { class: "ok" }, "✓ the expression parses"), h("span", { class: "muted" }, first ? ` — ${first.field}: ${first.message}` : ""));
        check.dataset.state = "ok";
      }
      check.dataset.expression = text;
    }
  };
  const scheduleCheck = () => {
    clearTimeout(checkTimer);
    if (kind.value === "expression") checkTimer = setTimeout(checkExpression, CHECK_DELAY_MS);
  };

  const showKind = () => {
    builtinPart.hidden = kind.value !== "builtin";
    expressionPart.hidden = kind.value !== "expression";
    modelPart.hidden = kind.value !== "model";
    if (kind.value === "expression" && /^\s*$/.test(initial.value)) initial.value = "0, 0";
    if (kind.value === "model") initial.value = "";
    if (kind.value === "builtin") setDefaultStart();
    initialField.hidden = kind.value === "model";
    scheduleCheck();
    onChange();
  };
  kind.addEventListener("change", showKind);
  fn.addEventListener("change", () => {
    setDefaultStart();
    onChange();
  });
  expression.addEventListener("input", () => {
    scheduleCheck();
    onChange();
  });
  initial.addEventListener("input", () => {
    scheduleCheck();
    onChange();
  });
  for (const input of [datasetSelect, modelType, hidden, loss, batch, init]) input.addEventListener("input", onChange);

  const problem = () => {
    if (kind.value === "builtin") return { kind: "builtin", name: fn.value };
    if (kind.value === "expression") return { kind: "expression", expression: expression.value };
    if (!datasetSelect.value) throw new Error("problem.dataset_id: upload or pick a dataset");
    const model = { type: modelType.value };
    if (model.type === "mlp") model.hidden = parsePoint(hidden.value, "hidden layers");
    const config = { kind: "model", model, dataset_id: datasetSelect.value };
    if (loss.value) config.loss = loss.value;
    if (batch.value.trim()) config.batch_size = parseValue(batch.value, "integer", "batch size");
    return config;
  };
  const startingPoint = () => (kind.value === "model" ? { init: init.value, seed: 0 } : parsePoint(initial.value));

  return {
    element: h("fieldset", {}, h("legend", {}, "Problem"), field("kind", kind), builtinPart, expressionPart, modelPart, initialField),
    problem,
    initial: startingPoint,
    selectedFunction,
    kind: () => kind.value,
  };
}

/** The expression with the faulty character marked, and the server's message and excerpt. */
function expressionError(text, fault) {
  const column = fault.column || 0;
  const at = Math.max(0, column - 1);
  const marked = h(
    "code",
    { class: "expr", id: "expression-marked", dataset: { column: String(column) } },
    text.slice(0, at),
    h("mark", { id: "expression-fault" }, text.slice(at, at + 1) || " "),
    text.slice(at + 1),
  );
  return h(
    "div",
    { class: "error", id: "expression-error", role: "alert" },
    h("div", {}, fault.message),
    marked,
    fault.excerpt ? h("pre", { class: "excerpt" }, fault.excerpt) : null,
  );
}

export async function newJobPage() {
  const [optimizers, schedules, functions, datasets] = await Promise.all([
    api("GET", "/v1/optimizers"),
    api("GET", "/v1/schedules"),
    api("GET", "/v1/functions"),
    api("GET", "/v1/datasets?limit=100"),
  ]);
  const preview = h("pre", { id: "request-json", class: "code" });
  const curl = h("pre", { id: "request-curl", class: "code" });
  const previewError = h("p", { class: "error", hidden: true, id: "request-error" });
  const result = h("div", { id: "submit-result" });
  let request = null;

  const update = () => {
    try {
      request = build();
      preview.textContent = JSON.stringify(request, null, 2);
      curl.textContent = curlCommand("POST", "/v1/jobs", request);
      previewError.hidden = true;
    } catch (error) {
      request = null;
      previewError.textContent = error.message;
      previewError.hidden = false;
    }
  };

  const problem = problemPicker({ functions: functions.items, datasets: datasets.datasets, models: true, onChange: update });

  const optimizerSelect = h("select", { id: "optimizer" }, optimizers.items.map((o) => h("option", { value: o.name, selected: o.name === "adam" }, o.name)));
  const optimizerHelp = h("small", { class: "muted" });
  const optimizerFields = h("div");
  let optimizerValues = () => ({});
  const showOptimizer = () => {
    const entry = optimizers.items.find((o) => o.name === optimizerSelect.value);
    const fields = hyperparameterFields(entry, update, "opt");
    optimizerFields.replaceChildren(fields.element);
    optimizerValues = fields.values;
    optimizerHelp.textContent = `${entry.description} — ${entry.reference}`;
    update();
  };
  optimizerSelect.addEventListener("change", showOptimizer);

  const scheduleSelect = h("select", { id: "schedule" }, h("option", { value: "" }, "none (constant lr)"), schedules.items.map((s) => h("option", { value: s.name }, s.name)));
  const scheduleFields = h("div");
  let scheduleValues = () => ({});
  scheduleSelect.addEventListener("change", () => {
    const entry = schedules.items.find((s) => s.name === scheduleSelect.value);
    if (!entry) {
      scheduleFields.replaceChildren();
      scheduleValues = () => ({});
    } else {
      const fields = hyperparameterFields(entry, update, "sched");
      scheduleFields.replaceChildren(fields.element);
      scheduleValues = fields.values;
    }
    update();
  });

  const maxSteps = h("input", { id: "max-steps", type: "text", inputmode: "numeric", value: "1000" });
  const gradTol = h("input", { id: "grad-tol", type: "text", placeholder: "none" });
  const name = h("input", { id: "job-name", type: "text", placeholder: "optional" });
  const tags = h("input", { id: "job-tags", type: "text", placeholder: "comma-separated" });
  for (const input of [maxSteps, gradTol, name, tags]) input.addEventListener("input", update);

  const build = () => {
    const spec = { problem: problem.problem(), initial: problem.initial(), optimizer: { name: optimizerSelect.value, ...optimizerValues() } };
    if (scheduleSelect.value) spec.schedule = { name: scheduleSelect.value, ...scheduleValues() };
    spec.stop = { max_steps: parseValue(maxSteps.value, "integer", "max steps") };
    if (gradTol.value.trim()) spec.stop.grad_tol = parseValue(gradTol.value, "number", "gradient tolerance");
    if (name.value.trim()) spec.name = name.value.trim();
    const tagList = tags.value.split(",").map((t) => t.trim()).filter(Boolean);
    if (tagList.length) spec.tags = tagList;
    return spec;
  };

  const submit = h("button", { id: "submit", type: "submit" }, "Start the job");
  const copy = h("button", { type: "button", class: "small", id: "copy-curl" }, "Copy as curl");
  copy.addEventListener("click", () => copyText(curl.textContent, copy));
  const form = h(
    "form",
    { id: "new-job", class: "stack" },
    problem.element,
    h("fieldset", {}, h("legend", {}, "Optimizer"), h("div", { class: "field" }, h("label", { for: "optimizer" }, "optimizer"), optimizerSelect, optimizerHelp), optimizerFields),
    h("fieldset", {}, h("legend", {}, "Learning-rate schedule"), h("div", { class: "field" }, h("label", { for: "schedule" }, "schedule"), scheduleSelect), scheduleFields),
    h(
      "fieldset",
      {},
      h("legend", {}, "Stopping and labels"),
      h(
        "div",
        { class: "grid" },
        h("div", { class: "field" }, h("label", { for: "max-steps" }, "max steps"), maxSteps),
        h("div", { class: "field" }, h("label", { for: "grad-tol" }, "stop when ‖∇f‖ ≤"), gradTol),
        h("div", { class: "field" }, h("label", { for: "job-name" }, "name"), name),
        h("div", { class: "field" }, h("label", { for: "job-tags" }, "tags"), tags),
      ),
    ),
    h("div", { class: "actions" }, submit),
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    update();
    if (!request) return;
    submit.disabled = true;
    try {
      const job = await api("POST", "/v1/jobs", request);
      location.hash = `#/jobs/${job.id}`;
    } catch (error) {
      result.replaceChildren(problemView(error));
    } finally {
      submit.disabled = false;
    }
  });
  showOptimizer();

  const element = h(
    "section",
    {},
    h("h1", {}, "New job"),
    h("div", { class: "columns" }, form, h("aside", { class: "stack" }, h("h2", {}, "The request"), previewError, preview, h("div", { class: "heading" }, h("h3", {}, "as curl"), copy), curl)),
  );
  return { element, stop: () => {} };
}

/** Copies to the clipboard where allowed (secure contexts), else selects the text. */
export async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy (Ctrl+C)";
  }
  setTimeout(() => (button.textContent = "Copy as curl"), 2000);
}
