//! Request ids, Prometheus metrics and the per-client rate limit, over HTTP.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, rosenbrock_adam, TestApp};

fn request_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .expect("every response has X-Request-Id")
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_sane_client_id_is_kept() {
    let app = TestApp::spawn().await;
    let generated = request_id(&app.get("/healthz").await);
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
    assert_ne!(generated, request_id(&app.get("/healthz").await));

    let sent = |id: &str| {
        app.client
            .get(app.url("/v1/jobs/no-such-job"))
            .header("x-request-id", id)
            .send()
    };
    let response = sent("trace-42.abc_DEF").await.unwrap();
    assert_eq!(request_id(&response), "trace-42.abc_DEF");
    assert_problem(response, StatusCode::NOT_FOUND).await;

    let longest = "x".repeat(64);
    assert_eq!(request_id(&sent(&longest).await.unwrap()), longest);
    for insane in ["x".repeat(65), "has spaces".into(), String::new()] {
        let kept = request_id(&sent(&insane).await.unwrap());
        assert!(uuid::Uuid::parse_str(&kept).is_ok(), "{insane:?} → {kept}");
    }

    // Errors raised before a handler (unknown route, wrong method, oversized body) too.
    assert!(uuid::Uuid::parse_str(&request_id(&app.get("/nope").await)).is_ok());
    let response = app.client.put(app.url("/v1/jobs")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    request_id(&response);
    app.stop().await;
}

/// The samples of a Prometheus text page, by series (name with its labels).
fn samples(page: &str) -> HashMap<String, f64> {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

#[tokio::test]
async fn metrics_count_jobs_steps_and_requests_by_route() {
    let app = TestApp::spawn().await;
    let done = app.submit(&rosenbrock_adam(50)).await;
    let done = done["id"].as_str().unwrap();
    app.wait_finished(done, Duration::from_secs(20)).await;
    let mut bad = rosenbrock_adam(50);
    bad["optimizer"]["lr"] = json!(-1.0);
    assert_eq!(
        app.post_json("/v1/jobs", &bad).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    for _ in 0..3 {
        assert_eq!(app.get("/v1/optimizers").await.status(), StatusCode::OK);
    }
    for _ in 0..2 {
        assert_eq!(
            app.get("/no/such/route").await.status(),
            StatusCode::NOT_FOUND
        );
    }

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let page = response.text().await.unwrap();
    let s = samples(&page);
    let value = |series: &str| {
        *s.get(series)
            .unwrap_or_else(|| panic!("{series} missing in\n{page}"))
    };

    assert_eq!(value(r#"saddle_jobs{status="succeeded"}"#), 1.0);
    for status in ["queued", "running", "failed", "cancelled"] {
        assert_eq!(value(&format!("saddle_jobs{{status=\"{status}\"}}")), 0.0);
    }
    assert_eq!(value("saddle_queue_depth"), 0.0);
    assert_eq!(value("saddle_workers"), 2.0);
    assert_eq!(value("saddle_steps_total"), 50.0);
    assert!(value("saddle_db_write_lock_waits_total") >= 0.0);
    assert!(value("saddle_db_write_lock_wait_seconds_total") > 0.0);

    let h = "saddle_http_request_duration_seconds";
    let optimizers = r#"route="/v1/optimizers",method="GET",status="2xx""#;
    assert_eq!(value(&format!("{h}_count{{{optimizers}}}")), 3.0);
    assert_eq!(
        value(&format!("{h}_bucket{{{optimizers},le=\"+Inf\"}}")),
        3.0
    );
    assert!(value(&format!("{h}_sum{{{optimizers}}}")) > 0.0);
    let created = r#"route="/v1/jobs",method="POST""#;
    assert_eq!(
        value(&format!("{h}_count{{{created},status=\"2xx\"}}")),
        1.0
    );
    assert_eq!(
        value(&format!("{h}_count{{{created},status=\"4xx\"}}")),
        1.0
    );
    let unmatched = r#"route="unmatched",method="GET",status="4xx""#;
    assert_eq!(value(&format!("{h}_count{{{unmatched}}}")), 2.0);
    // Ids never become labels: the job's polls count under the route's pattern.
    assert!(
        value(&format!(
            "{h}_count{{route=\"/v1/jobs/{{id}}\",method=\"GET\",status=\"2xx\"}}"
        )) >= 1.0
    );
    assert!(!page.contains(done));
    // Buckets are cumulative.
    let buckets: Vec<f64> = page
        .lines()
        .filter(|l| l.starts_with(&format!("{h}_bucket{{{optimizers}")))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
        .collect();
    assert_eq!(buckets.len(), 13);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_client_over_its_rate_gets_a_429_with_retry_after_and_probes_are_exempt() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit_rps = 0.5;
        c.rate_limit_burst = 3;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/optimizers").await.status(), StatusCode::OK);
    }
    let response = app.get("/v1/optimizers").await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let problem = assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("0.5 requests per second"), "{detail}");
    assert!(detail.contains("bursts of 3"), "{detail}");

    for _ in 0..5 {
        assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
        assert_eq!(app.get("/metrics").await.status(), StatusCode::OK);
    }

    // A made-up bearer token is no way around the limit: without a live key behind it the
    // request is charged to the address, whose bucket is empty.
    let with_token = |token: &'static str| {
        app.client
            .get(app.url("/v1/optimizers"))
            .bearer_auth(token)
            .send()
    };
    for token in ["made-up-1", "made-up-2", "made-up-3"] {
        assert_eq!(
            with_token(token).await.unwrap().status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    // The bucket refills at the configured rate.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(app.get("/v1/optimizers").await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_live_api_key_has_a_rate_bucket_of_its_own_and_made_up_tokens_share_the_addresss() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit_rps = 0.1;
        c.rate_limit_burst = 5;
        c.auth = saddle::config::AuthMode::On;
        c.admin_token = Some(crate::tenants::ADMIN_TOKEN.into());
    })
    .await;
    // Two admin requests, charged to the address (5 → 3).
    let (_, key_one) = crate::tenants::create_key(&app, "one").await;
    let (_, key_two) = crate::tenants::create_key(&app, "two").await;
    let send = |token: String| {
        app.client
            .get(app.url("/v1/optimizers"))
            .bearer_auth(token)
            .send()
    };
    // A live key's first request is charged to the address (the key is not known yet); from
    // then on the key has a bucket of its own.
    assert_eq!(
        send(key_two.clone()).await.unwrap().status(),
        StatusCode::OK
    );
    // Made-up tokens, a new one each time, are refused (401) and charged to the address,
    // until its bucket is empty.
    for n in 0..2 {
        let status = send(format!("made-up-{n}")).await.unwrap().status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = send("made-up-2".into()).await.unwrap().status();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The known key is not touched by the address's empty bucket, and has its own limit.
    for _ in 0..5 {
        assert_eq!(
            send(key_two.clone()).await.unwrap().status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        send(key_two.clone()).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // A key not seen yet pays for the address like any unknown token.
    assert_eq!(
        send(key_one.clone()).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    app.stop().await;
}
