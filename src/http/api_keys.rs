//! `/v1/admin/keys`: create, list and revoke API keys, guarded by the admin token.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AdminAccess;
use super::respond;
use super::{ApiJson, AppState};
use crate::error::{ApiError, Problem};
use crate::store::ApiKeyRow;
use crate::tenant::{create_api_key, Tenant};

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tenant": "acme"}))]
pub struct CreateApiKeyRequest {
    /// The tenant the key acts for: 1 to 64 ASCII letters, digits, `-`, `_` or `.`. A new name
    /// makes a new tenant.
    pub tenant: String,
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "5f0c8a52-1b7e-4c1a-9d3e-0a4f6b2c7e90", "tenant": "acme",
                          "key_prefix": "sk_Q2x9v", "created_at": "2026-11-30T09:00:00.000000Z"}))]
pub struct ApiKeyResponse {
    /// The key's id, for revoking it.
    pub id: String,
    /// The tenant it acts for.
    pub tenant: String,
    /// The key's first characters, to recognise it.
    pub key_prefix: String,
    /// Creation time.
    pub created_at: String,
    /// When it was revoked; a revoked key is refused with a 401.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl From<ApiKeyRow> for ApiKeyResponse {
    fn from(row: ApiKeyRow) -> Self {
        Self {
            id: row.api_key_id,
            tenant: row.tenant,
            key_prefix: row.key_prefix,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// A new API key with its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "5f0c8a52-1b7e-4c1a-9d3e-0a4f6b2c7e90", "tenant": "acme",
                          "key": "sk_Q2x9vR0m3kH1cZ8nT5pW7yA4bE6dG2fJ9sL0uV3xY1w",
                          "key_prefix": "sk_Q2x9v", "created_at": "2026-11-30T09:00:00.000000Z"}))]
pub struct CreatedApiKeyResponse {
    /// The key's id, for revoking it.
    pub id: String,
    /// The tenant it acts for.
    pub tenant: String,
    /// The secret: send it as `Authorization: Bearer <key>`. Only its hash is stored: it cannot
    /// be shown again.
    pub key: String,
    /// The key's first characters, as listings show them.
    pub key_prefix: String,
    /// Creation time.
    pub created_at: String,
}

/// Every API key.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"keys": [{"id": "5f0c8a52-1b7e-4c1a-9d3e-0a4f6b2c7e90", "tenant": "acme",
                                    "key_prefix": "sk_Q2x9v", "created_at": "2026-11-30T09:00:00.000000Z"}]}))]
pub struct ApiKeyListResponse {
    /// The keys, oldest first, revoked ones included.
    pub keys: Vec<ApiKeyResponse>,
}

/// Create an API key for a tenant.
///
/// The answer carries the key itself, once; the server keeps only its SHA-256.
#[utoipa::path(
    post,
    path = "/v1/admin/keys",
    tag = "admin",
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "The key was created; its secret is in `key`", body = CreatedApiKeyResponse,
         headers(("Location" = String, description = "Where to revoke the key (DELETE)"))),
        (status = 422, description = "The tenant name is not valid", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:validation", "title": "The request is not valid", "status": 422,
                          "detail": "tenant: a tenant name is 1 to 64 ASCII letters, digits, `-`, `_` or `.`, got `a b`",
                          "errors": [{"field": "tenant", "message": "a tenant name is 1 to 64 ASCII letters, digits, `-`, `_` or `.`, got `a b`"}]}))
    )
)]
pub async fn create_key(
    _admin: AdminAccess,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateApiKeyRequest>,
) -> Result<Response, ApiError> {
    let tenant = Tenant::parse(&request.tenant).map_err(|m| ApiError::invalid("tenant", m))?;
    let (row, key) = create_api_key(&state.store, &tenant).await?;
    tracing::info!(key_id = %row.api_key_id, tenant = %tenant, "API key created");
    let location = format!("/v1/admin/keys/{}", row.api_key_id);
    let body = CreatedApiKeyResponse {
        id: row.api_key_id,
        tenant: row.tenant,
        key,
        key_prefix: row.key_prefix,
        created_at: row.created_at,
    };
    Ok(respond::created(location, body))
}

/// List every API key, without secrets.
#[utoipa::path(
    get,
    path = "/v1/admin/keys",
    tag = "admin",
    responses(
        (status = 200, description = "The keys", body = ApiKeyListResponse)
    )
)]
pub async fn list_keys(
    _admin: AdminAccess,
    State(state): State<AppState>,
) -> Result<Json<ApiKeyListResponse>, ApiError> {
    let keys = state.store.list_api_keys().await?;
    Ok(Json(ApiKeyListResponse {
        keys: keys.into_iter().map(Into::into).collect(),
    }))
}

/// Revoke an API key: requests with it are refused from now on (idempotent).
#[utoipa::path(
    delete,
    path = "/v1/admin/keys/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "The key is revoked"),
        (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:not-found", "title": "No such resource", "status": 404,
                          "detail": "no API key with id `42`"}))
    )
)]
pub async fn revoke_key(
    _admin: AdminAccess,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let row = state.store.revoke_api_key(&id).await?;
    tracing::info!(key_id = %row.api_key_id, tenant = %row.tenant, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}
