//! What a client asks for: the job specification, and its validation.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use saddle_numeric::clip::ClipConfig;
use saddle_numeric::data::Dataset;
use saddle_numeric::diagnosis::EpisodeConfig;
use saddle_numeric::expr::ExprLimits;
use saddle_numeric::problem::{Initial, ProblemConfig};
use saddle_numeric::schedule::{ScheduleBase, ScheduleConfig};
use saddle_numeric::{InvalidConfig, Objective, OptimizerConfig, StopRule};

/// A job: one optimizer run on one problem. The body of `POST /v1/jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "problem": {"kind": "builtin", "name": "rosenbrock"},
    "initial": [-1.5, 2.0],
    "optimizer": {"name": "adam", "lr": 0.05},
    "stop": {"max_steps": 2000, "grad_tol": 1e-8},
    "record": {"params": true, "every": 1},
    "name": "rosenbrock with adam",
    "tags": ["demo"]
}))]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// What to minimize.
    pub problem: ProblemConfig,
    /// The starting point x₀. Optional for builtin functions (their `default_start`) and
    /// models (`{"init": "torch_default", "seed": 0}`); required for expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<Initial>,
    /// The optimizer and its hyperparameters (torch's names and defaults).
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule (default: constant at the optimizer's lr).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleConfig>,
    /// Gradient clipping, applied to the raw gradient before the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<ClipConfig>,
    /// When to stop (default: after 1000 steps).
    #[serde(default)]
    pub stop: StopRule,
    /// What to record in the history (default: every step with its params).
    #[serde(default)]
    pub record: RecordConfig,
    /// Thresholds of the plateau and saddle-escape detection reported in the result
    /// (default: a plateau is ≥ 20 steps with ‖∇f‖ ≤ 1% of the first gradient norm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodes: Option<EpisodeConfig>,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Labels to filter job listings by.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Which step records to keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"params": true, "every": 1}))]
#[serde(deny_unknown_fields)]
pub struct RecordConfig {
    /// Store x_k with each record (default true).
    #[serde(default = "yes")]
    pub params: bool,
    /// Keep every n-th record (default 1); the first and the last are always kept.
    #[serde(default = "one")]
    pub every: u64,
}

fn yes() -> bool {
    true
}

fn one() -> u64 {
    1
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self {
            params: true,
            every: 1,
        }
    }
}

/// Server-side limits a job must respect.
#[derive(Debug, Clone, Copy)]
pub struct JobLimits {
    /// The largest `stop.max_steps`.
    pub max_steps: u64,
    /// The largest parameter count.
    pub max_params: usize,
    /// The largest `stop.max_seconds`.
    pub max_seconds: f64,
    /// Expression length, nesting depth and tape size.
    pub expr: ExprLimits,
    /// The most queued and running jobs one tenant may have.
    pub max_active_jobs: u64,
    /// Threads one job's evaluations may use (the row shards of a model's large batch).
    pub threads_per_job: usize,
}

/// A validated job, ready to run.
pub struct PreparedJob {
    /// The problem's objective.
    pub objective: Box<dyn Objective>,
    /// x₀ as a flat vector.
    pub x0: Vec<f64>,
}

const MAX_NAME_CHARS: usize = 200;
const MAX_TAGS: usize = 32;
const MAX_TAG_CHARS: usize = 64;

impl JobSpec {
    /// Checks everything a run needs and builds the objective; each failure names its field.
    /// A model problem with a `dataset_id` needs [`JobSpec::prepare_with`].
    pub fn prepare(&self, limits: JobLimits) -> Result<PreparedJob, InvalidConfig> {
        self.prepare_with(limits, None)
    }

    /// As [`JobSpec::prepare`], with the dataset that `problem.dataset_id` names, loaded by
    /// the caller (`None` when the problem names none, or it does not exist).
    pub fn prepare_with(
        &self,
        limits: JobLimits,
        dataset: Option<Dataset>,
    ) -> Result<PreparedJob, InvalidConfig> {
        if let Some(name) = &self.name {
            if name.chars().count() > MAX_NAME_CHARS {
                return Err(InvalidConfig::new(
                    "name",
                    format!("must be at most {MAX_NAME_CHARS} characters"),
                ));
            }
            check_no_nul("name", name)?;
        }
        if self.tags.len() > MAX_TAGS {
            return Err(InvalidConfig::new(
                "tags",
                format!("at most {MAX_TAGS} tags, got {}", self.tags.len()),
            ));
        }
        for (i, tag) in self.tags.iter().enumerate() {
            if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
                return Err(InvalidConfig::new(
                    format!("tags[{i}]"),
                    format!("must have 1 to {MAX_TAG_CHARS} characters"),
                ));
            }
            check_no_nul(&format!("tags[{i}]"), tag)?;
        }
        self.optimizer.validate()?;
        self.stop.validate(limits.max_steps)?;
        if let Some(seconds) = self.stop.max_seconds.filter(|s| *s > limits.max_seconds) {
            return Err(InvalidConfig::new(
                "stop.max_seconds",
                format!(
                    "must be at most {} (this server's limit), got {seconds}",
                    limits.max_seconds
                ),
            ));
        }
        if self.record.every == 0 {
            return Err(InvalidConfig::new(
                "record.every",
                "must be at least 1 (1 keeps every step)",
            ));
        }
        if let Some(clip) = &self.clip {
            clip.validate()?;
        }
        if let Some(episodes) = &self.episodes {
            episodes.validate()?;
        }
        if let Some(schedule) = &self.schedule {
            schedule.validate(self.schedule_base())?;
        }
        // The resolver hands the loaded dataset over without copying it.
        let dataset = RefCell::new(dataset);
        let (objective, x0) = self.problem.build_full(
            &self.starting_point()?,
            &|_| dataset.borrow_mut().take(),
            &limits.expr,
        )?;
        check_optimizer_memory(&self.optimizer, x0.len())?;
        if x0.len() > limits.max_params {
            return Err(InvalidConfig::new(
                "initial",
                format!(
                    "the problem has {} parameters; this server allows at most {}",
                    x0.len(),
                    limits.max_params
                ),
            ));
        }
        Ok(PreparedJob { objective, x0 })
    }

    /// `initial`, or the problem's default start when it is left out.
    pub fn starting_point(&self) -> Result<Initial, InvalidConfig> {
        match &self.initial {
            Some(initial) => Ok(initial.clone()),
            None => self.problem.default_initial(),
        }
    }

    /// What the schedule is built from.
    pub fn schedule_base(&self) -> ScheduleBase {
        ScheduleBase {
            lr: self.optimizer.lr(),
            total_steps: self.stop.max_steps,
        }
    }

    /// The problem's kind, for listings (the `kind` tag as serialized).
    pub fn problem_kind(&self) -> String {
        tag_of(&self.problem, "kind")
    }

    /// The optimizer's name, for listings (the `name` tag as serialized).
    pub fn optimizer_name(&self) -> String {
        tag_of(&self.optimizer, "name")
    }
}

/// Reads the tag of a serde-tagged union, so listings never need a match over every variant.
fn tag_of<T: Serialize>(value: &T, key: &str) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.get(key).and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

/// The most f64s an optimizer's history may hold (L-BFGS keeps 2·history_size vectors of
/// length n, allocated up front): 256 Mi values, 2 GiB.
const MAX_OPTIMIZER_HISTORY_FLOATS: u64 = 256 * 1024 * 1024;

/// Refuses optimizer configurations whose state would not fit in memory, before anything is
/// allocated.
fn check_optimizer_memory(optimizer: &OptimizerConfig, dim: usize) -> Result<(), InvalidConfig> {
    if let OptimizerConfig::Lbfgs(c) = optimizer {
        let floats = 2 * u64::from(c.history_size) * dim as u64;
        if floats > MAX_OPTIMIZER_HISTORY_FLOATS {
            let most = MAX_OPTIMIZER_HISTORY_FLOATS / (2 * dim.max(1) as u64);
            return Err(InvalidConfig::new(
                "optimizer.history_size",
                format!(
                    "L-BFGS would keep {floats} numbers of history for {dim} parameters; \
                     use history_size <= {most}"
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses a NUL character (U+0000) in text that is stored as text: PostgreSQL's text cannot
/// hold it, and both backends must answer the same.
pub fn check_no_nul(field: &str, text: &str) -> Result<(), InvalidConfig> {
    if text.contains('\0') {
        return Err(InvalidConfig::new(
            field,
            "must not contain the NUL character (U+0000); remove it",
        ));
    }
    Ok(())
}
