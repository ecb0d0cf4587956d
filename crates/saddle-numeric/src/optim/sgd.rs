//! torch.optim.SGD: gradient descent with optional (Nesterov) momentum, dampening and
//! coupled weight decay.

use serde::{Deserialize, Serialize};

use super::kernels::{sgd_momentum_step, SgdCoefs};
use super::{check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};

/// Hyperparameters of SGD under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.01, "momentum": 0.9})))]
#[serde(default, deny_unknown_fields)]
pub struct SgdConfig {
    /// Learning rate (default 1e-3), ≥ 0.
    pub lr: f64,
    /// Momentum factor μ (default 0), ≥ 0.
    pub momentum: f64,
    /// Dampening of the momentum update (default 0); must be 0 with Nesterov.
    pub dampening: f64,
    /// Coupled L2 penalty added to the gradient (default 0), ≥ 0.
    pub weight_decay: f64,
    /// Nesterov momentum (default false); needs momentum > 0 and dampening 0.
    pub nesterov: bool,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        }
    }
}

impl SgdConfig {
    /// torch's checks: lr, momentum and weight_decay ≥ 0; Nesterov needs momentum and no
    /// dampening.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        check_min("optimizer.momentum", self.momentum, 0.0)?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)?;
        if !self.dampening.is_finite() {
            return Err(InvalidConfig::new(
                "optimizer.dampening",
                "must be a finite number",
            ));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(InvalidConfig::new(
                "optimizer.nesterov",
                "Nesterov momentum requires momentum > 0 and dampening = 0",
            ));
        }
        Ok(())
    }
}

/// SGD's state: the momentum buffer, empty until the first step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SgdState {
    momentum_buffer: Vec<f64>,
    started: bool,
}

/// SGD as in torch.optim.SGD:
/// g ← g + wd·x; buf ← g (first step) or μ·buf + (1−dampening)·g;
/// g ← g + μ·buf (Nesterov) or buf; x ← x − lr·g.
pub struct Sgd {
    config: SgdConfig,
    state: SgdState,
    dim: usize,
}

impl Sgd {
    /// Creates SGD for `dim` parameters.
    pub fn new(config: SgdConfig, dim: usize) -> Self {
        let momentum_buffer = if config.momentum != 0.0 {
            vec![0.0; dim]
        } else {
            Vec::new()
        };
        Self {
            config,
            state: SgdState {
                momentum_buffer,
                started: false,
            },
            dim,
        }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let (lr, mu, wd) = (cx.lr, c.momentum, c.weight_decay);
        let sign = if c.maximize { -1.0 } else { 1.0 };
        if mu == 0.0 {
            for (xi, gi) in x.iter_mut().zip(cx.grad) {
                let mut d = sign * gi;
                if wd != 0.0 {
                    d += wd * *xi;
                }
                *xi += -lr * d;
            }
            return 0;
        }
        let first = !self.state.started;
        self.state.started = true;
        let coefs = SgdCoefs {
            sign,
            wd,
            mu,
            damp: 1.0 - c.dampening,
            neg_lr: -lr,
        };
        sgd_momentum_step(
            x,
            cx.grad,
            &mut self.state.momentum_buffer,
            first,
            c.nesterov,
            coefs,
        );
        0
    }

    fn set_momentum(&mut self, momentum: f64) {
        if self.state.momentum_buffer.is_empty() && momentum != 0.0 {
            // A schedule that cycles momentum needs the buffer even when it starts at 0.
            self.state.momentum_buffer = vec![0.0; self.dim];
        }
        self.config.momentum = momentum;
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.state)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        let restored: SgdState = from_state(state)?;
        if !self.state.momentum_buffer.is_empty() {
            check_len(
                "momentum_buffer",
                &restored.momentum_buffer,
                self.state.momentum_buffer.len(),
            )?;
        }
        self.state = restored;
        Ok(())
    }
}
