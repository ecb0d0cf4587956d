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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::Rosenbrock;
    use crate::executor::{Executor, StepRecord, StopRule};
    use crate::optim::{OptimizerConfig, SgdConfig};

    fn parse(json: serde_json::Value) -> ScheduleConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn nested_schedule_errors_name_the_path_inside_sequential() {
        let config = parse(serde_json::json!({
            "name": "sequential",
            "schedulers": [{"name": "constant"}, {"name": "cosine", "t_max": 0}],
            "milestones": [5]
        }));
        let base = ScheduleBase {
            lr: 0.1,
            total_steps: 10,
        };
        let err = config.validate(base).unwrap_err();
        assert_eq!(err.field, "schedule.schedulers[1].t_max");
    }

    #[test]
    fn unknown_schedule_parameters_are_rejected() {
        let err = serde_json::from_value::<ScheduleConfig>(serde_json::json!({
            "name": "step", "step_size": 3, "T_max": 4
        }))
        .unwrap_err();
        assert!(err.to_string().contains("T_max"), "{err}");
    }

    #[test]
    fn one_cycle_drives_the_optimizers_momentum_through_the_executor() {
        let schedule = parse(serde_json::json!({"name": "one_cycle", "max_lr": 0.01}));
        let base = ScheduleBase {
            lr: 0.001,
            total_steps: 20,
        };
        schedule.validate(base).unwrap();
        let optimizer = OptimizerConfig::Sgd(SgdConfig {
            lr: 0.001,
            momentum: 0.9,
            ..Default::default()
        });
        let mut exec = Executor::new(
            Box::new(Rosenbrock { dim: 2 }),
            optimizer.build(2),
            schedule.build(base),
            StopRule {
                max_steps: 20,
                ..Default::default()
            },
        );
        let mut seen = Vec::new();
        exec.run(&[-1.5, 2.0], &mut |r: &StepRecord<'_>| {
            seen.push((r.lr, r.momentum));
            true
        });
        // Starts at max_lr/25 with max_momentum, peaks at max_lr with base_momentum.
        assert!((seen[0].0 - 0.0004).abs() < 1e-15);
        assert_eq!(seen[0].1, Some(0.95));
        let peak = seen.iter().map(|s| s.0).fold(0.0, f64::max);
        assert!((peak - 0.01).abs() < 1e-15);
        let at_peak = seen.iter().find(|s| s.0 == peak).unwrap();
        assert!((at_peak.1.unwrap() - 0.85).abs() < 1e-15);
    }

    #[test]
    fn reduce_on_plateau_cuts_the_lr_once_the_loss_stops_improving_in_a_run() {
        // A constant objective never improves after its first value.
        let flat = crate::problem::FnObjective::new(1, |_: &[f64], g: &mut [f64]| {
            g[0] = 0.0;
            1.0
        });
        let schedule = parse(serde_json::json!({
            "name": "reduce_on_plateau", "patience": 2, "factor": 0.5
        }));
        let base = ScheduleBase {
            lr: 0.1,
            total_steps: 10,
        };
        let mut exec = Executor::new(
            Box::new(flat),
            OptimizerConfig::Sgd(SgdConfig::default()).build(1),
            schedule.build(base),
            StopRule {
                max_steps: 8,
                ..Default::default()
            },
        );
        let mut lrs = Vec::new();
        exec.run(&[0.0], &mut |r: &StepRecord<'_>| {
            lrs.push(r.lr);
            true
        });
        assert_eq!(
            lrs,
            vec![0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025]
        );
    }

    #[test]
    fn every_schedule_restores_its_position_from_its_state() {
        let base = ScheduleBase {
            lr: 0.1,
            total_steps: 50,
        };
        for entry in catalogue() {
            let mut request = serde_json::Map::new();
            request.insert("name".into(), entry.name.into());
            for h in entry.hyperparameters.iter().filter(|h| h.required) {
                request.insert(h.name.into(), h.example.clone().unwrap());
            }
            let config: ScheduleConfig = serde_json::from_value(request.into()).unwrap();
            let mut a = config.build(base);
            for k in 0..17 {
                a.step(1.0 / (1.0 + k as f64));
            }
            let mut b = config.build(base);
            b.load_state(&a.state()).unwrap();
            for k in 0..5 {
                assert_eq!(a.lr(), b.lr(), "{} at {k}", entry.name);
                assert_eq!(a.momentum(), b.momentum(), "{} at {k}", entry.name);
                a.step(0.5);
                b.step(0.5);
            }
        }
    }
}
