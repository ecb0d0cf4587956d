//! A bounded soak test of the real binary: two bursts of 1 000 small jobs, each submitted by
//! 20 concurrent clients while other clients page through the job list and stream events.
//! Nothing is lost (every job succeeds with its whole history), nothing answers 5xx, and the
//! server's resident memory after the second burst is no higher than after the first.
//!
//! Run alone with `cargo test --test soak -- --nocapture` to see the figures.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{json, Value};

/// Clients submitting at the same time.
const SUBMITTERS: usize = 20;
/// Jobs each submitter sends per burst (20 × 50 = 1 000 per burst, 2 000 in all).
const JOBS_PER_SUBMITTER: usize = 50;
/// Steps of each job (51 records, steps 0 to 50).
const STEPS: u64 = 50;
/// How much the resident memory may grow from after the first burst to after the second:
/// allocator slack, not a leak of 1 000 jobs' state.
const RSS_SLACK_KIB: u64 = 16 * 1024;

/// The binary on a free port over a temporary database, killed on drop.
struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(client: &Client) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_saddle"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--database-url")
            .arg(format!("sqlite://{}", dir.path().join("soak.db").display()))
            .args(["--workers", "2", "--rate-limit-rps", "0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the saddle binary starts");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.get(server.url("/healthz")).send().await.is_err() {
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A `Vm*` line of /proc/PID/status, in KiB.
    fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} missing in /proc status"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counts every answer and fails on a 5xx.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    server_errors: AtomicU64,
}

impl Tally {
    fn saw(&self, status: reqwest::StatusCode) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status.is_server_error() {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The server, a client and the tally, shared by every simulated client.
struct Soak {
    server: Server,
    client: Client,
    tally: Tally,
}

impl Soak {
    /// GETs `path`, counting the answer.
    async fn get(&self, path: &str) -> reqwest::Response {
        let response = self.client.get(self.server.url(path)).send().await.unwrap();
        self.tally.saw(response.status());
        response
    }
}

fn job_spec(client_no: usize, k: usize) -> Value {
    json!({
        "problem": {"kind": "expression", "expression": "(1 - x)^2 + 100*(y - x^2)^2"},
        "initial": {"x": -1.5 + 0.001 * k as f64, "y": 2.0},
        "optimizer": {"name": "adam", "lr": 0.01},
        "stop": {"max_steps": STEPS},
        "tags": [format!("client-{client_no}")]
    })
}

/// Submits one burst from `SUBMITTERS` clients while pollers list jobs and streamers follow
/// events; returns the ids of the burst's jobs once all have finished.
async fn burst(soak: &Arc<Soak>) -> Vec<String> {
    let running = Arc::new(AtomicBool::new(true));
    let mut watchers = Vec::new();
    for _ in 0..3 {
        let (soak, running) = (soak.clone(), running.clone());
        watchers.push(tokio::spawn(async move {
            let mut polls = 0;
            while running.load(Ordering::Relaxed) {
                polls += 1;
                let page: Value = soak.get("/v1/jobs?limit=100").await.json().await.unwrap();
                assert!(page["jobs"].is_array());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            polls
        }));
    }
    for _ in 0..2 {
        let (soak, running) = (soak.clone(), running.clone());
        watchers.push(tokio::spawn(async move {
            let mut streamed = 0;
            while running.load(Ordering::Relaxed) {
                let page: Value = soak.get("/v1/jobs?limit=1").await.json().await.unwrap();
                let Some(id) = page["jobs"][0]["id"].as_str() else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let mut response = soak.get(&format!("/v1/jobs/{id}/events")).await;
                let mut text = Vec::new();
                while let Some(chunk) =
                    tokio::time::timeout(Duration::from_secs(60), response.chunk())
                        .await
                        .expect("the stream keeps moving")
                        .unwrap()
                {
                    text.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(text).unwrap();
                assert!(text.contains("event: end"), "{id}: {text}");
                assert_eq!(
                    text.matches("event: step").count() as u64,
                    STEPS + 1,
                    "{id}"
                );
                streamed += 1;
            }
            streamed
        }));
    }
    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|c| {
            let soak = soak.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for k in 0..JOBS_PER_SUBMITTER {
                    let response = soak
                        .client
                        .post(soak.server.url("/v1/jobs"))
                        .json(&job_spec(c, k))
                        .send()
                        .await
                        .unwrap();
                    soak.tally.saw(response.status());
                    assert_eq!(response.status(), 201);
                    let job: Value = response.json().await.unwrap();
                    ids.push(job["id"].as_str().unwrap().to_string());
                }
                ids
            })
        })
        .collect();
    let mut ids = Vec::new();
    for submitter in submitters {
        ids.extend(submitter.await.unwrap());
    }
    // Wait for the queue to drain, watched through /metrics.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let page = soak.get("/metrics").await.text().await.unwrap();
        let active: u64 = page
            .lines()
            .filter(|l| {
                l.starts_with("saddle_jobs{status=\"queued\"}")
                    || l.starts_with("saddle_jobs{status=\"running\"}")
            })
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
            .sum();
        if active == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "jobs still active: {active}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.store(false, Ordering::Relaxed);
    for watcher in watchers {
        assert!(
            watcher.await.unwrap() > 0,
            "every watcher did its work during the burst"
        );
    }
    ids
}

/// Every job of `ids` succeeded with its whole history, steps 0 to STEPS.
async fn assert_nothing_lost(soak: &Soak, ids: &[String]) {
    for id in ids {
        let job: Value = soak
            .get(&format!("/v1/jobs/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(job["status"], "succeeded", "{job}");
        let page: Value = soak
            .get(&format!("/v1/jobs/{id}/steps?limit=1000&fields=loss"))
            .await
            .json()
            .await
            .unwrap();
        let steps: Vec<u64> = page["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["step"].as_u64().unwrap())
            .collect();
        assert_eq!(steps, (0..=STEPS).collect::<Vec<_>>(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_jobs_from_twenty_clients_lose_nothing_and_memory_stays_flat() {
    let client = Client::new();
    let soak = Arc::new(Soak {
        server: Server::start(&client).await,
        client,
        tally: Tally::default(),
    });
    let (server, tally) = (&soak.server, &soak.tally);
    let started = Instant::now();
    let rss_at_start = server.memory_kib("VmRSS");

    let first = burst(&soak).await;
    let first_took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after_first = server.memory_kib("VmRSS");

    let second = burst(&soak).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after_second = server.memory_kib("VmRSS");
    let peak = server.memory_kib("VmHWM");
    let took = started.elapsed();

    let all: Vec<String> = first.into_iter().chain(second).collect();
    assert_eq!(all.len(), 2 * SUBMITTERS * JOBS_PER_SUBMITTER);
    assert_nothing_lost(&soak, &all).await;
    let requests = tally.requests.load(Ordering::Relaxed);
    eprintln!(
        "soak: {} jobs in {:.1} s (first burst {:.1} s), {requests} requests checked; \
         RSS at start {} MiB, after burst 1 {} MiB, after burst 2 {} MiB, peak (VmHWM) {} MiB",
        all.len(),
        took.as_secs_f64(),
        first_took.as_secs_f64(),
        rss_at_start / 1024,
        rss_after_first / 1024,
        rss_after_second / 1024,
        peak / 1024,
    );
    assert_eq!(
        tally.server_errors.load(Ordering::Relaxed),
        0,
        "5xx answers"
    );
    assert!(
        rss_after_second <= rss_after_first + RSS_SLACK_KIB,
        "resident memory grew from {rss_after_first} KiB to {rss_after_second} KiB over the second burst"
    );
}
