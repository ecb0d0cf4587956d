//! Everything SQL: the only module that talks to the database.
//!
//! SQLite runs in WAL mode with a busy timeout; every write is a single statement or a
//! transaction opened with `BEGIN IMMEDIATE`, which takes the write lock up front, so a writer
//! waits in the busy handler instead of failing with "database is locked".

mod api_key;
mod dataset;
mod idempotency;
mod job;
mod step;
mod sweep;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

pub use api_key::{ApiKeyRow, KeyOwner};
pub use dataset::{DatasetRow, DatasetValues, NewDataset};
pub use idempotency::{IdempotencyClaim, StoredResponse};
pub use job::{JobEnding, JobFilter, JobRow, JobStatus, NewJob, Recovery};
pub use step::{StepBatch, StepRow};
pub use sweep::SweepRow;

/// Failures of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The tenant already has as many queued and running jobs as it may.
    #[error("the tenant already has {limit} queued or running jobs, its limit")]
    TooManyActiveJobs {
        /// The limit.
        limit: u64,
    },
    /// The database refused or failed the operation.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be decoded.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

/// The database handle shared by the API and the workers.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    /// Serializes history writes in this process, first come first served: SQLite's busy
    /// handler polls, so with several jobs committing batches and checkpoints a writer could
    /// lose the race for the write lock for seconds.
    history_gate: Arc<tokio::sync::Mutex<()>>,
    /// How often and how long write transactions waited for SQLite's write lock.
    lock_waits: Arc<LockWaitCounters>,
}

/// A `BEGIN IMMEDIATE` slower than this waited for the write lock: uncontended it takes
/// microseconds, and SQLite's busy handler sleeps at least 1 ms before it tries again.
pub const LOCK_WAIT_THRESHOLD: Duration = Duration::from_millis(1);

#[derive(Default)]
struct LockWaitCounters {
    waits: AtomicU64,
    wait_nanos: AtomicU64,
}

/// Totals of the waits for SQLite's write lock since the process started (for /metrics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LockWaits {
    /// Write transactions whose `BEGIN IMMEDIATE` took over [`LOCK_WAIT_THRESHOLD`].
    pub waits: u64,
    /// The time all write transactions spent in `BEGIN IMMEDIATE`, in seconds.
    pub wait_seconds: f64,
}

/// How long a statement waits for the write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self {
            pool,
            history_gate: Arc::new(tokio::sync::Mutex::new(())),
            lock_waits: Arc::default(),
        })
    }

    /// Opens a write transaction with `BEGIN IMMEDIATE` (the write lock up front, waiting in
    /// SQLite's busy handler while another connection holds it) and counts the wait. sqlx
    /// hides the busy handler's retries, so the wait is timed around the statement, after a
    /// pool connection was acquired (a wait for the pool is not a wait for the lock).
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        let connection = self.pool.acquire().await?;
        let started = Instant::now();
        let tx = Transaction::begin(connection, Some("BEGIN IMMEDIATE".into())).await?;
        let waited = started.elapsed();
        self.lock_waits
            .wait_nanos
            .fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
        if waited > LOCK_WAIT_THRESHOLD {
            self.lock_waits.waits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(tx)
    }

    /// The waits for the write lock so far.
    pub fn write_lock_waits(&self) -> LockWaits {
        LockWaits {
            waits: self.lock_waits.waits.load(Ordering::Relaxed),
            wait_seconds: self.lock_waits.wait_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }

    /// The pool, for benchmarks that measure the raw database.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Returns the named secret, creating it from `make` the first time.
    pub async fn secret(
        &self,
        name: &str,
        make: impl FnOnce() -> Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let candidate = make();
        sqlx::query(
            "INSERT INTO setting (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(&candidate)
        .execute(&self.pool)
        .await?;
        let value: Vec<u8> = sqlx::query_scalar("SELECT value FROM setting WHERE name = ?")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(value)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The current time as RFC 3339 (UTC, microseconds).
pub(crate) fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let micros = now.microsecond();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        micros
    )
}
