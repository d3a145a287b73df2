//! A host listens before its modules have loaded: a call to a module still loading waits for
//! it (bounded by the load wait) or answers `503 plugin_loading`; `/readyz` reports ready once
//! every module found at start has loaded or failed, `/livez` all along.

use integration_tests::{TEST_PROBE_WASM, TestServer};
use serde_json::json;

fn probe_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(TEST_PROBE_WASM, dir.path().join("probe.wasm")).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_to_a_module_still_loading_answers_503_plugin_loading_after_the_load_wait() {
    let (server, state) = TestServer::listen_in(probe_dir(), |c| {
        c.load_wait = std::time::Duration::from_millis(50);
    })
    .await;
    let body = json!({"_connectorId": "probe", "function": "whoami", "options": {}});

    let r = server.call(&body).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.headers["retry-after"], "2");
    assert_eq!(
        r.json(),
        json!({"errors": [{
            "message": "The module serving probe is still loading (compiling after a start or a change); try again shortly.",
            "code": "plugin_loading",
        }]})
    );
    // Listening and alive, not ready; the listing says what is loading.
    assert_eq!(server.get("/livez").await.status, 200);
    let ready = server.get("/readyz").await;
    assert_eq!(
        (ready.status, ready.text.as_str()),
        (503, "Loading: 1 modules still loading")
    );
    assert_eq!(server.listing().await["loading"], json!(["probe"]));
    // An id that is not in the directory is unknown at once, as before.
    let r = server
        .call(&json!({"_connectorId": "nobody", "function": "whoami", "options": {}}))
        .await;
    assert_eq!(
        (r.status, r.json()["errors"][0]["code"].as_str()),
        (422, Some("invalid_field"))
    );

    let _loading = state.registry.start();
    server.wait_ready().await;
    let r = server.call(&body).await;
    assert_eq!((r.status, r.text.as_str()), (200, r#""probe""#));
    assert_eq!(server.listing().await["loading"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_that_arrives_while_its_module_loads_waits_for_it_and_is_answered() {
    let (server, state) = TestServer::listen_in(probe_dir(), |_| {}).await;
    let body = json!({"_connectorId": "probe", "function": "whoami", "options": {}});
    let server = std::sync::Arc::new(server);
    let call = tokio::spawn({
        let server = server.clone();
        async move { server.call(&body).await }
    });
    // Its connection is open before the module starts loading; it is answered once it loads.
    integration_tests::eventually("the call is waiting", || async {
        state.registry.current().loading.contains("probe") && state.connections.get() >= 1
    })
    .await;
    let _loading = state.registry.start();
    let r = call.await.unwrap();
    assert_eq!((r.status, r.text.as_str()), (200, r#""probe""#));
}
