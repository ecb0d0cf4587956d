//! Pure evaluation helpers for `/v1/evaluate` (value, gradient, Hessian at a point) and
//! `/v1/landscape` (values on a grid over a 2-D slice), with bounded work.

use serde::{Deserialize, Serialize};

use crate::error::InvalidConfig;
use crate::problem::Objective;
use crate::vecmath::norm2;

/// The largest n for which `evaluate` computes a full Hessian (n² numbers, n HVPs).
pub const MAX_HESSIAN_DIM: usize = 256;

/// The most grid points one landscape may have.
pub const MAX_GRID_POINTS: usize = 250_000;

/// f, ∇f and optionally ∇²f at one point.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evaluation {
    /// f(x).
    pub value: f64,
    /// ∇f(x).
    pub gradient: Vec<f64>,
    /// ‖∇f(x)‖₂.
    pub gradient_norm: f64,
    /// ∇²f(x) as rows, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hessian: Option<Vec<Vec<f64>>>,
}

/// Evaluates `objective` at `x`, with the Hessian when `with_hessian` (n ≤
/// [`MAX_HESSIAN_DIM`] and an objective that has second derivatives).
pub fn evaluate(
    objective: &mut dyn Objective,
    x: &[f64],
    with_hessian: bool,
) -> Result<Evaluation, InvalidConfig> {
    let n = objective.dim();
    if x.len() != n {
        return Err(InvalidConfig::new(
            "x",
            format!("expected {n} numbers, got {}", x.len()),
        ));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(InvalidConfig::new(
            format!("x[{i}]"),
            "must be a finite number",
        ));
    }
    let mut gradient = vec![0.0; n];
    let value = objective.value_and_grad(x, &mut gradient);
    let hessian = if with_hessian {
        if n > MAX_HESSIAN_DIM {
            return Err(InvalidConfig::new(
                "hessian",
                format!(
                    "the full Hessian is only computed for n ≤ {MAX_HESSIAN_DIM}, here n = {n}"
                ),
            ));
        }
        let mut flat = vec![0.0; n * n];
        if !objective.hessian(x, &mut flat) {
            return Err(InvalidConfig::new(
                "hessian",
                "this problem has no second derivatives",
            ));
        }
        Some(flat.chunks(n).map(<[f64]>::to_vec).collect())
    } else {
        None
    };
    Ok(Evaluation {
        value,
        gradient_norm: norm2(&gradient),
        gradient,
        hessian,
    })
}

fn default_axes() -> [usize; 2] {
    [0, 1]
}

fn default_resolution() -> [usize; 2] {
    [64, 64]
}

/// A 2-D slice through an n-D function: two coordinates vary over a box, the others stay
/// at `base`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "x_range": [-2.0, 2.0], "y_range": [-1.0, 3.0], "resolution": [64, 64]
})))]
#[serde(deny_unknown_fields)]
pub struct LandscapeConfig {
    /// The coordinates on the horizontal and vertical axes (default [0, 1]).
    #[serde(default = "default_axes")]
    pub axes: [usize; 2],
    /// [lo, hi] of the horizontal axis.
    pub x_range: [f64; 2],
    /// [lo, hi] of the vertical axis.
    pub y_range: [f64; 2],
    /// Grid points along each axis (default [64, 64]); each ≥ 2, product ≤ 250 000.
    #[serde(default = "default_resolution")]
    pub resolution: [usize; 2],
    /// The point the other coordinates are held at (default: the origin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Vec<f64>>,
}

/// Function values on a grid: `values[j][i]` = f at (`xs[i]`, `ys[j]`). Non-finite values
/// serialize as `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Landscape {
    /// Horizontal grid coordinates.
    pub xs: Vec<f64>,
    /// Vertical grid coordinates.
    pub ys: Vec<f64>,
    /// Rows of values, one per entry of `ys`.
    pub values: Vec<Vec<f64>>,
}

fn grid(range: [f64; 2], count: usize) -> Vec<f64> {
    let step = (range[1] - range[0]) / (count - 1) as f64;
    (0..count)
        .map(|i| {
            if i + 1 == count {
                range[1]
            } else {
                range[0] + step * i as f64
            }
        })
        .collect()
}

/// Evaluates `objective` on the grid described by `config`.
pub fn landscape(
    objective: &mut dyn Objective,
    config: &LandscapeConfig,
) -> Result<Landscape, InvalidConfig> {
    let n = objective.dim();
    for (k, axis) in config.axes.iter().enumerate() {
        if *axis >= n {
            return Err(InvalidConfig::new(
                format!("axes[{k}]"),
                format!("coordinate {axis} does not exist; n = {n}"),
            ));
        }
    }
    if config.axes[0] == config.axes[1] {
        return Err(InvalidConfig::new("axes", "the two axes must differ"));
    }
    for (name, r) in [("x_range", config.x_range), ("y_range", config.y_range)] {
        if !(r[0].is_finite() && r[1].is_finite() && r[0] < r[1]) {
            return Err(InvalidConfig::new(
                name,
                format!(
                    "must be [lo, hi] with finite lo < hi, got [{}, {}]",
                    r[0], r[1]
                ),
            ));
        }
    }
    let [nx, ny] = config.resolution;
    if nx < 2 || ny < 2 || nx.saturating_mul(ny) > MAX_GRID_POINTS {
        return Err(InvalidConfig::new(
            "resolution",
            format!("each must be ≥ 2 and their product ≤ {MAX_GRID_POINTS}, got [{nx}, {ny}]"),
        ));
    }
    let mut point = match &config.base {
        Some(base) => {
            if base.len() != n {
                return Err(InvalidConfig::new(
                    "base",
                    format!("expected {n} numbers, got {}", base.len()),
                ));
            }
            if let Some(i) = base.iter().position(|v| !v.is_finite()) {
                return Err(InvalidConfig::new(
                    format!("base[{i}]"),
                    "must be a finite number",
                ));
            }
            base.clone()
        }
        None => vec![0.0; n],
    };
    let xs = grid(config.x_range, nx);
    let ys = grid(config.y_range, ny);
    let values = ys
        .iter()
        .map(|y| {
            point[config.axes[1]] = *y;
            xs.iter()
                .map(|x| {
                    point[config.axes[0]] = *x;
                    objective.value(&point)
                })
                .collect()
        })
        .collect();
    Ok(Landscape { xs, ys, values })
}
