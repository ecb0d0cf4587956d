//! The `api_key` table: keys stored as hashes, looked up per request, revocable.

use super::rows::Fields;
use super::{names_no_row, now, on_pool, Store, StoreError};
use crate::tenant::Tenant;

/// An API key as listed: everything but the secret, which is not stored.
#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    /// Public id, for revoking.
    pub api_key_id: String,
    /// The tenant the key acts for.
    pub tenant: String,
    /// The key's first characters.
    pub key_prefix: String,
    /// Creation time.
    pub created_at: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

/// Who a request acts for.
#[derive(Debug, Clone)]
pub struct KeyOwner {
    /// The public id of the key that authenticated it (`None` with auth off).
    pub api_key_id: Option<String>,
    /// Its tenant.
    pub tenant: Tenant,
}

const API_KEY_COLUMNS: &str = "api_key_id, tenant, key_prefix, created_at, revoked_at";

fn api_key_from_row(row: &impl Fields) -> Result<ApiKeyRow, StoreError> {
    Ok(ApiKeyRow {
        api_key_id: row.text("api_key_id")?,
        tenant: row.text("tenant")?,
        key_prefix: row.text("key_prefix")?,
        created_at: row.text("created_at")?,
        revoked_at: row.opt_text("revoked_at")?,
    })
}

impl Store {
    /// Stores a new key for `tenant` by its hash.
    pub async fn insert_api_key(
        &self,
        api_key_id: &str,
        tenant: &Tenant,
        key_hash: &[u8],
        key_prefix: &str,
    ) -> Result<ApiKeyRow, StoreError> {
        let sql = format!(
            "INSERT INTO api_key (api_key_id, tenant, key_hash, key_prefix, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {API_KEY_COLUMNS}"
        );
        on_pool!(self, p => sqlx::query(&sql)
        .bind(api_key_id)
        .bind(tenant.as_str())
        .bind(key_hash)
        .bind(key_prefix)
        .bind(now())
        .fetch_one(p)
        .await
        .map(|row| api_key_from_row(&row))?)
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_key ORDER BY api_key_seq");
        on_pool!(self, p => sqlx::query(&sql)
        .fetch_all(p)
        .await?
        .iter()
        .map(api_key_from_row)
        .collect())
    }

    /// Revokes a key (idempotent) and returns it.
    pub async fn revoke_api_key(&self, api_key_id: &str) -> Result<ApiKeyRow, StoreError> {
        if names_no_row(api_key_id) {
            return Err(StoreError::NotFound(format!(
                "no API key with id `{api_key_id}`"
            )));
        }
        let sql = format!(
            "UPDATE api_key SET revoked_at = COALESCE(revoked_at, $1) WHERE api_key_id = $2 \
             RETURNING {API_KEY_COLUMNS}"
        );
        on_pool!(self, p => sqlx::query(&sql)
        .bind(now())
        .bind(api_key_id)
        .fetch_optional(p)
        .await?
        .as_ref()
        .map(api_key_from_row))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("no API key with id `{api_key_id}`")))
    }

    /// The owner of the live (not revoked) key with this hash.
    pub async fn key_owner(&self, key_hash: &[u8]) -> Result<Option<KeyOwner>, StoreError> {
        let row: Option<(String, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT api_key_id, tenant FROM api_key WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(p)
        .await?);
        Ok(row.map(|(api_key_id, tenant)| KeyOwner {
            api_key_id: Some(api_key_id),
            tenant: Tenant::stored(tenant),
        }))
    }
}
