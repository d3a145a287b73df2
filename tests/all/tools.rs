//! The author's commands without a server: `call` answers what the server answers for the same
//! envelope (status and body, byte for byte), under the same settings; `inspect` lists what
//! `GET /plugins` lists.

use clap::Parser as _;
use host::config::{Cli, Command};
use integration_tests::{JS_DIY_EXAMPLE_WASM, TEST_HOSTILE_WASM, TestServer};
use serde_json::{Value, json};

/// `extension-host <args…>` as the command line parses it.
fn command(args: &[&str]) -> Command {
    Cli::try_parse_from(std::iter::once("extension-host").chain(args.iter().copied()))
        .unwrap()
        .command
}

/// What `extension-host call` answers for `module`, `function`, `group` and `options`.
async fn call(
    module: &str,
    function: &str,
    group: Option<&str>,
    options: &Value,
    extra: &[&str],
) -> (u16, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), options.to_string()).unwrap();
    let mut args = vec![
        "call",
        module,
        function,
        "--options",
        file.path().to_str().unwrap(),
    ];
    if let Some(group) = group {
        args.extend(["--type", group]);
    }
    args.extend(extra);
    let Command::Call(args) = command(&args) else {
        unreachable!()
    };
    let answer = host::tools::call(&args, &host::tools::FuelMeter::default())
        .await
        .unwrap();
    (answer.status.as_u16(), answer.body)
}

#[tokio::test(flavor = "multi_thread")]
async fn call_answers_what_the_server_answers_for_the_same_envelope() {
    let server = TestServer::start(&[("diy.wasm", JS_DIY_EXAMPLE_WASM)]).await;
    let cases = [
        (
            "preMapPhones",
            Some("hook"),
            json!({"data": [{"phone": "(555) 010-0199"}, {"phone": "12"}]}),
        ),
        ("failWithCode", Some("hook"), json!({})),
        ("notSerializable", Some("hook"), json!({})),
        ("preMapPhones", Some("hook"), json!({"data": "not a list"})),
        ("noSuchFunction", Some("hook"), json!({})),
        ("preMapPhones", None, json!({"data": []})),
        ("readConfigFile", Some("utility"), json!({})),
    ];
    for (function, group, options) in cases {
        let mut envelope = json!({"diy": true, "function": function, "options": options});
        if let Some(group) = group {
            envelope["type"] = group.into();
        }
        let served = server.call(&envelope).await;
        let called = call(JS_DIY_EXAMPLE_WASM, function, group, &options, &[]).await;
        assert_eq!(called, (served.status, served.text), "{function} {options}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn call_applies_the_settings_file_and_limit_flags() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("hostile.toml");
    std::fs::write(
        &settings,
        "[limits]\ntimeout_ms = 300\nfuel = 1_000_000_000_000\n",
    )
    .unwrap();
    let (status, body) = call(
        TEST_HOSTILE_WASM,
        "spin",
        Some("utility"),
        &json!({}),
        &["--settings", settings.to_str().unwrap()],
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["errors"][0]["code"],
        "timeout"
    );
    assert!(body.contains("300 ms"), "{body}");

    let (status, body) = call(
        TEST_HOSTILE_WASM,
        "spin",
        Some("utility"),
        &json!({}),
        &["--fuel", "1000000"],
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["errors"][0]["code"],
        "fuel_exhausted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_lists_the_functions_get_plugins_lists() {
    let server = TestServer::start(&[("diy.wasm", JS_DIY_EXAMPLE_WASM)]).await;
    let served = server.listing().await["plugins"][0]["functions"].clone();
    let Command::Inspect(args) = command(&["inspect", JS_DIY_EXAMPLE_WASM]) else {
        unreachable!()
    };
    let inspected = host::tools::inspect(&args).await.unwrap();
    assert_eq!(inspected["functions"], served);
    assert!(
        served.as_array().unwrap().iter().any(|f| f == &json!({"name": "preMapPhones", "group": "hooks", "kind": "preMap", "boundary": "json"})),
        "{served}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_is_not_a_plugin_is_refused_with_the_reason() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"not wasm").unwrap();
    let Command::Inspect(args) = command(&["inspect", file.path().to_str().unwrap()]) else {
        unreachable!()
    };
    let err = host::tools::inspect(&args).await.unwrap_err().to_string();
    assert!(err.contains("cannot be served"), "{err}");
}

/// `new`, then `build`, then `call` a project of `lang` in a temporary directory outside the
/// repository; the answer is the scaffold's own `test/expected.json`.
async fn scaffold_build_and_call(lang: &str) -> tempfile::TempDir {
    let outside = tempfile::tempdir().unwrap();
    let project = outside.path().join(format!("my-{lang}-plugin"));
    let project_arg = project.to_str().unwrap();
    let Command::New(args) = command(&["new", project_arg, "--lang", lang]) else {
        unreachable!()
    };
    host::tools::scaffold::new(&args).unwrap();
    let wasm = project.join("plugin.wasm");
    // Rust: the guest workspace's target directory, so dependencies compile once.
    let target_dir = integration_tests::workspace_path("target/guests");
    let Command::Build(args) = command(&[
        "build",
        project_arg,
        "-o",
        wasm.to_str().unwrap(),
        "--target-dir",
        target_dir.to_str().unwrap(),
    ]) else {
        unreachable!()
    };
    let listing = host::tools::build::build(&args).await.unwrap();
    assert_eq!(
        listing["functions"][0],
        json!({"name": "preMapUpper", "group": "hooks", "kind": "preMap", "boundary": if lang == "rust" { "typed" } else { "json" }})
    );
    let options: Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("test/options.json")).unwrap())
            .unwrap();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("test/expected.json")).unwrap())
            .unwrap();
    let (status, body) = call(
        wasm.to_str().unwrap(),
        "preMapUpper",
        Some("hook"),
        &options,
        &[],
    )
    .await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (200, expected)
    );
    outside
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_rust_plugin_builds_outside_the_repo_and_answers_its_expected_result() {
    scaffold_build_and_call("rust").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_javascript_plugin_builds_and_passes_its_node_test() {
    let outside = scaffold_build_and_call("js").await;
    let status = std::process::Command::new("node")
        .args(["--test", "test/"])
        .current_dir(outside.path().join("my-js-plugin"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_python_plugin_builds_and_passes_its_unittest() {
    let outside = scaffold_build_and_call("python").await;
    let status = std::process::Command::new("python3")
        .args(["-m", "unittest", "-q"])
        .current_dir(outside.path().join("my-python-plugin"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn build_refuses_a_project_that_is_not_a_plugin_and_leaves_no_output() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("functions.js"), "exports.hooks = { x: 1 }\nexports.hooks.bad = function () {}\nexports.hooks.bad.kind = 'preMapp'\n").unwrap();
    let wasm = outside.path().join("out.wasm");
    let Command::Build(args) = command(&[
        "build",
        outside.path().to_str().unwrap(),
        "-o",
        wasm.to_str().unwrap(),
    ]) else {
        unreachable!()
    };
    let err = host::tools::build::build(&args)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("preMapp"), "{err}");
    assert!(!wasm.exists());
}
