//! Response scripts applied by the host: a connector's `[[response_scripts]]` judge every
//! response from the hosts they name before the guest sees it. Each responseCode end to end
//! against a local API that misbehaves on cue (`integration_tests::session_api`).

use integration_tests::captured_logs;
use integration_tests::session_api::SessionApi;
use integration_tests::{DIY_EXAMPLE_WASM, JS_DIY_EXAMPLE_WASM, TEST_EGRESS_WASM, TestServer};
use serde_json::{Value, json};

/// Settings that allow `api` and judge its responses with `function` (re-authenticating with
/// `reauthenticate`, if given), both in group `ty` (none: the root).
fn judged_by(
    api: &SessionApi,
    ty: Option<&str>,
    function: &str,
    reauthenticate: Option<&str>,
) -> String {
    let mut settings = format!(
        "[network]\nallowed_hosts = [{origin:?}]\n\n[[response_scripts]]\nhosts = [{origin:?}]\nfunction = {function:?}\nretry_backoff_ms = 10\n",
        origin = api.origin()
    );
    if let Some(ty) = ty {
        settings.push_str(&format!("type = {ty:?}\n"));
    }
    if let Some(f) = reauthenticate {
        settings.push_str(&format!("reauthenticate = {f:?}\n"));
    }
    settings
}

/// A server with the egress test plugin as `probe`, its responses judged by `judge` (and
/// re-authenticated by `login`) under `extra` settings.
async fn judged_probe(api: &SessionApi, extra: &str) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(TEST_EGRESS_WASM, dir.path().join("probe.wasm")).unwrap();
    let settings = judged_by(api, Some("utility"), "judge", Some("login")) + extra;
    std::fs::write(dir.path().join("probe.toml"), settings).unwrap();
    TestServer::start_in(dir, |_| {}).await
}

/// `probe`'s `fetch` of `path` on `api`: the answer's status and body.
async fn fetch(server: &TestServer, api: &SessionApi, path: &str) -> (u16, Value) {
    let r = server
        .call(
            &json!({"_connectorId": "probe", "type": "utility", "function": "fetch",
            "options": {"url": format!("{}{path}", api.origin())}}),
        )
        .await;
    (r.status, r.json())
}

fn code(answer: &Value) -> &str {
    answer["errors"][0]["code"].as_str().unwrap_or("<no error>")
}

#[tokio::test(flavor = "multi_thread")]
async fn code_0_hands_the_response_to_the_plugin_and_logs_the_message_with_connector_and_request_id()
 {
    let logs = captured_logs();
    let api = SessionApi::start().await;
    let server = judged_probe(&api, "").await;
    let (status, answer) = fetch(&server, &api, "/ok").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["body"], "fine");
    assert_eq!(api.count("GET", "/ok"), 1);
    let url = format!("{}/ok", api.origin());
    let lines = logs.lock().unwrap().clone();
    let line = lines
        .iter()
        .find(|l| l.contains("response script") && l.contains(&url))
        .unwrap_or_else(|| panic!("no response script line for {url}"));
    assert!(line.contains(r#"connector="probe""#), "{line}");
    assert!(line.contains("request_id="), "{line}");
    assert!(line.contains("response_code=0"), "{line}");
    assert!(line.contains(r#"script_message="fine (GET"#), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn code_1_retries_the_request_until_the_api_recovers() {
    let api = SessionApi::start().await;
    let server = judged_probe(&api, "max_retries = 3\n").await;
    let (status, answer) = fetch(&server, &api, "/flaky/2").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["body"], "ok after 3");
    assert_eq!(api.count("GET", "/flaky/2"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn code_1_past_max_retries_ends_the_call_as_flow_retry_later() {
    let api = SessionApi::start().await;
    let server = judged_probe(&api, "max_retries = 2\n").await;
    let (status, answer) = fetch(&server, &api, "/flaky/10").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(code(&answer), "flow_retry_later", "{answer}");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("throttled"),
        "{answer}"
    );
    // The request and its two retries, no more.
    assert_eq!(api.count("GET", "/flaky/10"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn code_2_ends_the_call_as_flow_retry_later() {
    let api = SessionApi::start().await;
    let server = judged_probe(&api, "").await;
    let (status, answer) = fetch(&server, &api, "/down").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(code(&answer), "flow_retry_later", "{answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("responseCode 2") && message.contains("the API is failing"),
        "{answer}"
    );
    assert_eq!(
        api.count("GET", "/down"),
        1,
        "code 2 is not retried by the host"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn code_3_ends_the_call_as_flow_failed() {
    let api = SessionApi::start().await;
    let server = judged_probe(&api, "").await;
    let (status, answer) = fetch(&server, &api, "/refuse").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(code(&answer), "flow_failed", "{answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("responseCode 3") && message.contains("refused"),
        "{answer}"
    );
    assert_eq!(api.count("GET", "/refuse"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn code_4_logs_in_again_retries_once_and_later_calls_keep_the_session() {
    let api = SessionApi::start().await;
    let server = judged_probe(&api, "").await;
    let (status, answer) = fetch(&server, &api, "/records").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["body"], r#"[{"id":1},{"id":2}]"#);
    assert_eq!(api.logins(), 1);
    assert_eq!(
        api.seen(),
        ["GET /records", "POST /login", "GET /records"],
        "the invalid session, the login, the retry"
    );
    // The next call sends the fresh session at once.
    let (_, answer) = fetch(&server, &api, "/records").await;
    assert_eq!(answer["body"], r#"[{"id":1},{"id":2}]"#);
    assert_eq!(api.logins(), 1);
    // Once it expires, the script logs in again.
    api.expire_session();
    let (_, answer) = fetch(&server, &api, "/records").await;
    assert_eq!(answer["body"], r#"[{"id":1},{"id":2}]"#);
    assert_eq!(api.logins(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connector_running_its_whole_share_still_judges_and_logs_in() {
    let api = SessionApi::start().await;
    // The call holds the connector's only slot while its script and login run.
    let server = judged_probe(&api, "\n[limits]\nmax_concurrent_calls = 1\n").await;
    let (status, answer) = fetch(&server, &api, "/records").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["body"], r#"[{"id":1},{"id":2}]"#);
    assert_eq!(api.logins(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn code_4_again_after_logging_in_ends_the_call_as_flow_failed() {
    let api = SessionApi::start().await;
    api.reject_sessions();
    let server = judged_probe(&api, "").await;
    let (status, answer) = fetch(&server, &api, "/records").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(code(&answer), "flow_failed", "{answer}");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("after login re-authenticated"),
        "{answer}"
    );
    assert_eq!(api.seen(), ["GET /records", "POST /login", "GET /records"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn hosts_no_script_names_are_not_judged() {
    let api = SessionApi::start().await;
    let other = SessionApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(TEST_EGRESS_WASM, dir.path().join("probe.wasm")).unwrap();
    // Both APIs allowed, only `api` judged.
    let settings = judged_by(&api, Some("utility"), "judge", Some("login")).replacen(
        "allowed_hosts = [",
        &format!("allowed_hosts = [{:?}, ", other.origin()),
        1,
    );
    std::fs::write(dir.path().join("probe.toml"), settings).unwrap();
    let server = TestServer::start_in(dir, |_| {}).await;
    let (status, answer) = fetch(&server, &other, "/down").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], 503);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_settings_file_naming_a_missing_or_mistyped_script_refuses_the_module() {
    let api = SessionApi::start().await;
    for (function, reauthenticate, says) in [
        ("nope", None, "no function \\\"nope\\\""),
        (
            "fetch",
            None,
            "is a json function; it must be responseScript",
        ),
        (
            "judge",
            Some("judge"),
            "is a responseScript function; it must be json",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(TEST_EGRESS_WASM, dir.path().join("probe.wasm")).unwrap();
        std::fs::write(
            dir.path().join("probe.toml"),
            judged_by(&api, Some("utility"), function, reauthenticate),
        )
        .unwrap();
        let server = TestServer::start_in(dir, |_| {}).await;
        let text = server.listing().await.to_string();
        assert!(
            text.contains("response_scripts[0]") && text.contains(says),
            "{says}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_plugins_log_in_again_through_their_own_scripts_in_rust_and_javascript() {
    for wasm in [DIY_EXAMPLE_WASM, JS_DIY_EXAMPLE_WASM] {
        let api = SessionApi::start().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(wasm, dir.path().join("diy.wasm")).unwrap();
        std::fs::write(
            dir.path().join("diy.toml"),
            judged_by(&api, None, "sessionCheck", Some("refreshSession")),
        )
        .unwrap();
        let server = TestServer::start_in(dir, |_| {}).await;
        let r = server
            .call(&json!({"diy": true, "function": "fetchRecords",
                "options": {"url": format!("{}/records", api.origin())}}))
            .await;
        assert_eq!(r.status, 200, "{wasm}: {}", r.text);
        assert_eq!(
            r.json(),
            json!({"status": 200, "records": [{"id": 1}, {"id": 2}]}),
            "{wasm}"
        );
        assert_eq!(api.logins(), 1, "{wasm}");
    }
}
