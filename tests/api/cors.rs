//! CORS: browsers on the configured origins may call the API; others are not told they may.

use reqwest::{Method, StatusCode};

use crate::helpers::TestApp;

const ALLOW_ORIGIN: &str = "access-control-allow-origin";

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url("/v1/jobs"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("OPTIONS")
}

async fn get_from(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .get(app.url("/v1/optimizers"))
        .header("origin", origin)
        .send()
        .await
        .expect("GET")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_listed_origin_passes_the_preflight_and_reads_answers() {
    let app = TestApp::spawn_with(|c| {
        c.cors_origins = vec![
            "https://dash.example".into(),
            "http://localhost:3000".into(),
        ]
    })
    .await;

    let response = preflight(&app, "http://localhost:3000").await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&response, ALLOW_ORIGIN),
        Some("http://localhost:3000")
    );
    let methods = header(&response, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    let headers = header(&response, "access-control-allow-headers").unwrap_or_default();
    assert!(headers.contains("content-type"), "{headers}");

    let response = get_from(&app, "https://dash.example").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, ALLOW_ORIGIN),
        Some("https://dash.example")
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unlisted_origin_gets_no_permission() {
    let app = TestApp::spawn_with(|c| c.cors_origins = vec!["https://dash.example".into()]).await;

    let response = preflight(&app, "https://evil.example").await;
    assert_eq!(header(&response, ALLOW_ORIGIN), None);
    let response = get_from(&app, "https://evil.example").await;
    // The answer is still sent (CORS is enforced by the browser), without the permission.
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, ALLOW_ORIGIN), None);
    app.stop().await;
}

#[tokio::test]
async fn by_default_no_origin_is_allowed() {
    let app = TestApp::spawn().await;
    let response = get_from(&app, "https://dash.example").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, ALLOW_ORIGIN), None);
    let response = preflight(&app, "https://dash.example").await;
    assert_eq!(header(&response, ALLOW_ORIGIN), None);
    app.stop().await;
}

#[tokio::test]
async fn a_star_allows_every_origin_and_exposes_location() {
    let app = TestApp::spawn_with(|c| c.cors_origins = vec!["*".into()]).await;
    let response = preflight(&app, "https://anyone.example").await;
    assert!(response.status().is_success());
    assert_eq!(header(&response, ALLOW_ORIGIN), Some("*"));

    let response = app
        .client
        .post(app.url("/v1/jobs"))
        .header("origin", "https://anyone.example")
        .json(&crate::helpers::rosenbrock_adam(10))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header(&response, ALLOW_ORIGIN), Some("*"));
    let exposed = header(&response, "access-control-expose-headers").unwrap_or_default();
    assert!(exposed.contains("location"), "{exposed}");
    app.stop().await;
}
