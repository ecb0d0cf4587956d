//! Many processes on one PostgreSQL database, with the real binary: one `--role api` process
//! and three `--role worker` processes run 300 jobs; one worker is killed with SIGKILL while it
//! runs checkpointed jobs. Its jobs' leases expire, another worker's heartbeat queues them
//! again and they resume from their last checkpoint. Then another worker is stopped (SIGSTOP)
//! for longer than its leases and continued: its runs of the jobs it lost meanwhile are fenced
//! out. Every job ends succeeded, once, with the history of an uninterrupted run, bit for bit.
//!
//! Needs the PostgreSQL server of `SADDLE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each run creates its own databases and drops
//! them at the end. Without a reachable server the test fails and says so.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use sqlx::postgres::{PgPool, PgPoolOptions};

const JOBS: usize = 300;
/// The tests take turns: each starts several processes, and timings (a cancel's latency, the
/// 300 jobs' deadline) would suffer from the other's load on a 2-core machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const WORKERS: usize = 3;

/// The backend of the shared test helpers' databases (see `helpers::TestDatabase`).
pub const BACKEND: saddle::store::Backend = saddle::store::Backend::Postgres;

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use helpers::{history_text, TestDatabase};

/// A `saddle serve` child process, killed when dropped.
struct Process {
    name: String,
    child: Child,
    address: String,
    log: PathBuf,
}

impl Process {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// SIGKILL, and waits until the process is gone.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The log directory: kept when the test fails (its path is in the failure messages) or
/// `SADDLE_TEST_KEEP_LOGS` is set, removed when it passes.
struct Logs {
    dir: PathBuf,
}

impl Logs {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("saddle-cluster-")
            .tempdir()
            .unwrap()
            .keep();
        Self { dir }
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("SADDLE_TEST_KEEP_LOGS").is_some() {
            eprintln!("the processes' logs are kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `saddle serve` with `role` over `database_url`, logging to `<logs>/<name>.log`.
fn spawn(name: &str, role: &str, database_url: &str, logs: &Path, extra: &[&str]) -> Process {
    let port = free_port();
    let log = logs.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_saddle"))
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", database_url])
        .args(["--role", role])
        .args(["--rate-limit-rps", "0"])
        .args(["--max-active-jobs-per-tenant", "100000"])
        .args(["--shutdown-seconds", "2"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("the saddle binary starts");
    Process {
        name: name.into(),
        child,
        address: format!("http://127.0.0.1:{port}"),
        log,
    }
}

/// Waits until every process answers /healthz.
async fn wait_healthy(client: &reqwest::Client, processes: &mut [&mut Process]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for process in processes.iter_mut() {
        loop {
            let ok = client
                .get(process.url("/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!(
                    "{} exited with {status} at start; see {}",
                    process.name,
                    process.log.display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not come up; see {}",
                process.name,
                process.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The distinct jobs, long enough that the 300 of them are still being worked through when
/// a worker is stalled, about 10 s in (the numeric core is optimized in test builds): four
/// optimizers on Rosenbrock (every n-th record, with params) and a mini-batch MLP (shuffled
/// batches: the resumed run must pick the data order up where it was).
fn specs() -> Vec<Value> {
    let rosenbrock = |optimizer: Value, dim: usize, steps: u64, every: u64| {
        let initial: Vec<f64> = (0..dim)
            .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
            .collect();
        json!({
            "problem": {"kind": "builtin", "name": "rosenbrock"},
            "initial": initial,
            "optimizer": optimizer,
            "stop": {"max_steps": steps},
            "record": {"every": every, "params": true}
        })
    };
    let mut sgd = rosenbrock(
        json!({"name": "sgd", "lr": 0.0002, "momentum": 0.9, "nesterov": true}),
        20,
        100_000,
        80,
    );
    sgd["schedule"] = json!({"name": "step", "step_size": 25_000, "gamma": 0.9});
    let features: Vec<Value> = (0..60)
        .map(|i| {
            let t = i as f64 / 60.0 * 6.0;
            json!([t.cos() * (1.0 + 0.05 * i as f64), t.sin()])
        })
        .collect();
    let targets: Vec<f64> = (0..60).map(|i| (i % 2) as f64).collect();
    vec![
        rosenbrock(json!({"name": "adam", "lr": 0.001}), 2, 100_000, 50),
        sgd,
        rosenbrock(
            json!({"name": "lbfgs", "lr": 0.002, "history_size": 5, "max_iter": 1}),
            8,
            50_000,
            40,
        ),
        rosenbrock(json!({"name": "rmsprop", "lr": 0.0001}), 50, 8_000, 10),
        json!({
            "problem": {
                "kind": "model",
                "model": {"type": "mlp", "hidden": [8], "activation": "tanh"},
                "loss": "bce",
                "data": {"features": features, "targets": targets},
                "batch_size": 8, "shuffle": true, "seed": 5, "validation_split": 0.2,
                "eval_every": 50
            },
            "initial": {"init": "xavier_uniform", "seed": 2},
            "optimizer": {"name": "adam", "lr": 0.01},
            "schedule": {"name": "cosine", "t_max": 1000},
            "stop": {"max_steps": 4_000},
            "record": {"every": 4}
        }),
    ]
}

/// An HTTP client of one API process.
struct Api<'a> {
    client: &'a reqwest::Client,
    process: &'a Process,
}

impl Api<'_> {
    async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(self.process.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}; see {}", self.process.log.display()));
        assert!(
            response.status().is_success(),
            "GET {path}: {}; see {}",
            response.status(),
            self.process.log.display()
        );
        response.json().await.unwrap()
    }

    async fn submit(&self, spec: &Value) -> String {
        let response = self
            .client
            .post(self.process.url("/v1/jobs"))
            .json(spec)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// The whole history as the JSON text of each record.
    async fn history(&self, id: &str) -> Vec<String> {
        history_text(self.client, &self.process.address, id).await
    }
}

/// A finished job's history and final params.
#[derive(Debug, PartialEq)]
struct Run {
    history: Vec<String>,
    final_params: String,
}

/// Waits until every job in `pool`'s database is finished.
async fn wait_all_finished(pool: &PgPool, total: usize, timeout: Duration, logs: &Path) {
    let deadline = Instant::now() + timeout;
    loop {
        let finished: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM job WHERE status IN ('succeeded', 'failed', 'cancelled')",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if finished as usize == total {
            return;
        }
        if Instant::now() > deadline {
            let states: Vec<(String, i64)> =
                sqlx::query_as("SELECT status, COUNT(*) FROM job GROUP BY status")
                    .fetch_all(pool)
                    .await
                    .unwrap();
            panic!(
                "only {finished} of {total} jobs finished in {timeout:?}: {states:?}; see the \
                 logs in {}",
                logs.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads a finished job and its history through `api`.
async fn finished_run(api: &Api<'_>, id: &str) -> (Value, Run) {
    let job = api.get(&format!("/v1/jobs/{id}")).await;
    let history = api.history(id).await;
    let final_params = job["result"]["final_params"].to_string();
    (
        job,
        Run {
            history,
            final_params,
        },
    )
}

/// The uninterrupted runs: each spec once, in one `--role all` process on a database of its
/// own.
async fn reference_runs(client: &reqwest::Client, specs: &[Value], logs: &Path) -> Vec<Run> {
    let db = TestDatabase::create().await;
    let mut process = spawn(
        "reference",
        "all",
        db.url(),
        logs,
        &["--workers", "2", "--checkpoint-seconds", "5"],
    );
    wait_healthy(client, &mut [&mut process]).await;
    let api = Api {
        client,
        process: &process,
    };
    let mut ids = Vec::new();
    for spec in specs {
        ids.push(api.submit(spec).await);
    }
    let pool = PgPool::connect(db.url()).await.unwrap();
    wait_all_finished(&pool, specs.len(), Duration::from_secs(60), logs).await;
    pool.close().await;
    let mut runs = Vec::new();
    for id in &ids {
        let (job, run) = finished_run(&api, id).await;
        assert_eq!(job["status"], "succeeded", "reference run: {job}");
        runs.push(run);
    }
    drop(process);
    drop(db);
    runs
}

/// The tables and triggers that record every status change of a job, with the lease owner
/// before and after, any change made to a job after it finished, and the first and last step
/// of every batch of history stored; one sequence orders them all.
const AUDIT: &[&str] = &[
    "CREATE SEQUENCE audit_order",
    "CREATE TABLE job_audit ( \
       audit_seq BIGINT PRIMARY KEY DEFAULT nextval('audit_order'), \
       job_seq BIGINT NOT NULL, old_status TEXT NOT NULL, new_status TEXT NOT NULL, \
       old_owner TEXT, new_owner TEXT, finished_at TEXT, checkpoint_step BIGINT)",
    "CREATE FUNCTION job_audit() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       IF NEW.status IS DISTINCT FROM OLD.status \
          OR (OLD.status IN ('succeeded', 'failed', 'cancelled') AND NEW IS DISTINCT FROM OLD) THEN \
         INSERT INTO job_audit (job_seq, old_status, new_status, old_owner, new_owner, finished_at, \
                                checkpoint_step) \
         VALUES (NEW.job_seq, OLD.status, NEW.status, OLD.lease_owner, NEW.lease_owner, NEW.finished_at, \
                 NEW.checkpoint_step); \
       END IF; \
       RETURN NEW; \
     END $$",
    "CREATE TRIGGER job_audit AFTER UPDATE ON job FOR EACH ROW EXECUTE FUNCTION job_audit()",
    "CREATE TABLE step_audit ( \
       audit_seq BIGINT PRIMARY KEY DEFAULT nextval('audit_order'), \
       job_seq BIGINT NOT NULL, first_step BIGINT NOT NULL, last_step BIGINT NOT NULL)",
    "CREATE FUNCTION step_audit() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       INSERT INTO step_audit (job_seq, first_step, last_step) \
       SELECT job_seq, MIN(step), MAX(step) FROM inserted GROUP BY job_seq; \
       RETURN NULL; \
     END $$",
    "CREATE TRIGGER step_audit AFTER INSERT ON step REFERENCING NEW TABLE AS inserted \
     FOR EACH STATEMENT EXECUTE FUNCTION step_audit()",
];

/// A status change of a job, as the audit trigger recorded it.
#[derive(Debug, sqlx::FromRow)]
struct Change {
    audit_seq: i64,
    job_seq: i64,
    old_status: String,
    new_status: String,
    /// The lease owner before the change (on a finish: the claim that finished it).
    old_owner: Option<String>,
    #[allow(dead_code)] // shown in failure messages
    new_owner: Option<String>,
    /// The job's checkpoint step after the change (on a requeue: the one the run resumes from).
    checkpoint_step: Option<i64>,
}

/// Sends `SIGSTOP`, `SIGCONT`… to a process.
fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{name} {pid}");
}

/// The process id in a lease owner's name, `host:pid:random`.
fn owner_pid(owner: &str) -> Option<u32> {
    owner.rsplit(':').nth(1)?.parse().ok()
}

/// Waits until every worker runs a job and one of them (the victim) runs a job that has
/// stored a checkpoint; returns the victim's index.
async fn pick_victim(pool: &PgPool, workers: &[Process], logs: &Path) -> usize {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let running: Vec<(String, Option<i64>)> = sqlx::query_as(
            "SELECT lease_owner, checkpoint_step FROM job \
             WHERE status = 'running' AND lease_owner IS NOT NULL",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let mut busy = BTreeSet::new();
        let mut checkpointed = BTreeSet::new();
        for (owner, checkpoint) in &running {
            if let Some(pid) = owner_pid(owner) {
                busy.insert(pid);
                if checkpoint.is_some_and(|s| s > 0) {
                    checkpointed.insert(pid);
                }
            }
        }
        if workers.iter().all(|w| busy.contains(&w.pid())) {
            if let Some(victim) = workers.iter().position(|w| checkpointed.contains(&w.pid())) {
                return victim;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the workers did not all get busy with checkpointed jobs: {running:?}; see the \
             logs in {}",
            logs.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_jobs_resume_elsewhere_and_every_job_equals_an_uninterrupted_run() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let logs = Logs::new();
    let client = reqwest::Client::new();
    let specs = specs();
    let reference = reference_runs(&client, &specs, &logs.dir).await;
    eprintln!("reference runs done after {:?}", started.elapsed());

    let db = TestDatabase::create().await;
    let url = db.url();
    let worker_flags = [
        "--workers",
        "2",
        "--lease-seconds",
        "2",
        "--heartbeat-seconds",
        "0.3",
        "--checkpoint-seconds",
        "0.05",
    ];
    // All four at once: whichever gets there first applies the migrations.
    let mut api_process = spawn("api", "api", url, &logs.dir, &[]);
    let mut workers: Vec<Process> = (0..WORKERS)
        .map(|i| {
            spawn(
                &format!("worker{i}"),
                "worker",
                url,
                &logs.dir,
                &worker_flags,
            )
        })
        .collect();
    {
        let mut all: Vec<&mut Process> = std::iter::once(&mut api_process)
            .chain(workers.iter_mut())
            .collect();
        wait_healthy(&client, &mut all).await;
    }
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(url)
        .await
        .unwrap();
    for statement in AUDIT {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }

    let api = Api {
        client: &client,
        process: &api_process,
    };
    // A few submissions at once, in order of the job list (the queue is taken in submission
    // order, so the kinds stay mixed).
    let ids: Vec<(String, usize)> = futures_util::stream::iter(0..JOBS)
        .map(|i| {
            let (api, specs) = (&api, &specs);
            async move {
                let kind = i % specs.len();
                (api.submit(&specs[kind]).await, kind)
            }
        })
        .buffered(4)
        .collect()
        .await;
    eprintln!("{JOBS} jobs submitted after {:?}", started.elapsed());

    let victim = pick_victim(&pool, &workers, &logs.dir).await;
    let victim_pid = workers[victim].pid();
    workers[victim].kill();
    let killed_at = Instant::now();
    // Nothing writes the victim's rows now until its leases expire. A COMMIT it sent just
    // before it died may still be on its way to the server: let that settle first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let orphans: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
        "SELECT job_seq, lease_owner, checkpoint_step FROM job \
         WHERE status = 'running' ORDER BY job_seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let orphans: BTreeMap<i64, (String, Option<i64>)> = orphans
        .into_iter()
        .filter(|(_, owner, _)| owner_pid(owner) == Some(victim_pid))
        .map(|(seq, owner, checkpoint)| (seq, (owner, checkpoint)))
        .collect();
    eprintln!(
        "killed {} (pid {victim_pid}) after {:?}, running {orphans:?}",
        workers[victim].name,
        started.elapsed()
    );
    assert!(
        orphans.values().any(|(_, c)| c.is_some_and(|s| s > 0)),
        "the victim had no checkpointed job running when it was killed: {orphans:?}"
    );

    // Its jobs go back to the queue once their leases expire.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let still: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM job WHERE job_seq = ANY($1) AND lease_owner = ANY($2)",
        )
        .bind(orphans.keys().copied().collect::<Vec<_>>())
        .bind(orphans.values().map(|(o, _)| o.clone()).collect::<Vec<_>>())
        .fetch_one(&pool)
        .await
        .unwrap();
        if still == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dead worker's jobs were not taken back in 30 s; see the logs in {}",
            logs.dir.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let requeued_after = killed_at.elapsed();
    eprintln!("the victim's jobs were requeued {requeued_after:?} after the kill");
    assert!(
        requeued_after >= Duration::from_secs(1),
        "the jobs were taken from the victim before its lease could expire: {requeued_after:?}"
    );

    // Another worker stalls (SIGSTOP) for longer than its leases: the third one's heartbeat
    // queues its jobs again, and when it wakes up its runs of them are fenced out (their
    // writes and endings refused), while it, or the third worker, runs them again.
    let sleeper = (0..WORKERS).find(|&i| i != victim).unwrap();
    let sleeper_pid = workers[sleeper].pid();
    signal(sleeper_pid, "STOP");
    // Its jobs, as the stop left them: once what it had sent has settled, the running ones
    // whose rows it does not hold locked. A job whose row it locked in a transaction it had
    // begun (a history write that had already renewed the lease, or its ending) cannot be
    // taken from it — the heartbeats skip locked rows — and rightly goes on with it after the
    // stall; those are left out.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut look = pool.begin().await.unwrap();
    let running: Vec<(i64, String)> = sqlx::query_as(
        "SELECT job_seq, lease_owner FROM job WHERE status = 'running' \
         ORDER BY job_seq FOR UPDATE SKIP LOCKED",
    )
    .fetch_all(&mut *look)
    .await
    .unwrap();
    look.rollback().await.unwrap();
    let stalled: Vec<i64> = running
        .into_iter()
        .filter(|(_, owner)| owner_pid(owner) == Some(sleeper_pid))
        .map(|(seq, _)| seq)
        .collect();
    tokio::time::sleep(Duration::from_secs(4)).await;
    signal(sleeper_pid, "CONT");
    eprintln!(
        "stalled {} (pid {sleeper_pid}) for 4 s after {:?}, running {stalled:?}",
        workers[sleeper].name,
        started.elapsed()
    );
    assert!(!stalled.is_empty(), "the stalled worker ran no job");

    wait_all_finished(&pool, JOBS, Duration::from_secs(150), &logs.dir).await;
    eprintln!("all {JOBS} jobs finished after {:?}", started.elapsed());

    // Every job: succeeded with the full budget, a contiguous history equal to the
    // uninterrupted run's, the same final params.
    let runs: Vec<(Value, Run)> = futures_util::stream::iter(ids.iter())
        .map(|(id, _)| finished_run(&api, id))
        .buffered(6)
        .collect()
        .await;
    for ((id, kind), (job, run)) in ids.iter().zip(&runs) {
        assert_eq!(job["status"], "succeeded", "job {id}: {job}");
        assert_eq!(job["stop_reason"], "max_steps", "job {id}");
        assert_eq!(
            job["progress"]["step"], specs[*kind]["stop"]["max_steps"],
            "job {id}"
        );
        let steps: Vec<u64> = run
            .history
            .iter()
            .map(|r| {
                serde_json::from_str::<Value>(r).unwrap()["step"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert!(
            steps.windows(2).all(|w| w[0] < w[1]),
            "job {id}: the history is not in strictly increasing step order"
        );
        let expected = &reference[*kind];
        assert_eq!(
            run.history.len(),
            expected.history.len(),
            "job {id} (spec {kind}): records"
        );
        for (n, (a, b)) in run.history.iter().zip(&expected.history).enumerate() {
            // JSON numbers are written with round-trip precision: equal text is equal bits.
            assert_eq!(a, b, "job {id} (spec {kind}): record {n}");
        }
        assert_eq!(run.final_params, expected.final_params, "job {id}");
    }

    // The dead and the stalled worker's jobs were resumed.
    let attempts: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT job_seq, resume_attempts FROM job WHERE resume_attempts > 0 ORDER BY job_seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let attempts: HashMap<i64, i64> = attempts.into_iter().collect();
    for seq in orphans.keys().chain(&stalled) {
        assert!(
            attempts.get(seq).is_some_and(|&n| n >= 1),
            "job {seq} of the dead or stalled worker was not resumed"
        );
    }
    let others: Vec<_> = attempts
        .keys()
        .filter(|seq| !orphans.contains_key(seq) && !stalled.contains(seq))
        .collect();
    if !others.is_empty() {
        // Not wrong (their histories were checked above): jobs claimed again by the stalled
        // worker, or a heartbeat that came late on a busy machine.
        eprintln!("other jobs resumed too: {others:?}");
    }

    // Every status change: each job claimed, maybe queued again (after a lease expired),
    // finished once, and never changed after that.
    let audit: Vec<Change> = sqlx::query_as(
        "SELECT audit_seq, job_seq, old_status, new_status, old_owner, new_owner, checkpoint_step \
         FROM job_audit ORDER BY audit_seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut changes: BTreeMap<i64, Vec<Change>> = BTreeMap::new();
    for change in audit {
        changes.entry(change.job_seq).or_default().push(change);
    }
    assert_eq!(changes.len(), JOBS, "jobs with status changes");
    for (seq, changes) in &changes {
        let finishes = changes
            .iter()
            .filter(|c| c.new_status == "succeeded")
            .count();
        assert_eq!(
            finishes, 1,
            "job {seq} finished {finishes} times: {changes:?}"
        );
        let last = changes.last().unwrap();
        assert!(
            last.old_status == "running" && last.new_status == "succeeded",
            "job {seq} changed after it finished: {changes:?}"
        );
        let requeues: Vec<&Change> = changes
            .iter()
            .filter(|c| c.old_status == "running" && c.new_status == "queued")
            .collect();
        // No claim that lost its job finished it (a claim of the same process may have).
        for requeue in &requeues {
            assert_ne!(
                requeue.old_owner, last.old_owner,
                "job {seq} was finished by a claim that had lost it: {changes:?}"
            );
        }
        if stalled.contains(seq) {
            assert!(
                requeues
                    .iter()
                    .any(|c| c.old_owner.as_deref().and_then(owner_pid) == Some(sleeper_pid)),
                "job {seq} of the stalled worker was not queued again: {changes:?}"
            );
        }
        if let Some((_, sampled)) = orphans.get(seq) {
            // The checkpoint the requeue left (a last batch the victim had sent before it
            // died may have moved it past the one sampled after the kill).
            let checkpoint = requeues[0].checkpoint_step;
            assert!(
                checkpoint >= *sampled,
                "job {seq}: checkpoint {checkpoint:?} at the requeue, {sampled:?} after the kill"
            );
            assert!(
                requeues[0].old_owner.as_deref().and_then(owner_pid) == Some(victim_pid),
                "job {seq} of the dead worker (checkpoint {checkpoint:?}): {changes:?}"
            );
            // The resumed run's first batch starts at the checkpoint's step (its record is
            // made again), or at step 0 without a checkpoint.
            let first: Option<i64> = sqlx::query_scalar(
                "SELECT first_step FROM step_audit \
                 WHERE job_seq = $1 AND audit_seq > $2 ORDER BY audit_seq LIMIT 1",
            )
            .bind(seq)
            .bind(requeues[0].audit_seq)
            .fetch_optional(&pool)
            .await
            .unwrap();
            assert_eq!(
                first,
                Some(checkpoint.unwrap_or(0)),
                "job {seq} of the dead worker did not resume from its checkpoint"
            );
            let finisher = last.old_owner.as_deref().and_then(owner_pid);
            assert!(
                finisher.is_some() && finisher != Some(victim_pid),
                "job {seq} of the dead worker was finished by {finisher:?}"
            );
        }
    }

    pool.close().await;
    drop(workers);
    drop(api_process);
    eprintln!("done after {:?}", started.elapsed());
}

/// The body of a GET of `url`, as text.
async fn text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// Reads server-sent events from `response` until `stop` accepts one; returns the events read
/// (name, data), failing after `timeout`.
async fn read_events(
    response: &mut reqwest::Response,
    timeout: Duration,
    stop: impl Fn(&str, &Value) -> bool,
) -> Vec<(String, Value)> {
    let deadline = Instant::now() + timeout;
    let (mut buffer, mut events) = (String::new(), Vec::new());
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no matching event within {timeout:?}: {events:?}"))
            .expect("stream chunk")
            .unwrap_or_else(|| panic!("the stream ended first: {events:?}"));
        buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8 events"));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let name = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("message")
                .to_string();
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map_or(Value::Null, |d| serde_json::from_str(d).expect("JSON data"));
            let done = stop(&name, &data);
            events.push((name, data));
            if done {
                return events;
            }
        }
    }
}

/// The API process and the worker process share nothing but the database: the event stream
/// on the API process shows the steps the worker stores, a cancel sent to the API process
/// stops the job on the worker (through its heartbeat), and the worker process answers only
/// /healthz and /metrics.
#[tokio::test]
async fn an_api_process_streams_a_workers_steps_and_its_cancel_reaches_the_worker() {
    let _serial = SERIAL.lock().await;
    let logs = Logs::new();
    let db = TestDatabase::create().await;
    let client = reqwest::Client::new();
    let mut api_process = spawn("api", "api", db.url(), &logs.dir, &[]);
    let mut worker = spawn(
        "worker",
        "worker",
        db.url(),
        &logs.dir,
        &["--workers", "1", "--heartbeat-seconds", "0.2"],
    );
    wait_healthy(&client, &mut [&mut api_process, &mut worker]).await;
    let api = Api {
        client: &client,
        process: &api_process,
    };
    let id = api
        .submit(&json!({
            "problem": {"kind": "builtin", "name": "rosenbrock"},
            "initial": [-1.5, 2.0],
            "optimizer": {"name": "adam", "lr": 1e-6},
            "stop": {"max_steps": 10_000_000},
            // Every 100th record: the stream's replay to the end stays short.
            "record": {"every": 100}
        }))
        .await;

    let mut stream = client
        .get(api_process.url(&format!("/v1/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let seen = read_events(&mut stream, Duration::from_secs(30), |name, data| {
        name == "step" && data["step"].as_i64().is_some_and(|s| s >= 1000)
    })
    .await;
    assert!(
        seen.iter()
            .any(|(name, data)| name == "status" && data["status"] == "running"),
        "{seen:?}"
    );

    let asked = Instant::now();
    let response = client
        .post(api_process.url(&format!("/v1/jobs/{id}/cancel")))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    // The worker's next heartbeat (0.2 s) sets the job's flag, the run stops at its next step
    // and records its end: seconds at most, far below the 15 s lease (so it is the cancel, not
    // a lease running out, that stops it).
    let job = loop {
        let job = api.get(&format!("/v1/jobs/{id}")).await;
        if job["status"] != "running" {
            break job;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "still running 10 s after the cancel: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = asked.elapsed();
    assert_eq!(job["status"], "cancelled", "{job}");
    assert_eq!(job["stop_reason"], "cancelled", "{job}");
    let stopped_at = job["progress"]["step"].as_u64().unwrap();
    assert!((1000..10_000_000).contains(&stopped_at), "{job}");
    eprintln!("the cancel reached the worker and the job ended in {took:?}");
    // The stream on the API process follows the job to its end, as the worker recorded it.
    let ended = read_events(&mut stream, Duration::from_secs(60), |name, _| {
        name == "end"
    })
    .await;
    let (_, end) = ended.last().unwrap();
    assert_eq!(end["status"], "cancelled", "{end}");
    assert_eq!(end["progress"]["step"], job["progress"]["step"], "{end}");

    // The worker serves its probes, not the API.
    let metrics = text(&client, &worker.url("/metrics")).await;
    assert!(
        metrics.contains("saddle_info{backend=\"postgres\",worker=\""),
        "{metrics}"
    );
    assert!(metrics.contains("saddle_workers 1"), "{metrics}");
    let refused = client
        .get(worker.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("--role worker"),
        "{problem}"
    );
    // And an API process runs no jobs.
    let api_metrics = text(&client, &api_process.url("/metrics")).await;
    assert!(api_metrics.contains("saddle_workers 0"), "{api_metrics}");
}
