//! Liveness and readiness.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::error::{ApiError, Problem};

/// The service's health.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct HealthResponse {
    /// `ok` when the database answers.
    pub status: String,
}

/// Check that the server and its database answer.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    responses(
        (status = 200, description = "The server and its database answer", body = HealthResponse),
        (status = 500, description = "The database does not answer", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:internal", "title": "Internal server error", "status": 500,
                          "detail": "The server failed to handle the request; it has been logged."}))
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<HealthResponse>, ApiError> {
    state.store.ping().await?;
    Ok(Json(HealthResponse {
        status: "ok".into(),
    }))
}
