//! One training step (forward, backward, Adam update, next batch) of model problems:
//! logistic regression on 10 000 × 100 full batch and in batches of 64, and an MLP
//! 100-64-64-1 (relu) on 10 000 rows full batch. The PyTorch counterpart is
//! `benches/torch_model_step.py`; figures are in BENCHMARKS.md and docs/benchmarks/models.md.
//!
//! The full-batch steps are measured on one thread and with their batch shards on two.
//!
//! Run: `cargo bench -p saddle-numeric --bench model_step -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::Array2;
use saddle_numeric::data::rng::Rng;
use saddle_numeric::data::Dataset;
use saddle_numeric::model::ModelProblem;
use saddle_numeric::optim::{AdamConfig, Optimizer, OptimizerConfig, StepContext};
use saddle_numeric::problem::{Initial, Objective};
use serde_json::json;

const ROWS: usize = 10_000;
const FEATURES: usize = 100;

/// 10 000 × 100 standard normal features; label 1 where a fixed random linear score is
/// positive (seeded, so every run measures the same data).
fn dataset() -> Dataset {
    let mut rng = Rng::new(2024);
    let w: Vec<f64> = (0..FEATURES).map(|_| rng.normal()).collect();
    let x = Array2::from_shape_fn((ROWS, FEATURES), |_| rng.normal());
    let y = Array2::from_shape_fn((ROWS, 1), |(i, _)| {
        let score: f64 = x.row(i).iter().zip(&w).map(|(a, b)| a * b).sum();
        f64::from(score > 0.0)
    });
    Dataset::new(x, y).expect("finite data")
}

/// The objective, x₀ and an Adam optimizer for one configuration.
fn setup(
    data: &Dataset,
    problem: serde_json::Value,
) -> (impl Objective, Vec<f64>, Box<dyn Optimizer>) {
    let config: ModelProblem = serde_json::from_value(problem).expect("valid problem");
    let initial: Initial =
        serde_json::from_value(json!({"init": "torch_default", "seed": 0})).unwrap();
    let (objective, x0) = config.build(data, &initial).expect("builds");
    let adam = OptimizerConfig::Adam(AdamConfig {
        lr: 1e-3,
        ..Default::default()
    });
    let optimizer = adam.build(x0.len());
    (objective, x0, optimizer)
}

/// Benchmarks one training step of `problem`, its evaluation allowed `threads` threads.
fn bench_step(
    c: &mut Criterion,
    name: &str,
    data: &Dataset,
    problem: serde_json::Value,
    threads: usize,
) {
    let (mut objective, mut x, mut optimizer) = setup(data, problem);
    objective.set_threads(threads);
    let mut grad = vec![0.0; x.len()];
    c.bench_function(name, |b| {
        b.iter(|| {
            let loss = objective.value_and_grad(&x, &mut grad);
            optimizer.step(
                &mut x,
                StepContext {
                    loss,
                    grad: &grad,
                    lr: 1e-3,
                    objective: &mut objective,
                },
            );
            objective.advance();
            loss
        })
    });
}

fn model_step(c: &mut Criterion) {
    let data = dataset();
    bench_step(
        c,
        "logistic_10000x100_full_batch",
        &data,
        json!({"model": {"type": "logistic"}, "dataset_id": "bench"}),
        1,
    );
    bench_step(
        c,
        "logistic_10000x100_full_batch_2_threads",
        &data,
        json!({"model": {"type": "logistic"}, "dataset_id": "bench"}),
        2,
    );
    bench_step(
        c,
        "logistic_10000x100_batch_64",
        &data,
        json!({"model": {"type": "logistic"}, "dataset_id": "bench", "batch_size": 64, "seed": 1}),
        1,
    );
    let mlp = json!({"model": {"type": "mlp", "hidden": [64, 64], "activation": "relu"},
                     "loss": "bce", "dataset_id": "bench"});
    bench_step(
        c,
        "mlp_100_64_64_1_relu_10000_full_batch",
        &data,
        mlp.clone(),
        1,
    );
    bench_step(
        c,
        "mlp_100_64_64_1_relu_10000_full_batch_2_threads",
        &data,
        mlp,
        2,
    );
}

criterion_group!(benches, model_step);
criterion_main!(benches);
