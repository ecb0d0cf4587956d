//! The library of classic test functions (kind `builtin`): formulas in the expression
//! language, dimension rules, known global minima, recommended domains and default starts,
//! plus the pure evaluation helpers behind `/v1/evaluate` and `/v1/landscape`.

mod catalogue;
mod evaluate;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::builtin::BuiltinProblem;
use crate::expr::{ConstantValue, ExpressionProblem, Variable};
pub use evaluate::{evaluate, landscape, Evaluation, Landscape, LandscapeConfig, MAX_GRID_POINTS};

/// How many variables a function takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"any": {"min": 2, "default": 2}})))]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Exactly this many (the 2-D functions, with variables `x` and `y`).
    Fixed(usize),
    /// Any n ≥ `min` (one vector variable `x`); `default` when the request does not say.
    Any {
        /// The smallest valid n.
        min: usize,
        /// The n of the catalogue's example start, domain and minima.
        default: usize,
    },
}

/// A known global minimum: the point and the value there.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"x": [1.0, 1.0], "f": 0.0})))]
pub struct KnownMinimum {
    /// The minimizer x*.
    pub x: Vec<f64>,
    /// f(x*).
    pub f: f64,
}

/// One function of the library: its definition and what is known about it.
#[derive(Debug)]
pub struct FunctionSpec {
    /// The name used in requests (`"name": "rosenbrock"`).
    pub name: &'static str,
    /// A human-readable title.
    pub title: &'static str,
    /// The definition in the expression language (over `x, y` or the vector `x` of size n).
    pub formula: &'static str,
    /// The dimension rule.
    pub dimension: Dimension,
    /// Extra request parameters it takes.
    pub parameters: &'static [&'static str],
    /// Recommended search box for dimension n: [lo, hi] per coordinate.
    pub domain: fn(usize) -> Vec<[f64; 2]>,
    /// The customary starting point for dimension n.
    pub start: fn(usize) -> Vec<f64>,
    /// Known global minima for dimension n (empty when unbounded or parameter-dependent).
    pub minima: fn(usize) -> Vec<KnownMinimum>,
    /// False when f is unbounded below (globally).
    pub bounded_below: bool,
    /// True when ∇f = 0 at the listed minima (false for kinks and boundary minima).
    pub smooth_minimum: bool,
    /// A remark on its shape or on the minima.
    pub note: &'static str,
}

impl FunctionSpec {
    /// The default n (2 for the fixed 2-D functions).
    pub fn default_dim(&self) -> usize {
        match self.dimension {
            Dimension::Fixed(d) => d,
            Dimension::Any { default, .. } => default,
        }
    }

    /// The variables in x order for dimension n.
    pub fn variables(&self, n: usize) -> Vec<Variable> {
        match self.dimension {
            Dimension::Fixed(_) => ["x", "y"]
                .iter()
                .enumerate()
                .map(|(offset, name)| Variable {
                    name: name.to_string(),
                    offset,
                    size: None,
                })
                .collect(),
            Dimension::Any { .. } => vec![Variable {
                name: "x".into(),
                offset: 0,
                size: Some(n),
            }],
        }
    }

    /// The formula as an expression problem of dimension n with the given parameters
    /// (`condition_number`, `A`, `b`) as constants.
    pub fn expression(
        &self,
        n: usize,
        constants: BTreeMap<String, ConstantValue>,
    ) -> ExpressionProblem {
        let vars = self.variables(n);
        ExpressionProblem {
            expression: self.formula.to_string(),
            variables: Some(vars.iter().map(|v| v.name.clone()).collect()),
            dims: vars
                .iter()
                .filter_map(|v| v.size.map(|s| (v.name.clone(), s)))
                .collect(),
            constants,
        }
    }

    /// The serializable description at the default dimension.
    pub fn info(&self) -> FunctionInfo {
        let n = self.default_dim();
        FunctionInfo {
            name: self.name.to_string(),
            title: self.title.to_string(),
            formula: self.formula.to_string(),
            variables: self.variables(n),
            dimension: self.dimension,
            parameters: self.parameters.iter().map(|p| p.to_string()).collect(),
            domain: (self.domain)(n),
            default_start: (self.start)(n),
            minima: (self.minima)(n),
            bounded_below: self.bounded_below,
            differentiable_at_minimum: self.smooth_minimum,
            note: self.note.to_string(),
        }
    }
}

/// What GET /v1/functions lists for each function (shown at its default dimension).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "name": "rosenbrock", "title": "Rosenbrock (banana valley)",
    "formula": "sum(i=0..n-2, 100*(x[i+1] - x[i]^2)^2 + (1 - x[i])^2)",
    "variables": [{"name": "x", "offset": 0, "size": 2}],
    "dimension": {"any": {"min": 2, "default": 2}}, "parameters": [],
    "domain": [[-5.0, 10.0], [-5.0, 10.0]], "default_start": [-1.5, 2.0],
    "minima": [{"x": [1.0, 1.0], "f": 0.0}], "bounded_below": true,
    "differentiable_at_minimum": true, "note": "narrow curved valley"
})))]
pub struct FunctionInfo {
    /// The request name.
    pub name: String,
    /// A human-readable title.
    pub title: String,
    /// The definition in the expression language.
    pub formula: String,
    /// The variables and their layout in x at the default dimension.
    pub variables: Vec<Variable>,
    /// Fixed dimension or any n ≥ min.
    pub dimension: Dimension,
    /// Extra parameters the request may give.
    pub parameters: Vec<String>,
    /// Recommended box, one [lo, hi] per coordinate.
    pub domain: Vec<[f64; 2]>,
    /// The customary start.
    pub default_start: Vec<f64>,
    /// Known global minima.
    pub minima: Vec<KnownMinimum>,
    /// False when unbounded below.
    pub bounded_below: bool,
    /// False when ∇f does not vanish (or is undefined) at the minima.
    pub differentiable_at_minimum: bool,
    /// A remark.
    pub note: String,
}

/// Every function of the library, for GET /v1/functions.
pub fn catalogue() -> Vec<FunctionInfo> {
    catalogue::FUNCTIONS
        .iter()
        .map(FunctionSpec::info)
        .collect()
}

/// The function called `name`.
pub fn lookup(name: &str) -> Option<&'static FunctionSpec> {
    catalogue::FUNCTIONS.iter().find(|f| f.name == name)
}

/// All function specifications.
pub fn specs() -> &'static [FunctionSpec] {
    catalogue::FUNCTIONS
}

/// The known minimum nearest to a point, for reporting a run's distance and gap to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NearestMinimum {
    /// ‖x − x*‖₂.
    pub distance: f64,
    /// f(x*).
    pub f_star: f64,
    /// x*.
    pub x_star: Vec<f64>,
}

/// The known global minimum nearest to `x` (dimension taken from `x`), or `None` when the
/// function has none listed (saddles, an indefinite quadratic, an unknown name).
pub fn nearest_minimum(problem: &BuiltinProblem, x: &[f64]) -> Option<NearestMinimum> {
    let n = x.len();
    let minima = if problem.name == "quadratic" {
        let a = problem.a.as_ref()?;
        let b = problem.b.as_ref()?;
        let x_star = solve_spd(a, b)?;
        let f_star = -0.5 * b.iter().zip(&x_star).map(|(u, v)| u * v).sum::<f64>();
        vec![KnownMinimum {
            x: x_star,
            f: f_star,
        }]
    } else {
        (lookup(&problem.name)?.minima)(n)
    };
    minima
        .into_iter()
        .filter(|m| m.x.len() == n)
        .map(|m| NearestMinimum {
            distance: m
                .x
                .iter()
                .zip(x)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt(),
            f_star: m.f,
            x_star: m.x,
        })
        .min_by(|p, q| p.distance.total_cmp(&q.distance))
}

/// Solves Ax = b by Cholesky; `None` unless A is (numerically) positive definite.
fn solve_spd(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    if a.len() != n || a.iter().any(|r| r.len() != n) {
        return None;
    }
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i][i] - s;
                if d.is_nan() || d <= 1e-14 * a[i][i].abs().max(1e-300) {
                    return None;
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i][j] - s) / l[j * n + j];
            }
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i * n + k] * y[k]).sum();
        y[i] = (b[i] - s) / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k * n + i] * x[k]).sum();
        x[i] = (y[i] - s) / l[i * n + i];
    }
    Some(x)
}

#[cfg(test)]
mod tests;
