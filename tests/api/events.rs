//! Server-Sent Events and long-polling.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp};

/// One parsed SSE event.
#[derive(Debug, Clone)]
struct SseEvent {
    event: String,
    id: Option<String>,
    data: String,
}

/// Reads a stream's events until `stop` says so or the stream ends; returns what was read and
/// whether the stream ended by itself.
async fn read_events(
    response: &mut reqwest::Response,
    mut stop: impl FnMut(&SseEvent) -> bool,
) -> (Vec<SseEvent>, bool) {
    let mut buffer = String::new();
    let mut events = Vec::new();
    loop {
        let Some(chunk) = response.chunk().await.expect("stream chunk") else {
            return (events, true);
        };
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut event = SseEvent {
                event: "message".into(),
                id: None,
                data: String::new(),
            };
            let mut any = false;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event.event = v.trim().into();
                    any = true;
                } else if let Some(v) = line.strip_prefix("id:") {
                    event.id = Some(v.trim().into());
                } else if let Some(v) = line.strip_prefix("data:") {
                    event.data.push_str(v.trim_start());
                    any = true;
                }
            }
            if !any {
                continue; // a keep-alive comment
            }
            let halt = stop(&event);
            events.push(event);
            if halt {
                return (events, false);
            }
        }
    }
}

async fn open(app: &TestApp, path: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(path))
        .header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    response
}

fn steps_of(events: &[SseEvent]) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e.event == "step")
        .map(|e| {
            let data: Value = serde_json::from_str(&e.data).unwrap();
            assert_eq!(e.id.as_deref(), Some(data["step"].to_string().as_str()));
            data["step"].as_i64().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn a_running_jobs_stream_resumes_with_last_event_id_without_gaps_or_repeats() {
    let app = TestApp::spawn().await;
    let spec = json!({
        "problem": {"kind": "builtin", "name": "rosenbrock"},
        "initial": [-1.5, 2.0],
        "optimizer": {"name": "adam", "lr": 1e-6},
        "stop": {"max_steps": 10_000_000},
        "record": {"every": 1}
    });
    let job = app.submit(&spec).await;
    let id = job["id"].as_str().unwrap().to_string();
    let path = format!("/v1/jobs/{id}/events?fields=loss");

    // First connection: read 3000 steps of the running job, then drop the connection.
    let mut first = open(&app, &path, None).await;
    let (events, ended) = read_events(&mut first, |e| {
        e.event == "step" && e.id.as_deref() == Some("2999")
    })
    .await;
    drop(first);
    assert!(!ended);
    assert_eq!(events[0].event, "status");
    let mut steps = steps_of(&events);
    assert_eq!(steps, (0..3000).collect::<Vec<i64>>());
    let running: Value = app
        .get(&format!("/v1/jobs/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(running["status"], "running");

    // Reconnect after the last step seen, read some more, then cancel and read to the end.
    let mut second = open(&app, &path, Some("2999")).await;
    let (more, _) = read_events(&mut second, |e| {
        e.event == "step" && e.id.as_deref() == Some("6000")
    })
    .await;
    steps.extend(steps_of(&more));
    app.post_json(&format!("/v1/jobs/{id}/cancel"), &json!({}))
        .await;
    let (rest, ended) = read_events(&mut second, |_| false).await;
    assert!(ended, "the stream closes after the end event");
    steps.extend(steps_of(&rest));
    let end = rest.last().unwrap();
    assert_eq!(end.event, "end");
    let final_job: Value = serde_json::from_str(&end.data).unwrap();
    assert_eq!(final_job["status"], "cancelled");
    let last = final_job["result"]["steps"].as_i64().unwrap();
    assert!(rest
        .iter()
        .any(|e| e.event == "status" && e.data.contains("cancelled")));
    assert_eq!(
        steps,
        (0..=last).collect::<Vec<i64>>(),
        "no step missing, none repeated"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_finished_jobs_stream_replays_thinned_and_closes() {
    let app = TestApp::spawn().await;
    let spec = json!({
        "problem": {"kind": "builtin", "name": "rosenbrock"},
        "initial": [-1.5, 2.0],
        "optimizer": {"name": "adam", "lr": 0.01},
        "stop": {"max_steps": 1005}
    });
    let job = app.submit(&spec).await;
    let id = job["id"].as_str().unwrap();
    app.wait_finished(id, Duration::from_secs(30)).await;

    let mut all = open(&app, &format!("/v1/jobs/{id}/events"), None).await;
    let (events, ended) = read_events(&mut all, |_| false).await;
    assert!(ended);
    assert_eq!(steps_of(&events), (0..=1005).collect::<Vec<i64>>());
    assert_eq!(events.last().unwrap().event, "end");
    let step0: Value = serde_json::from_str(&events[1].data).unwrap();
    assert_eq!(step0["params"], json!([-1.5, 2.0]));

    let mut thinned = open(&app, &format!("/v1/jobs/{id}/events?every=100"), None).await;
    let (events, _) = read_events(&mut thinned, |_| false).await;
    let mut expected: Vec<i64> = (0..=10).map(|i| i * 100).collect();
    expected.push(1005);
    assert_eq!(
        steps_of(&events),
        expected,
        "every 100th and always the last"
    );

    // A tiny rate sends few steps but always the last one.
    let started = Instant::now();
    let mut slow = open(&app, &format!("/v1/jobs/{id}/events?max_hz=2"), None).await;
    let (events, _) = read_events(&mut slow, |_| false).await;
    let steps = steps_of(&events);
    assert!(steps.len() < 10, "{steps:?}");
    assert_eq!(*steps.last().unwrap(), 1005);
    assert!(started.elapsed() < Duration::from_secs(10));

    for bad in ["every=0", "max_hz=0", "max_hz=-1", "fields=colour"] {
        assert_problem(
            app.get(&format!("/v1/jobs/{id}/events?{bad}")).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let wrong_id = app
        .client
        .get(app.url(&format!("/v1/jobs/{id}/events")))
        .header("last-event-id", "abc")
        .send()
        .await
        .unwrap();
    assert_problem(wrong_id, StatusCode::BAD_REQUEST).await;
    assert_problem(app.get("/v1/jobs/nope/events").await, StatusCode::NOT_FOUND).await;
    app.stop().await;
}

#[tokio::test]
async fn long_polling_returns_when_the_status_changes() {
    let app = TestApp::spawn_with(|c| c.workers = Some(1)).await;
    let long = json!({
        "problem": {"kind": "builtin", "name": "rosenbrock"},
        "initial": [-1.5, 2.0],
        "optimizer": {"name": "adam", "lr": 1e-6},
        "stop": {"max_steps": 10_000_000},
        "record": {"every": 1}
    });
    let job = app.submit(&long).await;
    let id = job["id"].as_str().unwrap().to_string();
    // Wait for it to run.
    let started: Value = app
        .get(&format!("/v1/jobs/{id}?wait=10s"))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(started["status"], "queued");

    // A running job: the poll is held until the cancel lands.
    let cancel = {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/jobs/{id}/cancel"));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            client.post(url).send().await.unwrap();
        })
    };
    let begun = Instant::now();
    let done: Value = app
        .get(&format!("/v1/jobs/{id}?wait=30s"))
        .await
        .json()
        .await
        .unwrap();
    cancel.await.unwrap();
    assert_eq!(done["status"], "cancelled");
    let waited = begun.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(10),
        "{waited:?}"
    );

    // A finished job answers at once; a short wait times out with the job unchanged.
    let begun = Instant::now();
    let again: Value = app
        .get(&format!("/v1/jobs/{id}?wait=30s"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], "cancelled");
    assert!(begun.elapsed() < Duration::from_secs(2));
    let p = assert_problem(
        app.get(&format!("/v1/jobs/{id}?wait=soon")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "wait");
    app.stop().await;
}
