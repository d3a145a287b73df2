//! A Celigo-style JavaScript module (`plugins-js/diy-example/functions.js`), built unchanged
//! with the JavaScript SDK (`guest-sdk/js`), served through the real server: results, errors,
//! dates and non-serialisable results as the original answers them, and the sandbox limits.

use integration_tests::{JS_DIY_EXAMPLE_WASM, TestServer};
use serde_json::{Value, json};

use crate::eqjson;

async fn js_server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(JS_DIY_EXAMPLE_WASM, dir.path().join("diy.wasm")).unwrap();
    // The wall clock is the limit under test. A JavaScript busy loop burns ~10 G fuel units a
    // second of CPU, so with the default budget fuel could stop it first (also precise, but
    // which one wins would depend on the machine's load).
    let settings = "[limits]\ntimeout_ms = 1_000\nfuel = 1_000_000_000_000_000\n";
    std::fs::write(dir.path().join("diy.toml"), settings).unwrap();
    TestServer::start_in(dir, |_| {}).await
}

fn hook(function: &str, options: Value) -> Value {
    json!({"diy": true, "type": "hook", "function": function, "options": options})
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn a_celigo_module_runs_unchanged() {
    let server = js_server().await;
    let r = server
        .call(&hook("preMapPhones", json!({"data": [{"phone": "(555) 010-0199", "name": "Ada"}, {"phone": "12"}, {"name": "Grace"}]})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    eqjson!(
        r.json(),
        json!([
            {"data": {"phone": "+15550100199", "name": "Ada"}},
            {"errors": [{"code": "invalid_phone", "message": "'12' is not a phone number", "source": "preMapPhones"}]},
            {"data": {"name": "Grace"}},
        ])
    );

    // An async function (returns a promise instead of calling back).
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

    // Groups other than hooks (`type: "setting"` → settings).
    let r = server
        .call(&json!({"diy": true, "type": "setting", "function": "persistSettings", "options": {"pending": {"a": 1, "b": 2}}}))
        .await;
    eqjson!(r.json(), json!({"success": true, "saved": 2}));
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_dates_and_results_follow_the_original() {
    let server = js_server().await;
    // err.code, else err.name, as the original's {code: err.code || err.name}.
    let r = server.call(&hook("failWithCode", json!({}))).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"The vendor API rejected the page.","code":"vendor_rejected"}]}"#
        )
    );
    let r = server.call(&hook("failWithName", json!({}))).await;
    assert_eq!(
        r.text,
        r#"{"errors":[{"message":"Cannot read properties of undefined","code":"TypeError"}]}"#
    );

    // lastExportDateTime / currentExportDateTime arrive as Date objects.
    let r = server
        .call(&hook("delta", json!({"lastExportDateTime": "2020-01-02T03:04:05.000Z", "currentExportDateTime": "2021-06-01T00:00:00Z"})))
        .await;
    eqjson!(
        r.json(),
        json!({"lastIsDate": true, "last": "2020-01-02T03:04:05.000Z", "year": 2021})
    );

    // A Date in the result is not plain JSON data: the original's error, byte for byte.
    let r = server.call(&hook("notSerializable", json!({}))).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"Extension response is not serializable.","code":"invalid_extension_response"}]}"#
        )
    );

    // Unknown names are the protocol's errors, not JavaScript property lookups.
    let r = server.call(&hook("toString", json!({}))).await;
    assert_eq!(r.json()["errors"][0]["code"], "invalid_function");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_looping_javascript_hook_is_stopped() {
    let server = js_server().await;
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
