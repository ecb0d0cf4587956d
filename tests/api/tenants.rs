//! Tenants and API keys: isolation over every endpoint that takes an id or lists, the key
//! lifecycle (CLI and admin API), auth off on loopback and on elsewhere, the active-jobs quota.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use saddle::config::AuthMode;

use crate::helpers::{assert_problem, rosenbrock_adam, TestApp, TestDatabase};

pub const ADMIN_TOKEN: &str = "admin-token-of-the-tests";
const WAIT: Duration = Duration::from_secs(60);

/// A server that requires keys, with the admin API on.
async fn spawn_with_keys(adjust: impl FnOnce(&mut saddle::config::ServeConfig)) -> TestApp {
    TestApp::spawn_with(|c| {
        c.auth = AuthMode::On;
        c.admin_token = Some(ADMIN_TOKEN.into());
        adjust(c);
    })
    .await
}

/// A client acting for one tenant: every request carries its key.
pub struct Caller<'a> {
    pub app: &'a TestApp,
    pub key: String,
}

impl<'a> Caller<'a> {
    /// Acts for the tenant of `key`.
    pub fn of(app: &'a TestApp, key: impl Into<String>) -> Self {
        Self {
            app,
            key: key.into(),
        }
    }

    /// GETs `path` and returns its JSON.
    pub async fn json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    /// A request with the caller's key, to complete and send.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.key)
    }

    /// Sends `method path` with an optional JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send(Method::POST, path, Some(body)).await
    }

    /// POSTs and returns the JSON of a 201.
    pub async fn create(&self, path: &str, body: &Value) -> Value {
        let response = self.post(path, body).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
        body
    }

    /// Waits (long-polling) until a job has finished.
    pub async fn wait_finished(&self, id: &str) -> Value {
        let mut job = Value::Null;
        for _ in 0..WAIT.as_secs() {
            job = self.json(&format!("/v1/jobs/{id}?wait=1s")).await;
            if ["succeeded", "failed", "cancelled"].contains(&job["status"].as_str().unwrap()) {
                return job;
            }
        }
        panic!("job {id} has not finished: {job}");
    }
}

/// Creates a key for `tenant` through the admin API; returns (key id, key).
pub async fn create_key(app: &TestApp, tenant: &str) -> (String, String) {
    let response = app
        .client
        .post(app.url("/v1/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "tenant": tenant }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["tenant"], tenant);
    (
        body["id"].as_str().unwrap().to_string(),
        body["key"].as_str().unwrap().to_string(),
    )
}

/// A server with keys required and a caller for each of two tenants.
pub async fn two_tenants(
    adjust: impl FnOnce(&mut saddle::config::ServeConfig),
) -> (TestApp, String, String) {
    let app = spawn_with_keys(adjust).await;
    let (_, a) = create_key(&app, "tenant-a").await;
    let (_, b) = create_key(&app, "tenant-b").await;
    (app, a, b)
}

/// Asserts that `other` gets for A's `id` exactly the answer `missing_id` gets (status and
/// body, with the id substituted): another tenant's id is indistinguishable from no id.
async fn same_as_missing(
    b: &Caller<'_>,
    method: Method,
    template: &str,
    id: &str,
    body: Option<&Value>,
    expected: StatusCode,
) {
    let missing_id = uuid::Uuid::new_v4().to_string();
    let theirs = b
        .send(method.clone(), &template.replace("{id}", id), body)
        .await;
    let missing = b
        .send(method.clone(), &template.replace("{id}", &missing_id), body)
        .await;
    assert_eq!(theirs.status(), expected, "{method} {template}");
    assert_eq!(missing.status(), expected, "{method} {template}");
    let theirs = theirs.text().await.unwrap();
    let missing = missing.text().await.unwrap().replace(&missing_id, id);
    assert_eq!(theirs, missing, "{method} {template}");
}

/// A body that replaces the id (given as `{id}`) in a JSON template.
fn with_id(template: &Value, id: &str) -> Value {
    serde_json::from_str(&template.to_string().replace("{id}", id)).unwrap()
}

#[tokio::test]
async fn tenant_b_sees_nothing_of_tenant_a_on_any_endpoint_and_cannot_touch_it() {
    let (app, key_a, key_b) = two_tenants(|_| {}).await;
    let a = Caller::of(&app, key_a);
    let b = Caller::of(&app, key_b);

    // A's resources: two datasets (one for a model job), a job on each kind, a sweep.
    let data = a
        .create(
            "/v1/datasets/generate",
            &json!({"generator": {"kind": "moons", "n_samples": 200, "noise": 0.1, "seed": 1}}),
        )
        .await;
    let dataset_id = data["id"].as_str().unwrap().to_string();
    let spare = a
        .create(
            "/v1/datasets",
            &json!({"features": [[1.0], [2.0], [3.0]], "targets": [0.0, 1.0, 0.0]}),
        )
        .await;
    let model_spec = json!({
        "problem": {"kind": "model", "model": {"type": "logistic"}, "loss": "bce",
                    "dataset_id": "{id}"},
        "initial": {"init": "zeros"},
        "optimizer": {"name": "adam", "lr": 0.05},
        "stop": {"max_steps": 20}
    });
    let model_job = a
        .create("/v1/jobs", &with_id(&model_spec, &dataset_id))
        .await;
    let model_job_id = model_job["id"].as_str().unwrap().to_string();
    let job = a.create("/v1/jobs", &rosenbrock_adam(50)).await;
    let job_id = job["id"].as_str().unwrap().to_string();
    let race = json!({"problem": {"kind": "builtin", "name": "rosenbrock"}, "initial": [-1.5, 2.0],
                      "optimizers": [{"name": "adam", "lr": 0.02}, {"name": "sgd", "lr": 0.001}],
                      "stop": {"max_steps": 30}});
    let sweep = a.create("/v1/sweeps", &race).await;
    let sweep_id = sweep["id"].as_str().unwrap().to_string();
    // A second sweep, so that A's sweep listing has a second page.
    a.create("/v1/sweeps", &race).await;
    assert_eq!(a.wait_finished(&job_id).await["status"], "succeeded");
    assert_eq!(a.wait_finished(&model_job_id).await["status"], "succeeded");

    // Every endpoint that takes a job id.
    for (method, path, body, status) in [
        (Method::GET, "/v1/jobs/{id}", None, StatusCode::NOT_FOUND),
        (
            Method::GET,
            "/v1/jobs/{id}?wait=1s",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/jobs/{id}/steps",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/jobs/{id}/events",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/jobs/{id}/plots/loss.svg",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/jobs/{id}/plots/loss.png",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/jobs/{id}/plots/trajectory.svg",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/jobs/{id}/plots/trajectory.png",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/v1/jobs/{id}/cancel",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/v1/jobs/{id}/continue",
            Some(json!({"steps": 10})),
            StatusCode::NOT_FOUND,
        ),
        (Method::DELETE, "/v1/jobs/{id}", None, StatusCode::NOT_FOUND),
    ] {
        same_as_missing(&b, method, path, &job_id, body.as_ref(), status).await;
    }
    same_as_missing(
        &b,
        Method::POST,
        "/v1/jobs/{id}/predict",
        &model_job_id,
        Some(&json!({"features": [[0.0, 0.5]]})),
        StatusCode::NOT_FOUND,
    )
    .await;

    // Every endpoint that takes a dataset or a sweep id, and a dataset named in a job or an
    // evaluation.
    let spare_id = spare["id"].as_str().unwrap();
    let evaluation = json!({"problem": model_spec["problem"], "point": vec![0.0; 3]});
    for (method, path, id, body, status) in [
        (
            Method::GET,
            "/v1/datasets/{id}",
            dataset_id.as_str(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/v1/datasets/{id}",
            dataset_id.as_str(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/v1/datasets/{id}",
            spare_id,
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/v1/jobs",
            dataset_id.as_str(),
            Some(&model_spec),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/v1/evaluate",
            dataset_id.as_str(),
            Some(&evaluation),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/v1/sweeps/{id}",
            sweep_id.as_str(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/v1/sweeps/{id}/cancel",
            sweep_id.as_str(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/sweeps/{id}/plots/loss.svg",
            sweep_id.as_str(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/sweeps/{id}/plots/loss.png",
            sweep_id.as_str(),
            None,
            StatusCode::NOT_FOUND,
        ),
    ] {
        same_as_missing(&b, method, path, id, body, status).await;
    }

    // Listings: B's are empty, and A's page tokens are refused for B.
    for (listing, items) in [
        ("/v1/jobs", "jobs"),
        ("/v1/datasets", "datasets"),
        ("/v1/sweeps", "sweeps"),
    ] {
        let theirs: Value = b.json(listing).await;
        assert_eq!(theirs[items], json!([]), "{listing}: {theirs}");
        let page: Value = a.json(&format!("{listing}?limit=1")).await;
        assert_eq!(page[items].as_array().unwrap().len(), 1, "{listing}");
        let token = page["next_page_token"].as_str().expect("A has a next page");
        let p = assert_problem(
            b.get(&format!("{listing}?limit=1&page_token={token}"))
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(p["errors"][0]["field"], "page_token");
        // The token still works for A.
        assert_eq!(
            a.get(&format!("{listing}?limit=1&page_token={token}"))
                .await
                .status(),
            StatusCode::OK
        );
    }
    let steps: Value = a.json(&format!("/v1/jobs/{job_id}/steps?limit=5")).await;
    let token = steps["next_page_token"].as_str().unwrap();
    // Even with a token of A's, B gets the same 404 as for a missing job.
    same_as_missing(
        &b,
        Method::GET,
        &format!("/v1/jobs/{{id}}/steps?page_token={token}"),
        &job_id,
        None,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Nothing of A's was touched by B's cancels and deletes.
    let still: Value = a.json(&format!("/v1/jobs/{job_id}")).await;
    assert_eq!(still["status"], "succeeded");
    assert_eq!(
        a.get(&format!("/v1/datasets/{dataset_id}")).await.status(),
        StatusCode::OK
    );
    let sweep: Value = a.json(&format!("/v1/sweeps/{sweep_id}")).await;
    assert_eq!(sweep["jobs"], 2);
    let jobs: Value = a.json("/v1/jobs?limit=100").await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 6);
    app.stop().await;
}

#[tokio::test]
async fn keys_from_the_admin_api_work_until_revoked_and_are_listed_without_secrets() {
    let app = spawn_with_keys(|_| {}).await;
    let (id, key) = create_key(&app, "acme").await;
    assert!(key.starts_with("sk_") && key.len() >= 3 + 22, "{key}");
    let acme = Caller::of(&app, key.clone());
    acme.create("/v1/jobs", &rosenbrock_adam(5)).await;
    assert_eq!(acme.get("/v1/jobs").await.status(), StatusCode::OK);

    let listed = app
        .client
        .get(app.url("/v1/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let listed = listed.text().await.unwrap();
    assert!(!listed.contains(&key), "a listing shows no secret");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["keys"][0]["id"], id.as_str());
    assert_eq!(listed["keys"][0]["tenant"], "acme");
    assert!(key.starts_with(listed["keys"][0]["key_prefix"].as_str().unwrap()));

    let revoked = app
        .client
        .delete(app.url(&format!("/v1/admin/keys/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let refused = acme.get("/v1/jobs").await;
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    assert_problem(refused, StatusCode::UNAUTHORIZED).await;

    // No key, a made-up key, a key in the wrong scheme: 401 with the challenge.
    let no_key = app.get("/v1/jobs").await;
    assert_eq!(no_key.headers()["www-authenticate"], "Bearer");
    let p = assert_problem(no_key, StatusCode::UNAUTHORIZED).await;
    assert!(p["detail"]
        .as_str()
        .unwrap()
        .contains("Authorization: Bearer"));
    let made_up = Caller {
        app: &app,
        key: format!("sk_{}", "A".repeat(43)),
    };
    assert_problem(made_up.get("/v1/jobs/x").await, StatusCode::UNAUTHORIZED).await;
    let basic = app
        .client
        .get(app.url("/v1/jobs"))
        .header("authorization", format!("Basic {key}"))
        .send()
        .await
        .unwrap();
    assert_problem(basic, StatusCode::UNAUTHORIZED).await;
    // Public pages stay public.
    for path in ["/healthz", "/openapi.json", "/docs"] {
        assert_eq!(app.get(path).await.status(), StatusCode::OK, "{path}");
    }

    // The admin API: a wrong token is a 401, a key of a tenant is no admin token, a bad
    // tenant name is a 422 naming it.
    for token in ["wrong", key.as_str()] {
        let p = app
            .client
            .get(app.url("/v1/admin/keys"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_problem(p, StatusCode::UNAUTHORIZED).await;
    }
    let p = app
        .client
        .post(app.url("/v1/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"tenant": "not a name"}))
        .send()
        .await
        .unwrap();
    let p = assert_problem(p, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["field"], "tenant");
    let unknown = app
        .client
        .delete(app.url("/v1/admin/keys/nope"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_problem(unknown, StatusCode::NOT_FOUND).await;
    app.stop().await;
}

#[tokio::test]
async fn the_admin_api_is_off_without_an_admin_token() {
    let app = TestApp::spawn_with(|c| c.auth = AuthMode::On).await;
    let p = app
        .client
        .post(app.url("/v1/admin/keys"))
        .bearer_auth("anything")
        .json(&json!({"tenant": "acme"}))
        .send()
        .await
        .unwrap();
    let p = assert_problem(p, StatusCode::FORBIDDEN).await;
    assert!(p["detail"].as_str().unwrap().contains("--admin-token"));
    app.stop().await;
}

/// Runs `saddle keys …` on the database at `url`; returns stdout, asserting success.
fn saddle_keys(url: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_saddle"))
        .arg("keys")
        .args(["--database-url", url])
        .args(args)
        .output()
        .expect("the saddle binary runs");
    assert!(
        output.status.success(),
        "saddle keys {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn keys_made_and_revoked_with_the_cli_open_and_close_the_api() {
    let database = TestDatabase::create().await;
    let url = database.url().to_string();
    let key = saddle_keys(&url, &["create", "--tenant", "acme"])
        .trim()
        .to_string();
    assert!(key.starts_with("sk_"), "stdout is the key alone: {key}");
    let listing = saddle_keys(&url, &["list"]);
    assert!(!listing.contains(&key), "the listing shows no secret");
    let row = listing
        .lines()
        .find(|l| l.contains("acme"))
        .expect("the key is listed");
    let id = row.split_whitespace().next().unwrap().to_string();

    let app = TestApp::spawn_with(|c| {
        c.auth = AuthMode::On;
        c.database_url = url.clone();
    })
    .await;
    let acme = Caller::of(&app, key.clone());
    let job = acme.create("/v1/jobs", &rosenbrock_adam(5)).await;
    assert_eq!(
        acme.wait_finished(job["id"].as_str().unwrap()).await["status"],
        "succeeded"
    );

    // Revoked by the CLI while the server runs: refused at once.
    saddle_keys(&url, &["revoke", &id]);
    assert_problem(acme.get("/v1/jobs").await, StatusCode::UNAUTHORIZED).await;
    assert!(saddle_keys(&url, &["list"])
        .lines()
        .any(|l| l.starts_with(&id) && !l.ends_with(" -")));
    app.stop().await;

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_saddle"))
        .args([
            "keys",
            "--database-url",
            &url,
            "create",
            "--tenant",
            "no spaces",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("tenant name"));
}

#[tokio::test]
async fn auth_is_off_on_loopback_and_on_for_any_other_address_by_default() {
    let local = TestApp::spawn().await;
    assert_eq!(local.get("/v1/jobs").await.status(), StatusCode::OK);
    local.stop().await;

    let public = TestApp::spawn_with(|c| c.listen = "0.0.0.0:0".parse().unwrap()).await;
    let refused = public.get("/v1/jobs").await;
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    assert_problem(refused, StatusCode::UNAUTHORIZED).await;
    assert_problem(
        public.post_json("/v1/jobs", &rosenbrock_adam(5)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(public.get("/healthz").await.status(), StatusCode::OK);
    public.stop().await;

    // Explicitly off on a public address: no key needed.
    let open = TestApp::spawn_with(|c| {
        c.listen = "0.0.0.0:0".parse().unwrap();
        c.auth = AuthMode::Off;
    })
    .await;
    assert_eq!(open.get("/v1/jobs").await.status(), StatusCode::OK);
    open.stop().await;
}

#[tokio::test]
async fn a_tenant_over_its_active_jobs_quota_gets_429_with_retry_after_and_others_do_not() {
    let (app, key_a, key_b) = two_tenants(|c| c.max_active_jobs_per_tenant = 2).await;
    let a = Caller::of(&app, key_a);
    let b = Caller::of(&app, key_b);
    let long = rosenbrock_adam(10_000_000);
    let first = a.create("/v1/jobs", &long).await;
    let second = a.create("/v1/jobs", &long).await;

    let over = a.post("/v1/jobs", &long).await;
    let retry_after: u64 = over.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let p = assert_problem(over, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(p["limit"], 2);
    assert!(p["detail"].as_str().unwrap().contains('2'));
    // A sweep that does not fit creates nothing; a continuation counts too.
    let sweep = json!({"problem": {"kind": "builtin", "name": "rosenbrock"}, "initial": [-1.5, 2.0],
                       "optimizers": [{"name": "adam", "lr": 0.02}], "stop": {"max_steps": 10}});
    assert_problem(
        a.post("/v1/sweeps", &sweep).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    let sweeps: Value = a.json("/v1/sweeps").await;
    assert_eq!(sweeps["sweeps"], json!([]));

    // Another tenant has its own quota (its job waits for a worker: A's two hold both).
    let other = b.create("/v1/jobs", &rosenbrock_adam(5)).await;
    assert_problem(
        a.post(
            &format!("/v1/jobs/{}/continue", other["id"].as_str().unwrap()),
            &json!({"steps": 5}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Once a job has finished, there is room again.
    let first_id = first["id"].as_str().unwrap();
    a.post(&format!("/v1/jobs/{first_id}/cancel"), &json!({}))
        .await;
    a.wait_finished(first_id).await;
    let third = a.create("/v1/jobs", &rosenbrock_adam(5)).await;
    for job in [&second, &third] {
        let id = job["id"].as_str().unwrap();
        a.post(&format!("/v1/jobs/{id}/cancel"), &json!({})).await;
        a.wait_finished(id).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_job_stored_against_another_tenants_dataset_fails_instead_of_reading_it() {
    // The API refuses such a job at submission (tested above); the worker checks again with
    // the job's own tenant, so a job that reached the queue another way cannot read it either.
    let database = TestDatabase::create().await;
    let url = database.url().to_string();
    let app = spawn_with_keys(|c| c.database_url = url.clone()).await;
    let (_, key_a) = create_key(&app, "tenant-a").await;
    let (_, key_b) = create_key(&app, "tenant-b").await;
    let a = Caller::of(&app, key_a);
    let b = Caller::of(&app, key_b);
    let data = a
        .create(
            "/v1/datasets/generate",
            &json!({"generator": {"kind": "moons", "n_samples": 100, "seed": 1}}),
        )
        .await;
    let dataset_id = data["id"].as_str().unwrap();
    let spec = json!({
        "problem": {"kind": "model", "model": {"type": "logistic"}, "loss": "bce",
                    "dataset_id": dataset_id},
        "initial": {"init": "zeros"},
        "optimizer": {"name": "adam", "lr": 0.05},
        "stop": {"max_steps": 5}
    });
    let store = saddle::store::Store::connect(&url).await.unwrap();
    let tenant_b = saddle::tenant::Tenant::parse("tenant-b").unwrap();
    let job = store
        .insert_job(saddle::store::NewJob {
            job_id: "smuggled",
            tenant: &tenant_b,
            max_active_jobs: 10,
            name: None,
            tags: &[],
            spec: &spec.to_string(),
            problem_kind: "model",
            optimizer_name: "adam",
            max_steps: 5,
            dataset_id: Some(dataset_id),
            continued_from: None,
            resume_state: None,
        })
        .await
        .unwrap();
    store.close().await;
    let done = b.wait_finished(&job.job_id).await;
    assert_eq!(done["status"], "failed", "{done}");
    let message = done["error"]["message"].as_str().unwrap();
    assert!(message.contains("could not be loaded"), "{message}");
    // A's own job on it runs.
    let own = a.create("/v1/jobs", &spec).await;
    assert_eq!(
        a.wait_finished(own["id"].as_str().unwrap()).await["status"],
        "succeeded"
    );
    app.stop().await;
}
