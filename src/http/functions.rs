//! `/v1/functions`: the library of classic test functions a `builtin` problem can name, each
//! with its formula in the expression language, dimension rule, known minima, recommended
//! domain and customary start.

use axum::extract::Path;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use saddle_numeric::functions::{self, FunctionInfo};

use crate::error::{ApiError, Problem};

/// The function library.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{
    "name": "rosenbrock", "title": "Rosenbrock (banana valley)",
    "formula": "sum(i=0..n-2, 100*(x[i+1] - x[i]^2)^2 + (1 - x[i])^2)",
    "variables": [{"name": "x", "offset": 0, "size": 2}],
    "dimension": {"any": {"min": 2, "default": 2}}, "parameters": [],
    "domain": [[-5.0, 10.0], [-5.0, 10.0]], "default_start": [-1.5, 2.0],
    "minima": [{"x": [1.0, 1.0], "f": 0.0}], "bounded_below": true,
    "differentiable_at_minimum": true, "note": "narrow curved valley"
}]}))]
pub struct FunctionListResponse {
    /// One entry per name accepted as `{"kind": "builtin", "name": …}`, shown at its default
    /// dimension.
    pub items: Vec<FunctionInfo>,
}

/// List the builtin test functions with their formulas and known minima.
#[utoipa::path(
    get,
    path = "/v1/functions",
    tag = "catalogue",
    responses((status = 200, description = "Every function of the library", body = FunctionListResponse))
)]
pub async fn list_functions() -> Json<FunctionListResponse> {
    Json(FunctionListResponse {
        items: functions::catalogue(),
    })
}

/// Describe one builtin test function.
#[utoipa::path(
    get,
    path = "/v1/functions/{name}",
    tag = "catalogue",
    params(("name" = String, Path, description = "The function's name, e.g. rosenbrock")),
    responses(
        (status = 200, description = "The function", body = FunctionInfo),
        (status = 404, description = "No such function", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404,
                          "detail": "no function named `rosenbrok`; see GET /v1/functions"}))
    )
)]
pub async fn get_function(Path(name): Path<String>) -> Result<Json<FunctionInfo>, ApiError> {
    functions::lookup(&name)
        .map(|spec| Json(spec.info()))
        .ok_or_else(|| {
            ApiError::NotFound(format!("no function named `{name}`; see GET /v1/functions"))
        })
}
