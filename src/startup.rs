//! Building the application (database, workers, listener) and running it until stopped.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use rand::RngCore;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::{Role, ServeConfig};
use crate::http::{app, with_cors, worker_app, Access, AppState, PageTokens};
use crate::jobs::{JobLimits, JobRunner, MAX_RESUME_ATTEMPTS};
use crate::store::{Backend, Recovery, Store, StoreError};
/// How long shutdown waits for the database connections to close.
const STORE_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listener could not be bound or the server failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// The settings contradict each other.
    #[error("{0}")]
    Config(String),
}

/// A built server: bound, migrated, workers started; not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    runner: JobRunner,
    workers: Vec<JoinHandle<()>>,
    store: Store,
    shutdown_grace: Duration,
}

impl Application {
    /// Opens the database, queues again the jobs a dead process left running, starts the
    /// workers and
    /// binds the listener (port 0 picks a free port, for tests).
    pub async fn build(config: ServeConfig) -> Result<Self, StartupError> {
        let backend = Backend::of_url(&config.database_url)?;
        if backend == Backend::Sqlite && config.role != Role::All {
            return Err(StartupError::Config(
                "--role api and --role worker share a PostgreSQL database between processes; \
                 with SQLite one process does both: use --role all, or DATABASE_URL=postgres://…"
                    .into(),
            ));
        }
        let store = Store::connect_with(&config.database_url, config.store_options()).await?;
        // SQLite: this process is the only one, so every job left running was abandoned.
        // PostgreSQL: only those whose lease expired; other workers' jobs are alive.
        let sole_process = backend == Backend::Sqlite;
        let recovery = if config.worker_count() > 0 {
            store
                .recover_interrupted_jobs(MAX_RESUME_ATTEMPTS, sole_process)
                .await?
        } else {
            Recovery::default()
        };
        if recovery != Recovery::default() {
            tracing::warn!(
                resumed = recovery.resumed,
                restarted = recovery.restarted,
                failed = recovery.failed,
                "jobs left running by a previous process: queued to resume from their last \
                 checkpoint (or from the start without one), or failed after {MAX_RESUME_ATTEMPTS} attempts"
            );
        }
        // An in-flight key of another live process must stay; on PostgreSQL an abandoned one
        // is freed when it expires.
        let abandoned = if sole_process {
            store.release_abandoned_idempotency_keys().await?
        } else {
            0
        };
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "Idempotency-Key requests in flight when the previous process stopped: keys freed"
            );
        }
        let key = store
            .secret("page_token_key", || {
                let mut key = vec![0u8; 32];
                rand::thread_rng().fill_bytes(&mut key);
                key
            })
            .await?;
        let limits = JobLimits {
            max_steps: config.max_steps_limit,
            max_params: config.max_params,
            max_seconds: config.max_seconds_limit,
            expr: config.expression_limits(),
            max_active_jobs: config.max_active_jobs_per_tenant,
            threads_per_job: config.threads_per_job,
        };
        let (runner, workers) = JobRunner::start(
            store.clone(),
            limits,
            config.worker_count(),
            config.checkpoint_every(),
            config.lease(),
        );
        let state = AppState {
            store: store.clone(),
            runner: runner.clone(),
            tokens: PageTokens::new(key),
            dataset_limits: config.dataset_limits(),
            access: Access::new(
                store.clone(),
                config.keys_required(),
                config.admin_token.as_deref(),
            ),
            http_metrics: Default::default(),
        };
        let router = match config.role {
            Role::Worker => worker_app(state),
            Role::All | Role::Api => with_cors(
                app(state, config.max_body_bytes, config.rate_limit()),
                &config.cors_origins,
            ),
        };
        let listener = TcpListener::bind(config.listen).await?;
        tracing::info!(
            address = %listener.local_addr()?,
            database = %redact_password(&config.database_url),
            role = ?config.role,
            workers = config.worker_count(),
            "saddle is listening"
        );
        if config.keys_required() {
            tracing::info!(
                "auth is on: /v1/ requests need `Authorization: Bearer <key>`; create keys with \
                 `saddle keys create --tenant NAME`"
            );
        } else {
            tracing::warn!(
                "auth is off: every request acts for the tenant `default` without a key \
                 (--auth on to require keys; auto turns them on off loopback)"
            );
        }
        Ok(Self {
            listener,
            router,
            runner,
            workers,
            store,
            shutdown_grace: Duration::from_secs(config.shutdown_seconds),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until SIGINT/SIGTERM, then stops the workers and waits for them (bounded).
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes, then stops accepting, stops the running jobs at their
    /// next step (they store a checkpoint and go back to the queue) and returns within the
    /// shutdown bound, even if requests or jobs are still busy.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut server = tokio::spawn(
            // With the peer's address, which keys the rate limit of clients without a token.
            axum::serve(
                self.listener,
                self.router
                    .into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
        );
        tokio::select! {
            () = stop => {}
            served = &mut server => {
                // The server ended on its own: an I/O error.
                self.runner.shutdown();
                return match served {
                    Ok(result) => result.map_err(StartupError::from),
                    Err(e) => Err(std::io::Error::other(e).into()),
                };
            }
        }
        tracing::info!("shutting down: no new requests, checkpointing running jobs");
        let _ = stopping.send(());
        self.runner.shutdown();
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        let drained = tokio::time::timeout_at(deadline, async {
            for worker in self.workers {
                let _ = worker.await;
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "workers did not stop in time; their jobs resume from their last checkpoint at the next start"
            );
        }
        if tokio::time::timeout_at(deadline, &mut server)
            .await
            .is_err()
        {
            tracing::warn!("open connections did not close in time; closing them");
            server.abort();
        }
        // A worker still running holds a connection: do not wait for it.
        let _ = tokio::time::timeout(STORE_CLOSE_WAIT, self.store.close()).await;
        Ok(())
    }
}

/// The database URL without its password, for the log.
fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
