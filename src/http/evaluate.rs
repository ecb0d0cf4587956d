//! `POST /v1/evaluate` (value, gradient and Hessian of any problem at a point) and
//! `POST /v1/landscape` (the objective on a grid over a 2-D slice, for contour plots): no job,
//! the work runs on the blocking pool and is bounded by the server's limits.

use std::cell::RefCell;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use saddle_numeric::data::Dataset;
use saddle_numeric::expr::Variable;
use saddle_numeric::functions::{self, LandscapeConfig, MAX_GRID_POINTS};
use saddle_numeric::problem::{flatten_initial, Initial, ProblemConfig};
use saddle_numeric::{InvalidConfig, Objective};

use super::{ApiJson, AppState};
use crate::error::{ApiError, Problem};
use crate::float::{floats, Float};
use crate::jobs::{load_dataset, JobLimits};
use crate::store::StoreError;
use crate::tenant::Tenant;

/// The most objective-evaluation work one landscape may cost: grid points × the cost of one
/// evaluation (tape slots for expressions, n for builtins, rows × parameters for models).
pub const MAX_LANDSCAPE_WORK: usize = 200_000_000;

/// A problem and a point: the body of `POST /v1/evaluate`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "problem": {"kind": "expression", "expression": "(1 - x)^2 + 100*(y - x^2)^2"},
    "point": {"x": -1.5, "y": 2},
    "hessian": true
}))]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// The problem, as in a job.
    pub problem: ProblemConfig,
    /// Where to evaluate: the flat vector, or each variable's value by name (as `initial`).
    pub point: Initial,
    /// Also compute the full Hessian (n ≤ 256; default false).
    #[serde(default)]
    pub hessian: bool,
}

/// f, ∇f and optionally ∇²f at the point.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "variables": [{"name": "x", "offset": 0}, {"name": "y", "offset": 1}],
    "point": [-1.5, 2.0],
    "value": 12.5,
    "gradient": [-155.0, -50.0],
    "gradient_norm": 162.8649747490233,
    "hessian": [[1902.0, 600.0], [600.0, 200.0]]
}))]
pub struct EvaluateResponse {
    /// The variables and their place in x, in order (empty for model problems, whose x is the
    /// flat parameter vector).
    pub variables: Vec<Variable>,
    /// The point as the flat vector x.
    pub point: Vec<Float>,
    /// f(x).
    pub value: Float,
    /// ∇f(x), in the order of `point`.
    pub gradient: Vec<Float>,
    /// ‖∇f(x)‖₂.
    pub gradient_norm: Float,
    /// ∇²f(x) as rows, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hessian: Option<Vec<Vec<Float>>>,
}

fn default_axes() -> [usize; 2] {
    [0, 1]
}

fn default_resolution() -> [usize; 2] {
    [64, 64]
}

/// A 2-D slice of a problem to sample: the body of `POST /v1/landscape`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "problem": {"kind": "builtin", "name": "rosenbrock"},
    "x_range": [-2.0, 2.0],
    "y_range": [-1.0, 3.0],
    "resolution": [64, 64]
}))]
#[serde(deny_unknown_fields)]
pub struct LandscapeRequest {
    /// The problem, as in a job.
    pub problem: ProblemConfig,
    /// The point the other coordinates are held at, as `initial` (also fixes n for n-D
    /// builtins). Default: a builtin's customary start, the origin for expressions; required
    /// for model problems.
    #[serde(default)]
    pub point: Option<Initial>,
    /// The coordinates (indices into x) on the horizontal and vertical axes (default [0, 1]).
    #[serde(default = "default_axes")]
    pub axes: [usize; 2],
    /// [lo, hi] of the horizontal axis (default for builtins: the recommended domain).
    #[serde(default)]
    pub x_range: Option<[f64; 2]>,
    /// [lo, hi] of the vertical axis (default for builtins: the recommended domain).
    #[serde(default)]
    pub y_range: Option<[f64; 2]>,
    /// Grid points along each axis (default [64, 64]); each ≥ 2, product ≤ 250 000.
    #[serde(default = "default_resolution")]
    pub resolution: [usize; 2],
}

/// The objective on the grid: `values[j][i]` = f with coordinate `axes[0]` at `xs[i]` and
/// `axes[1]` at `ys[j]`, the others at `point`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "axes": [0, 1], "axis_names": ["x", "y"], "point": [0.0, 0.0],
    "xs": [-2.0, 0.0, 2.0], "ys": [-1.0, 1.0, 3.0],
    "values": [[2509.0, 101.0, 2501.0], [909.0, 101.0, 901.0], [109.0, 901.0, 101.0]]
}))]
pub struct LandscapeResponse {
    /// The coordinates on the two axes.
    pub axes: [usize; 2],
    /// Their names (`x`, `y`, or `x[3]` for a component of a vector variable).
    pub axis_names: [String; 2],
    /// The point the other coordinates are held at.
    pub point: Vec<Float>,
    /// Horizontal grid coordinates.
    pub xs: Vec<Float>,
    /// Vertical grid coordinates.
    pub ys: Vec<Float>,
    /// Rows of values, one per entry of `ys`.
    pub values: Vec<Vec<Float>>,
}

/// A problem built at a point, with what the handlers report and bound.
struct Built {
    objective: Box<dyn Objective>,
    x: Vec<f64>,
    variables: Vec<Variable>,
    /// The rough cost of one evaluation, in elementary operations.
    cost: usize,
}

/// Errors about `initial` are about `point` here.
fn as_point(mut e: InvalidConfig) -> InvalidConfig {
    if let Some(rest) = e.field.strip_prefix("initial") {
        e.field = format!("point{rest}");
    }
    e
}

/// Builds `problem` at `point` within the server's limits, naming the offending field.
fn build(
    problem: &ProblemConfig,
    point: &Initial,
    dataset: Option<Dataset>,
    limits: &JobLimits,
) -> Result<Built, InvalidConfig> {
    let built = match problem {
        ProblemConfig::Expression(e) => {
            let compiled = e.compile_with_limits(&limits.expr)?;
            let variables = compiled.variables().to_vec();
            let x = flatten_initial(point, &variables).map_err(as_point)?;
            Built {
                cost: compiled.tape().size(),
                objective: Box::new(compiled.objective()),
                x,
                variables,
            }
        }
        ProblemConfig::Builtin(b) => {
            let variables = b.variables_for(point)?;
            let x = flatten_initial(point, &variables).map_err(as_point)?;
            check_params(x.len(), limits)?;
            Built {
                objective: b.build(x.len())?,
                cost: x.len().max(1),
                x,
                variables,
            }
        }
        ProblemConfig::Model(m) => {
            let rows = match (&dataset, &m.data) {
                (Some(d), _) => d.rows(),
                (None, Some(inline)) => inline.features.len(),
                (None, None) => 1,
            };
            // The resolver hands the loaded dataset over without copying it.
            let dataset = RefCell::new(dataset);
            let (objective, x) = problem
                .build_full(point, &|_| dataset.borrow_mut().take(), &limits.expr)
                .map_err(as_point)?;
            Built {
                cost: rows.max(1).saturating_mul(x.len().max(1)),
                objective,
                x,
                variables: Vec::new(),
            }
        }
    };
    check_params(built.x.len(), limits)?;
    Ok(built)
}

fn check_params(n: usize, limits: &JobLimits) -> Result<(), InvalidConfig> {
    if n > limits.max_params {
        return Err(InvalidConfig::new(
            "point",
            format!(
                "the problem has {n} parameters; this server allows at most {}",
                limits.max_params
            ),
        ));
    }
    Ok(())
}

/// The dataset a model problem names, loaded from `tenant`'s datasets.
async fn dataset_for(
    state: &AppState,
    tenant: &Tenant,
    problem: &ProblemConfig,
) -> Result<Option<Dataset>, ApiError> {
    let Some(id) = problem.dataset_id() else {
        return Ok(None);
    };
    match load_dataset(&state.store, tenant, id).await {
        Ok(data) => Ok(Some(data)),
        Err(StoreError::NotFound(_)) => Err(ApiError::invalid(
            "problem.dataset_id",
            format!(
                "no dataset with id `{id}`; list datasets with GET /v1/datasets \
                 or upload one with POST /v1/datasets"
            ),
        )),
        Err(other) => Err(other.into()),
    }
}

/// Runs CPU work off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, InvalidConfig> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("the evaluation panicked: {e}")))?
        .map_err(ApiError::from)
}

/// The name of coordinate `i` of x.
fn coordinate_name(variables: &[Variable], i: usize) -> String {
    variables
        .iter()
        .find(|v| i >= v.offset && i < v.offset + v.size.unwrap_or(1))
        .map(|v| match v.size {
            Some(_) => format!("{}[{}]", v.name, i - v.offset),
            None => v.name.clone(),
        })
        .unwrap_or_else(|| format!("x[{i}]"))
}

/// Evaluate a problem at a point: value, gradient and optionally the Hessian, without a job.
#[utoipa::path(
    post,
    path = "/v1/evaluate",
    tag = "catalogue",
    request_body = EvaluateRequest,
    responses(
        (status = 200, description = "f, ∇f (and ∇²f) at the point", body = EvaluateResponse),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:malformed-body", "title": "The request body could not be read", "status": 400,
                          "detail": "the body is not valid JSON: EOF while parsing an object at line 1 column 20"})),
        (status = 422, description = "The problem or the point is not valid; parse errors give the column and a caret excerpt",
         body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:validation", "title": "The request is not valid", "status": 422,
                          "detail": "problem.expression: expected `)`, found the end of the expression at column 9",
                          "errors": [{"field": "problem.expression",
                                      "message": "expected `)`, found the end of the expression at column 9",
                                      "column": 9, "excerpt": "(1 - x^2\n        ^"}]}))
    )
)]
pub async fn evaluate_problem(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(request): ApiJson<EvaluateRequest>,
) -> Result<Json<EvaluateResponse>, ApiError> {
    let limits = state.runner.limits();
    let dataset = dataset_for(&state, &tenant, &request.problem).await?;
    let (variables, x, evaluation) = blocking(move || {
        let mut built = build(&request.problem, &request.point, dataset, &limits)?;
        let evaluation = functions::evaluate(built.objective.as_mut(), &built.x, request.hessian)
            .map_err(as_point)?;
        Ok((built.variables, built.x, evaluation))
    })
    .await?;
    Ok(Json(EvaluateResponse {
        variables,
        point: floats(&x),
        value: Float(evaluation.value),
        gradient: floats(&evaluation.gradient),
        gradient_norm: Float(evaluation.gradient_norm),
        hessian: evaluation
            .hessian
            .map(|rows| rows.iter().map(|row| floats(row)).collect()),
    }))
}

/// The objective on a grid over two coordinates (the others fixed), for contour plots.
#[utoipa::path(
    post,
    path = "/v1/landscape",
    tag = "catalogue",
    request_body = LandscapeRequest,
    responses(
        (status = 200, description = "The grid and the values on it", body = LandscapeResponse),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:malformed-body", "title": "The request body could not be read", "status": 400,
                          "detail": "the body is not valid JSON: EOF while parsing an object at line 1 column 20"})),
        (status = 422, description = "The problem, the axes, the ranges or the grid size are not valid",
         body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:validation", "title": "The request is not valid", "status": 422,
                          "detail": "resolution: each must be ≥ 2 and their product ≤ 250000, got [1000, 1000]",
                          "errors": [{"field": "resolution",
                                      "message": "each must be ≥ 2 and their product ≤ 250000, got [1000, 1000]"}]}))
    )
)]
pub async fn create_landscape(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(request): ApiJson<LandscapeRequest>,
) -> Result<Json<LandscapeResponse>, ApiError> {
    let limits = state.runner.limits();
    let dataset = dataset_for(&state, &tenant, &request.problem).await?;
    let response = blocking(move || {
        let [nx, ny] = request.resolution;
        if nx < 2 || ny < 2 || nx.saturating_mul(ny) > MAX_GRID_POINTS {
            return Err(InvalidConfig::new(
                "resolution",
                format!(
                    "each must be ≥ 2 and their product ≤ {MAX_GRID_POINTS}, got [{nx}, {ny}]"
                ),
            ));
        }
        let mut built = match (&request.point, &request.problem) {
            (Some(point), problem) => build(problem, point, dataset, &limits)?,
            (None, ProblemConfig::Builtin(b)) => {
                let start = Initial::Vector(b.default_initial()?);
                build(&request.problem, &start, None, &limits)?
            }
            (None, ProblemConfig::Expression(e)) => {
                // No point: learn the layout, then hold the other coordinates at the origin.
                let compiled = e.compile_with_limits(&limits.expr)?;
                check_params(compiled.dim(), &limits)?;
                Built {
                    cost: compiled.tape().size(),
                    x: vec![0.0; compiled.dim()],
                    variables: compiled.variables().to_vec(),
                    objective: Box::new(compiled.objective()),
                }
            }
            (None, ProblemConfig::Model(_)) => {
                return Err(InvalidConfig::new(
                    "point",
                    "required for model problems: the parameters the slice passes through",
                ))
            }
        };
        let work = (nx * ny).saturating_mul(built.cost);
        if work > MAX_LANDSCAPE_WORK {
            return Err(InvalidConfig::new(
                "resolution",
                format!(
                    "{nx}×{ny} points of an objective costing ~{} operations each exceed the budget of \
                     {MAX_LANDSCAPE_WORK} operations; use at most {} points",
                    built.cost,
                    MAX_LANDSCAPE_WORK / built.cost.max(1)
                ),
            ));
        }
        let n = built.x.len();
        for (k, axis) in request.axes.iter().enumerate() {
            if *axis >= n {
                return Err(InvalidConfig::new(
                    format!("axes[{k}]"),
                    format!("coordinate {axis} does not exist; x has {n} coordinates (0 to {})", n - 1),
                ));
            }
        }
        let domain = match &request.problem {
            ProblemConfig::Builtin(b) => functions::lookup(&b.name).map(|spec| (spec.domain)(built.x.len())),
            _ => None,
        };
        let range = |given: Option<[f64; 2]>, axis: usize, field: &str| {
            given
                .or_else(|| domain.as_ref().and_then(|d| d.get(axis).copied()))
                .ok_or_else(|| {
                    InvalidConfig::new(
                        field,
                        "required: [lo, hi] of this axis (only builtin functions have a default domain)",
                    )
                })
        };
        let config = LandscapeConfig {
            axes: request.axes,
            x_range: range(request.x_range, request.axes[0], "x_range")?,
            y_range: range(request.y_range, request.axes[1], "y_range")?,
            resolution: request.resolution,
            base: Some(built.x.clone()),
        };
        let grid = functions::landscape(built.objective.as_mut(), &config).map_err(|e| {
            if e.field == "base" {
                InvalidConfig { field: "point".into(), ..e }
            } else {
                e
            }
        })?;
        Ok(LandscapeResponse {
            axes: request.axes,
            axis_names: request.axes.map(|i| coordinate_name(&built.variables, i)),
            point: floats(&built.x),
            xs: floats(&grid.xs),
            ys: floats(&grid.ys),
            values: grid.values.iter().map(|row| floats(row)).collect(),
        })
    })
    .await?;
    Ok(Json(response))
}
