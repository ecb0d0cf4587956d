//! The HTTP API: one module per resource, routes and OpenAPI built together.

mod api_keys;
mod auth;
mod catalogue;
mod cors;
mod dashboard;
mod datasets;
mod doc;
mod evaluate;
mod events;
mod extract;
mod functions;
mod health;
mod idempotency;
mod jobs;
mod metrics;
mod page_token;
mod plots;
mod predict;
mod rate_limit;
mod request_id;
mod respond;
mod steps;
mod sweeps;
mod thin;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_scalar::{Scalar, Servable};

pub use auth::Access;
pub use cors::with_cors;
pub use extract::{ApiJson, ApiQuery};
pub use page_token::PageTokens;
pub use rate_limit::{RateLimit, RateLimiter};
pub use request_id::{MAX_REQUEST_ID_CHARS, REQUEST_ID};

use saddle_numeric::data::CsvLimits;

use crate::error::{ApiError, FieldError, Problem};
use crate::jobs::JobRunner;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Submission, cancellation and the workers.
    pub runner: JobRunner,
    /// Signs page tokens.
    pub tokens: PageTokens,
    /// The largest dataset an upload may hold.
    pub dataset_limits: CsvLimits,
    /// Whether API keys are required, and the admin token.
    pub access: Access,
    /// Request latencies by route, for /metrics.
    pub http_metrics: metrics::HttpMetrics,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "saddle",
        description = "Optimization as a service: submit a problem and an optimizer configuration, \
                       the server runs the optimization as a background job and records every step. \
                       Every error is an RFC 9457 problem document (application/problem+json). \
                       Floats that are NaN or infinite are written as the strings \"NaN\", \"Infinity\" and \"-Infinity\".",
        license(name = "MIT")
    ),
    tags(
        (name = "jobs", description = "Optimization runs and their step histories"),
        (name = "plots", description = "Figures of a job drawn by the server, as SVG or PNG"),
        (name = "sweeps", description = "Races of optimizers on one problem, with leaderboards"),
        (name = "catalogue", description = "The optimizers, schedules and functions a job can use"),
        (name = "datasets", description = "Data for model problems: uploads, synthetic sets, statistics"),
        (name = "service", description = "Health and metadata"),
        (name = "admin", description = "API keys of tenants, with the server's admin token")
    ),
    components(schemas(Problem, FieldError))
)]
struct ApiDoc;

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(jobs::create_job, jobs::list_jobs))
        .routes(routes!(jobs::get_job, jobs::delete_job))
        .routes(routes!(jobs::cancel_job))
        .routes(routes!(jobs::continue_job))
        .routes(routes!(steps::list_steps))
        .routes(routes!(events::stream_events))
        .routes(routes!(plots::plot_loss))
        .routes(routes!(plots::plot_loss_png))
        .routes(routes!(plots::plot_trajectory))
        .routes(routes!(plots::plot_trajectory_png))
        .routes(routes!(catalogue::list_optimizers))
        .routes(routes!(catalogue::get_optimizer))
        .routes(routes!(catalogue::list_schedules))
        .routes(routes!(catalogue::get_schedule))
        .routes(routes!(functions::list_functions))
        .routes(routes!(functions::get_function))
        .routes(routes!(evaluate::evaluate_problem))
        .routes(routes!(evaluate::create_landscape))
        .routes(routes!(predict::predict_job))
        .routes(routes!(datasets::create_dataset, datasets::list_datasets))
        .routes(routes!(datasets::generate_dataset))
        .routes(routes!(datasets::get_dataset, datasets::delete_dataset))
        .routes(routes!(sweeps::create_sweep, sweeps::list_sweeps))
        .routes(routes!(sweeps::get_sweep))
        .routes(routes!(sweeps::cancel_sweep))
        .routes(routes!(sweeps::plot_sweep_loss))
        .routes(routes!(sweeps::plot_sweep_loss_png))
        .routes(routes!(health::healthz))
        .routes(routes!(api_keys::create_key, api_keys::list_keys))
        .routes(routes!(api_keys::revoke_key))
        .routes(routes!(metrics::get_metrics))
}

/// The tagged unions of the API and their tag fields: each becomes a `oneOf` with a
/// `discriminator`, so generated SDKs get real types.
const TAGGED_UNIONS: &[(&str, &str)] = &[
    ("ProblemConfig", "kind"),
    ("OptimizerConfig", "name"),
    ("ScheduleConfig", "name"),
    ("GeneratorConfig", "kind"),
];

/// The OpenAPI document generated from the handlers.
pub fn openapi() -> serde_json::Value {
    finish_spec(api_router().split_for_parts().1)
}

/// The generated spec with what utoipa cannot say per handler: authentication, the
/// `Idempotency-Key` header, discriminators, and the answers the shared layers and
/// extractors give on any operation they guard. It stays JSON:
/// utoipa cannot read back some schemas it writes (a field of any type has no `type`).
fn finish_spec(mut spec: utoipa::openapi::OpenApi) -> serde_json::Value {
    auth::AccessDoc.modify(&mut spec);
    idempotency::IdempotencyDoc.modify(&mut spec);
    let mut doc = serde_json::to_value(&spec).expect("the spec serializes");
    add_discriminators(&mut doc);
    add_common_responses(&mut doc);
    bound_unsigned_integers(&mut doc);
    doc
}

/// utoipa writes u64 as `format: int64, minimum: 0` (u32 as int32), which a client or fuzzer
/// reads as "at most 2^63 − 1" while the server takes up to 2^64 − 1: state the real bound.
fn bound_unsigned_integers(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(object) => {
            let is_integer = match &object.get("type") {
                Some(serde_json::Value::String(t)) => t == "integer",
                Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
                _ => false,
            };
            let maximum = match object.get("format").and_then(|f| f.as_str()) {
                Some("int64") => Some(u64::MAX),
                Some("int32") => Some(u64::from(u32::MAX)),
                _ => None,
            };
            let unsigned = object.get("minimum") == Some(&serde_json::json!(0));
            if let (true, true, Some(maximum)) = (is_integer, unsigned, maximum) {
                object.remove("format");
                object
                    .entry("maximum")
                    .or_insert_with(|| serde_json::json!(maximum));
            }
            object.values_mut().for_each(bound_unsigned_integers);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(bound_unsigned_integers),
        _ => {}
    }
}

/// A problem response of the spec with `description` and one example.
fn problem_spec(
    description: &str,
    status: u16,
    kind: &str,
    title: &str,
    detail: &str,
) -> serde_json::Value {
    serde_json::json!({
        "description": description,
        "content": {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"},
            "example": {"type": format!("urn:saddle:problem:{kind}"), "title": title, "status": status, "detail": detail}
        }}
    })
}

/// Adds the answers no handler lists itself: the 400 of the query extractor (an unknown or
/// malformed parameter) on operations with query parameters, the 400 and 413 of the body
/// extractor on operations with a body, and the rate limiter's 429 (with `Retry-After`) on
/// every operation but the exempt probes.
fn add_common_responses(doc: &mut serde_json::Value) {
    let bad_parameter = problem_spec(
        "A parameter is not valid",
        400,
        "bad-parameter",
        "A parameter of the request is not valid",
        "limit: invalid digit found in string",
    );
    let malformed = problem_spec(
        "The body is not JSON, or not sent as JSON",
        400,
        "malformed-body",
        "The request body could not be read",
        "send the body as JSON with the header `Content-Type: application/json`",
    );
    let too_large = problem_spec(
        "The body is over the size limit (--max-body-bytes)",
        413,
        "payload-too-large",
        "The request is too large",
        "the request body is over this server's limit (16777216 bytes)",
    );
    let mut too_many = problem_spec(
        "Over the per-client rate limit (--rate-limit-rps); retry after `Retry-After` seconds",
        429,
        "too-many-requests",
        "Too many requests",
        "over the rate limit of 100 requests per second (bursts of 200) for this API key \
         or, without a valid one, this client address; retry after the Retry-After seconds",
    );
    too_many["headers"] = serde_json::json!({"Retry-After": {
        "description": "Whole seconds until a retry can succeed (at least 1)",
        "schema": {"type": "integer", "minimum": 1}
    }});
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let exempt = rate_limit::is_exempt(path);
            for operation in item
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                let has_query = operation["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
                let has_body = operation.get("requestBody").is_some();
                let Some(responses) = operation["responses"].as_object_mut() else {
                    continue;
                };
                if has_body {
                    responses.entry("400").or_insert_with(|| malformed.clone());
                    responses.entry("413").or_insert_with(|| too_large.clone());
                } else if has_query {
                    responses
                        .entry("400")
                        .or_insert_with(|| bad_parameter.clone());
                }
                if !exempt {
                    responses.entry("429").or_insert_with(|| too_many.clone());
                }
            }
        }
    }
}

/// utoipa writes a serde-tagged enum as `oneOf: [allOf: [$ref Variant, {tag: enum [v]}]]`,
/// which has no `discriminator`. Move the tag property into each variant's schema and
/// reference the variants directly under a `discriminator` with an explicit mapping.
fn add_discriminators(doc: &mut serde_json::Value) {
    for (union, tag) in TAGGED_UNIONS {
        let Some(items) = doc["components"]["schemas"][*union]["oneOf"]
            .as_array()
            .cloned()
        else {
            continue;
        };
        let mut refs = Vec::new();
        let mut mapping = serde_json::Map::new();
        for item in items {
            let parts = item["allOf"].as_array().cloned().unwrap_or_default();
            let reference = parts
                .iter()
                .find_map(|p| p["$ref"].as_str().map(String::from));
            let tag_schema = parts.iter().find(|p| p["properties"][*tag].is_object());
            let (Some(reference), Some(tag_schema)) = (reference, tag_schema) else {
                refs.push(item);
                continue;
            };
            let value = tag_schema["properties"][*tag]["enum"][0].clone();
            let name = reference
                .trim_start_matches("#/components/schemas/")
                .to_string();
            let variant = &mut doc["components"]["schemas"][&name];
            if let Some(properties) = variant["properties"].as_object_mut() {
                let mut with_tag = serde_json::Map::new();
                with_tag.insert(tag.to_string(), tag_schema["properties"][*tag].clone());
                with_tag.extend(std::mem::take(properties));
                *properties = with_tag;
            } else {
                variant["type"] = serde_json::json!("object");
                variant["properties"] = serde_json::json!({ *tag: tag_schema["properties"][*tag] });
            }
            match variant["required"].as_array_mut() {
                Some(required) => required.insert(0, serde_json::json!(tag)),
                None => variant["required"] = serde_json::json!([tag]),
            }
            if let Some(example) = variant["example"].as_object_mut() {
                example.insert(tag.to_string(), value.clone());
            }
            if let Some(value) = value.as_str() {
                mapping.insert(value.to_string(), serde_json::json!(reference));
            }
            refs.push(serde_json::json!({ "$ref": reference }));
        }
        let schema = &mut doc["components"]["schemas"][*union];
        schema["oneOf"] = serde_json::Value::Array(refs);
        schema["discriminator"] = serde_json::json!({ "propertyName": tag, "mapping": mapping });
    }
}

/// The OpenAPI document as pretty JSON, as committed in openapi/openapi.json.
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(&openapi()).expect("the spec serializes")
}

/// The whole application: API routes, the spec at /openapi.json, the docs at /docs and the
/// dashboard at /; every response carries `X-Request-Id`, every request is timed for
/// /metrics and, with a `rate_limit`, limited per client.
pub fn app(state: AppState, max_body_bytes: usize, rate_limit: Option<RateLimit>) -> Router {
    let (router, spec) = api_router().split_for_parts();
    let spec = finish_spec(spec);
    let spec_json = serde_json::to_string_pretty(&spec).expect("the spec serializes");
    // The largest body an idempotent route takes: a CSV upload may exceed the JSON limit.
    let idempotent_body_limit =
        max_body_bytes.max(usize::try_from(state.dataset_limits.max_bytes).unwrap_or(usize::MAX));
    let router = router
        // Authentication runs first (the outer layer), so the replay layer knows the tenant.
        .layer(axum::middleware::from_fn_with_state(
            idempotency::Replays::new(state.store.clone(), idempotent_body_limit),
            idempotency::replay_or_record,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            auth::authenticate,
        ))
        .route(
            "/openapi.json",
            axum::routing::get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    spec_json,
                )
            }),
        )
        .merge(Scalar::with_url("/docs", spec))
        .merge(dashboard::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes));
    let router = match rate_limit {
        Some(limit) => router.layer(axum::middleware::from_fn_with_state(
            RateLimiter::new(limit),
            rate_limit::limit_rate,
        )),
        None => router,
    };
    // Layers run outside in from the last: the id is assigned first, so the trace span and
    // the latency series see every response, 429s included.
    router
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.http_metrics.clone(),
            metrics::record_latency,
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(request_id::request_span),
        )
        .layer(axum::middleware::from_fn(request_id::assign_request_id))
        .with_state(state)
}

/// What a worker process (`--role worker`) serves: /healthz and /metrics, for probes and
/// scraping; the API is served by the `api` processes.
pub fn worker_app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(health::healthz))
        .route("/metrics", axum::routing::get(metrics::get_metrics))
        .fallback(|| async {
            ApiError::NotFound(
                "this process is a worker (--role worker): it serves only /healthz and \
                 /metrics; send API requests to an API process"
                    .into(),
            )
        })
        .with_state(state)
}

/// A handler that panicked answers a logged 500 problem; the server lives on.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    ApiError::Internal(format!("the handler panicked: {message}")).into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; see /openapi.json or /docs for the API".into())
}

async fn method_not_allowed() -> impl IntoResponse {
    let problem = Problem {
        kind: "urn:saddle:problem:method-not-allowed".into(),
        title: "Method not allowed".into(),
        status: 405,
        detail: "this route does not take this HTTP method; see /openapi.json".into(),
        errors: Vec::new(),
        limit: None,
    };
    crate::error::problem_response(StatusCode::METHOD_NOT_ALLOWED, &problem)
}
