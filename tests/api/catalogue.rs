//! The optimizer and schedule catalogues, and that everything they list runs.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Map, Value};

use crate::helpers::{assert_problem, TestApp};

/// A configuration of a catalogue entry with its required parameters set to their examples.
fn with_required(entry: &Value) -> Value {
    let mut config = Map::new();
    config.insert("name".into(), entry["name"].clone());
    for h in entry["hyperparameters"].as_array().unwrap() {
        if h["required"] == true {
            config.insert(h["name"].as_str().unwrap().into(), h["example"].clone());
        }
    }
    Value::Object(config)
}

#[tokio::test]
async fn every_listed_optimizer_runs_a_job_with_its_defaults() {
    let app = TestApp::spawn().await;
    let catalogue: Value = app.get("/v1/optimizers").await.json().await.unwrap();
    let entries = catalogue["items"].as_array().unwrap();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for expected in [
        "sgd",
        "adam",
        "adamw",
        "adagrad",
        "rmsprop",
        "adadelta",
        "adamax",
        "nadam",
        "radam",
        "rprop",
        "asgd",
        "lbfgs",
        "lion",
        "adabelief",
        "yogi",
        "lamb",
        "lookahead",
        "gd_armijo",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} is not listed: {names:?}"
        );
    }
    let mut ids = Vec::new();
    for entry in entries {
        assert!(!entry["description"].as_str().unwrap().is_empty());
        assert!(!entry["reference"].as_str().unwrap().is_empty());
        let spec = json!({
            "problem": {"kind": "builtin", "name": "sphere"},
            "initial": [1.0, -2.0, 0.5],
            "optimizer": with_required(entry),
            "stop": {"max_steps": 50}
        });
        let response = app.post_json("/v1/jobs", &spec).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{}", entry["name"]);
        let job: Value = response.json().await.unwrap();
        ids.push((
            entry["name"].clone(),
            job["id"].as_str().unwrap().to_string(),
        ));
    }
    for (name, id) in ids {
        let done = app.wait_finished(&id, Duration::from_secs(30)).await;
        assert_eq!(done["status"], "succeeded", "{name}: {done}");
        let start = 1.0 + 4.0 + 0.25;
        assert!(
            done["result"]["best_loss"].as_f64().unwrap() < start,
            "{name} made no progress on the sphere"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_optimizer_catalogue_gives_torch_defaults_and_ranges() {
    let app = TestApp::spawn().await;
    let adam: Value = app.get("/v1/optimizers/adam").await.json().await.unwrap();
    let param = |name: &str| {
        adam["hyperparameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(param("lr")["default"], 0.001);
    assert_eq!(param("betas")["default"], json!([0.9, 0.999]));
    assert_eq!(param("eps")["default"], 1e-8);
    assert!(!param("betas")["range"].as_str().unwrap().is_empty());
    let p = assert_problem(app.get("/v1/optimizers/adma").await, StatusCode::NOT_FOUND).await;
    assert!(p["detail"].as_str().unwrap().contains("/v1/optimizers"));
    app.stop().await;
}

#[tokio::test]
async fn every_listed_schedule_runs_a_job() {
    let app = TestApp::spawn().await;
    let catalogue: Value = app.get("/v1/schedules").await.json().await.unwrap();
    let entries = catalogue["items"].as_array().unwrap();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for expected in [
        "constant",
        "step",
        "multistep",
        "exponential",
        "cosine",
        "cosine_warm_restarts",
        "linear",
        "one_cycle",
        "cyclic",
        "polynomial",
        "reduce_on_plateau",
        "sequential",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} is not listed: {names:?}"
        );
    }
    let mut ids = Vec::new();
    for entry in entries {
        let spec = json!({
            "problem": {"kind": "builtin", "name": "sphere"},
            "initial": [1.0, -2.0],
            "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
            "schedule": with_required(entry),
            "stop": {"max_steps": 60}
        });
        let response = app.post_json("/v1/jobs", &spec).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{}: {body}", entry["name"]);
        ids.push((
            entry["name"].clone(),
            body["id"].as_str().unwrap().to_string(),
        ));
    }
    for (name, id) in ids {
        let done = app.wait_finished(&id, Duration::from_secs(30)).await;
        assert_eq!(done["status"], "succeeded", "{name}: {done}");
    }
    let step: Value = app.get("/v1/schedules/step").await.json().await.unwrap();
    assert_eq!(step["name"], "step");
    assert_problem(app.get("/v1/schedules/cosin").await, StatusCode::NOT_FOUND).await;
    app.stop().await;
}

#[tokio::test]
async fn a_step_schedule_changes_the_recorded_lr_as_torch_does() {
    let app = TestApp::spawn().await;
    let spec = json!({
        "problem": {"kind": "builtin", "name": "sphere"},
        "initial": [1.0, -2.0],
        "optimizer": {"name": "sgd", "lr": 0.1},
        "schedule": {"name": "step", "step_size": 3, "gamma": 0.5},
        "stop": {"max_steps": 7}
    });
    let job = app.submit(&spec).await;
    let id = job["id"].as_str().unwrap();
    app.wait_finished(id, Duration::from_secs(30)).await;
    let steps = app.all_steps(id, 100).await;
    let lrs: Vec<f64> = steps.iter().map(|s| s["lr"].as_f64().unwrap()).collect();
    assert_eq!(&lrs[..7], &[0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]);
    let bad = json!({
        "problem": {"kind": "builtin", "name": "sphere"},
        "initial": [1.0],
        "optimizer": {"name": "sgd", "lr": 0.1},
        "schedule": {"name": "step", "step_size": 0}
    });
    let p = assert_problem(
        app.post_json("/v1/jobs", &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "schedule.step_size");
    app.stop().await;
}
