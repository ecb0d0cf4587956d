//! Optimizers: small state machines that turn (x, g, lr) into the next x.
//!
//! Each torch-named optimizer follows the `torch.optim` class of the same name: parameter
//! names, defaults, validation and the order of floating-point operations, so trajectories
//! match PyTorch's to rounding. State lives in preallocated buffers; a step allocates nothing.

// The update loops walk four to six equal-length buffers in lockstep; indexing reads as the
// formulas do, and the bounds checks are hoisted by the slice-length asserts.
#![allow(clippy::needless_range_loop)]

mod adabelief;
mod adadelta;
mod adagrad;
mod adam;
mod adamax;
mod armijo;
mod asgd;
mod catalogue;
mod kernels;
mod lamb;
mod lbfgs;
mod lion;
mod lookahead;
mod nadam;
mod radam;
mod rmsprop;
mod rprop;
mod schedule_free;
mod sgd;
mod yogi;

use serde::{Deserialize, Serialize};

pub use adabelief::{Adabelief, AdabeliefConfig};
pub use adadelta::{Adadelta, AdadeltaConfig};
pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig, AdamwConfig};
pub use adamax::{Adamax, AdamaxConfig};
pub use armijo::{GdArmijo, GdArmijoConfig};
pub use asgd::{Asgd, AsgdConfig};
pub use catalogue::catalogue;
pub use lamb::{Lamb, LambConfig};
pub use lbfgs::{cubic_interpolate, Lbfgs, LbfgsConfig, LineSearchFn};
pub use lion::{Lion, LionConfig};
pub use lookahead::{Lookahead, LookaheadConfig};
pub use nadam::{Nadam, NadamConfig};
pub use radam::{Radam, RadamConfig};
pub use rmsprop::{Rmsprop, RmspropConfig};
pub use rprop::{Rprop, RpropConfig};
pub use schedule_free::{
    ScheduleFreeAdamw, ScheduleFreeAdamwConfig, ScheduleFreeSgd, ScheduleFreeSgdConfig,
};
pub use sgd::{Sgd, SgdConfig};
pub use yogi::{Yogi, YogiConfig};

use crate::error::{check_half_open, InvalidConfig};
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
    /// AdamW (torch.optim.AdamW), Loshchilov & Hutter 2019.
    Adamw(AdamwConfig),
    /// Adagrad (torch.optim.Adagrad), Duchi et al. 2011.
    Adagrad(AdagradConfig),
    /// RMSprop (torch.optim.RMSprop), Hinton 2012.
    Rmsprop(RmspropConfig),
    /// Adadelta (torch.optim.Adadelta), Zeiler 2012.
    Adadelta(AdadeltaConfig),
    /// Adamax (torch.optim.Adamax), Kingma & Ba 2015.
    Adamax(AdamaxConfig),
    /// NAdam (torch.optim.NAdam), Dozat 2016.
    Nadam(NadamConfig),
    /// RAdam (torch.optim.RAdam), Liu et al. 2020.
    Radam(RadamConfig),
    /// Rprop (torch.optim.Rprop), Riedmiller & Braun 1993.
    Rprop(RpropConfig),
    /// ASGD (torch.optim.ASGD), Polyak & Juditsky 1992.
    Asgd(AsgdConfig),
    /// L-BFGS (torch.optim.LBFGS), Liu & Nocedal 1989.
    Lbfgs(LbfgsConfig),
    /// Lion, Chen et al. 2023.
    Lion(LionConfig),
    /// AdaBelief, Zhuang et al. 2020.
    Adabelief(AdabeliefConfig),
    /// Yogi, Zaheer et al. 2018.
    Yogi(YogiConfig),
    /// LAMB, You et al. 2020.
    Lamb(LambConfig),
    /// Lookahead around another optimizer, Zhang et al. 2019.
    Lookahead(LookaheadConfig),
    /// Gradient descent with backtracking Armijo line search, Armijo 1966.
    GdArmijo(GdArmijoConfig),
    /// Schedule-Free SGD, Defazio et al. 2024.
    ScheduleFreeSgd(ScheduleFreeSgdConfig),
    /// Schedule-Free AdamW, Defazio et al. 2024.
    ScheduleFreeAdamw(ScheduleFreeAdamwConfig),
}

impl OptimizerConfig {
    /// Checks every hyperparameter as torch does, naming the field on failure.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        match self {
            OptimizerConfig::Sgd(c) => c.validate(),
            OptimizerConfig::Adam(c) => c.validate(),
            OptimizerConfig::Adamw(c) => c.validate(),
            OptimizerConfig::Adagrad(c) => c.validate(),
            OptimizerConfig::Rmsprop(c) => c.validate(),
            OptimizerConfig::Adadelta(c) => c.validate(),
            OptimizerConfig::Adamax(c) => c.validate(),
            OptimizerConfig::Nadam(c) => c.validate(),
            OptimizerConfig::Radam(c) => c.validate(),
            OptimizerConfig::Rprop(c) => c.validate(),
            OptimizerConfig::Asgd(c) => c.validate(),
            OptimizerConfig::Lbfgs(c) => c.validate(),
            OptimizerConfig::Lion(c) => c.validate(),
            OptimizerConfig::Adabelief(c) => c.validate(),
            OptimizerConfig::Yogi(c) => c.validate(),
            OptimizerConfig::Lamb(c) => c.validate(),
            OptimizerConfig::Lookahead(c) => c.validate(),
            OptimizerConfig::GdArmijo(c) => c.validate(),
            OptimizerConfig::ScheduleFreeSgd(c) => c.validate(),
            OptimizerConfig::ScheduleFreeAdamw(c) => c.validate(),
        }
    }

    /// Builds the optimizer for `dim` parameters (state preallocated).
    pub fn build(&self, dim: usize) -> Box<dyn Optimizer> {
        match self {
            OptimizerConfig::Sgd(c) => Box::new(Sgd::new(c.clone(), dim)),
            OptimizerConfig::Adam(c) => Box::new(Adam::new(c.clone(), dim)),
            OptimizerConfig::Adamw(c) => Box::new(Adam::new(c.to_adam(), dim)),
            OptimizerConfig::Adagrad(c) => Box::new(Adagrad::new(c.clone(), dim)),
            OptimizerConfig::Rmsprop(c) => Box::new(Rmsprop::new(c.clone(), dim)),
            OptimizerConfig::Adadelta(c) => Box::new(Adadelta::new(c.clone(), dim)),
            OptimizerConfig::Adamax(c) => Box::new(Adamax::new(c.clone(), dim)),
            OptimizerConfig::Nadam(c) => Box::new(Nadam::new(c.clone(), dim)),
            OptimizerConfig::Radam(c) => Box::new(Radam::new(c.clone(), dim)),
            OptimizerConfig::Rprop(c) => Box::new(Rprop::new(c.clone(), dim)),
            OptimizerConfig::Asgd(c) => Box::new(Asgd::new(c.clone(), dim)),
            OptimizerConfig::Lbfgs(c) => Box::new(Lbfgs::new(c.clone(), dim)),
            OptimizerConfig::Lion(c) => Box::new(Lion::new(c.clone(), dim)),
            OptimizerConfig::Adabelief(c) => Box::new(Adabelief::new(c.clone(), dim)),
            OptimizerConfig::Yogi(c) => Box::new(Yogi::new(c.clone(), dim)),
            OptimizerConfig::Lamb(c) => Box::new(Lamb::new(c.clone(), dim)),
            OptimizerConfig::Lookahead(c) => Box::new(Lookahead::new(c, dim)),
            OptimizerConfig::GdArmijo(c) => Box::new(GdArmijo::new(c.clone(), dim)),
            OptimizerConfig::ScheduleFreeSgd(c) => Box::new(ScheduleFreeSgd::new(c.clone(), dim)),
            OptimizerConfig::ScheduleFreeAdamw(c) => {
                Box::new(ScheduleFreeAdamw::new(c.clone(), dim))
            }
        }
    }

    /// The initial learning rate (the schedule's base).
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.lr,
            OptimizerConfig::Adam(c) => c.lr,
            OptimizerConfig::Adamw(c) => c.lr,
            OptimizerConfig::Adagrad(c) => c.lr,
            OptimizerConfig::Rmsprop(c) => c.lr,
            OptimizerConfig::Adadelta(c) => c.lr,
            OptimizerConfig::Adamax(c) => c.lr,
            OptimizerConfig::Nadam(c) => c.lr,
            OptimizerConfig::Radam(c) => c.lr,
            OptimizerConfig::Rprop(c) => c.lr,
            OptimizerConfig::Asgd(c) => c.lr,
            OptimizerConfig::Lbfgs(c) => c.lr,
            OptimizerConfig::Lion(c) => c.lr,
            OptimizerConfig::Adabelief(c) => c.lr,
            OptimizerConfig::Yogi(c) => c.lr,
            OptimizerConfig::Lamb(c) => c.lr,
            OptimizerConfig::Lookahead(c) => c.inner.lr(),
            OptimizerConfig::GdArmijo(c) => c.lr,
            OptimizerConfig::ScheduleFreeSgd(c) => c.lr,
            OptimizerConfig::ScheduleFreeAdamw(c) => c.lr,
        }
    }

    /// The optimizer's name as in the request.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd(_) => "sgd",
            OptimizerConfig::Adam(_) => "adam",
            OptimizerConfig::Adamw(_) => "adamw",
            OptimizerConfig::Adagrad(_) => "adagrad",
            OptimizerConfig::Rmsprop(_) => "rmsprop",
            OptimizerConfig::Adadelta(_) => "adadelta",
            OptimizerConfig::Adamax(_) => "adamax",
            OptimizerConfig::Nadam(_) => "nadam",
            OptimizerConfig::Radam(_) => "radam",
            OptimizerConfig::Rprop(_) => "rprop",
            OptimizerConfig::Asgd(_) => "asgd",
            OptimizerConfig::Lbfgs(_) => "lbfgs",
            OptimizerConfig::Lion(_) => "lion",
            OptimizerConfig::Adabelief(_) => "adabelief",
            OptimizerConfig::Yogi(_) => "yogi",
            OptimizerConfig::Lamb(_) => "lamb",
            OptimizerConfig::Lookahead(_) => "lookahead",
            OptimizerConfig::GdArmijo(_) => "gd_armijo",
            OptimizerConfig::ScheduleFreeSgd(_) => "schedule_free_sgd",
            OptimizerConfig::ScheduleFreeAdamw(_) => "schedule_free_adamw",
        }
    }
}

/// Checks Adam-style betas: each in [0, 1), naming `optimizer.betas[i]`.
pub(crate) fn check_betas(betas: [f64; 2]) -> Result<(), InvalidConfig> {
    check_half_open("optimizer.betas[0]", betas[0], 0.0, 1.0)?;
    check_half_open("optimizer.betas[1]", betas[1], 0.0, 1.0)
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

#[cfg(test)]
mod tests;
