//! AdaBelief (Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in
//! Observed Gradients", NeurIPS 2020, Algorithm 2), as in the authors' adabelief-pytorch
//! without rectification: the second moment tracks (g − m)², the "belief" in g.

use serde::{Deserialize, Serialize};

use super::{check_betas, check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};

/// Hyperparameters of AdaBelief with the authors' defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.001, "eps": 1e-16})))]
#[serde(default, deny_unknown_fields)]
pub struct AdabeliefConfig {
    /// Learning rate (default 1e-3), ≥ 0.
    pub lr: f64,
    /// (β1, β2) of the running averages of g and (g − m)² (default [0.9, 0.999]),
    /// each in [0, 1).
    pub betas: [f64; 2],
    /// Added to s every step and to the denominator (default 1e-16), ≥ 0.
    pub eps: f64,
    /// L2 penalty (default 0), ≥ 0; decoupled (x ← x·(1 − lr·wd)) unless
    /// `decoupled_weight_decay` is false.
    pub weight_decay: f64,
    /// Decay weights as AdamW does (default true, the authors' `weight_decouple`).
    pub decoupled_weight_decay: bool,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for AdabeliefConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            betas: [0.9, 0.999],
            eps: 1e-16,
            weight_decay: 0.0,
            decoupled_weight_decay: true,
            maximize: false,
        }
    }
}

impl AdabeliefConfig {
    /// lr, eps, weight_decay ≥ 0 and each beta in [0, 1).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        check_min("optimizer.eps", self.eps, 0.0)?;
        check_betas(self.betas)?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)
    }
}

/// AdaBelief's state: step count, m and s.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AdabeliefState {
    step: u64,
    exp_avg: Vec<f64>,
    exp_avg_var: Vec<f64>,
}

/// AdaBelief: m ← β1·m + (1−β1)·g; s ← β2·s + (1−β2)·(g − m)² + eps;
/// x ← x − lr/(1−β1ᵗ) · m/(√s/√(1−β2ᵗ) + eps).
pub struct Adabelief {
    config: AdabeliefConfig,
    state: AdabeliefState,
}

impl Adabelief {
    /// Creates AdaBelief for `dim` parameters with zeroed moments.
    pub fn new(config: AdabeliefConfig, dim: usize) -> Self {
        Self {
            config,
            state: AdabeliefState {
                step: 0,
                exp_avg: vec![0.0; dim],
                exp_avg_var: vec![0.0; dim],
            },
        }
    }
}

impl Optimizer for Adabelief {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let s = &mut self.state;
        s.step += 1;
        let t = s.step as f64;
        let sign = if c.maximize { -1.0 } else { 1.0 };
        let [beta1, beta2] = c.betas;
        let (decay, coupled_wd) = if c.decoupled_weight_decay {
            (1.0 - cx.lr * c.weight_decay, 0.0)
        } else {
            (1.0, c.weight_decay)
        };
        let step_size = cx.lr / (1.0 - beta1.powf(t));
        let bc2_sqrt = (1.0 - beta2.powf(t)).sqrt();
        for i in 0..x.len() {
            let xi = x[i] * decay;
            let g = sign * cx.grad[i] + coupled_wd * xi;
            let m = s.exp_avg[i] * beta1 + (1.0 - beta1) * g;
            let r = g - m;
            let var = s.exp_avg_var[i] * beta2 + (1.0 - beta2) * r * r + c.eps;
            s.exp_avg[i] = m;
            s.exp_avg_var[i] = var;
            x[i] = xi - step_size * m / (var.sqrt() / bc2_sqrt + c.eps);
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
        let restored: AdabeliefState = from_state(state)?;
        let dim = self.state.exp_avg.len();
        check_len("exp_avg", &restored.exp_avg, dim)?;
        check_len("exp_avg_var", &restored.exp_avg_var, dim)?;
        self.state = restored;
        Ok(())
    }
}
