//! Jobs: validation at submission, the queue, the worker pool that runs optimizations off the
//! async runtime, cancellation, and the history writer.

mod analysis;
mod continuation;
mod dataset;
mod recorder;
mod result;
mod runner;
mod spec;
mod sweep;

pub use analysis::KnownMinimumReport;
pub use continuation::ContinueJobRequest;
pub use dataset::{load_dataset, save_dataset, ClassCount, ColumnStats, DatasetStats};
pub use result::{JobError, JobResult, MetricsReport};
pub use runner::{JobRunner, Lease, MAX_RESUME_ATTEMPTS};
pub use spec::{check_no_nul, JobLimits, JobSpec, PreparedJob, RecordConfig};
pub use sweep::{SweepRequest, MAX_SWEEP_JOBS};

use saddle_numeric::InvalidConfig;

use crate::store::StoreError;

/// Failures of job operations.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// The job specification is not valid.
    #[error(transparent)]
    Invalid(#[from] InvalidConfig),
    /// No job with this id.
    #[error("no job with id `{0}`")]
    NotFound(String),
    /// The job's state forbids the operation.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for JobsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => JobsError::NotFound(what),
            other => JobsError::Store(other),
        }
    }
}
