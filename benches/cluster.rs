//! Many workers on PostgreSQL (see BENCHMARKS.md): jobs/s and history rows/s of the real
//! binary, with one `--role api` process and 1, 2 and 4 `--role worker` processes on one
//! PostgreSQL database, beside one `--role all` process on SQLite.
//!
//! Each scenario submits K jobs (Adam on 2-D Rosenbrock, every step recorded with its params)
//! through the API, a few requests at once, and measures the wall time from the first submit
//! until every job has finished; history rows are counted in the database at the end.
//!
//! Run: `cargo bench --bench cluster` (PostgreSQL on 127.0.0.1:5432, user `postgres`; override
//! with `SADDLE_BENCH_POSTGRES=postgres://user@host:port`). `SADDLE_BENCH_JOBS` (default 400)
//! and `SADDLE_BENCH_STEPS` (default 2000) size the run.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use saddle::store::Store;

/// Jobs per worker process at once.
const WORKERS_PER_PROCESS: &str = "1";
/// Submissions in flight at once.
const SUBMITTERS: usize = 8;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn postgres() -> String {
    std::env::var("SADDLE_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

async fn admin(statement: &str) -> Result<(), sqlx::Error> {
    let mut conn = format!("{}/postgres", postgres())
        .parse::<PgConnectOptions>()?
        .connect()
        .await?;
    sqlx::query(statement).execute(&mut conn).await?;
    conn.close().await
}

/// A `saddle serve` child process, killed when dropped.
struct Process {
    child: Child,
    address: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(name: &str, role: &str, url: &str, logs: &Path, workers: &str) -> Process {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(logs.join(format!("{name}.log"))).unwrap();
    let err = log.try_clone().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_saddle"))
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", url])
        .args(["--role", role])
        .args(["--workers", workers])
        .args(["--rate-limit-rps", "0"])
        .args(["--max-active-jobs-per-tenant", "1000000"])
        .stdout(log)
        .stderr(err)
        .spawn()
        .expect("the saddle binary starts");
    Process {
        child,
        address: format!("http://127.0.0.1:{port}"),
    }
}

async fn wait_healthy(client: &reqwest::Client, process: &Process) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client
        .get(format!("{}/healthz", process.address))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "saddle did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Figures {
    scenario: String,
    concurrency: usize,
    jobs: u64,
    rows: i64,
    seconds: f64,
    cpu: Cpu,
}

/// CPU seconds (user + system) spent during a measurement.
#[derive(Default)]
struct Cpu {
    /// The processes that run jobs (on SQLite, the one process).
    workers: f64,
    /// The API process (PostgreSQL only).
    api: f64,
    /// The PostgreSQL server's processes.
    postgres: f64,
}

/// CPU seconds used so far by every live process, by pid, with its name (Linux `/proc`,
/// 100 ticks a second).
fn cpu_by_pid() -> HashMap<u32, (String, f64)> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        // After the name: state (field 3) … utime (14), stime (15).
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        out.insert(pid, (name, (ticks(11) + ticks(12)) / 100.0));
    }
    out
}

/// The CPU each group of processes used between two [`cpu_by_pid`] readings.
fn cpu_between(
    before: &HashMap<u32, (String, f64)>,
    after: &HashMap<u32, (String, f64)>,
    api: Option<u32>,
    workers: &[u32],
) -> Cpu {
    let mut cpu = Cpu::default();
    for (pid, (name, seconds)) in after {
        let used = seconds - before.get(pid).map_or(0.0, |(_, s)| *s);
        if Some(*pid) == api {
            cpu.api += used;
        } else if workers.contains(pid) {
            cpu.workers += used;
        } else if name == "postgres" {
            cpu.postgres += used;
        }
    }
    cpu
}

/// Submits `jobs` jobs through `api` and waits until all have finished; `store` reads the
/// database they are in.
async fn measure(
    client: &reqwest::Client,
    api: &Process,
    store: &Store,
    jobs: u64,
    steps: u64,
    workers: &[u32],
) -> (f64, i64, Cpu) {
    let spec = json!({
        "problem": {"kind": "builtin", "name": "rosenbrock"},
        "initial": [-1.5, 2.0],
        "optimizer": {"name": "adam", "lr": 0.001},
        "stop": {"max_steps": steps},
        "record": {"params": true}
    });
    let url = format!("{}/v1/jobs", api.address);
    let cpu_before = cpu_by_pid();
    let started = Instant::now();
    futures_util::stream::iter(0..jobs)
        .map(|_| async {
            let response = client.post(&url).json(&spec).send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            assert_eq!(status, 201, "{body}");
        })
        .buffer_unordered(SUBMITTERS)
        .collect::<Vec<()>>()
        .await;
    let count = |sql: &'static str| async move {
        store.fetch_i64_unchecked(sql).await.unwrap().unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while count("SELECT COUNT(*) FROM job WHERE status IN ('succeeded', 'failed', 'cancelled')")
        .await
        < jobs as i64
    {
        assert!(Instant::now() < deadline, "the jobs did not finish");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let api_pid = api.child.id();
    let cpu = if workers.contains(&api_pid) {
        cpu_between(&cpu_before, &cpu_by_pid(), None, workers)
    } else {
        cpu_between(&cpu_before, &cpu_by_pid(), Some(api_pid), workers)
    };
    let succeeded = count("SELECT COUNT(*) FROM job WHERE status = 'succeeded'").await;
    assert_eq!(succeeded, jobs as i64, "every job succeeds");
    let rows = count("SELECT COUNT(*) FROM step").await;
    assert_eq!(rows, (jobs * (steps + 1)) as i64, "every step stored");
    (seconds, rows, cpu)
}

async fn postgres_scenario(
    client: &reqwest::Client,
    worker_processes: usize,
    jobs: u64,
    steps: u64,
    logs: &Path,
) -> Figures {
    let name = format!(
        "saddle_cluster_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    admin(&format!("CREATE DATABASE {name}")).await.unwrap();
    let url = format!("{}/{name}", postgres());
    let api = spawn(&format!("pg{worker_processes}-api"), "api", &url, logs, "0");
    wait_healthy(client, &api).await;
    let workers: Vec<Process> = (0..worker_processes)
        .map(|i| {
            spawn(
                &format!("pg{worker_processes}-worker{i}"),
                "worker",
                &url,
                logs,
                WORKERS_PER_PROCESS,
            )
        })
        .collect();
    for worker in &workers {
        wait_healthy(client, worker).await;
    }
    let store = Store::connect(&url).await.unwrap();
    let pids: Vec<u32> = workers.iter().map(|w| w.child.id()).collect();
    let (seconds, rows, cpu) = measure(client, &api, &store, jobs, steps, &pids).await;
    store.close().await;
    drop(workers);
    drop(api);
    admin(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    Figures {
        scenario: format!("PostgreSQL, 1 api + {worker_processes} worker processes"),
        concurrency: worker_processes * WORKERS_PER_PROCESS.parse::<usize>().unwrap(),
        jobs,
        rows,
        seconds,
        cpu,
    }
}

async fn sqlite_scenario(
    client: &reqwest::Client,
    workers: usize,
    jobs: u64,
    steps: u64,
    logs: &Path,
) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let process = spawn(
        &format!("sqlite{workers}"),
        "all",
        &url,
        logs,
        &workers.to_string(),
    );
    wait_healthy(client, &process).await;
    let store = Store::connect(&url).await.unwrap();
    let pid = process.child.id();
    let (seconds, rows, cpu) = measure(client, &process, &store, jobs, steps, &[pid]).await;
    store.close().await;
    drop(process);
    Figures {
        scenario: format!("SQLite, 1 `--role all` process, `--workers {workers}`"),
        concurrency: workers,
        jobs,
        rows,
        seconds,
        cpu,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let jobs = env_or("SADDLE_BENCH_JOBS", 400);
    let steps = env_or("SADDLE_BENCH_STEPS", 2000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        if let Err(e) = admin("SELECT 1").await {
            eprintln!("no PostgreSQL at {} ({e}): nothing measured", postgres());
            return;
        }
        let logs = tempfile::tempdir().unwrap();
        let client = reqwest::Client::new();
        eprintln!(
            "{jobs} jobs of {steps} Adam steps on 2-D Rosenbrock, every step recorded with \
             params; binary {}",
            env!("CARGO_BIN_EXE_saddle")
        );
        let mut figures = Vec::new();
        for processes in [1, 2, 4] {
            figures.push(postgres_scenario(&client, processes, jobs, steps, logs.path()).await);
            eprintln!("{} done", figures.last().unwrap().scenario);
        }
        for workers in [1, 2] {
            figures.push(sqlite_scenario(&client, workers, jobs, steps, logs.path()).await);
            eprintln!("{} done", figures.last().unwrap().scenario);
        }
        println!(
            "| setup | jobs at once | wall time | jobs/s | history rows/s | CPU s: job processes / api / postgres |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        for f in &figures {
            println!(
                "| {} | {} | {:.2} s | {:.1} | {:.0} | {:.1} / {:.1} / {:.1} |",
                f.scenario,
                f.concurrency,
                f.seconds,
                f.jobs as f64 / f.seconds,
                f.rows as f64 / f.seconds,
                f.cpu.workers,
                f.cpu.api,
                f.cpu.postgres,
            );
        }
        println!(
            "({} jobs and {} history rows in each)",
            figures[0].jobs, figures[0].rows
        );
    });
}
