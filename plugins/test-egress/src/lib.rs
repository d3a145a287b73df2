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

/// A response script reading the response as a session-based API would answer it: 401 or a
/// 2xx saying "Invalid session" → 4 (re-authenticate), 429 → 1 (retry), 5xx → 2 (retry the
/// flow later), another 4xx → 3 (fail the flow), anything else → 0.
fn judge(options: ResponseScriptOptions) -> FnResult<ResponseScriptResult> {
    let response = &options.response;
    let (code, message) = match response.status {
        401 => (ResponseCode::Reauthenticate, "session expired"),
        200..=299 if response.body.contains("Invalid session") => (
            ResponseCode::Reauthenticate,
            "the body says Invalid session",
        ),
        429 => (ResponseCode::RetryStep, "throttled"),
        500..=599 => (ResponseCode::FailFlowRetryLater, "the API is failing"),
        400..=499 => (ResponseCode::FailFlow, "the API refused the request"),
        _ => (ResponseCode::Continue, "fine"),
    };
    Ok(ResponseScriptResult {
        response_code: code,
        message: Some(format!(
            "{message} ({} {})",
            options.request.method, options.request.url
        )),
    })
}

/// `judge`'s re-authentication: `POST /login` at the judged URL's origin answers a session
/// token, sent from then on as `Authorization: Bearer <token>`.
fn login(options: Value) -> FnResult<Value> {
    let url = options["request"]["url"].as_str().unwrap_or_default();
    let path_at = url
        .find("://")
        .and_then(|scheme| url[scheme + 3..].find('/').map(|at| scheme + 3 + at))
        .unwrap_or(url.len());
    let response = http::Request::new("POST", &format!("{}/login", &url[..path_at])).send()?;
    if response.status != 200 {
        return Err(FnError::new(
            "login_failed",
            format!("login answered {}", response.status),
        ));
    }
    Ok(json!({"headers": {"authorization": format!("Bearer {}", response.text())}}))
}

fn register(plugin: &mut Plugin) {
    plugin
        .utility("fetch", json(fetch))
        .utility("fetchMany", json(fetch_many))
        .utility("judge", response_script(judge))
        .utility("login", json(login));
}

extension_sdk::plugin!(register);
