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

    /// Writes the Hessian-vector product ∇²f(x)·v into `out` (length n). Returns `false`
    /// (leaving `out` unspecified) when the objective has no second derivatives.
    fn hessian_vector_product(&mut self, _x: &[f64], _v: &[f64], _out: &mut [f64]) -> bool {
        false
    }

    /// Writes the full Hessian ∇²f(x) into `out` (n×n, row-major), for small n. The default
    /// makes n Hessian-vector products with the unit vectors (allocating one vector, so keep
    /// it out of hot loops); returns `false` when second derivatives are unsupported.
    fn hessian(&mut self, x: &[f64], out: &mut [f64]) -> bool {
        let n = self.dim();
        let mut unit = vec![0.0; n];
        for i in 0..n {
            unit[i] = 1.0;
            if !self.hessian_vector_product(x, &unit, &mut out[i * n..(i + 1) * n]) {
                return false;
            }
            unit[i] = 0.0;
        }
        true
    }

    /// Lets one evaluation use up to `threads` threads where it has parallel work (a model
    /// on a large batch); the results do not depend on it. Others ignore it.
    fn set_threads(&mut self, _threads: usize) {}

    /// Moves to the next mini-batch. Called once after every optimizer step; deterministic
    /// objectives ignore it.
    fn advance(&mut self) {}

    /// The objective's own position (e.g. the mini-batch sampler's epoch and offset), for
    /// checkpoints. Stateless objectives return null.
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restores a position produced by [`Objective::state`].
    fn load_state(&mut self, _state: &serde_json::Value) -> Result<(), InvalidConfig> {
        Ok(())
    }

    /// The epoch the next evaluation belongs to (0-based), for objectives over a dataset.
    fn epoch(&self) -> Option<u64> {
        None
    }

    /// How often (in steps) the executor should attach [`Objective::metrics`] to a record;
    /// `None`: only at the last record.
    fn eval_every(&self) -> Option<u64> {
        None
    }

    /// Evaluation metrics at `x` (full training loss, validation loss, accuracies), for
    /// objectives that have them.
    fn metrics(&mut self, _x: &[f64]) -> Option<Metrics> {
        None
    }
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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::builtin::BuiltinProblem;
use crate::data::Dataset;
use crate::error::InvalidConfig;
use crate::expr::{ExprLimits, ExpressionProblem, Variable};
use crate::model::{InitSpec, Metrics, ModelProblem};

/// What to minimize, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"kind": "builtin", "name": "rosenbrock"})))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProblemConfig {
    /// A function from the builtin library, by name.
    Builtin(BuiltinProblem),
    /// A formula in saddle's expression language, differentiated automatically.
    Expression(ExpressionProblem),
    /// A model (linear, logistic, softmax, MLP) fitted to a dataset.
    Model(ModelProblem),
}

/// The starting point of a run: the flat vector x₀, or the value of each variable by name
/// (numbers for scalar variables, arrays for vector variables).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!([-1.5, 2.0])))]
#[serde(untagged)]
pub enum Initial {
    /// The parameter vector x₀ itself, in variable order.
    Vector(Vec<f64>),
    /// A seeded initialization scheme (model problems only).
    Init(InitSpec),
    /// Each variable's starting value by name, e.g. `{"x": -1.5, "y": 2}` or
    /// `{"x": [0.1, 0.2, 0.3]}`.
    Named(BTreeMap<String, InitialValue>),
}

/// The starting value of one named variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum InitialValue {
    /// A scalar variable's value.
    Scalar(f64),
    /// A vector variable's components.
    Vector(Vec<f64>),
}

impl ProblemConfig {
    /// Validates the problem against the starting point and builds the objective together
    /// with x₀ as a flat vector.
    ///
    /// A model problem that names a `dataset_id` cannot be built here: the service loads
    /// the dataset and calls [`ProblemConfig::build_with`].
    pub fn build(
        &self,
        initial: &Initial,
    ) -> Result<(Box<dyn Objective>, Vec<f64>), InvalidConfig> {
        self.build_full(initial, &|_| None, &ExprLimits::default())
    }

    /// The stored dataset this problem needs, for the caller to load before
    /// [`ProblemConfig::build_with`].
    pub fn dataset_id(&self) -> Option<&str> {
        match self {
            ProblemConfig::Model(m) => m.dataset_id.as_deref(),
            _ => None,
        }
    }

    /// As [`ProblemConfig::build`], with `resolve` turning a `dataset_id` into its dataset
    /// (`None`: no such dataset, reported as an error on `problem.dataset_id`).
    pub fn build_with(
        &self,
        initial: &Initial,
        resolve: &dyn Fn(&str) -> Option<Dataset>,
    ) -> Result<(Box<dyn Objective>, Vec<f64>), InvalidConfig> {
        self.build_full(initial, resolve, &ExprLimits::default())
    }

    /// As [`ProblemConfig::build`], with the service's limits on expression size.
    pub fn build_with_limits(
        &self,
        initial: &Initial,
        limits: &ExprLimits,
    ) -> Result<(Box<dyn Objective>, Vec<f64>), InvalidConfig> {
        self.build_full(initial, &|_| None, limits)
    }

    /// The start used when a job gives none: a builtin's customary start, a model's
    /// `torch_default` initialization with seed 0. An expression has no customary start.
    pub fn default_initial(&self) -> Result<Initial, InvalidConfig> {
        match self {
            ProblemConfig::Builtin(b) => b.default_initial().map(Initial::Vector),
            ProblemConfig::Model(_) => Ok(Initial::Init(crate::model::InitSpec {
                init: crate::model::InitScheme::TorchDefault,
                seed: 0,
            })),
            ProblemConfig::Expression(_) => Err(InvalidConfig::new(
                "initial",
                "required for expression problems: an array in variable order, or values \
                 by name such as {\"x\": -1.5, \"y\": 2}",
            )),
        }
    }

    /// Builds the objective with every external input given.
    pub fn build_full(
        &self,
        initial: &Initial,
        resolve: &dyn Fn(&str) -> Option<Dataset>,
        limits: &ExprLimits,
    ) -> Result<(Box<dyn Objective>, Vec<f64>), InvalidConfig> {
        match self {
            ProblemConfig::Builtin(b) => {
                let variables = b.variables_for(initial)?;
                let x0 = flatten_initial(initial, &variables)?;
                Ok((b.build(x0.len())?, x0))
            }
            ProblemConfig::Expression(e) => {
                let compiled = e.compile_with_limits(limits)?;
                let x0 = flatten_initial(initial, compiled.variables())?;
                Ok((Box::new(compiled.objective()), x0))
            }
            ProblemConfig::Model(m) => {
                if let Initial::Vector(x0) = initial {
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
                }
                m.validate()?;
                let data = match (m.inline_dataset()?, &m.dataset_id) {
                    (Some(data), _) => data,
                    (None, Some(id)) => resolve(id).ok_or_else(|| {
                        InvalidConfig::new(
                            "problem.dataset_id",
                            format!("no dataset `{id}` is available to this run"),
                        )
                    })?,
                    (None, None) => {
                        return Err(InvalidConfig::new(
                            "problem.data",
                            "give the data inline (`data`) or a stored dataset (`dataset_id`)",
                        ))
                    }
                };
                let (objective, x0) = m.build(&data, initial)?;
                Ok((Box::new(objective), x0))
            }
        }
    }
}

/// Turns `initial` into the flat x₀ of the given variable layout, naming the offending field
/// (`initial[3]`, `initial.y`, `initial.x[2]`) on failure.
pub fn flatten_initial(
    initial: &Initial,
    variables: &[Variable],
) -> Result<Vec<f64>, InvalidConfig> {
    let n: usize = variables.iter().map(|v| v.size.unwrap_or(1)).sum();
    let describe = || {
        variables
            .iter()
            .map(|v| match v.size {
                Some(len) => format!("{}[{len}]", v.name),
                None => v.name.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let x0 = match initial {
        Initial::Vector(x0) => {
            if x0.is_empty() {
                return Err(InvalidConfig::new(
                    "initial",
                    "must hold at least one number",
                ));
            }
            if x0.len() != n {
                return Err(InvalidConfig::new(
                    "initial",
                    format!(
                        "expected {n} numbers (variables in order: {}), got {}",
                        describe(),
                        x0.len()
                    ),
                ));
            }
            if let Some(i) = x0.iter().position(|v| !v.is_finite()) {
                return Err(InvalidConfig::new(
                    format!("initial[{i}]"),
                    "must be a finite number",
                ));
            }
            x0.clone()
        }
        Initial::Named(named) => {
            if let Some(extra) = named
                .keys()
                .find(|k| !variables.iter().any(|v| &v.name == *k))
            {
                return Err(InvalidConfig::new(
                    format!("initial.{extra}"),
                    format!(
                        "`{extra}` is not a variable; the variables are: {}",
                        describe()
                    ),
                ));
            }
            let mut x0 = Vec::with_capacity(n);
            for var in variables {
                let field = format!("initial.{}", var.name);
                match (named.get(&var.name), var.size) {
                    (None, _) => {
                        return Err(InvalidConfig::new(
                            field,
                            format!("missing: give the starting value of `{}`", var.name),
                        ))
                    }
                    (Some(InitialValue::Scalar(v)), None) => {
                        if !v.is_finite() {
                            return Err(InvalidConfig::new(field, "must be a finite number"));
                        }
                        x0.push(*v);
                    }
                    (Some(InitialValue::Vector(vs)), Some(len)) => {
                        if vs.len() != len {
                            return Err(InvalidConfig::new(
                                field,
                                format!("must hold {len} numbers, got {}", vs.len()),
                            ));
                        }
                        if let Some(i) = vs.iter().position(|v| !v.is_finite()) {
                            return Err(InvalidConfig::new(
                                format!("{field}[{i}]"),
                                "must be a finite number",
                            ));
                        }
                        x0.extend_from_slice(vs);
                    }
                    (Some(InitialValue::Vector(_)), None) => {
                        return Err(InvalidConfig::new(
                            field,
                            format!("`{}` is a scalar: give one number", var.name),
                        ))
                    }
                    (Some(InitialValue::Scalar(_)), Some(len)) => {
                        return Err(InvalidConfig::new(
                            field,
                            format!("`{}` is a vector: give an array of {len} numbers", var.name),
                        ))
                    }
                }
            }
            x0
        }
        Initial::Init(_) => {
            return Err(InvalidConfig::new(
                "initial",
                "initialization schemes apply to model problems; give x0 as numbers",
            ))
        }
    };
    Ok(x0)
}
