//! Tenant isolation: no tenant and no unauthenticated client can starve the others. Bounded
//! work before authentication, connection hygiene (header, body and idle timeouts, a
//! connection cap), a deadline that covers host calls, each connector's share of instances,
//! capped guest output, and the original's `/openConnections`.

use std::time::Duration;

use integration_tests::{
    FLAT_EXAMPLE_WASM, TEST_HOSTILE_WASM, TOKEN, TestServer, captured_logs, eventually,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn hostile(function: &str, options: Value) -> Value {
    json!({"_connectorId": "hostile", "type": "utility", "function": function, "options": options})
}

async fn server(hostile_settings: &str, adjust: impl FnOnce(&mut host::ServeConfig)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(TEST_HOSTILE_WASM, dir.path().join("hostile.wasm")).unwrap();
    std::fs::write(dir.path().join("hostile.toml"), hostile_settings).unwrap();
    std::fs::copy(FLAT_EXAMPLE_WASM, dir.path().join("neighbor.wasm")).unwrap();
    TestServer::start_in(dir, adjust).await
}

async fn neighbor_answers(server: &TestServer) {
    let r = server
        .call(&json!({"_connectorId": "neighbor", "function": "greet", "options": {}}))
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (200, r#"{"greeting":"Hello, world!"}"#)
    );
}

/// Reads until the server closes the connection; what it sent before closing.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(120), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server never closed the connection");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_sleeping_in_a_host_call_is_stopped_at_its_deadline() {
    let server = server("[limits]\ntimeout_ms = 300\n", |_| {}).await;
    let r = server.call(&hostile("sleep", json!({"ms": 600_000}))).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"The function ran longer than its limit of 300 ms and was stopped.","code":"timeout"}]}"#
        )
    );
    neighbor_answers(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unauthenticated_body_of_eighty_thousand_keys_is_refused() {
    let server = server("", |_| {}).await;
    let mut body = String::from("{");
    for i in 0..80_000 {
        body.push_str(&format!("\"key{i}\":{i},"));
    }
    body.push_str("\"diy\":true}");
    let r = server
        .post_raw(body, Some("application/json"), None, "")
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            401,
            r#"{"errors":[{"code":"unauthorized","message":"Invalid system token."}]}"#
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn half_sent_headers_are_closed_after_the_header_read_timeout() {
    let server = server("", |c| {
        c.connections.header_read_timeout = Duration::from_millis(200)
    })
    .await;
    let mut stream = TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(b"POST /function HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    read_until_closed(&mut stream).await;
    neighbor_answers(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = server("", |c| {
        c.connections.idle_timeout = Duration::from_millis(200)
    })
    .await;
    let mut stream = TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(b"GET /healthCheck HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answered = read_until_closed(&mut stream).await;
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(answered.ends_with(r#"{"success":true}"#), "{answered}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_never_arrives_is_answered_408() {
    let server = server("", |c| {
        c.connections.body_read_timeout = Duration::from_millis(200)
    })
    .await;
    let mut stream = TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(
            format!("POST /function HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"diy\"")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(120), stream.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.ends_with(r#"{"errors":[{"code":"request_timeout","message":"The request body did not arrive within 200 ms."}]}"#),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_past_the_cap_wait_until_one_closes() {
    let mut server = server("", |c| c.connections.max_connections = 2).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    // The test client's own keep-alive connections would take slots: wait until none is open.
    server.client_connections_closed().await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthCheck HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(s); // idle, kept open
    }
    let mut third = TcpStream::connect(&addr).await.unwrap();
    third
        .write_all(b"GET /healthCheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    // Not served while both slots are taken (a short look: a pass here proves nothing by itself,
    // the answer after a slot frees is what the test asserts).
    let early = tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "served past the cap: {early:?} {:?}",
        String::from_utf8_lossy(&buf)
    );
    drop(held.pop());
    let answered = read_until_closed(&mut third).await;
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
}

#[tokio::test(flavor = "multi_thread")]
async fn open_connections_counts_the_others_and_terminate_fails_the_probes_for_good() {
    let mut server = server("", |_| {}).await;
    server.client_connections_closed().await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let _idle = TcpStream::connect(&addr).await.unwrap();
    eventually("the idle connection is counted", || async {
        let answer = server
            .raw_http("GET /openConnections HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        answer.ends_with("\r\n\r\n1")
    })
    .await;
    let r = reqwest::Client::new()
        .get(format!("{}/openConnections?terminate=true", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    for probe in ["/livez", "/readyz"] {
        assert_eq!(server.get(probe).await.status, 503, "{probe}");
    }
    neighbor_answers(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connector_past_its_share_is_refused_while_its_neighbour_runs() {
    let server = server(
        "[limits]\nmax_concurrent_calls = 1\nmax_queued_calls = 0\ntimeout_ms = 60_000\n",
        |_| {},
    )
    .await;
    let server = std::sync::Arc::new(server);
    let sleeper = {
        let server = server.clone();
        tokio::spawn(async move { server.call(&hostile("sleep", json!({"ms": 10_000}))).await })
    };
    eventually(
        "the sleeping call holds the connector's one slot",
        || async {
            let listing = server.listing().await;
            listing["plugins"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["id"] == "hostile" && p["calls"]["running"] == 1)
        },
    )
    .await;
    let r = server.call(&hostile("ok", json!({}))).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            429,
            r#"{"errors":[{"message":"The connector is busy: 1 of its calls are running and 0 are waiting for a slot; try again later.","code":"connector_busy"}]}"#
        )
    );
    neighbor_answers(&server).await;
    assert_eq!(sleeper.await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_whose_client_disconnects_is_cancelled_and_frees_its_share() {
    // The sleep outlasts `eventually`'s bound, so only a cancelled call frees the slot in time.
    let server = server(
        "[limits]\nmax_concurrent_calls = 1\nmax_queued_calls = 0\ntimeout_ms = 600_000\n",
        |_| {},
    )
    .await;
    let server = std::sync::Arc::new(server);
    let running = |n: u64| {
        let server = server.clone();
        move || {
            let server = server.clone();
            async move {
                server.listing().await["plugins"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["id"] == "hostile" && p["calls"]["running"] == n)
            }
        }
    };
    let client = {
        let server = server.clone();
        tokio::spawn(async move { server.call(&hostile("sleep", json!({"ms": 500_000}))).await })
    };
    eventually(
        "the sleeping call holds the connector's one slot",
        running(1),
    )
    .await;
    // The client gives up: its connection closes with the call in flight.
    client.abort();
    let _ = client.await;
    eventually("the abandoned call is cancelled", running(0)).await;
    let r = server.call(&hostile("ok", json!({}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_error_message_is_capped() {
    let server = server("", |_| {}).await;
    let r = server
        .call(&hostile("longError", json!({"size": 10_000_000})))
        .await;
    assert_eq!(r.status, 422);
    let error = &r.json()["errors"][0];
    let message = error["message"].as_str().unwrap();
    assert!(
        message.len() <= 16 * 1024 && message.ends_with('…'),
        "{}",
        message.len()
    );
    assert!(error["code"].as_str().unwrap().len() <= 256);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_over_the_response_cap_is_response_size_exceeded_whatever_its_size() {
    // Over wasmtime's default 128 MiB of hostcall data, with memory enough to build it.
    let server = server("[limits]\nmax_memory_bytes = 1_073_741_824\n", |_| {}).await;
    let r = server
        .call(&hostile("huge", json!({"size": 130 << 20})))
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"response stream exceeded limit of 67108864 bytes.","code":"response_size_exceeded"}]}"#
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn log_lines_are_capped_by_count_and_cannot_forge_host_lines() {
    let logs = captured_logs();
    let server = server("", |_| {}).await;
    let r = server
        .call(&hostile("logLines", json!({"lines": 200_000})))
        .await;
    assert_eq!(r.status, 200);
    let r = server
        .call(&hostile(
            "logLines",
            json!({"lines": 1, "text": "before\nFORGED-LINE \u{1b}[31m"}),
        ))
        .await;
    assert_eq!(r.status, 200);
    let request_id = r.headers["x-request-id"].to_str().unwrap().to_string();
    let lines = logs.lock().unwrap().clone();
    assert!(
        lines.iter().all(|l| !l.starts_with("FORGED-LINE")),
        "a guest forged a log line"
    );
    let tagged: Vec<&String> = lines.iter().filter(|l| l.contains(&request_id)).collect();
    assert!(
        tagged
            .iter()
            .any(|l| l.contains(r"before\nFORGED-LINE \u{1b}[31m")),
        "{tagged:?}"
    );
    let dropped = lines
        .iter()
        .filter(|l| l.contains("dropped_lines=199000"))
        .count();
    assert_eq!(dropped, 1, "the flood's dropped lines are reported once");
}

#[tokio::test(flavor = "multi_thread")]
async fn results_held_for_slow_readers_are_bounded_by_the_host_budget() {
    let dir = tempfile::tempdir().unwrap();
    for (id, settings) in [
        ("big", "[limits]\ntimeout_ms = 60_000\n"),
        ("small", "[limits]\ntimeout_ms = 10_000\n"),
    ] {
        std::fs::copy(TEST_HOSTILE_WASM, dir.path().join(format!("{id}.wasm"))).unwrap();
        std::fs::write(dir.path().join(format!("{id}.toml")), settings).unwrap();
    }
    let server = TestServer::start_in(dir, |c| c.max_result_memory_bytes = 64 << 20).await;
    let huge = |connector: &str, size: u64| {
        json!({"_connectorId": connector, "type": "utility", "function": "huge",
            "maxResponseSize": 100_000_000, "options": {"size": size}})
    };
    // A client that asks for a 60 MiB answer and does not read it: the answer holds its room
    // in the budget while it waits to be written.
    let mut reader = TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let request = huge("big", 60 << 20).to_string();
    reader
        .write_all(
            format!(
                "POST /function HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{request}",
                request.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    eventually("the unread answer holds its room", || async {
        server.listing().await["resultsHeldBytes"].as_u64().unwrap() >= 50 << 20
    })
    .await;
    // 8 MiB more do not fit in 64 MiB: the call waits for room until its deadline, then 503.
    let r = server.call(&huge("small", 8 << 20)).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            503,
            r#"{"errors":[{"message":"The host is holding its limit of 67108864 bytes of results in flight and this result did not fit before the call's deadline; try again later.","code":"host_busy"}]}"#
        )
    );
    // The slow reader goes away: its room comes back, and the same call succeeds.
    drop(reader);
    eventually("the budget is free again", || async {
        server.listing().await["resultsHeldBytes"] == 0
    })
    .await;
    let r = server.call(&huge("small", 8 << 20)).await;
    assert_eq!((r.status, r.text.len()), (200, (8 << 20) + 2));
}
