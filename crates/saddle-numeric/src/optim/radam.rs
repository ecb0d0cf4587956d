//! torch.optim.RAdam (Liu et al., "On the Variance of the Adaptive Learning Rate and
//! Beyond", ICLR 2020), with optional decoupled weight decay.

use serde::{Deserialize, Serialize};

use super::adam::lerp;
use super::{check_betas, check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};

/// Hyperparameters of RAdam under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.001, "betas": [0.9, 0.999]})))]
#[serde(default, deny_unknown_fields)]
pub struct RadamConfig {
    /// Learning rate (default 1e-3), ≥ 0.
    pub lr: f64,
    /// Coefficients (β1, β2) as in Adam (default [0.9, 0.999]), each in [0, 1).
    pub betas: [f64; 2],
    /// Term added to √v before the bias correction (default 1e-8), ≥ 0.
    pub eps: f64,
    /// L2 penalty (default 0), ≥ 0; coupled unless `decoupled_weight_decay`.
    pub weight_decay: f64,
    /// Decay weights as AdamW does, x ← x·(1 − lr·wd) (default false).
    pub decoupled_weight_decay: bool,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for RadamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

impl RadamConfig {
    /// torch's checks: lr, eps, weight_decay ≥ 0 and each beta in [0, 1).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        check_min("optimizer.eps", self.eps, 0.0)?;
        check_betas(self.betas)?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)
    }
}

/// RAdam's state: step count and the moments.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RadamState {
    step: u64,
    exp_avg: Vec<f64>,
    exp_avg_sq: Vec<f64>,
}

/// RAdam as torch computes it: m, v as in Adam; ρ∞ = 2/(1−β2) − 1,
/// ρ_t = ρ∞ − 2tβ2ᵗ/(1−β2ᵗ); if ρ_t > 5, x ← x − m̂·lr·√(1−β2ᵗ)/(√v + eps)·r_t, else
/// x ← x − m̂·lr, with m̂ = m/(1−β1ᵗ) and r_t the variance rectification term.
pub struct Radam {
    config: RadamConfig,
    state: RadamState,
}

impl Radam {
    /// Creates RAdam for `dim` parameters with zeroed moments.
    pub fn new(config: RadamConfig, dim: usize) -> Self {
        Self {
            config,
            state: RadamState {
                step: 0,
                exp_avg: vec![0.0; dim],
                exp_avg_sq: vec![0.0; dim],
            },
        }
    }
}

impl Optimizer for Radam {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let s = &mut self.state;
        s.step += 1;
        let t = s.step as f64;
        let lr = cx.lr;
        let sign = if c.maximize { -1.0 } else { 1.0 };
        let [beta1, beta2] = c.betas;
        let (decay, coupled_wd) = if c.decoupled_weight_decay {
            (1.0 - lr * c.weight_decay, 0.0)
        } else {
            (1.0, c.weight_decay)
        };
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2 = 1.0 - beta2.powf(t);
        let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
        let rho_t = rho_inf - 2.0 * t * beta2.powf(t) / bias_correction2;
        let rectified = rho_t > 5.0;
        let rect = if rectified {
            ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                .powf(0.5)
        } else {
            0.0
        };
        let bc2_sqrt = bias_correction2.powf(0.5);
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
            let m_hat = m / bias_correction1;
            let update = if rectified {
                m_hat * lr * (bc2_sqrt / (v.sqrt() + c.eps)) * rect
            } else {
                m_hat * lr
            };
            x[i] = xi - update;
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
        let restored: RadamState = from_state(state)?;
        let dim = self.state.exp_avg.len();
        check_len("exp_avg", &restored.exp_avg, dim)?;
        check_len("exp_avg_sq", &restored.exp_avg_sq, dim)?;
        self.state = restored;
        Ok(())
    }
}
