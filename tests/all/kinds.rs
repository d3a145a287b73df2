//! A roundtrip for every function kind through the real server, and the guarantee that no
//! `options` field is dropped on the way to the function.

use integration_tests::{
    BENCH_WASM, DIY_EXAMPLE_WASM, FLAT_EXAMPLE_WASM, TEST_PROBE_WASM, TestServer,
};
use serde_json::{Value, json};

use crate::eqjson;

async fn call(server: &TestServer, ty: &str, function: &str, options: Value) -> Value {
    let r = server
        .call(&json!({"diy": true, "type": ty, "function": function, "options": options}))
        .await;
    assert_eq!(r.status, 200, "{function}: {}", r.text);
    if r.text.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn diy_example_every_kind_roundtrips() {
    let server = TestServer::start(&[("diy.wasm", DIY_EXAMPLE_WASM)]).await;

    // preSavePage: duplicates by id are dropped; abort when settings say so.
    let out = call(
        &server,
        "hook",
        "preSavePageDedupe",
        json!({
            "data": [{"id": 1}, {"id": 2}, {"id": 1}, {"noId": true}],
            "errors": [{"code": "e", "message": "m", "source": "s", "retryDataKey": "k"}],
            "pageIndex": 3, "settings": {"abortAfterPage": 3}, "_exportId": "exp1",
        }),
    )
    .await;
    eqjson!(
        out,
        json!({
            "data": [{"id": 1}, {"id": 2}, {"noId": true}],
            "errors": [{"code": "e", "message": "m", "source": "s", "retryDataKey": "k"}],
            "abort": true, "newErrorsAndRetryData": [],
        })
    );

    // preMap: phones normalised; a bad one becomes a per-record error; no phone passes as is.
    let out = call(&server, "hook", "preMapPhones", json!({
        "data": [{"phone": "(555) 010-0199", "name": "Ada"}, {"phone": "12"}, {"name": "Grace"}],
    })).await;
    eqjson!(
        out,
        json!([
            {"data": {"phone": "+15550100199", "name": "Ada"}},
            {"errors": [{"code": "invalid_phone", "message": "'12' is not a phone number", "source": "preMapPhones"}]},
            {"data": {"name": "Grace"}},
        ])
    );

    // postMap: country filled from the source record, or US.
    let out = call(&server, "hook", "postMapDefaults", json!({
        "preMapData": [{"country": "DE"}, {}], "postMapData": [{"n": 1}, {"n": 2, "country": "FR"}],
    })).await;
    eqjson!(
        out,
        json!([{"data": {"n": 1, "country": "DE"}}, {"data": {"n": 2, "country": "FR"}}])
    );

    // postSubmit: error messages name the source record.
    let out = call(&server, "hook", "postSubmitEnrich", json!({
        "preMapData": [{"id": "a1"}, {"id": "a2"}], "postMapData": [{}, {}],
        "responseData": [
            {"statusCode": 200, "id": "x1", "ignored": false, "errors": []},
            {"statusCode": 422, "ignored": false, "errors": [{"code": "bad", "message": "Bad email"}]},
        ],
    })).await;
    eqjson!(
        out,
        json!([
            {"statusCode": 200, "id": "x1", "ignored": false, "errors": []},
            {"statusCode": 422, "ignored": false, "errors": [{"code": "bad", "message": "Bad email (source record \"a2\")"}]},
        ])
    );

    // postResponseMap: response ids copied into the records.
    let out = call(&server, "hook", "postResponseMapIds", json!({
        "postResponseMapData": [{"a": 1}, {"a": 2}], "responseData": [{"id": "r1"}, {"statusCode": 422}],
        "oneToMany": false,
    })).await;
    eqjson!(out, json!([{"a": 1, "_responseId": "r1"}, {"a": 2}]));

    // postAggregate: nothing on success, the aggregation's error otherwise.
    let out = call(
        &server,
        "hook",
        "postAggregateCheck",
        json!({
            "postAggregateData": {"success": true, "_json": {"fileName": "out.csv"}},
        }),
    )
    .await;
    assert_eq!(out, Value::Null);
    let r = server.call(&json!({"diy": true, "type": "hook", "function": "postAggregateCheck", "options": {
        "postAggregateData": {"success": false, "code": "ftp_down", "message": "FTP unreachable"},
    }})).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"FTP unreachable","code":"ftp_down"}]}"#
        )
    );

    // ping: 200 for a key, 401 with errors otherwise.
    let out = call(
        &server,
        "wrapper",
        "pingApiKey",
        json!({"connection": {"encrypted": {"apiKey": "key-1"}, "unencrypted": {}}}),
    )
    .await;
    eqjson!(out, json!({"statusCode": 200}));
    let out = call(
        &server,
        "wrapper",
        "pingApiKey",
        json!({"connection": {"encrypted": {}}}),
    )
    .await;
    eqjson!(
        out,
        json!({"statusCode": 401, "errors": [{"code": "invalid_api_key", "message": "The API key is not valid."}]})
    );

    // export: pages through the data with state until lastPage.
    let mut state = Value::Null;
    let mut ids = Vec::new();
    for page in 0.. {
        let mut options = json!({"configuration": {"pageSize": 2}, "type": "delta", "delta": {"dateField": "updated"}});
        if !state.is_null() {
            options["state"] = state.clone();
        }
        let out = call(&server, "wrapper", "exportContacts", options).await;
        ids.extend(
            out["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].clone()),
        );
        state = out["state"].clone();
        if out["lastPage"] == json!(true) {
            assert_eq!(page, 2);
            break;
        }
    }
    eqjson!(Value::Array(ids), json!(["c1", "c2", "c3", "c4", "c5"]));

    // import: 200 with an id, 422 without an email.
    let out = call(
        &server,
        "wrapper",
        "importContacts",
        json!({
            "preMapData": [{}, {}], "postMapData": [{"email": "a@b.c"}, {"email": "nope"}],
        }),
    )
    .await;
    eqjson!(
        out,
        json!([
            {"statusCode": 200, "id": "imp-0", "ignored": false},
            {"statusCode": 422, "ignored": false, "errors": [{"code": "missing_email", "message": "The record has no valid email."}]},
        ])
    );

    // Lifecycle kinds.
    let out = call(
        &server,
        "installer",
        "installStep",
        json!({"formSubmission": {"accept": true}}),
    )
    .await;
    assert_eq!(out, Value::Null);
    let r = server.call(&json!({"diy": true, "type": "installer", "function": "installStep", "options": {"formSubmission": {"accept": false}}})).await;
    assert_eq!(
        r.text,
        r#"{"errors":[{"message":"The terms were not accepted.","code":"install_declined"}]}"#
    );
    eqjson!(
        call(
            &server,
            "installer",
            "updateIntegration",
            json!({"resource": {"version": 4}})
        )
        .await,
        json!({"updatedTo": 5})
    );
    eqjson!(
        call(
            &server,
            "installer",
            "initChildIntegration",
            json!({"parentIntegration": {"_id": "p1", "name": "Shop"}})
        )
        .await,
        json!({"name": "Shop (child)", "_parentId": "p1", "installSteps": [{"name": "Configure", "type": "form"}]})
    );
    eqjson!(
        call(
            &server,
            "installer",
            "changeEditionLimits",
            json!({"fromEdition": "standard", "toEdition": "premium"})
        )
        .await,
        json!({"edition": "premium", "maxFlows": 50})
    );
    eqjson!(
        call(
            &server,
            "setting",
            "formInitBasic",
            json!({"resource": {"settingsForm": {"form": {"fieldMap": {"a": {"id": "a"}}}}}})
        )
        .await,
        json!({"fieldMap": {"a": {"id": "a"}, "region": {"id": "region", "type": "select", "options": ["us", "eu"]}}})
    );
    eqjson!(
        call(
            &server,
            "setting",
            "preSaveTrim",
            json!({"newResource": {"name": "  Flow  "}, "oldResource": {}})
        )
        .await,
        json!({"name": "Flow"})
    );

    // Free-form.
    eqjson!(
        call(
            &server,
            "utility",
            "summarize",
            json!({"records": [{"amount": 2.5}, {"amount": 4}]})
        )
        .await,
        json!({"count": 2, "total": 6.5})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_hooks_refuse_options_that_break_their_shape() {
    let server = TestServer::start(&[("diy.wasm", DIY_EXAMPLE_WASM)]).await;
    let r = server.call(&json!({"diy": true, "type": "hook", "function": "preMapPhones", "options": {"data": {"not": "a list"}}})).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"options.data must be an array for the preMap function \"preMapPhones\".","code":"invalid_options"}]}"#
        )
    );
    let r = server
        .call(&json!({"diy": true, "type": "hook", "function": "preMapPhones", "options": [1]}))
        .await;
    assert_eq!(r.json()["errors"][0]["code"], "invalid_options");
    // A record that does not fit the author's serde type is the function's error.
    let r = server.call(&json!({"diy": true, "type": "hook", "function": "preMapPhones", "options": {"data": [{"phone": 5}]}})).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["errors"][0]["code"], "invalid_options");
    assert!(
        r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("options.data[0]"),
        "{}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn contract_violations_are_precise() {
    let server = TestServer::start(&[("diy.wasm", TEST_PROBE_WASM)]).await;
    let r = server.call(&json!({"diy": true, "type": "hook", "function": "preMapShort", "options": {"data": [1, 2, 3]}})).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            422,
            r#"{"errors":[{"message":"The preMap function \"preMapShort\" returned 2 entries for 3 records in options.data; the contract requires exactly one per entry.","code":"invalid_extension_response"}]}"#
        )
    );
    let r = server.call(&json!({"diy": true, "type": "hook", "function": "postSubmitLong", "options": {"responseData": [{}]}})).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["errors"][0]["message"],
        "The postSubmit function \"postSubmitLong\" returned 2 entries for 1 responses in options.responseData; the contract requires exactly one per entry."
    );
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn unknown_and_mistyped_fields_reach_the_function() {
    let server = TestServer::start(&[("diy.wasm", TEST_PROBE_WASM)]).await;
    // Free-form: the whole options object, exactly.
    let options = json!({
        "bearerToken": "t", "custom": {"nested": [1, {"deep": true}]}, "unicode": "é😀\u{2028}",
        "_integrationId": "i1", "number": 1.5e300, "big": 12345678901234567890u64,
    });
    let r = server
        .call(&json!({"diy": true, "type": "utility", "function": "echo", "options": options}))
        .await;
    assert_eq!(r.status, 200);
    eqjson!(r.json(), options);

    // Typed: documented fields typed, the rest (and mistyped documented ones) in extra.
    let r = server.call(&json!({"diy": true, "type": "hook", "function": "preMapProbe", "options": {
        "data": [{"a": 1}, {"b": 2}],
        "bearerToken": "tok", "_integrationId": "int1", "_flowId": "flow1", "_importId": "imp1",
        "_connectionId": 42, "settings": {"s": 1}, "configuration": [1, 2],
        "newPlatformField": {"x": "y"}, "retryCount": 3,
    }})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    eqjson!(
        r.json(),
        json!([
            {"data": {
                "bearerToken": "tok", "_integrationId": "int1", "_flowId": "flow1", "_importId": "imp1",
                "_connectionId": null, "settings": {"s": 1}, "configuration": [1, 2],
                "extra": {"_connectionId": 42, "newPlatformField": {"x": "y"}, "retryCount": 3},
                "count": 2,
            }},
            {"data": {"b": 2}},
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn flat_module_functions_live_at_the_root() {
    let server = TestServer::start(&[("diy.wasm", FLAT_EXAMPLE_WASM)]).await;
    let r = server
        .call(&json!({"diy": true, "function": "greet", "options": {"name": "integrator"}}))
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (200, r#"{"greeting":"Hello, integrator!"}"#)
    );
    // A flat module has no groups.
    let r = server
        .call(&json!({"diy": true, "type": "hook", "function": "greet", "options": {}}))
        .await;
    assert_eq!(r.json()["errors"][0]["code"], "object_not_found");
}

#[tokio::test(flavor = "multi_thread")]
pub(crate) async fn bench_workload_functions_do_what_benchmarks_md_says() {
    let server = TestServer::start(&[("diy.wasm", BENCH_WASM)]).await;
    let records = integration_tests::records(3);
    let out = call(&server, "hook", "preMapUpper", json!({"data": records})).await;
    assert_eq!(out.as_array().unwrap().len(), 3);
    for (i, result) in out.as_array().unwrap().iter().enumerate() {
        let mut expected = records[i].clone();
        expected["name"] = json!(records[i]["name"].as_str().unwrap().to_uppercase());
        expected["processed"] = json!(true);
        eqjson!(result.clone(), json!({"data": expected}));
    }
    let out = call(
        &server,
        "hook",
        "echo",
        json!({"data": records, "other": 1}),
    )
    .await;
    eqjson!(out, Value::Array(records.clone()));
    let out = call(
        &server,
        "hook",
        "postSubmitIds",
        json!({
            "responseData": [{"statusCode": 200, "id": "a1"}, {"statusCode": 422, "errors": []}],
        }),
    )
    .await;
    eqjson!(
        out,
        json!([{"statusCode": 200, "id": "ok-a1"}, {"statusCode": 422, "errors": []}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn response_scripts_judge_responses_alike_in_rust_javascript_and_python() {
    let cases = [
        (200, r#"{"orders":[]}"#, json!({"responseCode": 0})),
        (
            200,
            r#"{"error":"Invalid session"}"#,
            json!({"responseCode": 4, "message": "the body says the session is invalid"}),
        ),
        (
            401,
            "",
            json!({"responseCode": 4, "message": "session expired"}),
        ),
        (429, "", json!({"responseCode": 1, "message": "throttled"})),
        (
            503,
            "",
            json!({"responseCode": 2, "message": "the API is failing"}),
        ),
        (
            400,
            "",
            json!({"responseCode": 3, "message": "the API refused the request"}),
        ),
    ];
    for wasm in [
        DIY_EXAMPLE_WASM,
        integration_tests::JS_DIY_EXAMPLE_WASM,
        integration_tests::PY_DIY_EXAMPLE_WASM,
    ] {
        let server = TestServer::start(&[("diy.wasm", wasm)]).await;
        let listing = server.listing().await;
        let functions = listing["plugins"][0]["functions"].as_array().unwrap();
        let check = functions
            .iter()
            .find(|f| f["name"] == "sessionCheck")
            .unwrap();
        assert_eq!(check["kind"], "responseScript", "{wasm}");
        for (status, body, expected) in &cases {
            let options = json!({
                "request": {"method": "GET", "url": "https://api.example.com/orders", "headers": {"accept": "application/json"}},
                "response": {"status": status, "headers": {"content-type": "application/json"}, "body": body},
            });
            let r = server
                .call(&json!({"diy": true, "function": "sessionCheck", "options": options}))
                .await;
            assert_eq!(
                (r.status, r.json()),
                (200, expected.clone()),
                "{wasm} {status} {body}"
            );
        }
    }
    // A code outside 0..4 breaks the contract.
    let server = TestServer::start(&[("diy.wasm", integration_tests::JS_DIY_EXAMPLE_WASM)]).await;
    let r = server
        .call(&json!({"diy": true, "function": "badVerdict", "options": {"request": {}, "response": {"status": 200, "body": ""}}}))
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            422,
            json!({"errors": [{"message": "The responseScript function returned responseCode 7; it must be 0 (continue), 1 (retry the step), 2 (fail the flow, retry later), 3 (fail the flow) or 4 (re-authenticate).", "code": "invalid_extension_response"}]})
        )
    );
}
