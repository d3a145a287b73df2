//! What the JavaScript and Python tests share: a diy server for an interpreted guest whose
//! wall clock is the limit under test, and the runaway-loop check both examples must pass.

use integration_tests::TestServer;
use serde_json::{Value, json};

/// A server with `wasm` as `diy.wasm`, a 1 s wall clock and fuel out of the way: a JavaScript
/// busy loop burns ~10 G fuel units per CPU-second, so with the default budget fuel could stop
/// it first (also precise, but which one wins would depend on the machine's load).
pub(crate) async fn server(wasm: &str) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(wasm, dir.path().join("diy.wasm")).unwrap();
    let settings = "[limits]\ntimeout_ms = 1_000\nfuel = 1_000_000_000_000_000\n";
    std::fs::write(dir.path().join("diy.toml"), settings).unwrap();
    TestServer::start_in(dir, |_| {}).await
}

/// A diy hook call.
pub(crate) fn hook(function: &str, options: Value) -> Value {
    json!({"diy": true, "type": "hook", "function": function, "options": options})
}

/// The example's `spin` hook is stopped by the wall clock, and the next call to the same
/// module (`preMapPhones`) succeeds.
pub(crate) async fn a_runaway_loop_is_stopped_and_the_module_keeps_serving(server: &TestServer) {
    let r = server.call(&hook("spin", json!({}))).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"The function ran longer than its limit of 1000 ms and was stopped.","code":"timeout"}]}"#
        )
    );
    let r = server
        .call(&hook(
            "preMapPhones",
            json!({"data": [{"phone": "5550100199"}]}),
        ))
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (200, r#"[{"data":{"phone":"+15550100199"}}]"#)
    );
}
