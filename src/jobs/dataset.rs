//! Datasets between the numeric core and the store: saving a validated [`Dataset`] with its
//! statistics, and loading one back for a job.

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use saddle_numeric::data::Dataset;

use crate::float::Float;
use crate::store::{DatasetRow, NewDataset, Store, StoreError};
use crate::tenant::Tenant;

/// Statistics of one column (the standard deviation divides by n).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"name": "x1", "min": -1.2, "max": 2.3, "mean": 0.5, "std": 0.87}))]
pub struct ColumnStats {
    /// The column's name.
    pub name: String,
    /// Smallest value.
    pub min: Float,
    /// Largest value.
    pub max: Float,
    /// Mean.
    pub mean: Float,
    /// Population standard deviation.
    pub std: Float,
}

/// Rows per class label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"label": 1, "count": 100}))]
pub struct ClassCount {
    /// The label.
    pub label: u64,
    /// Rows carrying it.
    pub count: u64,
}

/// Per-column statistics of a dataset and, for integer labels, the count of each class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "features": [{"name": "x1", "min": -1.2, "max": 2.3, "mean": 0.5, "std": 0.87},
                 {"name": "x2", "min": -0.7, "max": 1.2, "mean": 0.25, "std": 0.5}],
    "targets": [{"name": "label", "min": 0.0, "max": 1.0, "mean": 0.5, "std": 0.5}],
    "class_counts": [{"label": 0, "count": 100}, {"label": 1, "count": 100}]
}))]
pub struct DatasetStats {
    /// One entry per feature column, in order.
    pub features: Vec<ColumnStats>,
    /// One entry per target column, in order.
    pub targets: Vec<ColumnStats>,
    /// Rows per class, when the single target column holds non-negative integer labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_counts: Option<Vec<ClassCount>>,
}

impl DatasetStats {
    /// The statistics of `data`.
    pub fn of(data: &Dataset) -> Self {
        let summary = data.summary();
        let columns = |cs: Vec<saddle_numeric::data::ColumnSummary>| {
            cs.into_iter()
                .map(|c| ColumnStats {
                    name: c.name,
                    min: Float(c.min),
                    max: Float(c.max),
                    mean: Float(c.mean),
                    std: Float(c.std),
                })
                .collect()
        };
        Self {
            features: columns(summary.features),
            targets: columns(summary.targets),
            class_counts: summary.class_counts.map(|cs| {
                cs.into_iter()
                    .map(|c| ClassCount {
                        label: c.label,
                        count: c.count,
                    })
                    .collect()
            }),
        }
    }
}

/// Stores `data` under a new id with its statistics (computed by the caller with
/// [`DatasetStats::of`], off the async runtime for large sets).
pub async fn save_dataset(
    store: &Store,
    tenant: &Tenant,
    name: Option<&str>,
    data: &Dataset,
    stats: &DatasetStats,
) -> Result<DatasetRow, StoreError> {
    let stats = serde_json::to_string(stats).expect("statistics serialize");
    let dataset_id = uuid::Uuid::new_v4().to_string();
    let features = data.features().as_standard_layout();
    let targets = data.targets().as_standard_layout();
    store
        .insert_dataset(NewDataset {
            dataset_id: &dataset_id,
            tenant,
            name,
            rows: data.rows() as i64,
            feature_names: data.feature_names(),
            target_names: data.target_names(),
            summary: &stats,
            features: features.as_slice().expect("standard layout"),
            targets: targets.as_slice().expect("standard layout"),
        })
        .await
}

/// Loads one of `tenant`'s stored datasets for a run (another tenant's is not found).
pub async fn load_dataset(
    store: &Store,
    tenant: &Tenant,
    dataset_id: &str,
) -> Result<Dataset, StoreError> {
    let (row, values) = store.load_dataset(tenant, dataset_id).await?;
    let n = row.rows as usize;
    let corrupt = |e: String| StoreError::Corrupt(format!("dataset `{dataset_id}`: {e}"));
    let features = Array2::from_shape_vec((n, row.feature_names.len()), values.features)
        .map_err(|e| corrupt(e.to_string()))?;
    let targets = Array2::from_shape_vec((n, row.target_names.len()), values.targets)
        .map_err(|e| corrupt(e.to_string()))?;
    Dataset::with_names(features, targets, row.feature_names, row.target_names)
        .map_err(|e| corrupt(e.to_string()))
}
