//! A Celigo-style JavaScript module (`plugins-js/diy-example/functions.js`), built unchanged
//! with the JavaScript SDK (`guest-sdk/js`), served through the real server: results, errors,
//! dates and non-serialisable results as the original answers them, files it requires,
//! declared kinds whose contracts the host checks, and the sandbox limits.

use integration_tests::{JS_DIY_EXAMPLE_WASM, TestServer};
use serde_json::{Value, json};

use crate::eqjson;
use crate::interpreted::{self, hook};

async fn js_server() -> TestServer {
    interpreted::server(JS_DIY_EXAMPLE_WASM).await
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
    // A numeric err.code stays a JSON number, as Node answers it.
    let r = server.call(&hook("failWithNumber", json!({}))).await;
    assert_eq!(
        r.text,
        r#"{"errors":[{"message":"Vendor error five.","code":5}]}"#
    );

    // lastExportDateTime / currentExportDateTime arrive as Date objects; console.log reaches
    // the host log, tagged with the connector.
    let logs = integration_tests::captured_logs();
    let r = server
        .call(&hook("delta", json!({"lastExportDateTime": "2020-01-02T03:04:05.000Z", "currentExportDateTime": "2021-06-01T00:00:00Z"})))
        .await;
    eqjson!(
        r.json(),
        json!({"lastIsDate": true, "last": "2020-01-02T03:04:05.000Z", "year": 2021})
    );
    let lines = logs.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains(
            r#"delta export window "2020-01-02T03:04:05.000Z" "2021-06-01T00:00:00.000Z""#
        ) && l.contains(r#"connector="diy""#)),
        "{lines:#?}"
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
    interpreted::a_runaway_loop_is_stopped_and_the_module_keeps_serving(&server).await;
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
async fn every_call_starts_from_the_built_module_state() {
    let server = js_server().await;
    let count = json!({"diy": true, "type": "utility", "function": "countCalls", "options": {}});
    for _ in 0..3 {
        assert_eq!(server.call(&count).await.text, r#"{"calls":1}"#);
    }
}

/// The fuel a logged call of `function` used (the call log's `fuel_used`).
fn logged_fuel(lines: &[String], function: &str) -> Option<u64> {
    let tag = format!("function=\"{function}\"");
    lines
        .iter()
        .filter(|l| l.contains(&tag) && l.contains("function call answered"))
        .find_map(|l| {
            l.split("fuel_used=")
                .nth(1)?
                .split([' ', '}'])
                .next()?
                .parse()
                .ok()
        })
}

/// Results leave a JavaScript guest as bytes and options enter as one string, each at about
/// the cost of a copy (tens of fuel units per byte; a string result used to cost ~2,600 per
/// character): a 5 MiB answer and a 4 MB request with multi-byte characters fit the default
/// limits, byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn a_5_mib_result_under_200_fuel_per_byte_and_a_4_mb_request_cross_a_javascript_module_under_the_default_limits()
 {
    let logs = integration_tests::captured_logs();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(JS_DIY_EXAMPLE_WASM, dir.path().join("diy.wasm")).unwrap();
    let server = TestServer::start_in(dir, |_| {}).await;
    let echo = |function: &str, value: String| json!({"diy": true, "type": "utility", "function": function, "options": {"value": value}});
    // The whole default response limit (5 MiB) with the quotes.
    let ascii = "a".repeat(5 * 1024 * 1024 - 2);
    let r = server.call(&echo("echoValue", ascii.clone())).await;
    assert_eq!(r.status, 200, "{}", &r.text[..r.text.len().min(300)]);
    assert!(r.text == format!("\"{ascii}\""), "the 5 MiB answer differs");
    let fuel = logged_fuel(&logs.lock().unwrap(), "echoValue").expect("the call's log line");
    assert!(
        fuel < 200 * ascii.len() as u64,
        "{fuel} fuel units for a {} byte echo",
        ascii.len()
    );

    // A 4 MB request with one- to four-byte characters, in and out.
    let mixed = "ascii é ".repeat(3_900_000 / 9) + &"€😀".repeat(100_000 / 7);
    let r = server.call(&echo("echoValue", mixed.clone())).await;
    assert_eq!(r.status, 200, "{}", &r.text[..r.text.len().min(300)]);
    assert!(r.json() == json!(mixed), "the 4 MB answer differs");
}

#[tokio::test(flavor = "multi_thread")]
async fn required_files_are_bundled_and_unavailable_node_builtins_fail_when_called() {
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
            r#"{"errors":[{"message":"fs.readFileSync() is not available in the sandbox: plugins have no file system, sockets, processes or threads; outbound HTTP(S) goes through http, https or fetch","code":"Error"}]}"#
        )
    );
}

/// The original stack (integrator-extension 0.3.12 behind express, `benchmarks/node/server.js`)
/// serving a module, on an ephemeral port.
struct NodeReference {
    child: std::process::Child,
    base: String,
    client: reqwest::Client,
}

impl NodeReference {
    fn start(functions: &std::path::Path) -> Self {
        use std::io::BufRead;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut child = std::process::Command::new("node")
            .arg(root.join("benchmarks/node/server.js"))
            .env("PORT", "0")
            .env("SYSTEM_TOKEN", integration_tests::TOKEN)
            .env("FUNCTIONS", functions)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("node (benchmarks/node needs `npm ci`: scripts/guest-tools.sh)");
        let stderr = child.stderr.take().unwrap();
        let mut lines = std::io::BufReader::new(stderr).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("the Node reference exited before listening")
                .unwrap();
            if let Some(port) = line.strip_prefix("node reference listening on ") {
                break port.trim().to_string();
            }
        };
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        }
    }

    async fn call(&self, body: &Value) -> (u16, String) {
        let r = self
            .client
            .post(format!("{}/function", self.base))
            .bearer_auth(integration_tests::TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

impl Drop for NodeReference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_match_the_original_running_the_same_module() {
    let module = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins-js/diy-example/functions.js");
    let node = NodeReference::start(&module);
    let server = js_server().await;
    // The deliberate differences. integrator-extension 0.3.12 accepts only callback-style
    // functions (its isFunction refuses `[object AsyncFunction]`); this host also runs async
    // functions and returned promises.
    let body = hook(
        "postSubmitEnrich",
        json!({"preMapData": [], "responseData": []}),
    );
    assert_eq!(node.call(&body).await.0, 422);
    assert_eq!(server.call(&body).await.text, "[]");
    // And a string passed as the error: the original answers an empty error object (a string
    // has no code and no message); here the string is the message, with code "Error".
    let body = hook("failWithString", json!({}));
    assert_eq!(
        node.call(&body).await,
        (422, r#"{"errors":[{}]}"#.to_string())
    );
    assert_eq!(
        server.call(&body).await.text,
        r#"{"errors":[{"message":"Invalid record","code":"Error"}]}"#
    );

    let requests = [
        hook(
            "preMapPhones",
            json!({"data": [{"phone": "(555) 010-0199", "name": "Ada"}, {"phone": "12"}, {"name": "Grace"}, {"phone": "+44 20 7946 0958"}]}),
        ),
        hook(
            "delta",
            json!({"lastExportDateTime": "2020-01-02T03:04:05.000Z", "currentExportDateTime": "2021-06-01T00:00:00Z"}),
        ),
        hook("deferred", json!({"data": [1, 2]})),
        hook("deferredFailure", json!({})),
        hook("failWithCode", json!({})),
        hook("failWithName", json!({})),
        hook("notSerializable", json!({})),
        hook("cyclic", json!({})),
        json!({"diy": true, "type": "hook", "function": "preMapPhones", "maxResponseSize": 10, "options": {"data": [{"phone": "5550100199"}]}}),
        hook("noSuchFunction", json!({})),
        json!({"diy": true, "type": "setting", "function": "persistSettings", "options": {"pending": {"a": 1}}}),
        json!({"diy": true, "type": "nosuchgroup", "function": "x", "options": {}}),
        json!({"diy": true, "function": "version", "options": {"caller": "flow-7"}}),
        json!({"diy": true, "function": "hooks", "options": {}}),
        json!({"diy": true, "type": "hook", "function": 7, "options": {}}),
        json!({"diy": true, "type": "hook", "function": "preMapPhones"}),
    ];
    for body in &requests {
        let ours = server.call(body).await;
        let theirs = node.call(body).await;
        assert_eq!(
            (ours.status, ours.text.as_str()),
            (theirs.0, theirs.1.as_str()),
            "request {body}"
        );
    }
}
