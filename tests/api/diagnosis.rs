//! What a run ended in, diagnosed through the API: minima, saddles, plateaus, convexity.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::TestApp;

async fn finished(app: &TestApp, spec: Value) -> Value {
    let job = app.submit(&spec).await;
    let done = app
        .wait_finished(job["id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    done
}

fn expression(expr: &str, initial: Value, optimizer: Value, stop: Value) -> Value {
    json!({
        "problem": {"kind": "expression", "expression": expr},
        "initial": initial,
        "optimizer": optimizer,
        "stop": stop
    })
}

#[tokio::test]
async fn gradient_descent_started_on_the_axis_ends_on_the_saddle_with_escape_direction_y() {
    let app = TestApp::spawn().await;
    let done = finished(
        &app,
        expression(
            "x^2 - y^2",
            json!({"x": 1.0, "y": 0.0}),
            json!({"name": "sgd", "lr": 0.1}),
            json!({"max_steps": 300}),
        ),
    )
    .await;
    let d = &done["result"]["diagnosis"];
    assert_eq!(d["feature"], "saddle_point", "{d}");
    assert_eq!(d["morse_index"], 1);
    let escape = d["escape_direction"].as_array().unwrap();
    assert!(escape[0].as_f64().unwrap().abs() < 1e-12);
    assert!((escape[1].as_f64().unwrap().abs() - 1.0).abs() < 1e-12);
    assert!(
        d["min_eigenvalue"].as_f64().unwrap() < 0.0 && d["max_eigenvalue"].as_f64().unwrap() > 0.0
    );
    // x² − y² is indefinite: nonconvex, with a witness.
    assert_eq!(done["result"]["convexity"]["verdict"], "nonconvex");
    assert!(done["result"]["convexity"]["witness"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn momentum_and_adam_started_off_the_axis_escape_the_saddle_and_say_when() {
    let app = TestApp::spawn().await;
    let off_axis = |optimizer: Value| {
        let mut spec = expression(
            "x^2 - y^2",
            json!([1.0, 1e-3]),
            optimizer,
            json!({"max_steps": 5000, "loss_target": -1.0}),
        );
        // A plateau: the gradient norm under 10% of where it started, for 10 steps or more.
        spec["episodes"] = json!({"plateau_grad_ratio": 0.1, "min_plateau_steps": 10});
        spec
    };
    // Momentum slows down near the saddle, lingers, and leaves: a plateau, then an escape.
    let done = finished(
        &app,
        off_axis(json!({"name": "sgd", "lr": 0.01, "momentum": 0.9})),
    )
    .await;
    let result = &done["result"];
    assert_eq!(result["stop_reason"], "loss_target", "escaped: {result}");
    let episodes = result["episodes"].as_array().unwrap();
    let plateau = episodes
        .iter()
        .find(|e| e["kind"] == "plateau")
        .expect("a plateau");
    let escape = episodes
        .iter()
        .find(|e| e["kind"] == "saddle_escape")
        .unwrap_or_else(|| panic!("no escape event in {episodes:?}"));
    let left = escape["end_step"].as_u64().unwrap();
    assert!(plateau["left_at_step"].as_u64().unwrap() <= left);
    // The curvature check finds the same passage; it is not reported twice.
    assert_eq!(
        episodes
            .iter()
            .filter(|e| e["kind"] == "saddle_escape")
            .count(),
        1,
        "{episodes:?}"
    );
    assert!(left <= result["steps"].as_u64().unwrap());

    // Adam's normalized steps never slow down at the saddle: it escapes without a plateau,
    // and the escape is found from the curvature where it passed closest.
    let adam = finished(&app, off_axis(json!({"name": "adam", "lr": 0.01}))).await;
    let adam = &adam["result"];
    assert_eq!(adam["stop_reason"], "loss_target", "escaped: {adam}");
    let episodes = adam["episodes"].as_array().unwrap();
    assert!(
        episodes.iter().all(|e| e["kind"] != "plateau"),
        "{episodes:?}"
    );
    let escape = episodes
        .iter()
        .find(|e| e["kind"] == "saddle_escape")
        .unwrap_or_else(|| panic!("no escape event in {episodes:?}"));
    // The Hessian of x² − y² is diag(2, −2) everywhere.
    assert!((escape["min_eigenvalue"].as_f64().unwrap() + 2.0).abs() < 1e-6);
    let (closest, escaped) = (
        escape["start_step"].as_u64().unwrap(),
        escape["end_step"].as_u64().unwrap(),
    );
    assert!(0 < closest && closest < escaped, "{escape}");
    assert!(escaped < adam["steps"].as_u64().unwrap(), "{escape}");
    // From the closest approach the loss fell by at least a tenth of its scale
    // max(|f₀ − f_closest|, |f_closest|), f₀ ≈ 1.
    let (at_closest, at_escape) = (
        escape["loss_at_start"].as_f64().unwrap(),
        escape["loss_at_end"].as_f64().unwrap(),
    );
    assert!(at_closest < 1.0, "{escape}");
    let scale = (1.0 - at_closest).abs().max(at_closest.abs());
    assert!(at_escape <= at_closest - 0.1 * scale, "{escape}");
    assert_eq!(
        episodes
            .iter()
            .filter(|e| e["kind"] == "saddle_escape")
            .count(),
        1,
        "one saddle, one escape: {episodes:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn rosenbrock_ends_in_a_local_minimum_with_its_distance_to_the_known_one() {
    let app = TestApp::spawn().await;
    let done = finished(
        &app,
        json!({
            "problem": {"kind": "builtin", "name": "rosenbrock"},
            "initial": [-1.5, 2.0],
            "optimizer": {"name": "lbfgs", "line_search_fn": "strong_wolfe",
                          "tolerance_grad": 1e-14, "tolerance_change": 1e-30},
            "stop": {"max_steps": 200, "grad_tol": 1e-10}
        }),
    )
    .await;
    let result = &done["result"];
    assert_eq!(result["diagnosis"]["feature"], "local_minimum", "{result}");
    assert_eq!(result["diagnosis"]["morse_index"], 0);
    let known = &result["known_minimum"];
    assert_eq!(known["x_star"], json!([1.0, 1.0]));
    assert!(known["distance"].as_f64().unwrap() < 1e-6);
    assert!(known["gap"].as_f64().unwrap().abs() < 1e-12);
    app.stop().await;
}

#[tokio::test]
async fn the_plateau_started_far_out_with_a_small_lr_is_a_flat_region() {
    let app = TestApp::spawn().await;
    let done = finished(
        &app,
        json!({
            "problem": {"kind": "builtin", "name": "plateau"},
            "initial": [3.0, 3.0],
            "optimizer": {"name": "sgd", "lr": 0.01},
            "stop": {"max_steps": 500}
        }),
    )
    .await;
    assert_eq!(
        done["result"]["diagnosis"]["feature"], "flat_region",
        "{}",
        done["result"]
    );
    app.stop().await;
}

#[tokio::test]
async fn the_monkey_saddle_at_the_origin_is_a_degenerate_saddle_not_a_minimum() {
    let app = TestApp::spawn().await;
    let done = finished(
        &app,
        expression(
            "x^3 - 3*x*y^2",
            json!([0.0, 0.0]),
            json!({"name": "sgd", "lr": 0.01}),
            json!({"max_steps": 5}),
        ),
    )
    .await;
    let d = &done["result"]["diagnosis"];
    assert_eq!(d["feature"], "saddle_point", "{d}");
    assert_eq!(d["degenerate"], true);
    assert!(d["escape_direction"].is_array());
    app.stop().await;
}

#[tokio::test]
async fn linear_regression_is_convex_and_an_mlp_is_nonconvex_with_a_witness() {
    let app = TestApp::spawn().await;
    let features: Vec<Value> = (0..30)
        .map(|i| json!([i as f64 / 10.0, ((i * 7) % 11) as f64 / 5.0]))
        .collect();
    let targets: Vec<f64> = (0..30)
        .map(|i| 1.5 * (i as f64 / 10.0) - 0.5 * (((i * 7) % 11) as f64 / 5.0) + 0.3)
        .collect();
    let data = json!({"features": features, "targets": targets});
    let linear = finished(
        &app,
        json!({
            "problem": {"kind": "model", "model": {"type": "linear"}, "loss": "mse", "data": data},
            "initial": {"init": "zeros"},
            "optimizer": {"name": "sgd", "lr": 0.05},
            "stop": {"max_steps": 300}
        }),
    )
    .await;
    assert_eq!(
        linear["result"]["convexity"]["verdict"], "convex",
        "{}",
        linear["result"]
    );

    let mlp = finished(
        &app,
        json!({
            "problem": {"kind": "model", "model": {"type": "mlp", "hidden": [6], "activation": "tanh"},
                        "loss": "mse", "data": data},
            "initial": {"init": "xavier_uniform", "seed": 4},
            "optimizer": {"name": "adam", "lr": 0.01},
            "stop": {"max_steps": 200}
        }),
    )
    .await;
    let convexity = &mlp["result"]["convexity"];
    assert_eq!(convexity["verdict"], "nonconvex", "{convexity}");
    assert!(convexity["witness"]["eigenvalue"].as_f64().unwrap() < 0.0);
    assert_eq!(convexity["witness"]["point"].as_array().unwrap().len(), 25);
    app.stop().await;
}
