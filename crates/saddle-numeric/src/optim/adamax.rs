//! torch.optim.Adamax, the infinity-norm variant of Adam (Kingma & Ba, "Adam: A Method for
//! Stochastic Optimization", ICLR 2015, section 7).

use serde::{Deserialize, Serialize};

use super::adam::lerp;
use super::{check_betas, check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};

/// Hyperparameters of Adamax under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.002, "betas": [0.9, 0.999]})))]
#[serde(default, deny_unknown_fields)]
pub struct AdamaxConfig {
    /// Learning rate (default 2e-3), ≥ 0.
    pub lr: f64,
    /// Coefficients (β1, β2) of the running average of g and of the infinity norm
    /// (default [0.9, 0.999]), each in [0, 1).
    pub betas: [f64; 2],
    /// Term added to |g| in the infinity norm (default 1e-8), ≥ 0.
    pub eps: f64,
    /// Coupled L2 penalty added to the gradient (default 0), ≥ 0.
    pub weight_decay: f64,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for AdamaxConfig {
    fn default() -> Self {
        Self {
            lr: 2e-3,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl AdamaxConfig {
    /// torch's checks: lr, eps, weight_decay ≥ 0 and each beta in [0, 1).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        check_min("optimizer.eps", self.eps, 0.0)?;
        check_betas(self.betas)?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)
    }
}

/// Adamax's state: step count, first moment and exponentially weighted infinity norm.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AdamaxState {
    step: u64,
    exp_avg: Vec<f64>,
    exp_inf: Vec<f64>,
}

/// Adamax as torch computes it: m ← lerp(m, g, 1−β1); u ← max(β2·u, |g| + eps);
/// x ← x − lr/(1−β1ᵗ)·m/u.
pub struct Adamax {
    config: AdamaxConfig,
    state: AdamaxState,
}

impl Adamax {
    /// Creates Adamax for `dim` parameters with zeroed state.
    pub fn new(config: AdamaxConfig, dim: usize) -> Self {
        Self {
            config,
            state: AdamaxState {
                step: 0,
                exp_avg: vec![0.0; dim],
                exp_inf: vec![0.0; dim],
            },
        }
    }
}

impl Optimizer for Adamax {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let s = &mut self.state;
        s.step += 1;
        let sign = if c.maximize { -1.0 } else { 1.0 };
        let [beta1, beta2] = c.betas;
        let wd = c.weight_decay;
        let clr = cx.lr / (1.0 - beta1.powf(s.step as f64));
        for i in 0..x.len() {
            let mut g = sign * cx.grad[i];
            if wd != 0.0 {
                g += wd * x[i];
            }
            let m = lerp(s.exp_avg[i], g, 1.0 - beta1);
            s.exp_avg[i] = m;
            let u = (s.exp_inf[i] * beta2).max(g.abs() + c.eps);
            s.exp_inf[i] = u;
            x[i] += -clr * m / u;
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
        let restored: AdamaxState = from_state(state)?;
        let dim = self.state.exp_avg.len();
        check_len("exp_avg", &restored.exp_avg, dim)?;
        check_len("exp_inf", &restored.exp_inf, dim)?;
        self.state = restored;
        Ok(())
    }
}
