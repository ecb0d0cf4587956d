//! torch.optim.Rprop (Riedmiller & Braun, "A Direct Adaptive Method for Faster
//! Backpropagation Learning: The RPROP Algorithm", ICNN 1993), torch's Rprop− variant.

use serde::{Deserialize, Serialize};

use super::{check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};

/// Hyperparameters of Rprop under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.01, "etas": [0.5, 1.2]})))]
#[serde(default, deny_unknown_fields)]
pub struct RpropConfig {
    /// The initial step size of every parameter (default 1e-2), ≥ 0.
    pub lr: f64,
    /// (etaminus, etaplus): step-size factors on a sign change and on a kept sign
    /// (default [0.5, 1.2]); 0 < etaminus < 1 < etaplus.
    pub etas: [f64; 2],
    /// (min, max) bounds of the step sizes (default [1e-6, 50]).
    pub step_sizes: [f64; 2],
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for RpropConfig {
    fn default() -> Self {
        Self {
            lr: 1e-2,
            etas: [0.5, 1.2],
            step_sizes: [1e-6, 50.0],
            maximize: false,
        }
    }
}

impl RpropConfig {
    /// torch's checks: lr ≥ 0 and 0 < etaminus < 1 < etaplus; the step-size bounds ordered.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        let [etaminus, etaplus] = self.etas;
        if !(etaminus.is_finite() && 0.0 < etaminus && etaminus < 1.0) {
            return Err(InvalidConfig::new(
                "optimizer.etas[0]",
                format!("etaminus must be in (0, 1), got {etaminus}"),
            ));
        }
        if !(etaplus.is_finite() && etaplus > 1.0) {
            return Err(InvalidConfig::new(
                "optimizer.etas[1]",
                format!("etaplus must be a finite number > 1, got {etaplus}"),
            ));
        }
        check_min("optimizer.step_sizes[0]", self.step_sizes[0], 0.0)?;
        if !(self.step_sizes[1].is_finite() && self.step_sizes[1] >= self.step_sizes[0]) {
            return Err(InvalidConfig::new(
                "optimizer.step_sizes[1]",
                format!(
                    "must be a finite number >= step_sizes[0] = {}, got {}",
                    self.step_sizes[0], self.step_sizes[1]
                ),
            ));
        }
        Ok(())
    }
}

/// Rprop's state: step count, the previous (masked) gradient and per-parameter step sizes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RpropState {
    step: u64,
    prev: Vec<f64>,
    step_size: Vec<f64>,
}

/// Rprop as torch computes it: s = sign(g·prev); step ← clamp(step·η(s), min, max) with
/// η = etaplus, etaminus or 1; where s < 0, g ← 0; x ← x − sign(g)·step; prev ← g.
pub struct Rprop {
    config: RpropConfig,
    state: RpropState,
}

impl Rprop {
    /// Creates Rprop for `dim` parameters; step sizes start at lr on the first step.
    pub fn new(config: RpropConfig, dim: usize) -> Self {
        Self {
            config,
            state: RpropState {
                step: 0,
                prev: vec![0.0; dim],
                step_size: vec![0.0; dim],
            },
        }
    }
}

/// torch.sign: −1, 0 or 1 (0 for ±0).
#[inline(always)]
fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl Optimizer for Rprop {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let s = &mut self.state;
        if s.step == 0 {
            s.step_size.fill(cx.lr);
        }
        s.step += 1;
        let flip = if c.maximize { -1.0 } else { 1.0 };
        let [etaminus, etaplus] = c.etas;
        let [step_min, step_max] = c.step_sizes;
        for i in 0..x.len() {
            let mut g = flip * cx.grad[i];
            let p = g * s.prev[i];
            let factor = if p > 0.0 {
                etaplus
            } else if p < 0.0 {
                etaminus
            } else {
                1.0
            };
            let step = (s.step_size[i] * factor).clamp(step_min, step_max);
            s.step_size[i] = step;
            if factor == etaminus {
                g = 0.0;
            }
            x[i] += -sign(g) * step;
            s.prev[i] = g;
        }
        0
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.state)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        let restored: RpropState = from_state(state)?;
        let dim = self.state.prev.len();
        check_len("prev", &restored.prev, dim)?;
        check_len("step_size", &restored.step_size, dim)?;
        self.state = restored;
        Ok(())
    }
}
