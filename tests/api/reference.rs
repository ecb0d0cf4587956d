//! Every PyTorch reference trajectory in ../shared/reference/cases, run through the HTTP API
//! and compared at every step within the case's tolerances.
//!
//! New case files are picked up without code changes. A case that needs a problem kind or an
//! optimizer this server does not offer (read from its own OpenAPI spec) is reported by name
//! with the reason; it fails the test unless it is listed in `PENDING` with why.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::helpers::TestApp;

/// Capabilities still being built, with the issue that builds them: a case whose only obstacle
/// is one of these is reported but does not fail the test. Empty once every problem kind,
/// optimizer and schedule of the reference set exists.
const PENDING: &[(&str, &str)] = &[(
    "problem kind `expression`",
    "issue 3: the expression language",
)];

fn cases_dir() -> PathBuf {
    std::env::var_os("SADDLE_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../shared/reference/cases"
            ))
        })
}

fn load_cases() -> Vec<Value> {
    let dir = cases_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reference cases at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no reference cases in {}", dir.display());
    paths
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// What the server offers, read from its spec: problem kinds, optimizer and schedule names.
struct Offer {
    problem_kinds: Vec<String>,
    optimizers: Vec<String>,
    schedules: Vec<String>,
}

/// The tag values of a discriminated union in the spec.
fn tags_of(spec: &Value, schema: &str) -> Vec<String> {
    spec["components"]["schemas"][schema]["discriminator"]["mapping"]
        .as_object()
        .map(|mapping| mapping.keys().cloned().collect())
        .unwrap_or_default()
}

fn offer() -> Offer {
    let spec: Value = serde_json::from_str(&saddle::http::openapi_json()).unwrap();
    Offer {
        problem_kinds: tags_of(&spec, "ProblemConfig"),
        optimizers: tags_of(&spec, "OptimizerConfig"),
        schedules: tags_of(&spec, "ScheduleConfig"),
    }
}

fn lower_keys(object: &Value, skip: &[&str]) -> Map<String, Value> {
    object
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| (k.to_lowercase(), v.clone()))
        .collect()
}

fn model_problem(p: &Value) -> Result<Value, String> {
    let (model, loss) = match (p["model"].as_str(), p["loss"].as_str()) {
        (Some("linear_regression"), Some("mse")) => (json!({"type": "linear"}), "mse"),
        (Some("logistic_regression"), Some("bce_with_logits")) => {
            (json!({"type": "logistic"}), "bce")
        }
        (Some("mlp"), Some(loss)) => {
            let layout = p["param_layout"].as_array().unwrap();
            let weights: Vec<&Value> = layout
                .iter()
                .filter(|l| l[1].as_array().unwrap().len() == 2)
                .collect();
            let hidden: Vec<i64> = weights[..weights.len() - 1]
                .iter()
                .map(|w| w[1][0].as_i64().unwrap())
                .collect();
            let loss = if loss == "bce_with_logits" {
                "bce"
            } else {
                loss
            };
            (
                json!({"type": "mlp", "hidden": hidden, "activation": p["hidden_activation"]}),
                loss,
            )
        }
        other => return Err(format!("no mapping for model problem {other:?}")),
    };
    Ok(json!({
        "kind": "model", "model": model, "loss": loss,
        "data": {"features": p["X"], "targets": p["y"]}
    }))
}

/// The job a case describes, or why it cannot be run here.
fn job_for_case(case: &Value, offer: &Offer, use_builtin: bool) -> Result<Value, String> {
    let p = &case["problem"];
    let problem = match p["type"].as_str().unwrap() {
        "expression" if use_builtin => json!({"kind": "builtin", "name": p["name"]}),
        "expression" => {
            json!({"kind": "expression", "expression": p["expression"], "variables": p["variables"]})
        }
        "quadratic" => json!({"kind": "builtin", "name": "quadratic", "a": p["A"], "b": p["b"]}),
        "model" => model_problem(p)?,
        other => return Err(format!("unknown problem type `{other}`")),
    };
    let kind = problem["kind"].as_str().unwrap();
    if !offer.problem_kinds.iter().any(|k| k == kind) {
        return Err(format!("the server has no problem kind `{kind}` yet"));
    }
    let mut optimizer = lower_keys(&case["optimizer"]["params"], &[]);
    let name = case["optimizer"]["name"].as_str().unwrap().to_lowercase();
    if !offer.optimizers.contains(&name) {
        return Err(format!("the server has no optimizer `{name}` yet"));
    }
    optimizer.insert("name".into(), json!(name));
    let mut job = json!({
        "problem": problem,
        "initial": case["x0"],
        "optimizer": optimizer,
        "stop": {"max_steps": case["steps"]},
        "record": {"params": true, "every": 1}
    });
    if let Some(scheduler) = case["scheduler"].as_object() {
        let torch = scheduler["name"].as_str().unwrap();
        let name = match torch {
            "StepLR" => "step",
            "MultiStepLR" => "multistep",
            "ExponentialLR" => "exponential",
            "CosineAnnealingLR" => "cosine",
            "CosineAnnealingWarmRestarts" => "cosine_warm_restarts",
            "LinearLR" => "linear",
            "OneCycleLR" => "one_cycle",
            "CyclicLR" => "cyclic",
            "PolynomialLR" => "polynomial",
            other => return Err(format!("no mapping for scheduler `{other}`")),
        };
        if !offer.schedules.iter().any(|s| s == name) {
            return Err(format!("the server has no schedule `{name}` yet"));
        }
        let mut schedule = lower_keys(&case["scheduler"], &["name"]);
        schedule.insert("name".into(), json!(name));
        job["schedule"] = Value::Object(schedule);
    }
    if let Some(clip) = case["grad_clip"].as_object() {
        assert_eq!(clip["type"], "norm");
        job["clip"] = json!({"max_norm": clip["max_norm"]});
    }
    Ok(job)
}

fn f(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "Infinity" => f64::INFINITY,
        Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
        other => other
            .as_f64()
            .unwrap_or_else(|| panic!("not a number: {other}")),
    }
}

/// Compares a run's history with the case; returns the first mismatch.
fn compare(case: &Value, steps: &[Value]) -> Result<(), String> {
    let n = case["steps"].as_u64().unwrap() as usize;
    let expected = &case["expected"];
    let s = &case["sensitivity"];
    let (x_atol, loss_rtol, grad_rtol) = (
        f(&s["suggested_x_atol"]),
        f(&s["suggested_loss_rtol"]),
        f(&s["suggested_grad_norm_rtol"]),
    );
    if steps.len() != n + 1 {
        return Err(format!("{} records, expected {}", steps.len(), n + 1));
    }
    let close = |a: f64, b: f64, rtol: f64| (a - b).abs() <= rtol * b.abs().max(1.0);
    for k in 0..=n {
        let rec = &steps[k];
        let (loss, want) = (f(&rec["loss"]), f(&expected["loss"][k]));
        if !close(loss, want, loss_rtol) {
            return Err(format!("step {k}: loss {loss} vs torch {want}"));
        }
        let (g, want) = (f(&rec["grad_norm"]), f(&expected["grad_norm"][k]));
        if !close(g, want, grad_rtol) {
            return Err(format!("step {k}: grad_norm {g} vs torch {want}"));
        }
        if k == n {
            break;
        }
        let (lr, want) = (f(&rec["lr"]), f(&expected["lr"][k]));
        if !close(lr, want, 1e-12) {
            return Err(format!("step {k}: lr {lr} vs torch {want}"));
        }
        for key in ["momentum", "beta1"] {
            if let Some(values) = expected[key].as_array() {
                let (m, want) = (f(&rec["momentum"]), f(&values[k]));
                if !close(m, want, 1e-12) {
                    return Err(format!("step {k}: {key} {m} vs torch {want}"));
                }
            }
        }
        let x = steps[k + 1]["params"]
            .as_array()
            .ok_or("params not recorded")?;
        let want = expected["x"][k].as_array().unwrap();
        for (i, (a, b)) in x.iter().zip(want).enumerate() {
            let (a, b) = (f(a), f(b));
            if (a - b).abs() > x_atol {
                return Err(format!(
                    "step {k}: x[{i}] {a} vs torch {b} (atol {x_atol:e})"
                ));
            }
        }
        if let Some(evals) = expected["func_evals"].as_array() {
            let made = rec_evals(&steps[k + 1]) - rec_evals(rec);
            if made != evals[k].as_i64().unwrap() {
                return Err(format!(
                    "step {k}: {made} evaluations vs torch {}",
                    evals[k]
                ));
            }
        }
    }
    Ok(())
}

fn rec_evals(rec: &Value) -> i64 {
    rec["evaluations"].as_i64().unwrap()
}

#[tokio::test]
async fn every_reference_case_matches_its_pytorch_trajectory_through_the_api() {
    let app = TestApp::spawn().await;
    let offer = offer();
    let mut runs = Vec::new();
    let mut unmapped = Vec::new();
    for case in load_cases() {
        let name = case["name"].as_str().unwrap().to_string();
        let mut forms = vec![(false, name.clone())];
        // The builtin Rosenbrock must match the expression form's trajectory too.
        if case["problem"]["type"] == "expression" && case["problem"]["name"] == "rosenbrock" {
            forms.push((true, format!("{name} (builtin rosenbrock)")));
        }
        for (use_builtin, label) in forms {
            match job_for_case(&case, &offer, use_builtin) {
                Ok(job) => {
                    let submitted = app.post_json("/v1/jobs", &job).await;
                    let status = submitted.status();
                    let body: Value = submitted.json().await.unwrap();
                    assert_eq!(status, 201, "{label}: the server refused the case: {body}");
                    runs.push((
                        label,
                        case.clone(),
                        body["id"].as_str().unwrap().to_string(),
                    ));
                }
                Err(reason) => unmapped.push((label, reason)),
            }
        }
    }
    let mut failures = Vec::new();
    for (label, case, id) in &runs {
        let done = app.wait_finished(id, Duration::from_secs(60)).await;
        let steps = app.all_steps(id, 10_000).await;
        match compare(case, &steps) {
            Ok(()) => println!(
                "reference case {label}: matches torch at all {} steps",
                case["steps"]
            ),
            Err(e) => failures.push(format!("{label} ({}): {e}", done["status"])),
        }
    }
    for (label, reason) in &unmapped {
        println!("reference case {label}: NOT RUN: {reason}");
    }
    println!(
        "reference cases: {} runs matched, {} failed, {} not mapped",
        runs.len() - failures.len(),
        failures.len(),
        unmapped.len()
    );
    let unexpected: Vec<&(String, String)> = unmapped
        .iter()
        .filter(|(_, reason)| {
            !PENDING
                .iter()
                .any(|(capability, _)| reason.contains(capability))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "cases that do not match torch:\n{}",
        failures.join("\n")
    );
    assert!(
        unexpected.is_empty(),
        "cases that cannot be mapped (add the missing capability or list them in PENDING with the reason): {unexpected:?}"
    );
    assert!(!runs.is_empty());
    app.stop().await;
}
