//! Existing JavaScript modules that call out with Node's own libraries, unchanged: `request`
//! with `async`, `lodash` and `winston` as integrator.io's public samples are written
//! (`plugins-js/integrator-sample`), and `axios`, `node-fetch` 2, `https.request`, winston 2,
//! `crypto` and a stubbed `fs` (`plugins-js/test-node-clients`), all through the host's egress
//! policy against local servers (HTTPS with a test CA standing in for integrator.io).

use integration_tests::api::{API_TOKEN, IO_TOKEN, IntegratorApis};
use integration_tests::{
    JS_INTEGRATOR_SAMPLE_WASM, JS_TEST_NODE_CLIENTS_WASM, TestServer, captured_logs,
};
use serde_json::{Value, json};

/// A server with `module` as connector `id`, allowed to reach the stand-ins in `apis`.
async fn server(id: &str, module: &str, apis: &IntegratorApis) -> TestServer {
    TestServer::start_in(apis.plugins_dir(id, module), |_| {}).await
}

fn logged(logs: &std::sync::Mutex<Vec<String>>, text: &str) -> bool {
    logs.lock().unwrap().iter().any(|l| l.contains(text))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sample_style_request_module_enriches_a_page_with_one_integrator_io_lookup_per_record() {
    let apis = IntegratorApis::start().await;
    let server = server("sample", JS_INTEGRATOR_SAMPLE_WASM, &apis).await;
    let logs = captured_logs();
    let r = server
        .call(&json!({"_connectorId": "sample", "type": "hook", "function": "preSavePage", "options": {
            "data": [{"integrationId": "i1"}, {"integrationId": "i2"}, {"integrationId": "i3"}],
            "errors": [], "bearerToken": IO_TOKEN, "_importId": "imp"
        }}))
        .await;
    assert_eq!(
        r.json(),
        json!({"data": [
            {"integrationId": "i1", "integrationName": "Integration i1"},
            {"integrationId": "i2", "integrationName": "Integration i2"},
            {"integrationId": "i3", "integrationName": "Integration i3"}
        ], "errors": []}),
        "{}",
        r.text
    );
    let seen = apis.io.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter().all(|s| s.host == "api.integrator.io"),
        "{seen:?}"
    );
    assert!(
        logged(&logs, "preSavePage enriched 3 record(s)"),
        "winston's Console transport reaches the host log"
    );

    // A wrong token: each lookup's 401 becomes an error of the page; the call succeeds.
    let r = server
        .call(&json!({"_connectorId": "sample", "type": "hook", "function": "preSavePage", "options": {
            "data": [{"integrationId": "i1"}], "errors": [], "bearerToken": "wrong"
        }}))
        .await;
    assert_eq!(
        r.json()["errors"],
        json!([{"code": "lookup_failed", "message": "Integration i1: the API answered 401."}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sample_style_post_submit_forwards_json_records_and_turns_non_2xx_into_record_errors() {
    let apis = IntegratorApis::start().await;
    let server = server("sample", JS_INTEGRATOR_SAMPLE_WASM, &apis).await;
    let r = server
        .call(&json!({"_connectorId": "sample", "type": "hook", "function": "postSubmit", "options": {
            "preMapData": [{"name": "a"}, {"name": ""}, {"name": "c"}],
            "postMapData": [{}, {}, {}],
            "responseData": [{"statusCode": 200}, {"statusCode": 200}, {"statusCode": 200}],
            "settings": {"apiBase": format!("http://localhost:{}", apis.api.port()), "apiToken": API_TOKEN}
        }}))
        .await;
    let results = r.json();
    assert_eq!(results[0]["statusCode"], 200, "{results}");
    assert_eq!(results[2]["statusCode"], 200, "{results}");
    assert_eq!(
        results[1],
        json!({"statusCode": 422, "errors": [{"code": "forward_failed", "message": "The API answered 400: name is required"}]})
    );
    let mut names: Vec<_> = apis
        .api
        .imported()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "c"]);
}

async fn clients(function: &str, options: Value) -> (Value, IntegratorApis) {
    let apis = IntegratorApis::start().await;
    let server = server("clients", JS_TEST_NODE_CLIENTS_WASM, &apis).await;
    let r = server
        .call(&json!({"_connectorId": "clients", "type": "utility", "function": function, "options": options}))
        .await;
    (r.json(), apis)
}

#[tokio::test(flavor = "multi_thread")]
async fn axios_gets_over_tls_with_a_bearer_token_and_reads_a_401_as_a_response() {
    let (answer, apis) = clients(
        "axiosGet",
        json!({"url": "https://api.integrator.io/v1/integrations/i9", "token": IO_TOKEN}),
    )
    .await;
    assert_eq!(
        answer,
        json!({"status": 200, "data": {"_id": "i9", "name": "Integration i9"}})
    );
    assert_eq!(apis.io.seen()[0].host, "api.integrator.io");
    let (answer, _) = clients(
        "axiosGet",
        json!({"url": "https://api.integrator.io/v1/integrations/i9", "token": "wrong"}),
    )
    .await;
    assert_eq!(answer["status"], 401, "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn axios_and_node_fetch_post_json_bodies() {
    let apis = IntegratorApis::start().await;
    let server = server("clients", JS_TEST_NODE_CLIENTS_WASM, &apis).await;
    let url = format!("http://localhost:{}/records", apis.api.port());
    let call = |function: &str, name: &str| {
        json!({"_connectorId": "clients", "type": "utility", "function": function,
            "options": {"url": url, "token": API_TOKEN, "record": {"name": name}}})
    };
    let r = server.call(&call("axiosPost", "from-axios")).await;
    assert_eq!(r.json(), json!({"status": 201, "data": {"id": "id-1"}}));
    let r = server.call(&call("nodeFetchPost", "from-node-fetch")).await;
    assert_eq!(r.json(), json!({"status": 201, "body": r#"{"id":"id-2"}"#}));
    let r = server.call(&call("nodeFetchPost", "")).await;
    assert_eq!(r.json(), json!({"status": 400, "body": "name is required"}));
    assert_eq!(
        apis.api.imported(),
        vec![
            json!({"name": "from-axios"}),
            json!({"name": "from-node-fetch"})
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn https_request_works_and_the_headers_the_host_manages_are_dropped_not_failed() {
    let (answer, apis) = clients(
        "httpsRequest",
        json!({"url": "https://api.integrator.io/v1/integrations/i4", "token": IO_TOKEN}),
    )
    .await;
    assert_eq!(
        answer,
        json!({"status": 200, "body": r#"{"_id":"i4","name":"Integration i4"}"#})
    );
    // The forged Host header never reached the server.
    assert_eq!(apis.io.seen()[0].host, "api.integrator.io");

    let server = server("clients", JS_TEST_NODE_CLIENTS_WASM, &apis).await;
    let r = server
        .call(&json!({"_connectorId": "clients", "type": "utility", "function": "httpsRequest", "options": {
            "url": format!("http://localhost:{}/records", apis.api.port()), "token": API_TOKEN,
            "record": {"name": "over-http"}
        }}))
        .await;
    assert_eq!(r.json(), json!({"status": 201, "body": r#"{"id":"id-1"}"#}));
}

#[tokio::test(flavor = "multi_thread")]
async fn winston_2_logs_to_the_host_log_and_a_stubbed_built_in_fails_only_when_called() {
    let apis = IntegratorApis::start().await;
    let server = server("clients", JS_TEST_NODE_CLIENTS_WASM, &apis).await;
    let logs = captured_logs();
    let call = |function: &str, options: Value| json!({"_connectorId": "clients", "type": "utility", "function": function, "options": options});
    let r = server
        .call(&call(
            "winston2",
            json!({"message": "hello from winston two"}),
        ))
        .await;
    assert_eq!(r.text, r#""logged""#);
    assert!(logged(&logs, "hello from winston two"));

    let r = server.call(&call("readFile", json!({}))).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["errors"][0],
        json!({"code": "Error", "message": "fs.readFileSync() is not available in the sandbox: plugins have no file system, sockets, processes or threads; outbound HTTP(S) goes through http, https or fetch"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn crypto_and_process_globals_behave_as_node_s() {
    let (answer, _) = clients("hmac", json!({"text": "abc"})).await;
    assert_eq!(
        answer,
        json!({
            "hmac": "9c196e32dc0175f86f4b1cb89289d6619de6bee699e4c378e68309ed97a1a6ab",
            "sha1": "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=",
            "random": 8,
            "nodeVersion": "v20.0.0",
            "env": 0
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_error_s_stack_trace_names_the_author_s_file_and_line() {
    let logs = captured_logs();
    let (answer, _) = clients("bug", json!({})).await;
    assert_eq!(
        answer,
        json!({"errors": [{"code": "TypeError", "message": "can't access property \"field\", record.missing is undefined"}]})
    );
    let line = logs
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("record.missing is undefined") && l.contains(" at "))
        .cloned()
        .unwrap_or_default();
    assert!(line.contains("/lib/broken.js:4"), "{line}");
    assert!(line.contains("/functions.js:"), "{line}");
}
