//! Builtin objectives with hand-written gradients: `rosenbrock` (n-D), `sphere` and the
//! quadratic ½xᵀAx − bᵀx.

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::error::InvalidConfig;
use crate::problem::Objective;

/// The builtin functions this build knows, by name.
pub const BUILTIN_NAMES: &[&str] = &["rosenbrock", "sphere", "quadratic"];

/// A builtin objective chosen by name, with the parameters some of them need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "rosenbrock"})))]
#[serde(deny_unknown_fields)]
pub struct BuiltinProblem {
    /// Function name: `rosenbrock`, `sphere` or `quadratic`.
    pub name: String,
    /// The matrix A of the quadratic ½xᵀAx − bᵀx (n×n, symmetric), list of rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<Vec<Vec<f64>>>,
    /// The vector b of the quadratic ½xᵀAx − bᵀx (length n).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<Vec<f64>>,
}

impl BuiltinProblem {
    /// Validates the parameters against the starting point's dimension `n` and builds the
    /// objective.
    pub fn build(&self, n: usize) -> Result<Box<dyn Objective>, InvalidConfig> {
        let no_matrix = |what: &str| -> Result<(), InvalidConfig> {
            if self.a.is_some() || self.b.is_some() {
                Err(InvalidConfig::new(
                    "problem",
                    format!("`a` and `b` belong to the quadratic only; remove them for {what}"),
                ))
            } else {
                Ok(())
            }
        };
        match self.name.as_str() {
            "rosenbrock" => {
                no_matrix("rosenbrock")?;
                if n < 2 {
                    return Err(InvalidConfig::new(
                        "initial",
                        format!("rosenbrock needs at least 2 dimensions, got {n}"),
                    ));
                }
                Ok(Box::new(Rosenbrock { dim: n }))
            }
            "sphere" => {
                no_matrix("sphere")?;
                Ok(Box::new(Sphere { dim: n }))
            }
            "quadratic" => Ok(Box::new(Quadratic::from_config(
                self.a.as_deref(),
                self.b.as_deref(),
                n,
            )?)),
            other => Err(InvalidConfig::new(
                "problem.name",
                format!(
                    "unknown builtin function `{other}`; known: {}",
                    BUILTIN_NAMES.join(", ")
                ),
            )),
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

    /// Each term contributes ∂²/∂xᵢ² = 1200xᵢ² − 400xᵢ₊₁ + 2, ∂²/∂xᵢ∂xᵢ₊₁ = −400xᵢ and
    /// ∂²/∂xᵢ₊₁² = 200.
    fn hessian_vector_product(&mut self, x: &[f64], v: &[f64], out: &mut [f64]) -> bool {
        out.fill(0.0);
        for i in 0..x.len() - 1 {
            let (xi, xn) = (x[i], x[i + 1]);
            let cross = -400.0 * xi;
            out[i] += (1200.0 * xi * xi - 400.0 * xn + 2.0) * v[i] + cross * v[i + 1];
            out[i + 1] += cross * v[i] + 200.0 * v[i + 1];
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

    /// ∇²f = 2I.
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

    /// ∇²f = A.
    fn hessian_vector_product(&mut self, _x: &[f64], v: &[f64], out: &mut [f64]) -> bool {
        for (o, row) in out.iter_mut().zip(self.a.rows()) {
            *o = row.iter().zip(v).map(|(a, vj)| a * vj).sum();
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
        let p = BuiltinProblem {
            name: "rosenbrok".into(),
            a: None,
            b: None,
        };
        let err = p.build(2).err().unwrap();
        assert_eq!(err.field, "problem.name");
        assert!(err.message.contains("rosenbrok"));
    }
}
