//! `/v1/optimizers` and `/v1/schedules`: what a client can ask for, with every hyperparameter's
//! type, default, valid range and meaning, so forms can be built from it.

use axum::extract::Path;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use saddle_numeric::CatalogueEntry;

use crate::error::{ApiError, Problem};

/// The catalogue of optimizers or schedules.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{"name": "sgd", "description": "Stochastic gradient descent with optional (Nesterov) momentum.", "reference": "torch.optim.SGD", "hyperparameters": [{"name": "lr", "type": "number", "default": 0.001, "required": false, "range": ">= 0", "description": "Learning rate."}]}]}))]
pub struct CatalogueResponse {
    /// One entry per name accepted in requests.
    pub items: Vec<CatalogueEntry>,
}

fn find(
    entries: Vec<CatalogueEntry>,
    name: &str,
    what: &str,
    list: &str,
) -> Result<CatalogueEntry, ApiError> {
    entries
        .into_iter()
        .find(|e| e.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no {what} named `{name}`; see GET {list}")))
}

/// List the optimizers with their hyperparameters.
#[utoipa::path(
    get,
    path = "/v1/optimizers",
    tag = "catalogue",
    responses((status = 200, description = "Every optimizer", body = CatalogueResponse))
)]
pub async fn list_optimizers() -> Json<CatalogueResponse> {
    Json(CatalogueResponse {
        items: saddle_numeric::optim::catalogue(),
    })
}

/// Describe one optimizer.
#[utoipa::path(
    get,
    path = "/v1/optimizers/{name}",
    tag = "catalogue",
    params(("name" = String, Path, description = "The optimizer's name, e.g. adam")),
    responses(
        (status = 200, description = "The optimizer", body = CatalogueEntry),
        (status = 404, description = "No such optimizer", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404,
                          "detail": "no optimizer named `adma`; see GET /v1/optimizers"}))
    )
)]
pub async fn get_optimizer(Path(name): Path<String>) -> Result<Json<CatalogueEntry>, ApiError> {
    find(
        saddle_numeric::optim::catalogue(),
        &name,
        "optimizer",
        "/v1/optimizers",
    )
    .map(Json)
}

/// List the learning-rate schedules with their parameters.
#[utoipa::path(
    get,
    path = "/v1/schedules",
    tag = "catalogue",
    responses((status = 200, description = "Every schedule", body = CatalogueResponse))
)]
pub async fn list_schedules() -> Json<CatalogueResponse> {
    Json(CatalogueResponse {
        items: saddle_numeric::schedule::catalogue(),
    })
}

/// Describe one learning-rate schedule.
#[utoipa::path(
    get,
    path = "/v1/schedules/{name}",
    tag = "catalogue",
    params(("name" = String, Path, description = "The schedule's name, e.g. cosine")),
    responses(
        (status = 200, description = "The schedule", body = CatalogueEntry),
        (status = 404, description = "No such schedule", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404,
                          "detail": "no schedule named `cosin`; see GET /v1/schedules"}))
    )
)]
pub async fn get_schedule(Path(name): Path<String>) -> Result<Json<CatalogueEntry>, ApiError> {
    find(
        saddle_numeric::schedule::catalogue(),
        &name,
        "schedule",
        "/v1/schedules",
    )
    .map(Json)
}
