//! Datasets for learning problems: validation, summary statistics, a streaming CSV reader and
//! seeded synthetic generators.
//!
//! Row numbers in errors are 1-based data rows: the CSV header is not counted (row 1 is the
//! first line after the header), and for in-memory rows row 1 is `features[0]`.

mod csv;
mod generate;
pub mod rng;

use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

pub use csv::{read_csv, write_csv, CsvLimits};
pub use generate::{generate, GeneratorConfig, MAX_GENERATED_ROWS};

/// Which limit of [`CsvLimits`] an upload exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Data rows.
    Rows,
    /// Columns of the header.
    Columns,
    /// Bytes of input.
    Bytes,
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitKind::Rows => "rows",
            LimitKind::Columns => "columns",
            LimitKind::Bytes => "bytes",
        })
    }
}

/// Why a dataset was rejected. Each variant names the row (1-based data row) and the column,
/// so a client can find the cell.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// The input has no header, no data rows or no feature columns.
    #[error("the dataset is empty: {0}")]
    Empty(String),
    /// A row has a different number of cells than the header / the first row.
    #[error("row {row} has {got} cells, expected {expected}")]
    Ragged {
        /// 1-based data row.
        row: usize,
        /// Cells the header (or first row) has.
        expected: usize,
        /// Cells this row has.
        got: usize,
    },
    /// A cell is empty.
    #[error("row {row}, column `{column}`: the cell is empty")]
    EmptyCell {
        /// 1-based data row.
        row: usize,
        /// Column name.
        column: String,
    },
    /// A cell is not a number.
    #[error("row {row}, column `{column}`: `{cell}` is not a number")]
    NotNumeric {
        /// 1-based data row.
        row: usize,
        /// Column name.
        column: String,
        /// The cell's text (at most 40 characters).
        cell: String,
    },
    /// A cell is NaN or infinite.
    #[error("row {row}, column `{column}`: {value} is not a finite number")]
    NonFinite {
        /// 1-based data row.
        row: usize,
        /// Column name.
        column: String,
        /// The value.
        value: f64,
    },
    /// The header is malformed (an empty or duplicated name, an unterminated quote).
    #[error("header: {0}")]
    BadHeader(String),
    /// A row could not be split into cells (an unterminated quote).
    #[error("row {row}: {message}")]
    BadRow {
        /// 1-based data row.
        row: usize,
        /// What is wrong.
        message: String,
    },
    /// A requested target column is not in the header.
    #[error("unknown target column `{column}`; the header has: {available}")]
    UnknownTargetColumn {
        /// The requested name.
        column: String,
        /// The header's names, comma-separated.
        available: String,
    },
    /// Features and targets disagree on the number of rows.
    #[error("features have {features} rows but targets have {targets}")]
    RowMismatch {
        /// Rows of the feature matrix.
        features: usize,
        /// Rows of the target matrix.
        targets: usize,
    },
    /// The input exceeds a configured limit (the HTTP layer answers 413).
    #[error("the dataset exceeds the limit of {max} {limit}")]
    TooLarge {
        /// Which limit.
        limit: LimitKind,
        /// The limit's value.
        max: u64,
    },
    /// The reader failed.
    #[error("reading the input failed: {0}")]
    Io(String),
}

/// A supervised dataset: n rows of d features and k targets, all finite float64.
///
/// Targets are always a matrix (n×k); a single target is one column. k may be 0 for inputs to
/// `predict`. Construct through [`Dataset::new`] or [`Dataset::from_rows`], which validate.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    features: Array2<f64>,
    targets: Array2<f64>,
    feature_names: Vec<String>,
    target_names: Vec<String>,
}

impl Dataset {
    /// Validates and wraps the matrices, naming columns `x1..xd` and `y` (k = 1) or `y1..yk`.
    pub fn new(features: Array2<f64>, targets: Array2<f64>) -> Result<Self, DataError> {
        let feature_names = (1..=features.ncols()).map(|j| format!("x{j}")).collect();
        let target_names = if targets.ncols() == 1 {
            vec!["y".to_string()]
        } else {
            (1..=targets.ncols()).map(|j| format!("y{j}")).collect()
        };
        Self::with_names(features, targets, feature_names, target_names)
    }

    /// Validates and wraps the matrices with the given column names.
    pub fn with_names(
        features: Array2<f64>,
        targets: Array2<f64>,
        feature_names: Vec<String>,
        target_names: Vec<String>,
    ) -> Result<Self, DataError> {
        assert_eq!(
            feature_names.len(),
            features.ncols(),
            "one name per feature"
        );
        assert_eq!(target_names.len(), targets.ncols(), "one name per target");
        let data = Self {
            features,
            targets,
            feature_names,
            target_names,
        };
        data.validate()?;
        Ok(data)
    }

    /// Builds a dataset from rows of features and rows of targets (JSON-shaped input),
    /// rejecting ragged rows and non-finite values.
    pub fn from_rows(features: &[Vec<f64>], targets: &[Vec<f64>]) -> Result<Self, DataError> {
        let n = features.len();
        if n == 0 {
            return Err(DataError::Empty("there are no rows".into()));
        }
        if targets.len() != n {
            return Err(DataError::RowMismatch {
                features: n,
                targets: targets.len(),
            });
        }
        let d = features[0].len();
        let k = targets[0].len();
        let mut xs = Vec::with_capacity(n * d);
        let mut ys = Vec::with_capacity(n * k);
        for (i, (fr, tr)) in features.iter().zip(targets).enumerate() {
            if fr.len() != d {
                return Err(DataError::Ragged {
                    row: i + 1,
                    expected: d,
                    got: fr.len(),
                });
            }
            if tr.len() != k {
                return Err(DataError::Ragged {
                    row: i + 1,
                    expected: k,
                    got: tr.len(),
                });
            }
            xs.extend_from_slice(fr);
            ys.extend_from_slice(tr);
        }
        let features = Array2::from_shape_vec((n, d), xs).expect("n·d values");
        let targets = Array2::from_shape_vec((n, k), ys).expect("n·k values");
        Self::new(features, targets)
    }

    /// Checks: at least one row and one feature column, as many target rows as feature rows,
    /// every value finite.
    pub fn validate(&self) -> Result<(), DataError> {
        if self.features.nrows() == 0 {
            return Err(DataError::Empty("there are no rows".into()));
        }
        if self.features.ncols() == 0 {
            return Err(DataError::Empty("there are no feature columns".into()));
        }
        if self.targets.nrows() != self.features.nrows() {
            return Err(DataError::RowMismatch {
                features: self.features.nrows(),
                targets: self.targets.nrows(),
            });
        }
        for (m, names) in [
            (&self.features, &self.feature_names),
            (&self.targets, &self.target_names),
        ] {
            for ((i, j), &v) in m.indexed_iter() {
                if !v.is_finite() {
                    return Err(DataError::NonFinite {
                        row: i + 1,
                        column: names[j].clone(),
                        value: v,
                    });
                }
            }
        }
        Ok(())
    }

    /// The feature matrix X (n×d).
    pub fn features(&self) -> &Array2<f64> {
        &self.features
    }

    /// The target matrix Y (n×k).
    pub fn targets(&self) -> &Array2<f64> {
        &self.targets
    }

    /// The feature columns' names.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The target columns' names.
    pub fn target_names(&self) -> &[String] {
        &self.target_names
    }

    /// n.
    pub fn rows(&self) -> usize {
        self.features.nrows()
    }

    /// The rows with the given indices, in that order.
    pub fn select_rows(&self, indices: &[usize]) -> Dataset {
        Dataset {
            features: self.features.select(Axis(0), indices),
            targets: self.targets.select(Axis(0), indices),
            feature_names: self.feature_names.clone(),
            target_names: self.target_names.clone(),
        }
    }

    /// Row and column counts, per-column statistics and, when the targets look like class
    /// labels, the count of each class.
    pub fn summary(&self) -> DatasetSummary {
        let column = |m: &Array2<f64>, names: &[String]| -> Vec<ColumnSummary> {
            m.columns()
                .into_iter()
                .zip(names)
                .map(|(c, name)| {
                    let n = c.len() as f64;
                    let mean = c.sum() / n;
                    let var = c.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
                    ColumnSummary {
                        name: name.clone(),
                        min: c.iter().copied().fold(f64::INFINITY, f64::min),
                        max: c.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                        mean,
                        std: var.sqrt(),
                    }
                })
                .collect()
        };
        DatasetSummary {
            rows: self.rows(),
            columns: self.features.ncols() + self.targets.ncols(),
            features: column(&self.features, &self.feature_names),
            targets: column(&self.targets, &self.target_names),
            class_counts: self.class_counts(),
        }
    }

    /// Counts per label when there is one target column of non-negative integers with at most
    /// [`MAX_CLASSES`] distinct values; `None` otherwise (regression targets).
    pub fn class_counts(&self) -> Option<Vec<ClassCount>> {
        if self.targets.ncols() != 1 {
            return None;
        }
        let mut counts: Vec<u64> = Vec::new();
        for &v in self.targets.column(0) {
            if v < 0.0 || v.fract() != 0.0 || v >= MAX_CLASSES as f64 {
                return None;
            }
            let c = v as usize;
            if counts.len() <= c {
                counts.resize(c + 1, 0);
            }
            counts[c] += 1;
        }
        Some(
            counts
                .into_iter()
                .enumerate()
                .filter(|&(_, n)| n > 0)
                .map(|(label, count)| ClassCount {
                    label: label as u64,
                    count,
                })
                .collect(),
        )
    }
}

/// The most classes a label column may have to be treated as labels (and for `softmax`).
pub const MAX_CLASSES: usize = 1000;

/// Statistics of one column: population standard deviation (divides by n).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ColumnSummary {
    /// The column's name.
    pub name: String,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
}

/// How many rows carry one class label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassCount {
    /// The label.
    pub label: u64,
    /// Rows with that label.
    pub count: u64,
}

/// What the datasets endpoint shows about a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatasetSummary {
    /// n.
    pub rows: usize,
    /// d + k.
    pub columns: usize,
    /// One entry per feature column.
    pub features: Vec<ColumnSummary>,
    /// One entry per target column.
    pub targets: Vec<ColumnSummary>,
    /// Rows per class, when the single target column holds integer labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_counts: Option<Vec<ClassCount>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn from_rows_names_the_ragged_row() {
        let err = Dataset::from_rows(
            &[vec![1.0, 2.0], vec![3.0], vec![4.0, 5.0]],
            &[vec![0.0], vec![1.0], vec![0.0]],
        )
        .unwrap_err();
        assert_eq!(
            err,
            DataError::Ragged {
                row: 2,
                expected: 2,
                got: 1
            }
        );
    }

    #[test]
    fn a_nan_feature_is_rejected_with_row_and_column() {
        let err =
            Dataset::new(array![[1.0, 2.0], [f64::NAN, 0.0]], array![[0.0], [1.0]]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "row 2, column `x1`: NaN is not a finite number"
        );
    }

    #[test]
    fn an_empty_dataset_is_rejected() {
        assert!(matches!(
            Dataset::from_rows(&[], &[]),
            Err(DataError::Empty(_))
        ));
    }

    #[test]
    fn summary_reports_column_statistics_and_class_counts() {
        let data = Dataset::new(
            array![[1.0, 10.0], [3.0, 10.0], [5.0, 10.0], [7.0, 10.0]],
            array![[0.0], [1.0], [1.0], [2.0]],
        )
        .unwrap();
        let s = data.summary();
        assert_eq!((s.rows, s.columns), (4, 3));
        let x1 = &s.features[0];
        assert_eq!((x1.min, x1.max, x1.mean), (1.0, 7.0, 4.0));
        assert!((x1.std - 5f64.sqrt()).abs() < 1e-15);
        assert_eq!(s.features[1].std, 0.0);
        let counts: Vec<(u64, u64)> = s
            .class_counts
            .unwrap()
            .iter()
            .map(|c| (c.label, c.count))
            .collect();
        assert_eq!(counts, vec![(0, 1), (1, 2), (2, 1)]);
    }

    #[test]
    fn real_valued_targets_have_no_class_counts() {
        let data = Dataset::new(array![[1.0], [2.0]], array![[0.5], [1.0]]).unwrap();
        assert_eq!(data.summary().class_counts, None);
    }
}
