//! `POST /v1/jobs/{id}/predict`: the trained model of a finished model job, applied to new rows.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use saddle_numeric::problem::ProblemConfig;

use super::jobs::find_job;
use super::{ApiJson, AppState};
use crate::error::{ApiError, Problem};
use crate::float::{floats, Float};
use crate::jobs::{JobResult, JobSpec};
use crate::tenant::Tenant;

/// Rows to predict: the body of `POST /v1/jobs/{id}/predict`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"features": [[0.5, -0.25], [1.5, 0.0]]}))]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// Feature rows, each as wide as the training data's features.
    pub features: Vec<Vec<f64>>,
}

/// The model's outputs for each row.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"outputs": [[0.93], [0.04]], "classes": [1, 0]}))]
pub struct PredictResponse {
    /// Per row: the predicted values (mse, mae, huber), the probability of each output (bce)
    /// or of each class (cross_entropy).
    pub outputs: Vec<Vec<Float>>,
    /// Per row, for classifiers: the predicted class (p ≥ ½ for one bce output, the most
    /// probable class for cross_entropy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<u64>>,
}

fn stored<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::Internal(format!("stored {what}: {e}")))
}

/// Predict with a trained model: the job's final parameters applied to the given rows.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/predict",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id")),
    request_body = PredictRequest,
    responses(
        (status = 200, description = "The model's outputs, and classes for classifiers", body = PredictResponse),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:malformed-body", "title": "The request body could not be read", "status": 400,
                          "detail": "the body is not valid JSON: EOF while parsing a list at line 1 column 15"})),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404,
                          "detail": "no job with id `42`; list jobs with GET /v1/jobs"})),
        (status = 409, description = "The job has no trained parameters yet", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:conflict", "title": "The resource's state does not allow this", "status": 409,
                          "detail": "job `42` is running; predictions need a finished job with parameters (wait for it: GET /v1/jobs/42)"})),
        (status = 422, description = "Not a model job, or rows of the wrong width", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:validation", "title": "The request is not valid", "status": 422,
                          "detail": "features: 17 parameters do not fit this model with 3 input features",
                          "errors": [{"field": "features", "message": "17 parameters do not fit this model with 3 input features"}]}))
    )
)]
pub async fn predict_job(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<PredictRequest>,
) -> Result<Json<PredictResponse>, ApiError> {
    let job = find_job(&state, &tenant, &id).await?;
    let spec: JobSpec = stored(&job.spec, "spec")?;
    let ProblemConfig::Model(model) = spec.problem else {
        return Err(ApiError::invalid(
            "id",
            format!(
                "job `{id}` minimizes a `{}` problem; predictions need a job with a `model` problem",
                job.problem_kind
            ),
        ));
    };
    let result: Option<JobResult> = job
        .result
        .as_deref()
        .map(|r| stored(r, "result"))
        .transpose()?;
    let Some(result) = result.filter(|_| job.status.is_finished()) else {
        return Err(ApiError::Conflict(format!(
            "job `{id}` is {}; predictions need a finished job with parameters (wait for it: GET /v1/jobs/{id})",
            job.status.as_str()
        )));
    };
    // The width the model was trained on: parameter counts alone cannot tell a linear model
    // on d inputs with k outputs from one on d' inputs with k' outputs.
    let trained_width = match (&model.data, &model.dataset_id) {
        (Some(data), _) => data.features.first().map(Vec::len),
        (None, Some(dataset)) => state
            .store
            .get_dataset(&tenant, dataset)
            .await
            .ok()
            .map(|d| d.feature_names.len()),
        (None, None) => None,
    };
    if let (Some(trained), Some(given)) = (trained_width, request.features.first().map(Vec::len)) {
        if trained != given {
            return Err(ApiError::invalid(
                "features",
                format!("the model was trained on rows of {trained} features, got rows of {given}"),
            ));
        }
    }
    let params: Vec<f64> = result.final_params.iter().map(|p| p.0).collect();
    if params.is_empty() || params.iter().any(|p| !p.is_finite()) {
        return Err(ApiError::Conflict(format!(
            "job `{id}` ended without finite parameters (it {}); there is no model to predict with",
            job.status.as_str()
        )));
    }
    let prediction =
        tokio::task::spawn_blocking(move || model.predict_rows(&params, &request.features))
            .await
            .map_err(|e| ApiError::Internal(format!("the prediction failed: {e}")))??;
    Ok(Json(PredictResponse {
        outputs: prediction.outputs.iter().map(|row| floats(row)).collect(),
        classes: prediction.classes,
    }))
}
