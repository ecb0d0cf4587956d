//! torch.optim.Adagrad (Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online
//! Learning and Stochastic Optimization", JMLR 2011).

use serde::{Deserialize, Serialize};

use super::{check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};

/// Hyperparameters of Adagrad under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.1})))]
#[serde(default, deny_unknown_fields)]
pub struct AdagradConfig {
    /// Learning rate (default 1e-2), ≥ 0.
    pub lr: f64,
    /// Learning-rate decay: the step uses lr/(1 + (t−1)·lr_decay) (default 0), ≥ 0.
    pub lr_decay: f64,
    /// Coupled L2 penalty added to the gradient (default 0), ≥ 0.
    pub weight_decay: f64,
    /// Starting value of the sum of squared gradients (default 0), ≥ 0.
    pub initial_accumulator_value: f64,
    /// Term added to the denominator (default 1e-10), ≥ 0.
    pub eps: f64,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        Self {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
        }
    }
}

impl AdagradConfig {
    /// torch's checks: every hyperparameter ≥ 0.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        check_min("optimizer.lr_decay", self.lr_decay, 0.0)?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)?;
        check_min(
            "optimizer.initial_accumulator_value",
            self.initial_accumulator_value,
            0.0,
        )?;
        check_min("optimizer.eps", self.eps, 0.0)
    }
}

/// Adagrad's state: the step count and the running sum of squared gradients.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AdagradState {
    step: u64,
    sum: Vec<f64>,
}

/// Adagrad as torch computes it: g ← g + wd·x; clr = lr/(1 + (t−1)·lr_decay);
/// sum ← sum + g²; x ← x − clr·g/(√sum + eps).
pub struct Adagrad {
    config: AdagradConfig,
    state: AdagradState,
}

impl Adagrad {
    /// Creates Adagrad for `dim` parameters with the accumulator at its initial value.
    pub fn new(config: AdagradConfig, dim: usize) -> Self {
        let sum = vec![config.initial_accumulator_value; dim];
        Self {
            config,
            state: AdagradState { step: 0, sum },
        }
    }
}

impl Optimizer for Adagrad {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let s = &mut self.state;
        s.step += 1;
        let sign = if c.maximize { -1.0 } else { 1.0 };
        let wd = c.weight_decay;
        let clr = cx.lr / (1.0 + (s.step - 1) as f64 * c.lr_decay);
        let neg_clr = -clr;
        for ((xi, gi), sum) in x.iter_mut().zip(cx.grad).zip(s.sum.iter_mut()) {
            let mut g = sign * gi;
            if wd != 0.0 {
                g += wd * *xi;
            }
            *sum += g * g;
            // addcdiv: x + (value·g)/std, in torch's order.
            *xi += neg_clr * g / (sum.sqrt() + c.eps);
        }
        0
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.state)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        let restored: AdagradState = from_state(state)?;
        check_len("sum", &restored.sum, self.state.sum.len())?;
        self.state = restored;
        Ok(())
    }
}
