//! Request ids: every request gets one (the client's own when it is sane), every log line of
//! the request carries it in the span, and the response returns it in `X-Request-Id`.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The header that carries the id both ways.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-sent id kept; longer ones are replaced (they would bloat every log line).
pub const MAX_REQUEST_ID_CHARS: usize = 64;

/// Whether a client-sent id can be kept: 1 to 64 visible ASCII characters, so it cannot break
/// a log line or smuggle control characters.
fn is_sane(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_CHARS
        && bytes.iter().all(|b| b.is_ascii_graphic())
}

/// Keeps a sane `X-Request-Id` from the client or puts a fresh UUID v4 in its place, so the
/// trace span (made after this layer) and the handlers see the id the response will carry.
pub async fn assign_request_id(mut request: Request, next: Next) -> Response {
    let id = match request.headers().get(&REQUEST_ID) {
        Some(value) if is_sane(value) => value.clone(),
        _ => HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
            .expect("a UUID is a valid header value"),
    };
    request.headers_mut().insert(REQUEST_ID.clone(), id.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID.clone(), id);
    response
}

/// The span of one request: method, route (the matched pattern, not the ids in it), URI and
/// the request id, which every event logged while handling the request inherits.
pub fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("-", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        route = %route,
        uri = %request.uri(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_id_is_short_visible_ascii() {
        assert!(is_sane(&HeaderValue::from_static("abc-123_XYZ.9")));
        assert!(!is_sane(&HeaderValue::from_static("")));
        assert!(!is_sane(&HeaderValue::from_static("has space")));
        assert!(!is_sane(&HeaderValue::from_str(&"a".repeat(65)).unwrap()));
        assert!(is_sane(&HeaderValue::from_str(&"a".repeat(64)).unwrap()));
        assert!(!is_sane(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()));
    }

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_event_inside_the_request_span_carries_the_request_id() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let request = Request::builder()
            .uri("/v1/jobs/42")
            .header(&REQUEST_ID, "trace-me-7")
            .body(axum::body::Body::empty())
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let span = request_span(&request);
            let _entered = span.enter();
            tracing::warn!("deep inside a handler");
        });
        let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("request_id=trace-me-7"), "{logged}");
        assert!(logged.contains("deep inside a handler"), "{logged}");
    }
}
