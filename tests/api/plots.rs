//! Figures drawn by the server: loss curves and 2-D trajectories as SVG.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp};

/// Where the tests leave one example of each figure for people to look at.
fn examples_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/plots-examples");
    std::fs::create_dir_all(&dir).expect("examples dir");
    dir
}

/// GETs a figure, checks that it is SVG and well-formed XML, and returns its text.
async fn get_svg(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "image/svg+xml"
    );
    let svg = response.text().await.unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    svg
}

/// GETs a figure as PNG, checks the content type and decodes it, returning its size.
async fn get_png(app: &TestApp, path: &str, example: &str) -> (u32, u32) {
    let response = app.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "image/png"
    );
    let bytes = response.bytes().await.unwrap();
    std::fs::write(examples_dir().join(example), &bytes).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()));
    let reader = decoder.read_info().expect("a PNG image");
    let info = reader.info();
    (info.width, info.height)
}

/// The trimmed text of every `<text>` element.
fn texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or_default().trim().to_string())
        .collect()
}

/// The number of points of the longest `<polyline>` (the series; grid lines have two).
fn longest_polyline(svg: &str) -> usize {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .map(|n| {
            n.attribute("points")
                .unwrap_or_default()
                .split_whitespace()
                .count()
        })
        .max()
        .unwrap_or(0)
}

async fn finished(app: &TestApp, spec: Value) -> String {
    let job = app.submit(&spec).await;
    let id = job["id"].as_str().unwrap().to_string();
    let done = app.wait_finished(&id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    id
}

#[tokio::test]
async fn the_loss_curve_is_an_svg_on_a_log_axis_titled_with_the_problem_and_optimizer() {
    let app = TestApp::spawn().await;
    let id = finished(
        &app,
        json!({
            "problem": {"kind": "builtin", "name": "rosenbrock"},
            "initial": [-1.5, 2.0],
            "optimizer": {"name": "adam", "lr": 0.02},
            "stop": {"max_steps": 3000}
        }),
    )
    .await;
    let svg = get_svg(&app, &format!("/v1/jobs/{id}/plots/loss.svg")).await;
    std::fs::write(examples_dir().join("loss.svg"), &svg).unwrap();
    let labels = texts(&svg);
    assert!(labels.contains(&"rosenbrock · adam (lr 0.02)".to_string()));
    assert!(labels.contains(&"step".to_string()));
    assert!(labels.contains(&"loss f(x)".to_string()));
    // The default thinning keeps 2000 of the 3001 records.
    assert_eq!(longest_polyline(&svg), 2000);
    // Log axis: the tick labels are 1, 2 and 5 × 10ᵏ over many decades.
    assert!(labels
        .iter()
        .any(|t| t == "1e-4" || t == "1e-5" || t == "1e-6"));

    // max_points thins further; smoothing adds the average as a second, labelled curve.
    let svg = get_svg(
        &app,
        &format!("/v1/jobs/{id}/plots/loss.svg?max_points=300&smooth=25&scale=log"),
    )
    .await;
    std::fs::write(examples_dir().join("loss-smoothed.svg"), &svg).unwrap();
    assert_eq!(longest_polyline(&svg), 300);
    assert!(texts(&svg).contains(&"loss (moving average of 25 points)".to_string()));

    // The gradient norm on a linear axis.
    let svg = get_svg(
        &app,
        &format!("/v1/jobs/{id}/plots/loss.svg?metric=grad_norm&scale=linear"),
    )
    .await;
    std::fs::write(examples_dir().join("grad-norm-linear.svg"), &svg).unwrap();
    assert!(texts(&svg).contains(&"gradient norm ‖∇f(x)‖".to_string()));

    // The same figure as PNG.
    let size = get_png(
        &app,
        &format!("/v1/jobs/{id}/plots/loss.png?smooth=25"),
        "loss.png",
    )
    .await;
    assert_eq!(size, (900, 540));
    app.stop().await;
}

#[tokio::test]
async fn a_log_scale_over_non_positive_losses_falls_back_to_linear_and_says_so() {
    let app = TestApp::spawn().await;
    // ½xᵀAx − bᵀx goes below zero on its way to the minimum −½bᵀA⁻¹b = −1.
    let id = finished(
        &app,
        json!({
            "problem": {"kind": "builtin", "name": "quadratic", "a": [[1.0, 0.0], [0.0, 1.0]], "b": [1.0, 1.0]},
            "initial": [3.0, -2.0],
            "optimizer": {"name": "sgd", "lr": 0.1},
            "stop": {"max_steps": 100},
            "name": "quadratic & <sgd>"
        }),
    )
    .await;
    let svg = get_svg(&app, &format!("/v1/jobs/{id}/plots/loss.svg?scale=log")).await;
    std::fs::write(examples_dir().join("loss-linear-fallback.svg"), &svg).unwrap();
    let labels = texts(&svg);
    assert!(
        labels.contains(&"quadratic & <sgd>".to_string()),
        "{labels:?}"
    );
    assert!(
        labels.iter().any(|t| t.starts_with("linear scale")),
        "{labels:?}"
    );
    assert_eq!(longest_polyline(&svg), 101);
    app.stop().await;
}

#[tokio::test]
async fn the_rosenbrock_trajectory_has_contours_the_path_its_ends_and_the_minimum() {
    let app = TestApp::spawn().await;
    let id = finished(
        &app,
        json!({
            "problem": {"kind": "builtin", "name": "rosenbrock"},
            "initial": [-1.5, 2.0],
            "optimizer": {"name": "adam", "lr": 0.02},
            "stop": {"max_steps": 3000}
        }),
    )
    .await;
    let svg = get_svg(&app, &format!("/v1/jobs/{id}/plots/trajectory.svg")).await;
    std::fs::write(examples_dir().join("trajectory-rosenbrock.svg"), &svg).unwrap();
    let labels = texts(&svg);
    for label in ["start", "end", "path", "known minimum", "contours of f"] {
        assert!(labels.contains(&label.to_string()), "{label} missing");
    }
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert!(
        doc.descendants()
            .filter(|n| n.has_tag_name("circle"))
            .count()
            >= 4,
        "start and end markers"
    );
    assert_eq!(longest_polyline(&svg), 2000, "the path, thinned to 2000");
    assert!(
        doc.descendants()
            .filter(|n| n.has_tag_name("polyline"))
            .count()
            > 20,
        "contour lines"
    );

    let small = get_svg(
        &app,
        &format!("/v1/jobs/{id}/plots/trajectory.svg?grid=40&levels=8&max_points=50"),
    )
    .await;
    assert!(small.len() < svg.len());

    let size = get_png(
        &app,
        &format!("/v1/jobs/{id}/plots/trajectory.png"),
        "trajectory-rosenbrock.png",
    )
    .await;
    assert_eq!(size, (760, 720));
    app.stop().await;
}

#[tokio::test]
async fn a_trajectory_of_a_three_dimensional_job_is_refused_with_422() {
    let app = TestApp::spawn().await;
    let id = finished(
        &app,
        json!({
            "problem": {"kind": "builtin", "name": "sphere"},
            "initial": [1.0, 2.0, 3.0],
            "optimizer": {"name": "sgd", "lr": 0.1},
            "stop": {"max_steps": 10}
        }),
    )
    .await;
    let response = app
        .get(&format!("/v1/jobs/{id}/plots/trajectory.svg"))
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "initial");
    assert!(problem["detail"].as_str().unwrap().contains("has 3"));
    let response = app
        .get(&format!("/v1/jobs/{id}/plots/trajectory.png"))
        .await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    // Its loss curve is fine.
    get_svg(&app, &format!("/v1/jobs/{id}/plots/loss.svg")).await;
    app.stop().await;
}

#[tokio::test]
async fn plots_of_an_unknown_job_are_404_and_bad_parameters_400() {
    let app = TestApp::spawn().await;
    for path in [
        "/v1/jobs/nope/plots/loss.svg",
        "/v1/jobs/nope/plots/loss.png",
        "/v1/jobs/nope/plots/trajectory.svg",
        "/v1/jobs/nope/plots/trajectory.png",
    ] {
        let problem = assert_problem(app.get(path).await, StatusCode::NOT_FOUND).await;
        assert!(problem["detail"].as_str().unwrap().contains("nope"));
    }
    let id = finished(&app, crate::helpers::rosenbrock_adam(10)).await;
    for (query, field) in [
        ("smooth=1", "smooth"),
        ("max_points=1", "max_points"),
        ("scale=cubic", "scale"),
        ("metric=speed", "metric"),
        ("colour=red", "colour"),
    ] {
        let response = app
            .get(&format!("/v1/jobs/{id}/plots/loss.svg?{query}"))
            .await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    let response = app
        .get(&format!("/v1/jobs/{id}/plots/trajectory.svg?grid=1000"))
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST).await;
    app.stop().await;
}

#[tokio::test]
async fn a_trajectory_of_a_history_without_params_is_a_conflict() {
    let app = TestApp::spawn().await;
    let mut spec = crate::helpers::rosenbrock_adam(10);
    spec["record"] = json!({"params": false});
    let id = finished(&app, spec).await;
    let response = app
        .get(&format!("/v1/jobs/{id}/plots/trajectory.svg"))
        .await;
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert!(problem["detail"].as_str().unwrap().contains("record"));
    app.stop().await;
}

#[tokio::test]
async fn plots_of_a_job_that_has_not_run_yet_are_a_conflict() {
    let app = TestApp::spawn_with(|c| c.workers = Some(1)).await;
    // One worker, busy with a long run: the second job waits in the queue.
    let busy = app
        .submit(&crate::helpers::rosenbrock_adam(10_000_000))
        .await;
    let queued = app.submit(&crate::helpers::rosenbrock_adam(10)).await;
    let id = queued["id"].as_str().unwrap();
    for figure in ["loss.svg", "trajectory.svg"] {
        let response = app.get(&format!("/v1/jobs/{id}/plots/{figure}")).await;
        let problem = assert_problem(response, StatusCode::CONFLICT).await;
        assert!(problem["detail"]
            .as_str()
            .unwrap()
            .contains("no recorded steps"));
    }
    let busy_id = busy["id"].as_str().unwrap();
    let response = app
        .post_json(&format!("/v1/jobs/{busy_id}/cancel"), &json!({}))
        .await;
    assert!(response.status().is_success());
    app.stop().await;
}

#[tokio::test]
async fn a_diverged_run_is_plotted_without_its_non_finite_steps_and_says_how_many() {
    let app = TestApp::spawn().await;
    let job = app
        .submit(&json!({
            "problem": {"kind": "builtin", "name": "rosenbrock"},
            "initial": [-1.5, 2.0],
            "optimizer": {"name": "sgd", "lr": 0.1},
            "stop": {"max_steps": 1000}
        }))
        .await;
    let id = job["id"].as_str().unwrap();
    let done = app.wait_finished(id, Duration::from_secs(60)).await;
    assert_eq!(done["stop_reason"], "diverged", "{done}");
    let svg = get_svg(&app, &format!("/v1/jobs/{id}/plots/loss.svg")).await;
    std::fs::write(examples_dir().join("loss-diverged.svg"), &svg).unwrap();
    let labels = texts(&svg);
    assert!(
        labels
            .iter()
            .any(|t| t.contains("NaN or infinite loss left out")),
        "{labels:?}"
    );
    app.stop().await;
}
