//! The `idempotency` table: the first answer to a request sent with an `Idempotency-Key`,
//! kept per tenant for a while so a retry gets it again instead of creating a second resource.

use std::time::Duration;

use super::{now, on_pool, on_tx, Store, StoreError};
use crate::tenant::Tenant;

/// A stored answer, replayed as it was.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// The `Location` header, if any.
    pub location: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// What a request with an `Idempotency-Key` finds.
#[derive(Debug)]
pub enum IdempotencyClaim {
    /// The key was free: this request runs, and must [complete] or [release] it.
    ///
    /// [complete]: Store::complete_idempotency_key
    /// [release]: Store::release_idempotency_key
    Claimed,
    /// A request with the same key and fingerprint was answered: this is its answer.
    Replay(StoredResponse),
    /// A request with the same key and fingerprint is still running.
    InFlight,
    /// The key was used for a different request.
    Mismatch,
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Store {
    /// Takes `key` for a request with fingerprint `request_hash`, or says why not. Expired
    /// records (older than their `keep`) are purged first, so the table stays bounded by the
    /// traffic of one period. The check and the claim are one write transaction: of two
    /// concurrent requests with the same key, exactly one gets [`IdempotencyClaim::Claimed`].
    pub async fn claim_idempotency_key(
        &self,
        tenant: &Tenant,
        key: &str,
        request_hash: &[u8],
        keep: Duration,
    ) -> Result<IdempotencyClaim, StoreError> {
        let now_unix = unix_now();
        // Per tenant and key: two requests with the same key take turns here.
        let mut tx = self
            .begin_write(Some(&format!("idempotency:{}:{key}", tenant.as_str())))
            .await?;
        on_tx!(tx, c => sqlx::query("DELETE FROM idempotency WHERE expires_at <= $1")
            .bind(now_unix)
            .execute(c)
            .await?.rows_affected());
        type Found = (
            Vec<u8>,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<Vec<u8>>,
        );
        let found: Option<Found> = on_tx!(tx, c => sqlx::query_as(
            "SELECT request_hash, status, location, content_type, body FROM idempotency \
             WHERE tenant = $1 AND idempotency_key = $2",
        )
        .bind(tenant.as_str())
        .bind(key)
        .fetch_optional(c)
        .await?);
        let claim = match found {
            None => {
                on_tx!(tx, c => sqlx::query(
                    "INSERT INTO idempotency (tenant, idempotency_key, request_hash, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(tenant.as_str())
                .bind(key)
                .bind(request_hash)
                .bind(now())
                .bind(now_unix.saturating_add(keep.as_secs() as i64))
                .execute(c)
                .await?.rows_affected());
                IdempotencyClaim::Claimed
            }
            Some((hash, _, _, _, _)) if hash != request_hash => IdempotencyClaim::Mismatch,
            Some((_, None, _, _, _)) => IdempotencyClaim::InFlight,
            Some((_, Some(status), location, content_type, body)) => {
                IdempotencyClaim::Replay(StoredResponse {
                    status: u16::try_from(status)
                        .map_err(|_| StoreError::Corrupt(format!("stored status {status}")))?,
                    location,
                    content_type,
                    body: body.unwrap_or_default(),
                })
            }
        };
        tx.commit().await?;
        Ok(claim)
    }

    /// Stores the answer to the request that claimed `key`.
    pub async fn complete_idempotency_key(
        &self,
        tenant: &Tenant,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query(
            "UPDATE idempotency SET status = $1, location = $2, content_type = $3, body = $4 \
             WHERE tenant = $5 AND idempotency_key = $6 AND status IS NULL",
        )
        .bind(i64::from(response.status))
        .bind(response.location.as_deref())
        .bind(response.content_type.as_deref())
        .bind(&response.body)
        .bind(tenant.as_str())
        .bind(key)
        .execute(p)
        .await?.rows_affected());
        Ok(())
    }

    /// Frees a claimed `key` whose request created nothing, so it can be used again.
    pub async fn release_idempotency_key(
        &self,
        tenant: &Tenant,
        key: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query(
            "DELETE FROM idempotency WHERE tenant = $1 AND idempotency_key = $2 AND status IS NULL",
        )
        .bind(tenant.as_str())
        .bind(key)
        .execute(p)
        .await?.rows_affected());
        Ok(())
    }

    /// Frees every key a previous process left in flight: no request survives a restart.
    pub async fn release_abandoned_idempotency_keys(&self) -> Result<u64, StoreError> {
        Ok(
            on_pool!(self, p => sqlx::query("DELETE FROM idempotency WHERE status IS NULL")
            .execute(p)
            .await?
            .rows_affected()),
        )
    }
}
