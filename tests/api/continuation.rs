//! Continuing a finished job equals one uninterrupted run, bit for bit.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp};

async fn run(app: &TestApp, spec: &Value) -> (Value, Vec<Value>) {
    let job = app.submit(spec).await;
    let id = job["id"].as_str().unwrap().to_string();
    let done = app.wait_finished(&id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let steps = app.all_steps(&id, 10_000).await;
    (done, steps)
}

/// Runs `spec` for n steps, continues it for m more, and compares with one run of n + m.
async fn continue_equals_uninterrupted(app: &TestApp, spec: Value, n: u64, m: u64) {
    let mut first = spec.clone();
    first["stop"] = json!({"max_steps": n});
    let (first_job, first_steps) = run(app, &first).await;
    let id = first_job["id"].as_str().unwrap();

    let response = app
        .post_json(&format!("/v1/jobs/{id}/continue"), &json!({"steps": m}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().contains_key("location"));
    let continued: Value = response.json().await.unwrap();
    assert_eq!(continued["continued_from"], id);
    let cid = continued["id"].as_str().unwrap().to_string();
    let done = app.wait_finished(&cid, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["steps"], m);
    let continued_steps = app.all_steps(&cid, 10_000).await;

    let mut whole = spec.clone();
    whole["stop"] = json!({"max_steps": n + m});
    let (whole_job, whole_steps) = run(app, &whole).await;

    // The continuation's first record is the old job's last; together they are the whole run.
    // (Only the metrics differ there: a job's last record always carries its final metrics.)
    let without_metrics = |r: &Value| {
        let mut r = r.clone();
        r.as_object_mut().unwrap().remove("metrics");
        r
    };
    assert_eq!(
        without_metrics(&continued_steps[0]),
        without_metrics(&first_steps[n as usize])
    );
    let mut first_steps = first_steps;
    first_steps[n as usize] = without_metrics(&first_steps[n as usize]);
    let mut whole_steps = whole_steps;
    whole_steps[n as usize] = without_metrics(&whole_steps[n as usize]);
    let mut joined = first_steps.clone();
    joined.extend(continued_steps.into_iter().skip(1));
    assert_eq!(joined.len(), whole_steps.len());
    for (a, b) in joined.iter().zip(&whole_steps) {
        // JSON numbers are written with round-trip precision: equal text is equal bits.
        assert_eq!(
            a.to_string(),
            b.to_string(),
            "{}",
            spec["optimizer"]["name"]
        );
    }
    assert_eq!(
        done["result"]["final_params"].to_string(),
        whole_job["result"]["final_params"].to_string()
    );
}

fn rosenbrock(optimizer: Value) -> Value {
    json!({
        "problem": {"kind": "builtin", "name": "rosenbrock"},
        "initial": [-1.5, 2.0],
        "optimizer": optimizer
    })
}

#[tokio::test]
async fn continuing_adam_equals_an_uninterrupted_run_bit_for_bit() {
    let app = TestApp::spawn().await;
    continue_equals_uninterrupted(
        &app,
        rosenbrock(json!({"name": "adam", "lr": 0.02, "amsgrad": true})),
        120,
        80,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn continuing_sgd_momentum_with_a_schedule_equals_an_uninterrupted_run() {
    let app = TestApp::spawn().await;
    let mut spec =
        rosenbrock(json!({"name": "sgd", "lr": 0.001, "momentum": 0.9, "nesterov": true}));
    spec["schedule"] = json!({"name": "step", "step_size": 25, "gamma": 0.7});
    continue_equals_uninterrupted(&app, spec, 60, 90).await;
    app.stop().await;
}

#[tokio::test]
async fn continuing_lbfgs_equals_an_uninterrupted_run_bit_for_bit() {
    let app = TestApp::spawn().await;
    let spec = rosenbrock(
        json!({"name": "lbfgs", "lr": 1.0, "max_iter": 1, "max_eval": 26, "line_search_fn": "strong_wolfe"}),
    );
    continue_equals_uninterrupted(&app, spec, 9, 12).await;
    app.stop().await;
}

#[tokio::test]
async fn continuing_a_mini_batch_model_job_with_a_schedule_equals_an_uninterrupted_run() {
    let app = TestApp::spawn().await;
    // A small deterministic binary classification set.
    let features: Vec<Value> = (0..40)
        .map(|i| {
            let t = i as f64 / 40.0 * 6.0;
            json!([t.cos() * (1.0 + 0.1 * i as f64), t.sin()])
        })
        .collect();
    let targets: Vec<f64> = (0..40).map(|i| (i % 2) as f64).collect();
    let spec = json!({
        "problem": {
            "kind": "model",
            "model": {"type": "mlp", "hidden": [6], "activation": "tanh"},
            "loss": "bce",
            "data": {"features": features, "targets": targets},
            "batch_size": 7, "shuffle": true, "seed": 11, "validation_split": 0.25, "eval_every": 5
        },
        "initial": {"init": "xavier_uniform", "seed": 3},
        "optimizer": {"name": "adam", "lr": 0.05},
        "schedule": {"name": "exponential", "gamma": 0.99}
    });
    continue_equals_uninterrupted(&app, spec, 23, 31).await;
    app.stop().await;
}

#[tokio::test]
async fn only_finished_jobs_with_a_state_can_be_continued() {
    let app = TestApp::spawn().await;
    let long = json!({
        "problem": {"kind": "builtin", "name": "rosenbrock"},
        "initial": [-1.5, 2.0],
        "optimizer": {"name": "adam", "lr": 1e-6},
        "stop": {"max_steps": 10_000_000}
    });
    let job = app.submit(&long).await;
    let id = job["id"].as_str().unwrap();
    // Let it start: a job cancelled while still queued never ran and has nothing to continue.
    let running: Value = app
        .get(&format!("/v1/jobs/{id}?wait=30s"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(running["status"], "running");
    let p = assert_problem(
        app.post_json(&format!("/v1/jobs/{id}/continue"), &json!({"steps": 5}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("finished"));
    app.post_json(&format!("/v1/jobs/{id}/cancel"), &json!({}))
        .await;
    app.wait_finished(id, Duration::from_secs(30)).await;
    // A cancelled run stopped cleanly and can be continued.
    let ok = app
        .post_json(&format!("/v1/jobs/{id}/continue"), &json!({"steps": 5}))
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);

    let diverging = json!({
        "problem": {"kind": "builtin", "name": "rosenbrock"},
        "initial": [-1.5, 2.0],
        "optimizer": {"name": "sgd", "lr": 0.1}
    });
    let job = app.submit(&diverging).await;
    let did = job["id"].as_str().unwrap();
    app.wait_finished(did, Duration::from_secs(30)).await;
    assert_problem(
        app.post_json(&format!("/v1/jobs/{did}/continue"), &json!({"steps": 5}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    for (body, field) in [
        (json!({"steps": 0}), "steps"),
        (
            json!({"steps": 5, "stop": {"max_steps": 9}}),
            "stop.max_steps",
        ),
        (
            json!({"steps": 5, "schedule": {"name": "step", "step_size": 0}}),
            "schedule.step_size",
        ),
    ] {
        let p = assert_problem(
            app.post_json(&format!("/v1/jobs/{id}/continue"), &body)
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], field, "{body}");
    }
    let p = assert_problem(
        app.post_json(&format!("/v1/jobs/{id}/continue"), &json!({"stepz": 5}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("stepz"));
    assert_problem(
        app.post_json("/v1/jobs/nope/continue", &json!({"steps": 5}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.stop().await;
}
