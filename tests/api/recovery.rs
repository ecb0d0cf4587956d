//! Crash recovery and graceful shutdown with the real binary: a job interrupted by `kill -9`
//! or SIGTERM resumes at the next start and ends with the history of an uninterrupted run,
//! bit for bit.
//!
//! On SQLite a starting process is the only one, so it queues again every job left running;
//! on PostgreSQL it only takes over jobs whose lease expired (other workers may be alive), so
//! the servers there run with a short lease for a killed server's jobs to come back promptly.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

use saddle::store::{Backend, Store};

use crate::helpers::{history_text, TestApp, TestDatabase};

/// A pool on the database the servers write, to watch its rows with plain SQL (`$N`
/// placeholders, which both drivers take).
enum Rows {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Rows {
    async fn open(url: &str) -> Self {
        match Backend::of_url(url).unwrap() {
            Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                    .unwrap()
                    .busy_timeout(Duration::from_secs(60));
                Rows::Sqlite(sqlx::SqlitePool::connect_with(options).await.unwrap())
            }
            Backend::Postgres => Rows::Postgres(sqlx::PgPool::connect(url).await.unwrap()),
        }
    }

    async fn close(self) {
        match self {
            Rows::Sqlite(pool) => pool.close().await,
            Rows::Postgres(pool) => pool.close().await,
        }
    }
}

/// Runs `$query` (a `sqlx::query_as(…)` with its binds, written once) on whichever pool.
macro_rules! fetch_one {
    ($rows:expr, $query:expr) => {
        match &$rows {
            Rows::Sqlite(pool) => $query.fetch_one(pool).await.unwrap(),
            Rows::Postgres(pool) => $query.fetch_one(pool).await.unwrap(),
        }
    };
}

/// The saddle binary serving a database, as a child process.
struct Server {
    child: Child,
    address: String,
    client: reqwest::Client,
}

impl Server {
    /// Starts the binary on a free port over the database at `url` and waits until it
    /// answers.
    async fn start(url: &str, log: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(log).unwrap();
        let err = log.try_clone().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_saddle"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", url)
            .args(["--workers", "5", "--checkpoint-seconds", "0.1"])
            .args(["--shutdown-seconds", "5"]);
        if Backend::of_url(url).unwrap() == Backend::Postgres {
            // The jobs of a killed server are taken over once their lease expires.
            command
                .env("SADDLE_LEASE_SECONDS", "1")
                .env("SADDLE_HEARTBEAT_SECONDS", "0.2");
        }
        let child = command
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("the saddle binary starts");
        let server = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server
            .client
            .get(server.url("/healthz"))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    async fn get(&self, path: &str) -> Value {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        response.json().await.unwrap()
    }

    async fn submit(&self, spec: &Value) -> String {
        let response = self
            .client
            .post(self.url("/v1/jobs"))
            .json(spec)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let job: Value = response.json().await.unwrap();
        job["id"].as_str().unwrap().to_string()
    }

    async fn wait_finished(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let job = self.get(&format!("/v1/jobs/{id}")).await;
            if ["succeeded", "failed", "cancelled"].contains(&job["status"].as_str().unwrap()) {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} did not finish: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The whole history as the JSON text of each record.
    async fn history(&self, id: &str) -> Vec<String> {
        history_text(&self.client, &self.address, id).await
    }

    /// Sends SIGTERM and waits for the exit, returning how long it took.
    fn terminate(&mut self) -> Duration {
        let asked = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "saddle exited with {status}");
        asked.elapsed()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The five jobs: Adam on Rosenbrock with every step recorded (without params), L-BFGS, a
/// mini-batch MLP with a schedule, SGD with Nesterov momentum and a step schedule, and
/// RMSprop (these three keep every n-th record, with params).
fn jobs() -> Vec<Value> {
    let features: Vec<Value> = (0..60)
        .map(|i| {
            let t = i as f64 / 60.0 * 6.0;
            json!([t.cos() * (1.0 + 0.05 * i as f64), t.sin()])
        })
        .collect();
    let targets: Vec<f64> = (0..60).map(|i| (i % 2) as f64).collect();
    // 20 dimensions make each step slow enough that all five are mid-run together.
    let rosenbrock = |optimizer: Value, steps: u64, every: u64| {
        let initial: Vec<f64> = (0..20)
            .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
            .collect();
        json!({
            "problem": {"kind": "builtin", "name": "rosenbrock"},
            "initial": initial,
            "optimizer": optimizer,
            "stop": {"max_steps": steps},
            "record": {"every": every, "params": every > 1}
        })
    };
    let mut sgd = rosenbrock(
        json!({"name": "sgd", "lr": 0.0002, "momentum": 0.9, "nesterov": true}),
        4_000_000,
        800,
    );
    sgd["schedule"] = json!({"name": "step", "step_size": 50_000, "gamma": 0.9});
    // Every record stored: 2 000 dimensions keep its writer from hogging the database.
    let mut adam = rosenbrock(json!({"name": "adam", "lr": 0.001}), 30_000, 1);
    adam["initial"] = json!((0..2000)
        .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
        .collect::<Vec<f64>>());
    let rmsprop = rosenbrock(json!({"name": "rmsprop", "lr": 0.0001}), 3_000_000, 200);
    let mut lbfgs = rosenbrock(
        json!({"name": "lbfgs", "lr": 0.002, "history_size": 5, "max_iter": 1}),
        300_000,
        100,
    );
    lbfgs["initial"] = json!((0..100)
        .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
        .collect::<Vec<f64>>());
    vec![
        adam,
        lbfgs,
        json!({
            "problem": {
                "kind": "model",
                "model": {"type": "mlp", "hidden": [8], "activation": "tanh"},
                "loss": "bce",
                "data": {"features": features, "targets": targets},
                "batch_size": 8, "shuffle": true, "seed": 5, "validation_split": 0.2,
                "eval_every": 100
            },
            "initial": {"init": "xavier_uniform", "seed": 2},
            "optimizer": {"name": "adam", "lr": 0.01},
            "schedule": {"name": "cosine", "t_max": 1000},
            "stop": {"max_steps": 20_000}
        }),
        sgd,
        rmsprop,
    ]
}

/// Each job's history and final params.
type Reference = Vec<(Vec<String>, String)>;

/// The uninterrupted runs of [`jobs`], made once for both tests.
static REFERENCE: tokio::sync::OnceCell<Reference> = tokio::sync::OnceCell::const_new();

/// One scenario at a time: ten CPU-bound jobs at once on a small machine would starve some of
/// them before they get going.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn reference() -> &'static Reference {
    REFERENCE
        .get_or_init(|| async { uninterrupted(&jobs()).await })
        .await
}

/// Runs `specs` uninterrupted in a fresh in-process server.
async fn uninterrupted(specs: &[Value]) -> Reference {
    let app = TestApp::spawn_with(|c| c.workers = Some(specs.len())).await;
    let mut ids = Vec::new();
    for spec in specs {
        ids.push(app.submit(spec).await["id"].as_str().unwrap().to_string());
    }
    let mut out = Vec::new();
    for id in &ids {
        let job = app.wait_finished(id, Duration::from_secs(30)).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        let history = app
            .all_steps(id, 10_000)
            .await
            .iter()
            .map(Value::to_string)
            .collect();
        out.push((history, job["result"]["final_params"].to_string()));
    }
    app.stop().await;
    out
}

/// Waits until every job is running and has stored history (and, with `checkpointed`, a
/// checkpoint past its first step), watching the database the server writes.
async fn wait_in_progress(url: &str, ids: &[String], checkpointed: bool) {
    let rows = Rows::open(url).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut states = Vec::new();
        for id in ids {
            let state: (String, i64, Option<i64>) = fetch_one!(
                rows,
                sqlx::query_as(
                    "SELECT status, progress_step, checkpoint_step FROM job WHERE job_id = $1",
                )
                .bind(id)
            );
            states.push(state);
        }
        assert!(
            states
                .iter()
                .all(|(status, _, _)| status == "queued" || status == "running"),
            "a job finished before all were going, make them longer: {states:?}"
        );
        let going = |(status, progress, checkpoint): &(String, i64, Option<i64>)| {
            status == "running"
                && *progress > 0
                && (!checkpointed || checkpoint.is_some_and(|s| s > 0))
        };
        if states.iter().all(going) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the jobs did not get going: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    rows.close().await;
}

/// Checks that the interrupted server left every job mid-run with a checkpoint, and returns
/// the checkpoint steps.
async fn checkpoints(url: &str, ids: &[String]) -> Vec<i64> {
    let rows = Rows::open(url).await;
    let mut steps = Vec::new();
    for id in ids {
        let (step, max, status, progress): (Option<i64>, i64, String, i64) = fetch_one!(
            rows,
            sqlx::query_as(
                "SELECT checkpoint_step, max_steps, status, progress_step FROM job \
                 WHERE job_id = $1"
            )
            .bind(id)
        );
        let step = step.unwrap_or_else(|| {
            panic!("job {id} ({status}, at step {progress} of {max}) has no checkpoint")
        });
        assert!(
            step > 0 && step < max,
            "job {id}: checkpoint at {step} of {max}"
        );
        steps.push(step);
    }
    rows.close().await;
    steps
}

/// Restarts over the database at `url`, lets every job finish and compares with the
/// uninterrupted runs.
async fn finish_and_compare(url: &str, log: PathBuf, ids: &[String], reference: &Reference) {
    let server = Server::start(url, &log).await;
    for (id, (history, final_params)) in ids.iter().zip(reference) {
        let job = server.wait_finished(id).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert!(job["stop_reason"] == "max_steps", "{job}");
        let resumed = server.history(id).await;
        assert_eq!(resumed.len(), history.len(), "job {id}: records");
        for (a, b) in resumed.iter().zip(history) {
            // JSON numbers are written with round-trip precision: equal text is equal bits.
            assert_eq!(a, b, "job {id}");
        }
        assert_eq!(&job["result"]["final_params"].to_string(), final_params);
    }
}

#[tokio::test]
async fn jobs_killed_midway_resume_at_restart_and_equal_uninterrupted_runs_bit_for_bit() {
    let _serial = SERIAL.lock().await;
    let specs = jobs();
    // The uninterrupted runs go on meanwhile.
    tokio::spawn(reference());
    let dir = TempDir::new().unwrap();
    let database = TestDatabase::create().await;
    let db = database.url();
    let mut server = Server::start(db, &dir.path().join("first.log")).await;
    let mut ids = Vec::new();
    for spec in &specs {
        ids.push(server.submit(spec).await);
    }
    wait_in_progress(db, &ids, true).await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);
    checkpoints(db, &ids).await;

    finish_and_compare(db, dir.path().join("second.log"), &ids, reference().await).await;
}

#[tokio::test]
async fn sigterm_queues_running_jobs_again_and_they_finish_after_the_restart() {
    let _serial = SERIAL.lock().await;
    let specs = jobs();
    // The uninterrupted runs go on meanwhile.
    tokio::spawn(reference());
    let dir = TempDir::new().unwrap();
    let database = TestDatabase::create().await;
    let db = database.url();
    let mut server = Server::start(db, &dir.path().join("first.log")).await;
    let mut ids = Vec::new();
    for spec in &specs {
        ids.push(server.submit(spec).await);
    }
    wait_in_progress(db, &ids, false).await;
    let took = server.terminate();
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    drop(server);

    // Every job is queued again with its final checkpoint and no record at or after it.
    let steps = checkpoints(db, &ids).await;
    let rows = Rows::open(db).await;
    for (id, step) in ids.iter().zip(&steps) {
        let (status, last): (String, Option<i64>) = fetch_one!(
            rows,
            sqlx::query_as(
                "SELECT status, (SELECT MAX(step) FROM step WHERE step.job_seq = job.job_seq) \
                 FROM job WHERE job_id = $1",
            )
            .bind(id)
        );
        assert_eq!(status, "queued", "job {id}");
        assert!(last.is_some_and(|last| last < *step), "job {id}");
    }
    rows.close().await;

    finish_and_compare(db, dir.path().join("second.log"), &ids, reference().await).await;
}

#[tokio::test]
async fn a_job_left_running_after_three_resumes_is_failed_with_the_reason() {
    let database = TestDatabase::create().await;
    let url = database.url().to_string();
    let app = TestApp::spawn_with(|c| c.database_url = url.clone()).await;
    let long = json!({
        "problem": {"kind": "builtin", "name": "rosenbrock"},
        "initial": [-1.5, 2.0],
        "optimizer": {"name": "adam", "lr": 1e-6},
        "stop": {"max_steps": 10_000_000}
    });
    let id = app.submit(&long).await["id"].as_str().unwrap().to_string();
    let short = app
        .submit(&json!({
            "problem": {"kind": "builtin", "name": "rosenbrock"},
            "initial": [-1.5, 2.0],
            "optimizer": {"name": "adam", "lr": 0.01},
            "stop": {"max_steps": 50}
        }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.wait_finished(&short, Duration::from_secs(30)).await;
    app.stop().await;

    // As a process that died during its third resumed run would leave it.
    // (The graceful stop released its lease, so on PostgreSQL too it is abandoned at once.)
    let store = Store::connect(&url).await.unwrap();
    let changed = store
        .execute_unchecked(&format!(
            "UPDATE job SET status = 'running', resume_attempts = 3 WHERE job_id = '{id}'"
        ))
        .await
        .unwrap();
    assert_eq!(changed, 1);
    store.close().await;

    let app = TestApp::spawn_with(|c| c.database_url = url.clone()).await;
    let job: Value = app
        .get(&format!("/v1/jobs/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["stop_reason"], "interrupted");
    let message = job["error"]["message"].as_str().unwrap();
    assert!(message.contains("resumed 3 times"), "{message}");
    // A finished job is left as it was.
    let done: Value = app
        .get(&format!("/v1/jobs/{short}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "succeeded");
    app.stop().await;
}
