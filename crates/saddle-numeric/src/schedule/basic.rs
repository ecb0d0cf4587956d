//! The decaying schedules of torch.optim.lr_scheduler, each computed as torch does
//! (recursively from the previous lr where torch's `get_lr` is recursive).

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::{check_min_at, from_state, require, to_state, Schedule};
use crate::error::InvalidConfig;

/// The position every schedule here keeps: torch's `last_epoch` and the current lr.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Position {
    last_epoch: u64,
    lr: f64,
}

/// Implements [`Schedule`] for a type with `pos: Position` and a `next_lr(&self) -> f64`
/// that computes the lr for `pos.last_epoch` (already advanced) from the previous one.
macro_rules! recursive_schedule {
    ($ty:ty) => {
        impl Schedule for $ty {
            fn lr(&self) -> f64 {
                self.pos.lr
            }

            fn step(&mut self, _loss: f64) {
                self.pos.last_epoch += 1;
                self.pos.lr = self.next_lr();
            }

            fn state(&self) -> serde_json::Value {
                to_state(&self.pos)
            }

            fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
                self.pos = from_state(state)?;
                Ok(())
            }
        }
    };
}

fn default_gamma() -> f64 {
    0.1
}

/// The constant schedule has no parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({})))]
#[serde(deny_unknown_fields)]
pub struct ConstantConfig {}

/// The lr never changes.
pub struct Constant {
    lr: f64,
}

impl Constant {
    /// A schedule that always answers `lr`.
    pub fn new(lr: f64) -> Self {
        Self { lr }
    }
}

impl Schedule for Constant {
    fn lr(&self) -> f64 {
        self.lr
    }

    fn step(&mut self, _loss: f64) {}

    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    fn load_state(&mut self, _state: &serde_json::Value) -> Result<(), InvalidConfig> {
        Ok(())
    }
}

/// Parameters of StepLR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"step_size": 30, "gamma": 0.1})))]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// Steps between decays (required), ≥ 1.
    pub step_size: u64,
    /// Decay factor (default 0.1), ≥ 0.
    #[serde(default = "default_gamma")]
    pub gamma: f64,
}

impl StepConfig {
    /// step_size ≥ 1, gamma ≥ 0.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        require(
            self.step_size >= 1,
            prefix,
            "step_size",
            "must be at least 1",
        )?;
        check_min_at(prefix, "gamma", self.gamma, 0.0)
    }
}

/// StepLR: lr ← lr·γ whenever k is a positive multiple of step_size.
pub struct StepLr {
    config: StepConfig,
    pos: Position,
}

impl StepLr {
    /// Starts at `lr`.
    pub fn new(config: StepConfig, lr: f64) -> Self {
        Self {
            config,
            pos: Position { last_epoch: 0, lr },
        }
    }

    fn next_lr(&self) -> f64 {
        let k = self.pos.last_epoch;
        if k == 0 || !k.is_multiple_of(self.config.step_size) {
            self.pos.lr
        } else {
            self.pos.lr * self.config.gamma
        }
    }
}
recursive_schedule!(StepLr);

/// Parameters of MultiStepLR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"milestones": [30, 80], "gamma": 0.1})))]
#[serde(deny_unknown_fields)]
pub struct MultistepConfig {
    /// Steps at which the lr is multiplied by γ (required), non-decreasing.
    pub milestones: Vec<u64>,
    /// Decay factor (default 0.1), ≥ 0.
    #[serde(default = "default_gamma")]
    pub gamma: f64,
}

impl MultistepConfig {
    /// Milestones non-decreasing, gamma ≥ 0.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        require(
            self.milestones.windows(2).all(|w| w[0] <= w[1]),
            prefix,
            "milestones",
            "must be a non-decreasing list of steps",
        )?;
        check_min_at(prefix, "gamma", self.gamma, 0.0)
    }
}

/// MultiStepLR: lr ← lr·γ^c at a step listed c times in `milestones`.
pub struct Multistep {
    config: MultistepConfig,
    pos: Position,
}

impl Multistep {
    /// Starts at `lr`.
    pub fn new(config: MultistepConfig, lr: f64) -> Self {
        Self {
            config,
            pos: Position { last_epoch: 0, lr },
        }
    }

    fn next_lr(&self) -> f64 {
        let k = self.pos.last_epoch;
        let count = self.config.milestones.iter().filter(|m| **m == k).count();
        if count == 0 {
            self.pos.lr
        } else {
            self.pos.lr * self.config.gamma.powi(count as i32)
        }
    }
}
recursive_schedule!(Multistep);

/// Parameters of ExponentialLR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"gamma": 0.99})))]
#[serde(deny_unknown_fields)]
pub struct ExponentialConfig {
    /// Decay factor per step (required), ≥ 0.
    pub gamma: f64,
}

impl ExponentialConfig {
    /// gamma ≥ 0.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        check_min_at(prefix, "gamma", self.gamma, 0.0)
    }
}

/// ExponentialLR: lr ← lr·γ every step.
pub struct Exponential {
    config: ExponentialConfig,
    pos: Position,
}

impl Exponential {
    /// Starts at `lr`.
    pub fn new(config: ExponentialConfig, lr: f64) -> Self {
        Self {
            config,
            pos: Position { last_epoch: 0, lr },
        }
    }

    fn next_lr(&self) -> f64 {
        self.pos.lr * self.config.gamma
    }
}
recursive_schedule!(Exponential);

/// Parameters of CosineAnnealingLR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"t_max": 1000, "eta_min": 0.0})))]
#[serde(deny_unknown_fields)]
pub struct CosineConfig {
    /// Half-period in steps (required), ≥ 1.
    pub t_max: u64,
    /// The lowest lr (default 0), ≥ 0.
    #[serde(default)]
    pub eta_min: f64,
}

impl CosineConfig {
    /// t_max ≥ 1, eta_min ≥ 0.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        require(self.t_max >= 1, prefix, "t_max", "must be at least 1")?;
        check_min_at(prefix, "eta_min", self.eta_min, 0.0)
    }
}

/// CosineAnnealingLR with torch's recursive form; its closed form is
/// eta_min + (lr0 − eta_min)(1 + cos(πk/T_max))/2.
pub struct Cosine {
    config: CosineConfig,
    base_lr: f64,
    pos: Position,
}

impl Cosine {
    /// Starts at `lr`.
    pub fn new(config: CosineConfig, lr: f64) -> Self {
        Self {
            config,
            base_lr: lr,
            pos: Position { last_epoch: 0, lr },
        }
    }

    fn next_lr(&self) -> f64 {
        let k = self.pos.last_epoch as i64;
        let t_max = self.config.t_max as i64;
        let (lr, eta_min) = (self.pos.lr, self.config.eta_min);
        let tm = t_max as f64;
        if (k - 1 - t_max).rem_euclid(2 * t_max) == 0 {
            lr + (self.base_lr - eta_min) * (1.0 - (PI / tm).cos()) / 2.0
        } else {
            (1.0 + (PI * k as f64 / tm).cos()) / (1.0 + (PI * (k - 1) as f64 / tm).cos())
                * (lr - eta_min)
                + eta_min
        }
    }
}
recursive_schedule!(Cosine);

fn default_t_mult() -> u64 {
    1
}

/// Parameters of CosineAnnealingWarmRestarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"t_0": 100, "t_mult": 2})))]
#[serde(deny_unknown_fields)]
pub struct CosineWarmRestartsConfig {
    /// Length of the first period in steps (required), ≥ 1.
    pub t_0: u64,
    /// Factor by which each period is longer than the last (default 1), ≥ 1.
    #[serde(default = "default_t_mult")]
    pub t_mult: u64,
    /// The lowest lr (default 0), ≥ 0.
    #[serde(default)]
    pub eta_min: f64,
}

impl CosineWarmRestartsConfig {
    /// t_0 ≥ 1, t_mult ≥ 1, eta_min ≥ 0.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        require(self.t_0 >= 1, prefix, "t_0", "must be at least 1")?;
        require(self.t_mult >= 1, prefix, "t_mult", "must be at least 1")?;
        check_min_at(prefix, "eta_min", self.eta_min, 0.0)
    }
}

/// The position of CosineAnnealingWarmRestarts: steps into the period and its length.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct WarmRestartsPosition {
    t_cur: u64,
    t_i: u64,
}

/// CosineAnnealingWarmRestarts: eta_min + (lr0 − eta_min)(1 + cos(π·T_cur/T_i))/2, with
/// T_cur reset to 0 and T_i multiplied by t_mult at the end of each period.
pub struct CosineWarmRestarts {
    config: CosineWarmRestartsConfig,
    base_lr: f64,
    pos: WarmRestartsPosition,
}

impl CosineWarmRestarts {
    /// Starts at `lr`, at the beginning of the first period.
    pub fn new(config: CosineWarmRestartsConfig, lr: f64) -> Self {
        let t_i = config.t_0;
        Self {
            config,
            base_lr: lr,
            pos: WarmRestartsPosition { t_cur: 0, t_i },
        }
    }
}

impl Schedule for CosineWarmRestarts {
    fn lr(&self) -> f64 {
        let eta_min = self.config.eta_min;
        eta_min
            + (self.base_lr - eta_min)
                * (1.0 + (PI * self.pos.t_cur as f64 / self.pos.t_i as f64).cos())
                / 2.0
    }

    fn step(&mut self, _loss: f64) {
        self.pos.t_cur += 1;
        if self.pos.t_cur >= self.pos.t_i {
            self.pos.t_cur -= self.pos.t_i;
            self.pos.t_i *= self.config.t_mult;
        }
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.pos)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        self.pos = from_state(state)?;
        Ok(())
    }
}

fn default_start_factor() -> f64 {
    1.0 / 3.0
}

fn default_one() -> f64 {
    1.0
}

fn default_total_iters() -> u64 {
    5
}

/// Parameters of LinearLR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"start_factor": 0.1, "total_iters": 20})))]
#[serde(deny_unknown_fields)]
pub struct LinearConfig {
    /// Factor of the lr at step 0 (default 1/3), in (0, 1].
    #[serde(default = "default_start_factor")]
    pub start_factor: f64,
    /// Factor of the lr from step total_iters on (default 1), in [0, 1].
    #[serde(default = "default_one")]
    pub end_factor: f64,
    /// Steps of the ramp (default 5), ≥ 1.
    #[serde(default = "default_total_iters")]
    pub total_iters: u64,
}

impl Default for LinearConfig {
    fn default() -> Self {
        Self {
            start_factor: default_start_factor(),
            end_factor: 1.0,
            total_iters: default_total_iters(),
        }
    }
}

impl LinearConfig {
    /// torch's checks: 0 < start_factor ≤ 1, 0 ≤ end_factor ≤ 1; total_iters ≥ 1.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        require(
            self.start_factor > 0.0 && self.start_factor <= 1.0,
            prefix,
            "start_factor",
            format!("must be in (0, 1], got {}", self.start_factor),
        )?;
        require(
            (0.0..=1.0).contains(&self.end_factor),
            prefix,
            "end_factor",
            format!("must be in [0, 1], got {}", self.end_factor),
        )?;
        require(
            self.total_iters >= 1,
            prefix,
            "total_iters",
            "must be at least 1",
        )
    }
}

/// LinearLR with torch's recursive form; closed form lr0·(a + (b − a)·min(k, T)/T).
pub struct Linear {
    config: LinearConfig,
    pos: Position,
}

impl Linear {
    /// Starts at `lr`·start_factor.
    pub fn new(config: LinearConfig, lr: f64) -> Self {
        let lr = lr * config.start_factor;
        Self {
            config,
            pos: Position { last_epoch: 0, lr },
        }
    }

    fn next_lr(&self) -> f64 {
        let c = &self.config;
        let k = self.pos.last_epoch;
        if k > c.total_iters {
            return self.pos.lr;
        }
        let span = c.end_factor - c.start_factor;
        self.pos.lr * (1.0 + span / (c.total_iters as f64 * c.start_factor + (k - 1) as f64 * span))
    }
}
recursive_schedule!(Linear);

/// Parameters of PolynomialLR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"total_iters": 100, "power": 2.0})))]
#[serde(deny_unknown_fields)]
pub struct PolynomialConfig {
    /// Steps until the lr reaches 0 (default 5), ≥ 1.
    #[serde(default = "default_total_iters")]
    pub total_iters: u64,
    /// Power of the decay (default 1), ≥ 0.
    #[serde(default = "default_one")]
    pub power: f64,
}

impl Default for PolynomialConfig {
    fn default() -> Self {
        Self {
            total_iters: default_total_iters(),
            power: 1.0,
        }
    }
}

impl PolynomialConfig {
    /// total_iters ≥ 1, power ≥ 0.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        require(
            self.total_iters >= 1,
            prefix,
            "total_iters",
            "must be at least 1",
        )?;
        check_min_at(prefix, "power", self.power, 0.0)
    }
}

/// PolynomialLR with torch's recursive form; closed form lr0·(1 − min(k, T)/T)^power.
pub struct Polynomial {
    config: PolynomialConfig,
    pos: Position,
}

impl Polynomial {
    /// Starts at `lr`.
    pub fn new(config: PolynomialConfig, lr: f64) -> Self {
        Self {
            config,
            pos: Position { last_epoch: 0, lr },
        }
    }

    fn next_lr(&self) -> f64 {
        let k = self.pos.last_epoch;
        let total = self.config.total_iters;
        if k > total {
            return self.pos.lr;
        }
        let t = total as f64;
        let factor = ((1.0 - k as f64 / t) / (1.0 - (k - 1) as f64 / t)).powf(self.config.power);
        self.pos.lr * factor
    }
}
recursive_schedule!(Polynomial);

#[cfg(test)]
mod tests {
    use super::*;

    fn lrs(mut s: impl Schedule, n: usize) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let lr = s.lr();
                s.step(0.0);
                lr
            })
            .collect()
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-14 * w.abs().max(1e-300),
                "k={k}: {g} vs {w}"
            );
        }
    }

    #[test]
    fn step_lr_decays_by_gamma_every_step_size_steps() {
        let got = lrs(
            StepLr::new(
                StepConfig {
                    step_size: 2,
                    gamma: 0.5,
                },
                1.0,
            ),
            6,
        );
        assert_eq!(got, vec![1.0, 1.0, 0.5, 0.5, 0.25, 0.25]);
    }

    #[test]
    fn multistep_lr_decays_at_each_milestone() {
        let config = MultistepConfig {
            milestones: vec![1, 3, 3],
            gamma: 0.5,
        };
        assert_eq!(
            lrs(Multistep::new(config, 1.0), 5),
            vec![1.0, 0.5, 0.5, 0.125, 0.125]
        );
    }

    #[test]
    fn cosine_recursion_agrees_with_the_closed_form_over_two_periods() {
        let (lr0, eta_min, t_max) = (0.15, 0.001, 7u64);
        let got = lrs(Cosine::new(CosineConfig { t_max, eta_min }, lr0), 30);
        let want: Vec<f64> = (0..30)
            .map(|k| eta_min + (lr0 - eta_min) * (1.0 + (PI * k as f64 / t_max as f64).cos()) / 2.0)
            .collect();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-12, "{g} vs {w}");
        }
    }

    #[test]
    fn warm_restarts_restart_and_lengthen_the_period() {
        let config = CosineWarmRestartsConfig {
            t_0: 2,
            t_mult: 2,
            eta_min: 0.0,
        };
        let got = lrs(CosineWarmRestarts::new(config, 1.0), 7);
        // Periods of 2 then 4 steps: cos positions 0,1/2 | 0,1/4,2/4,3/4 | 0.
        let c = |p: f64| (1.0 + (PI * p).cos()) / 2.0;
        assert_close(&got, &[1.0, c(0.5), 1.0, c(0.25), c(0.5), c(0.75), 1.0]);
    }

    #[test]
    fn linear_recursion_agrees_with_the_closed_form() {
        let config = LinearConfig {
            start_factor: 0.1,
            end_factor: 1.0,
            total_iters: 20,
        };
        let got = lrs(Linear::new(config, 0.05), 30);
        let want: Vec<f64> = (0..30)
            .map(|k| 0.05 * (0.1 + 0.9 * (k.min(20) as f64) / 20.0))
            .collect();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-15, "{g} vs {w}");
        }
    }

    #[test]
    fn polynomial_reaches_zero_at_total_iters() {
        let got = lrs(
            Polynomial::new(
                PolynomialConfig {
                    total_iters: 4,
                    power: 2.0,
                },
                1.0,
            ),
            6,
        );
        assert_close(&got[..4], &[1.0, 0.5625, 0.25, 0.0625]);
        assert_eq!(&got[4..], &[0.0, 0.0]);
    }

    #[test]
    fn exponential_multiplies_by_gamma_each_step() {
        let got = lrs(Exponential::new(ExponentialConfig { gamma: 0.5 }, 1.0), 4);
        assert_eq!(got, vec![1.0, 0.5, 0.25, 0.125]);
    }

    #[test]
    fn linear_rejects_a_start_factor_above_one() {
        let err = LinearConfig {
            start_factor: 1.5,
            ..Default::default()
        }
        .validate("schedule")
        .unwrap_err();
        assert_eq!(err.field, "schedule.start_factor");
    }
}
