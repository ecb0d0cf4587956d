//! Lookahead (Zhang, Lucas, Hinton & Ba, "Lookahead Optimizer: k steps forward, 1 step
//! back", NeurIPS 2019, Algorithm 1) around any other optimizer.

use serde::{Deserialize, Serialize};

use super::{check_len, from_state, Optimizer, OptimizerConfig, StepContext};
use crate::error::InvalidConfig;

fn default_k() -> u32 {
    5
}

fn default_alpha() -> f64 {
    0.5
}

/// Hyperparameters of Lookahead: the inner optimizer and the sync rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"k": 5, "alpha": 0.5, "inner": {"name": "adam", "lr": 0.001}})))]
#[serde(deny_unknown_fields)]
pub struct LookaheadConfig {
    /// Inner (fast) steps between synchronizations (default 5), ≥ 1.
    #[serde(default = "default_k")]
    pub k: u32,
    /// Slow-weight step size α (default 0.5), in [0, 1].
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// The inner optimizer (required); its lr is the run's lr.
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub inner: Box<OptimizerConfig>,
}

impl LookaheadConfig {
    /// k ≥ 1, alpha in [0, 1], and the inner optimizer's own checks (as `optimizer.inner.*`).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if self.k < 1 {
            return Err(InvalidConfig::new("optimizer.k", "must be at least 1"));
        }
        if !(self.alpha.is_finite() && (0.0..=1.0).contains(&self.alpha)) {
            return Err(InvalidConfig::new(
                "optimizer.alpha",
                format!("must be in [0, 1], got {}", self.alpha),
            ));
        }
        self.inner.validate().map_err(|e| {
            let field = match e.field.strip_prefix("optimizer.") {
                Some(rest) => format!("optimizer.inner.{rest}"),
                None => format!("optimizer.inner.{}", e.field),
            };
            InvalidConfig::new(field, e.message)
        })
    }
}

/// Lookahead's own state: steps since the start and the slow weights φ.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LookaheadState {
    step: u64,
    slow: Vec<f64>,
}

/// Lookahead: the inner optimizer moves the fast weights x; every k steps
/// φ ← φ + α(x − φ) and x ← φ. φ starts at the first step's x.
pub struct Lookahead {
    k: u64,
    alpha: f64,
    inner: Box<dyn Optimizer>,
    state: LookaheadState,
}

impl Lookahead {
    /// Creates Lookahead around a freshly built inner optimizer for `dim` parameters.
    pub fn new(config: &LookaheadConfig, dim: usize) -> Self {
        Self {
            k: u64::from(config.k),
            alpha: config.alpha,
            inner: config.inner.build(dim),
            state: LookaheadState {
                step: 0,
                slow: vec![0.0; dim],
            },
        }
    }
}

impl Optimizer for Lookahead {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        if self.state.step == 0 {
            self.state.slow.copy_from_slice(x);
        }
        let extra = self.inner.step(x, cx);
        self.state.step += 1;
        if self.state.step.is_multiple_of(self.k) {
            for (xi, phi) in x.iter_mut().zip(self.state.slow.iter_mut()) {
                *phi += self.alpha * (*xi - *phi);
                *xi = *phi;
            }
        }
        extra
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.inner.set_momentum(momentum);
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({
            "step": self.state.step,
            "slow": self.state.slow,
            "inner": self.inner.state(),
        })
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        let own: LookaheadState = from_state(&serde_json::json!({
            "step": state["step"],
            "slow": state["slow"],
        }))?;
        check_len("slow", &own.slow, self.state.slow.len())?;
        self.inner.load_state(&state["inner"])?;
        self.state = own;
        Ok(())
    }
}
