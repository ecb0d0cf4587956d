//! The dashboard: a page and its assets, embedded in the binary and served at `/`.
//!
//! Not part of the API (and so not in the OpenAPI document): the page only calls the public
//! API, like any other client. uPlot comes from npm at build time (see build.rs); when it
//! could not be built its files are empty and the page draws the server's SVG plots instead.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;

use super::AppState;

/// Scripts, styles, requests and images may come from this server only: the page works on a
/// machine with no network and cannot leak data to another host.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("../../web/src/index.html");
const UPLOT_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/uplot.js"));
const UPLOT_CSS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/uplot.css"));

/// Where the page wants the charting library's tags.
const CHARTS_MARKER: &str = "<!-- charting library -->";

/// The page's own files (served as written) and the charting library's, by name.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css",
        include_bytes!("../../web/src/app.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../web/src/favicon.svg"),
    ),
    (
        "app.js",
        "text/javascript",
        include_bytes!("../../web/src/app.js"),
    ),
    (
        "api.js",
        "text/javascript",
        include_bytes!("../../web/src/api.js"),
    ),
    (
        "charts.js",
        "text/javascript",
        include_bytes!("../../web/src/charts.js"),
    ),
    (
        "contour.js",
        "text/javascript",
        include_bytes!("../../web/src/contour.js"),
    ),
    (
        "jobs.js",
        "text/javascript",
        include_bytes!("../../web/src/jobs.js"),
    ),
    (
        "job.js",
        "text/javascript",
        include_bytes!("../../web/src/job.js"),
    ),
    (
        "new-job.js",
        "text/javascript",
        include_bytes!("../../web/src/new-job.js"),
    ),
    (
        "sweeps.js",
        "text/javascript",
        include_bytes!("../../web/src/sweeps.js"),
    ),
    ("uplot.js", "text/javascript", UPLOT_JS),
    ("uplot.css", "text/css", UPLOT_CSS),
];

/// Whether uPlot was built into this binary.
pub fn has_charting_library() -> bool {
    !UPLOT_JS.is_empty() && !UPLOT_CSS.is_empty()
}

/// The page with the charting library's tags, or none when it was not built.
static INDEX: LazyLock<String> = LazyLock::new(|| {
    let tags = if has_charting_library() {
        "<link rel=\"stylesheet\" href=\"/assets/uplot.css\">\n  \
         <script src=\"/assets/uplot.js\"></script>"
    } else {
        "<meta name=\"saddle-charts\" content=\"svg\">"
    };
    INDEX_HTML.replacen(CHARTS_MARKER, tags, 1)
});

/// `/` and `/assets/{name}`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
}

async fn index() -> Response {
    page_response("text/html; charset=utf-8", INDEX.as_bytes())
}

async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|(asset, _, bytes)| *asset == name && !bytes.is_empty())
        .map(|(_, content_type, bytes)| page_response(content_type, bytes))
        .ok_or_else(|| ApiError::NotFound(format!("no dashboard asset `{name}`")))
}

fn page_response(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The assets change with the binary: always revalidate, never serve a stale page.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
