//! Submitting, reading, listing, cancelling and deleting jobs.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, rosenbrock_adam, TestApp};

#[tokio::test]
async fn a_rosenbrock_job_with_adam_runs_through_to_succeeded() {
    let app = TestApp::spawn().await;
    let response = app.post_json("/v1/jobs", &rosenbrock_adam(3000)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let job: Value = response.json().await.unwrap();
    let id = job["id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/jobs/{id}"));
    assert!(["queued", "running"].contains(&job["status"].as_str().unwrap()));

    let done = app.wait_finished(id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["stop_reason"], "max_steps");
    let result = &done["result"];
    assert_eq!(result["steps"], 3000);
    assert_eq!(result["function_evaluations"], 3001);
    assert!(result["final_loss"].as_f64().unwrap() < 1e-6);
    let x = result["final_params"].as_array().unwrap();
    assert!((x[0].as_f64().unwrap() - 1.0).abs() < 1e-3);
    assert_eq!(done["progress"]["step"], 3000);
    assert!(done["started_at"].is_string() && done["finished_at"].is_string());
    // The history has records 0..=3000, record 0 being the start.
    let steps = app.all_steps(id, 10_000).await;
    assert_eq!(steps.len(), 3001);
    assert_eq!(steps[0]["loss"], 12.5);
    assert_eq!(steps[0]["params"], json!([-1.5, 2.0]));
    assert_eq!(steps[3000]["loss"], result["final_loss"]);
    app.stop().await;
}

#[tokio::test]
async fn grad_tol_and_loss_target_stop_a_run_early_and_say_why() {
    let app = TestApp::spawn().await;
    let mut spec = rosenbrock_adam(100_000);
    spec["stop"]["loss_target"] = json!(1e-3);
    let job = app.submit(&spec).await;
    let done = app
        .wait_finished(job["id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(done["stop_reason"], "loss_target");
    assert!(done["result"]["final_loss"].as_f64().unwrap() <= 1e-3);
    assert!(done["result"]["steps"].as_u64().unwrap() < 100_000);

    let sphere = json!({
        "problem": {"kind": "builtin", "name": "sphere"},
        "initial": [1.0, -2.0, 3.0],
        "optimizer": {"name": "sgd", "lr": 0.1},
        "stop": {"max_steps": 10_000, "grad_tol": 1e-9}
    });
    let job = app.submit(&sphere).await;
    let done = app
        .wait_finished(job["id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(done["stop_reason"], "grad_tol");
    assert!(done["result"]["final_grad_norm"].as_f64().unwrap() <= 1e-9);
    app.stop().await;
}

#[tokio::test]
async fn a_long_job_can_be_cancelled_and_keeps_its_history() {
    let app = TestApp::spawn().await;
    let mut spec = rosenbrock_adam(10_000_000);
    spec["optimizer"]["lr"] = json!(1e-4);
    let job = app.submit(&spec).await;
    let id = job["id"].as_str().unwrap();
    // Wait until it has stored some history.
    loop {
        let job: Value = app
            .get(&format!("/v1/jobs/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if job["progress"]["step"].as_i64().unwrap() > 1000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = app
        .post_json(&format!("/v1/jobs/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let done = app.wait_finished(id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "cancelled");
    assert_eq!(done["stop_reason"], "cancelled");
    let steps_taken = done["result"]["steps"].as_i64().unwrap();
    assert!(steps_taken > 1000 && steps_taken < 10_000_000);
    // Cancel is idempotent; the finished job is returned as it is.
    let again = app
        .post_json(&format!("/v1/jobs/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["status"], "cancelled");
    // The history up to the stop is kept, with no gap.
    let page: Value = app
        .get(&format!("/v1/jobs/{id}/steps?max_points=2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["steps"][1]["step"], steps_taken);
    let count = app
        .get(&format!("/v1/jobs/{id}/steps?format=csv&fields=loss"))
        .await
        .text()
        .await
        .unwrap()
        .lines()
        .count();
    assert_eq!(count as i64, steps_taken + 2, "header + records 0..=steps");
    app.stop().await;
}

#[tokio::test]
async fn a_queued_job_is_cancelled_at_once_without_history() {
    // One worker busy with a long job keeps the second one queued.
    let app = TestApp::spawn_with(|c| c.workers = Some(1)).await;
    let mut long = rosenbrock_adam(10_000_000);
    long["optimizer"]["lr"] = json!(1e-5);
    let blocker = app.submit(&long).await;
    let queued = app.submit(&rosenbrock_adam(10)).await;
    let id = queued["id"].as_str().unwrap();
    let cancelled: Value = app
        .post_json(&format!("/v1/jobs/{id}/cancel"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["stop_reason"], "cancelled");
    assert!(cancelled.get("result").is_none());
    let blocker_id = blocker["id"].as_str().unwrap();
    app.post_json(&format!("/v1/jobs/{blocker_id}/cancel"), &json!({}))
        .await;
    app.wait_finished(blocker_id, Duration::from_secs(30)).await;
    app.stop().await;
}

#[tokio::test]
async fn a_finished_job_can_be_deleted_but_a_running_one_cannot() {
    let app = TestApp::spawn().await;
    let mut long = rosenbrock_adam(10_000_000);
    long["optimizer"]["lr"] = json!(1e-5);
    let running = app.submit(&long).await;
    let running_id = running["id"].as_str().unwrap();
    let refused = app
        .client
        .delete(app.url(&format!("/v1/jobs/{running_id}")))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(refused, StatusCode::CONFLICT).await;
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("cancel it first"));
    app.post_json(&format!("/v1/jobs/{running_id}/cancel"), &json!({}))
        .await;
    app.wait_finished(running_id, Duration::from_secs(30)).await;

    let deleted = app
        .client
        .delete(app.url(&format!("/v1/jobs/{running_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get(&format!("/v1/jobs/{running_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.get(&format!("/v1/jobs/{running_id}/steps")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn jobs_are_listed_newest_first_filtered_and_paged_without_gaps() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut spec = rosenbrock_adam(5);
        spec["tags"] = json!([if i % 2 == 0 { "even" } else { "odd" }]);
        spec["name"] = json!(format!("job {i}"));
        ids.push(app.submit(&spec).await["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        app.wait_finished(id, Duration::from_secs(30)).await;
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut path = "/v1/jobs?limit=3".to_string();
        if let Some(t) = &token {
            path.push_str(&format!("&page_token={t}"));
        }
        let page: Value = app.get(&path).await.json().await.unwrap();
        let jobs = page["jobs"].as_array().unwrap();
        assert!(jobs.len() <= 3);
        seen.extend(jobs.iter().map(|j| j["id"].as_str().unwrap().to_string()));
        match page["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let even: Value = app.get("/v1/jobs?tag=even").await.json().await.unwrap();
    assert_eq!(even["jobs"].as_array().unwrap().len(), 4);
    let succeeded: Value = app
        .get("/v1/jobs?status=succeeded&limit=100000")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(succeeded["jobs"].as_array().unwrap().len(), 7);
    let first = &succeeded["jobs"][0];
    assert_eq!(first["optimizer"], "adam");
    assert_eq!(first["problem"], "builtin");
    assert!(first["final_loss"].is_number());
    let none: Value = app
        .get("/v1/jobs?status=running")
        .await
        .json()
        .await
        .unwrap();
    assert!(none["jobs"].as_array().unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn five_hundred_jobs_submitted_at_once_with_two_workers_all_finish_once() {
    let app = TestApp::spawn_with(|c| c.workers = Some(2)).await;
    let submissions = (0..500).map(|i| {
        let client = app.client.clone();
        let url = app.url("/v1/jobs");
        async move {
            let mut spec = rosenbrock_adam(200);
            spec["tags"] = json!(["burst"]);
            spec["initial"] = json!([-1.5 + (i as f64) * 1e-3, 2.0]);
            let response = client.post(url).json(&spec).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            let body: Value = response.json().await.unwrap();
            body["id"].as_str().unwrap().to_string()
        }
    });
    let ids: Vec<String> = futures_util::future::join_all(submissions).await;
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 500);
    // Readers poll while the workers write.
    for id in ids.iter().step_by(50) {
        let response = app.get(&format!("/v1/jobs/{id}/steps?limit=10")).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    for id in &ids {
        let job = app.wait_finished(id, Duration::from_secs(120)).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["result"]["steps"], 200);
        // Run exactly once: exactly 201 records, no duplicates (the primary key forbids them)
        // and no gap.
        let page: Value = app
            .get(&format!("/v1/jobs/{id}/steps?fields=loss&limit=1000"))
            .await
            .json()
            .await
            .unwrap();
        let steps: Vec<i64> = page["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["step"].as_i64().unwrap())
            .collect();
        assert_eq!(steps, (0..=200).collect::<Vec<_>>());
    }
    app.stop().await;
}

#[tokio::test]
async fn a_diverging_run_fails_as_diverged_at_that_step_with_its_history() {
    let app = TestApp::spawn().await;
    let spec = json!({
        "problem": {"kind": "builtin", "name": "rosenbrock"},
        "initial": [-1.5, 2.0],
        "optimizer": {"name": "sgd", "lr": 0.1},
        "stop": {"max_steps": 1000}
    });
    let job = app.submit(&spec).await;
    let id = job["id"].as_str().unwrap();
    let done = app.wait_finished(id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["stop_reason"], "diverged");
    let step = done["error"]["step"].as_i64().unwrap();
    assert!(done["error"]["message"]
        .as_str()
        .unwrap()
        .contains("diverged"));
    let steps = app.all_steps(id, 1000).await;
    assert_eq!(steps.len() as i64, step + 1);
    let last = steps.last().unwrap();
    // Non-finite values are spelled as strings in JSON.
    let loss = &last["loss"];
    assert!(
        loss == "Infinity" || loss == "NaN" || last["params"].to_string().contains("Infinity"),
        "{last}"
    );
    app.stop().await;
}

#[tokio::test]
async fn record_every_keeps_every_nth_step_and_always_the_last() {
    let app = TestApp::spawn().await;
    let mut spec = rosenbrock_adam(1005);
    spec["record"] = json!({"every": 100, "params": false});
    let job = app.submit(&spec).await;
    let id = job["id"].as_str().unwrap();
    app.wait_finished(id, Duration::from_secs(30)).await;
    let steps = app.all_steps(id, 1000).await;
    let numbers: Vec<i64> = steps.iter().map(|s| s["step"].as_i64().unwrap()).collect();
    let mut expected: Vec<i64> = (0..=10).map(|i| i * 100).collect();
    expected.push(1005);
    assert_eq!(numbers, expected);
    assert!(steps.iter().all(|s| s.get("params").is_none()));
    app.stop().await;
}

#[tokio::test]
async fn a_quadratic_with_clipping_by_value_runs() {
    let app = TestApp::spawn().await;
    let spec = json!({
        "problem": {"kind": "builtin", "name": "quadratic", "a": [[2.0, 0.0], [0.0, 4.0]], "b": [2.0, 4.0]},
        "initial": [10.0, -10.0],
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": true},
        "clip": {"max_value": 1.0},
        "stop": {"max_steps": 500, "grad_tol": 1e-10}
    });
    let job = app.submit(&spec).await;
    let done = app
        .wait_finished(job["id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "succeeded");
    let x = done["result"]["final_params"].as_array().unwrap();
    assert!((x[0].as_f64().unwrap() - 1.0).abs() < 1e-8);
    assert!((x[1].as_f64().unwrap() - 1.0).abs() < 1e-8);
    app.stop().await;
}

#[tokio::test]
async fn health_and_docs_answer() {
    let app = TestApp::spawn().await;
    let health: Value = app.get("/healthz").await.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("openapi"));
    app.stop().await;
}

#[tokio::test]
async fn a_builtin_job_without_initial_starts_at_the_functions_default_start() {
    let app = TestApp::spawn().await;
    let function: Value = app
        .get("/v1/functions/himmelblau")
        .await
        .json()
        .await
        .unwrap();
    let job = app
        .submit(&json!({
            "problem": {"kind": "builtin", "name": "himmelblau"},
            "optimizer": {"name": "adam", "lr": 0.05},
            "stop": {"max_steps": 5}
        }))
        .await;
    let id = job["id"].as_str().unwrap();
    app.wait_finished(id, Duration::from_secs(30)).await;
    let steps = app.all_steps(id, 10).await;
    assert_eq!(steps[0]["params"], function["default_start"]);

    // A model without `initial` gets torch's default initialization with seed 0.
    let model = json!({
        "problem": {"kind": "model", "model": {"type": "logistic"}, "loss": "bce",
                    "data": {"features": [[0.0], [1.0], [2.0], [3.0]], "targets": [0, 0, 1, 1]}},
        "optimizer": {"name": "sgd", "lr": 0.1},
        "stop": {"max_steps": 3}
    });
    let mut explicit = model.clone();
    explicit["initial"] = json!({"init": "torch_default", "seed": 0});
    let mut starts = Vec::new();
    for spec in [&model, &explicit] {
        let id = app.submit(spec).await["id"].as_str().unwrap().to_string();
        app.wait_finished(&id, Duration::from_secs(30)).await;
        starts.push(app.all_steps(&id, 10).await[0]["params"].clone());
    }
    assert_eq!(
        starts[0], starts[1],
        "the default is torch_default with seed 0"
    );
    assert_eq!(starts[0].as_array().unwrap().len(), 2);
    explicit["initial"] = json!({"init": "torch_default", "seed": 1});
    let id = app.submit(&explicit).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.wait_finished(&id, Duration::from_secs(30)).await;
    assert_ne!(
        app.all_steps(&id, 10).await[0]["params"],
        starts[0],
        "seed 1 differs"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_expression_job_without_initial_is_told_to_give_one() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/v1/jobs",
            &json!({
                "problem": {"kind": "expression", "expression": "x^2 + y^2"},
                "optimizer": {"name": "sgd", "lr": 0.1}
            }),
        )
        .await;
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "initial");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("required for expression problems"));
    app.stop().await;
}
