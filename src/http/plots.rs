//! `/v1/jobs/{id}/plots/…`: figures of a job drawn by the server as SVG (or PNG), ready to
//! paste into a report: the loss (or gradient norm, or learning rate) curve, and for 2-D
//! problems the path over the objective's contours.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{self, ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoParams, IntoResponses, ToSchema};

use saddle_numeric::functions::{lookup, nearest_minimum};
use saddle_numeric::problem::ProblemConfig;

use super::jobs::{find_job, stored_json};
use super::thin::thinned_steps;
use super::{ApiQuery, AppState};
use crate::error::ApiError;
use crate::jobs::JobSpec;
use crate::plot::{
    contour_levels, render_lines, render_lines_png, render_trajectory, render_trajectory_png, Grid,
    LineChart, PlotError, Scale, Series, TrajectoryChart,
};
use crate::store::{JobRow, StepRow};

/// Which column of the history to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlotMetric {
    /// f(x_k).
    Loss,
    /// ‖∇f(x_k)‖₂.
    GradNorm,
    /// The learning rate of each update.
    Lr,
}

impl PlotMetric {
    fn of(self, row: &StepRow) -> f64 {
        match self {
            PlotMetric::Loss => row.loss,
            PlotMetric::GradNorm => row.grad_norm,
            PlotMetric::Lr => row.lr,
        }
    }

    fn label(self) -> &'static str {
        match self {
            PlotMetric::Loss => "loss f(x)",
            PlotMetric::GradNorm => "gradient norm ‖∇f(x)‖",
            PlotMetric::Lr => "learning rate",
        }
    }

    fn name(self) -> &'static str {
        match self {
            PlotMetric::Loss => "loss",
            PlotMetric::GradNorm => "gradient norm",
            PlotMetric::Lr => "learning rate",
        }
    }
}

/// The y axis of a curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlotScale {
    /// Evenly spaced values.
    Linear,
    /// Evenly spaced decades.
    Log,
}

/// What `GET /v1/jobs/{id}/plots/loss.svg` draws.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LossPlotQuery {
    /// The column to draw: loss (default), grad_norm or lr.
    #[param(inline)]
    pub metric: Option<PlotMetric>,
    /// linear or log. Default: log when every finite value is positive, else linear; log asked
    /// for with a value ≤ 0 falls back to linear and says so under the title.
    #[param(inline)]
    pub scale: Option<PlotScale>,
    /// Also draw the centred moving average over this many plotted points (2 to 1000) on top
    /// of the faded raw curve.
    #[param(minimum = 2, maximum = 1000)]
    pub smooth: Option<i64>,
    /// Draw at most this many records (2 to 10 000, default 2000), evenly thinned over the
    /// history, always with the first and the latest.
    #[param(minimum = 2, maximum = 10000)]
    pub max_points: Option<i64>,
}

/// What `GET /v1/jobs/{id}/plots/trajectory.svg` draws.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrajectoryPlotQuery {
    /// Draw the path through at most this many records (2 to 10 000, default 2000), evenly
    /// thinned, always with the first and the latest.
    #[param(minimum = 2, maximum = 10000)]
    pub max_points: Option<i64>,
    /// The objective is evaluated on grid × grid points over the plotted box (20 to 300,
    /// default 150).
    #[param(minimum = 20, maximum = 300)]
    pub grid: Option<i64>,
    /// The number of contour lines (2 to 60, default 20), spaced geometrically in f − min f.
    #[param(minimum = 2, maximum = 60)]
    pub levels: Option<i64>,
}

const DEFAULT_PLOT_POINTS: i64 = 2000;
const MAX_PLOT_POINTS: i64 = 10_000;

/// An integer query parameter within `range`, or its default.
fn bounded(
    field: &str,
    value: Option<i64>,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
) -> Result<i64, ApiError> {
    match value {
        None => Ok(default),
        Some(v) if range.contains(&v) => Ok(v),
        Some(v) => Err(ApiError::bad_parameter(
            field,
            format!(
                "must be between {} and {}, got {v}",
                range.start(),
                range.end()
            ),
        )),
    }
}

fn stored_spec(job: &JobRow) -> Result<JobSpec, ApiError> {
    stored_json(&job.spec, "spec")
}

/// The heading of a job's figures: its name, or problem · optimizer (lr).
fn title_of(job: &JobRow, spec: &JobSpec) -> String {
    if let Some(name) = &job.name {
        return name.clone();
    }
    let problem = match &spec.problem {
        ProblemConfig::Builtin(b) => b.name.clone(),
        ProblemConfig::Expression(e) => {
            let text: String = e.expression.chars().take(60).collect();
            if text.len() < e.expression.len() {
                format!("{text}…")
            } else {
                text
            }
        }
        ProblemConfig::Model(m) => {
            let kind = serde_json::to_value(&m.model)
                .ok()
                .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
                .unwrap_or_default();
            format!("{kind} model")
        }
    };
    format!(
        "{problem} · {} (lr {})",
        job.optimizer_name,
        spec.optimizer.lr()
    )
}

fn no_history(id: &str) -> ApiError {
    ApiError::Conflict(format!(
        "job `{id}` has no recorded steps yet; wait until it runs (GET /v1/jobs/{id} shows its progress)"
    ))
}

/// The encodings a figure is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImageFormat {
    /// Vector graphics with real text: for reports and browsers.
    Svg,
    /// A raster (text drawn with the embedded DejaVu Sans): for tools that take no SVG.
    Png,
}

fn image_response(format: ImageFormat, bytes: Vec<u8>) -> Response {
    let content_type = match format {
        ImageFormat::Svg => "image/svg+xml",
        ImageFormat::Png => "image/png",
    };
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        bytes,
    )
        .into_response()
}

/// The problem+json responses of a figure endpoint, written once for its SVG and PNG routes.
fn problem_responses(
    list: &[(u16, &str, serde_json::Value)],
) -> BTreeMap<String, RefOr<openapi::response::Response>> {
    list.iter()
        .map(|(status, description, example)| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .example(Some(example.clone()))
                .build();
            let response = ResponseBuilder::new()
                .description(*description)
                .content("application/problem+json", content)
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

fn not_found_example() -> serde_json::Value {
    json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404,
           "detail": "no job with id `42`; list jobs with GET /v1/jobs"})
}

/// The 200 of a PNG route: binary image data (utoipa would describe `Vec<u8>` as an array).
struct PngFigure;

impl IntoResponses for PngFigure {
    fn responses() -> BTreeMap<String, RefOr<openapi::response::Response>> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .build();
        let response = ResponseBuilder::new()
            .description("The figure")
            .content(
                "image/png",
                ContentBuilder::new().schema(Some(schema)).build(),
            )
            .build();
        BTreeMap::from([("200".to_string(), RefOr::T(response))])
    }
}

/// The failures of the loss figure.
struct LossPlotErrors;

impl IntoResponses for LossPlotErrors {
    fn responses() -> BTreeMap<String, RefOr<openapi::response::Response>> {
        problem_responses(&[
            (
                400,
                "A query parameter is not valid",
                json!({"type": "urn:saddle:problem:bad-parameter", "title": "A parameter of the request is not valid", "status": 400,
                    "detail": "smooth: must be between 2 and 1000, got 1",
                    "errors": [{"field": "smooth", "message": "must be between 2 and 1000, got 1"}]}),
            ),
            (404, "No such job", not_found_example()),
            (
                409,
                "The job has no recorded steps yet",
                json!({"type": "urn:saddle:problem:conflict", "title": "The resource's state does not allow this", "status": 409,
                    "detail": "job `0b7f2a9e-5d0c-4a8e-9a57-2f1f6c3b8d11` has no recorded steps yet; wait until it runs (GET /v1/jobs/0b7f2a9e-5d0c-4a8e-9a57-2f1f6c3b8d11 shows its progress)"}),
            ),
        ])
    }
}

/// The failures of the trajectory figure.
struct TrajectoryPlotErrors;

impl IntoResponses for TrajectoryPlotErrors {
    fn responses() -> BTreeMap<String, RefOr<openapi::response::Response>> {
        problem_responses(&[
            (
                400,
                "A query parameter is not valid",
                json!({"type": "urn:saddle:problem:bad-parameter", "title": "A parameter of the request is not valid", "status": 400,
                    "detail": "grid: must be between 20 and 300, got 1000",
                    "errors": [{"field": "grid", "message": "must be between 20 and 300, got 1000"}]}),
            ),
            (404, "No such job", not_found_example()),
            (
                409,
                "The job has no recorded steps yet, its history has no params, or its objective cannot be rebuilt",
                json!({"type": "urn:saddle:problem:conflict", "title": "The resource's state does not allow this", "status": 409,
                    "detail": "job `0b7f2a9e-5d0c-4a8e-9a57-2f1f6c3b8d11` was recorded without params; a trajectory needs them: submit it again with \"record\": {\"params\": true}"}),
            ),
            (
                422,
                "The problem is not 2-D",
                json!({"type": "urn:saddle:problem:validation", "title": "The request is not valid", "status": 422,
                    "detail": "initial: a trajectory plot needs a problem with 2 parameters, this job has 3; plot its loss with GET /v1/jobs/{id}/plots/loss.svg",
                    "errors": [{"field": "initial", "message": "a trajectory plot needs a problem with 2 parameters, this job has 3; plot its loss with GET /v1/jobs/{id}/plots/loss.svg"}]}),
            ),
        ])
    }
}

impl From<PlotError> for ApiError {
    fn from(e: PlotError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// Draw a job's loss curve as SVG.
///
/// x is the step, y the loss (or, with `metric`, the gradient norm or the learning rate), on a
/// log axis by default when every value is positive. Long histories are thinned evenly to
/// `max_points`; `smooth` adds a moving average over the faded raw curve. Steps whose value is
/// NaN or infinite (a diverged run) are left out and counted under the title.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/plots/loss.svg",
    tag = "plots",
    params(("id" = String, Path, description = "The job's id"), LossPlotQuery),
    responses(
        (status = 200, description = "The figure", content_type = "image/svg+xml", body = String,
         example = "<svg width=\"900\" height=\"540\" viewBox=\"0 0 900 540\" xmlns=\"http://www.w3.org/2000/svg\">…</svg>"),
        LossPlotErrors
    )
)]
pub async fn plot_loss(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<LossPlotQuery>,
) -> Result<Response, ApiError> {
    loss_figure(state, id, query, ImageFormat::Svg).await
}

/// Draw a job's loss curve as PNG.
///
/// The figure of `GET /v1/jobs/{id}/plots/loss.svg`, rasterized (900 × 540 pixels) for tools
/// that take no SVG.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/plots/loss.png",
    tag = "plots",
    params(("id" = String, Path, description = "The job's id"), LossPlotQuery),
    responses(
        PngFigure,
        LossPlotErrors
    )
)]
pub async fn plot_loss_png(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<LossPlotQuery>,
) -> Result<Response, ApiError> {
    loss_figure(state, id, query, ImageFormat::Png).await
}

async fn loss_figure(
    state: AppState,
    id: String,
    query: LossPlotQuery,
    format: ImageFormat,
) -> Result<Response, ApiError> {
    let metric = query.metric.unwrap_or(PlotMetric::Loss);
    let max_points = bounded(
        "max_points",
        query.max_points,
        2..=MAX_PLOT_POINTS,
        DEFAULT_PLOT_POINTS,
    )?;
    let smooth = query
        .smooth
        .map(|w| bounded("smooth", Some(w), 2..=1000, 2))
        .transpose()?;
    let job = find_job(&state, &id).await?;
    let spec = stored_spec(&job)?;
    let (rows, _) = thinned_steps(&state.store, job.seq, -1, max_points, false).await?;
    if rows.is_empty() {
        return Err(no_history(&id));
    }
    let points: Vec<(f64, f64)> = rows.iter().map(|r| (r.step as f64, metric.of(r))).collect();
    let non_finite = points.iter().filter(|(_, y)| !y.is_finite()).count();
    let all_positive = points
        .iter()
        .filter(|(_, y)| y.is_finite())
        .all(|(_, y)| *y > 0.0);
    let mut notes = Vec::new();
    let scale = match (query.scale, all_positive) {
        (None, true) | (Some(PlotScale::Log), true) => Scale::Log,
        (Some(PlotScale::Log), false) => {
            notes.push(format!(
                "linear scale: some {} values are ≤ 0, which a log axis cannot show",
                metric.name()
            ));
            Scale::Linear
        }
        (None, false) | (Some(PlotScale::Linear), _) => Scale::Linear,
    };
    if non_finite > 0 {
        let plural = if non_finite == 1 { "" } else { "s" };
        notes.push(format!(
            "{non_finite} plotted step{plural} with a NaN or infinite {} left out",
            metric.name()
        ));
    }
    let note = notes.join("; ");
    let series = [Series {
        name: metric.name().to_string(),
        points,
    }];
    let title = title_of(&job, &spec);
    let bytes = tokio::task::spawn_blocking(move || {
        let chart = LineChart {
            title: &title,
            note: (!note.is_empty()).then_some(note.as_str()),
            x_label: "step",
            y_label: metric.label(),
            scale,
            smooth: smooth.map(|w| w as usize),
            series: &series,
        };
        match format {
            ImageFormat::Svg => render_lines(&chart).map(String::into_bytes),
            ImageFormat::Png => render_lines_png(&chart),
        }
    })
    .await
    .map_err(|e| ApiError::Internal(format!("drawing the loss curve panicked: {e}")))??;
    Ok(image_response(format, bytes))
}

/// Draw a 2-D job's path over the contours of its objective as SVG.
///
/// The objective is rebuilt from the job's specification and evaluated on a grid over a box
/// around the path (and the known minima of builtin functions, which are marked). Contour
/// levels are spaced geometrically in f − min f, so the valley floor is as legible as the
/// walls. For mini-batch model problems the contours are those of the first batch's loss.
/// Needs a history recorded with `record.params = true`.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/plots/trajectory.svg",
    tag = "plots",
    params(("id" = String, Path, description = "The job's id"), TrajectoryPlotQuery),
    responses(
        (status = 200, description = "The figure", content_type = "image/svg+xml", body = String,
         example = "<svg width=\"760\" height=\"720\" viewBox=\"0 0 760 720\" xmlns=\"http://www.w3.org/2000/svg\">…</svg>"),
        TrajectoryPlotErrors
    )
)]
pub async fn plot_trajectory(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<TrajectoryPlotQuery>,
) -> Result<Response, ApiError> {
    trajectory_figure(state, id, query, ImageFormat::Svg).await
}

/// Draw a 2-D job's path over the contours of its objective as PNG.
///
/// The figure of `GET /v1/jobs/{id}/plots/trajectory.svg`, rasterized (760 × 720 pixels) for
/// tools that take no SVG.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/plots/trajectory.png",
    tag = "plots",
    params(("id" = String, Path, description = "The job's id"), TrajectoryPlotQuery),
    responses(
        PngFigure,
        TrajectoryPlotErrors
    )
)]
pub async fn plot_trajectory_png(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<TrajectoryPlotQuery>,
) -> Result<Response, ApiError> {
    trajectory_figure(state, id, query, ImageFormat::Png).await
}

async fn trajectory_figure(
    state: AppState,
    id: String,
    query: TrajectoryPlotQuery,
    format: ImageFormat,
) -> Result<Response, ApiError> {
    let max_points = bounded(
        "max_points",
        query.max_points,
        2..=MAX_PLOT_POINTS,
        DEFAULT_PLOT_POINTS,
    )?;
    let grid_size = bounded("grid", query.grid, 20..=300, 150)? as usize;
    let level_count = bounded("levels", query.levels, 2..=60, 20)? as usize;
    let job = find_job(&state, &id).await?;
    let spec = stored_spec(&job)?;
    // Only the objective is rebuilt: the job's other settings were checked at submission
    // against limits the server may since have changed.
    let (problem, initial) = (spec.problem.clone(), spec.starting_point());
    let expr_limits = state.runner.limits().expr;
    let (objective, x0) = tokio::task::spawn_blocking(move || {
        problem.build_with_limits(&initial?, &expr_limits)
    })
        .await
        .map_err(|e| ApiError::Internal(format!("rebuilding the objective panicked: {e}")))?
        .map_err(|e| {
            ApiError::Conflict(format!(
                "the objective of job `{id}` cannot be rebuilt ({}: {}), so its contours cannot be drawn; GET /v1/jobs/{id}/plots/loss.svg still works",
                e.field, e.message
            ))
        })?;
    let dim = x0.len();
    if dim != 2 {
        return Err(ApiError::invalid(
            "initial",
            format!("a trajectory plot needs a problem with 2 parameters, this job has {dim}; plot its loss with GET /v1/jobs/{id}/plots/loss.svg"),
        ));
    }
    let (rows, total) = thinned_steps(&state.store, job.seq, -1, max_points, true).await?;
    if rows.is_empty() {
        return Err(no_history(&id));
    }
    if rows.iter().all(|r| r.params.is_none()) {
        return Err(ApiError::Conflict(format!(
            "job `{id}` was recorded without params; a trajectory needs them: submit it again with \"record\": {{\"params\": true}}"
        )));
    }
    let path: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.params.as_deref())
        .filter(|p| p.len() == 2 && p.iter().all(|v| v.is_finite()))
        .map(|p| (p[0], p[1]))
        .collect();
    let minima = known_minima(&spec.problem);
    let (x_range, y_range) = plot_box(path.iter().chain(&minima));
    let title = title_of(&job, &spec);
    let mut objective = objective;
    let bytes = tokio::task::spawn_blocking(move || {
        let grid = Grid::evaluate(x_range, y_range, grid_size, |x, y| objective.value(&[x, y]));
        let levels = contour_levels(&grid, level_count);
        let note = format!(
            "{} contour lines, geometric in f − min f; path through {} of {total} records",
            levels.len(),
            path.len()
        );
        let chart = TrajectoryChart {
            title: &title,
            note: Some(&note),
            grid: &grid,
            levels: &levels,
            path: &path,
            minima: &minima,
        };
        match format {
            ImageFormat::Svg => render_trajectory(&chart).map(String::into_bytes),
            ImageFormat::Png => render_trajectory_png(&chart),
        }
    })
    .await
    .map_err(|e| ApiError::Internal(format!("drawing the trajectory panicked: {e}")))??;
    Ok(image_response(format, bytes))
}

/// The minimizers to mark: the library's known minima of a builtin function (for a 2-D
/// quadratic, the solution of Ax = b when A is positive definite).
fn known_minima(problem: &ProblemConfig) -> Vec<(f64, f64)> {
    let ProblemConfig::Builtin(b) = problem else {
        return Vec::new();
    };
    if b.name == "quadratic" {
        return nearest_minimum(b, &[0.0, 0.0])
            .filter(|m| m.x_star.len() == 2)
            .map(|m| vec![(m.x_star[0], m.x_star[1])])
            .unwrap_or_default();
    }
    lookup(&b.name)
        .map(|spec| {
            (spec.minima)(2)
                .into_iter()
                .filter(|m| m.x.len() == 2)
                .map(|m| (m.x[0], m.x[1]))
                .collect()
        })
        .unwrap_or_default()
}

/// A box around `points` with 10 % room on each side; neither side shorter than a quarter of
/// the other (a straight path would otherwise give a sliver), and a unit box around a single
/// point.
fn plot_box<'a>(
    points: impl Iterator<Item = &'a (f64, f64)>,
) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (-1.0..1.0, -1.0..1.0);
    }
    let span = (x1 - x0).max(y1 - y0).max(1e-9);
    let widen = |lo: f64, hi: f64| {
        let half = ((hi - lo).max(span / 4.0) * 1.2) / 2.0;
        let mid = (lo + hi) / 2.0;
        (mid - half)..(mid + half)
    };
    let (x, y) = (widen(x0, x1), widen(y0, y1));
    if span <= 1e-9 {
        return (
            (x.start - 1.0)..(x.end + 1.0),
            (y.start - 1.0)..(y.end + 1.0),
        );
    }
    (x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plot_box_holds_every_point_with_room_and_no_sliver() {
        let (x, y) = plot_box([(0.0, 0.0), (10.0, 0.1)].iter());
        assert!(x.start < 0.0 && x.end > 10.0);
        assert!(y.end - y.start >= 2.5 * 1.2 - 1e-9);
        let (x, _) = plot_box([(3.0, 3.0)].iter());
        assert!(x.start < 3.0 && x.end > 3.0);
    }

    #[test]
    fn builtin_functions_mark_their_known_minima() {
        let himmelblau: ProblemConfig =
            serde_json::from_value(serde_json::json!({"kind": "builtin", "name": "himmelblau"}))
                .unwrap();
        assert_eq!(known_minima(&himmelblau).len(), 4);
    }

    #[test]
    fn a_positive_definite_quadratic_has_its_minimum_at_the_solution_of_ax_equals_b() {
        let problem: ProblemConfig = serde_json::from_value(serde_json::json!({
            "kind": "builtin", "name": "quadratic", "a": [[2.0, 0.0], [0.0, 4.0]], "b": [2.0, 2.0]
        }))
        .unwrap();
        let minima = known_minima(&problem);
        assert_eq!(minima.len(), 1);
        assert!((minima[0].0 - 1.0).abs() < 1e-12 && (minima[0].1 - 0.5).abs() < 1e-12);
    }
}
