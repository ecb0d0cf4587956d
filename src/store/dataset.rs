//! The `dataset` table: uploaded and generated datasets, their statistics and their values.

use super::rows::Fields;
use super::{names_no_row, now, on_pool, on_tx, Store, StoreError};
use crate::tenant::Tenant;

/// A dataset's description as stored, without its values.
#[derive(Debug, Clone)]
pub struct DatasetRow {
    /// Upload order; internal key for pagination.
    pub seq: i64,
    /// Public id.
    pub dataset_id: String,
    /// Optional client-given name.
    pub name: Option<String>,
    /// n.
    pub rows: i64,
    /// d + k.
    pub columns: i64,
    /// The feature columns' names (d).
    pub feature_names: Vec<String>,
    /// The target columns' names (k).
    pub target_names: Vec<String>,
    /// Per-column statistics and class counts, as JSON.
    pub summary: String,
    /// Upload time.
    pub created_at: String,
}

/// A dataset's values: row-major matrices, decoded from their little-endian BLOBs.
#[derive(Debug, Clone)]
pub struct DatasetValues {
    /// n·d feature values, row-major.
    pub features: Vec<f64>,
    /// n·k target values, row-major.
    pub targets: Vec<f64>,
}

/// What an upload stores.
pub struct NewDataset<'a> {
    /// Public id.
    pub dataset_id: &'a str,
    /// The owner.
    pub tenant: &'a Tenant,
    /// Optional name.
    pub name: Option<&'a str>,
    /// n.
    pub rows: i64,
    /// The feature columns' names.
    pub feature_names: &'a [String],
    /// The target columns' names.
    pub target_names: &'a [String],
    /// Statistics as JSON.
    pub summary: &'a str,
    /// n·d feature values, row-major.
    pub features: &'a [f64],
    /// n·k target values, row-major.
    pub targets: &'a [f64],
}

const DATASET_COLUMNS: &str =
    "dataset_seq, dataset_id, name, rows, columns, feature_names, target_names, summary, created_at";

fn names(row: &impl Fields, column: &str) -> Result<Vec<String>, StoreError> {
    let text = row.text(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn dataset_from_row(row: &impl Fields) -> Result<DatasetRow, StoreError> {
    Ok(DatasetRow {
        seq: row.int("dataset_seq")?,
        dataset_id: row.text("dataset_id")?,
        name: row.opt_text("name")?,
        rows: row.int("rows")?,
        columns: row.int("columns")?,
        feature_names: names(row, "feature_names")?,
        target_names: names(row, "target_names")?,
        summary: row.text("summary")?,
        created_at: row.text("created_at")?,
    })
}

fn to_blob(values: &[f64]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(values.len() * 8);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

fn from_blob(bytes: &[u8], expected: usize, what: &str) -> Result<Vec<f64>, StoreError> {
    if bytes.len() != expected * 8 {
        return Err(StoreError::Corrupt(format!(
            "dataset {what}: {} bytes, expected {}",
            bytes.len(),
            expected * 8
        )));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

fn not_found(dataset_id: &str) -> StoreError {
    StoreError::NotFound(format!("no dataset with id `{dataset_id}`"))
}

impl Store {
    /// Stores a new dataset with its values.
    pub async fn insert_dataset(&self, data: NewDataset<'_>) -> Result<DatasetRow, StoreError> {
        let json = |names: &[String]| {
            serde_json::to_string(names).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        let columns = (data.feature_names.len() + data.target_names.len()) as i64;
        let sql = format!(
            "INSERT INTO dataset (dataset_id, tenant, name, rows, columns, feature_names, target_names, summary, features, targets, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {DATASET_COLUMNS}"
        );
        let (features, targets) = (to_blob(data.features), to_blob(data.targets));
        let (feature_names, target_names) = (json(data.feature_names)?, json(data.target_names)?);
        on_pool!(self, p => sqlx::query(&sql)
        .bind(data.dataset_id)
        .bind(data.tenant.as_str())
        .bind(data.name)
        .bind(data.rows)
        .bind(columns)
        .bind(&feature_names)
        .bind(&target_names)
        .bind(data.summary)
        .bind(&features)
        .bind(&targets)
        .bind(now())
        .fetch_one(p)
        .await
        .map(|row| dataset_from_row(&row))?)
    }

    /// Reads the description of one of `tenant`'s datasets by its public id.
    pub async fn get_dataset(
        &self,
        tenant: &Tenant,
        dataset_id: &str,
    ) -> Result<DatasetRow, StoreError> {
        if names_no_row(dataset_id) {
            return Err(not_found(dataset_id));
        }
        let sql =
            format!("SELECT {DATASET_COLUMNS} FROM dataset WHERE dataset_id = $1 AND tenant = $2");
        on_pool!(self, p => sqlx::query(&sql)
        .bind(dataset_id)
        .bind(tenant.as_str())
        .fetch_optional(p)
        .await?
        .as_ref()
        .map(dataset_from_row))
        .transpose()?
        .ok_or_else(|| not_found(dataset_id))
    }

    /// Reads the description and values of one of `tenant`'s datasets by its public id.
    pub async fn load_dataset(
        &self,
        tenant: &Tenant,
        dataset_id: &str,
    ) -> Result<(DatasetRow, DatasetValues), StoreError> {
        if names_no_row(dataset_id) {
            return Err(not_found(dataset_id));
        }
        let sql = format!(
            "SELECT {DATASET_COLUMNS}, features, targets FROM dataset WHERE dataset_id = $1 AND tenant = $2"
        );
        let (meta, features, targets) = on_pool!(self, p => {
            let row = sqlx::query(&sql)
                .bind(dataset_id)
                .bind(tenant.as_str())
                .fetch_optional(p)
                .await?
                .ok_or_else(|| not_found(dataset_id))?;
            (dataset_from_row(&row)?, row.blob("features")?, row.blob("targets")?)
        });
        let n = meta.rows as usize;
        let values = DatasetValues {
            features: from_blob(&features, n * meta.feature_names.len(), "features")?,
            targets: from_blob(&targets, n * meta.target_names.len(), "targets")?,
        };
        Ok((meta, values))
    }

    /// Lists `tenant`'s datasets newest first, before the keyset position `before_seq`;
    /// returns up to `limit + 1` rows so the caller can tell whether another page follows.
    pub async fn list_datasets(
        &self,
        tenant: &Tenant,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DatasetRow>, StoreError> {
        let sql = format!(
            "SELECT {DATASET_COLUMNS} FROM dataset \
             WHERE tenant = $3 AND ($1 IS NULL OR dataset_seq < $1) \
             ORDER BY dataset_seq DESC LIMIT $2"
        );
        on_pool!(self, p => sqlx::query(&sql)
        .bind(before_seq)
        .bind(limit + 1)
        .bind(tenant.as_str())
        .fetch_all(p)
        .await?
        .iter()
        .map(dataset_from_row)
        .collect())
    }

    /// Deletes one of `tenant`'s datasets unless a queued or running job uses it. Returns the ids of the jobs
    /// that use it (and so kept it) — empty when it was deleted.
    pub async fn delete_unused_dataset(
        &self,
        tenant: &Tenant,
        dataset_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        if names_no_row(dataset_id) {
            return Err(not_found(dataset_id));
        }
        // The tenant's lock up front (the job submissions of the tenant take it too): no job
        // can be queued on the dataset between the check and the delete.
        let mut tx = self.begin_write(Some(tenant.as_str())).await?;
        let exists: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(
            "SELECT dataset_seq FROM dataset WHERE dataset_id = $1 AND tenant = $2",
        )
        .bind(dataset_id)
        .bind(tenant.as_str())
        .fetch_optional(c)
        .await?);
        if exists.is_none() {
            return Err(not_found(dataset_id));
        }
        let users: Vec<String> = on_tx!(tx, c => sqlx::query_scalar(
            "SELECT job_id FROM job WHERE dataset_id = $1 AND status IN ('queued', 'running') \
             ORDER BY job_seq LIMIT 10",
        )
        .bind(dataset_id)
        .fetch_all(c)
        .await?);
        if users.is_empty() {
            on_tx!(tx, c => sqlx::query("DELETE FROM dataset WHERE dataset_id = $1")
                .bind(dataset_id)
                .execute(c)
                .await?.rows_affected());
        }
        tx.commit().await?;
        Ok(users)
    }
}
