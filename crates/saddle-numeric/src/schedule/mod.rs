//! Learning-rate schedules with `torch.optim.lr_scheduler` semantics, advanced once per
//! optimizer step. Parameter names are torch's, lower-cased (`T_max` → `t_max`).
//!
//! Where torch computes an lr recursively from the previous one (StepLR, CosineAnnealingLR,
//! LinearLR, …) so do we, so `lr` matches torch's `param_groups[0]['lr']` to the last bit.

mod basic;
mod catalogue;
mod cyclic;
mod plateau;
mod sequential;

use serde::{Deserialize, Serialize};

pub use basic::{
    Constant, ConstantConfig, Cosine, CosineConfig, CosineWarmRestarts, CosineWarmRestartsConfig,
    Exponential, ExponentialConfig, Linear, LinearConfig, Multistep, MultistepConfig, Polynomial,
    PolynomialConfig, StepConfig, StepLr,
};
pub use catalogue::catalogue;
pub use cyclic::{AnnealStrategy, Cyclic, CyclicConfig, CyclicMode, OneCycle, OneCycleConfig};
pub use plateau::{PlateauMode, ReduceOnPlateau, ReduceOnPlateauConfig, ThresholdMode};
pub use sequential::{Sequential, SequentialConfig};

use crate::error::InvalidConfig;

/// A learning-rate schedule: the lr (and optionally momentum) for the coming step.
pub trait Schedule: Send {
    /// The learning rate for the coming step.
    fn lr(&self) -> f64;

    /// The momentum / β1 for the coming step, for schedules that cycle it.
    fn momentum(&self) -> Option<f64> {
        None
    }

    /// Advances by one optimizer step. `loss` is f at the point the step started from
    /// (the metric of `reduce_on_plateau`).
    fn step(&mut self, loss: f64);

    /// The schedule's position, for checkpoints.
    fn state(&self) -> serde_json::Value;

    /// Restores a position produced by [`Schedule::state`].
    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig>;
}

/// A schedule and its parameters, tagged by `name`, under torch's (lower-cased) names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "cosine", "t_max": 1000})))]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum ScheduleConfig {
    /// The optimizer's lr at every step.
    Constant(ConstantConfig),
    /// torch.optim.lr_scheduler.StepLR: lr·γ^⌊k/step_size⌋.
    Step(StepConfig),
    /// torch.optim.lr_scheduler.MultiStepLR: lr·γ^(milestones passed).
    Multistep(MultistepConfig),
    /// torch.optim.lr_scheduler.ExponentialLR: lr·γ^k.
    Exponential(ExponentialConfig),
    /// torch.optim.lr_scheduler.CosineAnnealingLR (Loshchilov & Hutter, SGDR, ICLR 2017).
    Cosine(CosineConfig),
    /// torch.optim.lr_scheduler.CosineAnnealingWarmRestarts (SGDR, ICLR 2017).
    CosineWarmRestarts(CosineWarmRestartsConfig),
    /// torch.optim.lr_scheduler.LinearLR: a linear ramp of the lr factor.
    Linear(LinearConfig),
    /// torch.optim.lr_scheduler.OneCycleLR (Smith & Topin, "Super-Convergence", 2018).
    OneCycle(OneCycleConfig),
    /// torch.optim.lr_scheduler.CyclicLR (Smith, "Cyclical Learning Rates", WACV 2017).
    Cyclic(CyclicConfig),
    /// torch.optim.lr_scheduler.PolynomialLR: lr·(1 − k/total_iters)^power.
    Polynomial(PolynomialConfig),
    /// torch.optim.lr_scheduler.ReduceLROnPlateau: cut the lr when the loss stalls.
    ReduceOnPlateau(ReduceOnPlateauConfig),
    /// torch.optim.lr_scheduler.SequentialLR: one schedule after another at milestones.
    Sequential(SequentialConfig),
}

/// What a schedule is built from besides its own parameters.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleBase {
    /// The optimizer's configured lr.
    pub lr: f64,
    /// The run's planned number of steps (for schedules that span the whole run).
    pub total_steps: u64,
}

impl ScheduleConfig {
    /// Checks the parameters, naming the field on failure (`schedule.<field>`).
    pub fn validate(&self, base: ScheduleBase) -> Result<(), InvalidConfig> {
        self.validate_at("schedule", base)
    }

    /// Checks the parameters, naming fields under `prefix` (for nested schedules).
    pub fn validate_at(&self, prefix: &str, base: ScheduleBase) -> Result<(), InvalidConfig> {
        match self {
            ScheduleConfig::Constant(_) => Ok(()),
            ScheduleConfig::Step(c) => c.validate(prefix),
            ScheduleConfig::Multistep(c) => c.validate(prefix),
            ScheduleConfig::Exponential(c) => c.validate(prefix),
            ScheduleConfig::Cosine(c) => c.validate(prefix),
            ScheduleConfig::CosineWarmRestarts(c) => c.validate(prefix),
            ScheduleConfig::Linear(c) => c.validate(prefix),
            ScheduleConfig::OneCycle(c) => c.validate(prefix, base),
            ScheduleConfig::Cyclic(c) => c.validate(prefix),
            ScheduleConfig::Polynomial(c) => c.validate(prefix),
            ScheduleConfig::ReduceOnPlateau(c) => c.validate(prefix),
            ScheduleConfig::Sequential(c) => c.validate(prefix, base),
        }
    }

    /// Builds the schedule at step 0. Call [`ScheduleConfig::validate`] first.
    pub fn build(&self, base: ScheduleBase) -> Box<dyn Schedule> {
        match self {
            ScheduleConfig::Constant(_) => Box::new(Constant::new(base.lr)),
            ScheduleConfig::Step(c) => Box::new(StepLr::new(c.clone(), base.lr)),
            ScheduleConfig::Multistep(c) => Box::new(Multistep::new(c.clone(), base.lr)),
            ScheduleConfig::Exponential(c) => Box::new(Exponential::new(c.clone(), base.lr)),
            ScheduleConfig::Cosine(c) => Box::new(Cosine::new(c.clone(), base.lr)),
            ScheduleConfig::CosineWarmRestarts(c) => {
                Box::new(CosineWarmRestarts::new(c.clone(), base.lr))
            }
            ScheduleConfig::Linear(c) => Box::new(Linear::new(c.clone(), base.lr)),
            ScheduleConfig::OneCycle(c) => Box::new(OneCycle::new(c.clone(), base)),
            ScheduleConfig::Cyclic(c) => Box::new(Cyclic::new(c.clone())),
            ScheduleConfig::Polynomial(c) => Box::new(Polynomial::new(c.clone(), base.lr)),
            ScheduleConfig::ReduceOnPlateau(c) => {
                Box::new(ReduceOnPlateau::new(c.clone(), base.lr))
            }
            ScheduleConfig::Sequential(c) => Box::new(Sequential::new(c, base)),
        }
    }

    /// The schedule's name as in the request.
    pub fn name(&self) -> &'static str {
        match self {
            ScheduleConfig::Constant(_) => "constant",
            ScheduleConfig::Step(_) => "step",
            ScheduleConfig::Multistep(_) => "multistep",
            ScheduleConfig::Exponential(_) => "exponential",
            ScheduleConfig::Cosine(_) => "cosine",
            ScheduleConfig::CosineWarmRestarts(_) => "cosine_warm_restarts",
            ScheduleConfig::Linear(_) => "linear",
            ScheduleConfig::OneCycle(_) => "one_cycle",
            ScheduleConfig::Cyclic(_) => "cyclic",
            ScheduleConfig::Polynomial(_) => "polynomial",
            ScheduleConfig::ReduceOnPlateau(_) => "reduce_on_plateau",
            ScheduleConfig::Sequential(_) => "sequential",
        }
    }
}

/// Serializes a schedule's position; infallible for plain data.
pub(crate) fn to_state<T: Serialize>(state: &T) -> serde_json::Value {
    serde_json::to_value(state).expect("schedule state is plain data")
}

/// Restores a schedule's position.
pub(crate) fn from_state<T: for<'de> Deserialize<'de>>(
    value: &serde_json::Value,
) -> Result<T, InvalidConfig> {
    serde_json::from_value(value.clone())
        .map_err(|e| InvalidConfig::new("state", format!("not a state of this schedule: {e}")))
}

/// `lo ≤ value` and finite, naming `prefix.field`.
pub(crate) fn check_min_at(
    prefix: &str,
    field: &str,
    value: f64,
    lo: f64,
) -> Result<(), InvalidConfig> {
    crate::error::check_min(&format!("{prefix}.{field}"), value, lo)
}

/// `lo < value < hi` style checks, with a custom message, naming `prefix.field`.
pub(crate) fn require(
    ok: bool,
    prefix: &str,
    field: &str,
    message: impl Into<String>,
) -> Result<(), InvalidConfig> {
    if ok {
        Ok(())
    } else {
        Err(InvalidConfig::new(format!("{prefix}.{field}"), message))
    }
}
