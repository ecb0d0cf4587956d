//! How a finished job is reported: its result and, on failure, its error.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use saddle_numeric::diagnosis::{ConvexityReport, Diagnosis, Episode};
use saddle_numeric::model::Metrics;

use super::analysis::KnownMinimumReport;
use saddle_numeric::{RunOutcome, StopReason};

use crate::float::{floats, Float};

/// The outcome of a run, present once the job has finished (also for cancelled and diverged
/// runs, describing the point where they stopped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "stop_reason": "grad_tol", "steps": 1234,
    "final_loss": 1.2e-17, "final_params": [1.0, 1.0], "final_grad_norm": 9.1e-9,
    "best_loss": 1.2e-17, "best_params": [1.0, 1.0], "best_step": 1234,
    "function_evaluations": 1235, "gradient_evaluations": 1235, "wall_time_seconds": 0.004
}))]
pub struct JobResult {
    /// Why the run stopped.
    pub stop_reason: StopReason,
    /// The number of updates made; the last record is step `steps`.
    pub steps: u64,
    /// f at the final point.
    pub final_loss: Float,
    /// The final point.
    pub final_params: Vec<Float>,
    /// ‖∇f‖₂ at the final point.
    pub final_grad_norm: Float,
    /// The lowest loss seen.
    pub best_loss: Float,
    /// Where the lowest loss was seen.
    pub best_params: Vec<Float>,
    /// The step of the lowest loss.
    pub best_step: u64,
    /// Evaluations of f.
    pub function_evaluations: u64,
    /// Evaluations of ∇f (every evaluation computes both).
    pub gradient_evaluations: u64,
    /// Wall time of the optimization loop, in seconds.
    pub wall_time_seconds: f64,
    /// Model problems: the metrics at the final point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_metrics: Option<MetricsReport>,
    /// What the final point is: local minimum, saddle point (with its index and escape
    /// direction), local maximum, flat region (a plateau) or not stationary, from the
    /// gradient and the Hessian's extreme eigenvalues there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    /// Convex (exact for quadratics and convex models), nonconvex with a witness point where
    /// the Hessian has a negative eigenvalue, or unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convexity: Option<ConvexityReport>,
    /// Distance and gap to the nearest known minimum (builtin functions, quadratics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_minimum: Option<KnownMinimumReport>,
    /// Plateaus along the run (long stretches of tiny gradient norm) and the steps where the
    /// run left them (saddle escapes).
    #[serde(default)]
    pub episodes: Vec<Episode>,
}

impl From<&RunOutcome> for JobResult {
    fn from(o: &RunOutcome) -> Self {
        Self {
            stop_reason: o.stop_reason,
            steps: o.steps,
            final_loss: Float(o.final_loss),
            final_params: floats(&o.final_params),
            final_grad_norm: Float(o.final_grad_norm),
            best_loss: Float(o.best_loss),
            best_params: floats(&o.best_params),
            best_step: o.best_step,
            function_evaluations: o.evaluations,
            gradient_evaluations: o.evaluations,
            wall_time_seconds: o.elapsed.as_secs_f64(),
            final_metrics: o.final_metrics.map(MetricsReport::from),
            diagnosis: None,
            convexity: None,
            known_minimum: None,
            episodes: Vec::new(),
        }
    }
}

/// What went wrong with a failed job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"step": 17, "message": "diverged: the loss is NaN"}))]
pub struct JobError {
    /// The step at which it happened, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// What happened.
    pub message: String,
}

/// Evaluation metrics of a model at one point (without the l2 penalty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"train_loss": 0.21, "train_accuracy": 0.93, "val_loss": 0.25, "val_accuracy": 0.9}))]
pub struct MetricsReport {
    /// Mean loss over the whole training split.
    pub train_loss: Float,
    /// Fraction of correct training predictions (classifiers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f64>,
    /// Mean loss over the validation split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<Float>,
    /// Fraction of correct validation predictions (classifiers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
}

impl From<Metrics> for MetricsReport {
    fn from(m: Metrics) -> Self {
        Self {
            train_loss: Float(m.train_loss),
            train_accuracy: m.train_accuracy,
            val_loss: m.val_loss.map(Float),
            val_accuracy: m.val_accuracy,
        }
    }
}
