//! The integration step's durability: a host killed (SIGKILL) while a step's function runs,
//! then restarted on the same state directory, still delivers the callback.

#![allow(clippy::unwrap_used, reason = "tests unwrap freely")]

use std::path::Path;
use std::process::{Command, Stdio};

use integration_tests::Running;
use integration_tests::receiver::Receiver;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

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

/// One request on a fresh connection: (status, body).
async fn http(port: u16, head: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!(
        "{head}\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    Some((status, answer.split_once("\r\n\r\n")?.1.to_string()))
}

async fn wait_ready(port: u16) {
    integration_tests::eventually("the host is ready", || async {
        http(port, "GET /readyz HTTP/1.1", "")
            .await
            .is_some_and(|(s, _)| s == 200)
    })
    .await;
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
    wait_ready(port).await;
    let head = format!(
        "POST /steps/probe/step HTTP/1.1\r\nX-Response-URL: {}",
        receiver.url()
    );
    // Long enough that the kill lands while the function runs (within its 30 s deadline).
    let (status, body) = http(port, &head, r#"{"sleepMs": 20000, "marker": "survives"}"#)
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
    wait_ready(port).await;
    let callbacks = receiver.wait_for(1).await;
    assert_eq!(callbacks[0].headers["idempotency-key"], job);
    let result: serde_json::Value = serde_json::from_str(&callbacks[0].body).unwrap();
    assert_eq!(result["received"]["marker"], "survives");
}
