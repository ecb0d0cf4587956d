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
mod page_token;
mod plots;
mod predict;
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

pub use cors::with_cors;
pub use auth::Access;
pub use extract::{ApiJson, ApiQuery};
pub use page_token::PageTokens;

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
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented(api_router().split_for_parts().1)
}

/// The spec as generated, completed with what no single handler declares: discriminators of
/// tagged unions, authentication, and the `Idempotency-Key` header.
fn documented(spec: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut spec = with_discriminators(spec);
    auth::AccessDoc.modify(&mut spec);
    idempotency::IdempotencyDoc.modify(&mut spec);
    spec
}

/// utoipa writes a serde-tagged enum as `oneOf: [allOf: [$ref Variant, {tag: enum [v]}]]`,
/// which has no `discriminator`. Move the tag property into each variant's schema and
/// reference the variants directly under a `discriminator` with an explicit mapping.
fn with_discriminators(spec: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut doc = serde_json::to_value(&spec).expect("the spec serializes");
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
    serde_json::from_value(doc).expect("the rewritten spec is still an OpenAPI document")
}

/// The OpenAPI document as pretty JSON, as committed in openapi/openapi.json.
pub fn openapi_json() -> String {
    openapi().to_pretty_json().expect("the spec serializes")
}

/// The whole application: API routes, the spec at /openapi.json, the docs at /docs and the
/// dashboard at /.
pub fn app(state: AppState, max_body_bytes: usize) -> Router {
    let (router, spec) = api_router().split_for_parts();
    let spec = documented(spec);
    let spec_json = spec.to_pretty_json().expect("the spec serializes");
    // The largest body an idempotent route takes: a CSV upload may exceed the JSON limit.
    let idempotent_body_limit =
        max_body_bytes.max(usize::try_from(state.dataset_limits.max_bytes).unwrap_or(usize::MAX));
    router
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
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
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
