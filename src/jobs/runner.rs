//! The worker pool: claims queued jobs in submission order, runs each on a blocking thread,
//! streams its history to the database and records how it ended.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use saddle_numeric::data::Dataset;
use saddle_numeric::diagnosis::{confirm_passages, DiagnosisOptions, Episode};
use saddle_numeric::executor::Checkpoint;
use saddle_numeric::problem::ProblemConfig;
use saddle_numeric::schedule::Constant;
use saddle_numeric::{Executor, InvalidConfig, RunOutcome, StopReason};

use super::analysis::{analyse, Analysis};
use super::dataset::load_dataset;
use super::recorder::{HistoryMessage, Recorder};
use super::result::{JobError, JobResult};
use super::spec::{JobLimits, JobSpec};
use super::JobsError;
use crate::store::{Backend, Holder, JobEnding, JobRow, JobStatus, NewJob, Store, StoreError};
use crate::tenant::Tenant;

/// Batches in flight between a run and its history writer.
const HISTORY_CHANNEL_BATCHES: usize = 8;
/// How often an idle worker looks at the queue even without being woken. On SQLite every job
/// is submitted through this process, whose submissions wake the workers; on PostgreSQL jobs
/// arrive through other processes too, so the queue is looked at more often.
const fn idle_poll(backend: Backend) -> Duration {
    match backend {
        Backend::Sqlite => Duration::from_secs(1),
        Backend::Postgres => Duration::from_millis(200),
    }
}
/// A job a worker crashed on this many times after resuming is failed instead.
pub const MAX_RESUME_ATTEMPTS: u32 = 3;

/// How workers hold the jobs they run (see [`Store::claim_next_job`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lease {
    /// How long a claim lasts without renewal: a dead worker's jobs are resumed elsewhere
    /// after this long.
    pub duration: Duration,
    /// How often the leases are renewed and cancels from other processes picked up.
    pub heartbeat: Duration,
}

impl Default for Lease {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(15),
            heartbeat: Duration::from_secs(1),
        }
    }
}

/// A name unique to this worker process: host, process id and a random part (a restarted
/// process with a recycled id is still another worker).
fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &random[..8])
}

/// Submits, cancels and runs jobs. Cheap to clone.
#[derive(Clone)]
pub struct JobRunner {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    limits: JobLimits,
    wake: Notify,
    /// The jobs running in this process, with their cancel flags, by the name of their claim
    /// (a job lost to an expired lease and claimed again here runs twice until the lost run
    /// notices: each run has its own entry).
    running: Mutex<HashMap<String, (i64, Arc<AtomicBool>)>>,
    shutdown: watch::Sender<bool>,
    /// Woken whenever a job of this process changes status (claimed, finished, cancelled).
    status_changed: Notify,
    /// Woken whenever a batch of history has been stored.
    history_written: Arc<Notify>,
    /// How often a running job stores a checkpoint to resume from after a crash.
    checkpoint_every: Option<Duration>,
    /// Jobs run at the same time.
    workers: usize,
    /// Optimizer steps executed by this process, for /metrics.
    steps_executed: Arc<AtomicU64>,
    /// This process as the holder of its jobs' leases.
    holder: Holder,
    /// Claims made so far: numbers the next claim (see [`Holder::claim`]).
    claims: AtomicU64,
    /// How often leases are renewed.
    heartbeat: Duration,
}

impl JobRunner {
    /// Starts `workers` workers over `store`'s queue (none: this process only submits);
    /// running jobs store a checkpoint about every `checkpoint_every` (none when `None`) and
    /// are held with `lease`. On PostgreSQL, where other processes share the queue, a
    /// heartbeat renews the leases, carries cancels made elsewhere to the running jobs and
    /// queues again the jobs of workers whose leases expired.
    pub fn start(
        store: Store,
        limits: JobLimits,
        workers: usize,
        checkpoint_every: Option<Duration>,
        lease: Lease,
    ) -> (Self, Vec<JoinHandle<()>>) {
        let (shutdown, _) = watch::channel(false);
        let runner = JobRunner {
            inner: Arc::new(Inner {
                store,
                limits,
                wake: Notify::new(),
                running: Mutex::new(HashMap::new()),
                shutdown,
                status_changed: Notify::new(),
                history_written: Arc::new(Notify::new()),
                checkpoint_every,
                workers,
                steps_executed: Arc::default(),
                holder: Holder {
                    worker: worker_name(),
                    lease: lease.duration,
                },
                claims: AtomicU64::new(0),
                heartbeat: lease.heartbeat,
            }),
        };
        let mut handles: Vec<JoinHandle<()>> = (0..workers)
            .map(|_| tokio::spawn(runner.clone().work()))
            .collect();
        if workers > 0 && runner.inner.store.backend() == Backend::Postgres {
            handles.push(tokio::spawn(runner.clone().beat()));
        }
        (runner, handles)
    }

    /// Jobs run at the same time.
    pub fn worker_count(&self) -> usize {
        self.inner.workers
    }

    /// Optimizer steps executed by this process so far (updated as history batches leave a
    /// run, so at most about 250 ms behind).
    pub fn steps_executed(&self) -> u64 {
        self.inner.steps_executed.load(Ordering::Relaxed)
    }

    /// The server's job limits.
    pub fn limits(&self) -> JobLimits {
        self.inner.limits
    }

    /// Validates `spec` (off the async runtime: building an objective can be expensive) and
    /// queues it as a job of `tenant`.
    pub async fn submit(&self, tenant: &Tenant, spec: JobSpec) -> Result<JobRow, JobsError> {
        self.submit_with(tenant, spec, None).await
    }

    /// Queues `spec` for `tenant`, optionally as the continuation of another job from its
    /// checkpoint. A dataset the spec names must be the tenant's own.
    pub(super) async fn submit_with(
        &self,
        tenant: &Tenant,
        spec: JobSpec,
        continuing: Option<(&str, &Checkpoint)>,
    ) -> Result<JobRow, JobsError> {
        let limits = self.inner.limits;
        let dataset_id = spec.problem.dataset_id().map(str::to_owned);
        let dataset = match &dataset_id {
            Some(id) => Some(
                load_dataset(&self.inner.store, tenant, id)
                    .await
                    .map_err(unknown_dataset(id))?,
            ),
            None => None,
        };
        let checked = spec.clone();
        tokio::task::spawn_blocking(move || checked.prepare_with(limits, dataset).map(|_| ()))
            .await
            .map_err(|e| JobsError::Conflict(format!("validation failed: {e}")))??;
        let json = serde_json::to_string(&spec).expect("a job spec serializes");
        let resume_state = continuing.map(|(_, checkpoint)| {
            serde_json::to_string(checkpoint).expect("a checkpoint serializes")
        });
        let job_id = uuid::Uuid::new_v4().to_string();
        let job = self
            .inner
            .store
            .insert_job(NewJob {
                job_id: &job_id,
                tenant,
                max_active_jobs: limits.max_active_jobs,
                name: spec.name.as_deref(),
                tags: &spec.tags,
                spec: &json,
                problem_kind: &spec.problem_kind(),
                optimizer_name: &spec.optimizer_name(),
                max_steps: spec.stop.max_steps as i64,
                continued_from: continuing.map(|(id, _)| id),
                resume_state: resume_state.as_deref(),
                dataset_id: dataset_id.as_deref(),
            })
            .await
            // A dataset deleted since it was loaded above.
            .map_err(unknown_dataset(dataset_id.as_deref().unwrap_or_default()))?;
        self.inner.wake.notify_one();
        Ok(job)
    }

    /// The store, for the job operations built on the runner.
    pub(super) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Cancels one of `tenant`'s jobs (idempotent): a queued job at once, a running one at its
    /// next step.
    pub async fn cancel(&self, tenant: &Tenant, job_id: &str) -> Result<JobRow, JobsError> {
        let job = self.inner.store.request_cancel(tenant, job_id).await?;
        self.inner.status_changed.notify_waiters();
        for (seq, flag) in self.inner.running.lock().expect("lock").values() {
            if *seq == job.seq {
                flag.store(true, Ordering::Relaxed);
            }
        }
        Ok(job)
    }

    /// Deletes one of `tenant`'s finished jobs and its history.
    pub async fn delete(&self, tenant: &Tenant, job_id: &str) -> Result<(), JobsError> {
        match self.inner.store.delete_finished_job(tenant, job_id).await? {
            Some(_) => Ok(()),
            None => Err(JobsError::Conflict(format!(
                "job `{job_id}` is still queued or running; cancel it first (POST /v1/jobs/{job_id}/cancel)"
            ))),
        }
    }

    /// Stops taking jobs and stops the running ones at their next step; their histories are
    /// flushed and they go back to the queue with their final checkpoint, to resume at the
    /// next start.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        for (_, flag) in self.inner.running.lock().expect("lock").values() {
            flag.store(true, Ordering::Relaxed);
        }
        self.inner.wake.notify_waiters();
    }

    /// The name of this worker process: each of its claims holds its job's lease as
    /// `<name>#<claim number>` (see [`Holder::claim`]).
    pub fn worker_name(&self) -> &str {
        &self.inner.holder.worker
    }

    /// The heartbeat (PostgreSQL): renews this worker's leases, stops the jobs cancelled
    /// through other processes or lost to an expired lease, and queues again the jobs of
    /// workers that died.
    async fn beat(self) {
        let mut shutdown = self.inner.shutdown.subscribe();
        let mut tick = tokio::time::interval(self.inner.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            // Jobs registered before the renewal: one claimed during it is not yet known here.
            let known: Vec<(String, i64, Arc<AtomicBool>)> = self
                .inner
                .running
                .lock()
                .expect("lock")
                .iter()
                .map(|(claim, (seq, flag))| (claim.clone(), *seq, flag.clone()))
                .collect();
            match self.inner.store.renew_leases(&self.inner.holder).await {
                Ok(renewed) => {
                    // A job that ended here during the renewal is not lost.
                    let still_running: Vec<(String, i64, Arc<AtomicBool>)> = {
                        let running = self.inner.running.lock().expect("lock");
                        known
                            .into_iter()
                            .filter(|(claim, _, _)| running.contains_key(claim))
                            .collect()
                    };
                    for (claim, seq, flag) in still_running {
                        match renewed.iter().find(|lease| lease.owner == claim) {
                            Some(lease) if !lease.cancel_requested => {}
                            Some(_) => flag.store(true, Ordering::Relaxed),
                            None => {
                                tracing::warn!(
                                    job_seq = seq,
                                    "lease lost: stopping the job here, another worker resumes it"
                                );
                                flag.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not renew the leases"),
            }
            match self
                .inner
                .store
                .recover_interrupted_jobs(MAX_RESUME_ATTEMPTS, false)
                .await
            {
                Ok(recovery) if recovery != Default::default() => {
                    tracing::warn!(
                        resumed = recovery.resumed,
                        restarted = recovery.restarted,
                        failed = recovery.failed,
                        "jobs of a worker whose lease expired: queued to resume from their last checkpoint"
                    );
                    self.inner.wake.notify_waiters();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not look for abandoned jobs"),
            }
        }
    }

    async fn work(self) {
        let mut shutdown = self.inner.shutdown.subscribe();
        let idle = idle_poll(self.inner.store.backend());
        loop {
            if *shutdown.borrow() {
                return;
            }
            let claim = self
                .inner
                .holder
                .claim(self.inner.claims.fetch_add(1, Ordering::Relaxed));
            match self.inner.store.claim_next_job(&claim).await {
                Ok(Some(job)) => {
                    self.inner.status_changed.notify_waiters();
                    self.run_claimed(job, claim).await
                }
                Ok(None) => {
                    tokio::select! {
                        _ = self.inner.wake.notified() => {}
                        _ = tokio::time::sleep(idle) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim a job");
                    tokio::time::sleep(idle).await;
                }
            }
        }
    }

    async fn run_claimed(&self, job: JobRow, holder: Holder) {
        let seq = job.seq;
        let flag = Arc::new(AtomicBool::new(false));
        self.inner
            .running
            .lock()
            .expect("lock")
            .insert(holder.worker.clone(), (seq, flag.clone()));
        // A cancel that arrived between the claim and the registration is in the database.
        if self
            .inner
            .store
            .cancel_requested(seq)
            .await
            .unwrap_or(false)
            || *self.inner.shutdown.borrow()
        {
            flag.store(true, Ordering::Relaxed);
        }
        tracing::info!(job_id = %job.job_id, "job started");

        let ending = match self.load_run(&job).await {
            Ok(start) => self.execute(&job, &holder, start, flag).await,
            Err(message) => Ending::failed(None, message),
        };
        self.inner
            .running
            .lock()
            .expect("lock")
            .remove(&holder.worker);
        // Stopped by shutdown, not by a client's cancel: back to the queue.
        let interrupted = *self.inner.shutdown.borrow()
            && !self
                .inner
                .store
                .cancel_requested(seq)
                .await
                .unwrap_or(false);
        if interrupted && self.requeue_stopped(&job, &holder, &ending).await {
            self.inner.status_changed.notify_waiters();
            return;
        }
        let ending = ending.interrupted_if(interrupted);
        tracing::info!(job_id = %job.job_id, status = ending.status.as_str(), "job finished");
        let result = ending
            .result
            .as_ref()
            .map(|r| serde_json::to_string(r).expect("serializes"));
        let error = ending
            .error
            .as_ref()
            .map(|e| serde_json::to_string(e).expect("serializes"));
        let stored = JobEnding {
            status: ending.status,
            stop_reason: ending.stop_reason.map(StopReason::as_str),
            progress_step: ending.last_step,
            result: result.as_deref(),
            error: error.as_deref(),
            final_state: ending.final_state.as_deref(),
        };
        match self.inner.store.finish_job(seq, &holder, &stored).await {
            Ok(()) => {}
            Err(StoreError::LeaseLost) => tracing::warn!(
                job_id = %job.job_id,
                "the job's lease was lost before it ended here; another worker resumes it"
            ),
            Err(e) => {
                tracing::error!(job_id = %job.job_id, error = %e, "could not record the end of a job")
            }
        }
        self.inner.status_changed.notify_waiters();
    }

    /// Waits until one of `tenant`'s jobs has finished (run by this process) and returns it.
    pub async fn wait_finished(&self, tenant: &Tenant, job_id: &str) -> Result<JobRow, JobsError> {
        loop {
            if let Some(job) = self
                .wait_for_status(tenant, job_id, None, Duration::from_secs(3600))
                .await?
            {
                if job.status.is_finished() {
                    return Ok(job);
                }
            }
        }
    }

    /// Waits until the job's status differs from `from` (or, with `None`, until it has
    /// finished), at most `timeout`. Returns the job as it then is (`None` only if `from` is
    /// `None` and the timeout passed first).
    pub async fn wait_for_status(
        &self,
        tenant: &Tenant,
        job_id: &str,
        from: Option<JobStatus>,
        timeout: Duration,
    ) -> Result<Option<JobRow>, JobsError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.status_changed.notified();
            tokio::pin!(notified);
            // Register before looking, so a change between the look and the wait is not missed.
            notified.as_mut().enable();
            let job = self.inner.store.get_job(tenant, job_id).await?;
            let changed = match from {
                Some(status) => job.status != status,
                None => job.status.is_finished(),
            };
            if changed || job.status.is_finished() {
                return Ok(Some(job));
            }
            // Jobs run by other processes change without a notification here: look again
            // after a while.
            let look_again = tokio::time::Instant::now() + idle_poll(self.inner.store.backend());
            if tokio::time::timeout_at(deadline.min(look_again), notified)
                .await
                .is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return Ok(from.map(|_| job));
            }
        }
    }

    /// Waits until more history has been stored (by any job), at most `timeout`.
    pub async fn wait_for_history(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.inner.history_written.notified()).await;
    }

    /// Puts a job that shutdown stopped back in the queue with its final checkpoint. Returns
    /// whether it did; if not, the job ends as it stopped (interrupted, when cancelled).
    async fn requeue_stopped(&self, job: &JobRow, holder: &Holder, ending: &Ending) -> bool {
        let (JobStatus::Cancelled, Some(state)) = (ending.status, ending.final_state.as_deref())
        else {
            return false;
        };
        match self
            .inner
            .store
            .requeue_job(job.seq, holder, ending.last_step as u64, state)
            .await
        {
            Ok(()) => {
                tracing::info!(
                    job_id = %job.job_id,
                    step = ending.last_step,
                    "job checkpointed and queued again for the next start"
                );
                true
            }
            Err(e) => {
                tracing::error!(job_id = %job.job_id, error = %e, "could not queue a job again");
                false
            }
        }
    }

    /// The stored spec and where the run starts: a continuation's checkpoint or, after an
    /// interruption, the job's own latest checkpoint.
    async fn load_run(&self, job: &JobRow) -> Result<RunStart, String> {
        let spec = serde_json::from_str::<JobSpec>(&job.spec)
            .map_err(|e| format!("the stored job cannot be read: {e}"))?;
        let (origin, checkpoint) = self
            .inner
            .store
            .run_state(job.seq)
            .await
            .map_err(|e| format!("the state to continue from cannot be loaded: {e}"))?;
        let parse = |state: Option<String>, what: &str| {
            state
                .map(|s| serde_json::from_str::<Checkpoint>(&s))
                .transpose()
                .map_err(|e| format!("{what} cannot be read: {e}"))
        };
        let origin = parse(origin, "the state to continue from")?;
        let checkpoint = parse(checkpoint, "the checkpoint to resume from")?;
        Ok(RunStart::new(spec, origin, checkpoint))
    }

    async fn execute(
        &self,
        job: &JobRow,
        holder: &Holder,
        start: RunStart,
        flag: Arc<AtomicBool>,
    ) -> Ending {
        let seq = job.seq;
        let spec = &start.spec;
        // The stored dataset is loaded here, on the runtime; the run itself is blocking. Only
        // the job's own tenant's datasets are found.
        let dataset = match spec.problem.dataset_id() {
            Some(id) => match load_dataset(&self.inner.store, &job.tenant, id).await {
                Ok(data) => Some(data),
                Err(e) => {
                    return Ending::failed(
                        None,
                        format!("the dataset `{id}` could not be loaded: {e}"),
                    )
                }
            },
            None => None,
        };
        let (tx, rx) = mpsc::channel::<HistoryMessage>(HISTORY_CHANNEL_BATCHES);
        let writer = tokio::spawn(write_history(
            self.inner.store.clone(),
            holder.clone(),
            seq,
            rx,
            self.inner.history_written.clone(),
        ));
        let limits = self.inner.limits;
        let checkpoint_every = self.inner.checkpoint_every;
        let steps_counter = self.inner.steps_executed.clone();
        let run = tokio::task::spawn_blocking(move || {
            let recorder_parts = (tx, steps_counter);
            run_job(
                &start,
                limits,
                checkpoint_every,
                dataset,
                &flag,
                recorder_parts,
            )
        })
        .await;
        let stored = writer
            .await
            .unwrap_or_else(|e| Err(format!("the history writer failed: {e}")));
        match run {
            Err(panic) => {
                Ending::failed(None, format!("the job panicked: {}", panic_message(panic)))
            }
            Ok(Err(invalid)) => Ending::failed(None, format!("the job is not valid: {invalid}")),
            Ok(Ok(finished)) => match stored {
                Err(e) => Ending::failed(
                    Some(finished.checkpoint.step),
                    format!("the history could not be stored: {e}"),
                ),
                Ok(()) => Ending::from_finished(finished),
            },
        }
    }
}

/// Where a job's run starts.
struct RunStart {
    spec: JobSpec,
    /// The checkpoint to resume from: the job's own latest one after an interruption, else
    /// the one of the job it continues.
    resume: Option<Checkpoint>,
    /// Whether `resume` is the job's own checkpoint (the run starts at its params, not at
    /// the job's x0).
    own: bool,
    /// Updates and evaluations this job made before `resume` (after an interruption).
    done_steps: u64,
    done_evaluations: u64,
}

impl RunStart {
    fn new(spec: JobSpec, origin: Option<Checkpoint>, checkpoint: Option<Checkpoint>) -> Self {
        let Some(checkpoint) = checkpoint else {
            return Self {
                spec,
                resume: origin,
                own: false,
                done_steps: 0,
                done_evaluations: 0,
            };
        };
        // The job's records start at its origin's step, its evaluation count at the origin's
        // count less the evaluation its run repeats (see `Executor::resume`).
        let (origin_step, origin_evaluations) = origin
            .as_ref()
            .map_or((0, 0), |o| (o.step, o.evaluations.saturating_sub(1)));
        Self {
            spec,
            done_steps: checkpoint.step.saturating_sub(origin_step),
            done_evaluations: checkpoint
                .evaluations
                .saturating_sub(1)
                .saturating_sub(origin_evaluations),
            resume: Some(checkpoint),
            own: true,
        }
    }
}

/// Runs one job to its end on the current (blocking) thread.
fn run_job(
    start: &RunStart,
    limits: JobLimits,
    checkpoint_every: Option<Duration>,
    dataset: Option<Dataset>,
    cancel: &AtomicBool,
    (tx, steps_counter): (mpsc::Sender<HistoryMessage>, Arc<AtomicU64>),
) -> Result<Finished, saddle_numeric::InvalidConfig> {
    let spec = &start.spec;
    // Mini-batch model runs are diagnosed over the whole training set, which needs the data.
    let mini_batch = matches!(&spec.problem, ProblemConfig::Model(m) if m.batch_size.is_some());
    let analysis_data = if mini_batch { dataset.clone() } else { None };
    let prepared = spec.prepare_with(limits, dataset)?;
    let dim = prepared.x0.len();
    let optimizer = spec.optimizer.build(dim);
    let schedule = match &spec.schedule {
        Some(s) => s.build(spec.schedule_base()),
        None => Box::new(Constant::new(spec.optimizer.lr())),
    };
    // A resumed run has only the rest of the step budget.
    let mut stop = spec.stop.clone();
    stop.max_steps = stop.max_steps.saturating_sub(start.done_steps);
    let mut objective = prepared.objective;
    objective.set_threads(limits.threads_per_job);
    let mut executor = Executor::new(objective, optimizer, schedule, stop)
        .with_clip(spec.clip)
        .with_cancel_flag(cancel)
        .with_checkpoint_every(checkpoint_every);
    let x0 = match &start.resume {
        Some(checkpoint) if start.own => checkpoint.params.as_slice(),
        _ => prepared.x0.as_slice(),
    };
    if let Some(checkpoint) = &start.resume {
        // A continuation that brings its own schedule starts that schedule afresh.
        executor = executor.resume(checkpoint, checkpoint.schedule.is_null())?;
    }
    let mut recorder = Recorder::new(
        tx,
        steps_counter,
        spec.record.every,
        if spec.record.params { dim } else { 0 },
        spec.episodes.clone().unwrap_or_default(),
        // Mini-batch gradient norms dip and rise with the noise: no passages there.
        if mini_batch { 0 } else { dim },
    );
    let mut outcome = executor.run(x0, &mut recorder);
    let (complete, findings) = recorder.finish();
    if !complete && outcome.stop_reason != StopReason::Cancelled {
        // The writer's own error is reported by `execute`.
        tracing::warn!("history writer closed before the run ended");
    }
    let checkpoint = executor.checkpoint(&outcome);
    let analysis = analyse(
        &spec.problem,
        &prepared.x0,
        &outcome,
        executor.objective_mut(),
        analysis_data,
    );
    let mut episodes = findings.episodes;
    confirm_passages(
        executor.objective_mut(),
        findings.passages,
        &mut episodes,
        &DiagnosisOptions::default(),
    );
    // The result counts the whole job, also the part before an interruption.
    outcome.steps += start.done_steps;
    outcome.evaluations += start.done_evaluations;
    Ok(Finished {
        outcome,
        checkpoint,
        analysis,
        episodes,
    })
}

/// A run that came to its end, with what is known about where it ended.
struct Finished {
    outcome: RunOutcome,
    checkpoint: Checkpoint,
    analysis: Analysis,
    episodes: Vec<Episode>,
}

/// Maps a failed dataset lookup at submission to an error on `problem.dataset_id`.
fn unknown_dataset(id: &str) -> impl Fn(StoreError) -> JobsError + '_ {
    move |e| match e {
        StoreError::NotFound(_) => JobsError::Invalid(InvalidConfig::new(
            "problem.dataset_id",
            format!(
                "no dataset with id `{id}`; list datasets with GET /v1/datasets \
                 or upload one with POST /v1/datasets"
            ),
        )),
        other => other.into(),
    }
}

/// Stores batches and checkpoints as they arrive, in order; the first failure ends the writer (and, through the closed
/// channel, the run).
async fn write_history(
    store: Store,
    holder: Holder,
    seq: i64,
    mut rx: mpsc::Receiver<HistoryMessage>,
    written: Arc<Notify>,
) -> Result<(), String> {
    while let Some(message) = rx.recv().await {
        let stored = match &message {
            HistoryMessage::Batch(batch) => store.insert_steps(seq, &holder, batch).await,
            HistoryMessage::Checkpoint { batch, step, state } => {
                store
                    .insert_steps_with_checkpoint(
                        seq,
                        &holder,
                        batch,
                        Some((*step, state.as_str())),
                    )
                    .await
            }
        };
        stored.map_err(|e| e.to_string())?;
        written.notify_waiters();
    }
    Ok(())
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into()),
        Err(e) => e.to_string(),
    }
}

/// How a job ended, ready to store.
struct Ending {
    status: JobStatus,
    stop_reason: Option<StopReason>,
    last_step: i64,
    result: Option<JobResult>,
    error: Option<JobError>,
    /// The checkpoint JSON a continuation starts from (not for diverged runs).
    final_state: Option<String>,
}

impl Ending {
    fn failed(step: Option<u64>, message: String) -> Self {
        Self {
            status: JobStatus::Failed,
            stop_reason: None,
            last_step: step.unwrap_or(0) as i64,
            result: None,
            error: Some(JobError { step, message }),
            final_state: None,
        }
    }

    fn from_finished(finished: Finished) -> Self {
        let Finished {
            outcome,
            checkpoint,
            analysis,
            episodes,
        } = finished;
        let (outcome, checkpoint) = (&outcome, &checkpoint);
        let mut result = JobResult::from(outcome);
        result.diagnosis = analysis.diagnosis;
        result.convexity = analysis.convexity;
        result.known_minimum = analysis.known_minimum;
        result.episodes = episodes;
        let result = Some(result);
        let (status, error) = match outcome.stop_reason {
            StopReason::Diverged => (
                JobStatus::Failed,
                Some(JobError {
                    step: Some(checkpoint.step),
                    message: format!(
                        "diverged at step {}: {}",
                        checkpoint.step,
                        outcome
                            .divergence
                            .as_deref()
                            .unwrap_or("a value is not finite")
                    ),
                }),
            ),
            StopReason::Cancelled => (JobStatus::Cancelled, None),
            _ => (JobStatus::Succeeded, None),
        };
        Self {
            status,
            stop_reason: Some(outcome.stop_reason),
            last_step: checkpoint.step as i64,
            result,
            error,
            final_state: (outcome.stop_reason != StopReason::Diverged)
                .then(|| serde_json::to_string(checkpoint).expect("a checkpoint serializes")),
        }
    }

    /// A run stopped by shutdown is not a client's cancel: it was interrupted.
    fn interrupted_if(mut self, shutting_down: bool) -> Self {
        if shutting_down && self.status == JobStatus::Cancelled {
            self.status = JobStatus::Failed;
            self.stop_reason = Some(StopReason::Interrupted);
            if let Some(r) = self.result.as_mut() {
                r.stop_reason = StopReason::Interrupted;
            }
            self.error = Some(JobError {
                step: Some(self.last_step as u64),
                message: "the server shut down while this job was running".into(),
            });
        }
        self
    }
}
