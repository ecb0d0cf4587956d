//! `/v1/jobs`: submit, read, list, cancel and delete optimization jobs.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::openapi::header::Header;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, IntoResponses, ToSchema};

use saddle_numeric::StopReason;

use super::doc::problem_doc;
use super::respond;
use super::{ApiJson, ApiQuery, AppState};
use crate::error::{ApiError, Problem};
use crate::float::Float;
use crate::jobs::{ContinueJobRequest, JobError, JobResult, JobSpec, JobsError};
use crate::store::{JobFilter, JobRow, JobStatus};
use crate::tenant::Tenant;

/// A job's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatusName {
    /// Waiting for a worker.
    Queued,
    /// Running.
    Running,
    /// Stopped by one of its stopping rules.
    Succeeded,
    /// Diverged, panicked or could not be run (see `error`).
    Failed,
    /// Cancelled by a client.
    Cancelled,
}

impl From<JobStatus> for JobStatusName {
    fn from(s: JobStatus) -> Self {
        match s {
            JobStatus::Queued => Self::Queued,
            JobStatus::Running => Self::Running,
            JobStatus::Succeeded => Self::Succeeded,
            JobStatus::Failed => Self::Failed,
            JobStatus::Cancelled => Self::Cancelled,
        }
    }
}

impl From<JobStatusName> for JobStatus {
    fn from(s: JobStatusName) -> Self {
        match s {
            JobStatusName::Queued => Self::Queued,
            JobStatusName::Running => Self::Running,
            JobStatusName::Succeeded => Self::Succeeded,
            JobStatusName::Failed => Self::Failed,
            JobStatusName::Cancelled => Self::Cancelled,
        }
    }
}

/// How far a job has come.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"step": 400, "max_steps": 2000}))]
pub struct Progress {
    /// The latest step stored in the history.
    pub step: i64,
    /// The step budget.
    pub max_steps: i64,
}

/// A job with its state, specification and, once finished, its result.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0b7f2a9e-5d0c-4a8e-9a57-2f1f6c3b8d11",
    "name": "rosenbrock with adam", "tags": ["demo"],
    "status": "succeeded",
    "progress": {"step": 2000, "max_steps": 2000},
    "stop_reason": "max_steps",
    "created_at": "2026-11-26T10:00:00.000000Z",
    "started_at": "2026-11-26T10:00:00.010000Z",
    "finished_at": "2026-11-26T10:00:00.050000Z",
    "spec": {"problem": {"kind": "builtin", "name": "rosenbrock"}, "initial": [-1.5, 2.0],
             "optimizer": {"name": "adam", "lr": 0.05}, "stop": {"max_steps": 2000},
             "record": {"params": true, "every": 1}, "tags": ["demo"]},
    "result": {"stop_reason": "max_steps", "steps": 2000, "final_loss": 1.3e-9,
               "final_params": [0.99996, 0.99993], "final_grad_norm": 6.1e-5,
               "best_loss": 1.3e-9, "best_params": [0.99996, 0.99993], "best_step": 2000,
               "function_evaluations": 2001, "gradient_evaluations": 2001, "wall_time_seconds": 0.002}
}))]
pub struct JobResponse {
    /// The job's id.
    pub id: String,
    /// The name given at submission.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tags given at submission.
    pub tags: Vec<String>,
    /// Lifecycle state.
    pub status: JobStatusName,
    /// Steps stored so far and the budget.
    pub progress: Progress,
    /// Why it stopped, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
    /// Submission time (RFC 3339, UTC).
    pub created_at: String,
    /// When a worker took it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The job as submitted (with defaults filled in).
    pub spec: JobSpec,
    /// The outcome, once finished (also for cancelled and diverged runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
    /// What went wrong, for failed jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    /// The job this one continues (its history goes on from that job's last step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continued_from: Option<String>,
}

/// Decodes a JSON column; a failure is the server's fault (it wrote the value).
pub(super) fn stored_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::Internal(format!("stored {what}: {e}")))
}

fn stop_reason_of(row: &JobRow) -> Result<Option<StopReason>, ApiError> {
    row.stop_reason
        .as_deref()
        .map(|r| stored_json(&format!("\"{r}\""), "stop reason"))
        .transpose()
}

impl TryFrom<JobRow> for JobResponse {
    type Error = ApiError;

    fn try_from(row: JobRow) -> Result<Self, ApiError> {
        Ok(Self {
            stop_reason: stop_reason_of(&row)?,
            spec: stored_json(&row.spec, "spec")?,
            result: row
                .result
                .as_deref()
                .map(|r| stored_json(r, "result"))
                .transpose()?,
            error: row
                .error
                .as_deref()
                .map(|e| stored_json(e, "error"))
                .transpose()?,
            continued_from: row.continued_from,
            id: row.job_id,
            name: row.name,
            tags: row.tags,
            status: row.status.into(),
            progress: Progress {
                step: row.progress_step,
                max_steps: row.max_steps,
            },
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
        })
    }
}

/// A job in a listing: enough to show a table row.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0b7f2a9e-5d0c-4a8e-9a57-2f1f6c3b8d11", "name": "rosenbrock with adam", "tags": ["demo"],
    "status": "running", "problem": "builtin", "optimizer": "adam",
    "progress": {"step": 400, "max_steps": 2000},
    "created_at": "2026-11-26T10:00:00.000000Z"
}))]
pub struct JobSummary {
    /// The job's id.
    pub id: String,
    /// The name given at submission.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tags given at submission.
    pub tags: Vec<String>,
    /// Lifecycle state.
    pub status: JobStatusName,
    /// The problem's kind.
    pub problem: String,
    /// The optimizer's name.
    pub optimizer: String,
    /// Steps stored so far and the budget.
    pub progress: Progress,
    /// Why it stopped, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
    /// f at the final point, once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_loss: Option<Float>,
    /// Submission time.
    pub created_at: String,
    /// When it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

impl TryFrom<JobRow> for JobSummary {
    type Error = ApiError;

    fn try_from(row: JobRow) -> Result<Self, ApiError> {
        let final_loss = row
            .result
            .as_deref()
            .map(|r| stored_json::<JobResult>(r, "result"))
            .transpose()?
            .map(|r| r.final_loss);
        Ok(Self {
            stop_reason: stop_reason_of(&row)?,
            id: row.job_id,
            name: row.name,
            tags: row.tags,
            status: row.status.into(),
            problem: row.problem_kind,
            optimizer: row.optimizer_name,
            progress: Progress {
                step: row.progress_step,
                max_steps: row.max_steps,
            },
            final_loss,
            created_at: row.created_at,
            finished_at: row.finished_at,
        })
    }
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"jobs": [], "next_page_token": null}))]
pub struct JobListResponse {
    /// The jobs of this page.
    pub jobs: Vec<JobSummary>,
    /// Pass as `page_token` for the next page; null on the last page.
    pub next_page_token: Option<String>,
}

/// Filters and position of `GET /v1/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListJobsQuery {
    /// Only jobs in this state.
    #[param(inline)]
    pub status: Option<JobStatusName>,
    /// Only jobs with this tag.
    pub tag: Option<String>,
    /// Page size, 1 to 500 (default 50); larger values are clamped to 500.
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

const DEFAULT_JOB_PAGE: i64 = 50;
const MAX_JOB_PAGE: i64 = 500;

/// The 429 of a submission over the tenant's active-jobs quota, for the spec.
pub(super) struct ActiveJobsQuota;

impl IntoResponses for ActiveJobsQuota {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        let mut response = problem_doc(
            "The tenant already has as many queued and running jobs as it may",
            json!({"type": "urn:saddle:problem:too-many-requests", "title": "Over a limit", "status": 429,
                   "detail": "this tenant already has 1000 queued or running jobs, its limit; wait for some to finish (or cancel some) and submit again",
                   "limit": 1000}),
        );
        response.headers.insert(
            "Retry-After".into(),
            Header::new(ObjectBuilder::new().schema_type(Type::Integer)),
        );
        BTreeMap::from([("429".to_string(), RefOr::T(response))])
    }
}

/// Maps a job operation's error, saying how to find jobs when the id is unknown.
pub(super) fn job_error(id: &str) -> impl Fn(JobsError) -> ApiError + '_ {
    move |e| match e {
        JobsError::NotFound(_) => ApiError::NotFound(format!(
            "no job with id `{id}`; list jobs with GET /v1/jobs"
        )),
        other => other.into(),
    }
}

/// Reads one of `tenant`'s jobs by id, as a 404 that says how to find jobs when it does not
/// exist (or is another tenant's: the answer is the same).
pub(super) async fn find_job(
    state: &AppState,
    tenant: &Tenant,
    id: &str,
) -> Result<JobRow, ApiError> {
    state
        .store
        .get_job(tenant, id)
        .await
        .map_err(|e| job_error(id)(e.into()))
}

/// Submit an optimization job.
///
/// The job is validated at once (problem, starting point, optimizer hyperparameters, schedule,
/// limits) and queued; workers take jobs in submission order.
#[utoipa::path(
    post,
    path = "/v1/jobs",
    tag = "jobs",
    request_body = JobSpec,
    responses(
        (status = 201, description = "The job was queued", body = JobResponse,
         headers(("Location" = String, description = "The job's URL"))),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:malformed-body", "title": "The request body could not be read", "status": 400,
                          "detail": "the body is not valid JSON: EOF while parsing an object at line 1 column 12"})),
        (status = 413, description = "The body is over the size limit", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:payload-too-large", "title": "The request is too large", "status": 413,
                          "detail": "the request body is over this server's limit (16777216 bytes)"})),
        (status = 422, description = "A field is not valid", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:validation", "title": "The request is not valid", "status": 422,
                          "detail": "optimizer.lr: must be a finite number >= 0, got -0.1",
                          "errors": [{"field": "optimizer.lr", "message": "must be a finite number >= 0, got -0.1"}]})),
        ActiveJobsQuota
    )
)]
pub async fn create_job(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(spec): ApiJson<JobSpec>,
) -> Result<Response, ApiError> {
    let row = state.runner.submit(&tenant, spec).await?;
    created(row)
}

/// Long-polling of `GET /v1/jobs/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GetJobQuery {
    /// Wait up to this long (`30s`, `500ms`, `2m` or seconds; at most 60 s) for the status to
    /// change from what it is when the request arrives; then answer as usual.
    #[param(pattern = r"^[0-9]+(\.[0-9]+)?(ms|s|m)?$")]
    pub wait: Option<String>,
}

/// The longest a long-poll may wait.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Parses `wait` as the spec's pattern says: digits, an optional fraction, an optional unit.
fn parse_wait(text: &str) -> Result<Duration, ApiError> {
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let scale = match unit {
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        _ => f64::NAN,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let is_decimal =
        |digits: &str| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let seconds = if is_decimal(whole) && is_decimal(fraction) {
        number.parse::<f64>().map_or(f64::NAN, |v| v * scale)
    } else {
        f64::NAN
    };
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(ApiError::bad_parameter(
            "wait",
            format!("`{text}` is not a duration; write e.g. 30s, 500ms or 2m"),
        ));
    }
    Ok(Duration::from_secs_f64(seconds.min(MAX_WAIT.as_secs_f64())))
}

/// Read a job: its status, progress and, once finished, its result.
///
/// With `?wait=30s` the answer is held until the job's status changes (or the wait is over):
/// long-polling for clients without Server-Sent Events.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id"), GetJobQuery),
    responses(
        (status = 200, description = "The job", body = JobResponse),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404,
                          "detail": "no job with id `42`; list jobs with GET /v1/jobs"}))
    )
)]
pub async fn get_job(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<GetJobQuery>,
) -> Result<Json<JobResponse>, ApiError> {
    let mut row = find_job(&state, &tenant, &id).await?;
    if let Some(wait) = query.wait.as_deref() {
        let wait = parse_wait(wait)?;
        if !row.status.is_finished() && !wait.is_zero() {
            if let Some(changed) = state
                .runner
                .wait_for_status(&tenant, &id, Some(row.status), wait)
                .await
                .map_err(job_error(&id))?
            {
                row = changed;
            }
        }
    }
    Ok(Json(row.try_into()?))
}

/// List jobs, newest first, filtered by status and tag.
#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    params(ListJobsQuery),
    responses(
        (status = 200, description = "A page of jobs", body = JobListResponse),
        (status = 400, description = "A query parameter is not valid", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:bad-parameter", "title": "A parameter of the request is not valid", "status": 400,
                          "detail": "status: unknown variant `done`, expected one of `queued`, `running`, `succeeded`, `failed`, `cancelled`",
                          "errors": [{"field": "status", "message": "unknown variant `done`, expected one of `queued`, `running`, `succeeded`, `failed`, `cancelled`"}]}))
    )
)]
pub async fn list_jobs(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<ListJobsQuery>,
) -> Result<Json<JobListResponse>, ApiError> {
    let limit = match query.limit {
        None => DEFAULT_JOB_PAGE,
        Some(l) if l < 1 => {
            return Err(ApiError::bad_parameter(
                "limit",
                format!("must be at least 1, got {l}"),
            ))
        }
        Some(l) => l.min(MAX_JOB_PAGE),
    };
    let before_seq = query
        .page_token
        .as_deref()
        .map(|t| state.tokens.verify(&tenant, "jobs", t))
        .transpose()?;
    let mut rows = state
        .store
        .list_jobs(&JobFilter {
            tenant: tenant.clone(),
            status: query.status.map(Into::into),
            tag: query.tag,
            before_seq,
            limit,
        })
        .await?;
    let next_page_token = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last()
            .map(|r| state.tokens.issue(&tenant, "jobs", r.seq))
    } else {
        None
    };
    let jobs = rows
        .into_iter()
        .map(JobSummary::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(JobListResponse {
        jobs,
        next_page_token,
    }))
}

/// Cancel a job. Idempotent: a queued job is cancelled at once, a running one stops at its next
/// step and keeps its history; a finished job is returned as it is.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/cancel",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job after the request (a running job may still show `running` until its next step)", body = JobResponse),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404,
                          "detail": "no job with id `42`; list jobs with GET /v1/jobs"}))
    )
)]
pub async fn cancel_job(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<Json<JobResponse>, ApiError> {
    let row = state
        .runner
        .cancel(&tenant, &id)
        .await
        .map_err(job_error(&id))?;
    Ok(Json(row.try_into()?))
}

/// Delete a finished job and its history.
#[utoipa::path(
    delete,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 204, description = "The job and its history are gone"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404,
                          "detail": "no job with id `42`; list jobs with GET /v1/jobs"})),
        (status = 409, description = "The job is queued or running", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:conflict", "title": "The resource's state does not allow this", "status": 409,
                          "detail": "job `42` is still queued or running; cancel it first (POST /v1/jobs/42/cancel)"}))
    )
)]
pub async fn delete_job(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .runner
        .delete(&tenant, &id)
        .await
        .map_err(job_error(&id))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Continue a finished job for more steps.
///
/// The new job starts from the old one's final parameters and its whole optimizer, schedule
/// and mini-batch sampler state, and numbers its records on from the old one's last step: the
/// two histories together are, bit for bit, one uninterrupted run.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/continue",
    tag = "jobs",
    params(("id" = String, Path, description = "The finished job to continue")),
    request_body = ContinueJobRequest,
    responses(
        (status = 201, description = "The continuation was queued", body = JobResponse,
         headers(("Location" = String, description = "The new job's URL"))),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404,
                          "detail": "no job with id `42`; list jobs with GET /v1/jobs"})),
        (status = 409, description = "The job has not finished, or diverged", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:conflict", "title": "The resource's state does not allow this", "status": 409,
                          "detail": "job `42` is still running; continue it once it has finished"})),
        (status = 422, description = "A field is not valid", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:validation", "title": "The request is not valid", "status": 422,
                          "detail": "steps: must be at least 1", "errors": [{"field": "steps", "message": "must be at least 1"}]})),
        ActiveJobsQuota
    )
)]
pub async fn continue_job(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ContinueJobRequest>,
) -> Result<Response, ApiError> {
    let row = state
        .runner
        .continue_job(&tenant, &id, request)
        .await
        .map_err(job_error(&id))?;
    created(row)
}

/// A 201 with the job and its `Location`.
fn created(row: JobRow) -> Result<Response, ApiError> {
    let location = format!("/v1/jobs/{}", row.job_id);
    Ok(respond::created(location, JobResponse::try_from(row)?))
}
