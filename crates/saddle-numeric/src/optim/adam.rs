//! torch.optim.Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015),
//! with AMSGrad (Reddi et al., ICLR 2018) and torch's coupled or decoupled weight decay.

use serde::{Deserialize, Serialize};

use super::kernels::{adam_step, AdamCoefs};
use super::{check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_half_open, check_min, InvalidConfig};

/// Hyperparameters of Adam under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.01, "betas": [0.9, 0.999]})))]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    /// Learning rate (default 1e-3), ≥ 0.
    pub lr: f64,
    /// Coefficients (β1, β2) of the running averages of g and g² (default [0.9, 0.999]),
    /// each in [0, 1).
    pub betas: [f64; 2],
    /// Term added to the denominator after bias correction (default 1e-8), ≥ 0.
    pub eps: f64,
    /// L2 penalty (default 0), ≥ 0: added to the gradient, or applied to the weights
    /// directly with `decoupled_weight_decay`.
    pub weight_decay: f64,
    /// Use the AMSGrad variant: the maximum of past second moments (default false).
    pub amsgrad: bool,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
    /// Decay weights as AdamW does, x ← x·(1 − lr·wd), instead of adding wd·x to g
    /// (default false).
    pub decoupled_weight_decay: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled_weight_decay: false,
        }
    }
}

impl AdamConfig {
    /// torch's checks: lr, eps, weight_decay ≥ 0 and each beta in [0, 1).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        check_min("optimizer.eps", self.eps, 0.0)?;
        check_half_open("optimizer.betas[0]", self.betas[0], 0.0, 1.0)?;
        check_half_open("optimizer.betas[1]", self.betas[1], 0.0, 1.0)?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)
    }
}

/// Adam's state: step count t, first and second moments, and AMSGrad's running maximum.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AdamState {
    step: u64,
    exp_avg: Vec<f64>,
    exp_avg_sq: Vec<f64>,
    max_exp_avg_sq: Vec<f64>,
}

/// Adam as torch computes it (single-tensor path), in one fused pass per parameter:
/// m ← m + (1−β1)(g − m); v ← β2·v + (1−β2)·g²; v̂ ← max(v̂, v) with AMSGrad;
/// x ← x + (−lr/(1−β1ᵗ))·m / (√v / √(1−β2ᵗ) + eps) (torch's `addcdiv_` order).
pub struct Adam {
    config: AdamConfig,
    state: AdamState,
}

impl Adam {
    /// Creates Adam for `dim` parameters with zeroed moments.
    pub fn new(config: AdamConfig, dim: usize) -> Self {
        let max_exp_avg_sq = if config.amsgrad {
            vec![0.0; dim]
        } else {
            Vec::new()
        };
        Self {
            config,
            state: AdamState {
                step: 0,
                exp_avg: vec![0.0; dim],
                exp_avg_sq: vec![0.0; dim],
                max_exp_avg_sq,
            },
        }
    }
}

/// torch's `lerp(start, end, w)` for a scalar weight: exact at both ends.
#[inline(always)]
pub(crate) fn lerp(start: f64, end: f64, weight: f64) -> f64 {
    if weight.abs() < 0.5 {
        start + weight * (end - start)
    } else {
        end - (end - start) * (1.0 - weight)
    }
}

impl Optimizer for Adam {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let s = &mut self.state;
        s.step += 1;
        let t = s.step as f64;
        let lr = cx.lr;
        let [beta1, beta2] = c.betas;
        let wd = c.weight_decay;
        let sign = if c.maximize { -1.0 } else { 1.0 };
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2_sqrt = (1.0 - beta2.powf(t)).sqrt();
        let step_size = lr / bias_correction1;
        let decay = if c.decoupled_weight_decay {
            1.0 - lr * wd
        } else {
            1.0
        };
        let coupled_wd = if c.decoupled_weight_decay { 0.0 } else { wd };
        let coefs = AdamCoefs {
            sign,
            decay,
            coupled_wd,
            w: 1.0 - beta1,
            beta2,
            one_minus_b2: 1.0 - beta2,
            bc2_sqrt: bias_correction2_sqrt,
            neg_step_size: -step_size,
            eps: c.eps,
        };
        adam_step(
            x,
            cx.grad,
            &mut s.exp_avg,
            &mut s.exp_avg_sq,
            &mut s.max_exp_avg_sq,
            c.amsgrad,
            coefs,
        );
        0
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.config.betas[0] = momentum;
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.state)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        let restored: AdamState = from_state(state)?;
        let dim = self.state.exp_avg.len();
        check_len("exp_avg", &restored.exp_avg, dim)?;
        check_len("exp_avg_sq", &restored.exp_avg_sq, dim)?;
        if self.config.amsgrad {
            check_len("max_exp_avg_sq", &restored.max_exp_avg_sq, dim)?;
        }
        self.state = restored;
        Ok(())
    }
}

/// Hyperparameters of AdamW (torch.optim.AdamW; Loshchilov & Hutter, "Decoupled Weight
/// Decay Regularization", ICLR 2019) under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.001, "weight_decay": 0.01})))]
#[serde(default, deny_unknown_fields)]
pub struct AdamwConfig {
    /// Learning rate (default 1e-3), ≥ 0.
    pub lr: f64,
    /// Coefficients (β1, β2) as in Adam (default [0.9, 0.999]), each in [0, 1).
    pub betas: [f64; 2],
    /// Term added to the denominator after bias correction (default 1e-8), ≥ 0.
    pub eps: f64,
    /// Decoupled weight decay: x ← x·(1 − lr·wd) before the update (default 1e-2), ≥ 0.
    pub weight_decay: f64,
    /// Use the AMSGrad variant (default false).
    pub amsgrad: bool,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
    /// Always true: accepted because torch's AdamW param groups carry it
    /// (`decoupled_weight_decay=True`), so torch configurations carry over as they are.
    pub decoupled_weight_decay: bool,
}

impl Default for AdamwConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 1e-2,
            amsgrad: false,
            maximize: false,
            decoupled_weight_decay: true,
        }
    }
}

impl AdamwConfig {
    /// The equivalent Adam configuration (torch's AdamW is Adam with decoupled decay).
    pub fn to_adam(&self) -> AdamConfig {
        AdamConfig {
            lr: self.lr,
            betas: self.betas,
            eps: self.eps,
            weight_decay: self.weight_decay,
            amsgrad: self.amsgrad,
            maximize: self.maximize,
            decoupled_weight_decay: true,
        }
    }

    /// torch's checks, as for Adam; AdamW's weight decay is always decoupled.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if !self.decoupled_weight_decay {
            return Err(InvalidConfig::new(
                "optimizer.decoupled_weight_decay",
                "AdamW always decouples weight decay; for coupled L2 use `adam` with weight_decay",
            ));
        }
        self.to_adam().validate()
    }
}
