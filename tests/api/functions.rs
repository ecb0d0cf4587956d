//! The function library, expression problems end to end, `/v1/evaluate` and `/v1/landscape`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp};

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + b.abs())
}

/// The first field error of a 422, after checking it names `field`.
async fn field_error(response: reqwest::Response, field: &str) -> Value {
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let error = problem["errors"][0].clone();
    assert_eq!(error["field"], field, "{problem}");
    error
}

fn expression_job(problem: Value, initial: Value) -> Value {
    json!({
        "problem": problem,
        "initial": initial,
        "optimizer": {"name": "adam", "lr": 0.01},
        "stop": {"max_steps": 20}
    })
}

#[tokio::test]
async fn the_catalogue_lists_at_least_25_functions_with_formulas_and_minima() {
    let app = TestApp::spawn().await;
    let response = app.get("/v1/functions").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let items = body["items"].as_array().unwrap();
    assert!(items.len() >= 25, "only {} functions", items.len());
    let with_minima = items
        .iter()
        .filter(|f| !f["minima"].as_array().unwrap().is_empty())
        .count();
    assert!(
        with_minima >= 25,
        "only {with_minima} functions with minima"
    );
    for f in items {
        assert!(!f["formula"].as_str().unwrap().is_empty(), "{f}");
        assert!(f["dimension"].is_object(), "{f}");
        assert_eq!(
            f["default_start"].as_array().unwrap().len(),
            f["domain"].as_array().unwrap().len(),
            "{f}"
        );
    }

    let rosenbrock: Value = app
        .get("/v1/functions/rosenbrock")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rosenbrock["minima"][0]["x"], json!([1.0, 1.0]));
    assert_eq!(rosenbrock["minima"][0]["f"], 0.0);
    assert_eq!(rosenbrock["default_start"], json!([-1.5, 2.0]));

    let problem = assert_problem(
        app.get("/v1/functions/rosenbrok").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("rosenbrok"),
        "{problem}"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_builtin_with_known_minima_reports_its_distance_to_them_after_a_short_run() {
    let app = TestApp::spawn().await;
    let body: Value = app.get("/v1/functions").await.json().await.unwrap();
    let mut ids = Vec::new();
    for f in body["items"].as_array().unwrap() {
        if f["minima"].as_array().unwrap().is_empty() {
            continue;
        }
        let spec = json!({
            "problem": {"kind": "builtin", "name": f["name"]},
            "initial": f["default_start"],
            "optimizer": {"name": "adam", "lr": 0.001},
            "stop": {"max_steps": 5}
        });
        let job = app.submit(&spec).await;
        ids.push((
            f["name"].as_str().unwrap().to_string(),
            job["id"].as_str().unwrap().to_string(),
        ));
    }
    assert!(ids.len() >= 25);
    for (name, id) in ids {
        let done = app.wait_finished(&id, Duration::from_secs(60)).await;
        assert_eq!(done["status"], "succeeded", "{name}: {done}");
        let known = &done["result"]["known_minimum"];
        assert!(known["x_star"].is_array(), "{name}: {done}");
        assert!(num(&known["distance"]) >= 0.0, "{name}: {known}");
        assert!(known["f_star"].is_number(), "{name}: {known}");
        assert!(known["gap"].is_number(), "{name}: {known}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_expression_job_takes_its_start_by_variable_name() {
    let app = TestApp::spawn().await;
    let spec = expression_job(
        json!({"kind": "expression", "expression": "(1 - x)^2 + 100*(y - x^2)^2"}),
        json!({"x": -1.5, "y": 2}),
    );
    let job = app.submit(&spec).await;
    let id = job["id"].as_str().unwrap();
    let done = app.wait_finished(id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let steps = app.all_steps(id, 100).await;
    assert_eq!(steps[0]["params"], json!([-1.5, 2.0]));
    assert!(close(num(&steps[0]["loss"]), 12.5), "{}", steps[0]);
    app.stop().await;
}

#[tokio::test]
async fn a_50_dimensional_rosenbrock_written_as_a_sum_runs() {
    let app = TestApp::spawn().await;
    let start: Vec<f64> = (0..50)
        .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
        .collect();
    let spec = json!({
        "problem": {"kind": "expression",
                    "expression": "sum(i=0..n-2, 100*(x[i+1] - x[i]^2)^2 + (1 - x[i])^2)",
                    "dims": {"x": 50}},
        "initial": {"x": start},
        "optimizer": {"name": "lbfgs", "lr": 1},
        "stop": {"max_steps": 300, "grad_tol": 1e-8}
    });
    let job = app.submit(&spec).await;
    let done = app
        .wait_finished(job["id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let result = &done["result"];
    assert_eq!(result["final_params"].as_array().unwrap().len(), 50);
    // 25 pairs at (-1.2, 1) each contribute 24.2.
    assert!(num(&result["final_loss"]) < 24.2 * 25.0, "{result}");
    app.stop().await;
}

#[tokio::test]
async fn evaluate_gives_the_hand_computed_value_gradient_and_hessian() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/v1/evaluate",
            &json!({"problem": {"kind": "expression", "expression": "(1 - x)^2 + 100*(y - x^2)^2"},
                    "point": {"x": -1.5, "y": 2}, "hessian": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let e: Value = response.json().await.unwrap();
    // f = 2.5² + 100·(2 − 2.25)² = 12.5; ∂x = −2(1 − x) − 400x(y − x²) = −155; ∂y = 200(y − x²) = −50;
    // ∂xx = 2 − 400(y − x²) + 800x² = 1902, ∂xy = −400x = 600, ∂yy = 200.
    assert_eq!(e["variables"][0]["name"], "x");
    assert_eq!(e["variables"][1]["name"], "y");
    assert_eq!(e["point"], json!([-1.5, 2.0]));
    assert!(close(num(&e["value"]), 12.5), "{e}");
    assert!(close(num(&e["gradient"][0]), -155.0), "{e}");
    assert!(close(num(&e["gradient"][1]), -50.0), "{e}");
    let h = &e["hessian"];
    assert!(
        close(num(&h[0][0]), 1902.0) && close(num(&h[0][1]), 600.0),
        "{e}"
    );
    assert!(
        close(num(&h[1][0]), 600.0) && close(num(&h[1][1]), 200.0),
        "{e}"
    );

    // The builtin agrees, from a flat point and without a Hessian.
    let builtin: Value = app
        .post_json(
            "/v1/evaluate",
            &json!({"problem": {"kind": "builtin", "name": "rosenbrock"}, "point": [-1.5, 2.0]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(close(num(&builtin["value"]), 12.5), "{builtin}");
    assert!(builtin.get("hessian").is_none(), "{builtin}");

    let saddle: Value = app
        .post_json(
            "/v1/evaluate",
            &json!({"problem": {"kind": "expression", "expression": "x^2 - y^2"},
                    "point": [1.0, 2.0], "hessian": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(saddle["value"], -3.0);
    assert_eq!(saddle["gradient"], json!([2.0, -4.0]));
    assert_eq!(saddle["hessian"], json!([[2.0, 0.0], [0.0, -2.0]]));

    // The full Hessian is for small n only.
    let error = field_error(
        app.post_json(
            "/v1/evaluate",
            &json!({"problem": {"kind": "builtin", "name": "sphere"}, "point": vec![1.0; 300], "hessian": true}),
        )
        .await,
        "hessian",
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("256"),
        "{error}"
    );

    // Errors about the point name `point`.
    let error = field_error(
        app.post_json(
            "/v1/evaluate",
            &json!({"problem": {"kind": "expression", "expression": "x^2 - y^2"}, "point": {"x": 1}}),
        )
        .await,
        "point.y",
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("missing"),
        "{error}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_landscape_is_the_objective_on_the_grid_and_slices_n_d_problems() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/v1/landscape",
            &json!({"problem": {"kind": "builtin", "name": "rosenbrock"},
                    "x_range": [-2.0, 2.0], "y_range": [-1.0, 3.0], "resolution": [3, 3]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let l: Value = response.json().await.unwrap();
    assert_eq!(l["xs"], json!([-2.0, 0.0, 2.0]));
    assert_eq!(l["ys"], json!([-1.0, 1.0, 3.0]));
    // values[j][i] = f(xs[i], ys[j]) with f = (1 − x)² + 100(y − x²)².
    assert_eq!(
        l["values"],
        json!([
            [2509.0, 101.0, 2501.0],
            [909.0, 101.0, 901.0],
            [109.0, 901.0, 101.0]
        ])
    );

    // The default grid over the recommended domain.
    let d: Value = app
        .post_json(
            "/v1/landscape",
            &json!({"problem": {"kind": "builtin", "name": "rosenbrock"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["xs"].as_array().unwrap().len(), 64);
    assert_eq!(d["values"].as_array().unwrap().len(), 64);
    assert_eq!(d["values"][0].as_array().unwrap().len(), 64);

    // A slice through a 3-D sum of squares, x[1] held at 5.
    let s: Value = app
        .post_json(
            "/v1/landscape",
            &json!({"problem": {"kind": "expression", "expression": "sum(i=0..n-1, x[i]^2)", "dims": {"x": 3}},
                    "point": {"x": [0, 5, 0]}, "axes": [0, 2],
                    "x_range": [-1.0, 1.0], "y_range": [0.0, 2.0], "resolution": [2, 3]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["axis_names"], json!(["x[0]", "x[2]"]));
    assert_eq!(
        s["values"],
        json!([[26.0, 26.0], [27.0, 27.0], [30.0, 30.0]])
    );

    // The grid is bounded, and the error names the field and the limit.
    let error = field_error(
        app.post_json(
            "/v1/landscape",
            &json!({"problem": {"kind": "builtin", "name": "rosenbrock"}, "resolution": [1000, 1000]}),
        )
        .await,
        "resolution",
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("250000"),
        "{error}"
    );
    field_error(
        app.post_json(
            "/v1/landscape",
            &json!({"problem": {"kind": "builtin", "name": "rosenbrock"}, "axes": [0, 7]}),
        )
        .await,
        "axes[1]",
    )
    .await;
    field_error(
        app.post_json(
            "/v1/landscape",
            &json!({"problem": {"kind": "expression", "expression": "x^2 + y^2"}}),
        )
        .await,
        "x_range",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_parse_error_names_the_column_with_a_caret_on_jobs_evaluate_and_landscape() {
    let app = TestApp::spawn().await;
    let problem = json!({"kind": "expression", "expression": "(1 - x^2"});
    let bodies = [
        ("/v1/jobs", expression_job(problem.clone(), json!([0.0]))),
        ("/v1/evaluate", json!({"problem": problem, "point": [0.0]})),
        (
            "/v1/landscape",
            json!({"problem": problem, "x_range": [0, 1], "y_range": [0, 1]}),
        ),
    ];
    for (path, body) in bodies {
        let error = field_error(app.post_json(path, &body).await, "problem.expression").await;
        assert_eq!(error["column"], 9, "{path}: {error}");
        assert_eq!(error["excerpt"], "(1 - x^2\n        ^", "{path}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with("expected `)`"), "{path}: {error}");
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_names_wrong_arity_bad_indices_and_undeclared_vectors_are_each_named() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"expression": "sinn(x)"}),
            "problem.expression",
            "unknown function `sinn`",
            Some(1),
        ),
        (
            json!({"expression": "x + z", "variables": ["x"]}),
            "problem.expression",
            "unknown variable `z`",
            Some(5),
        ),
        (
            json!({"expression": "atan2(x)"}),
            "problem.expression",
            "atan2",
            Some(1),
        ),
        (
            json!({"expression": "x[3]", "dims": {"x": 3}}),
            "problem.expression",
            "index 3 is out of range",
            None,
        ),
        (
            json!({"expression": "x[0] + y", "dims": {"y": 2}}),
            "problem.expression",
            "dims",
            None,
        ),
    ];
    for (mut problem, field, fragment, column) in cases {
        problem["kind"] = json!("expression");
        let error = field_error(
            app.post_json(
                "/v1/evaluate",
                &json!({"problem": problem, "point": [0.0, 0.0, 0.0]}),
            )
            .await,
            field,
        )
        .await;
        assert!(
            error["message"].as_str().unwrap().contains(fragment),
            "{problem}: {error}"
        );
        assert!(error["column"].is_number(), "{problem}: {error}");
        if let Some(column) = column {
            assert_eq!(error["column"], column, "{problem}: {error}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn hostile_expressions_are_refused_quickly_with_the_limit_named() {
    let app = TestApp::spawn().await;
    // 100 000 nested parentheses are over the length limit before any parsing.
    for (depth, limit) in [(100_000, "100000"), (1_000, "256")] {
        let nested = format!("{}x{}", "(".repeat(depth), ")".repeat(depth));
        let started = Instant::now();
        let error = field_error(
            app.post_json(
                "/v1/jobs",
                &expression_job(
                    json!({"kind": "expression", "expression": nested}),
                    json!([1.0]),
                ),
            )
            .await,
            "problem.expression",
        )
        .await;
        assert!(
            error["message"].as_str().unwrap().contains(limit),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    // A depth error points at the parenthesis that goes one level too deep.
    let deep = format!("{}x{}", "(".repeat(1_000), ")".repeat(1_000));
    let error = field_error(
        app.post_json(
            "/v1/evaluate",
            &json!({"problem": {"kind": "expression", "expression": deep}, "point": [1.0]}),
        )
        .await,
        "problem.expression",
    )
    .await;
    assert!(error["column"].is_number(), "{error}");

    let huge = format!("{}x", "x+".repeat(5_000_000));
    let started = Instant::now();
    let error = field_error(
        app.post_json(
            "/v1/evaluate",
            &json!({"problem": {"kind": "expression", "expression": huge}, "point": [1.0]}),
        )
        .await,
        "problem.expression",
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("100000"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    app.stop().await;
}

#[tokio::test]
async fn the_expression_limits_are_configurable() {
    let app = TestApp::spawn_with(|c| {
        c.max_expression_bytes = 16;
        c.max_expression_depth = 3;
    })
    .await;
    let long = field_error(
        app.post_json(
            "/v1/evaluate",
            &json!({"problem": {"kind": "expression", "expression": "x + x + x + x + x"}, "point": [1.0]}),
        )
        .await,
        "problem.expression",
    )
    .await;
    assert!(long["message"].as_str().unwrap().contains("16"), "{long}");
    let deep = field_error(
        app.post_json(
            "/v1/evaluate",
            &json!({"problem": {"kind": "expression", "expression": "((((x))))"}, "point": [1.0]}),
        )
        .await,
        "problem.expression",
    )
    .await;
    assert!(deep["column"].is_number(), "{deep}");
    let ok = app
        .post_json(
            "/v1/evaluate",
            &json!({"problem": {"kind": "expression", "expression": "(x)"}, "point": [1.0]}),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn leaving_the_domain_fails_the_job_as_diverged_at_that_step_with_its_history() {
    let app = TestApp::spawn().await;
    // x: 1 → 0.5 → −0.5, where log is NaN.
    let spec = json!({
        "problem": {"kind": "expression", "expression": "log(x)"},
        "initial": {"x": 1.0},
        "optimizer": {"name": "sgd", "lr": 0.5},
        "stop": {"max_steps": 100}
    });
    let job = app.submit(&spec).await;
    let id = job["id"].as_str().unwrap();
    let done = app.wait_finished(id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["stop_reason"], "diverged", "{done}");
    let step = done["error"]["step"].as_i64().unwrap();
    assert_eq!(step, 2, "{done}");
    let steps = app.all_steps(id, 100).await;
    assert_eq!(steps.len() as i64, step + 1);
    assert_eq!(steps[1]["params"], json!([0.5]));
    assert_eq!(steps.last().unwrap()["loss"], "NaN");
    app.stop().await;
}

#[tokio::test]
async fn model_problems_are_evaluated_and_sliced_at_a_given_parameter_vector() {
    let app = TestApp::spawn().await;
    let problem = json!({"kind": "model", "model": {"type": "linear"}, "loss": "mse",
                         "data": {"features": [[1.0], [2.0]], "targets": [2.0, 4.0]}});
    let e: Value = app
        .post_json(
            "/v1/evaluate",
            &json!({"problem": problem, "point": [0.0, 0.0]}),
        )
        .await
        .json()
        .await
        .unwrap();
    // At w = b = 0 the mean squared error is (2² + 4²)/2 = 10.
    assert!(close(num(&e["value"]), 10.0), "{e}");
    assert_eq!(e["variables"], json!([]));
    field_error(
        app.post_json(
            "/v1/landscape",
            &json!({"problem": problem, "x_range": [-1, 1], "y_range": [-1, 1]}),
        )
        .await,
        "point",
    )
    .await;
    let l: Value = app
        .post_json(
            "/v1/landscape",
            &json!({"problem": problem, "point": [0.0, 0.0], "x_range": [-1, 1], "y_range": [-1, 1],
                    "resolution": [3, 3]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(close(num(&l["values"][1][1]), 10.0), "{l}");
    app.stop().await;
}
