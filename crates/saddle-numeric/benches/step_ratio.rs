//! Paired measurement of optimizer step vs. bandwidth floor, robust to a shared, loaded
//! machine: the kernel and its floor loop are timed alternately, many times, and the minimum
//! of each is kept (the least-disturbed run). Prints ns/parameter and the ratio.
//!
//! Adam and AdamW are also timed against a divider floor (same traffic plus the one square
//! root and two divisions per element that torch's order needs), and at N = 1e4, where all
//! state sits in L2 and only the arithmetic counts.
//!
//! Run: `cargo bench -p saddle-numeric --bench step_ratio` (about 20 s).

use std::hint::black_box;
use std::time::{Duration, Instant};

use saddle_numeric::optim::{AdamConfig, AdamwConfig, OptimizerConfig, SgdConfig, StepContext};
use saddle_numeric::problem::FnObjective;

#[path = "common/floor.rs"]
mod floor;
use floor::{avx2, floor_3r2w, floor_4r3w, floor_div_4r3w};

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter on the optimizer name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let portable = std::env::var_os("SADDLE_NUMERIC_PORTABLE").is_some_and(|v| v != "0");
    println!(
        "optimizer kernels: {}",
        if avx2() && !portable {
            "avx2+fma copy"
        } else {
            "portable"
        }
    );
    println!(
        "{:<14} {:>10} {:>12} {:>12} {:>7} {:>12} {:>7}",
        "optimizer", "N", "step ns/p", "floor ns/p", "ratio", "div-fl ns/p", "ratio"
    );
    for n in [10_000usize, 1_000_000, 10_000_000] {
        let reps = if n <= 10_000 {
            5_000
        } else if n <= 1_000_000 {
            200
        } else {
            30
        };
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
            if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
                continue;
            }
            let mut optimizer = config.build(n);
            let mut x = vec![0.5; n];
            let (mut fx, mut fm, mut fv) = (vec![0.5; n], vec![0.0; n], vec![0.0; n]);
            let (mut dx, mut dm, mut dv) = (vec![0.5; n], vec![0.0; n], vec![0.0; n]);
            let (mut best_step, mut best_floor) = (Duration::MAX, Duration::MAX);
            let mut best_div = Duration::MAX;
            for _ in 0..reps {
                best_step = best_step.min(timed(|| {
                    optimizer.step(
                        black_box(&mut x),
                        StepContext {
                            loss: 0.0,
                            grad: black_box(&g),
                            lr: 1e-3,
                            objective: &mut objective,
                        },
                    );
                }));
                best_floor = best_floor.min(timed(|| {
                    if name == "sgd_momentum" {
                        floor_3r2w(black_box(&mut fx), black_box(&g), &mut fm);
                    } else {
                        floor_4r3w(black_box(&mut fx), black_box(&g), &mut fm, &mut fv);
                    }
                }));
                if name != "sgd_momentum" {
                    best_div = best_div.min(timed(|| {
                        let (c, e) = (black_box(0.03), black_box(1e-8));
                        floor_div_4r3w(black_box(&mut dx), black_box(&g), &mut dm, &mut dv, c, e);
                    }));
                }
            }
            let per = |d: Duration| d.as_secs_f64() * 1e9 / n as f64;
            let div = if best_div == Duration::MAX {
                format!("{:>12} {:>7}", "-", "-")
            } else {
                format!(
                    "{:>12.3} {:>7.3}",
                    per(best_div),
                    per(best_step) / per(best_div)
                )
            };
            println!(
                "{:<14} {:>10} {:>12.3} {:>12.3} {:>7.3} {}",
                name,
                n,
                per(best_step),
                per(best_floor),
                per(best_step) / per(best_floor),
                div
            );
        }
    }
}
