//! Optimizers: small state machines that turn (x, g, lr) into the next x.
//!
//! Each follows the `torch.optim` class of the same name: parameter names, defaults,
//! validation and the exact order of floating-point operations, so trajectories match
//! PyTorch's to rounding. State lives in preallocated buffers; a step allocates nothing.

mod adam;
mod sgd;

use serde::{Deserialize, Serialize};

pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};

use crate::error::InvalidConfig;
use crate::problem::Objective;

/// What one optimizer step gets besides the parameters it updates.
pub struct StepContext<'a> {
    /// f(x) at the current parameters.
    pub loss: f64,
    /// ∇f(x) after clipping.
    pub grad: &'a [f64],
    /// The learning rate for this step, as given by the schedule.
    pub lr: f64,
    /// The objective, for optimizers that evaluate more points (L-BFGS, line searches).
    pub objective: &'a mut dyn Objective,
}

/// One optimization algorithm with its state.
pub trait Optimizer: Send {
    /// Updates `x` in place. Returns how many objective evaluations the step made beyond the
    /// one the caller already did at `x` (0 for first-order methods).
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize;

    /// Sets the momentum (SGD) or β1 (Adam family) for the next step; used by schedules that
    /// cycle momentum. Optimizers without such a coefficient ignore it.
    fn set_momentum(&mut self, _momentum: f64) {}

    /// The whole optimizer state (moments, step counter, …) for checkpoints.
    fn state(&self) -> serde_json::Value;

    /// Restores a state produced by [`Optimizer::state`] of the same configuration.
    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig>;
}

/// An optimizer and its hyperparameters, tagged by `name`, under torch's parameter names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "adam", "lr": 0.01, "betas": [0.9, 0.999]})))]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// Stochastic gradient descent with optional momentum (torch.optim.SGD).
    Sgd(SgdConfig),
    /// Adam (torch.optim.Adam), Kingma & Ba 2015; AMSGrad with `amsgrad`.
    Adam(AdamConfig),
}

impl OptimizerConfig {
    /// Checks every hyperparameter as torch does, naming the field on failure.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        match self {
            OptimizerConfig::Sgd(c) => c.validate(),
            OptimizerConfig::Adam(c) => c.validate(),
        }
    }

    /// Builds the optimizer for `dim` parameters (state preallocated).
    pub fn build(&self, dim: usize) -> Box<dyn Optimizer> {
        match self {
            OptimizerConfig::Sgd(c) => Box::new(Sgd::new(c.clone(), dim)),
            OptimizerConfig::Adam(c) => Box::new(Adam::new(c.clone(), dim)),
        }
    }

    /// The initial learning rate (the schedule's base).
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.lr,
            OptimizerConfig::Adam(c) => c.lr,
        }
    }

    /// The optimizer's name as in the request.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd(_) => "sgd",
            OptimizerConfig::Adam(_) => "adam",
        }
    }
}

/// Serializes a state struct; infallible for the plain data optimizers keep.
pub(crate) fn to_state<T: Serialize>(state: &T) -> serde_json::Value {
    serde_json::to_value(state).expect("optimizer state is plain data")
}

/// Restores a state struct, checking that its buffers have the expected length.
pub(crate) fn from_state<T: for<'de> Deserialize<'de>>(
    value: &serde_json::Value,
) -> Result<T, InvalidConfig> {
    serde_json::from_value(value.clone())
        .map_err(|e| InvalidConfig::new("state", format!("not a state of this optimizer: {e}")))
}

/// Rejects a restored buffer whose length differs from the parameter count.
pub(crate) fn check_len(name: &str, buf: &[f64], dim: usize) -> Result<(), InvalidConfig> {
    if buf.len() == dim {
        Ok(())
    } else {
        Err(InvalidConfig::new(
            format!("state.{name}"),
            format!("has length {}, expected {dim}", buf.len()),
        ))
    }
}
