//! `/v1/jobs/{id}/steps`: the step history, paged by keyset, thinned on request, as JSON,
//! CSV or NDJSON.

use std::fmt::Write as _;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::jobs::find_job;
use super::thin::thinned_steps;
use super::{ApiQuery, AppState};
use crate::error::{ApiError, Problem};
use crate::float::{floats, Float};
use crate::jobs::MetricsReport;
use crate::store::{StepRow, Store};
use crate::tenant::Tenant;

/// One record of the history: it describes the iterate x_k.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"step": 0, "loss": 12.5, "grad_norm": 162.86, "lr": 0.05, "evaluations": 1, "params": [-1.5, 2.0]}))]
pub struct StepView {
    /// k; record 0 is the starting point.
    pub step: i64,
    /// f(x_k).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<Float>,
    /// ‖∇f(x_k)‖₂ of the raw gradient (before clipping and weight decay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grad_norm: Option<Float>,
    /// The learning rate of the update from x_k to x_{k+1} (on the last record: the lr the
    /// next update would use).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<Float>,
    /// The momentum / β1 of that update, when a schedule cycles it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum: Option<Float>,
    /// Objective evaluations made up to and including this record (L-BFGS and line searches
    /// make several per step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluations: Option<i64>,
    /// Model problems: the epoch of the batch f(x_k) was taken on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    /// Model problems, every `eval_every` steps and on the last record: the full training
    /// loss, the validation loss and, for classifiers, the accuracies (without the l2 penalty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsReport>,
    /// x_k, when recorded and asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Vec<Float>>,
}

/// A page of the history.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"steps": [{"step": 0, "loss": 12.5, "grad_norm": 162.86, "lr": 0.05, "evaluations": 1, "params": [-1.5, 2.0]}], "next_page_token": null}))]
pub struct StepPageResponse {
    /// Records in step order.
    pub steps: Vec<StepView>,
    /// Pass as `page_token` for the next page. Null when the job has finished and this page
    /// reaches its last record (and always for `max_points` views).
    pub next_page_token: Option<String>,
}

/// The format of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepFormat {
    /// `{"steps": [...], "next_page_token": ...}`.
    Json,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON record per line.
    Ndjson,
}

/// Position, size, thinning and fields of `GET /v1/jobs/{id}/steps`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListStepsQuery {
    /// Only records with step > after_step.
    pub after_step: Option<i64>,
    /// Page size, 1 to 10 000 (default 1000; larger values are clamped). For CSV and NDJSON
    /// the default is the whole history.
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
    /// Return at most this many records (2 to 10 000), evenly spaced over the history, always
    /// with the first and the latest.
    #[param(minimum = 2, maximum = 10000)]
    pub max_points: Option<i64>,
    /// Comma-separated fields to return besides `step`: any of loss, grad_norm, lr,
    /// momentum, evaluations, epoch, metrics, params (default: all).
    #[param(
        pattern = "^ *(step|loss|grad_norm|lr|momentum|evaluations|epoch|metrics|params)? *(, *(step|loss|grad_norm|lr|momentum|evaluations|epoch|metrics|params)? *)*$"
    )]
    pub fields: Option<String>,
    /// json, csv or ndjson; overrides the Accept header.
    #[param(inline)]
    pub format: Option<StepFormat>,
}

const DEFAULT_STEP_PAGE: i64 = 1000;
const MAX_STEP_PAGE: i64 = 10_000;
/// Rows read per database round trip when streaming CSV or NDJSON.
const STREAM_CHUNK: i64 = 5000;

/// Which columns to return.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fields {
    loss: bool,
    grad_norm: bool,
    lr: bool,
    momentum: bool,
    evaluations: bool,
    epoch: bool,
    metrics: bool,
    /// Whether x_k is wanted (so the store can leave the blob unread).
    pub(super) params: bool,
}

impl Fields {
    /// The requested fields; by default all of them, with the model-only columns (epoch,
    /// metrics) only for model problems.
    pub(super) fn parse(spec: Option<&str>, is_model: bool) -> Result<Self, ApiError> {
        let Some(spec) = spec else {
            return Ok(Fields {
                loss: true,
                grad_norm: true,
                lr: true,
                momentum: true,
                evaluations: true,
                epoch: is_model,
                metrics: is_model,
                params: true,
            });
        };
        let mut f = Fields {
            loss: false,
            grad_norm: false,
            lr: false,
            momentum: false,
            evaluations: false,
            epoch: false,
            metrics: false,
            params: false,
        };
        for name in spec
            .split(',')
            .map(|s| s.trim_matches(' '))
            .filter(|s| !s.is_empty())
        {
            match name {
                "step" => {}
                "loss" => f.loss = true,
                "grad_norm" => f.grad_norm = true,
                "lr" => f.lr = true,
                "momentum" => f.momentum = true,
                "evaluations" => f.evaluations = true,
                "epoch" => f.epoch = true,
                "metrics" => f.metrics = true,
                "params" => f.params = true,
                other => {
                    return Err(ApiError::bad_parameter(
                        "fields",
                        format!("unknown field `{other}`; choose from step, loss, grad_norm, lr, momentum, evaluations, epoch, metrics, params"),
                    ))
                }
            }
        }
        Ok(f)
    }

    pub(super) fn view(&self, row: StepRow) -> StepView {
        StepView {
            step: row.step,
            loss: self.loss.then_some(Float(row.loss)),
            grad_norm: self.grad_norm.then_some(Float(row.grad_norm)),
            lr: self.lr.then_some(Float(row.lr)),
            evaluations: self.evaluations.then_some(row.evaluations),
            epoch: if self.epoch { row.epoch } else { None },
            metrics: if self.metrics {
                row.metrics.map(MetricsReport::from)
            } else {
                None
            },
            momentum: if self.momentum {
                row.momentum.map(Float)
            } else {
                None
            },
            params: if self.params {
                row.params.as_deref().map(floats)
            } else {
                None
            },
        }
    }
}

fn negotiate(format: Option<StepFormat>, headers: &HeaderMap) -> Result<StepFormat, ApiError> {
    if let Some(f) = format {
        return Ok(f);
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    for item in accept.split(',') {
        let mime = item
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/json" | "*/*" | "application/*" | "" => return Ok(StepFormat::Json),
            "text/csv" | "text/*" => return Ok(StepFormat::Csv),
            "application/x-ndjson" | "application/jsonl" => return Ok(StepFormat::Ndjson),
            _ => {}
        }
    }
    Err(ApiError::NotAcceptable(format!(
        "cannot answer `Accept: {accept}`; the history is available as application/json, text/csv or application/x-ndjson (or use ?format=json|csv|ndjson)"
    )))
}

/// Read a job's step history.
///
/// Ordered by step, keyset-paginated; `max_points` gives an evenly thinned view that keeps the
/// first and the latest record. `Accept: text/csv` (or `?format=csv`) downloads the history as
/// CSV, `application/x-ndjson` as one JSON object per line.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/steps",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id"), ListStepsQuery),
    responses(
        (status = 200, description = "A page of the history", content(
            (StepPageResponse = "application/json"),
            (String = "text/csv", example = "step,loss,grad_norm,lr,momentum,evaluations,param_0,param_1\n0,12.5,162.86,0.05,,1,-1.5,2.0\n"),
            (String = "application/x-ndjson", example = "{\"step\":0,\"loss\":12.5,\"grad_norm\":162.86,\"lr\":0.05,\"evaluations\":1,\"params\":[-1.5,2.0]}\n")
        )),
        (status = 400, description = "A query parameter is not valid (e.g. a tampered page token)", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:bad-parameter", "title": "A parameter of the request is not valid", "status": 400,
                          "detail": "page_token: is not a token this server issued for this listing; use the next_page_token of the previous page as is, or leave it out to start from the beginning",
                          "errors": [{"field": "page_token", "message": "is not a token this server issued for this listing; use the next_page_token of the previous page as is, or leave it out to start from the beginning"}]})),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404,
                          "detail": "no job with id `42`; list jobs with GET /v1/jobs"})),
        (status = 406, description = "The Accept header asks for a format the server does not have", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-acceptable", "title": "No acceptable representation", "status": 406,
                          "detail": "cannot answer `Accept: image/png`; the history is available as application/json, text/csv or application/x-ndjson (or use ?format=json|csv|ndjson)"}))
    )
)]
pub async fn list_steps(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ListStepsQuery>,
) -> Result<Response, ApiError> {
    let format = negotiate(query.format, &headers)?;
    let job = find_job(&state, &tenant, &id).await?;
    let fields = Fields::parse(query.fields.as_deref(), job.problem_kind == "model")?;
    let scope = format!("steps:{}", job.seq);
    let mut after = query.after_step.unwrap_or(-1).max(-1);
    if let Some(token) = &query.page_token {
        after = after.max(state.tokens.verify(&tenant, &scope, token)?);
    }
    let limit = match query.limit {
        Some(l) if l < 1 => {
            return Err(ApiError::bad_parameter(
                "limit",
                format!("must be at least 1, got {l}"),
            ))
        }
        Some(l) => Some(l.min(MAX_STEP_PAGE)),
        None => None,
    };

    if let Some(max_points) = query.max_points {
        if !(2..=MAX_STEP_PAGE).contains(&max_points) {
            return Err(ApiError::bad_parameter(
                "max_points",
                format!("must be between 2 and {MAX_STEP_PAGE}, got {max_points}"),
            ));
        }
        let (rows, _) =
            thinned_steps(&state.store, job.seq, after, max_points, fields.params).await?;
        return Ok(render_all(format, fields, rows, None));
    }

    match format {
        StepFormat::Json => {
            let limit = limit.unwrap_or(DEFAULT_STEP_PAGE);
            let mut rows = state
                .store
                .list_steps(job.seq, after, limit + 1, fields.params)
                .await?;
            let more_now = rows.len() as i64 > limit;
            rows.truncate(limit as usize);
            let last = rows.last().map_or(after, |r| r.step);
            // While the job runs, more records will come: hand out a token to poll with.
            let next_page_token = (more_now || !job.status.is_finished())
                .then(|| state.tokens.issue(&tenant, &scope, last));
            Ok(render_all(format, fields, rows, next_page_token))
        }
        StepFormat::Csv | StepFormat::Ndjson => Ok(stream_history(
            state.store.clone(),
            job.seq,
            after,
            limit,
            format,
            fields,
            &job.job_id,
        )),
    }
}

fn render_all(
    format: StepFormat,
    fields: Fields,
    rows: Vec<StepRow>,
    next_page_token: Option<String>,
) -> Response {
    match format {
        StepFormat::Json => Json(StepPageResponse {
            steps: rows.into_iter().map(|r| fields.view(r)).collect(),
            next_page_token,
        })
        .into_response(),
        StepFormat::Csv => {
            let mut text = String::new();
            let dim = rows
                .first()
                .and_then(|r| r.params.as_ref())
                .map_or(0, Vec::len);
            csv_header(&mut text, fields, dim);
            for row in &rows {
                csv_row(&mut text, fields, row);
            }
            text_response(text, "text/csv; charset=utf-8")
        }
        StepFormat::Ndjson => {
            let mut text = String::new();
            for row in rows {
                ndjson_row(&mut text, fields, row);
            }
            text_response(text, "application/x-ndjson")
        }
    }
}

fn text_response(text: String, content_type: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        text,
    )
        .into_response()
}

/// Streams the history in chunks, so a million-step download never sits in memory whole.
fn stream_history(
    store: Store,
    seq: i64,
    after: i64,
    limit: Option<i64>,
    format: StepFormat,
    fields: Fields,
    job_id: &str,
) -> Response {
    struct Cursor {
        store: Store,
        after: i64,
        remaining: i64,
        header_done: bool,
    }
    let cursor = Cursor {
        store,
        after,
        remaining: limit.unwrap_or(i64::MAX),
        header_done: false,
    };
    let body = stream::unfold(Some(cursor), move |cursor| async move {
        let mut c = cursor?;
        let chunk = STREAM_CHUNK.min(c.remaining);
        if chunk <= 0 {
            return None;
        }
        let rows = match c.store.list_steps(seq, c.after, chunk, fields.params).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "history stream failed");
                return Some((Err(std::io::Error::other("history read failed")), None));
            }
        };
        let mut text = String::new();
        if format == StepFormat::Csv && !c.header_done {
            let dim = rows
                .first()
                .and_then(|r| r.params.as_ref())
                .map_or(0, Vec::len);
            csv_header(&mut text, fields, dim);
            c.header_done = true;
        }
        if rows.is_empty() {
            return if text.is_empty() {
                None
            } else {
                Some((Ok(text), None))
            };
        }
        c.remaining -= rows.len() as i64;
        let finished = (rows.len() as i64) < chunk;
        c.after = rows.last().map_or(c.after, |r| r.step);
        for row in rows {
            match format {
                StepFormat::Csv => csv_row(&mut text, fields, &row),
                _ => ndjson_row(&mut text, fields, row),
            }
        }
        Some((Ok(text), if finished { None } else { Some(c) }))
    });
    let (content_type, extension) = match format {
        StepFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        _ => ("application/x-ndjson", "ndjson"),
    };
    let disposition = format!("attachment; filename=\"job-{job_id}-steps.{extension}\"");
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// CSV spells non-finite values as NaN, inf and -inf (what pandas and numpy read back).
fn csv_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
    } else {
        let _ = write!(out, "{v:?}");
    }
}

fn csv_header(out: &mut String, fields: Fields, dim: usize) {
    out.push_str("step");
    for (on, name) in [
        (fields.loss, "loss"),
        (fields.grad_norm, "grad_norm"),
        (fields.lr, "lr"),
        (fields.momentum, "momentum"),
    ] {
        if on {
            out.push(',');
            out.push_str(name);
        }
    }
    if fields.evaluations {
        out.push_str(",evaluations");
    }
    if fields.epoch {
        out.push_str(",epoch");
    }
    if fields.metrics {
        out.push_str(",train_loss,train_accuracy,val_loss,val_accuracy");
    }
    if fields.params {
        for i in 0..dim {
            let _ = write!(out, ",param_{i}");
        }
    }
    out.push('\n');
}

fn csv_row(out: &mut String, fields: Fields, row: &StepRow) {
    let _ = write!(out, "{}", row.step);
    for (on, v) in [
        (fields.loss, Some(row.loss)),
        (fields.grad_norm, Some(row.grad_norm)),
        (fields.lr, Some(row.lr)),
        (fields.momentum, row.momentum),
    ] {
        if on {
            out.push(',');
            if let Some(v) = v {
                csv_float(out, v);
            }
        }
    }
    if fields.evaluations {
        let _ = write!(out, ",{}", row.evaluations);
    }
    if fields.epoch {
        out.push(',');
        if let Some(e) = row.epoch {
            let _ = write!(out, "{e}");
        }
    }
    if fields.metrics {
        let m = row.metrics;
        for v in [
            m.map(|m| m.train_loss),
            m.and_then(|m| m.train_accuracy),
            m.and_then(|m| m.val_loss),
            m.and_then(|m| m.val_accuracy),
        ] {
            out.push(',');
            if let Some(v) = v {
                csv_float(out, v);
            }
        }
    }
    if fields.params {
        for p in row.params.iter().flatten() {
            out.push(',');
            csv_float(out, *p);
        }
    }
    out.push('\n');
}

fn ndjson_row(out: &mut String, fields: Fields, row: StepRow) {
    let view = fields.view(row);
    out.push_str(&serde_json::to_string(&view).expect("a step serializes"));
    out.push('\n');
}
