//! Cross-origin access: which other sites' pages may call the API from a browser.

use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

/// The CORS layer for the configured origins, `None` when no origin is allowed (browsers
/// then keep the API to pages served by saddle itself). `*` allows any origin.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::from(Any)
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static("last-event-id"),
            ])
            // Let cross-origin scripts read where a new job or dataset lives.
            .expose_headers([header::LOCATION]),
    )
}

/// `router` answering CORS preflights and tagging responses for the configured origins.
pub fn with_cors(router: Router, origins: &[String]) -> Router {
    match cors_layer(origins) {
        Some(layer) => router.layer(layer),
        None => router,
    }
}
