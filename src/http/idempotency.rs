//! `Idempotency-Key` on the POSTs that create resources: a retried request gets the first
//! answer again instead of creating a second job, sweep or dataset.
//!
//! The first request with a key claims it (in one write transaction, so of two concurrent
//! duplicates only one runs; the other gets a 409 while the first is in flight). A successful
//! answer is stored with the request's fingerprint for [`KEEP`] and replayed, with
//! `Idempotent-Replayed: true`, to a request with the same key and fingerprint; the same key
//! with another request is a 422. A request that fails creates nothing and frees its key.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi, Ref, RefOr, Required};
use utoipa::Modify;

use super::doc::problem_doc;
use crate::error::ApiError;
use crate::store::{IdempotencyClaim, Store, StoredResponse};
use crate::tenant::Tenant;

/// The request header, as named in problems and the spec.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
const IDEMPOTENCY_KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// The header marking a replayed answer.
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The POST routes that honour the header.
pub const IDEMPOTENT_ROUTES: &[&str] = &[
    "/v1/jobs",
    "/v1/sweeps",
    "/v1/datasets",
    "/v1/datasets/generate",
];
/// How long an answer is kept for replay.
pub const KEEP: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest key accepted.
const MAX_KEY_LENGTH: usize = 255;
/// The `Retry-After` of a duplicate that arrives while the first request is in flight.
const IN_FLIGHT_RETRY_SECONDS: u64 = 1;

/// What the middleware needs: the store and the largest body it may buffer to fingerprint.
#[derive(Clone)]
pub struct Replays {
    store: Store,
    max_body_bytes: usize,
}

impl Replays {
    /// Buffers bodies up to `max_body_bytes` (the largest any idempotent route accepts).
    pub fn new(store: Store, max_body_bytes: usize) -> Self {
        Self {
            store,
            max_body_bytes,
        }
    }
}

/// The key of a request, if it sent one, checked for shape.
fn key_of(request: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    let printable = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > MAX_KEY_LENGTH || !printable {
        return Err(ApiError::bad_parameter(
            IDEMPOTENCY_KEY,
            format!(
                "must be 1 to {MAX_KEY_LENGTH} printable ASCII characters without spaces, e.g. a UUID"
            ),
        ));
    }
    Ok(Some(key.to_string()))
}

/// The SHA-256 of what makes two requests the same: method, path with query, media type, body.
fn fingerprint(request: &Request, body: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(request.method().as_str());
    hash.update([0]);
    hash.update(request.uri().path_and_query().map_or("", |p| p.as_str()));
    hash.update([0]);
    hash.update(
        request
            .headers()
            .get(CONTENT_TYPE)
            .map_or(&[][..], |v| v.as_bytes()),
    );
    hash.update([0]);
    hash.update(body);
    hash.finalize().into()
}

/// Frees a claimed key if the request is dropped before it is answered (the client went
/// away): the request created nothing it could be answered about.
struct Claim {
    store: Store,
    tenant: Tenant,
    key: String,
    settled: bool,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (store, tenant, key) = (self.store.clone(), self.tenant.clone(), self.key.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = store.release_idempotency_key(&tenant, &key).await {
                    tracing::warn!(error = %e, "could not free an abandoned idempotency key");
                }
            });
        }
    }
}

/// Middleware: replays, refuses or records requests that carry an `Idempotency-Key`.
pub async fn replay_or_record(
    State(replays): State<Replays>,
    request: Request,
    next: Next,
) -> Response {
    let applies = request.method() == Method::POST
        && IDEMPOTENT_ROUTES.contains(&request.uri().path())
        && request.headers().contains_key(IDEMPOTENCY_KEY_HEADER);
    if !applies {
        return next.run(request).await;
    }
    match record(replays, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn record(replays: Replays, request: Request, next: Next) -> Result<Response, Response> {
    let key = key_of(&request)
        .map_err(IntoResponse::into_response)?
        .expect("checked by the caller");
    let tenant = request
        .extensions()
        .get::<Tenant>()
        .cloned()
        .ok_or_else(|| {
            ApiError::Internal("an idempotent route is not behind authentication".into())
                .into_response()
        })?;
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, replays.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(format!(
                "the request body is over this server's limit ({} bytes)",
                replays.max_body_bytes
            ))
            .into_response()
        })?;
    let request = Request::from_parts(parts, Body::from(body.clone()));
    let hash = fingerprint(&request, &body);
    let claim = replays
        .store
        .claim_idempotency_key(&tenant, &key, &hash, KEEP)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    match claim {
        IdempotencyClaim::Claimed => {}
        IdempotencyClaim::Replay(stored) => return Ok(replayed(stored)),
        IdempotencyClaim::InFlight => {
            let mut response = ApiError::Conflict(format!(
                "a request with this {IDEMPOTENCY_KEY} is still being processed; retry it \
                 once that one has been answered to get its answer"
            ))
            .into_response();
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(IN_FLIGHT_RETRY_SECONDS));
            return Err(response);
        }
        IdempotencyClaim::Mismatch => {
            return Err(ApiError::invalid(
                IDEMPOTENCY_KEY,
                "was already used, in the last 24 hours, for a different request (another \
                 body or route); use a new key for a new request",
            )
            .into_response())
        }
    }
    let mut claim = Claim {
        store: replays.store.clone(),
        tenant,
        key,
        settled: false,
    };
    let response = next.run(request).await;
    if !response.status().is_success() {
        // Nothing was created: the key is free for a corrected request.
        claim.settled = true;
        if let Err(e) = claim
            .store
            .release_idempotency_key(&claim.tenant, &claim.key)
            .await
        {
            tracing::warn!(error = %e, "could not free an idempotency key");
        }
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::Internal(format!("reading a response: {e}")).into_response())?;
    let header = |name: HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let stored = StoredResponse {
        status: parts.status.as_u16(),
        location: header(LOCATION),
        content_type: header(CONTENT_TYPE),
        body: body.to_vec(),
    };
    let completed = claim
        .store
        .complete_idempotency_key(&claim.tenant, &claim.key, &stored)
        .await;
    // On failure the key is freed by the guard: a retry creates a second resource, but no
    // key stays stuck in flight.
    match completed {
        Ok(()) => claim.settled = true,
        Err(e) => tracing::error!(error = %e, "could not store an idempotent answer"),
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}

/// The stored answer, marked as a replay.
fn replayed(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (CONTENT_TYPE, stored.content_type),
        (LOCATION, stored.location),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, value);
        }
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// The `Idempotency-Key` header in the spec, on every route that honours it, with the 409 of a
/// duplicate in flight and the `Idempotent-Replayed` header of a replayed answer.
pub struct IdempotencyDoc;

impl Modify for IdempotencyDoc {
    fn modify(&self, openapi: &mut OpenApi) {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let parameter = ParameterBuilder::new()
            .name(IDEMPOTENCY_KEY)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Makes the request safe to retry: a request with the same key and the same body \
                 (within 24 hours, per tenant) gets the first answer again, with \
                 `Idempotent-Replayed: true`, and creates nothing; the same key with another \
                 body is a 422. 1 to 255 printable ASCII characters, e.g. a UUID.",
            ))
            .schema(Some(
                string()
                    .min_length(Some(1))
                    .max_length(Some(MAX_KEY_LENGTH))
                    .pattern(Some("^[!-~]+$")),
            ))
            .example(Some(json!("5d9e5b6c-3a1f-4f0e-8b7a-2c6d1e9f0a34")))
            .build();
        let mut in_flight = problem_doc(
            "A request with the same Idempotency-Key is still being processed",
            json!({"type": "urn:saddle:problem:conflict",
                   "title": "The resource's state does not allow this", "status": 409,
                   "detail": "a request with this Idempotency-Key is still being processed; retry it once that one has been answered to get its answer"}),
        );
        in_flight.headers.insert(
            "Retry-After".into(),
            Header::new(ObjectBuilder::new().schema_type(Type::Integer)),
        );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .responses
            .insert("IdempotencyInFlight".into(), in_flight.into());
        let mut replayed = Header::new(string());
        replayed.description =
            Some("`true` when this is the stored answer to an earlier request with the same Idempotency-Key".into());
        for route in IDEMPOTENT_ROUTES {
            let Some(operation) = openapi
                .paths
                .paths
                .get_mut(*route)
                .and_then(|item| item.post.as_mut())
            else {
                continue;
            };
            operation
                .parameters
                .get_or_insert_with(Vec::new)
                .push(parameter.clone());
            let responses = &mut operation.responses.responses;
            responses.insert(
                "409".into(),
                RefOr::Ref(Ref::from_response_name("IdempotencyInFlight")),
            );
            if let Some(RefOr::T(created)) = responses.get_mut("201") {
                created
                    .headers
                    .insert("Idempotent-Replayed".into(), replayed.clone());
            }
        }
    }
}
