//! torch.optim.ASGD, averaged stochastic gradient descent (Polyak & Juditsky, "Acceleration
//! of Stochastic Approximation by Averaging", SIAM J. Control Optim. 1992).

use serde::{Deserialize, Serialize};

use super::{check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};

/// Hyperparameters of ASGD under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.01, "t0": 100.0})))]
#[serde(default, deny_unknown_fields)]
pub struct AsgdConfig {
    /// Learning rate (default 1e-2), ≥ 0.
    pub lr: f64,
    /// Decay term λ (default 1e-4), ≥ 0.
    pub lambd: f64,
    /// Power α of the eta update (default 0.75), ≥ 0.
    pub alpha: f64,
    /// The step at which averaging starts (default 1e6), ≥ 0.
    pub t0: f64,
    /// Coupled L2 penalty added to the gradient (default 0), ≥ 0.
    pub weight_decay: f64,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for AsgdConfig {
    fn default() -> Self {
        Self {
            lr: 1e-2,
            lambd: 1e-4,
            alpha: 0.75,
            t0: 1e6,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl AsgdConfig {
    /// torch's checks (lr, weight_decay ≥ 0) plus non-negative lambd, alpha and t0.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        check_min("optimizer.lambd", self.lambd, 0.0)?;
        check_min("optimizer.alpha", self.alpha, 0.0)?;
        check_min("optimizer.t0", self.t0, 0.0)?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)
    }
}

/// ASGD's state: step count, the current step size η, averaging weight μ and the average.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AsgdState {
    step: u64,
    eta: f64,
    mu: f64,
    ax: Vec<f64>,
}

/// ASGD as torch computes it: g ← g + wd·x; x ← x·(1 − λη); x ← x − η·g;
/// ax ← ax + μ(x − ax) (or x when μ = 1); η ← lr/(1 + λ·lr·t)^α; μ ← 1/max(1, t − t0).
/// The optimized point is x; ax is the Polyak average kept in the state.
pub struct Asgd {
    config: AsgdConfig,
    state: AsgdState,
}

impl Asgd {
    /// Creates ASGD for `dim` parameters; η starts at the first step's lr, μ at 1.
    pub fn new(config: AsgdConfig, dim: usize) -> Self {
        Self {
            config,
            state: AsgdState {
                step: 0,
                eta: 0.0,
                mu: 1.0,
                ax: vec![0.0; dim],
            },
        }
    }

    /// The Polyak average of the iterates.
    pub fn average(&self) -> &[f64] {
        &self.state.ax
    }
}

impl Optimizer for Asgd {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let s = &mut self.state;
        if s.step == 0 {
            s.eta = cx.lr;
            s.mu = 1.0;
        }
        s.step += 1;
        let sign = if c.maximize { -1.0 } else { 1.0 };
        let (eta, mu, wd) = (s.eta, s.mu, c.weight_decay);
        let shrink = 1.0 - c.lambd * eta;
        for i in 0..x.len() {
            let mut g = sign * cx.grad[i];
            if wd != 0.0 {
                g += wd * x[i];
            }
            let xi = x[i] * shrink;
            let xi = xi + -eta * g;
            x[i] = xi;
            if mu != 1.0 {
                s.ax[i] += (xi - s.ax[i]) * mu;
            } else {
                s.ax[i] = xi;
            }
        }
        let t = s.step as f64;
        s.eta = cx.lr / (1.0 + c.lambd * cx.lr * t).powf(c.alpha);
        s.mu = 1.0 / (t - c.t0).max(1.0);
        0
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.state)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        let restored: AsgdState = from_state(state)?;
        check_len("ax", &restored.ax, self.state.ax.len())?;
        self.state = restored;
        Ok(())
    }
}
