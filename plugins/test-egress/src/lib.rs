//! Test-only plugin: outbound requests exactly as the caller describes them, so the egress
//! tests can probe the host's policy (allowed, denied, resolved, capped, timed out).
use extension_sdk::http;
use extension_sdk::prelude::*;

/// `{url, method?, headers?: {name: value}, body?}` → `{status, location, body}`; a refused
/// or failed request fails the call with the wasi:http error code as its code.
fn fetch(options: Value) -> FnResult<Value> {
    let url = options["url"].as_str().unwrap_or_default();
    let mut request = http::Request::new(options["method"].as_str().unwrap_or("GET"), url);
    if let Some(headers) = options["headers"].as_object() {
        for (name, value) in headers {
            request = request.header(name, value.as_str().unwrap_or_default());
        }
    }
    if let Some(body) = options["body"].as_str() {
        request = request.body(body.as_bytes().to_vec());
    }
    let response = request.send()?;
    Ok(json!({
        "status": response.status,
        "location": response.header("location"),
        "length": response.body.len(),
        "body": response.text(),
    }))
}

/// `{url, count}` → the outcome of each of `count` GETs: a status, or an error code.
fn fetch_many(options: Value) -> FnResult<Value> {
    let url = options["url"].as_str().unwrap_or_default();
    let count = options["count"].as_u64().unwrap_or(1);
    Ok(Value::Array(
        (0..count)
            .map(|_| match http::get(url).send() {
                Ok(r) => json!(r.status),
                Err(err) => json!(err.code),
            })
            .collect(),
    ))
}

fn register(plugin: &mut Plugin) {
    plugin
        .utility("fetch", json(fetch))
        .utility("fetchMany", json(fetch_many));
}

extension_sdk::plugin!(register);
