//! torch.optim.NAdam (Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016
//! workshop), with torch's momentum-decay schedule and optional decoupled weight decay.

use serde::{Deserialize, Serialize};

use super::adam::lerp;
use super::{check_betas, check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};

/// Hyperparameters of NAdam under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.002, "momentum_decay": 0.004})))]
#[serde(default, deny_unknown_fields)]
pub struct NadamConfig {
    /// Learning rate (default 2e-3), ≥ 0.
    pub lr: f64,
    /// Coefficients (β1, β2) as in Adam (default [0.9, 0.999]), each in [0, 1).
    pub betas: [f64; 2],
    /// Term added to the denominator (default 1e-8), ≥ 0.
    pub eps: f64,
    /// L2 penalty (default 0), ≥ 0; coupled unless `decoupled_weight_decay`.
    pub weight_decay: f64,
    /// ψ of the momentum schedule μ_t = β1(1 − ½·0.96^(tψ)) (default 4e-3), ≥ 0.
    pub momentum_decay: f64,
    /// Decay weights as AdamW does, x ← x·(1 − lr·wd) (default false).
    pub decoupled_weight_decay: bool,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for NadamConfig {
    fn default() -> Self {
        Self {
            lr: 2e-3,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            momentum_decay: 4e-3,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

impl NadamConfig {
    /// torch's checks: lr, eps, weight_decay, momentum_decay ≥ 0 and each beta in [0, 1).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        check_min("optimizer.eps", self.eps, 0.0)?;
        check_betas(self.betas)?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)?;
        check_min("optimizer.momentum_decay", self.momentum_decay, 0.0)
    }
}

/// NAdam's state: step count, the product Πμ of momentum coefficients, and the moments.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NadamState {
    step: u64,
    mu_product: f64,
    exp_avg: Vec<f64>,
    exp_avg_sq: Vec<f64>,
}

/// NAdam as torch computes it: μ_t = β1(1 − ½·0.96^(tψ)), Πμ ← Πμ·μ_t, m and v as in Adam,
/// d = √(v/(1−β2ᵗ)) + eps,
/// x ← x − lr(1−μ_t)/(1−Πμ)·g/d − lr·μ_{t+1}/(1−Πμ·μ_{t+1})·m/d.
pub struct Nadam {
    config: NadamConfig,
    state: NadamState,
}

impl Nadam {
    /// Creates NAdam for `dim` parameters with zeroed moments and Πμ = 1.
    pub fn new(config: NadamConfig, dim: usize) -> Self {
        Self {
            config,
            state: NadamState {
                step: 0,
                mu_product: 1.0,
                exp_avg: vec![0.0; dim],
                exp_avg_sq: vec![0.0; dim],
            },
        }
    }
}

impl Optimizer for Nadam {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let s = &mut self.state;
        s.step += 1;
        let t = s.step as f64;
        let lr = cx.lr;
        let sign = if c.maximize { -1.0 } else { 1.0 };
        let [beta1, beta2] = c.betas;
        let bias_correction2 = 1.0 - beta2.powf(t);
        let (decay, coupled_wd) = if c.decoupled_weight_decay {
            (1.0 - lr * c.weight_decay, 0.0)
        } else {
            (1.0, c.weight_decay)
        };
        let mu = beta1 * (1.0 - 0.5 * 0.96f64.powf(t * c.momentum_decay));
        let mu_next = beta1 * (1.0 - 0.5 * 0.96f64.powf((t + 1.0) * c.momentum_decay));
        s.mu_product *= mu;
        let mu_product_next = s.mu_product * mu_next;
        let coef_g = -lr * (1.0 - mu) / (1.0 - s.mu_product);
        let coef_m = (-lr * mu_next) / (1.0 - mu_product_next);
        for i in 0..x.len() {
            let xi = if c.decoupled_weight_decay {
                x[i] * decay
            } else {
                x[i]
            };
            let mut g = sign * cx.grad[i];
            if coupled_wd != 0.0 {
                g += coupled_wd * xi;
            }
            let m = lerp(s.exp_avg[i], g, 1.0 - beta1);
            let v = s.exp_avg_sq[i] * beta2 + (1.0 - beta2) * g * g;
            s.exp_avg[i] = m;
            s.exp_avg_sq[i] = v;
            let denom = (v / bias_correction2).sqrt() + c.eps;
            let xi = xi + coef_g * g / denom;
            x[i] = xi + coef_m * m / denom;
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
        let restored: NadamState = from_state(state)?;
        let dim = self.state.exp_avg.len();
        check_len("exp_avg", &restored.exp_avg, dim)?;
        check_len("exp_avg_sq", &restored.exp_avg_sq, dim)?;
        self.state = restored;
        Ok(())
    }
}
