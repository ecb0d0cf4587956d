//! Runs every PyTorch reference trajectory in `shared/reference/cases` through the executor
//! and compares loss, gradient norm, lr, x (and momentum/β1, clip scale and L-BFGS
//! evaluation counts where present) at every step, within each case's `sensitivity`
//! tolerances (see shared/reference/README.md).
//!
//! New case files are picked up without code changes; a case that cannot be mapped onto
//! the numeric core yet is reported with the reason, and only mappable cases can fail.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use saddle_numeric::clip::ClipConfig;
use saddle_numeric::executor::{Executor, StepRecord, StopRule};
use saddle_numeric::optim::OptimizerConfig;
use saddle_numeric::problem::{Initial, Objective, ProblemConfig};
use saddle_numeric::schedule::{ScheduleBase, ScheduleConfig};
use serde_json::{json, Map, Value};

/// The cases folder: `SADDLE_REFERENCE_DIR`, or shared/reference/cases beside the repo.
fn cases_dir() -> PathBuf {
    std::env::var_os("SADDLE_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/reference/cases"
            ))
        })
}

/// Counts evaluations so per-step L-BFGS evaluation counts can be checked.
struct Counting {
    inner: Box<dyn Objective>,
    count: Arc<AtomicU64>,
}

impl Objective for Counting {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn value_and_grad(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.inner.value_and_grad(x, grad)
    }
}

/// A case mapped onto the numeric core.
struct Mapped {
    objective: Box<dyn Objective>,
    optimizer: OptimizerConfig,
    schedule: Option<ScheduleConfig>,
    clip: Option<ClipConfig>,
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("an array of numbers")
        .iter()
        .map(|a| a.as_f64().expect("a number"))
        .collect()
}

/// Builds the objective of a problem configuration at the case's starting point.
fn build(config: Value, case: &Value) -> Result<Box<dyn Objective>, String> {
    let problem: ProblemConfig = serde_json::from_value(config).map_err(|e| e.to_string())?;
    let initial = Initial::Vector(f64s(&case["x0"]));
    problem
        .build(&initial)
        .map(|(objective, _)| objective)
        .map_err(|e| e.to_string())
}

fn map_problem(case: &Value) -> Result<Box<dyn Objective>, String> {
    let p = &case["problem"];
    let name = p["name"].as_str().unwrap_or("?");
    match p["type"].as_str() {
        Some("quadratic") => {
            let config = json!({"kind": "builtin", "name": "quadratic", "a": p["A"], "b": p["b"]});
            build(config, case)
        }
        Some("expression") => build(
            json!({"kind": "expression", "expression": p["expression"], "variables": p["variables"]}),
            case,
        ),
        Some("model") => {
            let (model, loss) = match (p["model"].as_str(), p["loss"].as_str()) {
                (Some("linear_regression"), Some("mse")) => (json!({"type": "linear"}), "mse"),
                (Some("logistic_regression"), Some("bce_with_logits")) => {
                    (json!({"type": "logistic"}), "bce")
                }
                (Some("mlp"), Some(loss)) => {
                    let hidden: Vec<Value> = p["param_layout"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|l| l[1].as_array().unwrap().len() == 2)
                        .map(|l| l[1][0].clone())
                        .collect();
                    let hidden = &hidden[..hidden.len() - 1];
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
                other => return Err(format!("no mapping for model `{name}` {other:?}")),
            };
            build(
                json!({"kind": "model", "model": model, "loss": loss,
                       "data": {"features": p["X"], "targets": p["y"]}}),
                case,
            )
        }
        other => Err(format!("unknown problem type {other:?}")),
    }
}

fn map_optimizer(case: &Value) -> Result<OptimizerConfig, String> {
    let o = &case["optimizer"];
    let class = o["name"].as_str().unwrap_or("?");
    let name = match class {
        "SGD" => "sgd",
        "Adam" => "adam",
        "AdamW" => "adamw",
        "Adagrad" => "adagrad",
        "RMSprop" => "rmsprop",
        "Adadelta" => "adadelta",
        "Adamax" => "adamax",
        "NAdam" => "nadam",
        "RAdam" => "radam",
        "Rprop" => "rprop",
        "ASGD" => "asgd",
        "LBFGS" => "lbfgs",
        other => return Err(format!("torch optimizer {other} has no counterpart")),
    };
    let mut params: Map<String, Value> = o["params"].as_object().ok_or("no params")?.clone();
    params.insert("name".into(), json!(name));
    serde_json::from_value(Value::Object(params)).map_err(|e| format!("optimizer params: {e}"))
}

fn map_schedule(case: &Value) -> Result<Option<ScheduleConfig>, String> {
    let s = &case["scheduler"];
    if s.is_null() {
        return Ok(None);
    }
    let class = s["name"].as_str().unwrap_or("?");
    let name = match class {
        "StepLR" => "step",
        "MultiStepLR" => "multistep",
        "ExponentialLR" => "exponential",
        "CosineAnnealingLR" => "cosine",
        "CosineAnnealingWarmRestarts" => "cosine_warm_restarts",
        "LinearLR" => "linear",
        "OneCycleLR" => "one_cycle",
        "CyclicLR" => "cyclic",
        "PolynomialLR" => "polynomial",
        other => return Err(format!("torch scheduler {other} has no counterpart")),
    };
    let mut params = Map::new();
    for (k, v) in s.as_object().ok_or("scheduler is not an object")? {
        if k != "name" {
            params.insert(k.to_lowercase(), v.clone());
        }
    }
    params.insert("name".into(), json!(name));
    serde_json::from_value(Value::Object(params))
        .map(Some)
        .map_err(|e| format!("scheduler params: {e}"))
}

fn map_clip(case: &Value) -> Result<Option<ClipConfig>, String> {
    let c = &case["grad_clip"];
    if c.is_null() {
        return Ok(None);
    }
    if c["type"] != json!("norm") || c["norm_type"].as_f64() != Some(2.0) {
        return Err(format!("only 2-norm clipping is supported, got {c}"));
    }
    Ok(Some(ClipConfig::Norm {
        max_norm: c["max_norm"].as_f64().ok_or("no max_norm")?,
    }))
}

fn map_case(case: &Value) -> Result<Mapped, String> {
    Ok(Mapped {
        objective: map_problem(case)?,
        optimizer: map_optimizer(case)?,
        schedule: map_schedule(case)?,
        clip: map_clip(case)?,
    })
}

/// What the run recorded at each k.
#[derive(Default)]
struct Trace {
    loss: Vec<f64>,
    grad_norm: Vec<f64>,
    lr: Vec<f64>,
    momentum: Vec<Option<f64>>,
    x: Vec<Vec<f64>>,
    evals_at: Vec<u64>,
}

fn run_case(case: &Value, mapped: Mapped) -> Result<Trace, String> {
    let steps = case["steps"].as_u64().ok_or("no steps")?;
    let x0 = f64s(&case["x0"]);
    mapped.optimizer.validate().map_err(|e| e.to_string())?;
    let base = ScheduleBase {
        lr: mapped.optimizer.lr(),
        total_steps: steps,
    };
    let schedule = match &mapped.schedule {
        Some(s) => {
            s.validate(base).map_err(|e| e.to_string())?;
            s.build(base)
        }
        None => Box::new(saddle_numeric::schedule::Constant::new(base.lr)),
    };
    let count = Arc::new(AtomicU64::new(0));
    let objective = Box::new(Counting {
        inner: mapped.objective,
        count: count.clone(),
    });
    let mut exec = Executor::new(
        objective,
        mapped.optimizer.build(x0.len()),
        schedule,
        StopRule {
            max_steps: steps,
            ..Default::default()
        },
    )
    .with_clip(mapped.clip);
    let mut trace = Trace::default();
    let mut observer = |r: &StepRecord<'_>| {
        trace.loss.push(r.loss);
        trace.grad_norm.push(r.grad_norm);
        trace.lr.push(r.lr);
        trace.momentum.push(r.momentum);
        trace.x.push(r.params.to_vec());
        trace.evals_at.push(count.load(Ordering::Relaxed));
        true
    };
    let outcome = exec.run(&x0, &mut observer);
    if outcome.steps != steps {
        return Err(format!(
            "stopped after {} of {steps} steps: {:?} {:?}",
            outcome.steps, outcome.stop_reason, outcome.divergence
        ));
    }
    Ok(trace)
}

fn close(a: f64, b: f64, rtol: f64) -> bool {
    (a - b).abs() <= rtol * b.abs().max(1.0)
}

/// Compares a run against the case's expectations; the first mismatch is the error.
/// On success returns the largest |x − x_torch| over all steps and coordinates.
fn compare(case: &Value, trace: &Trace) -> Result<f64, String> {
    let e = &case["expected"];
    let sens = &case["sensitivity"];
    let loss_rtol = sens["suggested_loss_rtol"].as_f64().ok_or("no loss rtol")?;
    let gn_rtol = sens["suggested_grad_norm_rtol"].as_f64().ok_or("no rtol")?;
    let x_atol = sens["suggested_x_atol"].as_f64().ok_or("no x atol")?;
    let n = case["steps"].as_u64().ok_or("no steps")? as usize;
    for (k, want) in f64s(&e["loss"]).iter().enumerate() {
        if !close(trace.loss[k], *want, loss_rtol) {
            return Err(format!("loss[{k}] = {} but torch {want}", trace.loss[k]));
        }
    }
    for (k, want) in f64s(&e["grad_norm"]).iter().enumerate() {
        if !close(trace.grad_norm[k], *want, gn_rtol) {
            return Err(format!(
                "grad_norm[{k}] = {} but torch {want}",
                trace.grad_norm[k]
            ));
        }
    }
    for (k, want) in f64s(&e["lr"]).iter().enumerate() {
        if (trace.lr[k] - want).abs() > 1e-12 * want.abs() {
            return Err(format!("lr[{k}] = {} but torch {want}", trace.lr[k]));
        }
    }
    let mut max_dx: f64 = 0.0;
    for (k, want) in e["x"].as_array().ok_or("no x")?.iter().enumerate() {
        for (i, w) in f64s(want).iter().enumerate() {
            let got = trace.x[k + 1][i];
            max_dx = max_dx.max((got - w).abs());
            if (got - w).abs() > x_atol {
                return Err(format!("x[{k}][{i}] = {got} but torch {w}"));
            }
        }
    }
    for key in ["momentum", "beta1"] {
        if let Some(m) = e.get(key) {
            for (k, want) in f64s(m).iter().enumerate() {
                let got = trace.momentum[k].ok_or(format!("{key}[{k}] not cycled"))?;
                if (got - want).abs() > 1e-12 * want.abs().max(1e-300) {
                    return Err(format!("{key}[{k}] = {got} but torch {want}"));
                }
            }
        }
    }
    if let Some(scales) = e.get("clip_scale") {
        let max_norm = case["grad_clip"]["max_norm"]
            .as_f64()
            .ok_or("no max_norm")?;
        for (k, want) in f64s(scales).iter().enumerate() {
            let got = (max_norm / (trace.grad_norm[k] + 1e-6)).min(1.0);
            if !close(got, *want, gn_rtol) {
                return Err(format!("clip_scale[{k}] = {got} but torch {want}"));
            }
        }
    }
    if let Some(evals) = e.get("func_evals") {
        for (k, want) in evals.as_array().ok_or("func_evals")?.iter().enumerate() {
            let got = trace.evals_at[k + 1] - trace.evals_at[k];
            if Some(got) != want.as_u64() {
                return Err(format!("func_evals[{k}] = {got} but torch {want}"));
            }
        }
    }
    if trace.loss.len() != n + 1 {
        return Err(format!("{} records for {n} steps", trace.loss.len()));
    }
    Ok(max_dx)
}

fn load_cases() -> Vec<(String, Value)> {
    let dir = cases_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the reference cases in {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no reference cases in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("a readable case");
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()));
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, value)
        })
        .collect()
}

#[test]
fn every_mappable_reference_case_matches_torch_at_every_step() {
    let cases = load_cases();
    let (mut matched, mut failed, mut unmapped) = (Vec::new(), Vec::new(), Vec::new());
    for (name, case) in &cases {
        match map_case(case) {
            Err(why) => unmapped.push(format!("{name}: {why}")),
            Ok(mapped) => match run_case(case, mapped).and_then(|t| compare(case, &t)) {
                Ok(max_dx) => matched.push(format!("{name} (max |x - x_torch| = {max_dx:.1e})")),
                Err(why) => failed.push(format!("{name}: {why}")),
            },
        }
    }
    println!("reference cases matching torch: {}", matched.len());
    for m in &matched {
        println!("  match     {m}");
    }
    for u in &unmapped {
        println!("  unmapped  {u}");
    }
    for f in &failed {
        println!("  MISMATCH  {f}");
    }
    println!(
        "reference summary: {} matched, {} mismatched, {} unmapped of {} cases",
        matched.len(),
        failed.len(),
        unmapped.len(),
        cases.len()
    );
    assert!(
        failed.is_empty(),
        "{} mappable cases differ from torch",
        failed.len()
    );
    assert!(!matched.is_empty(), "no reference case could be run");
}

#[test]
fn every_reference_scheduler_reproduces_torchs_lr_sequence_whatever_the_problem() {
    // The lr of these schedules does not depend on the objective, so even cases whose
    // problem cannot be mapped yet check the schedule against torch.
    let mut checked = 0;
    for (name, case) in load_cases() {
        let Ok(Some(config)) = map_schedule(&case) else {
            continue;
        };
        let Ok(optimizer) = map_optimizer(&case) else {
            continue;
        };
        let steps = case["steps"].as_u64().unwrap();
        let base = ScheduleBase {
            lr: optimizer.lr(),
            total_steps: steps,
        };
        config.validate(base).unwrap();
        let mut schedule = config.build(base);
        let momentum = case["expected"]
            .get("momentum")
            .or(case["expected"].get("beta1"))
            .map(f64s);
        for (k, want) in f64s(&case["expected"]["lr"]).iter().enumerate() {
            let got = schedule.lr();
            assert!(
                (got - want).abs() <= 1e-12 * want.abs(),
                "{name}: lr[{k}] = {got} but torch {want}"
            );
            if let Some(m) = &momentum {
                let got = schedule.momentum().expect("a cycled momentum");
                assert!(
                    (got - m[k]).abs() <= 1e-12 * m[k].abs(),
                    "{name}: momentum[{k}]"
                );
            }
            schedule.step(0.0);
        }
        checked += 1;
    }
    println!("schedules checked against torch: {checked}");
    assert!(checked > 0, "no reference case has a scheduler");
}

#[test]
fn the_reference_directory_resolves_from_this_crate() {
    assert!(
        cases_dir().is_dir(),
        "{} is not a directory",
        cases_dir().display()
    );
}
