//! Continuing a finished job: a new job that starts from the old one's final parameters and
//! its whole optimizer, schedule and sampler state, so that the two together are bit for bit
//! one uninterrupted run.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use saddle_numeric::executor::Checkpoint;
use saddle_numeric::problem::Initial;
use saddle_numeric::schedule::ScheduleConfig;
use saddle_numeric::{InvalidConfig, StopRule};

use super::{JobRunner, JobSpec, JobsError};
use crate::store::JobRow;

/// The body of `POST /v1/jobs/{id}/continue`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"steps": 500}))]
#[serde(deny_unknown_fields)]
pub struct ContinueJobRequest {
    /// How many more updates to make.
    pub steps: u64,
    /// A new schedule, started afresh from the optimizer's lr (default: the old schedule
    /// continues where it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleConfig>,
    /// New stopping tolerances (`grad_tol`, `loss_target`, `max_seconds`, `rel_tol`,
    /// `window`); the step budget is `steps`. Default: the old job's tolerances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, example = json!({"grad_tol": 1e-10}))]
    pub stop: Option<serde_json::Value>,
    /// A name for the new job (default: the old one's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tags of the new job (default: the old one's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

impl ContinueJobRequest {
    /// The stopping rule of the continuation.
    fn stop_rule(&self, old: &StopRule) -> Result<StopRule, InvalidConfig> {
        let Some(stop) = &self.stop else {
            return Ok(StopRule {
                max_steps: self.steps,
                ..old.clone()
            });
        };
        let mut fields = stop
            .as_object()
            .cloned()
            .ok_or_else(|| InvalidConfig::new("stop", "must be an object"))?;
        if fields.contains_key("max_steps") {
            return Err(InvalidConfig::new(
                "stop.max_steps",
                "the step budget of a continuation is `steps`; leave max_steps out",
            ));
        }
        fields.insert("max_steps".into(), self.steps.into());
        serde_json::from_value(serde_json::Value::Object(fields))
            .map_err(|e| InvalidConfig::new("stop", e.to_string()))
    }
}

impl JobRunner {
    /// Queues the continuation of a finished job.
    pub async fn continue_job(
        &self,
        job_id: &str,
        request: ContinueJobRequest,
    ) -> Result<JobRow, JobsError> {
        let old = self.store().get_job(job_id).await?;
        if !old.status.is_finished() {
            return Err(JobsError::Conflict(format!(
                "job `{job_id}` is still {}; continue it once it has finished",
                old.status.as_str()
            )));
        }
        let unusable = || {
            JobsError::Conflict(format!(
                "job `{job_id}` has no state to continue from: it {} before its run could end cleanly",
                old.status.as_str()
            ))
        };
        let state = self
            .store()
            .final_state(old.seq)
            .await?
            .ok_or_else(unusable)?;
        let mut checkpoint: Checkpoint = serde_json::from_str(&state).map_err(|_| unusable())?;
        if request.steps == 0 {
            return Err(InvalidConfig::new("steps", "must be at least 1").into());
        }
        let mut spec: JobSpec = serde_json::from_str(&old.spec)
            .map_err(|e| JobsError::Conflict(format!("the stored job cannot be read: {e}")))?;
        spec.stop = request.stop_rule(&spec.stop)?;
        spec.initial = Some(Initial::Vector(checkpoint.params.clone()));
        if let Some(schedule) = request.schedule {
            spec.schedule = Some(schedule);
            checkpoint.schedule = serde_json::Value::Null;
        }
        if let Some(name) = request.name {
            spec.name = Some(name);
        }
        if let Some(tags) = request.tags {
            spec.tags = tags;
        }
        self.submit_with(spec, Some((&old.job_id, &checkpoint)))
            .await
    }
}
