//! Lion, "EvoLved Sign Momentum" (Chen et al., "Symbolic Discovery of Optimization
//! Algorithms", NeurIPS 2023, Algorithm 2), as in the authors' reference implementation.

use serde::{Deserialize, Serialize};

use super::{check_betas, check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};

/// Hyperparameters of Lion with the paper's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.0001, "betas": [0.9, 0.99]})))]
#[serde(default, deny_unknown_fields)]
pub struct LionConfig {
    /// Learning rate (default 1e-4), ≥ 0; typically 3–10× smaller than Adam's.
    pub lr: f64,
    /// (β1, β2): interpolation for the update sign and the momentum decay
    /// (default [0.9, 0.99]), each in [0, 1).
    pub betas: [f64; 2],
    /// Decoupled weight decay λ: x ← x·(1 − lr·λ) (default 0), ≥ 0.
    pub weight_decay: f64,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for LionConfig {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            betas: [0.9, 0.99],
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl LionConfig {
    /// lr, weight_decay ≥ 0 and each beta in [0, 1).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        check_betas(self.betas)?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)
    }
}

/// Lion's state: the momentum m.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LionState {
    exp_avg: Vec<f64>,
}

/// Lion: x ← x·(1 − lr·λ); x ← x − lr·sign(β1·m + (1−β1)·g); m ← β2·m + (1−β2)·g.
pub struct Lion {
    config: LionConfig,
    state: LionState,
}

impl Lion {
    /// Creates Lion for `dim` parameters with zero momentum.
    pub fn new(config: LionConfig, dim: usize) -> Self {
        Self {
            config,
            state: LionState {
                exp_avg: vec![0.0; dim],
            },
        }
    }
}

/// torch.sign: −1, 0 or 1.
#[inline(always)]
pub(crate) fn signum0(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl Optimizer for Lion {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let sign = if c.maximize { -1.0 } else { 1.0 };
        let [beta1, beta2] = c.betas;
        let decay = 1.0 - cx.lr * c.weight_decay;
        for i in 0..x.len() {
            let g = sign * cx.grad[i];
            let m = self.state.exp_avg[i];
            let update = signum0(m * beta1 + (1.0 - beta1) * g);
            x[i] = x[i] * decay - cx.lr * update;
            self.state.exp_avg[i] = m * beta2 + (1.0 - beta2) * g;
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
        let restored: LionState = from_state(state)?;
        check_len("exp_avg", &restored.exp_avg, self.state.exp_avg.len())?;
        self.state = restored;
        Ok(())
    }
}
