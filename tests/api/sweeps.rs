//! Sweeps: races of optimizers, leaderboards, overlays.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp};

const EIGHT_OPTIMIZERS: [&str; 8] = [
    r#"{"name": "sgd", "lr": 0.001, "momentum": 0.9}"#,
    r#"{"name": "sgd", "lr": 0.001, "momentum": 0.9, "nesterov": true}"#,
    r#"{"name": "adam", "lr": 0.02}"#,
    r#"{"name": "adamw", "lr": 0.02}"#,
    r#"{"name": "rmsprop", "lr": 0.005}"#,
    r#"{"name": "adagrad", "lr": 0.3}"#,
    r#"{"name": "nadam", "lr": 0.02}"#,
    r#"{"name": "lbfgs", "line_search_fn": "strong_wolfe"}"#,
];

async fn wait_sweep(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let sweep: Value = app
            .get(&format!("/v1/sweeps/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if sweep["finished"] == sweep["jobs"] {
            return sweep;
        }
        assert!(
            Instant::now() < deadline,
            "sweep {id} did not finish: {sweep}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn labels_in_svg(svg: &str, leaderboard: &[Value]) -> usize {
    leaderboard
        .iter()
        .filter(|e| svg.contains(e["label"].as_str().unwrap()))
        .count()
}

#[tokio::test]
async fn eight_optimizers_race_on_rosenbrock_and_on_a_saddle_with_leaderboards_and_overlays() {
    let app = TestApp::spawn().await;
    let optimizers: Vec<Value> = EIGHT_OPTIMIZERS
        .iter()
        .map(|o| serde_json::from_str(o).unwrap())
        .collect();
    let problems = [
        (
            json!({"kind": "builtin", "name": "rosenbrock"}),
            json!([-1.5, 2.0]),
            json!({"max_steps": 1500}),
            1e-2,
        ),
        (
            json!({"kind": "builtin", "name": "saddle"}),
            json!([1.0, 1e-3]),
            json!({"max_steps": 1500, "loss_target": -1.0}),
            -0.5,
        ),
    ];
    for (problem, initial, stop, target) in problems {
        let response = app
            .post_json(
                "/v1/sweeps",
                &json!({
                    "problem": problem, "initial": initial, "optimizers": optimizers,
                    "stop": stop, "target_loss": target, "name": format!("race on {}", problem["name"].as_str().unwrap())
                }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert!(response.headers().contains_key("location"));
        let created: Value = response.json().await.unwrap();
        assert_eq!(created["jobs"], 8);
        let id = created["id"].as_str().unwrap().to_string();
        let sweep = wait_sweep(&app, &id).await;
        let board = sweep["leaderboard"].as_array().unwrap();
        assert_eq!(board.len(), 8);
        let finals: Vec<f64> = board
            .iter()
            .map(|e| e["final_loss"].as_f64().unwrap())
            .collect();
        assert!(
            finals.windows(2).all(|w| w[0] <= w[1]),
            "sorted by final loss: {finals:?}"
        );
        assert_eq!(board[0]["rank"], 1);
        assert!(board
            .iter()
            .all(|e| e["status"] == "succeeded" && e["diagnosis"].is_string()));
        let reached: Vec<&Value> = board
            .iter()
            .filter(|e| e["steps_to_target"].is_i64())
            .collect();
        assert!(!reached.is_empty(), "someone reaches the target: {board:?}");
        for e in &reached {
            assert!(e["time_to_target_seconds"].as_f64().unwrap() >= 0.0);
        }
        // Sorting by steps to target puts those that reached it first, fewest steps first.
        let by_target: Value = app
            .get(&format!("/v1/sweeps/{id}?sort=steps_to_target"))
            .await
            .json()
            .await
            .unwrap();
        let steps: Vec<i64> = by_target["leaderboard"]
            .as_array()
            .unwrap()
            .iter()
            .take(reached.len())
            .map(|e| e["steps_to_target"].as_i64().unwrap())
            .collect();
        assert!(steps.windows(2).all(|w| w[0] <= w[1]));

        let png = app.get(&format!("/v1/sweeps/{id}/plots/loss.png")).await;
        assert_eq!(png.headers()["content-type"], "image/png");
        assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
        let plot = app.get(&format!("/v1/sweeps/{id}/plots/loss.svg")).await;
        assert_eq!(plot.status(), StatusCode::OK);
        assert_eq!(plot.headers()["content-type"], "image/svg+xml");
        let svg = plot.text().await.unwrap();
        roxmltree::Document::parse(&svg).expect("valid XML");
        assert_eq!(labels_in_svg(&svg, board), 8, "a legend entry per job");
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("plots-examples");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("sweep-{}.svg", problem["name"].as_str().unwrap())),
            &svg,
        )
        .unwrap();
    }
    let list: Value = app.get("/v1/sweeps?limit=1").await.json().await.unwrap();
    assert_eq!(list["sweeps"].as_array().unwrap().len(), 1);
    let token = list["next_page_token"].as_str().unwrap();
    let next: Value = app
        .get(&format!("/v1/sweeps?limit=1&page_token={token}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["sweeps"].as_array().unwrap().len(), 1);
    assert!(next["next_page_token"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn a_grid_makes_one_job_per_combination_and_can_be_cancelled() {
    let app = TestApp::spawn_with(|c| c.workers = Some(1)).await;
    let response = app
        .post_json(
            "/v1/sweeps",
            &json!({
                "problem": {"kind": "builtin", "name": "rosenbrock"},
                "initial": [-1.5, 2.0],
                "optimizers": [{"name": "sgd", "momentum": 0.9}, {"name": "adam"}],
                "lrs": [1e-6, 1e-5, 1e-4],
                "initials": [[-1.5, 2.0], [0.0, 0.0]],
                "stop": {"max_steps": 5_000_000}
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let sweep: Value = response.json().await.unwrap();
    assert_eq!(sweep["jobs"], 12);
    let labels: Vec<&str> = sweep["leaderboard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["label"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"adam lr=0.0001 start #1"), "{labels:?}");
    let id = sweep["id"].as_str().unwrap();
    let cancelled: Value = app
        .post_json(&format!("/v1/sweeps/{id}/cancel"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["jobs"], 12);
    let done = wait_sweep(&app, id).await;
    assert!(done["leaderboard"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["status"] == "cancelled"));
    app.stop().await;
}

#[tokio::test]
async fn bad_sweeps_are_refused_before_any_job_is_made() {
    let app = TestApp::spawn().await;
    let base = json!({
        "problem": {"kind": "builtin", "name": "sphere"},
        "initial": [1.0, 1.0],
        "optimizers": [{"name": "adam"}]
    });
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    for (body, field) in [
        (with("optimizers", json!([])), "optimizers"),
        (with("lrs", json!(vec![0.1; 300])), "optimizers"),
        (with("lrs", json!([-1.0])), "lrs[0]"),
        (with("seeds", json!([1, 2])), "seeds"),
        (
            with(
                "optimizers",
                json!([{"name": "lookahead", "inner": {"name": "sgd"}}]),
            )
            .as_object()
            .cloned()
            .map(|mut o| {
                o.insert("lrs".into(), json!([0.1]));
                Value::Object(o)
            })
            .unwrap(),
            "optimizers[0]",
        ),
        (
            with("optimizers", json!([{"name": "adam", "lr": -1}])),
            "optimizer.lr",
        ),
    ] {
        let p = assert_problem(
            app.post_json("/v1/sweeps", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], field, "{body}");
    }
    let jobs: Value = app.get("/v1/jobs").await.json().await.unwrap();
    assert!(
        jobs["jobs"].as_array().unwrap().is_empty(),
        "no job was made"
    );
    assert_problem(app.get("/v1/sweeps/nope").await, StatusCode::NOT_FOUND).await;
    assert_problem(
        app.post_json("/v1/sweeps/nope/cancel", &json!({})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.get("/v1/sweeps/nope/plots/loss.svg").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(app.get("/v1/sweeps?sort=x").await, StatusCode::BAD_REQUEST).await;
    app.stop().await;
}
