//! torch.optim.Adadelta (Zeiler, "ADADELTA: An Adaptive Learning Rate Method", 2012).

use serde::{Deserialize, Serialize};

use super::{check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};

/// Hyperparameters of Adadelta under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 1.0, "rho": 0.9})))]
#[serde(default, deny_unknown_fields)]
pub struct AdadeltaConfig {
    /// Scale of the computed update (default 1.0), ≥ 0.
    pub lr: f64,
    /// Decay ρ of the running averages (default 0.9), in [0, 1].
    pub rho: f64,
    /// Term added inside the square roots (default 1e-6), ≥ 0.
    pub eps: f64,
    /// Coupled L2 penalty added to the gradient (default 0), ≥ 0.
    pub weight_decay: f64,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for AdadeltaConfig {
    fn default() -> Self {
        Self {
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl AdadeltaConfig {
    /// torch's checks: lr, eps, weight_decay ≥ 0 and 0 ≤ rho ≤ 1.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        if !(self.rho.is_finite() && (0.0..=1.0).contains(&self.rho)) {
            return Err(InvalidConfig::new(
                "optimizer.rho",
                format!("must be in [0, 1], got {}", self.rho),
            ));
        }
        check_min("optimizer.eps", self.eps, 0.0)?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)
    }
}

/// Adadelta's state: step count, running g² and running squared updates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AdadeltaState {
    step: u64,
    square_avg: Vec<f64>,
    acc_delta: Vec<f64>,
}

/// Adadelta as torch computes it: sq ← ρ·sq + (1−ρ)·g²;
/// δ = √(acc + eps)/√(sq + eps)·g; acc ← ρ·acc + (1−ρ)·δ²; x ← x − lr·δ.
pub struct Adadelta {
    config: AdadeltaConfig,
    state: AdadeltaState,
}

impl Adadelta {
    /// Creates Adadelta for `dim` parameters with zeroed accumulators.
    pub fn new(config: AdadeltaConfig, dim: usize) -> Self {
        Self {
            config,
            state: AdadeltaState {
                step: 0,
                square_avg: vec![0.0; dim],
                acc_delta: vec![0.0; dim],
            },
        }
    }
}

impl Optimizer for Adadelta {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let s = &mut self.state;
        s.step += 1;
        let sign = if c.maximize { -1.0 } else { 1.0 };
        let (rho, eps, wd) = (c.rho, c.eps, c.weight_decay);
        let one_minus_rho = 1.0 - rho;
        for i in 0..x.len() {
            let mut g = sign * cx.grad[i];
            if wd != 0.0 {
                g += wd * x[i];
            }
            let sq = s.square_avg[i] * rho + one_minus_rho * g * g;
            s.square_avg[i] = sq;
            let std = (sq + eps).sqrt();
            let delta = (s.acc_delta[i] + eps).sqrt() / std * g;
            s.acc_delta[i] = s.acc_delta[i] * rho + one_minus_rho * delta * delta;
            x[i] += -cx.lr * delta;
        }
        0
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.state)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        let restored: AdadeltaState = from_state(state)?;
        let dim = self.state.square_avg.len();
        check_len("square_avg", &restored.square_avg, dim)?;
        check_len("acc_delta", &restored.acc_delta, dim)?;
        self.state = restored;
        Ok(())
    }
}
