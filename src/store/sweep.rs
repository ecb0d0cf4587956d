//! The `sweep` table and the jobs that belong to a sweep.

use super::rows::Fields;
use super::{names_no_row, now, on_pool, JobRow, Store, StoreError};
use crate::tenant::Tenant;

/// A sweep as stored.
#[derive(Debug, Clone)]
pub struct SweepRow {
    /// Creation order; internal key.
    pub seq: i64,
    /// Public id.
    pub sweep_id: String,
    /// Optional name.
    pub name: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// The request, as JSON.
    pub spec: String,
    /// Creation time.
    pub created_at: String,
}

fn sweep_from_row(row: &impl Fields) -> Result<SweepRow, StoreError> {
    let tags = row.text("tags")?;
    Ok(SweepRow {
        seq: row.int("sweep_seq")?,
        sweep_id: row.text("sweep_id")?,
        name: row.opt_text("name")?,
        tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        spec: row.text("spec")?,
        created_at: row.text("created_at")?,
    })
}

const SWEEP_COLUMNS: &str = "sweep_seq, sweep_id, name, tags, spec, created_at";

impl Store {
    /// Stores a new sweep (its jobs are submitted separately and linked with
    /// [`Store::link_job_to_sweep`]).
    pub async fn insert_sweep(
        &self,
        tenant: &Tenant,
        sweep_id: &str,
        name: Option<&str>,
        tags: &[String],
        spec: &str,
    ) -> Result<SweepRow, StoreError> {
        let tags = serde_json::to_string(tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sql = format!(
            "INSERT INTO sweep (tenant, sweep_id, name, tags, spec, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SWEEP_COLUMNS}"
        );
        on_pool!(self, p => sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(sweep_id)
        .bind(name)
        .bind(&tags)
        .bind(spec)
        .bind(now())
        .fetch_one(p)
        .await
        .map(|row| sweep_from_row(&row))?)
    }

    /// Marks a job as part of a sweep.
    pub async fn link_job_to_sweep(&self, job_seq: i64, sweep_id: &str) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query("UPDATE job SET sweep_id = $1 WHERE job_seq = $2")
            .bind(sweep_id)
            .bind(job_seq)
            .execute(p)
            .await?.rows_affected());
        Ok(())
    }

    /// Reads one of `tenant`'s sweeps by its public id.
    pub async fn get_sweep(&self, tenant: &Tenant, sweep_id: &str) -> Result<SweepRow, StoreError> {
        if names_no_row(sweep_id) {
            return Err(StoreError::NotFound(format!(
                "no sweep with id `{sweep_id}`"
            )));
        }
        let sql = format!("SELECT {SWEEP_COLUMNS} FROM sweep WHERE sweep_id = $1 AND tenant = $2");
        on_pool!(self, p => sqlx::query(&sql)
        .bind(sweep_id)
        .bind(tenant.as_str())
        .fetch_optional(p)
        .await?
        .as_ref()
        .map(sweep_from_row))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("no sweep with id `{sweep_id}`")))
    }

    /// Lists `tenant`'s sweeps newest first, `limit + 1` rows from before `before_seq`.
    pub async fn list_sweeps(
        &self,
        tenant: &Tenant,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<SweepRow>, StoreError> {
        let sql = format!(
            "SELECT {SWEEP_COLUMNS} FROM sweep WHERE tenant = $3 AND ($1 IS NULL OR sweep_seq < $1) \
             ORDER BY sweep_seq DESC LIMIT $2"
        );
        on_pool!(self, p => sqlx::query(&sql)
        .bind(before_seq)
        .bind(limit + 1)
        .bind(tenant.as_str())
        .fetch_all(p)
        .await?
        .iter()
        .map(sweep_from_row)
        .collect())
    }

    /// The jobs of one of `tenant`'s sweeps, in submission order.
    pub async fn sweep_jobs(
        &self,
        tenant: &Tenant,
        sweep_id: &str,
    ) -> Result<Vec<JobRow>, StoreError> {
        self.jobs_where(tenant, "sweep_id = $2", sweep_id).await
    }

    /// The first step whose loss is at or below `target`, if the job reached it.
    pub async fn first_step_at_or_below(
        &self,
        job_seq: i64,
        target: f64,
    ) -> Result<Option<i64>, StoreError> {
        Ok(on_pool!(self, p =>
            sqlx::query_scalar("SELECT MIN(step) FROM step WHERE job_seq = $1 AND loss <= $2")
                .bind(job_seq)
                .bind(target)
                .fetch_one(p)
                .await?))
    }
}
