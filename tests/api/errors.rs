//! Bad input gets a clear problem+json answer naming the field and the fix.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, rosenbrock_adam, TestApp};

async fn rejected(app: &TestApp, spec: &Value, status: StatusCode) -> Value {
    assert_problem(app.post_json("/v1/jobs", spec).await, status).await
}

fn first_field(problem: &Value) -> &str {
    problem["errors"][0]["field"].as_str().unwrap()
}

#[tokio::test]
async fn malformed_json_is_a_400_with_the_position() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/v1/jobs"))
        .header("content-type", "application/json")
        .body("{\"problem\": {")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert!(problem["detail"].as_str().unwrap().contains("column"));

    let response = app
        .client
        .post(app.url("/v1/jobs"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("application/json"));
    app.stop().await;
}

#[tokio::test]
async fn unknown_problems_optimizers_and_fields_are_named() {
    let app = TestApp::spawn().await;
    let mut spec = rosenbrock_adam(10);
    spec["problem"]["name"] = json!("rosenbrok");
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(first_field(&p), "problem.name");
    assert!(p["detail"].as_str().unwrap().contains("rosenbrok"));

    let mut spec = rosenbrock_adam(10);
    spec["problem"]["kind"] = json!("magic");
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(first_field(&p).starts_with("problem"));
    assert!(p["detail"].as_str().unwrap().contains("magic"));

    let mut spec = rosenbrock_adam(10);
    spec["optimizer"]["name"] = json!("adma");
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(first_field(&p).starts_with("optimizer"));
    assert!(p["detail"].as_str().unwrap().contains("adma"));

    // A typo never silently falls back to a default.
    let mut spec = rosenbrock_adam(10);
    spec["optimizer"]["betaz"] = json!([0.9, 0.99]);
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(p["detail"].as_str().unwrap().contains("betaz"));
    let mut spec = rosenbrock_adam(10);
    spec["stop"]["max_step"] = json!(5);
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(p["detail"].as_str().unwrap().contains("max_step"));
    let mut spec = rosenbrock_adam(10);
    spec["optimiser"] = json!({"name": "adam"});
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(p["detail"].as_str().unwrap().contains("optimiser"));

    let mut spec = rosenbrock_adam(10);
    spec.as_object_mut().unwrap().remove("optimizer");
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(p["detail"].as_str().unwrap().contains("optimizer"));
    app.stop().await;
}

#[tokio::test]
async fn out_of_range_hyperparameters_are_rejected_as_torch_rejects_them() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({"name": "adam", "lr": -0.01}), "optimizer.lr"),
        (
            json!({"name": "adam", "betas": [0.9, 1.0]}),
            "optimizer.betas[1]",
        ),
        (
            json!({"name": "adam", "betas": [-0.1, 0.999]}),
            "optimizer.betas[0]",
        ),
        (json!({"name": "adam", "eps": -1e-8}), "optimizer.eps"),
        (
            json!({"name": "adam", "weight_decay": -1}),
            "optimizer.weight_decay",
        ),
        (
            json!({"name": "sgd", "lr": 0.1, "nesterov": true}),
            "optimizer.nesterov",
        ),
        (
            json!({"name": "sgd", "momentum": -0.5}),
            "optimizer.momentum",
        ),
        (
            json!({"name": "lbfgs", "history_size": 1_000_000_000u64}),
            "optimizer.history_size",
        ),
        (json!({"name": "rmsprop", "alpha": -0.1}), "optimizer.alpha"),
        (
            json!({"name": "adamw", "betas": [1.5, 0.9]}),
            "optimizer.betas[0]",
        ),
    ];
    for (optimizer, field) in cases {
        let mut spec = rosenbrock_adam(10);
        spec["optimizer"] = optimizer.clone();
        let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(first_field(&p), field, "{optimizer}");
    }
    let mut spec = rosenbrock_adam(10);
    spec["optimizer"]["lr"] = json!("fast");
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(first_field(&p).starts_with("optimizer"));
    app.stop().await;
}

#[tokio::test]
async fn a_starting_point_of_the_wrong_dimension_is_named() {
    let app = TestApp::spawn().await;
    let quadratic = json!({
        "problem": {"kind": "builtin", "name": "quadratic", "a": [[1.0, 0.0], [0.0, 1.0]], "b": [1.0, 1.0]},
        "initial": [0.0, 0.0, 0.0],
        "optimizer": {"name": "sgd", "lr": 0.1}
    });
    let p = rejected(&app, &quadratic, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(first_field(&p), "problem.a");
    assert!(p["detail"].as_str().unwrap().contains("3 rows"));

    let mut spec = rosenbrock_adam(10);
    spec["initial"] = json!([1.0]);
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(first_field(&p), "initial");

    let mut spec = rosenbrock_adam(10);
    spec["initial"] = json!([]);
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(first_field(&p), "initial");

    let mut spec = rosenbrock_adam(10);
    spec["initial"] = json!([1.0, "NaN"]);
    rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    app.stop().await;
}

#[tokio::test]
async fn limits_are_enforced_with_the_limit_in_the_answer() {
    let app = TestApp::spawn_with(|c| {
        c.max_steps_limit = 5000;
        c.max_params = 100;
        c.max_seconds_limit = 60.0;
        c.max_body_bytes = 64 * 1024;
    })
    .await;
    let p = rejected(
        &app,
        &rosenbrock_adam(5001),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(first_field(&p), "stop.max_steps");
    assert!(p["detail"].as_str().unwrap().contains("5000"));

    let mut spec = rosenbrock_adam(10);
    spec["initial"] = json!(vec![0.5; 101]);
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(p["detail"].as_str().unwrap().contains("100"));

    let mut spec = rosenbrock_adam(10);
    spec["initial"] = json!(vec![0.5; 20_000]);
    rejected(&app, &spec, StatusCode::PAYLOAD_TOO_LARGE).await;

    let mut spec = rosenbrock_adam(10);
    spec["record"] = json!({"every": 0});
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(first_field(&p), "record.every");
    let mut spec = rosenbrock_adam(10);
    spec["stop"]["max_seconds"] = json!(-1);
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(first_field(&p), "stop.max_seconds");
    let mut spec = rosenbrock_adam(10);
    spec["clip"] = json!({"max_norm": -1});
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(first_field(&p), "clip.max_norm");
    let mut spec = rosenbrock_adam(10);
    spec["stop"]["max_seconds"] = json!(61);
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(first_field(&p), "stop.max_seconds");
    assert!(p["detail"].as_str().unwrap().contains("at most 60"), "{p}");
    spec["stop"]["max_seconds"] = json!(60);
    app.submit(&spec).await;
    app.stop().await;
}

#[tokio::test]
async fn parameter_count_expression_and_sweep_limits_answer_422_with_the_limit() {
    let app = TestApp::spawn_with(|c| {
        c.max_params = 8;
        c.max_tape = 200;
    })
    .await;
    // Parameters of an expression problem: a vector variable over the limit.
    let spec = json!({
        "problem": {"kind": "expression", "expression": "sum(i=0..n-1, x[i]^2)", "dims": {"x": 9}},
        "initial": {"x": vec![1.0; 9]},
        "optimizer": {"name": "adam"},
        "stop": {"max_steps": 10}
    });
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(p["detail"].as_str().unwrap().contains('8'), "{p}");
    // The tape limit: an unrolled sum over more terms than the limit allows.
    let spec = json!({
        "problem": {"kind": "expression", "expression": "sum(i=0..999, x*i)"},
        "initial": {"x": 1.0},
        "optimizer": {"name": "adam"},
        "stop": {"max_steps": 10}
    });
    let p = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(first_field(&p), "problem.expression");
    assert!(p["detail"].as_str().unwrap().contains("200"), "{p}");
    // Sweep size: 3 optimizers × 100 learning rates is over the 256 jobs a sweep may make.
    let lrs: Vec<f64> = (1..=100).map(|k| f64::from(k) * 1e-4).collect();
    let sweep = json!({
        "problem": {"kind": "builtin", "name": "rosenbrock"},
        "initial": [-1.5, 2.0],
        "optimizers": [{"name": "sgd"}, {"name": "adam"}, {"name": "rmsprop"}],
        "lrs": lrs,
        "stop": {"max_steps": 10}
    });
    let p = assert_problem(
        app.post_json("/v1/sweeps", &sweep).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("300") && detail.contains("256"), "{detail}");
    app.stop().await;
}

#[tokio::test]
async fn bad_query_parameters_and_tampered_page_tokens_are_400s() {
    let app = TestApp::spawn().await;
    let job = app.submit(&rosenbrock_adam(30)).await;
    let id = job["id"].as_str().unwrap();
    app.wait_finished(id, std::time::Duration::from_secs(30))
        .await;
    let page: Value = app
        .get(&format!("/v1/jobs/{id}/steps?limit=10"))
        .await
        .json()
        .await
        .unwrap();
    let token = page["next_page_token"].as_str().unwrap().to_string();

    let mut forged = token.clone();
    let flipped = if forged.starts_with('e') { "f" } else { "e" };
    forged.replace_range(0..1, flipped);
    let p = assert_problem(
        app.get(&format!("/v1/jobs/{id}/steps?page_token={forged}"))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(first_field(&p), "page_token");
    for garbage in ["abc", "a.b", "..", "%00"] {
        assert_problem(
            app.get(&format!("/v1/jobs/{id}/steps?page_token={garbage}"))
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    // A steps token does not page the job listing.
    assert_problem(
        app.get(&format!("/v1/jobs?page_token={token}")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    for (query, field) in [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("max_points=1", "max_points"),
        ("fields=loss,color", "fields"),
        ("format=xml", "format"),
        ("colour=red", "colour"),
    ] {
        let p = assert_problem(
            app.get(&format!("/v1/jobs/{id}/steps?{query}")).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(
            p["detail"].as_str().unwrap().contains(field),
            "{query}: {p}"
        );
    }
    let p = assert_problem(
        app.get("/v1/jobs?status=done").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(first_field(&p), "status");
    let not_acceptable = app
        .client
        .get(app.url(&format!("/v1/jobs/{id}/steps")))
        .header("accept", "image/png")
        .send()
        .await
        .unwrap();
    assert_problem(not_acceptable, StatusCode::NOT_ACCEPTABLE).await;
    app.stop().await;
}

#[tokio::test]
async fn unknown_ids_routes_and_methods_are_problem_documents() {
    let app = TestApp::spawn().await;
    assert_problem(
        app.get("/v1/jobs/does-not-exist").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.post_json("/v1/jobs/does-not-exist/cancel", &json!({}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let deleted = app
        .client
        .delete(app.url("/v1/jobs/does-not-exist"))
        .send()
        .await
        .unwrap();
    assert_problem(deleted, StatusCode::NOT_FOUND).await;
    assert_problem(app.get("/v1/nothing-here").await, StatusCode::NOT_FOUND).await;
    let wrong_method = app.client.put(app.url("/v1/jobs")).send().await.unwrap();
    assert_problem(wrong_method, StatusCode::METHOD_NOT_ALLOWED).await;
    app.stop().await;
}

/// PostgreSQL's text cannot hold NUL: both backends refuse it in stored names and tags with a
/// 422 naming the field, and a NUL in an id or a filter names nothing (never a 500).
#[tokio::test]
async fn a_nul_character_in_names_tags_and_ids_is_refused_or_names_nothing() {
    let app = TestApp::spawn().await;
    let mut spec = rosenbrock_adam(10);
    spec["name"] = json!("a\u{0}b");
    let problem = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "name", "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("NUL"),
        "{problem}"
    );
    let mut spec = rosenbrock_adam(10);
    spec["tags"] = json!(["ok", "x\u{0}"]);
    let problem = rejected(&app, &spec, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "tags[1]", "{problem}");

    let sweep = app
        .post_json(
            "/v1/sweeps",
            &json!({
                "problem": {"kind": "builtin", "name": "rosenbrock"},
                "optimizers": [{"name": "adam"}],
                "stop": {"max_steps": 10},
                "name": "\u{0}"
            }),
        )
        .await;
    let problem = assert_problem(sweep, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "name", "{problem}");
    let dataset = app
        .post_json(
            "/v1/datasets",
            &json!({"name": "d\u{0}", "features": [[1.0], [2.0]], "targets": [1.0, 2.0]}),
        )
        .await;
    let problem = assert_problem(dataset, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "name", "{problem}");

    for path in [
        "/v1/jobs/%00",
        "/v1/jobs/a%00b/steps",
        "/v1/datasets/%00",
        "/v1/sweeps/%00",
    ] {
        assert_problem(app.get(path).await, StatusCode::NOT_FOUND).await;
    }
    let cancel = app.post_json("/v1/jobs/%00/cancel", &json!({})).await;
    assert_problem(cancel, StatusCode::NOT_FOUND).await;
    let listed: Value = app.get("/v1/jobs?tag=%00").await.json().await.unwrap();
    assert_eq!(listed["jobs"], json!([]), "{listed}");
    app.stop().await;
}
