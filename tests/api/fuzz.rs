//! JSON inputs fuzzed with proptest: arbitrary JSON values, and valid bodies with one member
//! replaced by an arbitrary value, posted to every endpoint that takes a JSON body. The server
//! never answers 5xx, and every 4xx is a problem document.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};

use crate::helpers::{content_type, TestApp};

/// The endpoints that take a JSON body, each with a valid body to mutate.
fn endpoints() -> Vec<(&'static str, Value)> {
    vec![
        (
            "/v1/jobs",
            json!({"problem": {"kind": "builtin", "name": "rosenbrock"}, "initial": [-1.5, 2.0],
                   "optimizer": {"name": "adam", "lr": 0.05}, "stop": {"max_steps": 20},
                   "record": {"params": true, "every": 1}, "name": "fuzz", "tags": ["fuzz"]}),
        ),
        (
            "/v1/evaluate",
            json!({"problem": {"kind": "expression", "expression": "(1 - x)^2 + 100*(y - x^2)^2"},
                   "point": {"x": -1.5, "y": 2}, "hessian": true}),
        ),
        (
            "/v1/sweeps",
            json!({"problem": {"kind": "builtin", "name": "rosenbrock"}, "initial": [-1.5, 2.0],
                   "optimizers": [{"name": "sgd", "momentum": 0.9}, {"name": "adam"}],
                   "lrs": [0.001, 0.01], "stop": {"max_steps": 20}, "target_loss": 0.0001}),
        ),
        (
            "/v1/datasets",
            json!({"name": "xor", "features": [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]],
                   "targets": [0.0, 1.0, 1.0, 0.0]}),
        ),
    ]
}

/// Any JSON value, with the numbers and strings that break parsers most often.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![
            any::<f64>(),
            Just(f64::MAX),
            Just(-f64::MAX),
            Just(f64::MIN_POSITIVE),
            Just(5e-324),
            Just(0.0)
        ]
        .prop_map(Value::from),
        prop_oneof![
            ".{0,12}",
            Just("adam".to_string()),
            Just("expression".to_string()),
            Just("x^".to_string()),
            Just("NaN".to_string()),
            Just("Infinity".to_string())
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    ".{0,6}",
                    Just("name".to_string()),
                    Just("kind".to_string()),
                    Just("lr".to_string())
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Replaces the member of `body` at `path` (object members and array items chosen by index
/// modulo their count; the path ends early at a scalar) by `value`.
fn replace_member(body: &mut Value, path: &[usize], value: Value) {
    let count = match body {
        Value::Object(members) => members.len(),
        Value::Array(items) => items.len(),
        _ => 0,
    };
    let Some((&choice, rest)) = path.split_first().filter(|_| count > 0) else {
        *body = value;
        return;
    };
    let child = match body {
        Value::Object(members) => members.values_mut().nth(choice % count).unwrap(),
        Value::Array(items) => &mut items[choice % count],
        _ => unreachable!("only containers have members"),
    };
    replace_member(child, rest, value);
}

fn assert_clean_answer(path: &str, body: &Value, status: u16, content_type: &str) {
    assert!(status < 500, "{path} answered {status} to {body}");
    if status >= 400 {
        assert_eq!(
            content_type, "application/problem+json",
            "{path} answered {status} without a problem document to {body}"
        );
    }
}

/// Cases per endpoint and kind (arbitrary, mutated): 3 200 requests, about 8 s in a debug build.
const CASES: u32 = 400;

#[test]
fn arbitrary_and_mutated_json_bodies_never_get_a_5xx_and_4xx_are_problems() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(TestApp::spawn_with(|c| {
        // Accepted bodies make small jobs, so the fuzzing stays fast.
        c.max_steps_limit = 200;
        c.max_params = 10_000;
        c.max_dataset_rows = 10_000;
    }));
    let sent = std::sync::atomic::AtomicUsize::new(0);
    let post = |path: &'static str, body: &Value| {
        sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        runtime.block_on(async {
            let response = app.post_json(path, body).await;
            (response.status().as_u16(), content_type(&response))
        })
    };
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    for (path, valid) in endpoints() {
        TestRunner::new(config.clone())
            .run(&any_json(), |body| {
                let (status, content_type) = post(path, &body);
                assert_clean_answer(path, &body, status, &content_type);
                Ok(())
            })
            .unwrap();
        let mutation = (proptest::collection::vec(any::<usize>(), 1..4), any_json());
        TestRunner::new(config.clone())
            .run(&mutation, |(member, value)| {
                let mut body = valid.clone();
                replace_member(&mut body, &member, value);
                let (status, content_type) = post(path, &body);
                assert_clean_answer(path, &body, status, &content_type);
                Ok(())
            })
            .unwrap();
    }
    // proptest may stop early only by failing; every case reached the server.
    let sent = sent.into_inner();
    assert!(
        sent >= 2 * CASES as usize * endpoints().len(),
        "{sent} requests"
    );
    runtime.block_on(app.stop());
}
