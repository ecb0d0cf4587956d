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

use saddle_numeric::builtin::BuiltinProblem;
use saddle_numeric::clip::ClipConfig;
use saddle_numeric::executor::{Executor, StepRecord, StopRule};
use saddle_numeric::optim::OptimizerConfig;
use saddle_numeric::problem::{finite_difference_grad, FnObjective, Objective};
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

/// A 2-D test function: value and gradient at (x, y).
type Fn2 = fn(f64, f64) -> (f64, [f64; 2]);

/// The expression problems of the reference README, written by hand until the expression
/// engine can parse `problem.expression`. Each is checked against finite differences and
/// against the case's recorded losses.
fn expression_table(name: &str) -> Option<Fn2> {
    use std::f64::consts::PI;
    let f: Fn2 = match name {
        "rosenbrock" => |x, y| {
            let r = y - x * x;
            (
                (1.0 - x).powi(2) + 100.0 * r * r,
                [-2.0 * (1.0 - x) - 400.0 * x * r, 200.0 * r],
            )
        },
        "beale" => |x, y| {
            let a = 1.5 - x + x * y;
            let b = 2.25 - x + x * y * y;
            let c = 2.625 - x + x * y * y * y;
            (
                a * a + b * b + c * c,
                [
                    2.0 * a * (y - 1.0) + 2.0 * b * (y * y - 1.0) + 2.0 * c * (y * y * y - 1.0),
                    2.0 * a * x + 4.0 * b * x * y + 6.0 * c * x * y * y,
                ],
            )
        },
        "himmelblau" => |x, y| {
            let p = x * x + y - 11.0;
            let q = x + y * y - 7.0;
            (
                p * p + q * q,
                [4.0 * x * p + 2.0 * q, 2.0 * p + 4.0 * y * q],
            )
        },
        "saddle" => |x, y| (x * x - y * y, [2.0 * x, -2.0 * y]),
        "monkey_saddle" => |x, y| {
            (
                x * x * x - 3.0 * x * y * y,
                [3.0 * x * x - 3.0 * y * y, -6.0 * x * y],
            )
        },
        "booth" => |x, y| {
            let p = x + 2.0 * y - 7.0;
            let q = 2.0 * x + y - 5.0;
            (p * p + q * q, [2.0 * p + 4.0 * q, 4.0 * p + 2.0 * q])
        },
        "matyas" => |x, y| {
            (
                0.26 * (x * x + y * y) - 0.48 * x * y,
                [0.52 * x - 0.48 * y, 0.52 * y - 0.48 * x],
            )
        },
        "plateau" => |x, y| {
            let e = (-(x * x + y * y)).exp();
            (1.0 - e, [2.0 * x * e, 2.0 * y * e])
        },
        "three_hump_camel" => |x, y| {
            (
                2.0 * x * x - 1.05 * x.powi(4) + x.powi(6) / 6.0 + x * y + y * y,
                [4.0 * x - 4.2 * x.powi(3) + x.powi(5) + y, x + 2.0 * y],
            )
        },
        "rastrigin" => |x, y| {
            let w = 2.0 * PI;
            (
                20.0 + (x * x - 10.0 * (w * x).cos()) + (y * y - 10.0 * (w * y).cos()),
                [
                    2.0 * x + 10.0 * w * (w * x).sin(),
                    2.0 * y + 10.0 * w * (w * y).sin(),
                ],
            )
        },
        _ => return None,
    };
    Some(f)
}

fn fn2_objective(f: Fn2) -> Box<dyn Objective> {
    Box::new(FnObjective::new(2, move |x: &[f64], g: &mut [f64]| {
        let (v, grad) = f(x[0], x[1]);
        g.copy_from_slice(&grad);
        v
    }))
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

fn map_problem(case: &Value) -> Result<Box<dyn Objective>, String> {
    let p = &case["problem"];
    let name = p["name"].as_str().unwrap_or("?");
    match p["type"].as_str() {
        Some("quadratic") => {
            let a: Vec<Vec<f64>> = p["A"].as_array().ok_or("no A")?.iter().map(f64s).collect();
            let b = f64s(&p["b"]);
            let builtin = BuiltinProblem {
                name: "quadratic".into(),
                a: Some(a),
                b: Some(b.clone()),
            };
            builtin.build(b.len()).map_err(|e| e.to_string())
        }
        Some("expression") => {
            let f = expression_table(name).ok_or_else(|| {
                format!(
                    "expression `{name}` has no hand-written closure (expression engine pending)"
                )
            })?;
            Ok(fn2_objective(f))
        }
        Some("model") => Err(format!("model problems not yet implemented (`{name}`)")),
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
    if name == "adamw" {
        // torch's AdamW is Adam with decoupled decay; saddle's adamw has no switch for it.
        if params.remove("decoupled_weight_decay") != Some(json!(true)) {
            return Err("AdamW without decoupled weight decay".into());
        }
    }
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

/// A minimal evaluator of the reference expressions (`+ - * / ^`, parentheses, numbers,
/// `x`, `y`, `pi`, `exp`, `cos`, `sin`, `log`, `sqrt`), only to check the hand-written
/// closures against the case text; the real expression engine lives elsewhere.
struct ExprEval<'a> {
    s: &'a [u8],
    i: usize,
    x: f64,
    y: f64,
}

impl ExprEval<'_> {
    fn eval(text: &str, x: f64, y: f64) -> f64 {
        let mut p = ExprEval {
            s: text.as_bytes(),
            i: 0,
            x,
            y,
        };
        let v = p.sum();
        p.skip();
        assert_eq!(p.i, p.s.len(), "trailing input in `{text}`");
        v
    }
    fn skip(&mut self) {
        while self.i < self.s.len() && self.s[self.i] == b' ' {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.skip();
        if self.i < self.s.len() && self.s[self.i] == c {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn sum(&mut self) -> f64 {
        let mut v = self.product();
        loop {
            if self.eat(b'+') {
                v += self.product();
            } else if self.eat(b'-') {
                v -= self.product();
            } else {
                return v;
            }
        }
    }
    fn product(&mut self) -> f64 {
        let mut v = self.unary();
        loop {
            if self.eat(b'*') {
                v *= self.unary();
            } else if self.eat(b'/') {
                v /= self.unary();
            } else {
                return v;
            }
        }
    }
    fn unary(&mut self) -> f64 {
        if self.eat(b'-') {
            -self.unary()
        } else {
            self.power()
        }
    }
    fn power(&mut self) -> f64 {
        let base = self.atom();
        if self.eat(b'^') {
            base.powf(self.unary())
        } else {
            base
        }
    }
    fn atom(&mut self) -> f64 {
        self.skip();
        if self.eat(b'(') {
            let v = self.sum();
            assert!(self.eat(b')'), "missing )");
            return v;
        }
        let start = self.i;
        let c = self.s[self.i];
        if c.is_ascii_digit() || c == b'.' {
            while self.i < self.s.len()
                && (self.s[self.i].is_ascii_digit() || b".eE".contains(&self.s[self.i]))
            {
                self.i += 1;
            }
            let text = std::str::from_utf8(&self.s[start..self.i]).unwrap();
            return text.parse().unwrap();
        }
        while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
            self.i += 1;
        }
        let name = std::str::from_utf8(&self.s[start..self.i])
            .unwrap()
            .to_string();
        match name.as_str() {
            "x" => self.x,
            "y" => self.y,
            "pi" => std::f64::consts::PI,
            f => {
                assert!(self.eat(b'('), "unknown name `{f}`");
                let a = self.sum();
                assert!(self.eat(b')'), "missing ) after {f}(");
                match f {
                    "exp" => a.exp(),
                    "cos" => a.cos(),
                    "sin" => a.sin(),
                    "log" => a.ln(),
                    "sqrt" => a.sqrt(),
                    other => panic!("unknown function `{other}`"),
                }
            }
        }
    }
}

#[test]
fn hand_written_closures_agree_with_the_cases_expressions_and_their_finite_differences() {
    let mut checked = 0;
    for (name, case) in load_cases() {
        let problem = &case["problem"];
        if problem["type"] != json!("expression") {
            continue;
        }
        let Some(f) = expression_table(problem["name"].as_str().unwrap_or("")) else {
            continue;
        };
        let text = problem["expression"].as_str().unwrap();
        let mut points = vec![f64s(&case["x0"])];
        for x in case["expected"]["x"].as_array().unwrap().iter().step_by(13) {
            points.push(f64s(x));
        }
        points.push(vec![0.3, -0.7]);
        for p in points {
            let (v, g) = f(p[0], p[1]);
            let e = ExprEval::eval(text, p[0], p[1]);
            assert!(
                close(v, e, 1e-12),
                "{name}: closure {v} vs expression {e} at {p:?}"
            );
            // Central differences of the expression text itself.
            for (i, gi) in g.iter().enumerate() {
                let h = 1e-6 * p[i].abs().max(1.0);
                let (mut a, mut b) = (p.clone(), p.clone());
                a[i] += h;
                b[i] -= h;
                let fd = (ExprEval::eval(text, a[0], a[1]) - ExprEval::eval(text, b[0], b[1]))
                    / (2.0 * h);
                assert!(
                    (gi - fd).abs() <= 1e-5 * (1.0 + fd.abs()),
                    "{name}: d/d{i} closure {gi} vs finite difference of `{text}` {fd} at {p:?}"
                );
            }
        }
        checked += 1;
    }
    assert!(checked > 0, "no expression case was checked");
}

#[test]
fn hand_written_expressions_match_finite_differences_and_the_recorded_start() {
    for (name, case) in load_cases() {
        let problem = &case["problem"];
        if problem["type"] != json!("expression") {
            continue;
        }
        let Some(f) = expression_table(problem["name"].as_str().unwrap_or("")) else {
            continue;
        };
        let mut objective = fn2_objective(f);
        let x0 = f64s(&case["x0"]);
        // The recorded start pins the closure to the case's expression.
        let mut g = vec![0.0; 2];
        let loss0 = objective.value_and_grad(&x0, &mut g);
        let want = case["expected"]["loss"][0].as_f64().unwrap();
        assert!(
            close(loss0, want, 1e-12),
            "{name}: f(x0) = {loss0}, torch {want}"
        );
        // Its gradient must agree with finite differences at x0 and along the trajectory.
        let mut points = vec![x0];
        for x in case["expected"]["x"].as_array().unwrap().iter().step_by(17) {
            points.push(f64s(x));
        }
        for x in points {
            objective.value_and_grad(&x, &mut g);
            let fd = finite_difference_grad(objective.as_mut(), &x, 1e-6);
            for (a, b) in g.iter().zip(&fd) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{name}: gradient {a} vs finite difference {b} at {x:?}"
                );
            }
        }
    }
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
