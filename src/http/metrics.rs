//! `GET /metrics`: Prometheus text exposition (format 0.0.4) of the jobs, the queue, the steps
//! executed, request latencies by route and the database's write-lock waits.
//!
//! A small registry of atomics rather than the `metrics` + `metrics-exporter-prometheus`
//! crates: we export one histogram family and a handful of counters and gauges, and those
//! crates bring a global recorder (we keep state in `AppState`), a hyper client/server stack
//! and quanta/sketches for things we do not use — a heavier build on 2-core CI for less
//! control over the output.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::{ApiError, Problem};
use crate::store::JobStatus;

/// The content type of the text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the latency histogram's buckets; `+Inf` is implied.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// One latency histogram: per-bucket counts (not cumulative; cumulated when written), the
/// count and the sum in nanoseconds.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, seconds: f64) {
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&le| seconds <= le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
    }
}

/// The labels of one latency series. Routes are matched patterns (`/v1/jobs/{job_id}`), never
/// raw paths, and unknown methods are folded into `OTHER`, so the label set stays bounded
/// whatever clients send.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct SeriesKey {
    route: String,
    method: &'static str,
    status_class: &'static str,
}

/// Request latencies by route, method and status class.
#[derive(Default, Clone)]
pub struct HttpMetrics {
    series: Arc<Mutex<HashMap<SeriesKey, Arc<Histogram>>>>,
}

impl HttpMetrics {
    fn observe(&self, key: SeriesKey, seconds: f64) {
        let histogram = {
            let mut series = self.series.lock().expect("metrics lock");
            series.entry(key).or_default().clone()
        };
        histogram.observe(seconds);
    }

    fn write(&self, out: &mut String) {
        let series = self.series.lock().expect("metrics lock");
        let mut keys: Vec<&SeriesKey> = series.keys().collect();
        keys.sort();
        out.push_str(
            "# HELP saddle_http_request_duration_seconds Time from request to response head, \
             by route pattern, method and status class.\n\
             # TYPE saddle_http_request_duration_seconds histogram\n",
        );
        for key in keys {
            let h = &series[key];
            let labels = format!(
                "route=\"{}\",method=\"{}\",status=\"{}\"",
                escape_label(&key.route),
                key.method,
                key.status_class
            );
            let mut cumulative = 0;
            for (le, bucket) in LATENCY_BUCKETS.iter().zip(&h.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "saddle_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "saddle_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}\n\
                 saddle_http_request_duration_seconds_sum{{{labels}}} {sum}\n\
                 saddle_http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
    }
}

/// Escapes a label value as the exposition format asks (backslash, quote, newline).
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Times every request (to its response head: a stream's body is not waited for) into the
/// series of its matched route; requests no route matched count under `unmatched`.
pub async fn record_latency(
    State(metrics): State<HttpMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = method_label(request.method());
    let response = next.run(request).await;
    let key = SeriesKey {
        route,
        method,
        status_class: status_class(response.status().as_u16()),
    };
    metrics.observe(key, started.elapsed().as_secs_f64());
    response
}

/// Prometheus metrics of the server.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    responses(
        (status = 200, description = "The metrics in the Prometheus text exposition format 0.0.4", body = String,
         content_type = "text/plain",
         example = "# TYPE saddle_jobs gauge\nsaddle_jobs{status=\"queued\"} 3\nsaddle_jobs{status=\"running\"} 2\n"),
        (status = 500, description = "The database does not answer", body = Problem, content_type = "application/problem+json",
         example = json!({"type": "urn:saddle:problem:internal", "title": "Internal server error", "status": 500,
                          "detail": "The server failed to handle the request; it has been logged."}))
    )
)]
pub async fn get_metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let jobs = state.store.count_jobs_by_status().await?;
    let lock_waits = state.store.write_lock_waits();
    let mut out = String::with_capacity(4096);
    out.push_str("# HELP saddle_jobs Jobs in the database by status.\n# TYPE saddle_jobs gauge\n");
    let count_of = |status: JobStatus| {
        jobs.iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    };
    for status in JobStatus::ALL {
        let _ = writeln!(
            out,
            "saddle_jobs{{status=\"{}\"}} {}",
            status.as_str(),
            count_of(status)
        );
    }
    let _ = writeln!(
        out,
        "# HELP saddle_queue_depth Jobs waiting for a worker.\n# TYPE saddle_queue_depth gauge\n\
         saddle_queue_depth {}\n\
         # HELP saddle_workers Jobs this process runs at the same time.\n# TYPE saddle_workers gauge\n\
         saddle_workers {}\n\
         # HELP saddle_steps_total Optimizer steps executed by this process (rate() gives steps per second).\n\
         # TYPE saddle_steps_total counter\n\
         saddle_steps_total {}\n\
         # HELP saddle_db_write_lock_waits_total Write transactions that took over {} ms to begin: \
         on SQLite BEGIN IMMEDIATE waited for the write lock, on PostgreSQL for a tenant's advisory lock.\n\
         # TYPE saddle_db_write_lock_waits_total counter\n\
         saddle_db_write_lock_waits_total {}\n\
         # HELP saddle_db_write_lock_wait_seconds_total Time write transactions spent beginning.\n\
         # TYPE saddle_db_write_lock_wait_seconds_total counter\n\
         saddle_db_write_lock_wait_seconds_total {}\n\
         # HELP saddle_info The process: its database backend and its name as a worker (lease holder).\n\
         # TYPE saddle_info gauge\n\
         saddle_info{{backend=\"{}\",worker=\"{}\"}} 1",
        count_of(JobStatus::Queued),
        state.runner.worker_count(),
        state.runner.steps_executed(),
        crate::store::LOCK_WAIT_THRESHOLD.as_millis(),
        lock_waits.waits,
        lock_waits.wait_seconds,
        state.store.backend().as_str(),
        state.runner.worker_name(),
    );
    state.http_metrics.write(&mut out);
    Ok(([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], out).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_is_written_cumulative_with_count_and_sum() {
        let metrics = HttpMetrics::default();
        let key = SeriesKey {
            route: "/v1/jobs/{id}".into(),
            method: "GET",
            status_class: "2xx",
        };
        metrics.observe(key.clone(), 0.0005);
        metrics.observe(key.clone(), 0.003);
        metrics.observe(key, 60.0);
        let mut out = String::new();
        metrics.write(&mut out);
        let labels = r#"route="/v1/jobs/{id}",method="GET",status="2xx""#;
        for (le, n) in [
            ("0.001", 1),
            ("0.0025", 1),
            ("0.005", 2),
            ("10", 2),
            ("+Inf", 3),
        ] {
            let line = format!(
                "saddle_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}\n"
            );
            assert!(out.contains(&line), "{line} missing in\n{out}");
        }
        assert!(out.contains(&format!(
            "saddle_http_request_duration_seconds_count{{{labels}}} 3\n"
        )));
        assert!(out.contains(&format!(
            "saddle_http_request_duration_seconds_sum{{{labels}}} 60.0035"
        )));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
