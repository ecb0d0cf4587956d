//! LAMB (You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76
//! minutes", ICLR 2020, Algorithm 2): Adam's direction plus decoupled decay, rescaled by the
//! trust ratio ‖x‖/‖r‖. saddle optimizes one flat parameter vector, so it is one layer.

use serde::{Deserialize, Serialize};

use super::{check_betas, check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};
use crate::vecmath::norm2;

/// Hyperparameters of LAMB with the paper's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.001, "weight_decay": 0.01})))]
#[serde(default, deny_unknown_fields)]
pub struct LambConfig {
    /// Learning rate (default 1e-3), ≥ 0.
    pub lr: f64,
    /// (β1, β2) as in Adam (default [0.9, 0.999]), each in [0, 1).
    pub betas: [f64; 2],
    /// Term added to the denominator (default 1e-6), ≥ 0.
    pub eps: f64,
    /// λ of the decay term added to the Adam direction (default 0), ≥ 0.
    pub weight_decay: f64,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for LambConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            betas: [0.9, 0.999],
            eps: 1e-6,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl LambConfig {
    /// lr, eps, weight_decay ≥ 0 and each beta in [0, 1).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        check_min("optimizer.eps", self.eps, 0.0)?;
        check_betas(self.betas)?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)
    }
}

/// LAMB's state: step count and the moments.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LambState {
    step: u64,
    exp_avg: Vec<f64>,
    exp_avg_sq: Vec<f64>,
}

/// LAMB: m, v as in Adam; r = m̂/(√v̂ + eps) + λx; x ← x − lr·(‖x‖/‖r‖)·r, with the
/// ratio taken as 1 when either norm is 0.
pub struct Lamb {
    config: LambConfig,
    state: LambState,
    /// The update direction r, kept between the two passes.
    update: Vec<f64>,
}

impl Lamb {
    /// Creates LAMB for `dim` parameters with zeroed moments.
    pub fn new(config: LambConfig, dim: usize) -> Self {
        Self {
            config,
            state: LambState {
                step: 0,
                exp_avg: vec![0.0; dim],
                exp_avg_sq: vec![0.0; dim],
            },
            update: vec![0.0; dim],
        }
    }
}

impl Optimizer for Lamb {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let s = &mut self.state;
        s.step += 1;
        let t = s.step as f64;
        let sign = if c.maximize { -1.0 } else { 1.0 };
        let [beta1, beta2] = c.betas;
        let (bc1, bc2) = (1.0 - beta1.powf(t), 1.0 - beta2.powf(t));
        for i in 0..x.len() {
            let g = sign * cx.grad[i];
            let m = s.exp_avg[i] * beta1 + (1.0 - beta1) * g;
            let v = s.exp_avg_sq[i] * beta2 + (1.0 - beta2) * g * g;
            s.exp_avg[i] = m;
            s.exp_avg_sq[i] = v;
            self.update[i] = (m / bc1) / ((v / bc2).sqrt() + c.eps) + c.weight_decay * x[i];
        }
        let (x_norm, r_norm) = (norm2(x), norm2(&self.update));
        let trust = if x_norm > 0.0 && r_norm > 0.0 {
            x_norm / r_norm
        } else {
            1.0
        };
        let scale = cx.lr * trust;
        for (xi, r) in x.iter_mut().zip(&self.update) {
            *xi -= scale * r;
        }
        0
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.config.betas[0] = momentum;
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.state)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        let restored: LambState = from_state(state)?;
        let dim = self.state.exp_avg.len();
        check_len("exp_avg", &restored.exp_avg, dim)?;
        check_len("exp_avg_sq", &restored.exp_avg_sq, dim)?;
        self.state = restored;
        Ok(())
    }
}
