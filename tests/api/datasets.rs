//! Datasets over HTTP: JSON and streamed CSV uploads, statistics, listing, deletion, the
//! generators, model jobs on stored datasets, predictions, and every rejection.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp};

const WAIT: Duration = Duration::from_secs(120);

impl TestApp {
    /// POSTs `csv` as `text/csv` to `/v1/datasets?{query}`.
    async fn post_csv(&self, query: &str, csv: String) -> Response {
        self.client
            .post(self.url(&format!("/v1/datasets?{query}")))
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .expect("POST CSV")
    }

    /// Stores a dataset from JSON and returns its id, asserting 201.
    async fn upload(&self, body: &Value) -> String {
        let response = self.post_json("/v1/datasets", body).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "upload failed: {body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// Generates a dataset and returns its id, asserting 201.
    async fn generated(&self, generator: Value) -> String {
        let response = self
            .post_json("/v1/datasets/generate", &json!({ "generator": generator }))
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "generate failed: {body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// Submits a job, waits for it and returns it, asserting it succeeded.
    async fn run_to_success(&self, spec: &Value) -> Value {
        let id = self.submit(spec).await["id"].as_str().unwrap().to_string();
        let job = self.wait_finished(&id, WAIT).await;
        assert_eq!(job["status"], "succeeded", "job failed: {job}");
        job
    }
}

fn field(problem: &Value) -> &str {
    problem["errors"][0]["field"].as_str().unwrap_or_default()
}

fn detail(problem: &Value) -> &str {
    problem["detail"].as_str().unwrap()
}

/// A deterministic stream of numbers in [0, 1) (64-bit LCG, top 53 bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A CSV with columns a, b, y and `rows` data rows.
fn csv_rows(rows: usize) -> String {
    let mut csv = String::from("a,b,y\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "{},{},{}\n",
            i as f64 * 0.5,
            1.0 - i as f64,
            i % 2
        ));
    }
    csv
}

#[tokio::test]
async fn a_json_dataset_is_stored_with_its_statistics() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/v1/datasets",
            &json!({"name": "four points", "features": [[1.0, 10.0], [3.0, 10.0], [5.0, 10.0], [7.0, 10.0]],
                    "targets": [0.0, 1.0, 1.0, 2.0]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/datasets/{}", created["id"].as_str().unwrap())
    );
    assert_eq!(created["name"], "four points");
    assert_eq!(
        (created["rows"].as_i64(), created["columns"].as_i64()),
        (Some(4), Some(3))
    );
    assert_eq!(created["feature_names"], json!(["x1", "x2"]));
    assert_eq!(created["target_names"], json!(["y"]));

    let read: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(read, created);
    let x1 = &read["stats"]["features"][0];
    assert_eq!(
        (x1["min"].as_f64(), x1["max"].as_f64(), x1["mean"].as_f64()),
        (Some(1.0), Some(7.0), Some(4.0))
    );
    assert!((x1["std"].as_f64().unwrap() - 5f64.sqrt()).abs() < 1e-12);
    assert_eq!(read["stats"]["features"][1]["std"], 0.0);
    assert_eq!(
        read["stats"]["class_counts"],
        json!([{"label": 0, "count": 1}, {"label": 1, "count": 2}, {"label": 2, "count": 1}])
    );

    // Real-valued targets in rows of two: no class counts.
    let id = app
        .upload(&json!({"features": [[1.0], [2.0]], "targets": [[0.5, 1.0], [1.5, 2.0]]}))
        .await;
    let read: Value = app
        .get(&format!("/v1/datasets/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["target_names"], json!(["y1", "y2"]));
    assert!(read["stats"].get("class_counts").is_none());
    assert_eq!(read["stats"]["targets"][1]["mean"], 1.5);
    app.stop().await;
}

#[tokio::test]
async fn a_csv_upload_is_parsed_with_the_chosen_target_columns() {
    let app = TestApp::spawn().await;
    let csv = "a,y,\"b, quoted\"\n1,0,2.5\n2,1,-3e-1\n\n3,1,4\n".to_string();
    let response = app.post_csv("target=y&name=small%20csv", csv).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "small csv");
    assert_eq!(body["rows"], 3);
    assert_eq!(body["feature_names"], json!(["a", "b, quoted"]));
    assert_eq!(body["target_names"], json!(["y"]));
    assert_eq!(body["stats"]["features"][1]["min"], -0.3);
    assert_eq!(
        body["stats"]["class_counts"],
        json!([{"label": 0, "count": 1}, {"label": 1, "count": 2}])
    );

    // Several targets: repeated or comma-separated, in the order given.
    let csv = "y1,x,y2\n1,2,3\n4,5,6\n".to_string();
    for query in ["target=y2&target=y1", "target=y2,y1"] {
        let body: Value = app.post_csv(query, csv.clone()).await.json().await.unwrap();
        assert_eq!(body["feature_names"], json!(["x"]), "{query}");
        assert_eq!(body["target_names"], json!(["y2", "y1"]), "{query}");
        assert_eq!(body["stats"]["targets"][0]["max"], 6.0);
    }

    // A large upload streams through: 50 000 rows.
    let body: Value = app
        .post_csv("target=y", csv_rows(50_000))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["rows"], 50_000);
    assert_eq!(body["stats"]["features"][0]["max"], 24_999.5);
    app.stop().await;
}

#[tokio::test]
async fn datasets_are_listed_newest_first_in_signed_pages() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            app.upload(
                &json!({"name": format!("set {i}"), "features": [[i as f64]], "targets": [0.0]}),
            )
            .await,
        );
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &token {
            Some(t) => format!("/v1/datasets?limit=2&page_token={t}"),
            None => "/v1/datasets?limit=2".to_string(),
        };
        let page: Value = app.get(&path).await.json().await.unwrap();
        pages += 1;
        for d in page["datasets"].as_array().unwrap() {
            assert!(d.get("stats").is_none());
            seen.push(d["id"].as_str().unwrap().to_string());
        }
        match page["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);

    let p = assert_problem(
        app.get("/v1/datasets?page_token=abc.def").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(field(&p), "page_token");
    // A token of the job listing is not a dataset token.
    let job_page: Value = {
        for _ in 0..2 {
            app.submit(&crate::helpers::rosenbrock_adam(1)).await;
        }
        app.get("/v1/jobs?limit=1").await.json().await.unwrap()
    };
    let job_token = job_page["next_page_token"].as_str().unwrap();
    let p = assert_problem(
        app.get(&format!("/v1/datasets?page_token={job_token}"))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(field(&p), "page_token");
    let p = assert_problem(
        app.get("/v1/datasets?limit=0").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(field(&p), "limit");
    app.stop().await;
}

fn moons_job(dataset_id: &str, max_steps: u64) -> Value {
    json!({
        "problem": {"kind": "model", "model": {"type": "mlp", "hidden": [16, 16], "activation": "tanh"},
                    "loss": "bce", "dataset_id": dataset_id, "batch_size": 32, "shuffle": true, "seed": 7,
                    "validation_split": 0.25, "eval_every": 25},
        "initial": {"init": "xavier_uniform", "seed": 3},
        "optimizer": {"name": "adam", "lr": 0.01},
        "stop": {"max_steps": max_steps},
        "record": {"params": false, "every": 1}
    })
}

#[tokio::test]
async fn a_dataset_used_by_a_queued_or_running_job_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let id = app
        .generated(json!({"kind": "moons", "n_samples": 2000, "noise": 0.1, "seed": 1}))
        .await;
    let job = app.submit(&moons_job(&id, 10_000_000)).await;
    let job_id = job["id"].as_str().unwrap();
    let p = assert_problem(
        app.client
            .delete(app.url(&format!("/v1/datasets/{id}")))
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(detail(&p).contains(job_id), "{p}");

    app.post_json(&format!("/v1/jobs/{job_id}/cancel"), &json!({}))
        .await;
    let job = app.wait_finished(job_id, WAIT).await;
    assert_eq!(job["status"], "cancelled");
    let response = app
        .client
        .delete(app.url(&format!("/v1/datasets/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get(&format!("/v1/datasets/{id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.client
            .delete(app.url(&format!("/v1/datasets/{id}")))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    // The finished job keeps its spec and result.
    let job: Value = app
        .get(&format!("/v1/jobs/{job_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(job["spec"]["problem"]["dataset_id"], id.as_str());

    // A job on the deleted dataset is refused, naming the field.
    let p = assert_problem(
        app.post_json("/v1/jobs", &moons_job(&id, 10)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field(&p), "problem.dataset_id");
    assert!(detail(&p).contains(&id));
    app.stop().await;
}

#[tokio::test]
async fn every_generator_is_seeded_and_its_errors_name_the_field() {
    let app = TestApp::spawn().await;
    let generators = [
        json!({"kind": "linear", "n_samples": 100, "n_features": 3, "noise": 0.1, "seed": 4}),
        json!({"kind": "moons", "n_samples": 100, "seed": 4}),
        json!({"kind": "circles", "n_samples": 100, "factor": 0.4, "seed": 4}),
        json!({"kind": "blobs", "n_samples": 90, "centers": 3, "seed": 4}),
        json!({"kind": "xor", "n_samples": 100, "seed": 4}),
        json!({"kind": "spirals", "n_samples": 100, "seed": 4}),
    ];
    for generator in generators {
        let first: Value = app
            .post_json(
                "/v1/datasets/generate",
                &json!({"name": "g", "generator": generator}),
            )
            .await
            .json()
            .await
            .unwrap();
        let second: Value = app
            .post_json("/v1/datasets/generate", &json!({"generator": generator}))
            .await
            .json()
            .await
            .unwrap();
        assert_ne!(first["id"], second["id"]);
        assert_eq!(first["stats"], second["stats"], "{generator}");
        assert_eq!(first["rows"], generator["n_samples"]);
        if generator["kind"] != "linear" {
            assert!(first["stats"]["class_counts"].is_array(), "{generator}");
        }
    }
    let other_seed: Value = app
        .post_json(
            "/v1/datasets/generate",
            &json!({"generator": {"kind": "moons", "n_samples": 100, "seed": 5}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let seed_4: Value = app
        .post_json(
            "/v1/datasets/generate",
            &json!({"generator": {"kind": "moons", "n_samples": 100, "seed": 4}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(other_seed["stats"], seed_4["stats"]);

    for (generator, expected) in [
        (
            json!({"kind": "moons", "n_samples": 0}),
            "generator.n_samples",
        ),
        (
            json!({"kind": "moons", "n_samples": 10, "noise": -1.0}),
            "generator.noise",
        ),
        (
            json!({"kind": "circles", "n_samples": 10, "factor": 1.5}),
            "generator.factor",
        ),
        (
            json!({"kind": "moons", "n_samples": 10, "sides": 3}),
            "generator",
        ),
        (json!({"kind": "squares", "n_samples": 10}), "generator"),
    ] {
        let p = assert_problem(
            app.post_json("/v1/datasets/generate", &json!({"generator": generator}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(field(&p).starts_with(expected), "{generator}: {p}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_mlp_with_adam_on_stored_two_moons_reaches_97_percent_and_predicts() {
    let app = TestApp::spawn().await;
    let id = app
        .generated(json!({"kind": "moons", "n_samples": 1000, "noise": 0.1, "seed": 0}))
        .await;
    let spec = moons_job(&id, 1500);
    let job = app.run_to_success(&spec).await;
    let job_id = job["id"].as_str().unwrap();
    let metrics = &job["result"]["final_metrics"];
    let val_accuracy = metrics["val_accuracy"].as_f64().unwrap();
    println!("two moons MLP 2-16-16-1, adam lr 0.01, batch 32, 1500 steps: {metrics}");
    assert!(val_accuracy >= 0.97, "validation accuracy {val_accuracy}");
    assert!(metrics["train_accuracy"].as_f64().unwrap() >= 0.97);

    // Step records carry the epoch and, every eval_every steps, the metrics.
    let steps = app.all_steps(job_id, 1000).await;
    assert_eq!(steps.len(), 1501);
    // 750 training rows in batches of 32: 24 batches an epoch.
    assert_eq!(steps[0]["epoch"], 0);
    assert_eq!(steps[24]["epoch"], 1);
    assert_eq!(steps[1500]["epoch"], 1500 / 24);
    for s in &steps {
        let k = s["step"].as_u64().unwrap();
        let has_metrics = s.get("metrics").is_some();
        assert_eq!(has_metrics, k % 25 == 0 || k == 1500, "step {k}");
        if has_metrics {
            assert!(s["metrics"]["val_loss"].is_number());
            assert!(s["metrics"]["train_accuracy"].is_number());
        }
    }

    // The same job with the same seeds gives the same history, bit for bit.
    let again = app.run_to_success(&spec).await;
    let steps_again = app.all_steps(again["id"].as_str().unwrap(), 1000).await;
    assert_eq!(steps, steps_again);
    assert_eq!(
        job["result"]["final_params"],
        again["result"]["final_params"]
    );

    // Predictions: probabilities and classes for the two moon tips.
    let response = app
        .post_json(
            &format!("/v1/jobs/{job_id}/predict"),
            &json!({"features": [[-1.0, 0.0], [2.0, 0.5], [0.0, 1.0], [1.0, -0.5]]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let prediction: Value = response.json().await.unwrap();
    assert_eq!(prediction["classes"], json!([0, 1, 0, 1]));
    for p in prediction["outputs"].as_array().unwrap() {
        let p = p[0].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p));
    }

    // Rows of the wrong width, and non-finite or ragged rows, are 422s naming `features`.
    for (features, expected) in [
        (json!([[1.0, 2.0, 3.0]]), "features"),
        (json!([[1.0]]), "features"),
        (json!([[1.0, 2.0], [1.0]]), "features[1]"),
        (json!([]), "features"),
    ] {
        let p = assert_problem(
            app.post_json(
                &format!("/v1/jobs/{job_id}/predict"),
                &json!({ "features": features }),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(field(&p), expected, "{features}: {p}");
    }
    app.stop().await;
}

#[tokio::test]
async fn predictions_need_a_finished_model_job() {
    let app = TestApp::spawn().await;
    let builtin = app.submit(&crate::helpers::rosenbrock_adam(5)).await;
    let builtin_id = builtin["id"].as_str().unwrap();
    app.wait_finished(builtin_id, WAIT).await;
    let p = assert_problem(
        app.post_json(
            &format!("/v1/jobs/{builtin_id}/predict"),
            &json!({"features": [[1.0, 2.0]]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(detail(&p).contains("model"), "{p}");

    let id = app
        .generated(json!({"kind": "moons", "n_samples": 200, "seed": 2}))
        .await;
    let job = app.submit(&moons_job(&id, 10_000_000)).await;
    let job_id = job["id"].as_str().unwrap();
    let p = assert_problem(
        app.post_json(
            &format!("/v1/jobs/{job_id}/predict"),
            &json!({"features": [[1.0, 2.0]]}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(detail(&p).contains("finished"), "{p}");
    // A cancelled job keeps the parameters it reached, and they can predict.
    app.post_json(&format!("/v1/jobs/{job_id}/cancel"), &json!({}))
        .await;
    app.wait_finished(job_id, WAIT).await;
    let response = app
        .post_json(
            &format!("/v1/jobs/{job_id}/predict"),
            &json!({"features": [[1.0, 2.0]]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    assert_problem(
        app.post_json("/v1/jobs/nope/predict", &json!({"features": [[1.0]]}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.stop().await;
}

/// Solves the normal equations AᵀA θ = Aᵀy for A = [X | 1] by Gaussian elimination with
/// partial pivoting: the least-squares weights, then the intercept.
fn least_squares(x: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let p = x[0].len() + 1;
    let mut m = vec![vec![0.0; p + 1]; p];
    for (row, &t) in x.iter().zip(y) {
        let a: Vec<f64> = row.iter().copied().chain([1.0]).collect();
        for i in 0..p {
            for j in 0..p {
                m[i][j] += a[i] * a[j];
            }
            m[i][p] += a[i] * t;
        }
    }
    for c in 0..p {
        let pivot = (c..p)
            .max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs()))
            .unwrap();
        m.swap(c, pivot);
        let pivot_row = m[c].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r != c {
                let f = row[c] / pivot_row[c];
                for (v, pv) in row.iter_mut().zip(&pivot_row).skip(c) {
                    *v -= f * pv;
                }
            }
        }
    }
    (0..p).map(|i| m[i][p] / m[i][i]).collect()
}

#[tokio::test]
async fn full_batch_gradient_descent_on_linear_regression_reaches_the_least_squares_solution() {
    let app = TestApp::spawn().await;
    let mut rng = Lcg(11);
    let x: Vec<Vec<f64>> = (0..200)
        .map(|_| (0..3).map(|_| rng.next() * 4.0 - 2.0).collect())
        .collect();
    let y: Vec<f64> = x
        .iter()
        .map(|r| 1.5 * r[0] - 2.0 * r[1] + 0.5 * r[2] + 0.7 + (rng.next() - 0.5))
        .collect();
    let id = app.upload(&json!({"features": x, "targets": y})).await;
    let job = app
        .run_to_success(&json!({
            "problem": {"kind": "model", "model": {"type": "linear"}, "loss": "mse", "dataset_id": id},
            "initial": {"init": "zeros"},
            "optimizer": {"name": "sgd", "lr": 0.1},
            "stop": {"max_steps": 3000, "grad_tol": 1e-12},
            "record": {"params": false, "every": 100}
        }))
        .await;
    let fitted: Vec<f64> = job["result"]["final_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let exact = least_squares(&x, &y);
    println!("least squares {exact:?}, gradient descent {fitted:?}");
    for (a, b) in fitted.iter().zip(&exact) {
        assert!((a - b).abs() < 1e-9, "{fitted:?} vs {exact:?}");
    }

    // Predictions are x·w + b; a row of one feature would fit the 4 parameters as a model
    // with 2 outputs, so the width is checked against the training data.
    let job_id = job["id"].as_str().unwrap();
    let prediction: Value = app
        .post_json(
            &format!("/v1/jobs/{job_id}/predict"),
            &json!({"features": [[1.0, 2.0, -1.0]]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let expected = fitted[0] + 2.0 * fitted[1] - fitted[2] + fitted[3];
    assert!((prediction["outputs"][0][0].as_f64().unwrap() - expected).abs() < 1e-12);
    assert!(prediction.get("classes").is_none());
    let p = assert_problem(
        app.post_json(
            &format!("/v1/jobs/{job_id}/predict"),
            &json!({"features": [[1.0]]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(detail(&p).contains("3 features"), "{p}");
    app.stop().await;
}

#[tokio::test]
async fn logistic_regression_on_a_separable_set_reaches_full_training_accuracy() {
    let app = TestApp::spawn().await;
    let mut rng = Lcg(5);
    let mut features = Vec::new();
    let mut targets = Vec::new();
    while features.len() < 200 {
        let (a, b) = (rng.next() * 4.0 - 2.0, rng.next() * 4.0 - 2.0);
        let margin = a - 0.5 * b - 0.2;
        if margin.abs() > 0.1 {
            features.push(vec![a, b]);
            targets.push(if margin > 0.0 { 1.0 } else { 0.0 });
        }
    }
    let id = app
        .upload(&json!({"features": features, "targets": targets}))
        .await;
    let job = app
        .run_to_success(&json!({
            "problem": {"kind": "model", "model": {"type": "logistic"}, "dataset_id": id, "eval_every": 100},
            "initial": {"init": "zeros"},
            "optimizer": {"name": "sgd", "lr": 1.0},
            "stop": {"max_steps": 2000},
            "record": {"params": false, "every": 10}
        }))
        .await;
    let metrics = &job["result"]["final_metrics"];
    println!("separable logistic regression: {metrics}");
    assert_eq!(metrics["train_accuracy"], 1.0);
    app.stop().await;
}

#[tokio::test]
async fn csv_cells_rows_and_columns_are_rejected_by_row_and_column() {
    let app = TestApp::spawn().await;
    // A stray text cell in row 10 000 of 10 500.
    let mut csv = String::from("a,b,y\n");
    for i in 1..=10_500 {
        if i == 10_000 {
            csv.push_str("1.5,oops,0\n");
        } else {
            csv.push_str(&format!("{i},{},1\n", i as f64 / 3.0));
        }
    }
    let p = assert_problem(
        app.post_csv("target=y", csv).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        detail(&p).contains("row 10000")
            && detail(&p).contains("`b`")
            && detail(&p).contains("oops"),
        "{p}"
    );

    for (csv, query, field_name, needles) in [
        (
            "a,b,y\n1,2,0\n3,,1\n",
            "target=y",
            "body",
            vec!["row 2", "`b`", "empty"],
        ),
        (
            "a,b,y\n1,2,0\n3,NaN,1\n",
            "target=y",
            "body",
            vec!["row 2", "`b`", "finite"],
        ),
        (
            "a,b,y\n1,inf,0\n",
            "target=y",
            "body",
            vec!["row 1", "`b`", "finite"],
        ),
        (
            "a,b,y\n1,2,0\n3,4\n",
            "target=y",
            "body",
            vec!["row 2", "2 cells", "expected 3"],
        ),
        (
            "a,b,y\n1,2,0\n",
            "target=label",
            "target",
            vec!["label", "a, b, y"],
        ),
        ("a,a,y\n1,2,0\n", "target=y", "header", vec!["`a`", "twice"]),
        ("a,b,y\n", "target=y", "body", vec!["no data rows"]),
    ] {
        let p = assert_problem(
            app.post_csv(query, csv.to_string()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(field(&p), field_name, "{csv}: {p}");
        for needle in needles {
            assert!(detail(&p).contains(needle), "{csv}: `{needle}` not in {p}");
        }
    }

    // No target column named, an unknown parameter, a body that is neither JSON nor CSV.
    let p = assert_problem(app.post_csv("", csv_rows(3)).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(field(&p), "target");
    let p = assert_problem(
        app.post_csv("target=y&sep=;", csv_rows(3)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(field(&p), "sep");
    let response = app
        .client
        .post(app.url("/v1/datasets"))
        .header("content-type", "text/plain")
        .body("a,b\n1,2\n")
        .send()
        .await
        .unwrap();
    let p = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert!(detail(&p).contains("text/csv"));
    app.stop().await;
}

#[tokio::test]
async fn json_datasets_are_rejected_by_row_and_side() {
    let app = TestApp::spawn().await;
    for (body, field_name, needle) in [
        (
            json!({"features": [[1.0, 2.0], [3.0]], "targets": [0.0, 1.0]}),
            "features[1]",
            "row 2",
        ),
        (
            json!({"features": [[1.0], [3.0]], "targets": [[0.0, 1.0], [1.0]]}),
            "targets[1]",
            "row 2",
        ),
        (
            json!({"features": [[1.0], [3.0]], "targets": [0.0]}),
            "targets",
            "2 rows",
        ),
        (
            json!({"features": [], "targets": []}),
            "features",
            "no rows",
        ),
        (
            json!({"features": [[]], "targets": [1.0]}),
            "features[0]",
            "feature",
        ),
        (
            json!({"features": [[1.0]], "targets": [[]]}),
            "targets[0]",
            "target",
        ),
        (
            json!({"features": [[1.0, "a"]], "targets": [1.0]}),
            "features[0][1]",
            "invalid type",
        ),
        (
            json!({"features": [[1.0]], "targets": [1.0], "colour": 1}),
            "colour",
            "unknown field",
        ),
    ] {
        let p = assert_problem(
            app.post_json("/v1/datasets", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(field(&p), field_name, "{body}: {p}");
        assert!(detail(&p).contains(needle), "{body}: `{needle}` not in {p}");
    }
    let p = assert_problem(
        app.post_json(
            "/v1/datasets?target=y",
            &json!({"features": [[1.0]], "targets": [1.0]}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(field(&p), "target");

    // A job naming a dataset that never existed.
    let p = assert_problem(
        app.post_json("/v1/jobs", &moons_job("no-such-dataset", 10))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field(&p), "problem.dataset_id");
    assert_problem(
        app.get("/v1/datasets/no-such-dataset").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn datasets_over_the_row_column_or_byte_limits_are_413s_naming_the_limit() {
    let app = TestApp::spawn_with(|c| {
        c.max_dataset_rows = 100;
        c.max_dataset_columns = 4;
        c.max_dataset_bytes = 4096;
    })
    .await;
    let p = assert_problem(
        app.post_csv("target=y", csv_rows(101)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert!(
        detail(&p).contains("100 rows") && detail(&p).contains("SADDLE_MAX_DATASET_ROWS"),
        "{p}"
    );
    let response = app.post_csv("target=y", csv_rows(100)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;

    // A CSV streams past the JSON body limit; only the dataset limits bound it.
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 1024).await;
    let csv = csv_rows(2_000);
    assert!(csv.len() > 20 * 1024);
    let response = app.post_csv("target=y", csv).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let rows: Vec<Vec<f64>> = (0..200).map(|i| vec![i as f64]).collect();
    assert_problem(
        app.post_json(
            "/v1/datasets",
            &json!({"features": rows, "targets": vec![0.0; 200]}),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    app.stop().await;

    let app = TestApp::spawn_with(|c| {
        c.max_dataset_rows = 100;
        c.max_dataset_columns = 4;
        c.max_dataset_bytes = 4096;
    })
    .await;

    let p = assert_problem(
        app.post_csv("target=y", "a,b,c,d,y\n1,2,3,4,5\n".into())
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert!(detail(&p).contains("4 columns"), "{p}");

    let mut wide = String::from("a,y\n");
    for i in 0..90 {
        wide.push_str(&format!(
            "{}.000000000000000000000000000000000000000000000000,1\n",
            i
        ));
    }
    let p = assert_problem(
        app.post_csv("target=y", wide).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert!(detail(&p).contains("4096 bytes"), "{p}");

    let rows: Vec<Vec<f64>> = (0..101).map(|i| vec![i as f64]).collect();
    let p = assert_problem(
        app.post_json(
            "/v1/datasets",
            &json!({"features": rows, "targets": vec![0.0; 101]}),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert!(detail(&p).contains("100 rows"), "{p}");
    let p = assert_problem(
        app.post_json(
            "/v1/datasets",
            &json!({"features": [[1.0, 2.0, 3.0, 4.0]], "targets": [0.0]}),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert!(detail(&p).contains("4 columns"), "{p}");

    let p = assert_problem(
        app.post_json(
            "/v1/datasets/generate",
            &json!({"generator": {"kind": "moons", "n_samples": 101}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field(&p), "generator.n_samples");
    app.stop().await;
}

#[tokio::test]
async fn a_job_cannot_be_stored_against_a_dataset_deleted_after_its_validation() {
    // The submission validates against the loaded dataset, then inserts; a delete in between
    // is caught by the foreign key, atomically, and reported as a missing dataset.
    let database = crate::helpers::TestDatabase::create().await;
    let store = saddle::store::Store::connect(database.url()).await.unwrap();
    let tenant = saddle::tenant::Tenant::default();
    let job = |job_id: &'static str, dataset_id: Option<&'static str>| saddle::store::NewJob {
        job_id,
        tenant: &tenant,
        max_active_jobs: 10,
        name: None,
        tags: &[],
        spec: "{}",
        problem_kind: "model",
        optimizer_name: "adam",
        max_steps: 1,
        dataset_id,
        continued_from: None,
        resume_state: None,
    };
    let missing = store.insert_job(job("a", Some("deleted"))).await;
    assert!(
        matches!(&missing, Err(saddle::store::StoreError::NotFound(m)) if m.contains("deleted")),
        "{:?}",
        missing.map(|r| r.job_id)
    );
    assert!(store.insert_job(job("b", None)).await.is_ok());
    store.close().await;
}

#[tokio::test]
async fn a_large_batch_gives_the_same_history_on_one_thread_per_job_or_two() {
    let mut histories = Vec::new();
    for threads in [1, 2] {
        let app = TestApp::spawn_with(|c| c.threads_per_job = threads).await;
        let id = app
            .generated(json!({"kind": "moons", "n_samples": 2600, "noise": 0.2, "seed": 5}))
            .await;
        // 2 080 training rows, full batch: evaluated in 2 shards of rows.
        let spec = json!({
            "problem": {"kind": "model", "model": {"type": "mlp", "hidden": [8, 8], "activation": "relu"},
                        "loss": "bce", "dataset_id": id, "validation_split": 0.2, "eval_every": 5},
            "initial": {"init": "he_normal", "seed": 3},
            "optimizer": {"name": "adam", "lr": 0.02},
            "stop": {"max_steps": 10},
            "record": {"params": true, "every": 1}
        });
        let job = app.run_to_success(&spec).await;
        let job_id = job["id"].as_str().unwrap();
        let history = crate::helpers::history_text(&app.client, &app.address, job_id).await;
        assert_eq!(history.len(), 11);
        let metrics = &job["result"]["final_metrics"];
        assert!(metrics["val_accuracy"].is_f64(), "{job}");
        histories.push((history, metrics.to_string()));
        app.stop().await;
    }
    assert_eq!(histories[0], histories[1]);
}
