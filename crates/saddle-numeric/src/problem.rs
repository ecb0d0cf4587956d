//! The objective interface every problem kind implements.

/// An objective f: Rⁿ → R with its gradient.
///
/// Evaluation takes `&mut self` so implementations can keep scratch buffers (tapes,
/// activations) and evaluate without allocating.
pub trait Objective: Send {
    /// The number of parameters n.
    fn dim(&self) -> usize;

    /// Returns f(x) and writes ∇f(x) into `grad` (length n).
    fn value_and_grad(&mut self, x: &[f64], grad: &mut [f64]) -> f64;

    /// Returns f(x). The default evaluates the gradient too; override when cheaper.
    fn value(&mut self, x: &[f64]) -> f64 {
        let mut grad = vec![0.0; self.dim()];
        self.value_and_grad(x, &mut grad)
    }

    /// Moves to the next mini-batch. Called once after every optimizer step; deterministic
    /// objectives ignore it.
    fn advance(&mut self) {}
}

/// An objective given by two closures, for tests and embedding.
pub struct FnObjective<F> {
    dim: usize,
    f: F,
}

impl<F> FnObjective<F>
where
    F: FnMut(&[f64], &mut [f64]) -> f64 + Send,
{
    /// Wraps `f(x, grad) -> value` as an objective of dimension `dim`.
    pub fn new(dim: usize, f: F) -> Self {
        Self { dim, f }
    }
}

impl<F> Objective for FnObjective<F>
where
    F: FnMut(&[f64], &mut [f64]) -> f64 + Send,
{
    fn dim(&self) -> usize {
        self.dim
    }

    fn value_and_grad(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
        (self.f)(x, grad)
    }
}

/// Central finite-difference gradient, for checking analytic and automatic gradients in tests.
pub fn finite_difference_grad(objective: &mut dyn Objective, x: &[f64], h: f64) -> Vec<f64> {
    let mut probe = x.to_vec();
    (0..x.len())
        .map(|i| {
            probe[i] = x[i] + h;
            let plus = objective.value(&probe);
            probe[i] = x[i] - h;
            let minus = objective.value(&probe);
            probe[i] = x[i];
            (plus - minus) / (2.0 * h)
        })
        .collect()
}

use serde::{Deserialize, Serialize};

use crate::builtin::BuiltinProblem;
use crate::error::InvalidConfig;

/// What to minimize, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"kind": "builtin", "name": "rosenbrock"})))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProblemConfig {
    /// A function from the builtin library, by name.
    Builtin(BuiltinProblem),
}

/// The starting point of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!([-1.5, 2.0])))]
#[serde(untagged)]
pub enum Initial {
    /// The parameter vector x₀ itself.
    Vector(Vec<f64>),
}

impl ProblemConfig {
    /// Validates the problem against the starting point and builds the objective together
    /// with x₀ as a flat vector.
    pub fn build(
        &self,
        initial: &Initial,
    ) -> Result<(Box<dyn Objective>, Vec<f64>), InvalidConfig> {
        let Initial::Vector(x0) = initial;
        if x0.is_empty() {
            return Err(InvalidConfig::new(
                "initial",
                "must hold at least one number",
            ));
        }
        if let Some(i) = x0.iter().position(|v| !v.is_finite()) {
            return Err(InvalidConfig::new(
                format!("initial[{i}]"),
                "must be a finite number",
            ));
        }
        let objective = match self {
            ProblemConfig::Builtin(b) => b.build(x0.len())?,
        };
        Ok((objective, x0.clone()))
    }
}
