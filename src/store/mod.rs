//! Everything SQL: the only module that talks to the database.
//!
//! One store, two backends. SQLite is the embedded default: WAL mode with a busy timeout, and
//! every write transaction opened with `BEGIN IMMEDIATE`, which takes the write lock up front so
//! a writer waits in the busy handler instead of failing with "database is locked".
//! PostgreSQL serves many API and worker processes; there, transactions that check and then
//! act (a tenant's quota, a dataset's users, an idempotency key) take a transaction-scoped
//! advisory lock instead of a database-wide one.
//!
//! Queries are written once, with `$N` placeholders (both drivers accept them), and run on
//! whichever pool the URL chose through [`on_pool!`] and [`on_tx!`]; where the dialects differ
//! (JSON functions, row locking), [`Backend`] picks the fragment.

mod api_key;
mod dataset;
mod idempotency;
mod job;
mod rows;
mod step;
mod sweep;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Postgres, Sqlite, SqlitePool, Transaction};

pub use api_key::{ApiKeyRow, KeyOwner};
pub use dataset::{DatasetRow, DatasetValues, NewDataset};
pub use idempotency::{IdempotencyClaim, StoredResponse};
pub use job::{Holder, JobEnding, JobFilter, JobRow, JobStatus, NewJob, Recovery, RenewedLease};
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
    /// This worker no longer holds the job: its lease expired and the job went back to the
    /// queue (another worker resumes it), so nothing this worker writes for it is kept.
    #[error("the lease on this job was lost; another worker resumes it")]
    LeaseLost,
    /// The database URL names no backend saddle knows.
    #[error("unsupported database URL `{0}`: use sqlite://FILE or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
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

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One file, one process.
    Sqlite,
    /// A server shared by any number of API and worker processes.
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_string()))
        }
    }

    /// The name shown in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Picks the SQL fragment of this backend where the dialects differ.
    pub(crate) fn pick(self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }
}

/// How the database is opened.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreOptions {
    /// The most connections the pool keeps (default: 8 on SQLite, 16 on PostgreSQL).
    pub max_connections: Option<u32>,
}

/// The pool of one of the backends.
#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A transaction on one of the backends.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// Runs `$body` with `$p` bound to the store's pool, whichever backend it is: the body is
/// written once and compiled for both drivers.
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the transaction's connection, whichever backend it is.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match &mut $tx {
            $crate::store::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use {on_pool, on_tx};

/// The database handle shared by the API and the workers.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    backend: Backend,
    /// Serializes history writes in this process, first come first served (SQLite only):
    /// SQLite's busy handler polls, so with several jobs committing batches and checkpoints a
    /// writer could lose the race for the write lock for seconds.
    history_gate: Arc<tokio::sync::Mutex<()>>,
    /// How often and how long write transactions waited to begin.
    lock_waits: Arc<LockWaitCounters>,
}

/// A write transaction slower than this to begin waited for a lock: uncontended it takes
/// microseconds (SQLite's busy handler sleeps at least 1 ms before it tries again).
pub const LOCK_WAIT_THRESHOLD: Duration = Duration::from_millis(1);

#[derive(Default)]
struct LockWaitCounters {
    waits: AtomicU64,
    wait_nanos: AtomicU64,
}

/// Totals of the waits for write locks since the process started (for /metrics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LockWaits {
    /// Write transactions that took over [`LOCK_WAIT_THRESHOLD`] to begin.
    pub waits: u64,
    /// The time all write transactions spent beginning, in seconds.
    pub wait_seconds: f64,
}

/// How long a statement waits for the write lock (or a pool connection) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Opens and migrates the database at `url` with `options`.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let backend = Backend::of_url(url)?;
        let pool = match backend {
            Backend::Sqlite => {
                let connect = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(BUSY_TIMEOUT)
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(options.max_connections.unwrap_or(8))
                    .min_connections(1)
                    .acquire_timeout(BUSY_TIMEOUT)
                    .connect_with(connect)
                    .await?;
                sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
                Pool::Sqlite(pool)
            }
            Backend::Postgres => {
                let connect = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(options.max_connections.unwrap_or(16))
                    .min_connections(1)
                    .acquire_timeout(BUSY_TIMEOUT)
                    .connect_with(connect)
                    .await?;
                // Several processes may start at once: the migrator takes its own advisory
                // lock, so exactly one applies each migration.
                sqlx::migrate!("./migrations/postgres").run(&pool).await?;
                Pool::Postgres(pool)
            }
        };
        Ok(Self {
            pool,
            backend,
            history_gate: Arc::new(tokio::sync::Mutex::new(())),
            lock_waits: Arc::default(),
        })
    }

    /// The backend behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Opens a write transaction and counts how long it took to begin. On SQLite it is
    /// `BEGIN IMMEDIATE`: the database's write lock up front, waiting in the busy handler while
    /// another connection holds it. On PostgreSQL, rows are locked as they are written, and a
    /// transaction that checks and then acts passes `serialize_on`: it takes the advisory lock
    /// of that key first, so two such transactions on the same key run one after the other
    /// (as all writes do on SQLite). The wait is timed after a pool connection was acquired
    /// (a wait for the pool is not a wait for a lock).
    pub(crate) async fn begin_write(&self, serialize_on: Option<&str>) -> Result<Tx, StoreError> {
        let started;
        let tx = match &self.pool {
            Pool::Sqlite(pool) => {
                let connection = pool.acquire().await?;
                started = Instant::now();
                Tx::Sqlite(Transaction::begin(connection, Some("BEGIN IMMEDIATE".into())).await?)
            }
            Pool::Postgres(pool) => {
                let connection = pool.acquire().await?;
                started = Instant::now();
                let mut tx = Transaction::begin(connection, None).await?;
                if let Some(key) = serialize_on {
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                }
                Tx::Postgres(tx)
            }
        };
        let waited = started.elapsed();
        self.lock_waits
            .wait_nanos
            .fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
        if waited > LOCK_WAIT_THRESHOLD {
            self.lock_waits.waits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(tx)
    }

    /// The waits for write locks so far.
    pub fn write_lock_waits(&self) -> LockWaits {
        LockWaits {
            waits: self.lock_waits.waits.load(Ordering::Relaxed),
            wait_seconds: self.lock_waits.wait_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }

    /// The SQLite pool, when that is the backend: for benchmarks that measure the raw
    /// database.
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            Pool::Sqlite(pool) => Some(pool),
            Pool::Postgres(_) => None,
        }
    }

    /// Runs one SQL statement without parameters and returns the rows it changed: for tests
    /// and benchmarks that stage or inspect the raw database (never used with client input).
    pub async fn execute_unchecked(&self, sql: &str) -> Result<u64, StoreError> {
        Ok(on_pool!(self, p => sqlx::query(sql).execute(p).await?.rows_affected()))
    }

    /// Runs a query without parameters that returns one integer (`SELECT COUNT(*) …`): for
    /// tests and benchmarks that inspect the raw database.
    pub async fn fetch_i64_unchecked(&self, sql: &str) -> Result<Option<i64>, StoreError> {
        Ok(on_pool!(self, p => sqlx::query_scalar(sql).fetch_one(p).await?))
    }

    /// Returns the named secret, creating it from `make` the first time.
    pub async fn secret(
        &self,
        name: &str,
        make: impl FnOnce() -> Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let candidate = make();
        on_pool!(self, p => sqlx::query(
            "INSERT INTO setting (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(&candidate)
        .execute(p)
        .await?.rows_affected());
        let value: Vec<u8> = on_pool!(self, p => sqlx::query_scalar("SELECT value FROM setting WHERE name = $1")
            .bind(name)
            .fetch_one(p)
            .await?);
        Ok(value)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await?.rows_affected());
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await);
    }
}

/// PostgreSQL's text cannot hold NUL, so a key containing one (from a URL's path or query)
/// names no row — on both backends alike, without asking the database.
pub(crate) fn names_no_row(key: &str) -> bool {
    key.contains('\0')
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
