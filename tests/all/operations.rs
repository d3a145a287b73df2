//! What operators rely on. A host listens before its modules have loaded: a call to a module still loading waits for
//! it (bounded by the load wait) or answers `503 plugin_loading`; `/readyz` reports ready once
//! every module found at start has loaded or failed, `/livez` all along.

use integration_tests::{TEST_PROBE_WASM, TestServer};
use serde_json::json;

fn probe_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(TEST_PROBE_WASM, dir.path().join("probe.wasm")).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_to_a_module_still_loading_answers_503_plugin_loading_after_the_load_wait() {
    let (server, state) = TestServer::listen_in(probe_dir(), |c| {
        c.load_wait = std::time::Duration::from_millis(50);
    })
    .await;
    let body = json!({"_connectorId": "probe", "function": "whoami", "options": {}});

    let r = server.call(&body).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.headers["retry-after"], "2");
    assert_eq!(
        r.json(),
        json!({"errors": [{
            "message": "The module serving probe is still loading (compiling after a start or a change); try again shortly.",
            "code": "plugin_loading",
        }]})
    );
    // Listening and alive, not ready; the listing says what is loading.
    assert_eq!(server.get("/livez").await.status, 200);
    let ready = server.get("/readyz").await;
    assert_eq!(
        (ready.status, ready.text.as_str()),
        (503, "Loading: 1 modules still loading")
    );
    assert_eq!(server.listing().await["loading"], json!(["probe"]));
    // An id that is not in the directory is unknown at once, as before.
    let r = server
        .call(&json!({"_connectorId": "nobody", "function": "whoami", "options": {}}))
        .await;
    assert_eq!(
        (r.status, r.json()["errors"][0]["code"].as_str()),
        (422, Some("invalid_field"))
    );

    let _loading = state.registry.start();
    server.wait_ready().await;
    let r = server.call(&body).await;
    assert_eq!((r.status, r.text.as_str()), (200, r#""probe""#));
    assert_eq!(server.listing().await["loading"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_that_arrives_while_its_module_loads_waits_for_it_and_is_answered() {
    let (server, state) = TestServer::listen_in(probe_dir(), |_| {}).await;
    let body = json!({"_connectorId": "probe", "function": "whoami", "options": {}});
    let server = std::sync::Arc::new(server);
    let call = tokio::spawn({
        let server = server.clone();
        async move { server.call(&body).await }
    });
    // Its connection is open before the module starts loading; it is answered once it loads.
    integration_tests::eventually("the call is waiting", || async {
        state.registry.current().loading.contains("probe") && state.connections.get() >= 1
    })
    .await;
    let _loading = state.registry.start();
    let r = call.await.unwrap();
    assert_eq!((r.status, r.text.as_str()), (200, r#""probe""#));
}

/// The value of the series `name{labels}` in a Prometheus text exposition.
fn series(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_calls_by_connector_function_and_outcome_with_bounded_labels() {
    let server = TestServer::start_in(probe_dir(), |_| {}).await;
    let call = |function: &str, options: serde_json::Value| json!({"_connectorId": "probe", "type": "utility", "function": function, "options": options});
    for _ in 0..2 {
        assert_eq!(
            server.call(&call("echo", json!({"a": 1}))).await.status,
            200
        );
    }
    let failed = server
        .call(&call("fail", json!({"code": "E1", "message": "no"})))
        .await;
    assert_eq!(failed.status, 422);
    // A name the request makes up never becomes a label.
    let unknown = server.call(&call("madeUpByTheCaller", json!({}))).await;
    assert_eq!(unknown.json()["errors"][0]["code"], "invalid_function");

    // Scraped from loopback without a token, as a sidecar would.
    let scraped = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert_eq!(
        scraped.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = scraped.text().await.unwrap();
    let calls = |labels: &str| series(&text, &format!("extension_host_calls_total{{{labels}}}"));
    assert_eq!(
        calls(r#"connector="probe",function="echo",outcome="ok""#),
        Some(2.0)
    );
    assert_eq!(
        calls(r#"connector="probe",function="fail",outcome="function_error""#),
        Some(1.0)
    );
    assert_eq!(
        calls(r#"connector="",function="",outcome="invalid_function""#),
        Some(1.0)
    );
    assert!(!text.contains("madeUpByTheCaller"), "{text}");
    assert!(
        !text.contains("E1"),
        "a function's own code is not a label: {text}"
    );
    let histogram = |name: &str| {
        series(
            &text,
            &format!("extension_host_{name}_count{{connector=\"probe\"}}"),
        )
    };
    assert_eq!(histogram("call_duration_seconds"), Some(3.0));
    assert_eq!(histogram("call_fuel"), Some(3.0));
    for (name, value) in [
        ("modules_loaded", 1.0),
        ("modules_loading", 0.0),
        ("modules_failed", 0.0),
        ("ready", 1.0),
        ("instances_in_use", 0.0),
    ] {
        assert_eq!(
            series(&text, &format!("extension_host_{name}")),
            Some(value),
            "{name}"
        );
    }
    assert_eq!(
        series(&text, r#"extension_host_calls_queued{connector="probe"}"#),
        Some(0.0)
    );
    assert_eq!(
        series(
            &text,
            r#"extension_host_outbound_requests_total{connector="probe",outcome="sent"}"#
        ),
        Some(0.0)
    );
}
