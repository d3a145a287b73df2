//! A Python module (`plugins-py/diy-example/functions.py`) built with the Python SDK
//! (`guest-sdk/python`), served through the real server: plain functions grouped in dicts,
//! sibling imports, async functions, errors with code and message, dates, declared kinds and
//! the sandbox limits. Also: the benchmark workload answers alike in Rust, JavaScript and
//! Python.

use integration_tests::{
    BENCH_WASM, JS_BENCH_WASM, PY_BENCH_WASM, PY_DIY_EXAMPLE_WASM, TestServer,
};
use serde_json::{Value, json};

use crate::eqjson;
use crate::interpreted::{self, hook};

async fn py_server() -> TestServer {
    interpreted::server(PY_DIY_EXAMPLE_WASM).await
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn a_python_module_serves_its_groups() {
    let server = py_server().await;
    let r = server
        .call(&hook("preMapPhones", json!({"data": [{"phone": "(555) 010-0199", "name": "Ada"}, {"phone": "12"}, {"name": "Grace"}]})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.text,
        r#"[{"data":{"phone":"+15550100199","name":"Ada"}},{"errors":[{"code":"invalid_phone","message":"'12' is not a phone number","source":"preMapPhones"}]},{"data":{"name":"Grace"}}]"#
    );

    // An `async def` function.
    let r = server
        .call(&hook("postSubmitEnrich", json!({
            "preMapData": [{"id": "a1"}],
            "responseData": [{"statusCode": 422, "errors": [{"code": "bad", "message": "Bad email"}]}],
        })))
        .await;
    eqjson!(
        r.json(),
        json!([{"statusCode": 422, "errors": [{"code": "bad", "message": "Bad email (source record \"a1\")"}]}])
    );

    let r = server
        .call(&json!({"diy": true, "type": "setting", "function": "persistSettings", "options": {"pending": {"a": 1, "b": 2}}}))
        .await;
    eqjson!(r.json(), json!({"success": true, "saved": 2}));

    // A root function (`__all__`), reached by a request without `type`; helpers are not.
    let r = server
        .call(&json!({"diy": true, "function": "version", "options": {"caller": "flow-7"}}))
        .await;
    assert_eq!(r.text, r#"{"version":"1.4.2","caller":"flow-7"}"#);
    let r = server
        .call(&json!({"diy": true, "function": "normalise_phone", "options": {}}))
        .await;
    assert_eq!(r.json()["errors"][0]["code"], "invalid_function");

    let listing = server.listing().await;
    let functions = listing["plugins"][0]["functions"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        functions.contains(
            &json!({"name": "preMapPhones", "group": "hooks", "kind": "preMap", "boundary": "json"})
        ),
        "{functions:?}"
    );
    assert!(functions.contains(
        &json!({"name": "persistSettings", "group": "settings", "kind": "json", "boundary": "json"})
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_dates_and_contracts() {
    let server = py_server().await;
    let r = server.call(&hook("failWithCode", json!({}))).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"The vendor API rejected the page.","code":"vendor_rejected"}]}"#
        )
    );
    // Any other exception: its class name and str(), as JavaScript's err.name and message.
    let r = server.call(&hook("failWithName", json!({}))).await;
    assert_eq!(
        r.text,
        r#"{"errors":[{"message":"'missing'","code":"KeyError"}]}"#
    );
    // A numeric code stays a JSON number.
    let r = server.call(&hook("failWithNumber", json!({}))).await;
    assert_eq!(
        r.text,
        r#"{"errors":[{"message":"Vendor error five.","code":5}]}"#
    );

    // sys.exit() fails the call, not the plugin.
    let r = server.call(&hook("giveUp", json!({}))).await;
    assert_eq!(
        r.text,
        r#"{"errors":[{"message":"no records to process","code":"SystemExit"}]}"#
    );

    // lastExportDateTime / currentExportDateTime arrive as datetime objects (and
    // extension.log reaches the host log) …
    let logs = integration_tests::captured_logs();
    let r = server
        .call(&hook("delta", json!({"lastExportDateTime": "2020-01-02T03:04:05.000Z", "currentExportDateTime": "2021-06-01T00:00:00Z"})))
        .await;
    eqjson!(
        r.json(),
        json!({"lastIsDate": true, "last": "2020-01-02T03:04:05+00:00", "year": 2021})
    );
    let lines = logs.lock().unwrap().clone();
    assert!(
        lines.iter().any(
            |l| l.contains("delta export window 2020-01-02T03:04:05+00:00")
                && l.contains(r#"connector="diy""#)
        ),
        "{lines:#?}"
    );
    // … and are not JSON data when returned.
    let r = server
        .call(&hook(
            "notSerializable",
            json!({"lastExportDateTime": "2020-01-02T03:04:05Z"}),
        ))
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"Extension response is not serializable.","code":"invalid_extension_response"}]}"#
        )
    );

    // A declared preMap is held to its contract.
    let r = server
        .call(&hook(
            "preMapDropsOne",
            json!({"data": [{"id": 1}, {"id": 2}]}),
        ))
        .await;
    assert_eq!(r.json()["errors"][0]["code"], "invalid_extension_response");
    assert!(
        r.text.contains("returned 1 entries for 2 records"),
        "{}",
        r.text
    );

    let r = server.call(&hook("__init__", json!({}))).await;
    assert_eq!(r.json()["errors"][0]["code"], "invalid_function");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_looping_python_hook_is_stopped() {
    let server = py_server().await;
    interpreted::a_runaway_loop_is_stopped_and_the_module_keeps_serving(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn the_benchmark_workload_answers_alike_in_every_language() {
    let server = TestServer::start(&[
        ("rust.wasm", BENCH_WASM),
        ("js.wasm", JS_BENCH_WASM),
        ("py.wasm", PY_BENCH_WASM),
    ])
    .await;
    let records = integration_tests::records(20);
    let responses: Vec<Value> = records
        .iter()
        .map(|r| json!({"statusCode": 200, "id": r["id"], "ignored": false}))
        .collect();
    for (function, options) in [
        ("preMapUpper", json!({"data": records})),
        ("echo", json!({"data": records})),
        (
            "postSubmitIds",
            json!({"responseData": responses, "preMapData": records}),
        ),
    ] {
        let mut answers = Vec::new();
        for connector in ["rust", "js", "py"] {
            let body = json!({"_connectorId": connector, "type": "hook", "function": function, "options": options});
            let r = server.call(&body).await;
            assert_eq!(r.status, 200, "{connector} {function}: {}", r.text);
            answers.push(integration_tests::by_value(r.json()));
        }
        assert_eq!(answers[0], answers[1], "{function}: Rust vs JavaScript");
        assert_eq!(answers[0], answers[2], "{function}: Rust vs Python");
    }
}
