//! The `api_key` table: keys stored as hashes, looked up per request, revocable.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{now, Store, StoreError};
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

fn api_key_from_row(row: &SqliteRow) -> Result<ApiKeyRow, StoreError> {
    Ok(ApiKeyRow {
        api_key_id: row.try_get("api_key_id")?,
        tenant: row.try_get("tenant")?,
        key_prefix: row.try_get("key_prefix")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
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
        let row = sqlx::query(&format!(
            "INSERT INTO api_key (api_key_id, tenant, key_hash, key_prefix, created_at) \
             VALUES (?, ?, ?, ?, ?) RETURNING {API_KEY_COLUMNS}"
        ))
        .bind(api_key_id)
        .bind(tenant.as_str())
        .bind(key_hash)
        .bind(key_prefix)
        .bind(now())
        .fetch_one(&self.pool)
        .await?;
        api_key_from_row(&row)
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_key ORDER BY api_key_seq"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(api_key_from_row).collect()
    }

    /// Revokes a key (idempotent) and returns it.
    pub async fn revoke_api_key(&self, api_key_id: &str) -> Result<ApiKeyRow, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE api_key SET revoked_at = COALESCE(revoked_at, ?) WHERE api_key_id = ? \
             RETURNING {API_KEY_COLUMNS}"
        ))
        .bind(now())
        .bind(api_key_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no API key with id `{api_key_id}`")))?;
        api_key_from_row(&row)
    }

    /// The owner of the live (not revoked) key with this hash.
    pub async fn key_owner(&self, key_hash: &[u8]) -> Result<Option<KeyOwner>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT api_key_id, tenant FROM api_key WHERE key_hash = ? AND revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(api_key_id, tenant)| KeyOwner {
            api_key_id: Some(api_key_id),
            tenant: Tenant::stored(tenant),
        }))
    }
}
