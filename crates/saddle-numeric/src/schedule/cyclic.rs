//! Cyclical schedules: OneCycleLR (Smith & Topin, "Super-Convergence: Very Fast Training of
//! Neural Networks Using Large Learning Rates", 2018) and CyclicLR (Smith, "Cyclical
//! Learning Rates for Training Neural Networks", WACV 2017), both with momentum cycling, in
//! torch.optim.lr_scheduler's closed forms.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::{check_min_at, from_state, require, to_state, Schedule, ScheduleBase};
use crate::error::InvalidConfig;

/// How OneCycleLR anneals between its phase boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AnnealStrategy {
    /// Half a cosine wave (torch's default).
    #[default]
    Cos,
    /// A straight line.
    Linear,
}

fn default_true() -> bool {
    true
}
fn default_pct_start() -> f64 {
    0.3
}
fn default_base_momentum_one_cycle() -> f64 {
    0.85
}
fn default_max_momentum_one_cycle() -> f64 {
    0.95
}
fn default_div_factor() -> f64 {
    25.0
}
fn default_final_div_factor() -> f64 {
    1e4
}

/// Parameters of OneCycleLR under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"max_lr": 0.1, "pct_start": 0.3})))]
#[serde(deny_unknown_fields)]
pub struct OneCycleConfig {
    /// The peak lr (required), > 0.
    pub max_lr: f64,
    /// Steps in the cycle (default: the run's max_steps, or epochs·steps_per_epoch).
    #[serde(default)]
    pub total_steps: Option<u64>,
    /// With steps_per_epoch, another way to give total_steps (default null).
    #[serde(default)]
    pub epochs: Option<u64>,
    /// With epochs, another way to give total_steps (default null).
    #[serde(default)]
    pub steps_per_epoch: Option<u64>,
    /// Fraction of the cycle spent increasing the lr (default 0.3), in [0, 1].
    #[serde(default = "default_pct_start")]
    pub pct_start: f64,
    /// `cos` or `linear` annealing (default `cos`).
    #[serde(default)]
    pub anneal_strategy: AnnealStrategy,
    /// Cycle momentum / β1 inversely to the lr (default true).
    #[serde(default = "default_true")]
    pub cycle_momentum: bool,
    /// Momentum at the peak lr (default 0.85).
    #[serde(default = "default_base_momentum_one_cycle")]
    pub base_momentum: f64,
    /// Momentum at the lowest lr (default 0.95).
    #[serde(default = "default_max_momentum_one_cycle")]
    pub max_momentum: f64,
    /// The initial lr is max_lr/div_factor (default 25), > 0.
    #[serde(default = "default_div_factor")]
    pub div_factor: f64,
    /// The final lr is initial lr/final_div_factor (default 1e4), > 0.
    #[serde(default = "default_final_div_factor")]
    pub final_div_factor: f64,
    /// Use a third phase that anneals to the final lr after a symmetric cycle (default false).
    #[serde(default)]
    pub three_phase: bool,
}

impl OneCycleConfig {
    /// The cycle length: total_steps, else epochs·steps_per_epoch, else the run's steps.
    pub fn cycle_steps(&self, base: ScheduleBase) -> u64 {
        match (self.total_steps, self.epochs, self.steps_per_epoch) {
            (Some(t), _, _) => t,
            (None, Some(e), Some(s)) => e * s,
            _ => base.total_steps,
        }
    }

    /// torch's checks: total_steps ≥ 1, pct_start in [0, 1], positive divisors and max_lr.
    pub fn validate(&self, prefix: &str, base: ScheduleBase) -> Result<(), InvalidConfig> {
        require(
            self.max_lr.is_finite() && self.max_lr > 0.0,
            prefix,
            "max_lr",
            format!("must be a positive number, got {}", self.max_lr),
        )?;
        require(
            self.cycle_steps(base) >= 1,
            prefix,
            "total_steps",
            "must be at least 1",
        )?;
        require(
            (0.0..=1.0).contains(&self.pct_start),
            prefix,
            "pct_start",
            format!("must be in [0, 1], got {}", self.pct_start),
        )?;
        require(
            self.div_factor.is_finite() && self.div_factor > 0.0,
            prefix,
            "div_factor",
            "must be a positive number",
        )?;
        require(
            self.final_div_factor.is_finite() && self.final_div_factor > 0.0,
            prefix,
            "final_div_factor",
            "must be a positive number",
        )?;
        check_min_at(prefix, "base_momentum", self.base_momentum, 0.0)?;
        check_min_at(prefix, "max_momentum", self.max_momentum, 0.0)
    }
}

/// One phase of OneCycleLR: (end step, start lr, end lr, start momentum, end momentum).
#[derive(Debug, Clone, Copy)]
struct Phase {
    end_step: f64,
    start_lr: f64,
    end_lr: f64,
    start_momentum: f64,
    end_momentum: f64,
}

/// OneCycleLR: lr from max_lr/div_factor up to max_lr over pct_start of the cycle, then
/// down to the initial lr/final_div_factor; momentum moves the opposite way.
/// After the cycle the lr stays at its final value (torch raises instead).
pub struct OneCycle {
    config: OneCycleConfig,
    phases: [Phase; 3],
    n_phases: usize,
    total_steps: u64,
    step: u64,
}

/// torch's `_annealing_cos`: end + (start − end)/2·(cos(π·pct) + 1).
fn annealing_cos(start: f64, end: f64, pct: f64) -> f64 {
    let cos_out = (PI * pct).cos() + 1.0;
    end + (start - end) / 2.0 * cos_out
}

/// torch's `_annealing_linear`: (end − start)·pct + start.
fn annealing_linear(start: f64, end: f64, pct: f64) -> f64 {
    (end - start) * pct + start
}

impl OneCycle {
    /// Builds the phases as torch does.
    pub fn new(config: OneCycleConfig, base: ScheduleBase) -> Self {
        let total_steps = config.cycle_steps(base);
        let n = total_steps as f64;
        let initial_lr = config.max_lr / config.div_factor;
        let min_lr = initial_lr / config.final_div_factor;
        let (max_m, base_m) = (config.max_momentum, config.base_momentum);
        let p = |end_step, start_lr, end_lr, start_momentum, end_momentum| Phase {
            end_step,
            start_lr,
            end_lr,
            start_momentum,
            end_momentum,
        };
        let (phases, n_phases) = if config.three_phase {
            (
                [
                    p(
                        config.pct_start * n - 1.0,
                        initial_lr,
                        config.max_lr,
                        max_m,
                        base_m,
                    ),
                    p(
                        2.0 * config.pct_start * n - 2.0,
                        config.max_lr,
                        initial_lr,
                        base_m,
                        max_m,
                    ),
                    p(n - 1.0, initial_lr, min_lr, max_m, max_m),
                ],
                3,
            )
        } else {
            let last = p(n - 1.0, config.max_lr, min_lr, base_m, max_m);
            (
                [
                    p(
                        config.pct_start * n - 1.0,
                        initial_lr,
                        config.max_lr,
                        max_m,
                        base_m,
                    ),
                    last,
                    last,
                ],
                2,
            )
        };
        Self {
            config,
            phases,
            n_phases,
            total_steps,
            step: 0,
        }
    }

    /// (lr, momentum) at the current step, as torch's `get_lr`.
    fn current(&self) -> (f64, f64) {
        let anneal = match self.config.anneal_strategy {
            AnnealStrategy::Cos => annealing_cos,
            AnnealStrategy::Linear => annealing_linear,
        };
        let step_num = self.step.min(self.total_steps.saturating_sub(1)) as f64;
        let mut start_step = 0.0;
        for (i, phase) in self.phases[..self.n_phases].iter().enumerate() {
            if step_num <= phase.end_step || i == self.n_phases - 1 {
                let pct = (step_num - start_step) / (phase.end_step - start_step);
                return (
                    anneal(phase.start_lr, phase.end_lr, pct),
                    anneal(phase.start_momentum, phase.end_momentum, pct),
                );
            }
            start_step = phase.end_step;
        }
        unreachable!("the last phase always matches")
    }
}

impl Schedule for OneCycle {
    fn lr(&self) -> f64 {
        self.current().0
    }

    fn momentum(&self) -> Option<f64> {
        self.config.cycle_momentum.then(|| self.current().1)
    }

    fn step(&mut self, _loss: f64) {
        self.step += 1;
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.step)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        self.step = from_state(state)?;
        Ok(())
    }
}

/// The shape of CyclicLR's cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CyclicMode {
    /// A plain triangle, same amplitude every cycle.
    #[default]
    Triangular,
    /// A triangle whose amplitude halves every cycle.
    Triangular2,
    /// A triangle scaled by γ^k at step k.
    ExpRange,
}

fn default_step_size_up() -> u64 {
    2000
}
fn default_base_momentum_cyclic() -> f64 {
    0.8
}
fn default_max_momentum_cyclic() -> f64 {
    0.9
}
fn default_gamma_one() -> f64 {
    1.0
}

/// Parameters of CyclicLR under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 100})))]
#[serde(deny_unknown_fields)]
pub struct CyclicConfig {
    /// The lower lr of the cycle (required), ≥ 0; replaces the optimizer's lr.
    pub base_lr: f64,
    /// The upper lr of the cycle (required), ≥ 0.
    pub max_lr: f64,
    /// Steps from base_lr up to max_lr (default 2000), ≥ 1.
    #[serde(default = "default_step_size_up")]
    pub step_size_up: u64,
    /// Steps back down (default null = step_size_up).
    #[serde(default)]
    pub step_size_down: Option<u64>,
    /// `triangular`, `triangular2` or `exp_range` (default `triangular`).
    #[serde(default)]
    pub mode: CyclicMode,
    /// γ of `exp_range` (default 1), ≥ 0.
    #[serde(default = "default_gamma_one")]
    pub gamma: f64,
    /// Cycle momentum / β1 inversely to the lr (default true).
    #[serde(default = "default_true")]
    pub cycle_momentum: bool,
    /// Momentum at the peak lr (default 0.8).
    #[serde(default = "default_base_momentum_cyclic")]
    pub base_momentum: f64,
    /// Momentum at base_lr (default 0.9).
    #[serde(default = "default_max_momentum_cyclic")]
    pub max_momentum: f64,
}

impl CyclicConfig {
    /// Non-negative lrs and momenta, step sizes ≥ 1.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        check_min_at(prefix, "base_lr", self.base_lr, 0.0)?;
        check_min_at(prefix, "max_lr", self.max_lr, 0.0)?;
        require(
            self.step_size_up >= 1,
            prefix,
            "step_size_up",
            "must be at least 1",
        )?;
        require(
            self.step_size_down.is_none_or(|d| d >= 1),
            prefix,
            "step_size_down",
            "must be at least 1",
        )?;
        check_min_at(prefix, "gamma", self.gamma, 0.0)?;
        check_min_at(prefix, "base_momentum", self.base_momentum, 0.0)?;
        check_min_at(prefix, "max_momentum", self.max_momentum, 0.0)
    }
}

/// CyclicLR in torch's closed form: a triangle between base_lr and max_lr, scaled by the
/// mode's factor; momentum moves between max_momentum and base_momentum the other way.
pub struct Cyclic {
    config: CyclicConfig,
    step: u64,
}

impl Cyclic {
    /// Starts at base_lr.
    pub fn new(config: CyclicConfig) -> Self {
        Self { config, step: 0 }
    }

    /// (lr, momentum) at the current step.
    fn current(&self) -> (f64, f64) {
        let c = &self.config;
        let up = c.step_size_up as f64;
        let down = c.step_size_down.unwrap_or(c.step_size_up) as f64;
        let total_size = up + down;
        let step_ratio = up / total_size;
        let k = self.step as f64;
        let cycle = (1.0 + k / total_size).floor();
        let x = 1.0 + k / total_size - cycle;
        let scale_factor = if x <= step_ratio {
            x / step_ratio
        } else {
            (x - 1.0) / (step_ratio - 1.0)
        };
        let scale = match c.mode {
            CyclicMode::Triangular => 1.0,
            CyclicMode::Triangular2 => 1.0 / 2f64.powf(cycle - 1.0),
            CyclicMode::ExpRange => c.gamma.powf(k),
        };
        let lr = c.base_lr + (c.max_lr - c.base_lr) * scale_factor * scale;
        let momentum = c.max_momentum - (c.max_momentum - c.base_momentum) * scale_factor * scale;
        (lr, momentum)
    }
}

impl Schedule for Cyclic {
    fn lr(&self) -> f64 {
        self.current().0
    }

    fn momentum(&self) -> Option<f64> {
        self.config.cycle_momentum.then(|| self.current().1)
    }

    fn step(&mut self, _loss: f64) {
        self.step += 1;
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.step)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        self.step = from_state(state)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_cycle(max_lr: f64, n: u64) -> OneCycleConfig {
        serde_json::from_value(serde_json::json!({"max_lr": max_lr, "total_steps": n})).unwrap()
    }

    #[test]
    fn one_cycle_follows_the_readme_closed_form_for_lr_and_momentum() {
        let n = 50u64;
        let mut s = OneCycle::new(
            one_cycle(0.1, n),
            ScheduleBase {
                lr: 0.0,
                total_steps: n,
            },
        );
        let (lr_init, max_lr) = (0.1 / 25.0, 0.1);
        let lr_min = lr_init / 1e4;
        let e1 = 0.3 * n as f64 - 1.0;
        let e2 = n as f64 - 1.0;
        let ann = |a: f64, b: f64, p: f64| b + (a - b) * ((PI * p).cos() + 1.0) / 2.0;
        for k in 0..n {
            let kf = k as f64;
            let (lr, mom) = if kf <= e1 {
                (ann(lr_init, max_lr, kf / e1), ann(0.95, 0.85, kf / e1))
            } else {
                let p = (kf - e1) / (e2 - e1);
                (ann(max_lr, lr_min, p), ann(0.85, 0.95, p))
            };
            assert!(
                (s.lr() - lr).abs() <= 1e-15,
                "lr at {k}: {} vs {lr}",
                s.lr()
            );
            assert!((s.momentum().unwrap() - mom).abs() <= 1e-15);
            s.step(0.0);
        }
    }

    #[test]
    fn cyclic_triangular2_halves_the_amplitude_each_cycle() {
        let config: CyclicConfig = serde_json::from_value(serde_json::json!({
            "base_lr": 0.0, "max_lr": 1.0, "step_size_up": 2, "mode": "triangular2"
        }))
        .unwrap();
        let mut s = Cyclic::new(config);
        let got: Vec<f64> = (0..9)
            .map(|_| {
                let lr = s.lr();
                s.step(0.0);
                lr
            })
            .collect();
        assert_eq!(got, vec![0.0, 0.5, 1.0, 0.5, 0.0, 0.25, 0.5, 0.25, 0.0]);
    }
}
