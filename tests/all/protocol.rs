//! The wire protocol, row by row (DESIGN.md, "The wire protocol"): bodies are compared as
//! exact text because key order and the misspelled "does't" are part of the contract.

use integration_tests::{TEST_PROBE_WASM, TOKEN, TestServer};
use serde_json::json;

const UNAUTHORIZED: &str =
    r#"{"errors":[{"code":"unauthorized","message":"Invalid system token."}]}"#;
const DIY_MISSING: &str = r#"{"code":"missing_required_field","message":"DIY is not configured in the extension configuration."}"#;
const CONNECTOR_UNKNOWN: &str = r#"{"code":"invalid_field","message":"The _connectorId set in the extension options does't match any of the _connectorId's present in extension configuration."}"#;
const NEITHER: &str = r#"{"code":"missing_required_field","message":"Need to set either the diy or _connectorId field in extension options."}"#;
const NO_FUNCTION: &str = r#"{"code":"missing_required_field","message":"Missing required field function in the extension options."}"#;
const FUNCTION_NOT_STRING: &str = r#"{"code":"invalid_field","message":"The function field in the extension options must be of type string."}"#;
const NO_OPTIONS: &str =
    r#"{"code":"missing_required_field","message":"Function options haven't been provided."}"#;
const INVALID_FUNCTION: &str = r#"{"errors":[{"message":"The function passed in the extension options doesn't map to a function.","code":"invalid_function"}]}"#;

fn errors(items: &[&str]) -> String {
    format!(r#"{{"errors":[{}]}}"#, items.join(","))
}

async fn diy_server() -> TestServer {
    TestServer::start(&[("diy.wasm", TEST_PROBE_WASM)]).await
}

async fn connector_server() -> TestServer {
    TestServer::start(&[("5d1f0c0e0a1b2c3d4e5f6a7b.wasm", TEST_PROBE_WASM)]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn health_routes_answer_like_the_original() {
    let server = diy_server().await;
    for path in ["/", "/healthCheck"] {
        let r = server.get(path).await;
        assert_eq!(
            (r.status, r.text.as_str()),
            (200, r#"{"success":true}"#),
            "{path}"
        );
        assert_eq!(r.headers["content-type"], "application/json; charset=utf-8");
    }
    for path in ["/livez", "/readyz"] {
        let r = server.get(path).await;
        assert_eq!((r.status, r.text.as_str()), (200, "OK"), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_and_methods_answer_in_the_error_format() {
    let server = diy_server().await;
    let r = server.get("/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["errors"][0]["code"], "not_found");
    let r = server.get("/function").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["errors"][0]["code"], "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_wrong_token_is_refused() {
    let server = diy_server().await;
    let body =
        json!({"diy": true, "type": "utility", "function": "echo", "options": {}}).to_string();
    for auth in [
        None,
        Some("Bearer wrong"),
        Some(&*format!("Basic {TOKEN}")),
        Some(&*format!("Bearer  {TOKEN}")),
    ] {
        let r = server
            .post_raw(body.clone(), Some("application/json"), auth, "")
            .await;
        assert_eq!(r.status, 401, "{auth:?}");
        assert_eq!(r.text, UNAUTHORIZED);
        assert_eq!(r.headers["www-authenticate"], "invalid system token");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_is_found_in_header_then_body_then_query() {
    let server = diy_server().await;
    let call = json!({"diy": true, "type": "utility", "function": "echo", "options": {"a": 1}});
    let ok =
        |r: &integration_tests::Reply| assert_eq!((r.status, r.text.as_str()), (200, r#"{"a":1}"#));

    // Scheme is case-insensitive.
    ok(&server
        .post_raw(
            call.to_string(),
            Some("application/json"),
            Some(&format!("bEaReR {TOKEN}")),
            "",
        )
        .await);
    // No header: the body's access_token.
    let mut with_token = call.clone();
    with_token["access_token"] = json!(TOKEN);
    ok(&server
        .post_raw(with_token.to_string(), Some("application/json"), None, "")
        .await);
    // No header, no body token: the query string.
    ok(&server
        .post_raw(
            call.to_string(),
            Some("application/json"),
            None,
            &format!("?access_token={TOKEN}"),
        )
        .await);
    // A header that is present but malformed wins over a valid body token.
    let r = server
        .post_raw(
            with_token.to_string(),
            Some("application/json"),
            Some("Bearer"),
            "",
        )
        .await;
    assert_eq!(r.status, 401);
    // A wrong body token wins over a valid query token.
    let mut wrong = call.clone();
    wrong["access_token"] = json!("nope");
    let r = server
        .post_raw(
            wrong.to_string(),
            Some("application/json"),
            None,
            &format!("?access_token={TOKEN}"),
        )
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_validation_error_is_collected_in_order() {
    let diy = diy_server().await;
    let connectors = connector_server().await;

    let r = connectors
        .call(&json!({"diy": true, "function": "echo", "options": {}}))
        .await;
    assert_eq!((r.status, r.text), (422, errors(&[DIY_MISSING])));

    let r = diy
        .call(&json!({"_connectorId": "nope", "function": "echo", "options": {}}))
        .await;
    assert_eq!((r.status, r.text), (422, errors(&[CONNECTOR_UNKNOWN])));

    let r = diy.call(&json!({"function": "echo", "options": {}})).await;
    assert_eq!((r.status, r.text), (422, errors(&[NEITHER])));

    let r = diy.call(&json!({"diy": true, "options": {}})).await;
    assert_eq!((r.status, r.text), (422, errors(&[NO_FUNCTION])));

    let r = diy
        .call(&json!({"diy": true, "function": ["echo"], "options": {}}))
        .await;
    assert_eq!((r.status, r.text), (422, errors(&[FUNCTION_NOT_STRING])));

    let r = diy.call(&json!({"diy": true, "function": "echo"})).await;
    assert_eq!((r.status, r.text), (422, errors(&[NO_OPTIONS])));

    // All at once, in the original's order.
    let r = connectors
        .call(&json!({"diy": 1, "function": 7, "options": null}))
        .await;
    assert_eq!(
        (r.status, r.text),
        (422, errors(&[DIY_MISSING, FUNCTION_NOT_STRING, NO_OPTIONS]))
    );
    let r = diy
        .call(&json!({"_connectorId": "x", "function": ""}))
        .await;
    assert_eq!(
        (r.status, r.text),
        (422, errors(&[CONNECTOR_UNKNOWN, NO_FUNCTION, NO_OPTIONS]))
    );
    let r = diy.call(&json!({})).await;
    assert_eq!(
        (r.status, r.text),
        (422, errors(&[NEITHER, NO_FUNCTION, NO_OPTIONS]))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn falsy_fields_count_as_missing_as_in_javascript() {
    let server = diy_server().await;
    // diy: false falls through to _connectorId; options 0 / "" are missing.
    let r = server
        .call(&json!({"diy": false, "function": "echo", "options": 0}))
        .await;
    assert_eq!((r.status, r.text), (422, errors(&[NEITHER, NO_OPTIONS])));
    let r = server
        .call(&json!({"diy": true, "function": "echo", "options": ""}))
        .await;
    assert_eq!((r.status, r.text), (422, errors(&[NO_OPTIONS])));
    // A truthy non-object options is passed on as is to a free-form function.
    let r = server
        .call(&json!({"diy": true, "function": "echo", "options": [1, "two"]}))
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, r#"[1,"two"]"#));
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_are_read_like_body_parser() {
    let server = diy_server().await;
    let auth = format!("Bearer {TOKEN}");
    // A top-level array has no fields: every missing-field error.
    let r = server
        .post_raw("[1,2]".into(), Some("application/json"), Some(&auth), "")
        .await;
    assert_eq!(
        (r.status, r.text),
        (422, errors(&[NEITHER, NO_FUNCTION, NO_OPTIONS]))
    );
    // A body that is not declared JSON is not parsed.
    let body = json!({"diy": true, "function": "echo", "options": {}}).to_string();
    let r = server
        .post_raw(body, Some("text/plain"), Some(&auth), "")
        .await;
    assert_eq!(
        (r.status, r.text),
        (422, errors(&[NEITHER, NO_FUNCTION, NO_OPTIONS]))
    );
    // Malformed JSON and strict-mode violations are 400, in the protocol's format.
    for bad in ["{\"diy\": tru", "\"just a string\"", "42"] {
        let r = server
            .post_raw(bad.into(), Some("application/json"), Some(&auth), "")
            .await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["errors"][0]["code"], "invalid_json", "{bad}");
    }
    // The server is unharmed.
    let r = server
        .call(&json!({"diy": true, "function": "echo", "options": {"ok": true}}))
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, r#"{"ok":true}"#));
}

#[tokio::test(flavor = "multi_thread")]
async fn type_selects_a_group_and_a_missing_group_is_object_not_found() {
    let server = diy_server().await;
    // type → group: utility → utilities, hook → hooks, other names as is, none → root.
    for (ty, expected) in [
        (json!("utility"), "utilities"),
        (json!("utilities"), "utilities"),
        (json!("custom"), "custom"),
        (json!(null), "root"),
    ] {
        let r = server.call(&json!({"diy": true, "type": ty, "function": "echo", "options": {"group": expected}})).await;
        assert_eq!(r.status, 200, "{ty}: {}", r.text);
    }
    let r = server
        .call(&json!({"diy": true, "type": "wrapper", "function": "echo", "options": {}}))
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"The object wrapper doesn't exist in the module.","code":"object_not_found"}]}"#
        )
    );
    // The type is printed as JavaScript would.
    let r = server
        .call(&json!({"diy": true, "type": 5, "function": "echo", "options": {}}))
        .await;
    assert_eq!(
        r.text,
        r#"{"errors":[{"message":"The object 5 doesn't exist in the module.","code":"object_not_found"}]}"#
    );
    let r = server
        .call(&json!({"diy": true, "type": {"a": 1}, "function": "echo", "options": {}}))
        .await;
    assert_eq!(
        r.json()["errors"][0]["message"],
        "The object [object Object] doesn't exist in the module."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_functions_and_inherited_javascript_names_are_invalid_function() {
    let server = diy_server().await;
    for name in [
        "nope",
        "toString",
        "constructor",
        "__proto__",
        "hasOwnProperty",
    ] {
        let r = server
            .call(&json!({"diy": true, "type": "utility", "function": name, "options": {}}))
            .await;
        assert_eq!(
            (r.status, r.text.as_str()),
            (422, INVALID_FUNCTION),
            "{name}"
        );
        let r = server
            .call(&json!({"diy": true, "function": name, "options": {}}))
            .await;
        assert_eq!(
            (r.status, r.text.as_str()),
            (422, INVALID_FUNCTION),
            "{name} at the root"
        );
    }
    // The group exists but as a hook group: a utility name in it is not found.
    let r = server
        .call(&json!({"diy": true, "type": "hook", "function": "echo", "options": {}}))
        .await;
    assert_eq!((r.status, r.text.as_str()), (422, INVALID_FUNCTION));
    // The original would accept "constructor" as a connector id; we do not.
    let connectors = connector_server().await;
    let r = connectors
        .call(&json!({"_connectorId": "constructor", "function": "echo", "options": {}}))
        .await;
    assert_eq!((r.status, r.text), (422, errors(&[CONNECTOR_UNKNOWN])));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_function_error_is_answered_with_its_code_and_message() {
    let server = diy_server().await;
    let r = server
        .call(&json!({"diy": true, "type": "utility", "function": "fail", "options": {"code": "my_code", "message": "Bad \"thing\" happened"}}))
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"Bad \"thing\" happened","code":"my_code"}]}"#
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_numeric_function_error_code_is_answered_as_a_json_number() {
    let server = diy_server().await;
    for (code, wire) in [(json!(5), "5"), (json!(2.5), "2.5"), (json!(-12), "-12")] {
        let r = server
            .call(&json!({"diy": true, "type": "utility", "function": "fail", "options": {"code": code, "message": "m"}}))
            .await;
        assert_eq!(
            (r.status, r.text),
            (
                422,
                format!(r#"{{"errors":[{{"message":"m","code":{wire}}}]}}"#)
            )
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn max_response_size_is_counted_like_javascript_and_the_limit_itself_passes() {
    let server = diy_server().await;
    let sized = |size: u64, ch: &str, max: serde_json::Value| json!({"diy": true, "type": "utility", "function": "sized", "maxResponseSize": max, "options": {"size": size, "char": ch}});
    // A string of 8 chars serialises to 10 characters with its quotes.
    let r = server.call(&sized(8, "x", json!(10))).await;
    assert_eq!((r.status, r.text.as_str()), (200, r#""xxxxxxxx""#));
    let r = server.call(&sized(9, "x", json!(10))).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"response stream exceeded limit of 10 bytes.","code":"response_size_exceeded"}]}"#
        )
    );
    // "é" is one UTF-16 unit (two UTF-8 bytes); "😀" is two units.
    assert_eq!(server.call(&sized(8, "é", json!(10))).await.status, 200);
    assert_eq!(server.call(&sized(5, "😀", json!(10))).await.status, 422);
    // 0 or absent means the 5 MiB default: the limit itself passes, one more unit fails.
    let limit = 5 * 1024 * 1024;
    assert_eq!(
        server.call(&sized(limit - 2, "x", json!(0))).await.status,
        200
    );
    let r = server.call(&sized(limit - 1, "x", json!(null))).await;
    assert_eq!(
        r.json()["errors"][0]["message"],
        "response stream exceeded limit of 5242880 bytes."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_function_that_returns_nothing_answers_an_empty_200() {
    let server = diy_server().await;
    let r = server
        .call(&json!({"diy": true, "type": "utility", "function": "nothing", "options": {}}))
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    assert_eq!(r.headers["content-type"], "application/json; charset=utf-8");
    let r = server
        .call(&json!({"diy": true, "type": "utility", "function": "null", "options": {}}))
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, "null"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_up_to_50_mb_are_accepted_and_larger_ones_refused() {
    let server = diy_server().await;
    // ~20 MB of records through a typed hook.
    let records: Vec<_> = (0..60_000)
        .map(|i| json!({"id": i, "pad": "x".repeat(320)}))
        .collect();
    let body = json!({"diy": true, "type": "hook", "function": "preMapProbe", "options": {"data": records}});
    let r = server.call(&body).await;
    assert_eq!(
        r.status, 422,
        "the echo is larger than the 5 MiB default response limit"
    );
    assert_eq!(r.json()["errors"][0]["code"], "response_size_exceeded");
    let mut body = body;
    body["maxResponseSize"] = json!(100_000_000);
    let r = server.call(&body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()[0]["data"]["count"], 60_000);

    // A body declared larger than 50 MB is refused before it is read.
    let r = server.raw_http(&format!(
        "POST /function HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{{\"pad\":\"",
        50 * 1024 * 1024 + 1
    ))
    .await;
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    let body = &r[r.find("\r\n\r\n").unwrap() + 4..];
    let r = integration_tests::Reply {
        status: 413,
        headers: Default::default(),
        text: body.to_string(),
    };
    assert_eq!(r.json()["errors"][0]["code"], "request_too_large");
}
