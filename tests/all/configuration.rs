//! What the plugins directory holds: diy or connectors (exclusive), and modules that must be
//! refused without harming the others.

use integration_tests::{CONNECTOR_EXAMPLE_WASM, DIY_EXAMPLE_WASM, FLAT_EXAMPLE_WASM, TestServer};
use serde_json::json;

use crate::eqjson;

const CONNECTOR_ID: &str = "5a1b2c3d4e5f60718293a4b5";

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn connectors_are_served_by_id() {
    let file = format!("{CONNECTOR_ID}.wasm");
    let server = TestServer::start(&[
        (&file, CONNECTOR_EXAMPLE_WASM),
        ("other.wasm", FLAT_EXAMPLE_WASM),
        ("12.wasm", FLAT_EXAMPLE_WASM),
    ])
    .await;
    let call = |ty: &str, function: &str, options: serde_json::Value| json!({"_connectorId": CONNECTOR_ID, "type": ty, "function": function, "options": options});

    let r = server
        .call(&call(
            "installer",
            "verifyConnection",
            json!({"_connectionId": "c1"}),
        ))
        .await;
    eqjson!(r.json(), json!({"success": true, "stepCompleted": true}));
    let r = server
        .call(&call("installer", "verifyConnection", json!({})))
        .await;
    assert_eq!(
        r.text,
        r#"{"errors":[{"message":"Select a connection before this step.","code":"missing_connection"}]}"#
    );
    let r = server
        .call(&call(
            "installer",
            "createFlows",
            json!({"license": {"edition": "premium"}}),
        ))
        .await;
    eqjson!(
        r.json(),
        json!({"success": true, "flowsCreated": ["orders", "customers", "inventory"]})
    );
    let r = server
        .call(&call("uninstaller", "removeFlows", json!({"resource": {}})))
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    let r = server
        .call(&call(
            "setting",
            "persistSettings",
            json!({"pending": {"a": 1, "b": "x"}}),
        ))
        .await;
    eqjson!(r.json(), json!({"success": true, "saved": 2}));
    let r = server
        .call(&call(
            "setting",
            "persistSettings",
            json!({"pending": {"a": null}}),
        ))
        .await;
    assert_eq!(r.json()["errors"][0]["code"], "invalid_setting");
    let r = server
        .call(&call(
            "setting",
            "refreshMetadata",
            json!({"fieldId": "region"}),
        ))
        .await;
    assert_eq!(r.json()["fieldId"], "region");

    // The other connector is a different module.
    let r = server
        .call(&json!({"_connectorId": "other", "function": "greet", "options": {}}))
        .await;
    eqjson!(r.json(), json!({"greeting": "Hello, world!"}));
    // A numeric _connectorId is looked up as its string form, as JavaScript property keys are.
    let r = server
        .call(&json!({"_connectorId": 12, "function": "greet", "options": {}}))
        .await;
    eqjson!(r.json(), json!({"greeting": "Hello, world!"}));
    let r = server
        .call(&json!({"_connectorId": 13, "function": "greet", "options": {}}))
        .await;
    assert_eq!(r.json()["errors"][0]["code"], "invalid_field");
    // No diy module here.
    let r = server
        .call(&json!({"diy": true, "function": "greet", "options": {}}))
        .await;
    assert_eq!(
        r.json()["errors"][0]["message"],
        "DIY is not configured in the extension configuration."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn diy_and_connectors_are_exclusive() {
    let file = format!("{CONNECTOR_ID}.wasm");
    let server = TestServer::start(&[
        ("diy.wasm", DIY_EXAMPLE_WASM),
        (&file, CONNECTOR_EXAMPLE_WASM),
    ])
    .await;
    let r = server
        .call(&json!({"diy": true, "type": "utility", "function": "summarize", "options": {}}))
        .await;
    assert_eq!(r.status, 200);
    let r = server
        .call(&json!({"_connectorId": CONNECTOR_ID, "type": "setting", "function": "persistSettings", "options": {}}))
        .await;
    assert_eq!(
        r.json()["errors"][0]["code"],
        "invalid_field",
        "the connector was refused: diy.wasm is present"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_modules_are_refused_and_the_rest_keep_serving() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(FLAT_EXAMPLE_WASM, dir.path().join("good.wasm")).unwrap();
    std::fs::write(dir.path().join("garbage.wasm"), b"this is not wasm").unwrap();
    // A valid core module (not a component).
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    // A valid, empty component: it lacks the manifest and every other export.
    std::fs::write(dir.path().join("empty.wasm"), b"\0asm\x0d\0\x01\0").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
    let server = TestServer::start_in(dir, |_| {}).await;

    for id in ["garbage", "core", "empty", "notes"] {
        let r = server
            .call(&json!({"_connectorId": id, "function": "greet", "options": {}}))
            .await;
        assert_eq!(r.status, 422, "{id}");
        assert_eq!(r.json()["errors"][0]["code"], "invalid_field", "{id}");
    }
    let r = server
        .call(&json!({"_connectorId": "good", "function": "greet", "options": {"name": "still"}}))
        .await;
    eqjson!(r.json(), json!({"greeting": "Hello, still!"}));
}

/// `--guest-profiler perfmap` names each guest function in `/tmp/perf-<pid>.map` (the file
/// `perf report` reads for the process), for modules served from the compile cache too.
#[tokio::test(flavor = "multi_thread")]
async fn the_perfmap_guest_profiler_names_guest_functions_for_perf() {
    let server = TestServer::start_with(&[("diy.wasm", DIY_EXAMPLE_WASM)], |config| {
        config.guest_profiler = host::runtime::engine::GuestProfiler::PerfMap;
    })
    .await;
    let r = server
        .call(&json!({"diy": true, "type": "utility", "function": "summarize", "options": {}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let map = std::fs::read_to_string(format!("/tmp/perf-{}.map", std::process::id()))
        .expect("the perf map of this process");
    // Each line is `<address> <size> <name>`, as perf's jit-interface documents.
    let names: Vec<&str> = map
        .lines()
        .filter_map(|line| line.splitn(3, ' ').nth(2))
        .collect();
    assert!(
        names
            .iter()
            .any(|name| name.contains("integrator:extension/hooks@0.1.0#pre-map")),
        "the guest's exports are named: {:?}",
        &names[..names.len().min(20)]
    );
    assert!(
        names.iter().any(|name| name.contains("extension_sdk::")),
        "the guest's own Rust functions are named"
    );
    server.stop().await.unwrap();
}

#[test]
fn an_unknown_guest_profiler_is_refused_with_the_accepted_names() {
    use clap::Parser as _;
    let parsed = host::config::Cli::try_parse_from([
        "extension-host",
        "serve",
        "--system-token",
        "t",
        "--guest-profiler",
        "vtune",
    ]);
    let err = parsed.expect_err("vtune is not offered").to_string();
    assert!(
        err.contains("unknown guest profiler `vtune` (expected `perfmap` or `off`)"),
        "{err}"
    );
}
