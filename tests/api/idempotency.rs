//! `Idempotency-Key`: a retried creation gets the first answer, a reused key with another body
//! is a 422, concurrent duplicates create one resource, keys are per tenant.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_problem, rosenbrock_adam, TestApp};
use crate::tenants::{two_tenants, Caller};

/// POSTs `body` to `path` with an `Idempotency-Key`.
async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> Response {
    app.client
        .post(app.url(path))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// How many items a listing shows.
async fn count(app: &TestApp, listing: &str, items: &str) -> usize {
    let page: Value = app
        .get(&format!("{listing}?limit=100"))
        .await
        .json()
        .await
        .unwrap();
    page[items].as_array().unwrap().len()
}

fn replayed(response: &Response) -> bool {
    response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

#[tokio::test]
async fn a_retried_creation_gets_the_first_answer_and_creates_nothing_more() {
    let app = TestApp::spawn().await;
    let sweep = json!({"problem": {"kind": "builtin", "name": "rosenbrock"}, "initial": [-1.5, 2.0],
                       "optimizers": [{"name": "adam", "lr": 0.02}], "stop": {"max_steps": 10}});
    for (path, body, listing, items) in [
        ("/v1/jobs", rosenbrock_adam(10), "/v1/jobs", "jobs"),
        ("/v1/sweeps", sweep, "/v1/sweeps", "sweeps"),
        (
            "/v1/datasets",
            json!({"features": [[1.0], [2.0]], "targets": [0.0, 1.0]}),
            "/v1/datasets",
            "datasets",
        ),
        (
            "/v1/datasets/generate",
            json!({"generator": {"kind": "moons", "n_samples": 50, "seed": 1}}),
            "/v1/datasets",
            "datasets",
        ),
    ] {
        let before = count(&app, listing, items).await;
        let key = uuid::Uuid::new_v4().to_string();
        let first = post_with_key(&app, path, &key, &body).await;
        assert_eq!(first.status(), StatusCode::CREATED, "{path}");
        assert!(!replayed(&first));
        let location = first.headers()["location"].clone();
        let first_body = first.text().await.unwrap();

        let again = post_with_key(&app, path, &key, &body).await;
        assert_eq!(again.status(), StatusCode::CREATED, "{path}");
        assert!(replayed(&again), "{path}: marked as a replay");
        assert_eq!(again.headers()["location"], location);
        assert_eq!(again.headers()["content-type"], "application/json");
        assert_eq!(again.text().await.unwrap(), first_body, "{path}");
        assert_eq!(
            count(&app, listing, items).await,
            before + 1,
            "{path}: one resource"
        );

        // Without the key, the same body creates another.
        assert_eq!(
            app.post_json(path, &body).await.status(),
            StatusCode::CREATED
        );
        assert_eq!(count(&app, listing, items).await, before + 2, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_key_reused_with_another_body_or_route_is_a_422_naming_the_header() {
    let app = TestApp::spawn().await;
    let key = "reused-key";
    assert_eq!(
        post_with_key(&app, "/v1/jobs", key, &rosenbrock_adam(10))
            .await
            .status(),
        StatusCode::CREATED
    );
    for (path, body) in [
        ("/v1/jobs", rosenbrock_adam(11)),
        (
            "/v1/datasets",
            json!({"features": [[1.0]], "targets": [0.0]}),
        ),
    ] {
        let p = assert_problem(
            post_with_key(&app, path, key, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], "Idempotency-Key", "{p}");
    }
    assert_eq!(count(&app, "/v1/jobs", "jobs").await, 1);
    assert_eq!(count(&app, "/v1/datasets", "datasets").await, 0);

    // A malformed key is a 400 naming the header.
    for bad in ["", "has space", &"k".repeat(256)] {
        let p = assert_problem(
            post_with_key(&app, "/v1/jobs", bad, &rosenbrock_adam(10)).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], "Idempotency-Key");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_request_that_failed_leaves_its_key_free_for_the_corrected_request() {
    let app = TestApp::spawn().await;
    let mut invalid = rosenbrock_adam(10);
    invalid["optimizer"]["lr"] = json!(-1.0);
    assert_problem(
        post_with_key(&app, "/v1/jobs", "fix-and-retry", &invalid).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fixed = post_with_key(&app, "/v1/jobs", "fix-and-retry", &rosenbrock_adam(10)).await;
    assert_eq!(fixed.status(), StatusCode::CREATED);
    assert!(!replayed(&fixed));
    app.stop().await;
}

#[tokio::test]
async fn concurrent_duplicates_create_one_resource_and_get_its_answer_or_a_409() {
    let app = TestApp::spawn().await;
    // A sweep of many jobs takes a while to create, so duplicates overlap with it.
    let optimizers: Vec<Value> = (1..=40)
        .map(|i| json!({"name": "adam", "lr": 0.001 * i as f64}))
        .collect();
    let sweep = json!({"problem": {"kind": "builtin", "name": "rosenbrock"}, "initial": [-1.5, 2.0],
                       "optimizers": optimizers, "stop": {"max_steps": 5}});
    let responses = futures_util::future::join_all(
        (0..8).map(|_| post_with_key(&app, "/v1/sweeps", "one-sweep", &sweep)),
    )
    .await;
    let mut ids = Vec::new();
    let mut originals = 0;
    for response in responses {
        match response.status() {
            StatusCode::CREATED => {
                originals += usize::from(!replayed(&response));
                let body: Value = response.json().await.unwrap();
                ids.push(body["id"].as_str().unwrap().to_string());
            }
            StatusCode::CONFLICT => {
                assert!(response.headers().contains_key("retry-after"));
                let p = assert_problem(response, StatusCode::CONFLICT).await;
                assert!(p["detail"].as_str().unwrap().contains("Idempotency-Key"));
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(originals, 1, "exactly one request ran");
    ids.dedup();
    assert_eq!(ids.len(), 1, "every 201 names the same sweep");
    assert_eq!(count(&app, "/v1/sweeps", "sweeps").await, 1);
    assert_eq!(count(&app, "/v1/jobs", "jobs").await, 40);
    // After the first has been answered, a retry gets its answer.
    let retry = post_with_key(&app, "/v1/sweeps", "one-sweep", &sweep).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert!(replayed(&retry));
    app.stop().await;
}

#[tokio::test]
async fn keys_are_per_tenant() {
    let (app, key_a, key_b) = two_tenants(|_| {}).await;
    let a = Caller::of(&app, key_a);
    let b = Caller::of(&app, key_b);
    let mut ids = Vec::new();
    for caller in [&a, &b, &a] {
        let response = caller
            .request(Method::POST, "/v1/jobs")
            .header("idempotency-key", "shared-key")
            .json(&rosenbrock_adam(10))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    assert_ne!(ids[0], ids[1], "B's key does not replay A's answer");
    assert_eq!(ids[0], ids[2], "A's retry does");
    app.stop().await;
}

#[tokio::test]
async fn a_claimed_key_is_in_flight_until_completed_or_released_and_expires() {
    use saddle::store::{IdempotencyClaim, Store, StoredResponse};
    use std::time::Duration;

    let database = crate::helpers::TestDatabase::create().await;
    let store = Store::connect(database.url()).await.unwrap();
    let tenant = saddle::tenant::Tenant::default();
    let other = saddle::tenant::Tenant::parse("other").unwrap();
    let day = Duration::from_secs(86_400);
    let claim = |tenant, hash: &'static [u8], keep| {
        let store = store.clone();
        async move {
            store
                .claim_idempotency_key(tenant, "k", hash, keep)
                .await
                .unwrap()
        }
    };
    assert!(matches!(
        claim(&tenant, b"one", day).await,
        IdempotencyClaim::Claimed
    ));
    assert!(matches!(
        claim(&tenant, b"one", day).await,
        IdempotencyClaim::InFlight
    ));
    assert!(matches!(
        claim(&tenant, b"two", day).await,
        IdempotencyClaim::Mismatch
    ));
    assert!(matches!(
        claim(&other, b"one", day).await,
        IdempotencyClaim::Claimed
    ));

    // Released (the request failed): free again.
    store.release_idempotency_key(&tenant, "k").await.unwrap();
    assert!(matches!(
        claim(&tenant, b"two", day).await,
        IdempotencyClaim::Claimed
    ));
    let answer = StoredResponse {
        status: 201,
        location: Some("/v1/jobs/1".into()),
        content_type: Some("application/json".into()),
        body: b"{}".to_vec(),
    };
    store
        .complete_idempotency_key(&tenant, "k", &answer)
        .await
        .unwrap();
    // A completed answer is not freed by a release, and is replayed.
    store.release_idempotency_key(&tenant, "k").await.unwrap();
    match claim(&tenant, b"two", day).await {
        IdempotencyClaim::Replay(stored) => {
            assert_eq!(stored.status, 201);
            assert_eq!(stored.location.as_deref(), Some("/v1/jobs/1"));
            assert_eq!(stored.body, b"{}");
        }
        other => panic!("expected a replay, got {other:?}"),
    }

    // An expired record is purged by the next claim; keys left in flight by a dead process
    // are freed at start.
    assert!(matches!(
        claim(&other, b"x", Duration::ZERO).await,
        IdempotencyClaim::Mismatch
    ));
    store.release_idempotency_key(&other, "k").await.unwrap();
    assert!(matches!(
        claim(&other, b"x", Duration::ZERO).await,
        IdempotencyClaim::Claimed
    ));
    assert!(matches!(
        claim(&other, b"y", day).await,
        IdempotencyClaim::Claimed
    ));
    assert_eq!(store.release_abandoned_idempotency_keys().await.unwrap(), 1);
    assert!(matches!(
        claim(&other, b"z", day).await,
        IdempotencyClaim::Claimed
    ));
    store.close().await;
}
