//! The step history: pages, thinning, CSV and NDJSON.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::TestApp;

async fn finished_job(app: &TestApp, steps: u64) -> String {
    let mut spec = json!({
        "problem": {"kind": "builtin", "name": "rosenbrock"},
        "initial": [-1.5, 2.0],
        "optimizer": {"name": "adam", "lr": 0.001},
        "stop": {"max_steps": steps}
    });
    spec["record"] = json!({"params": true, "every": 1});
    let job = app.submit(&spec).await;
    let id = job["id"].as_str().unwrap().to_string();
    let done = app.wait_finished(&id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded");
    id
}

#[tokio::test]
async fn paging_through_twenty_five_thousand_steps_has_no_gap_and_no_duplicate() {
    let app = TestApp::spawn().await;
    let id = finished_job(&app, 25_000).await;
    // An oversized limit is clamped to 10 000, not refused.
    let mut token: Option<String> = None;
    let mut steps = Vec::new();
    let mut pages = 0;
    loop {
        let mut path = format!("/v1/jobs/{id}/steps?limit=50000&fields=loss");
        if let Some(t) = &token {
            path.push_str(&format!("&page_token={t}"));
        }
        let page: Value = app.get(&path).await.json().await.unwrap();
        let rows = page["steps"].as_array().unwrap();
        assert!(rows.len() <= 10_000);
        assert!(rows
            .iter()
            .all(|r| r.get("params").is_none() && r.get("lr").is_none()));
        steps.extend(rows.iter().map(|r| r["step"].as_i64().unwrap()));
        pages += 1;
        match page["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(steps, (0..=25_000).collect::<Vec<i64>>());

    // after_step reads on from any position.
    let page: Value = app
        .get(&format!("/v1/jobs/{id}/steps?after_step=24998"))
        .await
        .json()
        .await
        .unwrap();
    let tail: Vec<i64> = page["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["step"].as_i64().unwrap())
        .collect();
    assert_eq!(tail, vec![24_999, 25_000]);
    assert!(page["next_page_token"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn max_points_thins_the_history_evenly_keeping_the_first_and_latest() {
    let app = TestApp::spawn().await;
    let id = finished_job(&app, 20_000).await;
    let page: Value = app
        .get(&format!("/v1/jobs/{id}/steps?max_points=101"))
        .await
        .json()
        .await
        .unwrap();
    let steps: Vec<i64> = page["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps.len(), 101);
    assert_eq!(steps, (0..=100).map(|i| i * 200).collect::<Vec<i64>>());
    assert!(page["next_page_token"].is_null());
    assert_eq!(page["steps"][0]["params"], json!([-1.5, 2.0]));

    // Fewer records than max_points: all of them.
    let small = finished_job(&app, 10).await;
    let page: Value = app
        .get(&format!("/v1/jobs/{small}/steps?max_points=500"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["steps"].as_array().unwrap().len(), 11);
    app.stop().await;
}

#[tokio::test]
async fn the_history_downloads_as_csv_and_ndjson_matching_the_json() {
    let app = TestApp::spawn().await;
    let id = finished_job(&app, 12_345).await;
    let json_steps = app.all_steps(&id, 10_000).await;

    let csv = app
        .client
        .get(app.url(&format!("/v1/jobs/{id}/steps")))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let text = csv.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "step,loss,grad_norm,lr,momentum,evaluations,param_0,param_1"
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 12_346);
    for (row, step) in rows.iter().zip(&json_steps) {
        assert_eq!(
            row[0].parse::<i64>().unwrap(),
            step["step"].as_i64().unwrap()
        );
        // Written with round-trip precision: bit-identical to the JSON.
        assert_eq!(
            row[1].parse::<f64>().unwrap(),
            step["loss"].as_f64().unwrap()
        );
        assert_eq!(
            row[6].parse::<f64>().unwrap(),
            step["params"][0].as_f64().unwrap()
        );
    }
    let by_query = app
        .get(&format!(
            "/v1/jobs/{id}/steps?format=csv&after_step=12340&fields=loss,lr"
        ))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(by_query.lines().next().unwrap(), "step,loss,lr");
    assert_eq!(by_query.lines().count(), 1 + 5);

    let ndjson = app
        .client
        .get(app.url(&format!("/v1/jobs/{id}/steps")))
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
    let text = ndjson.text().await.unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records, json_steps);
    app.stop().await;
}

#[tokio::test]
async fn a_running_job_hands_out_a_token_to_poll_for_more_steps() {
    let app = TestApp::spawn().await;
    let spec = json!({
        "problem": {"kind": "builtin", "name": "rosenbrock"},
        "initial": [-1.5, 2.0],
        "optimizer": {"name": "adam", "lr": 1e-5},
        "stop": {"max_steps": 10_000_000}
    });
    let job = app.submit(&spec).await;
    let id = job["id"].as_str().unwrap();
    let mut seen: Vec<i64> = Vec::new();
    let mut token: Option<String> = None;
    while seen.len() < 30_000 {
        let mut path = format!("/v1/jobs/{id}/steps?fields=loss&limit=10000");
        if let Some(t) = &token {
            path.push_str(&format!("&page_token={t}"));
        }
        let page: Value = app.get(&path).await.json().await.unwrap();
        seen.extend(
            page["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["step"].as_i64().unwrap()),
        );
        token = Some(
            page["next_page_token"]
                .as_str()
                .expect("running: token")
                .to_string(),
        );
    }
    assert_eq!(seen, (0..seen.len() as i64).collect::<Vec<_>>());
    app.post_json(&format!("/v1/jobs/{id}/cancel"), &json!({}))
        .await;
    app.wait_finished(id, Duration::from_secs(30)).await;
    app.stop().await;
}
