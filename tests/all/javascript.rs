//! A Celigo-style JavaScript module (`plugins-js/diy-example/functions.js`), built unchanged
//! with the JavaScript SDK (`guest-sdk/js`), served through the real server: results, errors,
//! dates and non-serialisable results as the original answers them, files it requires,
//! declared kinds whose contracts the host checks, and the sandbox limits.

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

    // A callback called on a later turn of the event loop, with a result or an error.
    let r = server
        .call(&hook("deferred", json!({"data": [1, 2, 3]})))
        .await;
    assert_eq!(r.text, r#"{"deferred":true,"records":3}"#);
    let r = server.call(&hook("deferredFailure", json!({}))).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"Rate limited.","code":"rate_limited"}]}"#
        )
    );

    // A function that never calls back: the original waits for the platform's timeout; here
    // the engine sees an empty event loop with the answer still pending and stops at once.
    let r = server.call(&hook("neverAnswers", json!({}))).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["errors"][0]["code"], "plugin_trap");
    assert!(r.text.contains("event loop error"), "{}", r.text);

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

#[tokio::test(flavor = "multi_thread")]
async fn declared_kinds_are_checked_against_their_contract() {
    let server = js_server().await;
    let l = server.listing().await;
    let functions = l["plugins"][0]["functions"].as_array().unwrap().clone();
    let find = |name: &str| functions.iter().find(|f| f["name"] == name).cloned();
    eqjson!(
        find("preMapPhones").unwrap(),
        json!({"name": "preMapPhones", "group": "hooks", "kind": "preMap", "boundary": "json"})
    );
    eqjson!(
        find("postSubmitEnrich").unwrap(),
        json!({"name": "postSubmitEnrich", "group": "hooks", "kind": "json", "boundary": "json"})
    );

    // The declared preMap contract: one result per record …
    let r = server
        .call(&hook(
            "preMapDropsOne",
            json!({"data": [{"id": 1}, {"id": 2}]}),
        ))
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"The preMap function \"preMapDropsOne\" returned 1 entries for 2 records in options.data; the contract requires exactly one per entry.","code":"invalid_extension_response"}]}"#
        )
    );
    // … each `{data, errors}`: a bare record is caught, not taken as an ignored record.
    let r = server
        .call(&hook("preMapBareRecords", json!({"data": [{"id": 1}]})))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let message = r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("The preMap function \"preMapBareRecords\" returned a result that does not fit its contract: entry 0: unknown field `id`"),
        "{message}"
    );
    // … and options of the kind's shape.
    let r = server
        .call(&hook("preMapPhones", json!({"records": []})))
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"options.data must be an array for the preMap function \"preMapPhones\".","code":"invalid_options"}]}"#
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn required_files_are_bundled_and_node_builtins_are_refused_when_called() {
    let server = js_server().await;
    // preMapPhones uses ./lib/phone.js, which reads ./lib/phone-rules.json.
    let r = server
        .call(&hook(
            "preMapPhones",
            json!({"data": [{"phone": "+44 20 7946 0958"}]}),
        ))
        .await;
    assert_eq!(r.text, r#"[{"data":{"phone":"+442079460958"}}]"#);
    let r = server
        .call(&json!({"diy": true, "type": "utility", "function": "readConfigFile", "options": {}}))
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"require('fs') is not available in the sandbox: 'fs' is a Node.js built-in module, and plugins have no file, network or process access","code":"Error"}]}"#
        )
    );
}
