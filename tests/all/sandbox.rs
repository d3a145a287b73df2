//! Guests that crash are contained with a precise error, and the server keeps serving.

use integration_tests::{FLAT_EXAMPLE_WASM, TEST_PROBE_WASM, TestServer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_guest_is_a_plugin_trap_and_the_next_call_succeeds() {
    let server = TestServer::start(&[
        ("probe.wasm", TEST_PROBE_WASM),
        ("flat.wasm", FLAT_EXAMPLE_WASM),
    ])
    .await;
    let r = server.call(&json!({"_connectorId": "probe", "type": "utility", "function": "panic", "options": {}})).await;
    assert_eq!(r.status, 422);
    let error = &r.json()["errors"][0];
    assert_eq!(error["code"], "plugin_trap");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("the probe was asked to panic"),
        "the panic message reaches the caller: {message}"
    );
    assert!(message.contains("wasm backtrace"), "{message}");

    let r = server.call(&json!({"_connectorId": "probe", "type": "utility", "function": "echo", "options": {"again": 1}})).await;
    assert_eq!((r.status, r.text.as_str()), (200, r#"{"again":1}"#));
    let r = server
        .call(&json!({"_connectorId": "flat", "function": "greet", "options": {}}))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_output_and_logs_do_not_break_the_call() {
    let server = TestServer::start(&[("diy.wasm", TEST_PROBE_WASM)]).await;
    let r = server
        .call(&json!({"diy": true, "type": "utility", "function": "chatty", "options": {}}))
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, r#""logged""#));
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_drains_and_stops() {
    let server = TestServer::start(&[("diy.wasm", TEST_PROBE_WASM)]).await;
    let r = server
        .call(&json!({"diy": true, "type": "utility", "function": "echo", "options": {}}))
        .await;
    assert_eq!(r.status, 200);
    server.stop().await.expect("the server stops cleanly");
}
