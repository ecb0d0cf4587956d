//! Sweeps: one problem raced by a list or grid of optimizer configurations (× learning
//! rates × starting points × seeds), one job each.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use saddle_numeric::clip::ClipConfig;
use saddle_numeric::diagnosis::EpisodeConfig;
use saddle_numeric::problem::{Initial, ProblemConfig};
use saddle_numeric::schedule::ScheduleConfig;
use saddle_numeric::{InvalidConfig, OptimizerConfig, StopRule};

use super::{JobRunner, JobSpec, JobsError, RecordConfig};
use crate::store::{JobRow, StoreError, SweepRow};
use crate::tenant::Tenant;

/// The most jobs one sweep may make.
pub const MAX_SWEEP_JOBS: usize = 256;

/// The body of `POST /v1/sweeps`: every combination of `optimizers` × `lrs` × `initials` ×
/// `seeds` becomes one job on the same problem.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "problem": {"kind": "builtin", "name": "rosenbrock"},
    "initial": [-1.5, 2.0],
    "optimizers": [{"name": "sgd", "momentum": 0.9}, {"name": "adam"}, {"name": "rmsprop"}],
    "lrs": [0.001, 0.01],
    "stop": {"max_steps": 2000},
    "target_loss": 1e-4,
    "name": "rosenbrock race"
}))]
#[serde(deny_unknown_fields)]
pub struct SweepRequest {
    /// The problem every job minimizes.
    pub problem: ProblemConfig,
    /// The starting point (unless `initials` lists several); optional as in a job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<Initial>,
    /// The optimizer configurations to race (at least one).
    pub optimizers: Vec<OptimizerConfig>,
    /// A grid of learning rates applied to every optimizer (default: each optimizer's own).
    #[serde(default)]
    pub lrs: Vec<f64>,
    /// A grid of starting points (default: `initial` only).
    #[serde(default)]
    pub initials: Vec<Initial>,
    /// Model problems: a grid of seeds for the mini-batch order and the split (default: the
    /// problem's own).
    #[serde(default)]
    pub seeds: Vec<u64>,
    /// A schedule for every job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleConfig>,
    /// Gradient clipping for every job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<ClipConfig>,
    /// The stopping rule of every job.
    #[serde(default)]
    pub stop: StopRule,
    /// What every job records.
    #[serde(default)]
    pub record: RecordConfig,
    /// Episode detection thresholds for every job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodes: Option<EpisodeConfig>,
    /// The leaderboard reports the steps and time each job took to reach this loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_loss: Option<f64>,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Labels, also given to every job.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// One job of a sweep before submission.
struct Entry {
    label: String,
    spec: JobSpec,
}

fn with_lr(
    optimizer: &OptimizerConfig,
    lr: f64,
    field: &str,
) -> Result<OptimizerConfig, InvalidConfig> {
    let mut value = serde_json::to_value(optimizer).expect("an optimizer serializes");
    let fields = value.as_object_mut().expect("an optimizer is an object");
    if !fields.contains_key("lr") {
        return Err(InvalidConfig::new(
            field,
            format!(
                "`{}` has no lr to sweep; leave it out of a sweep with `lrs`",
                optimizer.name()
            ),
        ));
    }
    fields.insert("lr".into(), lr.into());
    serde_json::from_value(value).map_err(|e| InvalidConfig::new(field, e.to_string()))
}

/// `name lr=… ` followed by every hyperparameter that differs from the optimizer's default,
/// so two configurations of one optimizer are told apart on the leaderboard and in legends.
fn label_of(optimizer: &OptimizerConfig) -> String {
    let mut label = format!("{} lr={}", optimizer.name(), optimizer.lr());
    let given = serde_json::to_value(optimizer).expect("an optimizer serializes");
    let default: Option<OptimizerConfig> =
        serde_json::from_value(serde_json::json!({ "name": optimizer.name() })).ok();
    let default = default.and_then(|d| serde_json::to_value(d).ok());
    if let (Some(fields), Some(default)) = (given.as_object(), default) {
        for (key, value) in fields {
            if key != "name" && key != "lr" && default.get(key) != Some(value) {
                match value.as_str() {
                    Some(text) => label.push_str(&format!(" {key}={text}")),
                    None => label.push_str(&format!(" {key}={value}")),
                }
            }
        }
    }
    label
}

impl SweepRequest {
    /// Every combination, labelled, in a stable order; validates sizes and grids.
    fn expand(&self) -> Result<Vec<Entry>, InvalidConfig> {
        if let Some(name) = &self.name {
            super::spec::check_no_nul("name", name)?;
        }
        if self.optimizers.is_empty() {
            return Err(InvalidConfig::new(
                "optimizers",
                "list at least one optimizer",
            ));
        }
        if let Some(i) = self
            .lrs
            .iter()
            .position(|lr| !(lr.is_finite() && *lr >= 0.0))
        {
            return Err(InvalidConfig::new(
                format!("lrs[{i}]"),
                "must be a finite number >= 0",
            ));
        }
        if !self.seeds.is_empty() && !matches!(self.problem, ProblemConfig::Model(_)) {
            return Err(InvalidConfig::new(
                "seeds",
                "seeds vary the mini-batch order of model problems; this problem has none",
            ));
        }
        let count = self.optimizers.len()
            * self.lrs.len().max(1)
            * self.initials.len().max(1)
            * self.seeds.len().max(1);
        if count > MAX_SWEEP_JOBS {
            return Err(InvalidConfig::new(
                "optimizers",
                format!("the grid makes {count} jobs; a sweep may make at most {MAX_SWEEP_JOBS}"),
            ));
        }
        let lrs: Vec<Option<f64>> = if self.lrs.is_empty() {
            vec![None]
        } else {
            self.lrs.iter().copied().map(Some).collect()
        };
        let initials: Vec<(Option<usize>, Option<&Initial>)> = if self.initials.is_empty() {
            vec![(None, self.initial.as_ref())]
        } else {
            self.initials
                .iter()
                .enumerate()
                .map(|(i, x)| (Some(i), Some(x)))
                .collect()
        };
        let seeds: Vec<Option<u64>> = if self.seeds.is_empty() {
            vec![None]
        } else {
            self.seeds.iter().copied().map(Some).collect()
        };
        let mut entries = Vec::with_capacity(count);
        for (o, optimizer) in self.optimizers.iter().enumerate() {
            for lr in &lrs {
                let optimizer = match lr {
                    Some(lr) => with_lr(optimizer, *lr, &format!("optimizers[{o}]"))?,
                    None => optimizer.clone(),
                };
                for (i, initial) in &initials {
                    for seed in &seeds {
                        let mut problem = self.problem.clone();
                        if let (Some(seed), ProblemConfig::Model(m)) = (seed, &mut problem) {
                            m.seed = *seed;
                        }
                        let mut label = label_of(&optimizer);
                        if let Some(i) = i {
                            label.push_str(&format!(" start #{i}"));
                        }
                        if let Some(seed) = seed {
                            label.push_str(&format!(" seed={seed}"));
                        }
                        entries.push(Entry {
                            spec: JobSpec {
                                problem,
                                initial: initial.cloned(),
                                optimizer: optimizer.clone(),
                                schedule: self.schedule.clone(),
                                clip: self.clip,
                                stop: self.stop.clone(),
                                record: self.record.clone(),
                                episodes: self.episodes.clone(),
                                name: Some(label.clone()),
                                tags: self.tags.clone(),
                            },
                            label,
                        });
                    }
                }
            }
        }
        Ok(entries)
    }
}

impl JobRunner {
    /// Validates every job of the sweep, then stores the sweep and submits its jobs, all
    /// `tenant`'s.
    pub async fn submit_sweep(
        &self,
        tenant: &Tenant,
        request: SweepRequest,
    ) -> Result<(SweepRow, Vec<JobRow>), JobsError> {
        let entries = request.expand()?;
        let limits = self.limits();
        // A sweep that would not fit in the tenant's quota creates nothing (each job's insert
        // checks the quota again, against concurrent submissions).
        let active = self.store().count_active_jobs(tenant).await?;
        if active + entries.len() as u64 > limits.max_active_jobs {
            return Err(StoreError::TooManyActiveJobs {
                limit: limits.max_active_jobs,
            }
            .into());
        }
        let specs: Vec<JobSpec> = entries.iter().map(|e| e.spec.clone()).collect();
        // Validate all before creating anything, so a bad grid point creates nothing.
        tokio::task::spawn_blocking(move || {
            specs
                .iter()
                .try_for_each(|spec| spec.prepare(limits).map(|_| ()))
        })
        .await
        .map_err(|e| JobsError::Conflict(format!("validation failed: {e}")))??;
        let sweep_id = uuid::Uuid::new_v4().to_string();
        let json = serde_json::to_string(&request).expect("a sweep serializes");
        let sweep = self
            .store()
            .insert_sweep(
                tenant,
                &sweep_id,
                request.name.as_deref(),
                &request.tags,
                &json,
            )
            .await?;
        let mut jobs = Vec::with_capacity(entries.len());
        for entry in entries {
            tracing::debug!(sweep_id = %sweep_id, label = %entry.label, "sweep job");
            let job = self.submit(tenant, entry.spec).await?;
            self.store().link_job_to_sweep(job.seq, &sweep_id).await?;
            jobs.push(job);
        }
        Ok((sweep, jobs))
    }

    /// Cancels every job of one of `tenant`'s sweeps that has not finished.
    pub async fn cancel_sweep(
        &self,
        tenant: &Tenant,
        sweep_id: &str,
    ) -> Result<Vec<JobRow>, JobsError> {
        self.store().get_sweep(tenant, sweep_id).await?;
        let mut jobs = Vec::new();
        for job in self.store().sweep_jobs(tenant, sweep_id).await? {
            jobs.push(if job.status.is_finished() {
                job
            } else {
                self.cancel(tenant, &job.job_id).await?
            });
        }
        Ok(jobs)
    }
}
