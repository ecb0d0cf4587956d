//! ns per parameter of one optimizer step (SGD with momentum, Adam, AdamW) at N = 1e6 and
//! 1e7, next to the memory-bandwidth floor: a loop with the same traffic and trivial
//! arithmetic (Adam: 4 f64 reads + 3 writes per element; SGD-momentum: 3 reads + 2 writes).
//!
//! Run: `cargo bench -p saddle-numeric --bench optimizer_step -- --warm-up-time 1
//! --measurement-time 3`. Criterion reports time per step; throughput is in elements, so
//! ns/parameter = 1e9 / (elements/s).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use saddle_numeric::optim::{AdamConfig, AdamwConfig, OptimizerConfig, SgdConfig, StepContext};
use saddle_numeric::problem::FnObjective;

const SIZES: [usize; 2] = [1_000_000, 10_000_000];

#[path = "common/floor.rs"]
mod floor;
use floor::{floor_3r2w, floor_4r3w};

fn bench_steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("optimizer_step");
    group.sample_size(10);
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        let g: Vec<f64> = (0..n).map(|i| ((i % 1000) as f64 - 500.0) * 1e-3).collect();
        let mut objective = FnObjective::new(n, |_: &[f64], _: &mut [f64]| 0.0);

        let configs = [
            (
                "sgd_momentum",
                OptimizerConfig::Sgd(SgdConfig {
                    lr: 1e-3,
                    momentum: 0.9,
                    ..Default::default()
                }),
            ),
            ("adam", OptimizerConfig::Adam(AdamConfig::default())),
            ("adamw", OptimizerConfig::Adamw(AdamwConfig::default())),
        ];
        for (name, config) in configs {
            let mut optimizer = config.build(n);
            let mut x = vec![0.5; n];
            group.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| {
                    optimizer.step(
                        black_box(&mut x),
                        StepContext {
                            loss: 0.0,
                            grad: black_box(&g),
                            lr: 1e-3,
                            objective: &mut objective,
                        },
                    )
                })
            });
        }

        let (mut x, mut m, mut v) = (vec![0.5; n], vec![0.0; n], vec![0.0; n]);
        group.bench_function(BenchmarkId::new("floor_4r3w", n), |b| {
            b.iter(|| floor_4r3w(black_box(&mut x), black_box(&g), &mut m, &mut v))
        });
        group.bench_function(BenchmarkId::new("floor_3r2w", n), |b| {
            b.iter(|| floor_3r2w(black_box(&mut x), black_box(&g), &mut m))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_steps);
criterion_main!(benches);
