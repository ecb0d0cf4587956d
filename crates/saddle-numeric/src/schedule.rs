//! Learning-rate schedules with `torch.optim.lr_scheduler` semantics, advanced once per
//! optimizer step.

use serde::{Deserialize, Serialize};

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
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "constant"})))]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum ScheduleConfig {
    /// The optimizer's lr at every step.
    Constant(ConstantConfig),
}

/// The constant schedule has no parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({})))]
#[serde(deny_unknown_fields)]
pub struct ConstantConfig {}

/// What a schedule is built from besides its own parameters.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleBase {
    /// The optimizer's configured lr.
    pub lr: f64,
    /// The run's planned number of steps (for schedules that span the whole run).
    pub total_steps: u64,
}

impl ScheduleConfig {
    /// Checks the parameters, naming the field on failure.
    pub fn validate(&self, _base: ScheduleBase) -> Result<(), InvalidConfig> {
        match self {
            ScheduleConfig::Constant(_) => Ok(()),
        }
    }

    /// Builds the schedule at step 0.
    pub fn build(&self, base: ScheduleBase) -> Box<dyn Schedule> {
        match self {
            ScheduleConfig::Constant(_) => Box::new(Constant { lr: base.lr }),
        }
    }
}

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
