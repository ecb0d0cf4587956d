//! torch.optim.RMSprop (Hinton, Coursera lecture 6.5, 2012; centered variant from Graves,
//! "Generating Sequences With Recurrent Neural Networks", 2013).

use serde::{Deserialize, Serialize};

use super::{check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};

/// Hyperparameters of RMSprop under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.01, "alpha": 0.99})))]
#[serde(default, deny_unknown_fields)]
pub struct RmspropConfig {
    /// Learning rate (default 1e-2), ≥ 0.
    pub lr: f64,
    /// Smoothing constant α of the running average of g² (default 0.99), ≥ 0.
    pub alpha: f64,
    /// Term added to the denominator (default 1e-8), ≥ 0.
    pub eps: f64,
    /// Coupled L2 penalty added to the gradient (default 0), ≥ 0.
    pub weight_decay: f64,
    /// Momentum factor (default 0), ≥ 0.
    pub momentum: f64,
    /// Normalize by the estimated variance instead of the raw second moment (default false).
    pub centered: bool,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for RmspropConfig {
    fn default() -> Self {
        Self {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
        }
    }
}

impl RmspropConfig {
    /// torch's checks: lr, eps, momentum, weight_decay and alpha ≥ 0.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        check_min("optimizer.eps", self.eps, 0.0)?;
        check_min("optimizer.momentum", self.momentum, 0.0)?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)?;
        check_min("optimizer.alpha", self.alpha, 0.0)
    }
}

/// RMSprop's state: step count, running g², running g (centered) and momentum buffer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RmspropState {
    step: u64,
    square_avg: Vec<f64>,
    grad_avg: Vec<f64>,
    momentum_buffer: Vec<f64>,
}

/// RMSprop as torch computes it: sq ← α·sq + (1−α)·g²; centered: ga ← lerp(ga, g, 1−α),
/// avg = √(sq − ga²) + eps, else avg = √sq + eps; with momentum buf ← μ·buf + g/avg,
/// x ← x − lr·buf, else x ← x − lr·g/avg.
pub struct Rmsprop {
    config: RmspropConfig,
    state: RmspropState,
}

impl Rmsprop {
    /// Creates RMSprop for `dim` parameters; the buffers it needs are zeroed.
    pub fn new(config: RmspropConfig, dim: usize) -> Self {
        let grad_avg = if config.centered {
            vec![0.0; dim]
        } else {
            Vec::new()
        };
        // Allocated even at momentum 0 so a schedule may cycle momentum in.
        let momentum_buffer = vec![0.0; dim];
        Self {
            config,
            state: RmspropState {
                step: 0,
                square_avg: vec![0.0; dim],
                grad_avg,
                momentum_buffer,
            },
        }
    }
}

impl Optimizer for Rmsprop {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let s = &mut self.state;
        s.step += 1;
        let sign = if c.maximize { -1.0 } else { 1.0 };
        let (lr, alpha, eps, wd, mu) = (cx.lr, c.alpha, c.eps, c.weight_decay, c.momentum);
        let one_minus_alpha = 1.0 - alpha;
        for i in 0..x.len() {
            let mut g = sign * cx.grad[i];
            if wd != 0.0 {
                g += wd * x[i];
            }
            let sq = s.square_avg[i] * alpha + one_minus_alpha * g * g;
            s.square_avg[i] = sq;
            let avg = if c.centered {
                let ga = super::adam::lerp(s.grad_avg[i], g, one_minus_alpha);
                s.grad_avg[i] = ga;
                (sq + -ga * ga).sqrt() + eps
            } else {
                sq.sqrt() + eps
            };
            if mu > 0.0 {
                let buf = s.momentum_buffer[i] * mu + g / avg;
                s.momentum_buffer[i] = buf;
                x[i] += -lr * buf;
            } else {
                x[i] += -lr * g / avg;
            }
        }
        0
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.config.momentum = momentum;
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.state)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        let restored: RmspropState = from_state(state)?;
        let dim = self.state.square_avg.len();
        check_len("square_avg", &restored.square_avg, dim)?;
        check_len("momentum_buffer", &restored.momentum_buffer, dim)?;
        if self.config.centered {
            check_len("grad_avg", &restored.grad_avg, dim)?;
        }
        self.state = restored;
        Ok(())
    }
}
