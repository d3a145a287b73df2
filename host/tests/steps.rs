//! The integration step's durability: a host killed (SIGKILL) while a step's function runs,
//! then restarted on the same state directory, still delivers the callback.

#![allow(clippy::unwrap_used, reason = "tests unwrap freely")]

use std::path::Path;
use std::process::{Command, Stdio};

use integration_tests::Running;
use integration_tests::receiver::Receiver;

const TOKEN: &str = "steps-restart-token";

fn host(plugins: &Path, state: &Path, port: u16) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_extension-host"))
        .args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .arg("--plugins")
        .arg(plugins)
        .arg("--state-dir")
        .arg(state)
        .arg("--no-cache")
        .env("SYSTEM_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Running(child)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_killed_while_a_step_runs_delivers_its_callback_after_a_restart() {
    let receiver = Receiver::start(0).await;
    let work = tempfile::tempdir().unwrap();
    let plugins = work.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(
        integration_tests::TEST_PROBE_WASM,
        plugins.join("probe.wasm"),
    )
    .unwrap();
    std::fs::write(
        plugins.join("probe.toml"),
        format!(
            "[steps]\ncallback_hosts = [\"http://localhost:{}\"]\nanswer_budget_ms = 200\n",
            receiver.port()
        ),
    )
    .unwrap();
    let state = work.path().join("state");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let mut first = host(&plugins, &state, port);
    integration_tests::wait_ready(port).await;
    let head = format!(
        "POST /steps/probe/step HTTP/1.1\r\nX-Response-URL: {}",
        receiver.url()
    );
    // Long enough that the kill lands while the function runs (within its 30 s deadline).
    let (status, body) = integration_tests::http_once(
        port,
        &head,
        TOKEN,
        r#"{"sleepMs": 20000, "marker": "survives"}"#,
    )
    .await
    .unwrap();
    assert_eq!(status, 202, "{body}");
    let job: serde_json::Value = serde_json::from_str(&body).unwrap();
    let job = job["jobId"].as_str().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-KILL", &first.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    first.0.wait().unwrap();
    assert!(receiver.received().is_empty());

    // The restarted host finds the job running, runs it again (the same envelope: it sleeps
    // its 20 s again), and delivers the outcome under the same job id.
    let _second = host(&plugins, &state, port);
    integration_tests::wait_ready(port).await;
    let callbacks = receiver.wait_for(1).await;
    assert_eq!(callbacks[0].headers["idempotency-key"], job);
    let result: serde_json::Value = serde_json::from_str(&callbacks[0].body).unwrap();
    assert_eq!(result["received"]["marker"], "survives");
}
