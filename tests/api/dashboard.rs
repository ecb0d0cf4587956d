//! The dashboard's page and assets: served beside the API, locked to this origin, not API.

use reqwest::StatusCode;

use crate::helpers::{assert_problem, TestApp};

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_page_is_served_at_the_root_with_a_same_origin_policy() {
    let app = TestApp::spawn().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "content-type"),
        "text/html; charset=utf-8"
    );
    let policy = header(&response, "content-security-policy");
    assert!(policy.starts_with("default-src 'self'"), "{policy}");
    let page = response.text().await.unwrap();
    assert!(page.contains("<script type=\"module\" src=\"/assets/app.js\">"));
    // Either uPlot's tags or the fallback marker replaced the placeholder.
    assert!(!page.contains("<!-- charting library -->"));
    assert!(
        page.contains("/assets/uplot.js")
            || page.contains("name=\"saddle-charts\" content=\"svg\"")
    );
    app.stop().await;
}

#[tokio::test]
async fn every_asset_the_page_names_is_served_with_its_type() {
    let app = TestApp::spawn().await;
    let page = app.get("/").await.text().await.unwrap();
    let mut names: Vec<&str> = page
        .split("/assets/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    names.extend([
        "jobs.js",
        "job.js",
        "new-job.js",
        "sweeps.js",
        "charts.js",
        "contour.js",
        "api.js",
    ]);
    for name in names {
        let response = app.get(&format!("/assets/{name}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let expected = match name.rsplit('.').next() {
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            _ => "image/svg+xml",
        };
        assert_eq!(header(&response, "content-type"), expected, "{name}");
        assert!(
            !response.bytes().await.unwrap().is_empty(),
            "{name} is empty"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_assets_and_routes_are_still_problem_404s() {
    let app = TestApp::spawn().await;
    let body = assert_problem(app.get("/assets/nope.js").await, StatusCode::NOT_FOUND).await;
    assert!(body["detail"].as_str().unwrap().contains("nope.js"));
    assert_problem(app.get("/no/such/route").await, StatusCode::NOT_FOUND).await;
    assert_eq!(app.get("/docs").await.status(), StatusCode::OK);
    let spec: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let paths = spec["paths"].as_object().unwrap();
    assert!(
        paths
            .keys()
            .all(|p| p.starts_with("/v1/") || p == "/healthz" || p == "/metrics"),
        "{:?}",
        paths.keys()
    );
    app.stop().await;
}
