//! Authentication: the API key of a request names its [`Tenant`]; the admin token guards the
//! key-management API.
//!
//! [`authenticate`] runs before every `/v1/` route except `/v1/admin/`: with keys required it
//! answers 401 to a request without a live key, and it always leaves the request's tenant in
//! its extensions (the default tenant when keys are off), where the [`Tenant`] extractor finds
//! it. `/healthz`, `/openapi.json`, `/docs` and the dashboard stay public.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::openapi::header::Header;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr};
use utoipa::Modify;

use super::doc::problem_doc;
use super::AppState;
use crate::error::ApiError;
use crate::store::{KeyOwner, Store};
use crate::tenant::{hash_key, Tenant};

/// Who may call what: whether API keys are required, and the admin token (as its hash).
#[derive(Clone)]
pub struct Access {
    store: Store,
    keys_required: bool,
    admin_token_hash: Option<[u8; 32]>,
}

impl Access {
    /// Keys required or not; the admin API on when an admin token is given.
    pub fn new(store: Store, keys_required: bool, admin_token: Option<&str>) -> Self {
        Self {
            store,
            keys_required,
            admin_token_hash: admin_token.map(|t| Sha256::digest(t.as_bytes()).into()),
        }
    }

    /// Who a request acts for, from its `Authorization` header: the key's owner, or the
    /// default tenant without a key when keys are not required.
    async fn owner_of(&self, parts: &Parts) -> Result<KeyOwner, ApiError> {
        if !self.keys_required {
            return Ok(KeyOwner {
                api_key_id: None,
                tenant: Tenant::default(),
            });
        }
        let key = bearer_token(parts).ok_or_else(|| {
            ApiError::Unauthorized(
                "this server requires an API key: send `Authorization: Bearer <key>`; an \
                 administrator creates keys with `saddle keys create --tenant NAME` or \
                 POST /v1/admin/keys"
                    .into(),
            )
        })?;
        match self.store.key_owner(&hash_key(key)).await? {
            Some(owner) => Ok(owner),
            None => Err(ApiError::Unauthorized(
                "the API key is not valid: it is unknown or was revoked; ask an administrator \
                 for a key"
                    .into(),
            )),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive).
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether a path is served for a tenant (and so needs its key when keys are required).
fn is_tenant_route(path: &str) -> bool {
    path.starts_with("/v1/") && !path.starts_with("/v1/admin/")
}

/// Middleware: finds the tenant of every `/v1/` request (401 without a live key when keys are
/// required) and leaves it in the request's extensions, with the [`KeyOwner`] (whose key id
/// per-key limits and logs can use).
pub async fn authenticate(State(access): State<Access>, request: Request, next: Next) -> Response {
    if !is_tenant_route(request.uri().path()) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    match access.owner_of(&parts).await {
        Ok(owner) => {
            let by_key = owner.api_key_id.is_some();
            parts.extensions.insert(owner.tenant.clone());
            parts.extensions.insert(owner);
            let mut response = next.run(Request::from_parts(parts, body)).await;
            if by_key {
                response.extensions_mut().insert(KeyVerified);
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

/// Marks a response to a request that a live API key authenticated: the rate limiter, which
/// runs before authentication, gives such a key a bucket of its own from then on (a made-up
/// token never gets one, so cycling tokens does not escape the limit of the address).
#[derive(Debug, Clone, Copy)]
pub struct KeyVerified;

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Tenant>().cloned().ok_or_else(|| {
            ApiError::Internal(format!(
                "no tenant for {}: the route is not behind the authentication middleware",
                parts.uri.path()
            ))
        })
    }
}

/// Proof that a request carries the admin token.
pub struct AdminAccess;

impl FromRequestParts<AppState> for AdminAccess {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(expected) = state.access.admin_token_hash else {
            return Err(ApiError::Forbidden(
                "the admin API is off on this server: start it with --admin-token (or \
                 SADDLE_ADMIN_TOKEN), or manage keys with `saddle keys`"
                    .into(),
            ));
        };
        let given: Option<[u8; 32]> =
            bearer_token(parts).map(|t| Sha256::digest(t.as_bytes()).into());
        // Digests of equal length, compared without an early exit.
        let matches = given.is_some_and(|given| {
            given
                .iter()
                .zip(expected.iter())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
        });
        if matches {
            Ok(AdminAccess)
        } else {
            Err(ApiError::Unauthorized(
                "the admin API needs the server's admin token: send `Authorization: Bearer \
                 <admin token>`"
                    .into(),
            ))
        }
    }
}

/// The security schemes in the spec: `api_key` on every tenant route, `admin_token` on the
/// admin API, each with its 401 (and the admin API's 403) documented once here rather than on
/// every handler.
pub struct AccessDoc;

impl Modify for AccessDoc {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sk_…")
                    .description(Some(
                        "An API key of a tenant, made with `saddle keys create --tenant NAME` or \
                         POST /v1/admin/keys. Not needed when the server runs with auth off \
                         (the default when it listens on a loopback address).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The server's --admin-token (SADDLE_ADMIN_TOKEN)."))
                    .build(),
            ),
        );
        let key_refused = problem_doc(
            "No valid API key: missing, unknown or revoked (only when keys are required)",
            json!({"type": "urn:saddle:problem:unauthorized", "title": "Authentication required", "status": 401,
                   "detail": "the API key is not valid: it is unknown or was revoked; ask an administrator for a key"}),
        );
        let admin_refused = problem_doc(
            "No or a wrong admin token",
            json!({"type": "urn:saddle:problem:unauthorized", "title": "Authentication required", "status": 401,
                   "detail": "the admin API needs the server's admin token: send `Authorization: Bearer <admin token>`"}),
        );
        let admin_off = problem_doc(
            "The server has no admin token",
            json!({"type": "urn:saddle:problem:forbidden", "title": "Not allowed on this server", "status": 403,
                   "detail": "the admin API is off on this server: start it with --admin-token (or SADDLE_ADMIN_TOKEN), or manage keys with `saddle keys`"}),
        );
        let mut challenge = Header::new(ObjectBuilder::new().schema_type(Type::String));
        challenge.description = Some("`Bearer`".into());
        for (name, response) in [
            ("Unauthorized", with_header(key_refused, &challenge)),
            ("AdminUnauthorized", with_header(admin_refused, &challenge)),
            ("AdminDisabled", admin_off),
        ] {
            components.responses.insert(name.into(), response.into());
        }
        let reference = |name: &str| RefOr::Ref(Ref::from_response_name(name));
        for (path, item) in openapi.paths.paths.iter_mut() {
            let admin = path.starts_with("/v1/admin/");
            if !admin && !is_tenant_route(path) {
                continue;
            }
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut operation.responses.responses;
                if admin {
                    operation.security = Some(vec![SecurityRequirement::new(
                        "admin_token",
                        Vec::<String>::new(),
                    )]);
                    responses.insert("401".into(), reference("AdminUnauthorized"));
                    responses.insert("403".into(), reference("AdminDisabled"));
                } else {
                    operation.security = Some(vec![SecurityRequirement::new(
                        "api_key",
                        Vec::<String>::new(),
                    )]);
                    responses.insert("401".into(), reference("Unauthorized"));
                }
            }
        }
    }
}

/// `response` with the `WWW-Authenticate: Bearer` challenge documented.
fn with_header(
    mut response: utoipa::openapi::Response,
    challenge: &Header,
) -> utoipa::openapi::Response {
    response
        .headers
        .insert("WWW-Authenticate".into(), challenge.clone());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_routes_are_the_v1_api_but_not_admin_or_public_pages() {
        assert!(is_tenant_route("/v1/jobs"));
        assert!(is_tenant_route("/v1/functions"));
        assert!(!is_tenant_route("/v1/admin/keys"));
        assert!(!is_tenant_route("/healthz"));
        assert!(!is_tenant_route("/openapi.json"));
        assert!(!is_tenant_route("/"));
    }
}
