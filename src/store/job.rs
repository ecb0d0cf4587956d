//! The `job` table: submission, the queue, status changes.

use std::time::Duration;

use sqlx::error::ErrorKind;

use super::rows::Fields;
use super::{names_no_row, now, on_pool, on_tx, Store, StoreError, Tx};
use crate::tenant::Tenant;

/// A job's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is running it.
    Running,
    /// It stopped by one of its stopping rules.
    Succeeded,
    /// It diverged, panicked or could not be run.
    Failed,
    /// A client cancelled it.
    Cancelled,
}

impl JobStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// The name stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a stored or requested status name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            _ => return None,
        })
    }

    /// True once the job will not change any more.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

/// A job as stored.
#[derive(Debug, Clone)]
pub struct JobRow {
    /// Submission order; internal key.
    pub seq: i64,
    /// Public id.
    pub job_id: String,
    /// The tenant the job belongs to; its run may only use this tenant's datasets.
    pub tenant: Tenant,
    /// Optional client-given name.
    pub name: Option<String>,
    /// Client-given tags.
    pub tags: Vec<String>,
    /// The validated request, as JSON.
    pub spec: String,
    /// The problem's kind, for listings.
    pub problem_kind: String,
    /// The optimizer's name, for listings.
    pub optimizer_name: String,
    /// Lifecycle state.
    pub status: JobStatus,
    /// The step budget.
    pub max_steps: i64,
    /// The latest step stored.
    pub progress_step: i64,
    /// Why it stopped, once it has.
    pub stop_reason: Option<String>,
    /// The result JSON, once finished.
    pub result: Option<String>,
    /// The error JSON, on failure.
    pub error: Option<String>,
    /// The job this one continues.
    pub continued_from: Option<String>,
    /// Submission time.
    pub created_at: String,
    /// When a worker took it.
    pub started_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
}

/// What a submission stores.
pub struct NewJob<'a> {
    /// Public id.
    pub job_id: &'a str,
    /// The owner.
    pub tenant: &'a Tenant,
    /// The most queued and running jobs the owner may have, this one included.
    pub max_active_jobs: u64,
    /// Optional name.
    pub name: Option<&'a str>,
    /// Tags.
    pub tags: &'a [String],
    /// The request as JSON.
    pub spec: &'a str,
    /// Problem kind.
    pub problem_kind: &'a str,
    /// Optimizer name.
    pub optimizer_name: &'a str,
    /// Step budget.
    pub max_steps: i64,
    /// The stored dataset a model job trains on.
    pub dataset_id: Option<&'a str>,
    /// The job this one continues.
    pub continued_from: Option<&'a str>,
    /// The checkpoint (JSON) the run starts from.
    pub resume_state: Option<&'a str>,
}

/// How a run ended, as stored.
pub struct JobEnding<'a> {
    /// Final status.
    pub status: JobStatus,
    /// Why it stopped.
    pub stop_reason: Option<&'a str>,
    /// The last step stored.
    pub progress_step: i64,
    /// The result JSON.
    pub result: Option<&'a str>,
    /// The error JSON.
    pub error: Option<&'a str>,
    /// The checkpoint JSON at the end of the run.
    pub final_state: Option<&'a str>,
}

/// Filters and position of a job listing (newest first).
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this tenant's jobs.
    pub tenant: Tenant,
    /// Only jobs in this state.
    pub status: Option<JobStatus>,
    /// Only jobs carrying this tag.
    pub tag: Option<String>,
    /// Only jobs submitted before this one (keyset position).
    pub before_seq: Option<i64>,
    /// Page size.
    pub limit: i64,
}

const JOB_COLUMNS: &str =
    "job_seq, job_id, tenant, name, tags, spec, problem_kind, optimizer_name, status, \
     max_steps, progress_step, stop_reason, result, error, continued_from, created_at, started_at, \
     finished_at";

fn job_from_row(row: &impl Fields) -> Result<JobRow, StoreError> {
    let status = row.text("status")?;
    let tags = row.text("tags")?;
    Ok(JobRow {
        seq: row.int("job_seq")?,
        job_id: row.text("job_id")?,
        tenant: Tenant::stored(row.text("tenant")?),
        name: row.opt_text("name")?,
        tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        spec: row.text("spec")?,
        problem_kind: row.text("problem_kind")?,
        optimizer_name: row.text("optimizer_name")?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("job status `{status}`")))?,
        max_steps: row.int("max_steps")?,
        progress_step: row.int("progress_step")?,
        stop_reason: row.opt_text("stop_reason")?,
        result: row.opt_text("result")?,
        error: row.opt_text("error")?,
        continued_from: row.opt_text("continued_from")?,
        created_at: row.text("created_at")?,
        started_at: row.opt_text("started_at")?,
        finished_at: row.opt_text("finished_at")?,
    })
}

/// Milliseconds since the Unix epoch: lease deadlines are compared as integers, the same way
/// on both backends, by the clocks of the worker processes (kept in sync by NTP; a lease is
/// seconds long, clock skew milliseconds).
fn unix_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn lease_deadline(lease: Duration) -> i64 {
    unix_millis().saturating_add(lease.as_millis() as i64)
}

impl Store {
    /// Stores a new queued job, unless its tenant already has `max_active_jobs` queued or
    /// running ([`StoreError::TooManyActiveJobs`]): the count and the insert are one statement,
    /// so concurrent submissions cannot overshoot the quota. A `dataset_id` that names no
    /// dataset (deleted since the job was validated) is [`StoreError::NotFound`]: the foreign
    /// key checks it atomically.
    pub async fn insert_job(&self, job: NewJob<'_>) -> Result<JobRow, StoreError> {
        let tags =
            serde_json::to_string(job.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sql = format!(
            "INSERT INTO job (job_id, tenant, name, tags, spec, problem_kind, optimizer_name, status, \
               max_steps, dataset_id, continued_from, resume_state, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, 'queued', $8, $9, $10, $11, $12 \
             WHERE (SELECT COUNT(*) FROM job WHERE tenant = $2 AND status IN ('queued', 'running')) < $13 \
             RETURNING {JOB_COLUMNS}"
        );
        // The tenant's lock: the quota's count and the insert see the same jobs, and a
        // dataset cannot be deleted between its check and the insert.
        let mut tx = self.begin_write(Some(job.tenant.as_str())).await?;
        let inserted = on_tx!(tx, c => sqlx::query(&sql)
        .bind(job.job_id)
        .bind(job.tenant.as_str())
        .bind(job.name)
        .bind(tags)
        .bind(job.spec)
        .bind(job.problem_kind)
        .bind(job.optimizer_name)
        .bind(job.max_steps)
        .bind(job.dataset_id)
        .bind(job.continued_from)
        .bind(job.resume_state)
        .bind(now())
        .bind(i64::try_from(job.max_active_jobs).unwrap_or(i64::MAX))
        .fetch_optional(c)
        .await
        .map(|row| row.as_ref().map(job_from_row)))
        .map_err(|e| match e {
            sqlx::Error::Database(db) if db.kind() == ErrorKind::ForeignKeyViolation => {
                let id = job.dataset_id.unwrap_or_default();
                StoreError::NotFound(format!("no dataset with id `{id}`"))
            }
            other => other.into(),
        })?
        .transpose()?
        .ok_or(StoreError::TooManyActiveJobs {
            limit: job.max_active_jobs,
        })?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// How many jobs of `tenant` are queued or running.
    pub async fn count_active_jobs(&self, tenant: &Tenant) -> Result<u64, StoreError> {
        let count: i64 = on_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM job WHERE tenant = $1 AND status IN ('queued', 'running')",
        )
        .bind(tenant.as_str())
        .fetch_one(p)
        .await?);
        Ok(count as u64)
    }

    /// Reads one of `tenant`'s jobs by its public id (another tenant's job is not found).
    pub async fn get_job(&self, tenant: &Tenant, job_id: &str) -> Result<JobRow, StoreError> {
        if names_no_row(job_id) {
            return Err(StoreError::NotFound(format!("no job with id `{job_id}`")));
        }
        let sql = format!("SELECT {JOB_COLUMNS} FROM job WHERE job_id = $1 AND tenant = $2");
        on_pool!(self, p => sqlx::query(&sql)
        .bind(job_id)
        .bind(tenant.as_str())
        .fetch_optional(p)
        .await?
        .as_ref()
        .map(job_from_row))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("no job with id `{job_id}`")))
    }

    /// `tenant`'s jobs matching a condition on the `job` table with one parameter, `$2`, in
    /// submission order.
    pub(super) async fn jobs_where(
        &self,
        tenant: &Tenant,
        condition: &str,
        value: &str,
    ) -> Result<Vec<JobRow>, StoreError> {
        if names_no_row(value) {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM job WHERE tenant = $1 AND {condition} ORDER BY job_seq"
        );
        on_pool!(self, p => sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(value)
        .fetch_all(p)
        .await?
        .iter()
        .map(job_from_row)
        .collect())
    }

    /// Lists jobs newest first; returns up to `limit + 1` rows so the caller can tell whether
    /// another page follows.
    pub async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobRow>, StoreError> {
        if filter.tag.as_deref().is_some_and(names_no_row) {
            return Ok(Vec::new());
        }
        let tags = self.backend.pick(
            "json_each(job.tags)",
            "jsonb_array_elements_text(job.tags::jsonb) AS tag(value)",
        );
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM job \
             WHERE tenant = $5 AND ($1 IS NULL OR status = $1) \
               AND ($2 IS NULL OR EXISTS (SELECT 1 FROM {tags} WHERE value = $2)) \
               AND ($3 IS NULL OR job_seq < $3) \
             ORDER BY job_seq DESC LIMIT $4"
        );
        on_pool!(self, p => sqlx::query(&sql)
        .bind(filter.status.map(JobStatus::as_str))
        .bind(filter.tag.as_deref())
        .bind(filter.before_seq)
        .bind(filter.limit + 1)
        .bind(filter.tenant.as_str())
        .fetch_all(p)
        .await?
        .iter()
        .map(job_from_row)
        .collect())
    }

    /// How many jobs are in each status (statuses without jobs are left out), for /metrics.
    pub async fn count_jobs_by_status(&self) -> Result<Vec<(JobStatus, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = on_pool!(self, p =>
            sqlx::query_as("SELECT status, COUNT(*) FROM job GROUP BY status ORDER BY status")
                .fetch_all(p)
                .await?);
        rows.into_iter()
            .map(|(status, count)| {
                JobStatus::parse(&status)
                    .map(|s| (s, count))
                    .ok_or_else(|| StoreError::Corrupt(format!("job status `{status}`")))
            })
            .collect()
    }

    /// Takes the oldest queued job, marks it running and gives `holder` (a claim, see
    /// [`Holder::claim`]) a lease on it, atomically: no job is handed to two workers. On PostgreSQL the
    /// candidate row is locked with `FOR UPDATE SKIP LOCKED`, so workers claiming at the same
    /// time take different jobs instead of waiting for each other.
    pub async fn claim_next_job(&self, holder: &Holder) -> Result<Option<JobRow>, StoreError> {
        let skip_locked = self.backend.pick("", " FOR UPDATE SKIP LOCKED");
        let sql = format!(
            "UPDATE job SET status = 'running', started_at = COALESCE(started_at, $1), \
               lease_owner = $2, lease_expires_at = $3 \
             WHERE job_seq = (SELECT job_seq FROM job WHERE status = 'queued' \
                              ORDER BY job_seq LIMIT 1{skip_locked}) \
             RETURNING {JOB_COLUMNS}"
        );
        on_pool!(self, p => sqlx::query(&sql)
        .bind(now())
        .bind(&holder.worker)
        .bind(lease_deadline(holder.lease))
        .fetch_optional(p)
        .await?
        .as_ref()
        .map(job_from_row))
        .transpose()
    }

    /// Renews the leases of every claim of the worker `holder` (see [`Holder::claim`]) on its
    /// running jobs until `lease` from now, and returns them with their cancel flags: the
    /// heartbeat that keeps a job with its worker and carries a cancel made through any API
    /// process to it. A claim of this worker missing from the answer was lost (its lease had
    /// expired and the job went back to the queue, maybe to be claimed again, by another claim).
    pub async fn renew_leases(&self, holder: &Holder) -> Result<Vec<RenewedLease>, StoreError> {
        let rows: Vec<(i64, String, i64)> = on_pool!(self, p => sqlx::query_as(
            "UPDATE job SET lease_expires_at = $1 \
             WHERE status = 'running' AND substr(lease_owner, 1, length($2) + 1) = $2 || '#' \
             RETURNING job_seq, lease_owner, cancel_requested",
        )
        .bind(lease_deadline(holder.lease))
        .bind(&holder.worker)
        .fetch_all(p)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(seq, owner, cancel)| RenewedLease {
                seq,
                owner,
                cancel_requested: cancel != 0,
            })
            .collect())
    }

    /// Checks, inside a write transaction and before anything else is written, that `holder`
    /// still holds its lease on job `seq`, and moves the lease's deadline on. The row is locked
    /// from here to the commit, so a worker that lost its lease can never write after the job
    /// was handed to another one.
    pub(super) async fn hold_lease(
        &self,
        tx: &mut Tx,
        seq: i64,
        holder: &Holder,
    ) -> Result<(), StoreError> {
        let held = on_tx!(*tx, c => sqlx::query(
            "UPDATE job SET lease_expires_at = $1 \
             WHERE job_seq = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(lease_deadline(holder.lease))
        .bind(seq)
        .bind(&holder.worker)
        .execute(c)
        .await?
        .rows_affected());
        if held == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }

    /// The checkpoints a job's run starts from: `resume_state`, where a continuation of
    /// another job begins, and `checkpoint`, the latest one stored by an earlier, interrupted
    /// run of this job (it wins when present).
    pub async fn run_state(
        &self,
        seq: i64,
    ) -> Result<(Option<String>, Option<String>), StoreError> {
        let row: Option<(Option<String>, Option<String>)> = on_pool!(self, p =>
            sqlx::query_as("SELECT resume_state, checkpoint FROM job WHERE job_seq = $1")
                .bind(seq)
                .fetch_optional(p)
                .await?);
        Ok(row.unwrap_or((None, None)))
    }

    /// The checkpoint at the end of a finished job's run.
    pub async fn final_state(&self, seq: i64) -> Result<Option<String>, StoreError> {
        let state: Option<Option<String>> = on_pool!(self, p =>
            sqlx::query_scalar("SELECT final_state FROM job WHERE job_seq = $1")
                .bind(seq)
                .fetch_optional(p)
                .await?);
        Ok(state.flatten())
    }

    /// Whether a cancel was requested for a running job.
    pub async fn cancel_requested(&self, seq: i64) -> Result<bool, StoreError> {
        let flag: Option<i64> = on_pool!(self, p =>
            sqlx::query_scalar("SELECT cancel_requested FROM job WHERE job_seq = $1")
                .bind(seq)
                .fetch_optional(p)
                .await?);
        Ok(flag.unwrap_or(0) != 0)
    }

    /// Cancels a job: a queued one at once, a running one by setting its flag (its worker,
    /// in whichever process, stops it at its next step or heartbeat). Finished jobs are left as
    /// they are.
    pub async fn request_cancel(
        &self,
        tenant: &Tenant,
        job_id: &str,
    ) -> Result<JobRow, StoreError> {
        if names_no_row(job_id) {
            return self.get_job(tenant, job_id).await;
        }
        on_pool!(self, p => sqlx::query(
            "UPDATE job SET \
               status = CASE status WHEN 'queued' THEN 'cancelled' ELSE status END, \
               stop_reason = CASE status WHEN 'queued' THEN 'cancelled' ELSE stop_reason END, \
               finished_at = CASE status WHEN 'queued' THEN $1 ELSE finished_at END, \
               cancel_requested = CASE WHEN status IN ('queued', 'running') THEN 1 ELSE cancel_requested END \
             WHERE job_id = $2 AND tenant = $3",
        )
        .bind(now())
        .bind(job_id)
        .bind(tenant.as_str())
        .execute(p)
        .await?.rows_affected());
        self.get_job(tenant, job_id).await
    }

    /// Records how a run ended, with the checkpoint a continuation would start from (the
    /// periodic recovery checkpoint is no longer needed) — if `holder` still holds the job
    /// ([`StoreError::LeaseLost`] if not: the worker that holds it now records the end).
    pub async fn finish_job(
        &self,
        seq: i64,
        holder: &Holder,
        ending: &JobEnding<'_>,
    ) -> Result<(), StoreError> {
        let finished = on_pool!(self, p => sqlx::query(
            "UPDATE job SET status = $1, stop_reason = $2, progress_step = $3, result = $4, \
               error = $5, final_state = $6, finished_at = $7, checkpoint = NULL, \
               checkpoint_step = NULL, lease_owner = NULL, lease_expires_at = NULL \
             WHERE job_seq = $8 AND lease_owner = $9 AND status = 'running'",
        )
        .bind(ending.status.as_str())
        .bind(ending.stop_reason)
        .bind(ending.progress_step)
        .bind(ending.result)
        .bind(ending.error)
        .bind(ending.final_state)
        .bind(now())
        .bind(seq)
        .bind(&holder.worker)
        .execute(p)
        .await?
        .rows_affected());
        if finished == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }

    /// Deletes a finished job and its history. Returns the job as it was, or `None` if it is
    /// still queued or running (and so was not deleted).
    pub async fn delete_finished_job(
        &self,
        tenant: &Tenant,
        job_id: &str,
    ) -> Result<Option<JobRow>, StoreError> {
        let job = self.get_job(tenant, job_id).await?;
        let mut tx = self.begin_write(None).await?;
        let deleted = on_tx!(tx, c => sqlx::query(
            "DELETE FROM job WHERE job_seq = $1 AND status IN ('succeeded', 'failed', 'cancelled')",
        )
        .bind(job.seq)
        .execute(c)
        .await?
        .rows_affected());
        if deleted == 1 {
            on_tx!(tx, c => sqlx::query("DELETE FROM step WHERE job_seq = $1")
                .bind(job.seq)
                .execute(c)
                .await?.rows_affected());
        }
        tx.commit().await?;
        Ok((deleted == 1).then_some(job))
    }

    /// Puts running jobs whose worker is gone back in the queue, or fails them once they have
    /// been resumed `max_attempts` times without finishing. With `all_running`, every running
    /// job counts as abandoned (a SQLite process starting: it is the only one); otherwise only
    /// those whose lease expired (PostgreSQL, where other workers are alive). A job with a
    /// stored checkpoint keeps its history before the checkpoint's step (the resumed run
    /// records that step again); one without restarts from its beginning with no history. The
    /// run picks the checkpoint up through [`Store::run_state`].
    pub async fn recover_interrupted_jobs(
        &self,
        max_attempts: u32,
        all_running: bool,
    ) -> Result<Recovery, StoreError> {
        let message = format!(
            "the worker running this job stopped, and it was resumed {max_attempts} \
             times without finishing; submit it again, with fewer steps or a smaller problem \
             if it is what brings the workers down"
        );
        let mut tx = self.begin_write(None).await?;
        // Lock the abandoned rows first: a worker whose lease just expired and that is still
        // writing waits for this transaction, then finds its lease gone.
        let lock = self.backend.pick("", " FOR UPDATE SKIP LOCKED");
        let abandoned: Vec<(i64, i64, Option<i64>, i64)> = on_tx!(tx, c => sqlx::query_as(&format!(
            "SELECT job_seq, resume_attempts, checkpoint_step, progress_step FROM job \
             WHERE status = 'running' AND ($1 OR lease_expires_at IS NULL OR lease_expires_at < $2) \
             ORDER BY job_seq{lock}"
        ))
        .bind(all_running)
        .bind(unix_millis())
        .fetch_all(c)
        .await?);
        let mut recovery = Recovery::default();
        for (seq, attempts, checkpoint_step, progress_step) in abandoned {
            if attempts >= i64::from(max_attempts) {
                let error =
                    serde_json::json!({ "step": progress_step, "message": message }).to_string();
                on_tx!(tx, c => sqlx::query(
                    "UPDATE job SET status = 'failed', stop_reason = 'interrupted', error = $1, \
                       finished_at = $2, lease_owner = NULL, lease_expires_at = NULL \
                     WHERE job_seq = $3",
                )
                .bind(error)
                .bind(now())
                .bind(seq)
                .execute(c)
                .await?.rows_affected());
                recovery.failed += 1;
                continue;
            }
            // Without a checkpoint, every record goes.
            on_tx!(tx, c => sqlx::query("DELETE FROM step WHERE job_seq = $1 AND step >= $2")
                .bind(seq)
                .bind(checkpoint_step.unwrap_or(-1))
                .execute(c)
                .await?.rows_affected());
            on_tx!(tx, c => sqlx::query(
                "UPDATE job SET status = 'queued', resume_attempts = resume_attempts + 1, \
                   lease_owner = NULL, lease_expires_at = NULL, \
                   progress_step = COALESCE((SELECT MAX(step) FROM step WHERE step.job_seq = job.job_seq), 0) \
                 WHERE job_seq = $1",
            )
            .bind(seq)
            .execute(c)
            .await?.rows_affected());
            if checkpoint_step.is_some() {
                recovery.resumed += 1;
            } else {
                recovery.restarted += 1;
            }
        }
        tx.commit().await?;
        Ok(recovery)
    }

    /// Puts a job this worker stopped for shutdown back in the queue, to resume from
    /// `checkpoint` (made at `step`, whose record the resumed run makes again).
    pub async fn requeue_job(
        &self,
        seq: i64,
        holder: &Holder,
        step: u64,
        checkpoint: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write(None).await?;
        self.hold_lease(&mut tx, seq, holder).await?;
        on_tx!(tx, c => sqlx::query("DELETE FROM step WHERE job_seq = $1 AND step >= $2")
            .bind(seq)
            .bind(step as i64)
            .execute(c)
            .await?.rows_affected());
        on_tx!(tx, c => sqlx::query(
            "UPDATE job SET status = 'queued', checkpoint = $1, checkpoint_step = $2, \
               lease_owner = NULL, lease_expires_at = NULL, \
               progress_step = COALESCE((SELECT MAX(step) FROM step WHERE step.job_seq = job.job_seq), 0) \
             WHERE job_seq = $3",
        )
        .bind(checkpoint)
        .bind(step as i64)
        .bind(seq)
        .execute(c)
        .await?.rows_affected());
        tx.commit().await?;
        Ok(())
    }
}

/// A worker, as the holder of leases on the jobs it runs, or one claim of a worker (see
/// [`Holder::claim`]).
#[derive(Debug, Clone)]
pub struct Holder {
    /// Unique per worker process (host, process id and a random part); a claim's adds
    /// `#<claim number>`.
    pub worker: String,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
}

impl Holder {
    /// The holder of one claim of this worker, `number` a number the worker never uses twice.
    /// Jobs are claimed, written and finished under the claim's own name, so a run that lost
    /// its job (its lease expired while it stalled, and the job went back to the queue) is
    /// fenced out even when another run of its own process has claimed the job again since;
    /// [`Store::renew_leases`] renews all of a worker's claims at once.
    pub fn claim(&self, number: u64) -> Holder {
        Holder {
            worker: format!("{}#{number}", self.worker),
            lease: self.lease,
        }
    }
}

/// A lease renewed by [`Store::renew_leases`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewedLease {
    /// The job.
    pub seq: i64,
    /// The claim that holds it (see [`Holder::claim`]).
    pub owner: String,
    /// Whether a client asked to cancel it.
    pub cancel_requested: bool,
}

/// What [`Store::recover_interrupted_jobs`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Jobs queued to resume from their checkpoint.
    pub resumed: u64,
    /// Jobs queued to run again from their beginning (they died before a checkpoint).
    pub restarted: u64,
    /// Jobs failed after too many attempts.
    pub failed: u64,
}
