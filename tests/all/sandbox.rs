//! The sandbox: every hostile guest is stopped with its own error code, limits can be set per
//! connector, nothing ambient is reachable, and the host keeps serving everything else.

use integration_tests::{FLAT_EXAMPLE_WASM, TEST_HOSTILE_WASM, TEST_PROBE_WASM, TestServer};
use serde_json::{Value, json};

/// A plugins directory of hostile connectors, each with its own limits, and a good neighbour.
async fn hostile_server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        // Fuel stops the loop long before the wall clock would.
        (
            "hostile",
            "[limits]\nfuel = 200_000_000\ntimeout_ms = 20_000\n",
        ),
        // The wall clock stops the loop; fuel would take hours.
        (
            "slow",
            "[limits]\nfuel = 1_000_000_000_000_000\ntimeout_ms = 300\n",
        ),
        ("tight", "[limits]\nfuel = 1_000_000\n"),
        (
            "small",
            "[limits]\nmax_memory_bytes = 33_554_432\nmax_response_bytes = 1000\nmax_request_bytes = 2000\n",
        ),
        ("typo", "[limits]\nfuell = 1\n"),
    ];
    for (id, toml) in settings {
        std::fs::copy(TEST_HOSTILE_WASM, dir.path().join(format!("{id}.wasm"))).unwrap();
        std::fs::write(dir.path().join(format!("{id}.toml")), toml).unwrap();
    }
    std::fs::copy(FLAT_EXAMPLE_WASM, dir.path().join("neighbor.wasm")).unwrap();
    TestServer::start_in(dir, |_| {}).await
}

fn call(connector: &str, ty: &str, function: &str, options: Value) -> Value {
    json!({"_connectorId": connector, "type": ty, "function": function, "options": options})
}

/// The first error of a 422 answer: (code, message).
async fn failure(server: &TestServer, body: Value) -> (String, String) {
    let r = server.call(&body).await;
    assert_eq!(r.status, 422, "{body}: {}", r.text);
    let error = &r.json()["errors"][0];
    (
        error["code"].as_str().unwrap().to_string(),
        error["message"].as_str().unwrap().to_string(),
    )
}

/// The same connector and another one still answer normally.
async fn still_serving(server: &TestServer, connector: &str) {
    let r = server
        .call(&call(connector, "utility", "ok", json!({"n": 1})))
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (200, r#"{"ok":true,"options":{"n":1}}"#),
        "{connector}"
    );
    let r = server
        .call(&json!({"_connectorId": "neighbor", "function": "greet", "options": {}}))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_loop_runs_out_of_fuel() {
    let server = hostile_server().await;
    let (code, message) = failure(&server, call("hostile", "utility", "spin", json!({}))).await;
    assert_eq!(code, "fuel_exhausted");
    assert_eq!(
        message,
        "The function used its whole CPU budget of 200000000 fuel units and was stopped."
    );
    still_serving(&server, "hostile").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_loop_hits_the_wall_clock() {
    let server = hostile_server().await;
    let (code, message) = failure(&server, call("slow", "utility", "spin", json!({}))).await;
    assert_eq!(code, "timeout");
    assert_eq!(
        message,
        "The function ran longer than its limit of 300 ms and was stopped."
    );
    still_serving(&server, "slow").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unbounded_allocation_hits_the_memory_cap() {
    let server = hostile_server().await;
    let (code, message) = failure(&server, call("small", "utility", "hoard", json!({}))).await;
    assert_eq!(code, "memory_limit_exceeded");
    assert!(
        message.contains("over its limit of 33554432 bytes"),
        "{message}"
    );
    still_serving(&server, "small").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_recursion_overflows_the_stack() {
    let server = hostile_server().await;
    let (code, message) = failure(&server, call("hostile", "utility", "recurse", json!({}))).await;
    assert_eq!(code, "stack_overflow");
    assert!(message.contains("limit 524288 bytes"), "{message}");
    still_serving(&server, "hostile").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_output_is_refused_by_both_size_limits() {
    let server = hostile_server().await;
    // The caller's maxResponseSize (default 5 MiB).
    let (code, message) = failure(
        &server,
        call("hostile", "utility", "huge", json!({"size": 6_000_000})),
    )
    .await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "response_size_exceeded",
            "response stream exceeded limit of 5242880 bytes."
        )
    );
    // The connector's max_response_bytes, whatever the caller allows.
    let mut body = call("small", "utility", "huge", json!({"size": 2000}));
    body["maxResponseSize"] = json!(1_000_000_000);
    let (code, message) = failure(&server, body).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "response_size_exceeded",
            "response stream exceeded limit of 1000 bytes."
        )
    );
    still_serving(&server, "small").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connector_can_lower_the_request_size() {
    let server = hostile_server().await;
    let r = server
        .call(&call(
            "small",
            "utility",
            "ok",
            json!({"pad": "x".repeat(3000)}),
        ))
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["errors"][0]["code"], "request_too_large");
    let r = server
        .call(&call(
            "hostile",
            "utility",
            "ok",
            json!({"pad": "x".repeat(3000)}),
        ))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_output_is_not_serializable() {
    let server = hostile_server().await;
    let r = server
        .call(&call("hostile", "utility", "notJson", json!({})))
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"Extension response is not serializable.","code":"invalid_extension_response"}]}"#
        )
    );
    let (code, message) = failure(&server, call("hostile", "utility", "notUtf8", json!({}))).await;
    assert_eq!(code, "invalid_extension_response");
    assert!(message.to_lowercase().contains("utf-8"), "{message}");
    still_serving(&server, "hostile").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_is_a_trap_with_its_message_and_backtrace() {
    let server = hostile_server().await;
    let (code, message) = failure(&server, call("hostile", "utility", "panic", json!({}))).await;
    assert_eq!(code, "plugin_trap");
    // The cause leads, in one line; the backtrace comes once, last.
    assert!(
        message.starts_with("The function crashed: panicked at test-hostile/src/lib.rs"),
        "{message}"
    );
    assert!(
        message.contains("hostile plugin panicked on purpose"),
        "{message}"
    );
    assert_eq!(message.matches("wasm backtrace").count(), 1, "{message}");
    assert!(!message.contains('\n'), "{message}");
    assert!(
        message.contains("panicked at test-hostile/src/lib.rs"),
        "the panic location: {message}"
    );
    assert!(
        message.contains("; wasm backtrace: extension_sdk::"),
        "demangled frames, runtime frames skipped: {message}"
    );
    still_serving(&server, "hostile").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exit_is_a_trap_that_leads_with_the_exit_status() {
    let server = hostile_server().await;
    let (code, message) = failure(&server, call("hostile", "utility", "exit", json!({}))).await;
    assert_eq!(code, "plugin_trap");
    assert!(
        message.starts_with(
            "The function crashed: the guest exited with status 1; wasm backtrace: extension_sdk::"
        ),
        "{message}"
    );
    still_serving(&server, "hostile").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn flooding_stdout_is_bounded_and_harmless() {
    let logs = integration_tests::captured_logs();
    let server = hostile_server().await;
    let r = server
        .call(&call("hostile", "utility", "flood", json!({})))
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, r#""flooded""#));
    // 10 MiB written to each stream; 64 KiB of each reach the log (64 lines of 1 KiB), and the
    // rest is reported once per stream.
    let request_id = r.headers["x-request-id"].to_str().unwrap().to_string();
    let lines: Vec<String> = logs
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(&request_id))
        .cloned()
        .collect();
    for stream in ["stdout", "stderr"] {
        let kept = lines
            .iter()
            .filter(|l| l.contains(&format!("stream=\"{stream}\"")) && l.contains("yyyy"))
            .count();
        assert_eq!(kept, 64, "{stream}");
        let dropped = lines
            .iter()
            .filter(|l| l.contains(&format!("stream=\"{stream}\"")) && l.contains("dropped="))
            .count();
        assert_eq!(dropped, 1, "{stream}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn files_environment_and_sockets_are_out_of_reach() {
    let server = hostile_server().await;
    let (code, message) = failure(&server, call("hostile", "utility", "ambient", json!({}))).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "sandboxed",
            "no file, environment, argument or socket was reachable"
        )
    );
    still_serving(&server, "hostile").await;
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn every_contract_violation_is_reported() {
    let server = hostile_server().await;
    let cases = [
        (
            "hook",
            "preMapShort",
            json!({"data": [1, 2]}),
            "The preMap function \"preMapShort\" returned 1 entries for 2 records in options.data",
        ),
        (
            "hook",
            "postMapLong",
            json!({"postMapData": [1]}),
            "The postMap function \"postMapLong\" returned 2 entries for 1 records in options.postMapData",
        ),
        (
            "hook",
            "postSubmitShort",
            json!({"responseData": [{}]}),
            "The postSubmit function \"postSubmitShort\" returned 0 entries for 1 responses",
        ),
        (
            "hook",
            "postResponseMapLong",
            json!({"postResponseMapData": [{}]}),
            "The postResponseMap function \"postResponseMapLong\" returned 2 entries for 1 records",
        ),
        (
            "wrapper",
            "importShort",
            json!({"postMapData": [{}]}),
            "The import function \"importShort\" returned 0 entries for 1 records",
        ),
    ];
    for (ty, function, options, expected) in cases {
        let (code, message) = failure(&server, call("hostile", ty, function, options)).await;
        assert_eq!(code, "invalid_extension_response", "{function}");
        assert!(message.starts_with(expected), "{function}: {message}");
    }
    still_serving(&server, "hostile").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn per_connector_limits_take_effect_and_bad_settings_refuse_the_module() {
    let server = hostile_server().await;
    let work = |connector| {
        call(
            connector,
            "utility",
            "work",
            json!({"iterations": 2_000_000}),
        )
    };
    let r = server.call(&work("hostile")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (code, message) = failure(&server, work("tight")).await;
    assert_eq!(code, "fuel_exhausted");
    assert!(
        message.contains("budget of 1000000 fuel units"),
        "{message}"
    );
    // `fuell` is not a limit: the module is refused rather than served with a limit ignored.
    let (code, _) = failure(&server, call("typo", "utility", "ok", json!({}))).await;
    assert_eq!(code, "invalid_field");
}

#[tokio::test(flavor = "multi_thread")]
async fn runaway_calls_do_not_starve_the_http_layer() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(TEST_HOSTILE_WASM, dir.path().join("runaway.wasm")).unwrap();
    std::fs::write(
        dir.path().join("runaway.toml"),
        "[limits]\nfuel = 1_000_000_000_000_000\ntimeout_ms = 5_000\n",
    )
    .unwrap();
    std::fs::copy(FLAT_EXAMPLE_WASM, dir.path().join("neighbor.wasm")).unwrap();
    let server = std::sync::Arc::new(TestServer::start_in(dir, |_| {}).await);

    // Two runaway calls: enough to occupy both cores of this machine.
    let runaways: Vec<_> = (0..2)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                server
                    .call(&call("runaway", "utility", "spin", json!({})))
                    .await
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    for _ in 0..5 {
        let r = server.get("/readyz").await;
        assert_eq!(r.status, 200);
        let r = server
            .call(&json!({"_connectorId": "neighbor", "function": "greet", "options": {}}))
            .await;
        assert_eq!(
            (r.status, r.text.as_str()),
            (200, r#"{"greeting":"Hello, world!"}"#)
        );
    }
    assert!(
        runaways.iter().all(|t| !t.is_finished()),
        "the runaways were still running while the others were served"
    );

    for runaway in runaways {
        let r = runaway.await.unwrap();
        assert_eq!(r.json()["errors"][0]["code"], "timeout");
    }
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
async fn shutdown_drains_a_call_in_flight_and_stops() {
    let server = hostile_server().await;
    let base = server.base.clone();
    // A call that takes a while (a WASI sleep), in flight when shutdown begins.
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{base}/function"))
            .bearer_auth(integration_tests::TOKEN)
            .json(&call("hostile", "utility", "sleep", json!({"ms": 1_500})))
            .send()
            .await
            .unwrap()
    });
    integration_tests::eventually("the call is in flight", || async {
        server.listing().await["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "hostile" && p["calls"]["running"] == 1)
    })
    .await;
    server.stop().await.expect("the server stops cleanly");
    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), r#"{"slept":1500}"#);
}
