//! Outbound network: plugins reach real local servers (HTTP, and HTTPS with a test CA) through
//! the host's egress policy; every refusal answers the exact wasi:http error code. All
//! traffic stays on loopback.

use integration_tests::api::{API_TOKEN, ApiServer, IO_TOKEN, IntegratorApis, TestCa};
use integration_tests::{
    JS_REST_CONNECTOR_WASM, PY_REST_CONNECTOR_WASM, REST_CONNECTOR_WASM, TEST_EGRESS_WASM,
    TestServer, captured_logs,
};
use serde_json::{Value, json};

/// A server with `probe.wasm` (the egress test plugin) under `settings`.
async fn probe_server(settings: &str) -> TestServer {
    server_with(&[("probe", TEST_EGRESS_WASM, settings)]).await
}

async fn server_with(modules: &[(&str, &str, &str)]) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    for (id, wasm, settings) in modules {
        std::fs::copy(wasm, dir.path().join(format!("{id}.wasm"))).unwrap();
        if !settings.is_empty() {
            std::fs::write(dir.path().join(format!("{id}.toml")), settings).unwrap();
        }
    }
    TestServer::start_in(dir, |_| {}).await
}

fn allow(patterns: &[String]) -> String {
    let list: Vec<String> = patterns.iter().map(|p| format!("{p:?}")).collect();
    format!("[network]\nallowed_hosts = [{}]\n", list.join(", "))
}

/// Calls `probe`'s `fetch` with `options`.
async fn fetch(server: &TestServer, options: Value) -> Value {
    let r = server
        .call(&json!({"_connectorId": "probe", "type": "utility", "function": "fetch", "options": options}))
        .await;
    r.json()
}

/// The error code of a failed fetch.
fn code(answer: &Value) -> &str {
    answer["errors"][0]["code"].as_str().unwrap_or("<no error>")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_host_is_reached_and_a_guest_set_host_header_is_dropped() {
    let api = ApiServer::start().await;
    let server = probe_server(&allow(&[format!("http://localhost:{}", api.port())])).await;
    let answer = fetch(
        &server,
        json!({"url": format!("http://localhost:{}/host", api.port()), "headers": {"host": "evil.example"}}),
    )
    .await;
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["body"], format!("localhost:{}", api.port()));
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn the_rest_connector_pings_pages_and_imports_through_the_host() {
    let (server, api) = rest_connector_end_to_end(REST_CONNECTOR_WASM).await;
    let r = server
        .call(&json!({"_connectorId": "rest", "type": "wrapper", "function": "pingApi",
            "options": {"connection": {"unencrypted": {"baseURI": api.url().replace("127.0.0.1", "localhost")}, "encrypted": {"token": "wrong"}}}}))
        .await;
    assert_eq!(r.json()["statusCode"], 401, "{}", r.text);
    assert_eq!(api.imported(), vec![json!({"name": "a"})]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hook_calls_integrator_io_over_tls_with_the_bearer_token() {
    let ca = TestCa::new(&["api.integrator.io"]);
    let api = ApiServer::start_tls(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("test-ca.pem"), &ca.ca_pem).unwrap();
    std::fs::copy(REST_CONNECTOR_WASM, dir.path().join("rest.wasm")).unwrap();
    // The module's URL is hard-coded: the operator points it at the local server and trusts
    // the test CA (a relative ca_file is relative to the settings file).
    std::fs::write(
        dir.path().join("rest.toml"),
        format!(
            "[network]\nallowed_hosts = [\"https://api.integrator.io\"]\nca_file = \"test-ca.pem\"\n\
             resolve = {{ \"api.integrator.io:443\" = \"127.0.0.1:{}\" }}\n",
            api.port()
        ),
    )
    .unwrap();
    let server = TestServer::start_in(dir, |_| {}).await;
    let r = server
        .call(
            &json!({"_connectorId": "rest", "type": "hook", "function": "stampIntegration",
            "options": {"data": [{"a": 1}], "bearerToken": IO_TOKEN, "_integrationId": "i42"}}),
        )
        .await;
    assert_eq!(
        r.text,
        r#"{"data":[{"a":1,"integrationName":"Integration i42"}],"errors":[],"abort":false,"newErrorsAndRetryData":[]}"#
    );
    assert_eq!(api.seen()[0].host, "api.integrator.io");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_certificate_is_a_tls_certificate_error() {
    let ca = TestCa::new(&["api.integrator.io"]);
    let api = ApiServer::start_tls(&ca).await;
    let server = probe_server(&format!(
        "[network]\nallowed_hosts = [\"https://api.integrator.io\"]\n\
         resolve = {{ \"api.integrator.io:443\" = \"127.0.0.1:{}\" }}\n",
        api.port()
    ))
    .await;
    let answer = fetch(&server, json!({"url": "https://api.integrator.io/ok"})).await;
    assert_eq!(code(&answer), "TLS-certificate-error", "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_without_a_policy_loads_and_every_request_is_denied() {
    let api = ApiServer::start().await;
    let server = probe_server("").await;
    for url in [
        format!("http://localhost:{}/ok", api.port()),
        format!("http://127.0.0.1:{}/ok", api.port()),
        "https://api.integrator.io/".to_string(),
    ] {
        let answer = fetch(&server, json!({ "url": url })).await;
        assert_eq!(code(&answer), "HTTP-request-denied", "{url}: {answer}");
    }
    assert!(api.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn hosts_ports_and_schemes_outside_the_policy_are_denied() {
    let api = ApiServer::start().await;
    let other = ApiServer::start().await;
    let server = probe_server(&allow(&[format!("http://localhost:{}", api.port())])).await;
    for url in [
        format!("http://localhost:{}/ok", other.port()),
        format!("http://127.0.0.1:{}/ok", api.port()), // the pattern names localhost, not the IP
        format!("https://localhost:{}/ok", api.port()),
    ] {
        let answer = fetch(&server, json!({ "url": url })).await;
        assert_eq!(code(&answer), "HTTP-request-denied", "{url}: {answer}");
    }
    assert!(api.seen().is_empty() && other.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_that_resolves_to_a_non_public_address_is_refused() {
    // This machine's own host name resolves (through /etc/hosts) to a loopback or private
    // address: a name the policy allows, whose address it does not.
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_ascii_lowercase();
    let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host((name.as_str(), 80))
        .await
        .map(|a| a.collect())
        .unwrap_or_default();
    assert!(
        !resolved.is_empty() && resolved.iter().all(|a| !is_public(a.ip())),
        "this test needs the host name {name:?} to resolve to a non-public address: {resolved:?}"
    );
    let api = ApiServer::start().await;
    let server = probe_server(&allow(&[format!("http://{name}:{}", api.port())])).await;
    let answer = fetch(
        &server,
        json!({"url": format!("http://{name}:{}/ok", api.port())}),
    )
    .await;
    assert_eq!(code(&answer), "destination-IP-prohibited", "{answer}");
    assert!(api.seen().is_empty());
}

fn is_public(ip: std::net::IpAddr) -> bool {
    !host::egress::address::is_restricted(ip)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_is_handed_to_the_guest_not_followed() {
    let api = ApiServer::start().await;
    let server = probe_server(&allow(&[format!("http://localhost:{}", api.port())])).await;
    let answer = fetch(
        &server,
        json!({"url": format!("http://localhost:{}/redirect?to=http://127.0.0.1:{}/private-target", api.port(), api.port())}),
    )
    .await;
    assert_eq!(answer["status"], 302, "{answer}");
    assert_eq!(
        answer["location"],
        format!("http://127.0.0.1:{}/private-target", api.port())
    );
    let paths: Vec<String> = api.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths.len(), 1, "{paths:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_server_hits_the_request_timeout() {
    let api = ApiServer::start().await;
    let server = probe_server(&format!(
        "{}request_timeout_ms = 300\n",
        allow(&[format!("http://localhost:{}", api.port())])
    ))
    .await;
    let answer = fetch(
        &server,
        json!({"url": format!("http://localhost:{}/slow", api.port())}),
    )
    .await;
    assert_eq!(code(&answer), "HTTP-response-timeout", "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runaway_outbound_call_ends_at_the_call_deadline() {
    let api = ApiServer::start().await;
    let server = probe_server(&format!(
        "[limits]\ntimeout_ms = 400\n{}request_timeout_ms = 120_000\n",
        allow(&[format!("http://localhost:{}", api.port())])
    ))
    .await;
    let r = server
        .call(
            &json!({"_connectorId": "probe", "type": "utility", "function": "fetch",
            "options": {"url": format!("http://localhost:{}/slow", api.port())}}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.text,
        r#"{"errors":[{"message":"The function ran longer than its limit of 400 ms and was stopped.","code":"timeout"}]}"#
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_responses_are_cut_at_the_cap_declared_or_streamed() {
    let api = ApiServer::start().await;
    let server = probe_server(&format!(
        "{}max_response_bytes = 100_000\n",
        allow(&[format!("http://localhost:{}", api.port())])
    ))
    .await;
    let base = format!("http://localhost:{}", api.port());
    let fits = fetch(&server, json!({"url": format!("{base}/big/100000")})).await;
    assert_eq!(fits["length"], 100_000, "{fits}");
    for url in [
        format!("{base}/big/100001"),
        format!("{base}/stream/1000000"),
    ] {
        let answer = fetch(&server, json!({ "url": url })).await;
        assert_eq!(code(&answer), "HTTP-response-body-size", "{url}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn max_requests_per_call_counts_every_request() {
    let api = ApiServer::start().await;
    let server = probe_server(&format!(
        "{}max_requests_per_call = 3\n",
        allow(&[format!("http://localhost:{}", api.port())])
    ))
    .await;
    let r = server
        .call(
            &json!({"_connectorId": "probe", "type": "utility", "function": "fetchMany",
            "options": {"url": format!("http://localhost:{}/ok", api.port()), "count": 5}}),
        )
        .await;
    assert_eq!(
        r.json(),
        json!([200, 200, 200, "HTTP-request-denied", "HTTP-request-denied"])
    );
    assert_eq!(api.seen().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_is_connection_refused() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let server = probe_server(&allow(&[format!("http://127.0.0.1:{port}")])).await;
    let answer = fetch(&server, json!({"url": format!("http://127.0.0.1:{port}/")})).await;
    assert_eq!(code(&answer), "connection-refused", "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_patterns_refuse_the_module_and_the_listing_shows_each_policy() {
    let server = server_with(&[
        (
            "good",
            TEST_EGRESS_WASM,
            "[network]\nallowed_hosts = [\"https://*.myshopify.com\"]\nmax_requests_per_call = 7\n",
        ),
        (
            "noscheme",
            TEST_EGRESS_WASM,
            "[network]\nallowed_hosts = [\"api.example.com\"]\n",
        ),
        (
            "star",
            TEST_EGRESS_WASM,
            "[network]\nallowed_hosts = [\"https://api.*.com\"]\n",
        ),
        ("typo", TEST_EGRESS_WASM, "[network]\nallowed_host = []\n"),
    ])
    .await;
    let listing = server.listing().await;
    let plugins = listing["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 1, "{listing}");
    assert_eq!(
        plugins[0]["network"]["allowed_hosts"],
        json!(["https://*.myshopify.com"])
    );
    assert_eq!(plugins[0]["network"]["max_requests_per_call"], 7);
    let failures = &listing["failures"];
    for (file, reason) in [
        ("noscheme.wasm", "a scheme is required"),
        (
            "star.wasm",
            "`*.` may only stand as the whole leftmost label",
        ),
        ("typo.wasm", "unknown field `allowed_host`"),
    ] {
        let text = failures
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["file"] == file)
            .unwrap_or_else(|| panic!("{file} not refused: {failures}"))["reason"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.contains(reason), "{file}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_outbound_request_is_logged_once_without_its_path_or_query() {
    let logs = captured_logs();
    let api = ApiServer::start().await;
    let server = probe_server(&allow(&[format!("http://localhost:{}", api.port())])).await;
    let answer = fetch(
        &server,
        json!({"url": format!("http://localhost:{}/ok?token=s3cr3t-in-query", api.port())}),
    )
    .await;
    assert_eq!(answer["status"], 200);
    let destination = format!("http://localhost:{}", api.port());
    let lines: Vec<String> = logs
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("outbound request") && l.contains(&destination))
        .cloned()
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("outcome=\"200\"") || lines[0].contains("outcome=200"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("connector=\"probe\"") || lines[0].contains("connector=probe"),
        "{}",
        lines[0]
    );
    assert!(
        !lines[0].contains("s3cr3t") && !lines[0].contains("/ok"),
        "{}",
        lines[0]
    );
}

/// Serves a build of the REST connector (Rust, JavaScript or Python: the same functions)
/// against a local API and a local integrator.io over TLS, and checks each function end to
/// end; returns the server and the API for language-specific checks.
async fn rest_connector_end_to_end(wasm: &str) -> (TestServer, ApiServer) {
    let apis = IntegratorApis::start().await;
    let server = TestServer::start_in(apis.plugins_dir("rest", wasm), |_| {}).await;
    let api = &apis.api;
    let connection = json!({"unencrypted": {"baseURI": format!("http://localhost:{}", api.port())}, "encrypted": {"token": API_TOKEN}});
    let call = |ty: &str, function: &str, options: Value| json!({"_connectorId": "rest", "type": ty, "function": function, "options": options});

    let r = server
        .call(&call(
            "wrapper",
            "pingApi",
            json!({"connection": connection}),
        ))
        .await;
    assert_eq!(r.text, r#"{"statusCode":200}"#);

    let mut state = Value::Null;
    let mut exported = Vec::new();
    for _ in 0..10 {
        let mut options = json!({"connection": connection});
        if !state.is_null() {
            options["state"] = state.clone();
        }
        let page = server
            .call(&call("wrapper", "exportApi", options))
            .await
            .json();
        exported.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].clone()),
        );
        if page["lastPage"] == true {
            break;
        }
        state = page["state"].clone();
    }
    assert_eq!(exported, vec!["r1", "r2", "r3", "r4", "r5"]);

    let r = server
        .call(&call(
            "wrapper",
            "importApi",
            json!({"connection": connection, "postMapData": [{"name": "a"}, {"name": ""}]}),
        ))
        .await;
    let results = r.json();
    assert_eq!(results[0], json!({"statusCode": 200, "id": "id-1"}));
    assert_eq!(results[1]["statusCode"], 422, "{results}");

    let r = server
        .call(&call(
            "hook",
            "stampIntegration",
            json!({"data": [{"a": 1}], "bearerToken": IO_TOKEN, "_integrationId": "i7"}),
        ))
        .await;
    assert_eq!(
        r.text,
        r#"{"data":[{"a":1,"integrationName":"Integration i7"}],"errors":[],"abort":false,"newErrorsAndRetryData":[]}"#
    );
    (server, apis.api)
}

fn fetch_url(url: String) -> Value {
    json!({"_connectorId": "rest", "type": "utility", "function": "fetchUrl", "options": {"url": url}})
}

#[tokio::test(flavor = "multi_thread")]
async fn the_javascript_rest_connector_works_with_fetch_through_the_host() {
    let (server, _api) = rest_connector_end_to_end(JS_REST_CONNECTOR_WASM).await;
    // Outside the policy, fetch rejects (catchably) and nothing reaches the server.
    let other = ApiServer::start().await;
    let r = server
        .call(&fetch_url(format!("http://localhost:{}/ok", other.port())))
        .await;
    let answer = r.json();
    assert!(answer["error"].is_string(), "{answer}");
    assert!(other.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_rest_connector_works_with_extension_http_through_the_host() {
    let (server, _api) = rest_connector_end_to_end(PY_REST_CONNECTOR_WASM).await;
    // Outside the policy, extension.http raises HttpError with the wasi:http code.
    let other = ApiServer::start().await;
    let r = server
        .call(&fetch_url(format!("http://localhost:{}/ok", other.port())))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["errors"][0]["code"],
        "HTTP-request-denied",
        "{}",
        r.text
    );
    assert!(other.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_host_gets_its_burst_then_is_refused_past_the_request_timeout() {
    let api = ApiServer::start().await;
    // A burst of 2, then one request per 1000 s: more than the 10 s request timeout allows.
    let server = probe_server(&format!(
        "{}[network.rate_limit]\nhosts = [\"http://localhost:{}\"]\nburst = 2\nper_second = 0.001\n",
        allow(&[format!("http://localhost:{}", api.port())]),
        api.port()
    ))
    .await;
    let r = server
        .call(
            &json!({"_connectorId": "probe", "type": "utility", "function": "fetchMany",
            "options": {"url": format!("http://localhost:{}/ok", api.port()), "count": 4}}),
        )
        .await;
    assert_eq!(
        r.json(),
        json!([
            200,
            200,
            "connection-limit-reached",
            "connection-limit-reached"
        ])
    );
    assert_eq!(api.seen().len(), 2);
    let listing = server.listing().await;
    assert_eq!(listing["plugins"][0]["network"]["rate_limit"]["burst"], 2);
}
