//! Gradient descent with a backtracking Armijo line search (Armijo, "Minimization of
//! functions having Lipschitz continuous first partial derivatives", Pacific J. Math. 1966;
//! Nocedal & Wright, Numerical Optimization, 2nd ed., Algorithm 3.1).

use serde::{Deserialize, Serialize};

use super::{Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};

/// Hyperparameters of backtracking gradient descent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 1.0, "c1": 0.0001, "shrink": 0.5})))]
#[serde(default, deny_unknown_fields)]
pub struct GdArmijoConfig {
    /// The first trial step length α₀ of every step (default 1), > 0.
    pub lr: f64,
    /// Sufficient-decrease constant c1 (default 1e-4), in (0, 1).
    pub c1: f64,
    /// Factor applied to α after each rejected trial (default 0.5), in (0, 1).
    pub shrink: f64,
    /// Trials per step at most (default 50), ≥ 1; if none is accepted x stays put.
    pub max_backtracks: u32,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for GdArmijoConfig {
    fn default() -> Self {
        Self {
            lr: 1.0,
            c1: 1e-4,
            shrink: 0.5,
            max_backtracks: 50,
            maximize: false,
        }
    }
}

impl GdArmijoConfig {
    /// lr > 0, c1 and shrink in (0, 1), max_backtracks ≥ 1.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        if self.lr == 0.0 {
            return Err(InvalidConfig::new("optimizer.lr", "must be positive"));
        }
        for (field, v) in [("optimizer.c1", self.c1), ("optimizer.shrink", self.shrink)] {
            if !(v > 0.0 && v < 1.0) {
                return Err(InvalidConfig::new(
                    field,
                    format!("must be in (0, 1), got {v}"),
                ));
            }
        }
        if self.max_backtracks < 1 {
            return Err(InvalidConfig::new(
                "optimizer.max_backtracks",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Backtracking gradient descent: α = lr; while f(x − αg) > f(x) − c1·α·‖g‖², α ← shrink·α;
/// then x ← x − αg. The step length tried first is the schedule's lr.
pub struct GdArmijo {
    config: GdArmijoConfig,
    trial: Vec<f64>,
    trial_grad: Vec<f64>,
    /// The step length accepted last (0 before the first step or after a rejected one).
    last_alpha: f64,
}

impl GdArmijo {
    /// Creates the optimizer for `dim` parameters with its trial buffers.
    pub fn new(config: GdArmijoConfig, dim: usize) -> Self {
        Self {
            config,
            trial: vec![0.0; dim],
            trial_grad: vec![0.0; dim],
            last_alpha: 0.0,
        }
    }
}

impl Optimizer for GdArmijo {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let sign = if c.maximize { -1.0 } else { 1.0 };
        let f0 = sign * cx.loss;
        let g_sq: f64 = cx.grad.iter().map(|g| g * g).sum();
        let mut alpha = cx.lr;
        let mut evals = 0;
        self.last_alpha = 0.0;
        for _ in 0..c.max_backtracks {
            for ((t, xi), gi) in self.trial.iter_mut().zip(x.iter()).zip(cx.grad) {
                *t = xi - alpha * sign * gi;
            }
            let f = sign
                * cx.objective
                    .value_and_grad(&self.trial, &mut self.trial_grad);
            evals += 1;
            if f <= f0 - c.c1 * alpha * g_sq {
                x.copy_from_slice(&self.trial);
                self.last_alpha = alpha;
                break;
            }
            alpha *= c.shrink;
        }
        evals
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "last_alpha": self.last_alpha })
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        self.last_alpha = state["last_alpha"].as_f64().unwrap_or(0.0);
        Ok(())
    }
}
