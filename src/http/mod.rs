//! The HTTP API: one module per resource, routes and OpenAPI built together.

mod extract;
mod health;
mod jobs;
mod page_token;
mod steps;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_scalar::{Scalar, Servable};

pub use extract::{ApiJson, ApiQuery};
pub use page_token::PageTokens;

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
        (name = "service", description = "Health and metadata")
    ),
    components(schemas(Problem, FieldError))
)]
struct ApiDoc;

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(jobs::create_job, jobs::list_jobs))
        .routes(routes!(jobs::get_job, jobs::delete_job))
        .routes(routes!(jobs::cancel_job))
        .routes(routes!(steps::list_steps))
        .routes(routes!(health::healthz))
}

/// The OpenAPI document generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

/// The OpenAPI document as pretty JSON, as committed in openapi/openapi.json.
pub fn openapi_json() -> String {
    openapi().to_pretty_json().expect("the spec serializes")
}

/// The whole application: API routes, the spec at /openapi.json and the docs at /docs.
pub fn app(state: AppState, max_body_bytes: usize) -> Router {
    let (router, spec) = api_router().split_for_parts();
    let spec_json = spec.to_pretty_json().expect("the spec serializes");
    router
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
    };
    crate::error::problem_response(StatusCode::METHOD_NOT_ALLOWED, &problem)
}
