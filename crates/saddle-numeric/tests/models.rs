//! Learning problems end to end: the PyTorch reference cases of kind `model`, convergence on
//! convex and non-convex problems, determinism of mini-batch runs and their checkpoints, and
//! evaluations that allocate nothing after warm-up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;

use ndarray::{Array1, Array2};
use saddle_numeric::clip::ClipConfig;
use saddle_numeric::data::{generate, Dataset, GeneratorConfig};
use saddle_numeric::executor::{Executor, RunOutcome, StepRecord, StopReason, StopRule};
use saddle_numeric::model::{Activation, Loss, ModelProblem};
use saddle_numeric::optim::OptimizerConfig;
use saddle_numeric::problem::{finite_difference_grad, Initial, Objective, ProblemConfig};
use saddle_numeric::schedule::{Constant, Schedule, ScheduleBase, ScheduleConfig};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// An allocator that counts allocations per thread, so a test can assert that a stretch of
// code allocates nothing while other tests run on other threads.

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn problem(json: Value) -> ProblemConfig {
    serde_json::from_value(json).expect("valid problem JSON")
}

fn build(config: &ProblemConfig, initial: Initial) -> (Box<dyn Objective>, Vec<f64>) {
    config.build(&initial).expect("problem builds")
}

fn run(
    objective: Box<dyn Objective>,
    optimizer: Value,
    max_steps: u64,
    x0: &[f64],
) -> (RunOutcome, Vec<Recorded>) {
    let optimizer: OptimizerConfig = serde_json::from_value(optimizer).unwrap();
    let lr = optimizer.lr();
    let mut exec = Executor::new(
        objective,
        optimizer.build(x0.len()),
        Box::new(Constant::new(lr)),
        StopRule {
            max_steps,
            ..Default::default()
        },
    );
    let mut records = Vec::new();
    let outcome = exec.run(x0, &mut |r: &StepRecord<'_>| {
        records.push(Recorded::from(r));
        true
    });
    (outcome, records)
}

/// An owned copy of a record.
#[derive(Debug, Clone, PartialEq)]
struct Recorded {
    step: u64,
    loss: f64,
    grad_norm: f64,
    params: Vec<f64>,
    epoch: Option<u64>,
    metrics: Option<saddle_numeric::model::Metrics>,
}

impl From<&StepRecord<'_>> for Recorded {
    fn from(r: &StepRecord<'_>) -> Self {
        Self {
            step: r.step,
            loss: r.loss,
            grad_norm: r.grad_norm,
            params: r.params.to_vec(),
            epoch: r.epoch,
            metrics: r.metrics,
        }
    }
}

fn dataset_json(data: &Dataset) -> Value {
    let rows =
        |m: &Array2<f64>| -> Vec<Vec<f64>> { m.rows().into_iter().map(|r| r.to_vec()).collect() };
    json!({"features": rows(data.features()), "targets": rows(data.targets())})
}

fn generated(json: Value) -> Dataset {
    let config: GeneratorConfig = serde_json::from_value(json).unwrap();
    generate(&config).unwrap()
}

// ---------------------------------------------------------------------------------------
// The PyTorch reference cases of kind `model`.

fn cases_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/cases"
    ))
}

/// The model problem a reference case describes, from its `model`, `hidden_activation`,
/// `loss` and `param_layout`; an error names what saddle cannot map yet.
fn case_problem(p: &Value) -> Result<Value, String> {
    let layout = p["param_layout"].as_array().ok_or("no param_layout")?;
    let loss = match p["loss"].as_str() {
        Some("mse") => "mse",
        Some("bce_with_logits") => "bce",
        Some("cross_entropy") => "cross_entropy",
        other => return Err(format!("loss {other:?} not mapped")),
    };
    let model = match p["model"].as_str() {
        Some("linear_regression") => json!({"type": "linear"}),
        Some("logistic_regression") => json!({"type": "logistic"}),
        Some("softmax_regression") => json!({"type": "softmax"}),
        Some("mlp") => {
            // Hidden widths: the output size of every weight matrix but the last.
            let weights: Vec<u64> = layout
                .iter()
                .filter(|e| e[0].as_str().is_some_and(|n| n.starts_with('W')))
                .filter_map(|e| e[1][0].as_u64())
                .collect();
            json!({"type": "mlp", "hidden": weights[..weights.len().saturating_sub(1)],
                   "activation": p["hidden_activation"]})
        }
        other => return Err(format!("model {other:?} not mapped")),
    };
    Ok(json!({"kind": "model", "model": model, "loss": loss,
              "data": {"features": p["X"], "targets": p["y"]}}))
}

/// The optimizer of a case as saddle's config: torch's class name lower-cased, its params
/// minus the keys saddle does not know (each dropped key is printed).
fn case_optimizer(case: &Value) -> Result<OptimizerConfig, String> {
    let mut params = case["optimizer"]["params"].as_object().unwrap().clone();
    params.insert(
        "name".into(),
        json!(case["optimizer"]["name"].as_str().unwrap().to_lowercase()),
    );
    loop {
        match serde_json::from_value::<OptimizerConfig>(Value::Object(params.clone())) {
            Ok(c) => return Ok(c),
            Err(e) => {
                let msg = e.to_string();
                let unknown = msg
                    .strip_prefix("unknown field `")
                    .and_then(|rest| rest.split('`').next())
                    .map(str::to_string);
                match unknown {
                    Some(key) if params.remove(&key).is_some() => {
                        println!("  {}: dropping optimizer key `{key}`", case["name"]);
                    }
                    _ => return Err(format!("optimizer not available: {msg}")),
                }
            }
        }
    }
}

/// The scheduler of a case as saddle's config (tried under several spellings of its name).
fn case_schedule(case: &Value, lr: f64) -> Result<Box<dyn Schedule>, String> {
    let s = &case["scheduler"];
    if s.is_null() {
        return Ok(Box::new(Constant::new(lr)));
    }
    let torch = s["name"].as_str().unwrap();
    let mut snake = String::new();
    for (i, c) in torch.char_indices() {
        if c.is_uppercase() && i > 0 && !torch[..i].ends_with(|p: char| p.is_uppercase()) {
            snake.push('_');
        }
        snake.extend(c.to_lowercase());
    }
    // StepLR may be `step_lr` or `step`; CosineAnnealingLR `cosine`.
    let short = snake.trim_end_matches("_lr").replace("_annealing", "");
    for name in [snake, short, torch.to_lowercase()] {
        let mut params = s.as_object().unwrap().clone();
        params.insert("name".into(), json!(name));
        if let Ok(c) = serde_json::from_value::<ScheduleConfig>(Value::Object(params)) {
            return Ok(c.build(ScheduleBase {
                lr,
                total_steps: case["steps"].as_u64().unwrap(),
            }));
        }
    }
    Err(format!("scheduler {torch} not available"))
}

fn case_clip(case: &Value) -> Result<Option<ClipConfig>, String> {
    let c = &case["grad_clip"];
    if c.is_null() {
        return Ok(None);
    }
    match c["type"].as_str() {
        Some("norm") => Ok(Some(ClipConfig::Norm {
            max_norm: c["max_norm"].as_f64().unwrap(),
        })),
        other => Err(format!("clip type {other:?} not available")),
    }
}

fn close(a: f64, b: f64, rtol: f64) -> bool {
    (a - b).abs() <= rtol * b.abs().max(1.0)
}

#[test]
fn every_model_reference_case_matches_torch_at_x0_and_along_its_trajectory() {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("reference cases folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    entries.sort();
    let (mut checked, mut trajectories, mut skipped) = (0, 0, Vec::new());
    for path in entries {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if case["problem"]["type"] != "model" {
            continue;
        }
        let name = case["name"].as_str().unwrap().to_string();
        let sens = &case["sensitivity"];
        let loss_rtol = sens["suggested_loss_rtol"].as_f64().unwrap();
        let grad_rtol = sens["suggested_grad_norm_rtol"].as_f64().unwrap();
        let x_atol = sens["suggested_x_atol"].as_f64().unwrap();
        let expected = &case["expected"];
        let x0: Vec<f64> = serde_json::from_value(case["x0"].clone()).unwrap();

        let config = match case_problem(&case["problem"])
            .and_then(|j| serde_json::from_value::<ProblemConfig>(j).map_err(|e| e.to_string()))
        {
            Ok(c) => c,
            Err(reason) => {
                println!("{name}: cannot be mapped: {reason}");
                skipped.push(name);
                continue;
            }
        };
        // The parameter layout must be the case's.
        let ProblemConfig::Model(model) = &config else {
            unreachable!()
        };
        let data = model.inline_dataset().unwrap().unwrap();
        let (built, _) = model.build(&data, &Initial::Vector(x0.clone())).unwrap();
        let layout: Vec<(String, Vec<usize>)> = built.network().layout();
        let case_layout: Vec<(String, Vec<usize>)> =
            serde_json::from_value(case["problem"]["param_layout"].clone()).unwrap();
        assert_eq!(layout, case_layout, "{name}: parameter layout");

        let (mut objective, x0) = build(&config, Initial::Vector(x0));
        let mut grad = vec![0.0; objective.dim()];
        let f0 = objective.value_and_grad(&x0, &mut grad);
        let g0 = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        let f0_exp = expected["loss"][0].as_f64().unwrap();
        let g0_exp = expected["grad_norm"][0].as_f64().unwrap();
        assert!(
            close(f0, f0_exp, loss_rtol),
            "{name}: f(x0) = {f0}, torch {f0_exp}"
        );
        assert!(
            close(g0, g0_exp, grad_rtol),
            "{name}: |grad f(x0)| = {g0}, torch {g0_exp}"
        );
        checked += 1;

        let plan = case_optimizer(&case).and_then(|opt| {
            let schedule = case_schedule(&case, opt.lr())?;
            Ok((opt, schedule, case_clip(&case)?))
        });
        let (optimizer, schedule, clip) = match plan {
            Ok(p) => p,
            Err(reason) => {
                println!("{name}: trajectory not compared: {reason}");
                skipped.push(name);
                continue;
            }
        };
        let steps = case["steps"].as_u64().unwrap();
        let mut exec = Executor::new(
            objective,
            optimizer.build(x0.len()),
            schedule,
            StopRule {
                max_steps: steps,
                ..Default::default()
            },
        )
        .with_clip(clip);
        let mut records = Vec::new();
        exec.run(&x0, &mut |r: &StepRecord<'_>| {
            records.push(Recorded::from(r));
            true
        });
        assert_eq!(records.len() as u64, steps + 1, "{name}: record count");
        let (mut worst_loss, mut worst_x) = (0.0f64, 0.0f64);
        for (k, r) in records.iter().enumerate() {
            let f = expected["loss"][k].as_f64().unwrap();
            let g = expected["grad_norm"][k].as_f64().unwrap();
            worst_loss = worst_loss.max((r.loss - f).abs() / f.abs().max(1.0));
            assert!(
                close(r.loss, f, loss_rtol),
                "{name} step {k}: loss {} vs {f}",
                r.loss
            );
            assert!(
                close(r.grad_norm, g, grad_rtol),
                "{name} step {k}: grad norm {} vs {g}",
                r.grad_norm
            );
            if k > 0 {
                let xs: Vec<f64> = serde_json::from_value(expected["x"][k - 1].clone()).unwrap();
                for (i, (a, b)) in r.params.iter().zip(&xs).enumerate() {
                    worst_x = worst_x.max((a - b).abs());
                    assert!(
                        (a - b).abs() <= x_atol,
                        "{name} step {k}: x[{i}] {a} vs {b}"
                    );
                }
            }
        }
        println!(
            "{name}: {steps} steps match torch (max rel loss diff {worst_loss:.1e}, max |dx| {worst_x:.1e})"
        );
        trajectories += 1;
    }
    println!(
        "model cases: {checked} checked at x0, {trajectories} trajectories compared, not compared: {skipped:?}"
    );
    assert!(checked >= 8, "expected the 8 model cases, found {checked}");
    assert!(trajectories >= 1, "no trajectory could be compared");
}

// ---------------------------------------------------------------------------------------
// Gradients against finite differences.

#[test]
fn mlp_gradients_match_finite_differences_for_every_activation_and_loss() {
    let data = generated(
        json!({"kind": "blobs", "n_samples": 12, "n_features": 3, "centers": 3, "seed": 5}),
    );
    let x = data.features().clone();
    let labels = data.targets().clone();
    // Regression targets: two smooth functions of the inputs; bce targets in [0, 1].
    let reg = Array2::from_shape_fn((12, 2), |(i, j)| (x[[i, 0]] * (j as f64 + 1.0)).sin());
    let prob = reg.mapv(|v| 0.5 + 0.4 * v);
    let activations = [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Gelu,
        Activation::Softplus,
        Activation::Identity,
    ];
    for act in activations {
        for loss in [
            Loss::Mse,
            Loss::Mae,
            Loss::Huber,
            Loss::Bce,
            Loss::CrossEntropy,
        ] {
            let targets = match loss {
                Loss::Bce => prob.clone(),
                Loss::CrossEntropy => labels.clone(),
                _ => reg.clone(),
            };
            let data = Dataset::new(x.clone(), targets).unwrap();
            let config: ModelProblem = serde_json::from_value(json!({
                "model": {"type": "mlp", "hidden": [5, 4], "activation": [act, "tanh"]},
                "loss": loss, "dataset_id": "d", "l2": 0.03, "batch_size": 5, "seed": 1
            }))
            .unwrap();
            let (mut objective, x0) = config
                .build(
                    &data,
                    &serde_json::from_value(json!({"init": "torch_default", "seed": 3})).unwrap(),
                )
                .unwrap();
            objective.advance(); // a mini-batch other than the first
            let mut grad = vec![0.0; objective.dim()];
            objective.value_and_grad(&x0, &mut grad);
            let fd = finite_difference_grad(&mut objective, &x0, 1e-6);
            for (i, (a, b)) in grad.iter().zip(&fd).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                    "{act:?}/{loss:?} component {i}: analytic {a}, finite difference {b}"
                );
            }
        }
    }
}

#[test]
fn softmax_gradient_matches_finite_differences_and_has_one_output_per_class() {
    let data = generated(
        json!({"kind": "blobs", "n_samples": 30, "n_features": 2, "centers": 4, "seed": 2}),
    );
    let config: ModelProblem =
        serde_json::from_value(json!({"model": {"type": "softmax"}, "dataset_id": "d"})).unwrap();
    let (mut objective, x0) = config
        .build(
            &data,
            &serde_json::from_value(json!({"init": "xavier_uniform", "seed": 1})).unwrap(),
        )
        .unwrap();
    assert_eq!(objective.dim(), 4 * (2 + 1));
    let mut grad = vec![0.0; objective.dim()];
    objective.value_and_grad(&x0, &mut grad);
    let fd = finite_difference_grad(&mut objective, &x0, 1e-6);
    for (a, b) in grad.iter().zip(&fd) {
        assert!((a - b).abs() < 1e-8, "{a} vs {b}");
    }
}

// ---------------------------------------------------------------------------------------
// Convex and non-convex fitting.

/// Solves the normal equations [X 1]ᵀ[X 1] β = [X 1]ᵀ y by Gaussian elimination with partial
/// pivoting; returns (w, b).
fn least_squares(x: &Array2<f64>, y: &Array1<f64>) -> (Vec<f64>, f64) {
    let (n, d) = x.dim();
    let p = d + 1;
    let design = |i: usize, j: usize| if j < d { x[[i, j]] } else { 1.0 };
    let mut a = Array2::<f64>::zeros((p, p + 1));
    for r in 0..p {
        for c in 0..p {
            a[[r, c]] = (0..n).map(|i| design(i, r) * design(i, c)).sum();
        }
        a[[r, p]] = (0..n).map(|i| design(i, r) * y[i]).sum();
    }
    for col in 0..p {
        let pivot = (col..p)
            .max_by(|&i, &j| a[[i, col]].abs().total_cmp(&a[[j, col]].abs()))
            .unwrap();
        for c in 0..=p {
            a.swap([col, c], [pivot, c]);
        }
        for r in 0..p {
            if r != col {
                let f = a[[r, col]] / a[[col, col]];
                for c in col..=p {
                    a[[r, c]] -= f * a[[col, c]];
                }
            }
        }
    }
    let beta: Vec<f64> = (0..p).map(|r| a[[r, p]] / a[[r, r]]).collect();
    (beta[..d].to_vec(), beta[d])
}

#[test]
fn full_batch_gradient_descent_on_linear_regression_reaches_the_least_squares_solution() {
    let data = generated(json!({"kind": "linear", "n_samples": 200, "n_features": 3,
                                "weights": [1.5, -2.0, 0.5], "bias": 0.7, "noise": 0.3, "seed": 11}));
    let (w, b) = least_squares(data.features(), &data.targets().column(0).to_owned());
    let config =
        problem(json!({"kind": "model", "model": {"type": "linear"}, "data": dataset_json(&data)}));
    let (objective, x0) = build(
        &config,
        serde_json::from_value(json!({"init": "zeros"})).unwrap(),
    );
    let (outcome, _) = run(objective, json!({"name": "sgd", "lr": 0.1}), 3000, &x0);
    let x = &outcome.final_params;
    for (j, wj) in w.iter().enumerate() {
        assert!((x[j] - wj).abs() < 1e-9, "w[{j}]: {} vs {wj}", x[j]);
    }
    assert!((x[3] - b).abs() < 1e-9, "b: {} vs {b}", x[3]);
    assert!(outcome.final_grad_norm < 1e-9);
}

#[test]
fn logistic_regression_separates_a_separable_set_completely() {
    let data = generated(json!({"kind": "blobs", "n_samples": 200, "centers": 2,
                                "cluster_std": 0.6, "seed": 4}));
    let config = problem(
        json!({"kind": "model", "model": {"type": "logistic"}, "data": dataset_json(&data)}),
    );
    let (objective, x0) = build(
        &config,
        serde_json::from_value(json!({"init": "zeros"})).unwrap(),
    );
    let (outcome, _) = run(objective, json!({"name": "adam", "lr": 0.1}), 300, &x0);
    let metrics = outcome.final_metrics.expect("classifier metrics");
    assert_eq!(metrics.train_accuracy, Some(1.0), "{metrics:?}");
    assert!(metrics.train_loss < 0.05, "{metrics:?}");
}

#[test]
fn an_mlp_trained_with_adam_on_two_moons_reaches_97_percent_validation_accuracy() {
    let data = generated(json!({"kind": "moons", "n_samples": 1000, "noise": 0.1, "seed": 7}));
    let config = problem(json!({
        "kind": "model", "model": {"type": "mlp", "hidden": [16, 16], "activation": "tanh"},
        "loss": "bce", "data": dataset_json(&data), "batch_size": 32, "seed": 42,
        "validation_split": 0.2, "eval_every": 250
    }));
    let (objective, x0) = build(
        &config,
        serde_json::from_value(json!({"init": "torch_default", "seed": 0})).unwrap(),
    );
    let (outcome, records) = run(objective, json!({"name": "adam", "lr": 0.01}), 2000, &x0);
    let m = outcome.final_metrics.unwrap();
    println!("two moons: {m:?}");
    assert!(m.val_accuracy.unwrap() >= 0.97, "{m:?}");
    // 800 training rows in batches of 32: 25 steps per epoch.
    assert_eq!(records[24].epoch, Some(0));
    assert_eq!(records[25].epoch, Some(1));
    assert_eq!(records[2000].epoch, Some(80));
    let with_metrics: Vec<u64> = records
        .iter()
        .filter(|r| r.metrics.is_some())
        .map(|r| r.step)
        .collect();
    assert_eq!(
        with_metrics,
        vec![0, 250, 500, 750, 1000, 1250, 1500, 1750, 2000]
    );
}

#[test]
fn softmax_regression_classifies_blobs_and_predicts_classes() {
    let data = generated(
        json!({"kind": "blobs", "n_samples": 300, "centers": 3, "cluster_std": 0.8, "seed": 9}),
    );
    let config: ModelProblem = serde_json::from_value(json!({
        "model": {"type": "softmax"}, "dataset_id": "blobs", "validation_split": 0.25, "seed": 3
    }))
    .unwrap();
    let problem = ProblemConfig::Model(config.clone());
    let (objective, x0) = problem
        .build_with(
            &serde_json::from_value(json!({"init": "zeros"})).unwrap(),
            &|id| (id == "blobs").then(|| data.clone()),
        )
        .unwrap();
    let (outcome, _) = run(objective, json!({"name": "adam", "lr": 0.05}), 400, &x0);
    let m = outcome.final_metrics.unwrap();
    assert!(m.val_accuracy.unwrap() >= 0.98, "{m:?}");
    let prediction = config
        .predict(&outcome.final_params, data.features().view())
        .unwrap();
    let classes = prediction.classes.unwrap();
    let hits = classes
        .iter()
        .zip(data.targets().column(0))
        .filter(|(c, y)| **c as f64 == **y)
        .count();
    assert!(hits as f64 / 300.0 >= 0.98);
    for p in &prediction.outputs {
        assert_eq!(p.len(), 3);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

// ---------------------------------------------------------------------------------------
// Determinism, checkpoints and allocation.

fn moons_minibatch() -> (ProblemConfig, Initial) {
    let data = generated(json!({"kind": "moons", "n_samples": 300, "noise": 0.2, "seed": 1}));
    (
        problem(json!({
            "kind": "model", "model": {"type": "mlp", "hidden": [8], "activation": "gelu"},
            "loss": "bce", "data": dataset_json(&data), "batch_size": 64, "seed": 5,
            "validation_split": 0.1, "l2": 1e-3, "eval_every": 7
        })),
        serde_json::from_value(json!({"init": "he_normal", "seed": 2})).unwrap(),
    )
}

#[test]
fn the_same_seed_gives_bit_identical_mini_batch_histories() {
    let (config, initial) = moons_minibatch();
    let go = || {
        let (objective, x0) = build(&config, initial.clone());
        run(objective, json!({"name": "adam", "lr": 0.01}), 60, &x0).1
    };
    let (a, b) = (go(), go());
    assert_eq!(a.len(), 61);
    for (ra, rb) in a.iter().zip(&b) {
        assert_eq!(ra.loss.to_bits(), rb.loss.to_bits(), "step {}", ra.step);
        assert!(ra
            .params
            .iter()
            .zip(&rb.params)
            .all(|(p, q)| p.to_bits() == q.to_bits()));
        assert_eq!(ra.metrics, rb.metrics);
    }
    // A different seed shuffles differently.
    let ProblemConfig::Model(mut other) = config.clone() else {
        unreachable!()
    };
    other.seed = 6;
    let (objective, x0) = build(&ProblemConfig::Model(other), initial);
    let c = run(objective, json!({"name": "adam", "lr": 0.01}), 5, &x0).1;
    assert_ne!(a[1].loss, c[1].loss);
}

#[test]
fn a_run_resumed_from_a_checkpoint_continues_bit_identically() {
    let (config, initial) = moons_minibatch();
    let optimizer: OptimizerConfig =
        serde_json::from_value(json!({"name": "adam", "lr": 0.01})).unwrap();
    let (objective, x0) = build(&config, initial.clone());
    let (_, straight) = run(objective, json!({"name": "adam", "lr": 0.01}), 40, &x0);

    // 15 steps, checkpoint (x, optimizer state, objective state), then 25 more.
    let (objective, x0) = build(&config, initial.clone());
    let mut first = Executor::new(
        objective,
        optimizer.build(x0.len()),
        Box::new(Constant::new(0.01)),
        StopRule {
            max_steps: 15,
            ..Default::default()
        },
    );
    let half = first.run(&x0, &mut |_: &StepRecord<'_>| true);
    let opt_state = first.optimizer().state();
    let obj_state = first.objective().state();
    // The checkpoint must survive a trip through JSON text.
    let obj_state: Value = serde_json::from_str(&obj_state.to_string()).unwrap();

    let (mut objective, _) = build(&config, initial);
    objective.load_state(&obj_state).unwrap();
    let mut opt = optimizer.build(x0.len());
    opt.load_state(&opt_state).unwrap();
    let mut second = Executor::new(
        objective,
        opt,
        Box::new(Constant::new(0.01)),
        StopRule {
            max_steps: 25,
            ..Default::default()
        },
    )
    .starting_at_step(15);
    let mut resumed = Vec::new();
    second.run(&half.final_params, &mut |r: &StepRecord<'_>| {
        resumed.push(Recorded::from(r));
        true
    });
    for r in &resumed {
        let s = &straight[r.step as usize];
        assert_eq!(r.loss.to_bits(), s.loss.to_bits(), "step {}", r.step);
        assert_eq!(r.params, s.params, "step {}", r.step);
        assert_eq!(r.epoch, s.epoch, "step {}", r.step);
    }
}

#[test]
fn evaluations_allocate_nothing_of_their_own_after_warm_up() {
    for batch in [json!(null), json!(16)] {
        let data = generated(json!({"kind": "spirals", "n_samples": 200, "seed": 3}));
        let config = problem(json!({
            "kind": "model", "model": {"type": "mlp", "hidden": [12, 12], "activation": ["gelu", "softplus"]},
            "loss": "bce", "data": dataset_json(&data), "batch_size": batch, "l2": 0.01
        }));
        let (mut objective, x0) = build(
            &config,
            serde_json::from_value(json!({"init": "torch_default"})).unwrap(),
        );
        let mut grad = vec![0.0; objective.dim()];
        objective.value_and_grad(&x0, &mut grad);
        objective.advance();
        let before = allocations();
        for _ in 0..50 {
            objective.value_and_grad(&x0, &mut grad);
            objective.value(&x0);
            objective.advance();
        }
        // The only allocations left are matrixmultiply's packing buffer, one per matrix
        // product (it has no API to pass one in). The single-output layer uses
        // matrix-vector products instead, so with L = 3 layers: L − 1 products forward and
        // 2(L − 1) backward for value_and_grad, L − 1 for value.
        let layers = 3;
        let products = 4 * (layers - 1);
        assert_eq!(allocations() - before, 50 * products, "batch_size {batch}");
    }
}

// ---------------------------------------------------------------------------------------
// Configuration errors.

#[test]
fn a_dataset_id_without_a_resolver_is_a_clear_configuration_error() {
    let config =
        problem(json!({"kind": "model", "model": {"type": "linear"}, "dataset_id": "ds_1"}));
    assert_eq!(config.dataset_id(), Some("ds_1"));
    let err = config
        .build(&Initial::Vector(vec![0.0, 0.0]))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.field, "problem.dataset_id");
    assert!(err.message.contains("ds_1"), "{err}");
}

#[test]
fn configuration_errors_name_the_field() {
    let err = |json: Value, initial: Value| {
        let config: ProblemConfig = serde_json::from_value(json).unwrap();
        config
            .build(&serde_json::from_value(initial).unwrap())
            .map(|_| ())
            .unwrap_err()
            .field
    };
    let data =
        json!({"features": [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], "targets": [0.0, 1.0, 1.0]});
    let model = |m: Value| json!({"kind": "model", "model": m, "data": data});
    assert_eq!(
        err(model(json!({"type": "linear"})), json!([0.0])),
        "initial"
    );
    assert_eq!(
        err(
            model(json!({"type": "mlp", "hidden": [0]})),
            json!({"init": "zeros"})
        ),
        "problem.model.hidden[0]"
    );
    assert_eq!(
        err(
            model(json!({"type": "mlp", "hidden": [3, 3], "activation": ["tanh"]})),
            json!({"init": "zeros"})
        ),
        "problem.model.activation"
    );
    let mut bad = model(json!({"type": "logistic"}));
    bad["loss"] = json!("mse");
    assert_eq!(err(bad, json!({"init": "zeros"})), "problem.loss");
    let mut split = model(json!({"type": "linear"}));
    split["validation_split"] = json!(1.0);
    assert_eq!(
        err(split, json!({"init": "zeros"})),
        "problem.validation_split"
    );
    let ragged = json!({"kind": "model", "model": {"type": "linear"},
                        "data": {"features": [[0.0, 1.0], [1.0]], "targets": [0.0, 1.0]}});
    assert_eq!(
        err(ragged, json!({"init": "zeros"})),
        "problem.data.features[1]"
    );
    let labels = json!({"kind": "model", "model": {"type": "logistic"},
                        "data": {"features": [[0.0], [1.0]], "targets": [0.0, 2.0]}});
    assert_eq!(
        err(labels, json!({"init": "zeros"})),
        "problem.data.targets[1]"
    );
    assert_eq!(
        err(
            json!({"kind": "builtin", "name": "sphere"}),
            json!({"init": "zeros"})
        ),
        "initial"
    );
}

#[test]
fn a_diverging_model_run_stops_as_diverged() {
    let data = generated(json!({"kind": "linear", "n_samples": 50, "n_features": 2, "seed": 1}));
    let config =
        problem(json!({"kind": "model", "model": {"type": "linear"}, "data": dataset_json(&data)}));
    let (objective, x0) = build(
        &config,
        serde_json::from_value(json!({"init": "zeros"})).unwrap(),
    );
    let (outcome, _) = run(objective, json!({"name": "sgd", "lr": 100.0}), 1000, &x0);
    assert_eq!(outcome.stop_reason, StopReason::Diverged);
    assert_eq!(outcome.final_metrics, None);
}

#[test]
fn predict_infers_the_output_width_and_reads_outputs_by_loss() {
    // Linear regression with two targets: W is 2×3, b is 2 → 8 parameters.
    let linear: ModelProblem =
        serde_json::from_value(json!({"model": {"type": "linear"}, "dataset_id": "d"})).unwrap();
    let params = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.5, -0.5];
    let p = linear
        .predict_rows(&params, &[vec![1.0, 2.0, 3.0]])
        .unwrap();
    assert_eq!(p.outputs, vec![vec![1.5, 1.5]]);
    assert_eq!(p.classes, None);
    // Logistic: probabilities and the class p ≥ ½.
    let logistic: ModelProblem =
        serde_json::from_value(json!({"model": {"type": "logistic"}, "dataset_id": "d"})).unwrap();
    let p = logistic
        .predict_rows(&[2.0, 0.0], &[vec![1.0], vec![-1.0]])
        .unwrap();
    assert!((p.outputs[0][0] - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-15);
    assert_eq!(p.classes, Some(vec![1, 0]));
    // A parameter count that fits no output width, and ragged rows.
    assert_eq!(
        logistic
            .predict_rows(&[1.0, 2.0, 3.0], &[vec![1.0]])
            .unwrap_err()
            .field,
        "features"
    );
    assert_eq!(
        logistic
            .predict_rows(&[1.0, 2.0], &[vec![1.0], vec![1.0, 2.0]])
            .unwrap_err()
            .field,
        "features[1]"
    );
}

#[test]
fn unknown_model_fields_and_oversized_full_batches_are_rejected() {
    let extra: Result<ModelProblem, _> = serde_json::from_value(
        json!({"model": {"type": "linear", "hidden": [3]}, "dataset_id": "d"}),
    );
    assert!(extra.is_err(), "a linear model has no hidden layers");
    // 40 000 rows through 2048-wide layers is far over the buffer limit as one batch.
    let data = Dataset::new(Array2::zeros((40_000, 2)), Array2::zeros((40_000, 1))).unwrap();
    let wide: ModelProblem = serde_json::from_value(json!({
        "model": {"type": "mlp", "hidden": [2048, 2048]}, "dataset_id": "d"
    }))
    .unwrap();
    let init: Initial = serde_json::from_value(json!({"init": "zeros"})).unwrap();
    let err = wide.build(&data, &init).map(|_| ()).unwrap_err();
    assert_eq!(err.field, "problem.batch_size");
    let mut batched = wide.clone();
    batched.batch_size = Some(256);
    assert!(batched.build(&data, &init).is_ok());
}

#[test]
fn ragged_inline_targets_are_reported_on_the_targets() {
    let config = problem(json!({"kind": "model", "model": {"type": "linear"},
        "data": {"features": [[0.0], [1.0], [2.0]], "targets": [[0.0, 1.0], [1.0, 1.0], [2.0]]}}));
    let err = config
        .build(&serde_json::from_value(json!({"init": "zeros"})).unwrap())
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.field, "problem.data.targets[2]");
}

#[test]
fn unshuffled_batches_walk_the_rows_in_order_with_a_short_last_batch() {
    // At x = 0 a linear model predicts 0, so the mse of a batch is the mean of its y².
    let ys = [1.0, 2.0, 3.0, 4.0, 5.0];
    let config = problem(json!({
        "kind": "model", "model": {"type": "linear"}, "batch_size": 2, "shuffle": false,
        "data": {"features": [[0.0], [0.0], [0.0], [0.0], [0.0]], "targets": ys}
    }));
    let (mut objective, x0) = build(
        &config,
        serde_json::from_value(json!({"init": "zeros"})).unwrap(),
    );
    let mean_sq = |rows: &[f64]| rows.iter().map(|y| y * y).sum::<f64>() / rows.len() as f64;
    let expected = [
        (0, mean_sq(&ys[0..2])),
        (0, mean_sq(&ys[2..4])),
        (0, mean_sq(&ys[4..5])),
        (1, mean_sq(&ys[0..2])),
    ];
    for (epoch, loss) in expected {
        assert_eq!(objective.epoch(), Some(epoch));
        assert_eq!(objective.value(&x0), loss);
        objective.advance();
    }
    assert_eq!(objective.state(), json!({"epoch": 1, "position": 2}));
    let err = objective
        .load_state(&json!({"epoch": 0, "position": 3}))
        .unwrap_err();
    assert_eq!(err.field, "state.position");
}
