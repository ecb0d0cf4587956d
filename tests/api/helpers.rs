//! `TestApp`: the real server on a random port with a fresh database, driven over HTTP.
//!
//! The database is a [`TestDatabase`] on the backend the test target's root names in
//! `crate::BACKEND`: the same test files compile into `api` (SQLite) and `api_postgres`.

use std::time::{Duration, Instant};

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;
use tempfile::TempDir;

use saddle::config::{AuthMode, Role, ServeConfig};
use saddle::startup::Application;
use saddle::store::Backend;

/// The environment variable naming the PostgreSQL server of the tests: an admin URL, whose
/// user may `CREATE DATABASE`.
pub const POSTGRES_URL_VAR: &str = "SADDLE_TEST_POSTGRES_URL";

/// The PostgreSQL server of the tests when [`POSTGRES_URL_VAR`] is unset.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh, empty database for one test: a SQLite file in a temporary directory, or a
/// PostgreSQL database `saddle_test_<random hex>` created on the server of
/// [`POSTGRES_URL_VAR`]. Dropping it deletes the file or drops the database (with `FORCE`,
/// closing any connection left).
pub struct TestDatabase {
    url: String,
    _dir: Option<TempDir>,
    /// (admin URL, database name) of a PostgreSQL database to drop.
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// A fresh database on the tests' backend.
    pub async fn create() -> Self {
        Self::create_on(crate::BACKEND).await
    }

    /// A fresh database on `backend`.
    pub async fn create_on(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                Self {
                    url: format!("sqlite://{}", dir.path().join("saddle.db").display()),
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            Backend::Postgres => {
                let admin = std::env::var(POSTGRES_URL_VAR)
                    .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
                let name = format!("saddle_test_{}", uuid::Uuid::new_v4().simple());
                let mut connection = admin_connection(&admin).await;
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut connection)
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "CREATE DATABASE {name} on the PostgreSQL server of the tests \
                             ({admin}, from {POSTGRES_URL_VAR}) failed: {e}"
                        )
                    });
                let _ = connection.close().await;
                Self {
                    url: database_url(&admin, &name),
                    _dir: None,
                    postgres: Some((admin, name)),
                }
            }
        }
    }

    /// The database URL, for `ServeConfig.database_url`, `Store::connect` or `DATABASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop cannot await, and may run inside the test's runtime: a thread of its own with
        // its own runtime drops the database, and is waited for, so none is left behind.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut connection = sqlx::PgConnection::connect(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut connection)
                    .await
                    .map_err(|e| format!("DROP DATABASE {name}: {e}"))?;
                let _ = connection.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        // Never panic here: a failing test unwinding through this would abort the run.
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: the test database was left behind: {e}"),
            Err(_) => eprintln!("warning: dropping the test database panicked"),
        }
    }
}

/// A connection to the PostgreSQL server of the tests, failing loudly when it is unreachable.
async fn admin_connection(admin: &str) -> sqlx::PgConnection {
    match tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect(admin)).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => panic!(
            "the PostgreSQL server of the tests is unreachable at {admin} ({e}): start it, or \
             set {POSTGRES_URL_VAR} to the URL of one whose user may CREATE DATABASE"
        ),
        Err(_) => panic!(
            "the PostgreSQL server of the tests at {admin} did not answer within 10 s: start \
             it, or set {POSTGRES_URL_VAR} to the URL of one whose user may CREATE DATABASE"
        ),
    }
}

/// `admin` (`postgres://USER@HOST:PORT/DB?PARAMS`) with its database replaced by `name`.
fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// An HTTP client.
    pub client: Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    /// The database made for this server (none when the test passed its own URL); dropped
    /// after the server has stopped (fields drop in order).
    _database: Option<TestDatabase>,
}

/// The configuration tests start from: port 0, the database at `database_url`, two workers.
pub fn test_config(database_url: &str) -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: database_url.to_string(),
        workers: Some(2),
        threads_per_job: 1,
        max_steps_limit: 10_000_000,
        max_params: 1_000_000,
        max_body_bytes: 16 * 1024 * 1024,
        max_dataset_rows: 1_000_000,
        max_dataset_columns: 1_000,
        max_dataset_bytes: 64 * 1024 * 1024,
        max_expression_bytes: 100_000,
        max_expression_depth: 256,
        max_tape: 1_000_000,
        shutdown_seconds: 5,
        checkpoint_seconds: 5.0,
        cors_origins: Vec::new(),
        // -- tenants, API keys and quotas --
        auth: AuthMode::Auto,
        admin_token: None,
        max_active_jobs_per_tenant: 1000,
        // Request limits (issue 8, hardening): off unless a test turns them on.
        rate_limit_rps: 0.0,
        rate_limit_burst: 200,
        max_seconds_limit: 86_400.0,
        // -- many processes on PostgreSQL (issue 9) --
        role: Role::All,
        db_max_connections: None,
        lease_seconds: 15.0,
        heartbeat_seconds: 1.0,
    }
}

impl TestApp {
    /// Starts a server with the default test configuration.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed the test configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut ServeConfig)) -> Self {
        // A test that shares a database between servers sets its URL; otherwise a fresh one.
        let mut config = test_config("");
        adjust(&mut config);
        let database = if config.database_url.is_empty() {
            let database = TestDatabase::create().await;
            config.database_url = database.url().to_string();
            Some(database)
        } else {
            None
        };
        let app = Application::build(config).await.expect("server builds");
        let address = format!("http://{}", app.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        Self {
            address,
            client: Client::new(),
            stop: Some(stop),
            server: Some(server),
            _database: database,
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// POST `body` as JSON to `path`.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// Submits a job and returns its JSON, asserting 201.
    pub async fn submit(&self, spec: &Value) -> Value {
        let response = self.post_json("/v1/jobs", spec).await;
        let status = response.status();
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(status, StatusCode::CREATED, "submit failed: {body}");
        body
    }

    /// Polls a job until it has finished, failing after `timeout`.
    pub async fn wait_finished(&self, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let job: Value = self
                .get(&format!("/v1/jobs/{id}"))
                .await
                .json()
                .await
                .unwrap();
            let status = job["status"].as_str().unwrap().to_string();
            if ["succeeded", "failed", "cancelled"].contains(&status.as_str()) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} still {status} after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Reads the whole history of a job through the JSON pages.
    pub async fn all_steps(&self, id: &str, limit: usize) -> Vec<Value> {
        all_steps_of(&self.client, &self.address, id, limit).await
    }
}

/// Reads the whole history of job `id` through the JSON pages of the server at `address`
/// (`http://host:port`), `limit` records a page.
pub async fn all_steps_of(client: &Client, address: &str, id: &str, limit: usize) -> Vec<Value> {
    let mut steps = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!("{address}/v1/jobs/{id}/steps?limit={limit}");
        if let Some(t) = &token {
            url.push_str(&format!("&page_token={t}"));
        }
        let response = client.get(&url).send().await.expect("GET steps");
        assert!(
            response.status().is_success(),
            "GET {url}: {}",
            response.status()
        );
        let page: Value = response.json().await.unwrap();
        steps.extend(page["steps"].as_array().unwrap().iter().cloned());
        match page["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return steps,
        }
    }
}

/// The whole history of job `id` as the JSON text of each record: JSON numbers are written
/// with round-trip precision, so equal text is equal bits.
pub async fn history_text(client: &Client, address: &str, id: &str) -> Vec<String> {
    all_steps_of(client, address, id, 10_000)
        .await
        .iter()
        .map(Value::to_string)
        .collect()
}

/// A small Rosenbrock job with Adam.
pub fn rosenbrock_adam(max_steps: u64) -> Value {
    json!({
        "problem": {"kind": "builtin", "name": "rosenbrock"},
        "initial": [-1.5, 2.0],
        "optimizer": {"name": "adam", "lr": 0.05},
        "stop": {"max_steps": max_steps}
    })
}

/// The response's `Content-Type`, empty when absent.
pub fn content_type(response: &Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Asserts a problem+json response with `status`, returning its body.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(content_type(&response), "application/problem+json");
    let body: Value = response.json().await.expect("problem JSON");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["type"]
        .as_str()
        .unwrap()
        .starts_with("urn:saddle:problem:"));
    assert!(!body["title"].as_str().unwrap().is_empty());
    assert!(!body["detail"].as_str().unwrap().is_empty());
    body
}
