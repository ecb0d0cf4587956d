//! `/v1/datasets`: upload (JSON or streamed CSV), generate, read, list and delete datasets for
//! model problems.

use std::io::{BufRead, Read};

use axum::body::{BodyDataStream, Bytes};
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use bytes::Buf;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use saddle_numeric::data::{self, CsvLimits, DataError, Dataset, GeneratorConfig, LimitKind};
use saddle_numeric::model::Targets;
use saddle_numeric::InvalidConfig;

use super::respond;
use super::{ApiJson, ApiQuery, AppState};
use crate::error::{ApiError, Problem};
use crate::jobs::{save_dataset, DatasetStats};
use crate::store::{DatasetRow, StoreError};
use crate::tenant::Tenant;

/// A dataset: its shape, column names and per-column statistics.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "5f0c7d4e-2b1a-4c8e-8f3d-9a6b1e2c3d4f", "name": "two moons",
    "rows": 200, "columns": 3,
    "feature_names": ["x1", "x2"], "target_names": ["label"],
    "stats": {
        "features": [{"name": "x1", "min": -1.1, "max": 2.1, "mean": 0.5, "std": 0.87},
                     {"name": "x2", "min": -0.6, "max": 1.1, "mean": 0.25, "std": 0.5}],
        "targets": [{"name": "label", "min": 0.0, "max": 1.0, "mean": 0.5, "std": 0.5}],
        "class_counts": [{"label": 0, "count": 100}, {"label": 1, "count": 100}]
    },
    "created_at": "2026-11-26T10:00:00.000000Z"
}))]
pub struct DatasetResponse {
    /// The dataset's id, for `problem.dataset_id`.
    pub id: String,
    /// The name given at upload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Data rows n.
    pub rows: i64,
    /// Feature and target columns, d + k.
    pub columns: i64,
    /// The feature columns, in the order a model reads them.
    pub feature_names: Vec<String>,
    /// The target columns.
    pub target_names: Vec<String>,
    /// Per-column min, max, mean and standard deviation; class counts for labels.
    pub stats: DatasetStats,
    /// Upload time (RFC 3339, UTC).
    pub created_at: String,
}

impl TryFrom<DatasetRow> for DatasetResponse {
    type Error = ApiError;

    fn try_from(row: DatasetRow) -> Result<Self, ApiError> {
        Ok(Self {
            stats: serde_json::from_str(&row.summary)
                .map_err(|e| ApiError::Internal(format!("stored dataset summary: {e}")))?,
            id: row.dataset_id,
            name: row.name,
            rows: row.rows,
            columns: row.columns,
            feature_names: row.feature_names,
            target_names: row.target_names,
            created_at: row.created_at,
        })
    }
}

/// A dataset in a listing: its shape and names, without statistics.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "5f0c7d4e-2b1a-4c8e-8f3d-9a6b1e2c3d4f", "name": "two moons", "rows": 200, "columns": 3,
    "feature_names": ["x1", "x2"], "target_names": ["label"],
    "created_at": "2026-11-26T10:00:00.000000Z"
}))]
pub struct DatasetListItem {
    /// The dataset's id.
    pub id: String,
    /// The name given at upload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Data rows.
    pub rows: i64,
    /// Feature and target columns.
    pub columns: i64,
    /// The feature columns.
    pub feature_names: Vec<String>,
    /// The target columns.
    pub target_names: Vec<String>,
    /// Upload time.
    pub created_at: String,
}

impl From<DatasetRow> for DatasetListItem {
    fn from(row: DatasetRow) -> Self {
        Self {
            id: row.dataset_id,
            name: row.name,
            rows: row.rows,
            columns: row.columns,
            feature_names: row.feature_names,
            target_names: row.target_names,
            created_at: row.created_at,
        }
    }
}

/// A page of datasets, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"datasets": [], "next_page_token": null}))]
pub struct DatasetListResponse {
    /// The datasets of this page.
    pub datasets: Vec<DatasetListItem>,
    /// Pass as `page_token` for the next page; null on the last page.
    pub next_page_token: Option<String>,
}

/// Position of `GET /v1/datasets`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListDatasetsQuery {
    /// Page size, 1 to 500 (default 50); larger values are clamped to 500.
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// A dataset given as JSON: the body of `POST /v1/datasets` with `Content-Type: application/json`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "name": "xor", "features": [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]],
    "targets": [0.0, 1.0, 1.0, 0.0]
}))]
#[serde(deny_unknown_fields)]
pub struct CreateDatasetRequest {
    /// A name for people.
    #[serde(default)]
    pub name: Option<String>,
    /// Feature rows, n × d (columns are named x1..xd).
    pub features: Vec<Vec<f64>>,
    /// One target per row (named y), or n rows of k targets (y1..yk).
    pub targets: Targets,
}

/// Options of a CSV upload (`Content-Type: text/csv`); JSON uploads take none.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query string, which is parsed by hand (`target` repeats)
pub struct CreateDatasetQuery {
    /// The target column(s) of the CSV header: repeat the parameter or separate names by commas
    /// (`?target=y` or `?target=y1,y2`). Every other column is a feature.
    target: Option<Vec<String>>,
    /// A name for people.
    name: Option<String>,
}

/// A synthetic dataset: the body of `POST /v1/datasets/generate`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "moons", "generator": {"kind": "moons", "n_samples": 200, "noise": 0.1, "seed": 0}}))]
#[serde(deny_unknown_fields)]
pub struct GenerateDatasetRequest {
    /// A name for people.
    #[serde(default)]
    pub name: Option<String>,
    /// The generator and its parameters; the same parameters and seed give the same rows.
    pub generator: GeneratorConfig,
}

const DEFAULT_DATASET_PAGE: i64 = 50;
const MAX_DATASET_PAGE: i64 = 500;
const MAX_NAME_CHARS: usize = 200;

/// Names are for people: bounded like job names.
fn check_name(name: Option<&str>) -> Result<(), ApiError> {
    match name {
        Some(n) if n.chars().count() > MAX_NAME_CHARS => Err(ApiError::invalid(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        )),
        Some(n) => crate::jobs::check_no_nul("name", n).map_err(ApiError::from),
        None => Ok(()),
    }
}

/// The flag that raises a limit, for the 413's detail.
fn limit_setting(limit: LimitKind) -> &'static str {
    match limit {
        LimitKind::Rows => "--max-dataset-rows / SADDLE_MAX_DATASET_ROWS",
        LimitKind::Columns => "--max-dataset-columns / SADDLE_MAX_DATASET_COLUMNS",
        LimitKind::Bytes => "--max-dataset-bytes / SADDLE_MAX_DATASET_BYTES",
    }
}

/// The 413 for a dataset over one of the server's limits, naming the limit and its setting.
fn too_large(limit: LimitKind, max: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the dataset is over this server's limit of {max} {limit} (set by {}); upload fewer {limit}",
        limit_setting(limit)
    ))
}

/// Maps a rejected CSV upload to its answer: 413 for limits, 422 naming row and column.
fn csv_error(e: DataError) -> ApiError {
    match e {
        DataError::TooLarge { limit, max } => too_large(limit, max),
        DataError::Io(message) => {
            ApiError::MalformedBody(format!("the upload could not be read: {message}"))
        }
        DataError::UnknownTargetColumn { .. } => ApiError::invalid("target", e.to_string()),
        DataError::BadHeader(_) => ApiError::invalid("header", e.to_string()),
        other => ApiError::invalid("body", other.to_string()),
    }
}

/// The options of a CSV upload, read by hand because `target` may repeat.
struct CsvOptions {
    targets: Vec<String>,
    name: Option<String>,
}

/// Reads `target` (repeated or comma-separated) and `name`; a CSV needs at least one target.
fn csv_options(query: Option<&str>) -> Result<CsvOptions, ApiError> {
    let mut options = CsvOptions {
        targets: Vec::new(),
        name: None,
    };
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "target" => options.targets.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            ),
            "name" => options.name = Some(value.into_owned()),
            other => {
                return Err(ApiError::bad_parameter(
                    other,
                    "unknown parameter; a CSV upload takes `target` and `name`",
                ))
            }
        }
    }
    if options.targets.is_empty() {
        return Err(ApiError::bad_parameter(
            "target",
            "name the target column(s) of the CSV header: `?target=y`, repeated or comma-separated for several",
        ));
    }
    Ok(options)
}

/// A blocking [`BufRead`] over the request body's chunks, for the CSV reader on a blocking
/// thread: each chunk is read once and dropped, so the upload is never held whole.
struct BodyReader {
    stream: BodyDataStream,
    runtime: tokio::runtime::Handle,
    chunk: Bytes,
    done: bool,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for BodyReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.chunk.is_empty() && !self.done {
            match self.runtime.block_on(self.stream.next()) {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => self.done = true,
            }
        }
        Ok(&self.chunk)
    }

    fn consume(&mut self, amount: usize) {
        self.chunk.advance(amount);
    }
}

/// Parses a CSV body as it arrives and computes the statistics, on a blocking thread.
async fn read_csv_body(
    request: Request,
    targets: Vec<String>,
    limits: CsvLimits,
) -> Result<(Dataset, DatasetStats), ApiError> {
    let reader = BodyReader {
        stream: request.into_body().into_data_stream(),
        runtime: tokio::runtime::Handle::current(),
        chunk: Bytes::new(),
        done: false,
    };
    tokio::task::spawn_blocking(move || {
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        let data = data::read_csv(reader, &targets, &limits).map_err(csv_error)?;
        let stats = DatasetStats::of(&data);
        Ok((data, stats))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the CSV reader failed: {e}")))?
}

/// Validates a JSON upload against the limits and builds the dataset.
fn dataset_from_json(
    request: &CreateDatasetRequest,
    limits: &CsvLimits,
) -> Result<Dataset, ApiError> {
    let n = request.features.len();
    if n > limits.max_rows {
        return Err(too_large(LimitKind::Rows, limits.max_rows as u64));
    }
    let targets: Vec<Vec<f64>> = match &request.targets {
        Targets::Column(ys) => ys.iter().map(|&y| vec![y]).collect(),
        Targets::Rows(rows) => rows.clone(),
    };
    let d = request.features.first().map_or(0, Vec::len);
    let k = targets.first().map_or(0, Vec::len);
    if d + k > limits.max_columns {
        return Err(too_large(LimitKind::Columns, limits.max_columns as u64));
    }
    if n > 0 && d == 0 {
        return Err(ApiError::invalid(
            "features[0]",
            "each row needs at least one feature",
        ));
    }
    if !targets.is_empty() && k == 0 {
        return Err(ApiError::invalid(
            "targets[0]",
            "each row needs at least one target",
        ));
    }
    Dataset::from_rows(&request.features, &targets).map_err(|e| match &e {
        DataError::Ragged { row, .. } => {
            // Rows are checked features first: a row whose features have the first row's
            // width has ragged targets.
            let side = if request.features[row - 1].len() == d {
                "targets"
            } else {
                "features"
            };
            ApiError::invalid(format!("{side}[{}]", row - 1), e.to_string())
        }
        DataError::RowMismatch { .. } => ApiError::invalid("targets", e.to_string()),
        DataError::Empty(_) => ApiError::invalid("features", e.to_string()),
        _ => ApiError::invalid("body", e.to_string()),
    })
}

/// The `201 Created` answer for a stored dataset.
fn created(row: DatasetRow) -> Result<Response, ApiError> {
    let location = format!("/v1/datasets/{}", row.dataset_id);
    Ok(respond::created(location, DatasetResponse::try_from(row)?))
}

/// The media type of the body, without parameters, lowercased.
fn mime_of(request: &Request) -> String {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Upload a dataset, as JSON or as CSV.
///
/// JSON: `{"features": [[…], …], "targets": […]}`. CSV (`Content-Type: text/csv`): a header
/// row, then one row of numbers per line; `?target=<column>` picks the target column(s), every
/// other column is a feature. The CSV is parsed as it streams in. A cell that is empty, not a
/// number, NaN or infinite, a ragged row or an unknown target column is a 422 naming the row
/// and column; a dataset over the server's row, column or byte limit is a 413 naming the limit.
#[utoipa::path(
    post,
    path = "/v1/datasets",
    tag = "datasets",
    params(CreateDatasetQuery),
    request_body(
        description = "The dataset as JSON, or as CSV with a header row",
        content(
            (CreateDatasetRequest = "application/json"),
            (String = "text/csv", example = json!("x1,x2,y\n0.5,1.25,1\n-0.3,0.75,0\n"))
        )
    ),
    responses(
        (status = 201, description = "The dataset was stored", body = DatasetResponse,
         headers(("Location" = String, description = "The dataset's URL"))),
        (status = 400, description = "The body is not JSON or CSV, or a parameter is missing", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:bad-parameter", "title": "A parameter of the request is not valid", "status": 400,
                          "detail": "target: name the target column(s) of the CSV header: `?target=y`, repeated or comma-separated for several",
                          "errors": [{"field": "target", "message": "name the target column(s) of the CSV header: `?target=y`, repeated or comma-separated for several"}]})),
        (status = 413, description = "The dataset is over a row, column or byte limit", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:payload-too-large", "title": "The request is too large", "status": 413,
                          "detail": "the dataset is over this server's limit of 1000000 rows (set by --max-dataset-rows / SADDLE_MAX_DATASET_ROWS); upload fewer rows"})),
        (status = 422, description = "A cell, row or column is not valid", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:validation", "title": "The request is not valid", "status": 422,
                          "detail": "body: row 10000, column `x2`: `oops` is not a number",
                          "errors": [{"field": "body", "message": "row 10000, column `x2`: `oops` is not a number"}]}))
    )
)]
pub async fn create_dataset(
    State(state): State<AppState>,
    tenant: Tenant,
    request: Request,
) -> Result<Response, ApiError> {
    let limits = state.dataset_limits;
    let (name, data, stats) = match mime_of(&request).as_str() {
        "text/csv" => {
            let options = csv_options(request.uri().query())?;
            check_name(options.name.as_deref())?;
            let (data, stats) = read_csv_body(request, options.targets, limits).await?;
            (options.name, data, stats)
        }
        mime if mime == "application/json" || mime.ends_with("+json") => {
            if let Some((key, _)) =
                form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes()).next()
            {
                return Err(ApiError::bad_parameter(
                    key,
                    "query parameters apply to CSV uploads; give `name` in the JSON body",
                ));
            }
            let ApiJson(body) =
                ApiJson::<CreateDatasetRequest>::from_request(request, &state).await?;
            check_name(body.name.as_deref())?;
            tokio::task::spawn_blocking(move || {
                let data = dataset_from_json(&body, &limits)?;
                let stats = DatasetStats::of(&data);
                Ok::<_, ApiError>((body.name, data, stats))
            })
            .await
            .map_err(|e| ApiError::Internal(format!("building the dataset failed: {e}")))??
        }
        _ => {
            return Err(ApiError::MalformedBody(
                "send the dataset as JSON (`Content-Type: application/json`) or as CSV with a header row (`Content-Type: text/csv`)".into(),
            ))
        }
    };
    let row = save_dataset(&state.store, &tenant, name.as_deref(), &data, &stats).await?;
    created(row)
}

/// Maps a dataset operation's error, saying how to find datasets when the id is unknown.
fn dataset_error(id: &str) -> impl Fn(StoreError) -> ApiError + '_ {
    move |e| match e {
        StoreError::NotFound(_) => ApiError::NotFound(format!(
            "no dataset with id `{id}`; list datasets with GET /v1/datasets"
        )),
        other => other.into(),
    }
}

/// Generate a seeded synthetic dataset: linear regression with noise, two moons, concentric
/// circles, Gaussian blobs, XOR or two spirals.
///
/// The same generator parameters and seed give the same rows, bit for bit.
#[utoipa::path(
    post,
    path = "/v1/datasets/generate",
    tag = "datasets",
    request_body = GenerateDatasetRequest,
    responses(
        (status = 201, description = "The dataset was generated and stored", body = DatasetResponse,
         headers(("Location" = String, description = "The dataset's URL"))),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:malformed-body", "title": "The request body could not be read", "status": 400,
                          "detail": "the body is not valid JSON: EOF while parsing an object at line 1 column 14"})),
        (status = 422, description = "A generator parameter is not valid", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:validation", "title": "The request is not valid", "status": 422,
                          "detail": "generator.n_samples: must be between 1 and 1000000, got 0",
                          "errors": [{"field": "generator.n_samples", "message": "must be between 1 and 1000000, got 0"}]}))
    )
)]
pub async fn generate_dataset(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(request): ApiJson<GenerateDatasetRequest>,
) -> Result<Response, ApiError> {
    check_name(request.name.as_deref())?;
    let limits = state.dataset_limits;
    let prefixed =
        |e: InvalidConfig| ApiError::invalid(format!("generator.{}", e.field), e.message);
    request.generator.validate().map_err(prefixed)?;
    let (n_samples, columns) = match &request.generator {
        GeneratorConfig::Linear(c) => (c.n_samples, c.n_features + 1),
        GeneratorConfig::Blobs(c) => (c.n_samples, c.n_features + 1),
        GeneratorConfig::Moons(c) => (c.n_samples, 3),
        GeneratorConfig::Circles(c) => (c.n_samples, 3),
        GeneratorConfig::Xor(c) => (c.n_samples, 3),
        GeneratorConfig::Spirals(c) => (c.n_samples, 3),
    };
    if n_samples > limits.max_rows {
        return Err(ApiError::invalid(
            "generator.n_samples",
            format!(
                "this server stores datasets of at most {} rows (set by {})",
                limits.max_rows,
                limit_setting(LimitKind::Rows)
            ),
        ));
    }
    if columns > limits.max_columns {
        return Err(ApiError::invalid(
            "generator.n_features",
            format!(
                "this server stores datasets of at most {} columns, targets included (set by {})",
                limits.max_columns,
                limit_setting(LimitKind::Columns)
            ),
        ));
    }
    let generator = request.generator;
    let (data, stats) = tokio::task::spawn_blocking(move || {
        let data = data::generate(&generator).map_err(prefixed)?;
        let stats = DatasetStats::of(&data);
        Ok::<_, ApiError>((data, stats))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the generator failed: {e}")))??;
    let row = save_dataset(
        &state.store,
        &tenant,
        request.name.as_deref(),
        &data,
        &stats,
    )
    .await?;
    created(row)
}

/// Read a dataset: rows, columns, column names, per-column statistics and class counts.
#[utoipa::path(
    get,
    path = "/v1/datasets/{id}",
    tag = "datasets",
    params(("id" = String, Path, description = "The dataset's id")),
    responses(
        (status = 200, description = "The dataset", body = DatasetResponse),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404,
                          "detail": "no dataset with id `42`; list datasets with GET /v1/datasets"}))
    )
)]
pub async fn get_dataset(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<Json<DatasetResponse>, ApiError> {
    let row = state
        .store
        .get_dataset(&tenant, &id)
        .await
        .map_err(dataset_error(&id))?;
    Ok(Json(row.try_into()?))
}

/// List datasets, newest first.
#[utoipa::path(
    get,
    path = "/v1/datasets",
    tag = "datasets",
    params(ListDatasetsQuery),
    responses(
        (status = 200, description = "A page of datasets", body = DatasetListResponse),
        (status = 400, description = "A query parameter is not valid", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:bad-parameter", "title": "A parameter of the request is not valid", "status": 400,
                          "detail": "limit: must be at least 1, got 0",
                          "errors": [{"field": "limit", "message": "must be at least 1, got 0"}]}))
    )
)]
pub async fn list_datasets(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<ListDatasetsQuery>,
) -> Result<Json<DatasetListResponse>, ApiError> {
    let limit = match query.limit {
        None => DEFAULT_DATASET_PAGE,
        Some(l) if l < 1 => {
            return Err(ApiError::bad_parameter(
                "limit",
                format!("must be at least 1, got {l}"),
            ))
        }
        Some(l) => l.min(MAX_DATASET_PAGE),
    };
    let before_seq = query
        .page_token
        .as_deref()
        .map(|t| state.tokens.verify(&tenant, "datasets", t))
        .transpose()?;
    let mut rows = state
        .store
        .list_datasets(&tenant, before_seq, limit)
        .await?;
    let next_page_token = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last()
            .map(|r| state.tokens.issue(&tenant, "datasets", r.seq))
    } else {
        None
    };
    Ok(Json(DatasetListResponse {
        datasets: rows.into_iter().map(DatasetListItem::from).collect(),
        next_page_token,
    }))
}

/// Delete a dataset. Jobs that used it keep their history and results.
#[utoipa::path(
    delete,
    path = "/v1/datasets/{id}",
    tag = "datasets",
    params(("id" = String, Path, description = "The dataset's id")),
    responses(
        (status = 204, description = "The dataset is gone"),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404,
                          "detail": "no dataset with id `42`; list datasets with GET /v1/datasets"})),
        (status = 409, description = "A queued or running job uses the dataset", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:conflict", "title": "The resource's state does not allow this", "status": 409,
                          "detail": "dataset `42` is used by queued or running jobs (0b7f2a9e-5d0c-4a8e-9a57-2f1f6c3b8d11); wait for them to finish or cancel them first"}))
    )
)]
pub async fn delete_dataset(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let users = state
        .store
        .delete_unused_dataset(&tenant, &id)
        .await
        .map_err(dataset_error(&id))?;
    if users.is_empty() {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Conflict(format!(
            "dataset `{id}` is used by queued or running jobs ({}); wait for them to finish or cancel them first",
            users.join(", ")
        )))
    }
}
