//! `/v1/sweeps`: race optimizers on one problem, read the leaderboard, cancel, and overlay
//! every job's loss curve in one figure.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use saddle_numeric::StopReason;

use super::jobs::{stored_json, ActiveJobsQuota, JobStatusName};
use super::respond;
use super::thin::thinned_steps;
use super::{ApiJson, ApiQuery, AppState};
use crate::error::{ApiError, Problem};
use crate::float::Float;
use crate::jobs::{JobResult, JobsError, SweepRequest};
use crate::plot::{render_lines, render_lines_png, LineChart, Scale, Series};
use crate::store::{JobRow, SweepRow};
use crate::tenant::Tenant;

/// One job of a sweep, as a leaderboard row.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "rank": 1, "job_id": "0b7f2a9e-5d0c-4a8e-9a57-2f1f6c3b8d11", "label": "adam lr=0.01",
    "optimizer": "adam", "status": "succeeded", "stop_reason": "max_steps",
    "final_loss": 3.1e-9, "best_loss": 3.1e-9, "steps": 2000, "wall_time_seconds": 0.004,
    "steps_to_target": 812, "time_to_target_seconds": 0.0016, "diagnosis": "local_minimum"
}))]
pub struct LeaderboardEntry {
    /// Position in the requested order (1 = best).
    pub rank: usize,
    /// The job.
    pub job_id: String,
    /// Which grid point it is: optimizer, lr, start, seed.
    pub label: String,
    /// The optimizer's name.
    pub optimizer: String,
    /// The job's state.
    pub status: JobStatusName,
    /// Why it stopped, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
    /// f at the final point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_loss: Option<Float>,
    /// The lowest loss recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_loss: Option<Float>,
    /// Updates made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    /// Wall time of the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_time_seconds: Option<f64>,
    /// The first recorded step with loss ≤ the sweep's `target_loss`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps_to_target: Option<i64>,
    /// Wall time to that step (the run's wall time prorated by steps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_target_seconds: Option<f64>,
    /// What the final point is (local_minimum, saddle_point, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
}

/// A sweep and its leaderboard.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "5c1d0e1a-8f3b-4f7e-b1c2-9d0a4e6f7a21", "name": "rosenbrock race", "tags": [],
    "created_at": "2026-11-26T10:00:00.000000Z", "jobs": 6, "finished": 6, "target_loss": 1e-4,
    "sort": "final_loss", "leaderboard": []
}))]
pub struct SweepResponse {
    /// The sweep's id.
    pub id: String,
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// How many jobs it made.
    pub jobs: usize,
    /// How many of them have finished.
    pub finished: usize,
    /// The loss the leaderboard measures time to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_loss: Option<f64>,
    /// The order of the leaderboard.
    pub sort: SweepSort,
    /// One row per job, best first.
    pub leaderboard: Vec<LeaderboardEntry>,
}

/// A page of sweeps.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"sweeps": [], "next_page_token": null}))]
pub struct SweepListResponse {
    /// Sweeps, newest first (their leaderboards left out: read each sweep for it).
    pub sweeps: Vec<SweepSummary>,
    /// Pass as `page_token` for the next page.
    pub next_page_token: Option<String>,
}

/// A sweep in a listing.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "5c1d0e1a-8f3b-4f7e-b1c2-9d0a4e6f7a21", "name": "rosenbrock race", "tags": [], "created_at": "2026-11-26T10:00:00.000000Z"}))]
pub struct SweepSummary {
    /// The sweep's id.
    pub id: String,
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
}

/// Leaderboard orders; every one ascending, jobs without the value last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SweepSort {
    /// Lowest final loss first.
    FinalLoss,
    /// Lowest best loss first.
    BestLoss,
    /// Fewest steps to the target loss first.
    StepsToTarget,
    /// Least time to the target loss first.
    TimeToTarget,
    /// Shortest wall time first.
    WallTime,
}

/// The order of `GET /v1/sweeps/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SweepQuery {
    /// final_loss (default), best_loss, steps_to_target, time_to_target or wall_time.
    #[param(inline)]
    pub sort: Option<SweepSort>,
}

/// Position of `GET /v1/sweeps`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListSweepsQuery {
    /// Page size, 1 to 100 (default 20; larger values are clamped).
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

fn sweep_error(id: &str) -> impl Fn(JobsError) -> ApiError + '_ {
    move |e| match e {
        JobsError::NotFound(_) => ApiError::NotFound(format!(
            "no sweep with id `{id}`; list sweeps with GET /v1/sweeps"
        )),
        other => other.into(),
    }
}

async fn leaderboard(
    state: &AppState,
    tenant: &Tenant,
    sweep: &SweepRow,
    sort: SweepSort,
) -> Result<SweepResponse, ApiError> {
    let request: SweepRequest = stored_json(&sweep.spec, "sweep")?;
    let jobs = state.store.sweep_jobs(tenant, &sweep.sweep_id).await?;
    let mut entries = Vec::with_capacity(jobs.len());
    for job in &jobs {
        entries.push(entry(state, job, request.target_loss).await?);
    }
    let key = |e: &LeaderboardEntry| -> Option<f64> {
        match sort {
            SweepSort::FinalLoss => e.final_loss.map(|f| f.0),
            SweepSort::BestLoss => e.best_loss.map(|f| f.0),
            SweepSort::StepsToTarget => e.steps_to_target.map(|s| s as f64),
            SweepSort::TimeToTarget => e.time_to_target_seconds,
            SweepSort::WallTime => e.wall_time_seconds,
        }
        .filter(|v| !v.is_nan())
    };
    entries.sort_by(|a, b| match (key(a), key(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    for (i, e) in entries.iter_mut().enumerate() {
        e.rank = i + 1;
    }
    Ok(SweepResponse {
        id: sweep.sweep_id.clone(),
        name: sweep.name.clone(),
        tags: sweep.tags.clone(),
        created_at: sweep.created_at.clone(),
        jobs: jobs.len(),
        finished: jobs.iter().filter(|j| j.status.is_finished()).count(),
        target_loss: request.target_loss,
        sort,
        leaderboard: entries,
    })
}

async fn entry(
    state: &AppState,
    job: &JobRow,
    target: Option<f64>,
) -> Result<LeaderboardEntry, ApiError> {
    let result: Option<JobResult> = job
        .result
        .as_deref()
        .map(|r| stored_json(r, "result"))
        .transpose()?;
    let steps_to_target = match target {
        Some(t) => state.store.first_step_at_or_below(job.seq, t).await?,
        None => None,
    };
    let time_to_target_seconds = match (&result, steps_to_target) {
        (Some(r), Some(s)) if r.steps > 0 => Some(r.wall_time_seconds * s as f64 / r.steps as f64),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    };
    let diagnosis = result
        .as_ref()
        .and_then(|r| r.diagnosis.as_ref())
        .and_then(|d| serde_json::to_value(d.feature).ok())
        .and_then(|v| v.as_str().map(str::to_owned));
    Ok(LeaderboardEntry {
        rank: 0,
        job_id: job.job_id.clone(),
        label: job.name.clone().unwrap_or_default(),
        optimizer: job.optimizer_name.clone(),
        status: job.status.into(),
        stop_reason: result.as_ref().map(|r| r.stop_reason),
        final_loss: result.as_ref().map(|r| r.final_loss),
        best_loss: result.as_ref().map(|r| r.best_loss),
        steps: result.as_ref().map(|r| r.steps),
        wall_time_seconds: result.as_ref().map(|r| r.wall_time_seconds),
        steps_to_target,
        time_to_target_seconds,
        diagnosis,
    })
}

const NOT_FOUND_EXAMPLE: &str = "no sweep with id `42`; list sweeps with GET /v1/sweeps";

/// Start a sweep: one job per combination of optimizers × lrs × starting points × seeds.
#[utoipa::path(
    post,
    path = "/v1/sweeps",
    tag = "sweeps",
    request_body = SweepRequest,
    responses(
        (status = 201, description = "The sweep and its queued jobs", body = SweepResponse,
         headers(("Location" = String, description = "The sweep's URL"))),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:malformed-body", "title": "The request body could not be read", "status": 400,
                          "detail": "the body is not valid JSON: EOF while parsing an object at line 1 column 12"})),
        (status = 422, description = "A field is not valid, or the grid is too large", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:validation", "title": "The request is not valid", "status": 422,
                          "detail": "optimizers: the grid makes 300 jobs; a sweep may make at most 256",
                          "errors": [{"field": "optimizers", "message": "the grid makes 300 jobs; a sweep may make at most 256"}]})),
        ActiveJobsQuota
    )
)]
pub async fn create_sweep(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(request): ApiJson<SweepRequest>,
) -> Result<Response, ApiError> {
    let (sweep, _) = state.runner.submit_sweep(&tenant, request).await?;
    let body = leaderboard(&state, &tenant, &sweep, SweepSort::FinalLoss).await?;
    let location = format!("/v1/sweeps/{}", sweep.sweep_id);
    Ok(respond::created(location, body))
}

/// Read a sweep's leaderboard: final and best loss, steps and time to the target loss, stop
/// reason and diagnosis of every job, sorted.
#[utoipa::path(
    get,
    path = "/v1/sweeps/{id}",
    tag = "sweeps",
    params(("id" = String, Path, description = "The sweep's id"), SweepQuery),
    responses(
        (status = 200, description = "The sweep", body = SweepResponse),
        (status = 404, description = "No such sweep", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404, "detail": NOT_FOUND_EXAMPLE}))
    )
)]
pub async fn get_sweep(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<SweepQuery>,
) -> Result<Json<SweepResponse>, ApiError> {
    let sweep = state
        .store
        .get_sweep(&tenant, &id)
        .await
        .map_err(|e| sweep_error(&id)(e.into()))?;
    Ok(Json(
        leaderboard(
            &state,
            &tenant,
            &sweep,
            query.sort.unwrap_or(SweepSort::FinalLoss),
        )
        .await?,
    ))
}

/// List sweeps, newest first.
#[utoipa::path(
    get,
    path = "/v1/sweeps",
    tag = "sweeps",
    params(ListSweepsQuery),
    responses(
        (status = 200, description = "A page of sweeps", body = SweepListResponse),
        (status = 400, description = "A query parameter is not valid", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:bad-parameter", "title": "A parameter of the request is not valid", "status": 400,
                          "detail": "limit: must be at least 1, got 0", "errors": [{"field": "limit", "message": "must be at least 1, got 0"}]}))
    )
)]
pub async fn list_sweeps(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<ListSweepsQuery>,
) -> Result<Json<SweepListResponse>, ApiError> {
    let limit = match query.limit {
        None => 20,
        Some(l) if l < 1 => {
            return Err(ApiError::bad_parameter(
                "limit",
                format!("must be at least 1, got {l}"),
            ))
        }
        Some(l) => l.min(100),
    };
    let before = query
        .page_token
        .as_deref()
        .map(|t| state.tokens.verify(&tenant, "sweeps", t))
        .transpose()?;
    let mut rows = state.store.list_sweeps(&tenant, before, limit).await?;
    let next_page_token = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last()
            .map(|r| state.tokens.issue(&tenant, "sweeps", r.seq))
    } else {
        None
    };
    Ok(Json(SweepListResponse {
        sweeps: rows
            .into_iter()
            .map(|r| SweepSummary {
                id: r.sweep_id,
                name: r.name,
                tags: r.tags,
                created_at: r.created_at,
            })
            .collect(),
        next_page_token,
    }))
}

/// Cancel every unfinished job of a sweep (idempotent).
#[utoipa::path(
    post,
    path = "/v1/sweeps/{id}/cancel",
    tag = "sweeps",
    params(("id" = String, Path, description = "The sweep's id")),
    responses(
        (status = 200, description = "The sweep after the request", body = SweepResponse),
        (status = 404, description = "No such sweep", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404, "detail": NOT_FOUND_EXAMPLE}))
    )
)]
pub async fn cancel_sweep(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<Json<SweepResponse>, ApiError> {
    state
        .runner
        .cancel_sweep(&tenant, &id)
        .await
        .map_err(sweep_error(&id))?;
    let sweep = state.store.get_sweep(&tenant, &id).await?;
    Ok(Json(
        leaderboard(&state, &tenant, &sweep, SweepSort::FinalLoss).await?,
    ))
}

/// Overlay of a sweep's loss curves.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SweepPlotQuery {
    /// Points per curve, 2 to 5000 (default 500), spread evenly over each history.
    #[param(minimum = 2, maximum = 5000)]
    pub max_points: Option<i64>,
    /// `log` (default when every loss is positive) or `linear`.
    #[param(pattern = "^(log|linear)$")]
    pub scale: Option<String>,
}

/// Draw every job's loss curve of a sweep in one SVG figure, with a legend.
#[utoipa::path(
    get,
    path = "/v1/sweeps/{id}/plots/loss.svg",
    tag = "sweeps",
    params(("id" = String, Path, description = "The sweep's id"), SweepPlotQuery),
    responses(
        (status = 200, description = "The figure", content_type = "image/svg+xml", body = String,
         example = "<svg width=\"900\" height=\"540\" viewBox=\"0 0 900 540\" xmlns=\"http://www.w3.org/2000/svg\">…</svg>"),
        (status = 400, description = "A parameter is not valid", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:bad-parameter", "title": "A parameter of the request is not valid", "status": 400,
                          "detail": "scale: use log or linear", "errors": [{"field": "scale", "message": "use log or linear"}]})),
        (status = 404, description = "No such sweep", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404, "detail": NOT_FOUND_EXAMPLE}))
    )
)]
pub async fn plot_sweep_loss(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<SweepPlotQuery>,
) -> Result<Response, ApiError> {
    sweep_figure(state, tenant, id, query, false).await
}

/// Draw every job's loss curve of a sweep in one PNG figure (900 × 540), with a legend.
#[utoipa::path(
    get,
    path = "/v1/sweeps/{id}/plots/loss.png",
    tag = "sweeps",
    params(("id" = String, Path, description = "The sweep's id"), SweepPlotQuery),
    responses(
        (status = 200, description = "The figure", content_type = "image/png", body = Vec<u8>),
        (status = 400, description = "A parameter is not valid", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:bad-parameter", "title": "A parameter of the request is not valid", "status": 400,
                          "detail": "scale: use log or linear", "errors": [{"field": "scale", "message": "use log or linear"}]})),
        (status = 404, description = "No such sweep", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404, "detail": NOT_FOUND_EXAMPLE}))
    )
)]
pub async fn plot_sweep_loss_png(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<SweepPlotQuery>,
) -> Result<Response, ApiError> {
    sweep_figure(state, tenant, id, query, true).await
}

async fn sweep_figure(
    state: AppState,
    tenant: Tenant,
    id: String,
    query: SweepPlotQuery,
    png: bool,
) -> Result<Response, ApiError> {
    let max_points = match query.max_points {
        None => 500,
        Some(p) if (2..=5000).contains(&p) => p,
        Some(p) => {
            return Err(ApiError::bad_parameter(
                "max_points",
                format!("must be between 2 and 5000, got {p}"),
            ))
        }
    };
    let sweep = state
        .store
        .get_sweep(&tenant, &id)
        .await
        .map_err(|e| sweep_error(&id)(e.into()))?;
    let mut series = Vec::new();
    for job in state.store.sweep_jobs(&tenant, &id).await? {
        let (rows, _) = thinned_steps(&state.store, job.seq, -1, max_points, false).await?;
        series.push(Series {
            name: job.name.clone().unwrap_or(job.optimizer_name.clone()),
            points: rows.iter().map(|r| (r.step as f64, r.loss)).collect(),
        });
    }
    let all_positive = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.1.is_finite())
        .all(|p| p.1 > 0.0);
    let scale = match query.scale.as_deref() {
        None | Some("log") if all_positive => Scale::Log,
        None | Some("linear") | Some("log") => Scale::Linear,
        Some(_) => return Err(ApiError::bad_parameter("scale", "use log or linear")),
    };
    let title = sweep
        .name
        .clone()
        .unwrap_or_else(|| format!("sweep {}", sweep.sweep_id));
    let bytes = tokio::task::spawn_blocking(move || {
        let chart = LineChart {
            title: &title,
            note: None,
            x_label: "step",
            y_label: "loss",
            scale,
            smooth: None,
            series: &series,
        };
        if png {
            render_lines_png(&chart)
        } else {
            render_lines(&chart).map(String::into_bytes)
        }
    })
    .await
    .map_err(|e| ApiError::Internal(format!("drawing the sweep panicked: {e}")))??;
    let content_type = if png { "image/png" } else { "image/svg+xml" };
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}
