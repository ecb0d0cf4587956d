//! Builtin objectives: the library of classic test functions (see [`crate::functions`]),
//! built from their formulas by the expression engine, with hand-written fast paths for
//! `rosenbrock` (n-D), `sphere` and the quadratic ½xᵀAx − bᵀx.

use std::collections::BTreeMap;

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::error::InvalidConfig;
use crate::expr::{ConstantValue, ExpressionProblem, Variable};
use crate::functions::{self, Dimension};
use crate::problem::{Initial, InitialValue, Objective};

/// The builtin functions this build knows, by name (the catalogue order).
pub const BUILTIN_NAMES: &[&str] = &[
    "sphere",
    "rosenbrock",
    "rastrigin",
    "ackley",
    "griewank",
    "styblinski_tang",
    "levy",
    "zakharov",
    "dixon_price",
    "beale",
    "booth",
    "matyas",
    "himmelblau",
    "three_hump_camel",
    "six_hump_camel",
    "goldstein_price",
    "easom",
    "mccormick",
    "bukin6",
    "eggholder",
    "saddle",
    "monkey_saddle",
    "plateau",
    "ill_conditioned_quadratic",
    "quadratic",
    "schwefel",
    "rotated_hyper_ellipsoid",
    "trid",
    "sum_squares",
    "sum_of_different_powers",
    "branin",
    "bohachevsky1",
];

/// The condition number of `ill_conditioned_quadratic` when the request gives none.
pub const DEFAULT_CONDITION_NUMBER: f64 = 1000.0;

/// A builtin objective chosen by name, with the parameters some of them need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "rosenbrock"})))]
#[serde(deny_unknown_fields)]
pub struct BuiltinProblem {
    /// Function name, one of GET /v1/functions (`rosenbrock`, `rastrigin`, `quadratic`, …).
    pub name: String,
    /// The matrix A of the quadratic ½xᵀAx − bᵀx (n×n, symmetric), list of rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<Vec<Vec<f64>>>,
    /// The vector b of the quadratic ½xᵀAx − bᵀx (length n).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<Vec<f64>>,
    /// The dimension n, checked against `initial` (optional: `initial` decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    /// κ of `ill_conditioned_quadratic` (≥ 1, default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_number: Option<f64>,
}

impl BuiltinProblem {
    /// The named function with no parameters.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            a: None,
            b: None,
            dim: None,
            condition_number: None,
        }
    }

    fn spec(&self) -> Result<&'static functions::FunctionSpec, InvalidConfig> {
        functions::lookup(&self.name).ok_or_else(|| {
            InvalidConfig::new(
                "problem.name",
                format!(
                    "unknown builtin function `{}`; known: {}",
                    self.name,
                    BUILTIN_NAMES.join(", ")
                ),
            )
        })
    }

    /// The variable layout `initial` is read against: `x, y` for the 2-D functions, the
    /// vector `x` (sized by `initial`, else `dim`, else the default) for n-D ones.
    pub fn variables_for(&self, initial: &Initial) -> Result<Vec<Variable>, InvalidConfig> {
        let spec = self.spec()?;
        let n = match (spec.dimension, initial) {
            (Dimension::Fixed(d), _) => d,
            (_, Initial::Vector(v)) => v.len(),
            (_, Initial::Named(named)) => match named.get("x") {
                Some(InitialValue::Vector(v)) => v.len(),
                _ => self.dim.unwrap_or(spec.default_dim()),
            },
            // Rejected by `flatten_initial` with the reason.
            (_, Initial::Init(_)) => self.dim.unwrap_or(spec.default_dim()),
        };
        Ok(spec.variables(n))
    }

    /// The customary start for this function at `dim` (or its default dimension).
    pub fn default_initial(&self) -> Result<Vec<f64>, InvalidConfig> {
        let spec = self.spec()?;
        let n = match spec.dimension {
            Dimension::Fixed(d) => d,
            Dimension::Any { default, .. } => self.dim.unwrap_or(default),
        };
        Ok((spec.start)(n))
    }

    /// Checks the parameters against the dimension `n` and returns them as expression
    /// constants.
    fn constants(&self, n: usize) -> Result<BTreeMap<String, ConstantValue>, InvalidConfig> {
        let spec = self.spec()?;
        if let Some(d) = self.dim {
            if d != n {
                return Err(InvalidConfig::new(
                    "problem.dim",
                    format!("is {d} but `initial` has {n} numbers"),
                ));
            }
        }
        match spec.dimension {
            Dimension::Fixed(d) if n != d => {
                return Err(InvalidConfig::new(
                    "initial",
                    format!(
                        "{} is defined in exactly {d} dimensions, got {n}",
                        self.name
                    ),
                ))
            }
            Dimension::Any { min, .. } if n < min => {
                return Err(InvalidConfig::new(
                    "initial",
                    format!("{} needs at least {min} dimensions, got {n}", self.name),
                ))
            }
            _ => {}
        }
        if self.name != "quadratic" && (self.a.is_some() || self.b.is_some()) {
            return Err(InvalidConfig::new(
                "problem",
                format!(
                    "`a` and `b` belong to the quadratic only; remove them for {}",
                    self.name
                ),
            ));
        }
        if self.name != "ill_conditioned_quadratic" && self.condition_number.is_some() {
            return Err(InvalidConfig::new(
                "problem.condition_number",
                format!(
                    "belongs to ill_conditioned_quadratic only; remove it for {}",
                    self.name
                ),
            ));
        }
        let mut constants = BTreeMap::new();
        match self.name.as_str() {
            "ill_conditioned_quadratic" => {
                let kappa = self.condition_number.unwrap_or(DEFAULT_CONDITION_NUMBER);
                if !(kappa.is_finite() && kappa >= 1.0) {
                    return Err(InvalidConfig::new(
                        "problem.condition_number",
                        format!("must be a finite number ≥ 1, got {kappa}"),
                    ));
                }
                constants.insert("condition_number".into(), ConstantValue::Scalar(kappa));
            }
            "quadratic" => {
                let q = Quadratic::from_config(self.a.as_deref(), self.b.as_deref(), n)?;
                let rows = q.a.rows().into_iter().map(|r| r.to_vec()).collect();
                constants.insert("A".into(), ConstantValue::Matrix(rows));
                constants.insert("b".into(), ConstantValue::Vector(q.b.to_vec()));
            }
            _ => {}
        }
        Ok(constants)
    }

    /// The function's defining formula as an expression problem of dimension `n`.
    pub fn expression_form(&self, n: usize) -> Result<ExpressionProblem, InvalidConfig> {
        let constants = self.constants(n)?;
        Ok(self.spec()?.expression(n, constants))
    }

    /// Validates the parameters against the starting point's dimension `n` and builds the
    /// objective: the hand-written fast path where there is one, else the compiled formula.
    pub fn build(&self, n: usize) -> Result<Box<dyn Objective>, InvalidConfig> {
        let problem = self.expression_form(n)?;
        match self.name.as_str() {
            "rosenbrock" => Ok(Box::new(Rosenbrock { dim: n })),
            "sphere" => Ok(Box::new(Sphere { dim: n })),
            "quadratic" => Ok(Box::new(Quadratic::from_config(
                self.a.as_deref(),
                self.b.as_deref(),
                n,
            )?)),
            _ => Ok(Box::new(problem.compile()?.objective())),
        }
    }
}

/// The n-D Rosenbrock function Σᵢ 100(xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)², minimum 0 at (1, …, 1).
#[derive(Debug, Clone)]
pub struct Rosenbrock {
    /// Number of variables (≥ 2).
    pub dim: usize,
}

impl Objective for Rosenbrock {
    fn dim(&self) -> usize {
        self.dim
    }

    fn value_and_grad(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
        grad.fill(0.0);
        let mut f = 0.0;
        for i in 0..x.len() - 1 {
            let (xi, xn) = (x[i], x[i + 1]);
            let r = xn - xi * xi;
            let s = 1.0 - xi;
            f += 100.0 * r * r + s * s;
            grad[i] += -400.0 * xi * r - 2.0 * s;
            grad[i + 1] += 200.0 * r;
        }
        f
    }

    fn value(&mut self, x: &[f64]) -> f64 {
        x.windows(2)
            .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
            .sum()
    }

    /// Each term's Hessian block is [[1200xᵢ² − 400xᵢ₊₁ + 2, −400xᵢ], [−400xᵢ, 200]].
    fn hessian_vector_product(&mut self, x: &[f64], v: &[f64], out: &mut [f64]) -> bool {
        out.fill(0.0);
        for i in 0..x.len() - 1 {
            let (xi, xn) = (x[i], x[i + 1]);
            let hii = 1200.0 * xi * xi - 400.0 * xn + 2.0;
            let hin = -400.0 * xi;
            out[i] += hii * v[i] + hin * v[i + 1];
            out[i + 1] += hin * v[i] + 200.0 * v[i + 1];
        }
        true
    }
}

/// The sphere Σᵢ xᵢ², minimum 0 at the origin.
#[derive(Debug, Clone)]
pub struct Sphere {
    /// Number of variables.
    pub dim: usize,
}

impl Objective for Sphere {
    fn dim(&self) -> usize {
        self.dim
    }

    fn value_and_grad(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
        for (g, xi) in grad.iter_mut().zip(x) {
            *g = 2.0 * xi;
        }
        x.iter().map(|v| v * v).sum()
    }

    fn hessian_vector_product(&mut self, _x: &[f64], v: &[f64], out: &mut [f64]) -> bool {
        for (o, vi) in out.iter_mut().zip(v) {
            *o = 2.0 * vi;
        }
        true
    }
}

/// f(x) = ½xᵀAx − bᵀx with ∇f = Ax − b (A symmetric), evaluated as torch does:
/// `0.5*dot(x, A@x) - dot(b, x)`.
#[derive(Debug, Clone)]
pub struct Quadratic {
    a: Array2<f64>,
    b: Array1<f64>,
}

impl Quadratic {
    /// Builds the quadratic from A and b, checking shapes against `n` and A's symmetry.
    pub fn from_config(
        a: Option<&[Vec<f64>]>,
        b: Option<&[f64]>,
        n: usize,
    ) -> Result<Self, InvalidConfig> {
        let a = a.ok_or_else(|| {
            InvalidConfig::new(
                "problem.a",
                "the quadratic needs `a`, an n×n matrix as rows",
            )
        })?;
        let b = b.ok_or_else(|| {
            InvalidConfig::new("problem.b", "the quadratic needs `b`, a vector of length n")
        })?;
        if a.len() != n {
            return Err(InvalidConfig::new(
                "problem.a",
                format!("must have {n} rows to match `initial`, got {}", a.len()),
            ));
        }
        let mut matrix = Array2::zeros((n, n));
        for (i, row) in a.iter().enumerate() {
            if row.len() != n {
                return Err(InvalidConfig::new(
                    format!("problem.a[{i}]"),
                    format!("must have {n} columns, got {}", row.len()),
                ));
            }
            for (j, v) in row.iter().enumerate() {
                if !v.is_finite() {
                    return Err(InvalidConfig::new(
                        format!("problem.a[{i}][{j}]"),
                        "must be a finite number",
                    ));
                }
                matrix[[i, j]] = *v;
            }
        }
        for i in 0..n {
            for j in 0..i {
                let (u, v) = (matrix[[i, j]], matrix[[j, i]]);
                if (u - v).abs() > 1e-12 * (1.0 + u.abs().max(v.abs())) {
                    return Err(InvalidConfig::new(
                        format!("problem.a[{i}][{j}]"),
                        format!("A must be symmetric: a[{i}][{j}] = {u} but a[{j}][{i}] = {v}"),
                    ));
                }
            }
        }
        if b.len() != n {
            return Err(InvalidConfig::new(
                "problem.b",
                format!("must have length {n} to match `initial`, got {}", b.len()),
            ));
        }
        if let Some(i) = b.iter().position(|v| !v.is_finite()) {
            return Err(InvalidConfig::new(
                format!("problem.b[{i}]"),
                "must be a finite number",
            ));
        }
        Ok(Self {
            a: matrix,
            b: Array1::from(b.to_vec()),
        })
    }
}

impl Quadratic {
    /// The matrix A, for exact convexity verdicts ([`crate::diagnosis::convexity`]).
    pub fn matrix(&self) -> &Array2<f64> {
        &self.a
    }
}

impl Objective for Quadratic {
    fn dim(&self) -> usize {
        self.b.len()
    }

    fn value_and_grad(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
        let n = x.len();
        let mut quad = 0.0;
        let mut lin = 0.0;
        for i in 0..n {
            let row = self.a.row(i);
            let ax_i: f64 = row.iter().zip(x).map(|(a, xj)| a * xj).sum();
            grad[i] = ax_i - self.b[i];
            quad += x[i] * ax_i;
            lin += self.b[i] * x[i];
        }
        0.5 * quad - lin
    }

    fn hessian_vector_product(&mut self, _x: &[f64], v: &[f64], out: &mut [f64]) -> bool {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.a.row(i).iter().zip(v).map(|(a, vj)| a * vj).sum();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::finite_difference_grad;

    fn check_gradient(objective: &mut dyn Objective, x: &[f64]) {
        let mut grad = vec![0.0; x.len()];
        objective.value_and_grad(x, &mut grad);
        let fd = finite_difference_grad(objective, x, 1e-6);
        for (g, f) in grad.iter().zip(&fd) {
            assert!((g - f).abs() <= 1e-5 * (1.0 + f.abs()), "{g} vs {f}");
        }
    }

    #[test]
    fn rosenbrock_gradient_matches_finite_differences() {
        check_gradient(&mut Rosenbrock { dim: 4 }, &[-1.2, 1.0, 0.3, 2.0]);
    }

    #[test]
    fn rosenbrock_is_zero_at_its_minimum() {
        let mut f = Rosenbrock { dim: 3 };
        let mut g = vec![0.0; 3];
        assert_eq!(f.value_and_grad(&[1.0, 1.0, 1.0], &mut g), 0.0);
        assert!(g.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn quadratic_gradient_matches_finite_differences() {
        let a = vec![vec![3.0, 0.5], vec![0.5, 1.0]];
        let mut q = Quadratic::from_config(Some(&a), Some(&[1.0, -2.0]), 2).unwrap();
        check_gradient(&mut q, &[0.7, -0.4]);
    }

    #[test]
    fn quadratic_rejects_an_asymmetric_matrix_naming_the_entry() {
        let a = vec![vec![1.0, 2.0], vec![0.0, 1.0]];
        let err = Quadratic::from_config(Some(&a), Some(&[0.0, 0.0]), 2).unwrap_err();
        assert_eq!(err.field, "problem.a[1][0]");
    }

    #[test]
    fn unknown_builtin_is_named_in_the_error() {
        let p = BuiltinProblem::named("rosenbrok");
        let err = p.build(2).err().unwrap();
        assert_eq!(err.field, "problem.name");
        assert!(err.message.contains("rosenbrok"));
    }
}
