//! The `dataset` table: uploaded and generated datasets, their statistics and their values.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{now, Store, StoreError};
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

fn names(row: &SqliteRow, column: &str) -> Result<Vec<String>, StoreError> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn dataset_from_row(row: &SqliteRow) -> Result<DatasetRow, StoreError> {
    Ok(DatasetRow {
        seq: row.try_get("dataset_seq")?,
        dataset_id: row.try_get("dataset_id")?,
        name: row.try_get("name")?,
        rows: row.try_get("rows")?,
        columns: row.try_get("columns")?,
        feature_names: names(row, "feature_names")?,
        target_names: names(row, "target_names")?,
        summary: row.try_get("summary")?,
        created_at: row.try_get("created_at")?,
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
        let row = sqlx::query(&format!(
            "INSERT INTO dataset (dataset_id, tenant, name, rows, columns, feature_names, target_names, summary, features, targets, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {DATASET_COLUMNS}"
        ))
        .bind(data.dataset_id)
        .bind(data.tenant.as_str())
        .bind(data.name)
        .bind(data.rows)
        .bind(columns)
        .bind(json(data.feature_names)?)
        .bind(json(data.target_names)?)
        .bind(data.summary)
        .bind(to_blob(data.features))
        .bind(to_blob(data.targets))
        .bind(now())
        .fetch_one(&self.pool)
        .await?;
        dataset_from_row(&row)
    }

    /// Reads the description of one of `tenant`'s datasets by its public id.
    pub async fn get_dataset(
        &self,
        tenant: &Tenant,
        dataset_id: &str,
    ) -> Result<DatasetRow, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DATASET_COLUMNS} FROM dataset WHERE dataset_id = ? AND tenant = ?"
        ))
        .bind(dataset_id)
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found(dataset_id))?;
        dataset_from_row(&row)
    }

    /// Reads the description and values of one of `tenant`'s datasets by its public id.
    pub async fn load_dataset(
        &self,
        tenant: &Tenant,
        dataset_id: &str,
    ) -> Result<(DatasetRow, DatasetValues), StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DATASET_COLUMNS}, features, targets FROM dataset WHERE dataset_id = ? AND tenant = ?"
        ))
        .bind(dataset_id)
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found(dataset_id))?;
        let meta = dataset_from_row(&row)?;
        let n = meta.rows as usize;
        let features: Vec<u8> = row.try_get("features")?;
        let targets: Vec<u8> = row.try_get("targets")?;
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
        let rows = sqlx::query(&format!(
            "SELECT {DATASET_COLUMNS} FROM dataset \
             WHERE tenant = ?3 AND (?1 IS NULL OR dataset_seq < ?1) \
             ORDER BY dataset_seq DESC LIMIT ?2"
        ))
        .bind(before_seq)
        .bind(limit + 1)
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(dataset_from_row).collect()
    }

    /// Deletes one of `tenant`'s datasets unless a queued or running job uses it. Returns the ids of the jobs
    /// that use it (and so kept it) — empty when it was deleted.
    pub async fn delete_unused_dataset(
        &self,
        tenant: &Tenant,
        dataset_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        // The write lock up front: no job can be queued on the dataset between the check and
        // the delete.
        let mut tx = self.begin_write().await?;
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT dataset_seq FROM dataset WHERE dataset_id = ? AND tenant = ?",
        )
        .bind(dataset_id)
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_none() {
            return Err(not_found(dataset_id));
        }
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT job_id FROM job WHERE dataset_id = ? AND status IN ('queued', 'running') \
             ORDER BY job_seq LIMIT 10",
        )
        .bind(dataset_id)
        .fetch_all(&mut *tx)
        .await?;
        if users.is_empty() {
            sqlx::query("DELETE FROM dataset WHERE dataset_id = ?")
                .bind(dataset_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(users)
    }
}
