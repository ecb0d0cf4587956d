//! The `job` table: submission, the queue, status changes.

use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{now, Store, StoreError};
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

fn job_from_row(row: &SqliteRow) -> Result<JobRow, StoreError> {
    let status: String = row.try_get("status")?;
    let tags: String = row.try_get("tags")?;
    Ok(JobRow {
        seq: row.try_get("job_seq")?,
        job_id: row.try_get("job_id")?,
        tenant: Tenant::stored(row.try_get("tenant")?),
        name: row.try_get("name")?,
        tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        spec: row.try_get("spec")?,
        problem_kind: row.try_get("problem_kind")?,
        optimizer_name: row.try_get("optimizer_name")?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("job status `{status}`")))?,
        max_steps: row.try_get("max_steps")?,
        progress_step: row.try_get("progress_step")?,
        stop_reason: row.try_get("stop_reason")?,
        result: row.try_get("result")?,
        error: row.try_get("error")?,
        continued_from: row.try_get("continued_from")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
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
        let row = sqlx::query(&format!(
            "INSERT INTO job (job_id, tenant, name, tags, spec, problem_kind, optimizer_name, status, \
               max_steps, dataset_id, continued_from, resume_state, created_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?9, ?10, ?11, ?12 \
             WHERE (SELECT COUNT(*) FROM job WHERE tenant = ?2 AND status IN ('queued', 'running')) < ?13 \
             RETURNING {JOB_COLUMNS}"
        ))
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
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(db) if db.kind() == ErrorKind::ForeignKeyViolation => {
                let id = job.dataset_id.unwrap_or_default();
                StoreError::NotFound(format!("no dataset with id `{id}`"))
            }
            other => other.into(),
        })?
        .ok_or(StoreError::TooManyActiveJobs {
            limit: job.max_active_jobs,
        })?;
        job_from_row(&row)
    }

    /// How many jobs of `tenant` are queued or running.
    pub async fn count_active_jobs(&self, tenant: &Tenant) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM job WHERE tenant = ? AND status IN ('queued', 'running')",
        )
        .bind(tenant.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(count as u64)
    }

    /// Reads one of `tenant`'s jobs by its public id (another tenant's job is not found).
    pub async fn get_job(&self, tenant: &Tenant, job_id: &str) -> Result<JobRow, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM job WHERE job_id = ? AND tenant = ?"
        ))
        .bind(job_id)
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no job with id `{job_id}`")))?;
        job_from_row(&row)
    }

    /// `tenant`'s jobs matching a one-parameter condition on the `job` table, in submission
    /// order.
    pub(super) async fn jobs_where(
        &self,
        tenant: &Tenant,
        condition: &str,
        value: &str,
    ) -> Result<Vec<JobRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM job WHERE tenant = ? AND {condition} ORDER BY job_seq"
        ))
        .bind(tenant.as_str())
        .bind(value)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Lists jobs newest first; returns up to `limit + 1` rows so the caller can tell whether
    /// another page follows.
    pub async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM job \
             WHERE tenant = ?5 AND (?1 IS NULL OR status = ?1) \
               AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(job.tags) WHERE value = ?2)) \
               AND (?3 IS NULL OR job_seq < ?3) \
             ORDER BY job_seq DESC LIMIT ?4"
        ))
        .bind(filter.status.map(JobStatus::as_str))
        .bind(filter.tag.as_deref())
        .bind(filter.before_seq)
        .bind(filter.limit + 1)
        .bind(filter.tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// How many jobs are in each status (statuses without jobs are left out), for /metrics.
    pub async fn count_jobs_by_status(&self) -> Result<Vec<(JobStatus, i64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM job GROUP BY status ORDER BY status")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(status, count)| {
                JobStatus::parse(&status)
                    .map(|s| (s, count))
                    .ok_or_else(|| StoreError::Corrupt(format!("job status `{status}`")))
            })
            .collect()
    }

    /// Takes the oldest queued job and marks it running, atomically: no job is handed to two
    /// workers.
    pub async fn claim_next_job(&self) -> Result<Option<JobRow>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE job SET status = 'running', started_at = ? \
             WHERE job_seq = (SELECT job_seq FROM job WHERE status = 'queued' ORDER BY job_seq LIMIT 1) \
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The checkpoints a job's run starts from: `resume_state`, where a continuation of
    /// another job begins, and `checkpoint`, the latest one stored by an earlier, interrupted
    /// run of this job (it wins when present).
    pub async fn run_state(
        &self,
        seq: i64,
    ) -> Result<(Option<String>, Option<String>), StoreError> {
        let row: Option<(Option<String>, Option<String>)> =
            sqlx::query_as("SELECT resume_state, checkpoint FROM job WHERE job_seq = ?")
                .bind(seq)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.unwrap_or((None, None)))
    }

    /// The checkpoint at the end of a finished job's run.
    pub async fn final_state(&self, seq: i64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT final_state FROM job WHERE job_seq = ?")
                .bind(seq)
                .fetch_optional(&self.pool)
                .await?
                .flatten(),
        )
    }

    /// Whether a cancel was requested for a running job.
    pub async fn cancel_requested(&self, seq: i64) -> Result<bool, StoreError> {
        let flag: Option<i64> =
            sqlx::query_scalar("SELECT cancel_requested FROM job WHERE job_seq = ?")
                .bind(seq)
                .fetch_optional(&self.pool)
                .await?;
        Ok(flag.unwrap_or(0) != 0)
    }

    /// Cancels a job: a queued one at once, a running one by setting its flag (the worker stops
    /// it at its next step). Finished jobs are left as they are.
    pub async fn request_cancel(
        &self,
        tenant: &Tenant,
        job_id: &str,
    ) -> Result<JobRow, StoreError> {
        sqlx::query(
            "UPDATE job SET \
               status = CASE status WHEN 'queued' THEN 'cancelled' ELSE status END, \
               stop_reason = CASE status WHEN 'queued' THEN 'cancelled' ELSE stop_reason END, \
               finished_at = CASE status WHEN 'queued' THEN ?1 ELSE finished_at END, \
               cancel_requested = CASE WHEN status IN ('queued', 'running') THEN 1 ELSE cancel_requested END \
             WHERE job_id = ?2 AND tenant = ?3",
        )
        .bind(now())
        .bind(job_id)
        .bind(tenant.as_str())
        .execute(&self.pool)
        .await?;
        self.get_job(tenant, job_id).await
    }

    /// Records how a run ended, with the checkpoint a continuation would start from (the
    /// periodic recovery checkpoint is no longer needed).
    pub async fn finish_job(&self, seq: i64, ending: &JobEnding<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE job SET status = ?, stop_reason = ?, progress_step = ?, result = ?, error = ?, \
               final_state = ?, finished_at = ?, checkpoint = NULL, checkpoint_step = NULL \
             WHERE job_seq = ?",
        )
        .bind(ending.status.as_str())
        .bind(ending.stop_reason)
        .bind(ending.progress_step)
        .bind(ending.result)
        .bind(ending.error)
        .bind(ending.final_state)
        .bind(now())
        .bind(seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes a finished job and its history. Returns the job as it was, or `None` if it is
    /// still queued or running (and so was not deleted).
    pub async fn delete_finished_job(
        &self,
        tenant: &Tenant,
        job_id: &str,
    ) -> Result<Option<JobRow>, StoreError> {
        let job = self.get_job(tenant, job_id).await?;
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query(
            "DELETE FROM job WHERE job_seq = ? AND status IN ('succeeded', 'failed', 'cancelled')",
        )
        .bind(job.seq)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted == 1 {
            sqlx::query("DELETE FROM step WHERE job_seq = ?")
                .bind(job.seq)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok((deleted == 1).then_some(job))
    }

    /// Puts jobs left `running` by a process that died back in the queue, or fails them once
    /// they have been resumed `max_attempts` times without finishing. A job with a stored
    /// checkpoint keeps its history before the checkpoint's step (the resumed run records that
    /// step again); one without restarts from its beginning with no history. The run picks
    /// the checkpoint up through [`Store::run_state`].
    pub async fn recover_interrupted_jobs(
        &self,
        max_attempts: u32,
    ) -> Result<Recovery, StoreError> {
        let mut tx = self.begin_write().await?;
        let message = format!(
            "the server stopped while this job was running, and it was resumed {max_attempts} \
             times without finishing; submit it again, with fewer steps or a smaller problem \
             if it is what brings the server down"
        );
        let failed = sqlx::query(
            "UPDATE job SET status = 'failed', stop_reason = 'interrupted', \
               error = json_object('step', progress_step, 'message', ?), finished_at = ? \
             WHERE status = 'running' AND resume_attempts >= ?",
        )
        .bind(message)
        .bind(now())
        .bind(max_attempts)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let resumed: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM job WHERE status = 'running' AND checkpoint IS NOT NULL",
        )
        .fetch_one(&mut *tx)
        .await?;
        // Without a checkpoint, every record goes (COALESCE to the lowest step).
        sqlx::query(
            "DELETE FROM step WHERE job_seq IN (SELECT job_seq FROM job WHERE status = 'running') \
               AND step >= (SELECT COALESCE(job.checkpoint_step, -1) FROM job \
                            WHERE job.job_seq = step.job_seq)",
        )
        .execute(&mut *tx)
        .await?;
        let requeued = sqlx::query(
            "UPDATE job SET status = 'queued', resume_attempts = resume_attempts + 1, \
               progress_step = COALESCE((SELECT MAX(step) FROM step WHERE step.job_seq = job.job_seq), 0) \
             WHERE status = 'running'",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(Recovery {
            resumed: resumed as u64,
            restarted: requeued - resumed as u64,
            failed,
        })
    }

    /// Puts a job this process stopped for shutdown back in the queue, to resume from
    /// `checkpoint` (made at `step`, whose record the resumed run makes again).
    pub async fn requeue_job(
        &self,
        seq: i64,
        step: u64,
        checkpoint: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM step WHERE job_seq = ? AND step >= ?")
            .bind(seq)
            .bind(step as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE job SET status = 'queued', checkpoint = ?, checkpoint_step = ?, \
               progress_step = COALESCE((SELECT MAX(step) FROM step WHERE step.job_seq = job.job_seq), 0) \
             WHERE job_seq = ? AND status = 'running'",
        )
        .bind(checkpoint)
        .bind(step as i64)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
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
