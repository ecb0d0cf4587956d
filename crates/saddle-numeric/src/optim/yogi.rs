//! Yogi (Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS 2018,
//! Algorithm 2): Adam whose second moment moves additively, v ← v − (1−β2)·sign(v − g²)·g²,
//! so it cannot grow without bound when gradients are sparse.

use serde::{Deserialize, Serialize};

use super::lion::signum0;
use super::{check_betas, check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};

/// Hyperparameters of Yogi with the paper's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.01, "eps": 0.001})))]
#[serde(default, deny_unknown_fields)]
pub struct YogiConfig {
    /// Learning rate (default 1e-2), ≥ 0.
    pub lr: f64,
    /// (β1, β2) (default [0.9, 0.999]), each in [0, 1).
    pub betas: [f64; 2],
    /// Term added to the denominator (default 1e-3), ≥ 0.
    pub eps: f64,
    /// Starting value v₀ of the second moment (default 1e-6), ≥ 0.
    pub initial_accumulator_value: f64,
    /// Coupled L2 penalty added to the gradient (default 0), ≥ 0.
    pub weight_decay: f64,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for YogiConfig {
    fn default() -> Self {
        Self {
            lr: 1e-2,
            betas: [0.9, 0.999],
            eps: 1e-3,
            initial_accumulator_value: 1e-6,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl YogiConfig {
    /// lr, eps, initial_accumulator_value, weight_decay ≥ 0 and each beta in [0, 1).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        check_betas(self.betas)?;
        check_min("optimizer.eps", self.eps, 0.0)?;
        check_min(
            "optimizer.initial_accumulator_value",
            self.initial_accumulator_value,
            0.0,
        )?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)
    }
}

/// Yogi's state: m and v.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct YogiState {
    exp_avg: Vec<f64>,
    exp_avg_sq: Vec<f64>,
}

/// Yogi (no bias correction, as in the paper): m ← β1·m + (1−β1)·g;
/// v ← v − (1−β2)·sign(v − g²)·g²; x ← x − lr·m/(√v + eps).
pub struct Yogi {
    config: YogiConfig,
    state: YogiState,
}

impl Yogi {
    /// Creates Yogi for `dim` parameters, m = 0 and v = v₀.
    pub fn new(config: YogiConfig, dim: usize) -> Self {
        let v0 = config.initial_accumulator_value;
        Self {
            config,
            state: YogiState {
                exp_avg: vec![0.0; dim],
                exp_avg_sq: vec![v0; dim],
            },
        }
    }
}

impl Optimizer for Yogi {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let s = &mut self.state;
        let sign = if c.maximize { -1.0 } else { 1.0 };
        let [beta1, beta2] = c.betas;
        for i in 0..x.len() {
            let g = sign * cx.grad[i] + c.weight_decay * x[i];
            let g2 = g * g;
            let m = s.exp_avg[i] * beta1 + (1.0 - beta1) * g;
            let v = s.exp_avg_sq[i] - (1.0 - beta2) * signum0(s.exp_avg_sq[i] - g2) * g2;
            s.exp_avg[i] = m;
            s.exp_avg_sq[i] = v;
            x[i] -= cx.lr * m / (v.sqrt() + c.eps);
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
        let restored: YogiState = from_state(state)?;
        let dim = self.state.exp_avg.len();
        check_len("exp_avg", &restored.exp_avg, dim)?;
        check_len("exp_avg_sq", &restored.exp_avg_sq, dim)?;
        self.state = restored;
        Ok(())
    }
}
