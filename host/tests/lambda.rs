//! `extension-host lambda` driven through a local implementation of the Lambda Runtime API
//! (next invocation, response, error), replaying lambda-integrator-extension's own cases:
//! validation errors, the response size limit, a large request, a null payload.

#![allow(clippy::unwrap_used, reason = "tests unwrap freely")]

use integration_tests::Running;
use integration_tests::lambda_api::{Outcome, RuntimeApi};
use serde_json::{Value, json};

/// The host binary as a Lambda function on `plugins`, polling `api`.
fn function(api: &RuntimeApi, plugins: &std::path::Path) -> Running {
    let child = api
        .environment(&mut std::process::Command::new(env!(
            "CARGO_BIN_EXE_extension-host"
        )))
        .args(["lambda", "--no-cache", "--plugins"])
        .arg(plugins)
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    Running(child)
}

fn plugins(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, wasm) in files {
        std::fs::copy(wasm, dir.path().join(name)).unwrap();
    }
    dir
}

/// The error payload's `errorMessage`, parsed: `{statusCode, errors}`.
fn error_message(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Error(body) => {
            serde_json::from_str(body["errorMessage"].as_str().unwrap()).unwrap()
        }
        other => panic!("expected a function error, got {other:?}"),
    }
}

fn errors(code: &str, message: &str) -> Value {
    json!({"statusCode": 422, "errors": [{"code": code, "message": message}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn lambda_answers_as_lambda_integrator_extension_through_the_runtime_api() {
    let api = RuntimeApi::start().await;
    let dir = plugins(&[("diy.wasm", integration_tests::TEST_PROBE_WASM)]);
    let _function = function(&api, dir.path());
    let echo = |options: Value| {
        (
            json!({"diy": true, "type": "utility", "function": "echo"}),
            options,
        )
    };

    // Success: the function's result is the payload.
    let (properties, options) = echo(json!({"key1": ["abc"], "bearerToken": "ott"}));
    match api.invoke(&properties, &options.to_string()).await {
        Outcome::Response(value) => assert_eq!(value, options),
        other => panic!("expected a response, got {other:?}"),
    }

    // Validation errors, as the original words them.
    let options = json!({"key1": ["abc"], "_importId": "56eae39e9a016a71a8a9c7e4"}).to_string();
    let outcome = api
        .invoke(&json!({"diy": true, "type": "hook"}), &options)
        .await;
    assert_eq!(
        error_message(outcome),
        errors(
            "missing_required_field",
            "Missing required field function in the extension options."
        )
    );
    let outcome = api
        .invoke(
            &json!({"type": "hook", "function": "doSomething"}),
            &options,
        )
        .await;
    assert_eq!(
        error_message(outcome),
        errors(
            "missing_required_field",
            "Need to set either the diy or _connectorId field in extension options."
        )
    );
    let outcome = api
        .invoke(
            &json!({"diy": true, "function": "doSomething", "type": "hook"}),
            "null",
        )
        .await;
    assert_eq!(
        error_message(outcome),
        errors(
            "missing_required_field",
            "Function options haven't been provided."
        )
    );

    // The response size limit, counted as the original counts it.
    let (mut properties, options) = echo(json!({"resp": ["abc", "abc"]}));
    properties["maxResponseSize"] = json!(2);
    let outcome = api.invoke(&properties, &options.to_string()).await;
    assert_eq!(
        error_message(outcome),
        errors(
            "response_size_exceeded",
            "response stream exceeded limit of 2 bytes."
        )
    );

    // A request far larger than body-parser's default 100 kb passes.
    let (properties, options) = echo(json!({"key1": ["a".repeat(4_000_001)]}));
    match api.invoke(&properties, &options.to_string()).await {
        Outcome::Response(value) => assert_eq!(value["key1"][0].as_str().unwrap().len(), 4_000_001),
        other => panic!("expected a response, got {other:?}"),
    }

    // A function's own error keeps its code and message.
    let properties = json!({"diy": true, "type": "utility", "function": "fail"});
    let outcome = api
        .invoke(&properties, r#"{"code": 5, "message": "five"}"#)
        .await;
    assert_eq!(
        error_message(outcome),
        json!({"statusCode": 422, "errors": [{"message": "five", "code": 5}]})
    );
    assert!(api.api.init_errors().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn lambda_without_a_diy_module_refuses_diy_calls_and_serves_connectors() {
    let api = RuntimeApi::start().await;
    let dir = plugins(&[("connector1.wasm", integration_tests::TEST_PROBE_WASM)]);
    let _function = function(&api, dir.path());
    let outcome = api
        .invoke(
            &json!({"type": "hook", "diy": true, "function": "doSomething"}),
            "{}",
        )
        .await;
    assert_eq!(
        error_message(outcome),
        errors(
            "missing_required_field",
            "DIY is not configured in the extension configuration."
        )
    );
    let properties = json!({"_connectorId": "connector1", "type": "utility", "function": "echo"});
    match api.invoke(&properties, r#"{"a":1}"#).await {
        Outcome::Response(value) => assert_eq!(value, json!({"a": 1})),
        other => panic!("expected a response, got {other:?}"),
    }
}

/// Extracts `zip` into `dir`, keeping each entry's Unix mode (the bootstrap is executable).
fn unzip(zip: &std::path::Path, dir: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let path = dir.join(entry.enclosed_name().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut out = std::fs::File::create(&path).unwrap();
        std::io::copy(&mut entry, &mut out).unwrap();
        if let Some(mode) = entry.unix_mode() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        names.push(entry.name().unwrap().to_string());
    }
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn the_packaged_zip_bootstrap_serves_with_its_precompiled_code_through_the_runtime_api() {
    let work = tempfile::tempdir().unwrap();
    let source = plugins(&[
        ("connector1.wasm", integration_tests::TEST_PROBE_WASM),
        ("connector2.wasm", integration_tests::FLAT_EXAMPLE_WASM),
    ]);
    std::fs::write(
        source.path().join("connector1.toml"),
        "[limits]\ntimeout_ms = 20000\n",
    )
    .unwrap();
    let config = work.path().join("host.toml");
    std::fs::write(&config, "[limits]\nmax_memory_bytes = 134217728\n").unwrap();
    let zip = work.path().join("function.zip");
    let packaged = std::process::Command::new(env!("CARGO_BIN_EXE_extension-host"))
        .args(["package-lambda", "--plugins"])
        .arg(source.path())
        .arg("-o")
        .arg(&zip)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        packaged.status.success(),
        "{}",
        String::from_utf8_lossy(&packaged.stderr)
    );

    // The task root as Lambda unpacks it; the bootstrap runs with no arguments, from there.
    let root = work.path().join("task");
    let names = unzip(&zip, &root);
    assert_eq!(names[0], "bootstrap");
    for expected in [
        "extension-host.toml",
        "plugins/connector1.wasm",
        "plugins/connector1.toml",
        "plugins/connector2.wasm",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("precompiled/") && n.ends_with(".cwasm"))
            .count(),
        2
    );

    let api = RuntimeApi::start().await;
    let log = work.path().join("bootstrap.log");
    let child = api
        .environment(&mut std::process::Command::new(root.join("bootstrap")))
        .current_dir(&root)
        .env("RUST_LOG", "info")
        // No writable cache: everything it runs must come from the zip.
        .env("NO_CACHE", "1")
        .stdout(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _function = Running(child);
    let properties = json!({"_connectorId": "connector1", "type": "utility", "function": "echo"});
    match api.invoke(&properties, r#"{"a":1}"#).await {
        Outcome::Response(value) => assert_eq!(value, json!({"a": 1})),
        other => panic!("expected a response, got {other:?}"),
    }
    let properties = json!({"_connectorId": "connector2", "function": "greet"});
    match api.invoke(&properties, r#"{"name":"zip"}"#).await {
        Outcome::Response(value) => assert_eq!(value, json!({"greeting": "Hello, zip!"})),
        other => panic!("expected a response, got {other:?}"),
    }
    let log = std::fs::read_to_string(&log).unwrap();
    let loaded: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("loaded plugin"))
        .collect();
    assert_eq!(loaded.len(), 2, "{log}");
    assert!(loaded.iter().all(|l| l.contains("Precompiled")), "{log}");
    assert!(api.api.init_errors().is_empty());
}
