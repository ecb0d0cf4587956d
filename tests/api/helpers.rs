//! `TestApp`: the real server on a random port with a temporary database, driven over HTTP.

use std::time::{Duration, Instant};

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

use saddle::config::{AuthMode, Role, ServeConfig};
use saddle::startup::Application;

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// An HTTP client.
    pub client: Client,
    /// Keeps the database directory alive for the test's duration.
    _dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// The configuration tests start from: port 0, a fresh SQLite file, two workers.
pub fn test_config(dir: &TempDir) -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite://{}", dir.path().join("saddle.db").display()),
        workers: Some(2),
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
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(&dir);
        adjust(&mut config);
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
            _dir: dir,
            stop: Some(stop),
            server: Some(server),
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
        let mut steps = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("/v1/jobs/{id}/steps?limit={limit}");
            if let Some(t) = &token {
                path.push_str(&format!("&page_token={t}"));
            }
            let page: Value = self.get(&path).await.json().await.unwrap();
            steps.extend(page["steps"].as_array().unwrap().iter().cloned());
            match page["next_page_token"].as_str() {
                Some(t) => token = Some(t.to_string()),
                None => return steps,
            }
        }
    }
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
