//! Service benchmarks, all in one run (see BENCHMARKS.md):
//! - Adam steps/s on 2-D Rosenbrock in the numeric core alone, and through the job runner
//!   with recording off;
//! - history rows/s of a job recording every step with its params, beside the raw ceiling of
//!   the same SQLite settings (a loop of 1000-row multi-row INSERTs and nothing else);
//! - submit → succeeded (history durable) of a 10 000-step job recording every step.
//!
//! Run: `cargo bench --bench service`

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;
use sqlx::{QueryBuilder, Sqlite};
use tokio::runtime::Runtime;

use saddle::jobs::{JobLimits, JobRunner, JobSpec, Lease};
use saddle::store::{JobRow, Store};
use saddle::tenant::Tenant;
use saddle_numeric::builtin::Rosenbrock;
use saddle_numeric::executor::StepRecord;
use saddle_numeric::expr::ExprLimits;
use saddle_numeric::optim::AdamConfig;
use saddle_numeric::schedule::Constant;
use saddle_numeric::{Executor, OptimizerConfig, StopRule};

const LIMITS: JobLimits = JobLimits {
    max_steps: 100_000_000,
    max_params: 10_000_000,
    max_seconds: 86_400.0,
    expr: ExprLimits {
        max_length: 100_000,
        max_depth: 256,
        max_tape: 1_000_000,
    },
    max_active_jobs: u64::MAX,
    threads_per_job: 1,
};

fn adam_job(steps: u64, record_every: u64) -> JobSpec {
    serde_json::from_value(json!({
        "problem": {"kind": "builtin", "name": "rosenbrock"},
        "initial": [-1.5, 2.0],
        "optimizer": {"name": "adam", "lr": 1e-4},
        "stop": {"max_steps": steps},
        "record": {"params": true, "every": record_every}
    }))
    .unwrap()
}

struct Service {
    _dir: tempfile::TempDir,
    store: Store,
    runner: JobRunner,
}

fn service(rt: &Runtime) -> Service {
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = Store::connect(&url).await.unwrap();
        let (runner, _workers) = JobRunner::start(store.clone(), LIMITS, 1, None, Lease::default());
        Service {
            _dir: dir,
            store,
            runner,
        }
    })
}

/// Submits a job and waits until it has finished with its history stored.
async fn finished_job(runner: &JobRunner, spec: JobSpec) -> JobRow {
    let tenant = Tenant::default();
    let job = runner.submit(&tenant, spec).await.unwrap();
    runner.wait_finished(&tenant, &job.job_id).await.unwrap()
}

/// Submits a job and waits until it has succeeded with its history stored.
async fn run_job(runner: &JobRunner, spec: JobSpec) {
    let done = finished_job(runner, spec).await;
    assert_eq!(done.status.as_str(), "succeeded");
}

fn numeric_core(c: &mut Criterion) {
    let mut group = c.benchmark_group("adam_rosenbrock_2d");
    let steps = 100_000u64;
    group.throughput(Throughput::Elements(steps));
    group.bench_function("numeric_core", |b| {
        b.iter(|| {
            let config = OptimizerConfig::Adam(AdamConfig {
                lr: 1e-4,
                ..Default::default()
            });
            let mut exec = Executor::new(
                Box::new(Rosenbrock { dim: 2 }),
                config.build(2),
                Box::new(Constant::new(1e-4)),
                StopRule {
                    max_steps: steps,
                    ..Default::default()
                },
            );
            exec.run(&[-1.5, 2.0], &mut |_: &StepRecord<'_>| true)
        })
    });
    let rt = Runtime::new().unwrap();
    let svc = service(&rt);
    group.bench_function("job_runner_recording_off", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    run_job(&svc.runner, adam_job(steps, steps)).await;
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

/// The raw ceiling: 1000-row multi-row INSERTs of the same rows into the same table.
async fn raw_inserts(store: &Store, seq: i64, rows: usize) {
    let params: Vec<u8> = [-1.5f64, 2.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut start = 0;
    while start < rows {
        let end = (start + 1000).min(rows);
        let mut insert: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
            "INSERT INTO step (job_seq, step, loss, grad_norm, lr, momentum, evaluations, params) ",
        );
        insert.push_values(start..end, |mut row, i| {
            // Step 0 is the record the (0-step) job itself stored.
            row.push_bind(seq)
                .push_bind(i as i64 + 1)
                .push_bind(1.0 + i as f64)
                .push_bind(0.5)
                .push_bind(1e-3)
                .push_bind(None::<f64>)
                .push_bind(i as i64 + 1)
                .push_bind(&params);
        });
        insert
            .build()
            .execute(store.sqlite_pool().expect("a SQLite store"))
            .await
            .unwrap();
        start = end;
    }
}

fn history(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let svc = service(&rt);
    let mut group = c.benchmark_group("history");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    let rows = 100_000usize;
    group.throughput(Throughput::Elements(rows as u64));
    // Each iteration inserts into a job of its own, so the primary key never collides.
    group.bench_function(
        BenchmarkId::new("raw_ceiling_1000_row_inserts", rows),
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let job = finished_job(&svc.runner, adam_job(0, 1)).await;
                        let start = Instant::now();
                        raw_inserts(&svc.store, job.seq, rows).await;
                        total += start.elapsed();
                    }
                    total
                })
            })
        },
    );
    group.bench_function(BenchmarkId::new("job_every_step_with_params", rows), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    run_job(&svc.runner, adam_job(rows as u64 - 1, 1)).await;
                }
                start.elapsed()
            })
        })
    });
    let small = 10_000usize;
    group.throughput(Throughput::Elements(small as u64));
    group.bench_function(
        BenchmarkId::new("raw_ceiling_1000_row_inserts", small),
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let job = finished_job(&svc.runner, adam_job(0, 1)).await;
                        let start = Instant::now();
                        raw_inserts(&svc.store, job.seq, small).await;
                        total += start.elapsed();
                    }
                    total
                })
            })
        },
    );
    group.bench_function(
        BenchmarkId::new("submit_to_succeeded_every_step", small),
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        run_job(&svc.runner, adam_job(small as u64 - 1, 1)).await;
                    }
                    start.elapsed()
                })
            })
        },
    );
    group.finish();
}

criterion_group!(benches, numeric_core, history);
criterion_main!(benches);
