//! The expression engine against hand-written objectives: value + gradient of Rosenbrock in
//! 2-D and 1000-D (as a `sum`), and 10 000 Adam steps through the executor.
//!
//! Run: `cargo bench -p saddle-numeric --bench expr -- --warm-up-time 1 --measurement-time 3`
//! (figures in BENCHMARKS.md and docs/benchmarks/expressions.md).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use saddle_numeric::builtin::Rosenbrock;
use saddle_numeric::executor::StepRecord;
use saddle_numeric::expr::ExpressionProblem;
use saddle_numeric::optim::{AdamConfig, OptimizerConfig};
use saddle_numeric::schedule::Constant;
use saddle_numeric::{Executor, Objective, StopRule};

const ROSENBROCK_2D: &str = "(1 - x)^2 + 100*(y - x^2)^2";

fn rosenbrock_nd(n: usize) -> ExpressionProblem {
    ExpressionProblem {
        dims: [("x".to_string(), n)].into_iter().collect(),
        ..ExpressionProblem::new("sum(i=0..n-2, 100*(x[i+1] - x[i]^2)^2 + (1 - x[i])^2)")
    }
}

fn value_and_grad(c: &mut Criterion) {
    let mut group = c.benchmark_group("rosenbrock_2d_value_and_grad");
    let x = [-1.5, 2.0];
    let mut g = [0.0; 2];
    let mut expr = ExpressionProblem::new(ROSENBROCK_2D)
        .compile()
        .unwrap()
        .objective();
    group.bench_function("expression", |b| {
        b.iter(|| expr.value_and_grad(black_box(&x), &mut g))
    });
    let mut hand = Rosenbrock { dim: 2 };
    group.bench_function("hand_written", |b| {
        b.iter(|| hand.value_and_grad(black_box(&x), &mut g))
    });
    group.finish();

    let n = 1000;
    let mut group = c.benchmark_group("rosenbrock_1000d_value_and_grad");
    let x: Vec<f64> = (0..n).map(|i| (i % 7) as f64 / 3.0 - 1.0).collect();
    let mut g = vec![0.0; n];
    let mut expr = rosenbrock_nd(n).compile().unwrap().objective();
    group.bench_function("expression_sum", |b| {
        b.iter(|| expr.value_and_grad(black_box(&x), &mut g))
    });
    let mut hand = Rosenbrock { dim: n };
    group.bench_function("hand_written", |b| {
        b.iter(|| hand.value_and_grad(black_box(&x), &mut g))
    });
    group.finish();

    let mut group = c.benchmark_group("rosenbrock_2d_hessian_vector_product");
    let x = [-1.5, 2.0];
    let v = [0.3, -0.7];
    let mut out = [0.0; 2];
    let mut expr = ExpressionProblem::new(ROSENBROCK_2D)
        .compile()
        .unwrap()
        .objective();
    group.bench_function("expression", |b| {
        b.iter(|| expr.hessian_vector_product(black_box(&x), &v, &mut out))
    });
    group.finish();

    c.bench_function("compile_rosenbrock_1000d", |b| {
        b.iter(|| rosenbrock_nd(1000).compile().unwrap())
    });
}

fn adam_steps(objective: Box<dyn Objective>) -> f64 {
    let config = OptimizerConfig::Adam(AdamConfig {
        lr: 1e-3,
        ..Default::default()
    });
    let mut exec = Executor::new(
        objective,
        config.build(2),
        Box::new(Constant::new(1e-3)),
        StopRule {
            max_steps: 10_000,
            ..Default::default()
        },
    );
    exec.run(&[-1.5, 2.0], &mut |_: &StepRecord<'_>| true)
        .final_loss
}

fn adam(c: &mut Criterion) {
    let mut group = c.benchmark_group("adam_10000_steps_rosenbrock_2d");
    let compiled = ExpressionProblem::new(ROSENBROCK_2D).compile().unwrap();
    group.bench_function("expression", |b| {
        b.iter(|| adam_steps(Box::new(compiled.objective())))
    });
    group.bench_function("hand_written", |b| {
        b.iter(|| adam_steps(Box::new(Rosenbrock { dim: 2 })))
    });
    group.finish();
}

criterion_group!(benches, value_and_grad, adam);
criterion_main!(benches);
