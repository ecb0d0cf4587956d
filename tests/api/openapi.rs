//! The committed spec is what the code generates.

use serde_json::Value;

use crate::helpers::TestApp;

const REGENERATE: &str = "cargo run --quiet -- openapi > openapi/openapi.json";

#[test]
fn the_committed_openapi_spec_is_up_to_date() {
    let generated = saddle::http::openapi_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is stale; regenerate it with `{REGENERATE}` and commit it"
    );
}

#[test]
fn every_operation_has_a_summary_and_every_schema_an_example() {
    let spec: Value = serde_json::from_str(&saddle::http::openapi_json()).unwrap();
    assert_eq!(
        spec["openapi"].as_str().unwrap().split('.').next(),
        Some("3")
    );
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let summary = op["summary"].as_str().unwrap_or_default();
            assert!(!summary.is_empty(), "{method} {path} has no summary");
            for (status, response) in op["responses"].as_object().unwrap() {
                // A shared response is a reference into components.responses.
                let response = match response["$ref"].as_str() {
                    Some(reference) => {
                        let name = reference.trim_start_matches("#/components/responses/");
                        &spec["components"]["responses"][name]
                    }
                    None => response,
                };
                if status.starts_with('4') || status.starts_with('5') {
                    let content = &response["content"]["application/problem+json"];
                    assert!(
                        content.is_object(),
                        "{method} {path} {status} is not problem+json"
                    );
                    assert!(
                        content.get("example").is_some(),
                        "{method} {path} {status} has no example"
                    );
                }
            }
        }
    }
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        let has_example = schema.get("example").is_some() || schema.get("examples").is_some();
        let is_enum = schema.get("enum").is_some();
        let variant_examples = schema
            .get("oneOf")
            .and_then(Value::as_array)
            .is_some_and(|v| !v.is_empty());
        assert!(
            has_example || is_enum || variant_examples,
            "schema {name} has no example"
        );
    }
}

#[tokio::test]
async fn the_server_serves_the_same_spec() {
    let app = TestApp::spawn().await;
    let served: Value = app.get("/openapi.json").await.json().await.unwrap();
    let generated: Value = serde_json::from_str(&saddle::http::openapi_json()).unwrap();
    assert_eq!(served, generated);
    app.stop().await;
}
