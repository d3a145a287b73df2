//! Response scripts applied by the host: a connector's settings name a `responseScript`
//! function for some of its outbound hosts, and every response from those hosts passes
//! through it before the guest sees it.
//!
//! ```toml
//! [[response_scripts]]
//! hosts = ["https://api.example.com"]   # the egress pattern syntax
//! function = "sessionCheck"             # a responseScript function of this module
//! reauthenticate = "refreshSession"     # optional: called on responseCode 4
//! type = "utility"                      # optional: both functions' group, as `/function`'s type
//! max_retries = 2                       # responseCode 1: retries of the request
//! retry_backoff_ms = 200                # first wait between them, doubling
//! ```
//!
//! | responseCode | the host |
//! |---|---|
//! | 0 | hands the response to the guest |
//! | 1 | sends the request again after a backoff, at most `max_retries` times; past that, ends the call `flow_retry_later` |
//! | 2 | ends the call `flow_retry_later` |
//! | 3 | ends the call `flow_failed` |
//! | 4 | calls `reauthenticate`, sets the headers it returns and sends the request once more; a second 4 (or no `reauthenticate`) ends the call `flow_failed` |
//!
//! Both functions run as nested calls: a fresh instance of the same module, started while the
//! guest's call waits in its request, with the connector's limits and network policy but no
//! response scripts of their own (a re-authentication request is never judged, so it cannot
//! recurse). Nested calls take their instances from a reserve of the pool, not from the
//! connector's share, so a connector running its whole share can still judge its responses.
//!
//! Ending the call: the guest's request fails with `internal-error`, the call is interrupted at
//! its next epoch tick, and the call's answer is the verdict's error whatever the guest did.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::BodyExt as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use wasmtime_wasi_http::{Error, WasiBody};

use super::policy::{NetworkPolicy, Pattern};
use super::send::{MANAGED_HEADERS, send_buffered};
use crate::error::ApiError;
use crate::runtime::Tags;

/// Default `max_retries` (responseCode 1).
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Highest `max_retries` a settings file may ask for.
pub const MAX_RETRIES: u32 = 10;
/// Default `retry_backoff_ms`.
pub const DEFAULT_RETRY_BACKOFF_MS: u64 = 200;
/// Largest request body kept to be sent again (a judged request is buffered whole).
pub const MAX_REPLAYED_BODY_BYTES: usize = 16 << 20;

/// Request headers a script is not shown: credentials travel in them.
const CREDENTIAL_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-auth-token",
    "x-amz-security-token",
];

/// One `[[response_scripts]]` entry as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseScriptSettings {
    /// URL patterns whose responses the script judges (the `allowed_hosts` syntax).
    pub hosts: Vec<String>,
    /// The `responseScript` function.
    pub function: String,
    /// The function called on responseCode 4 (kind `json`; returns `{"headers": {…}}`).
    pub reauthenticate: Option<String>,
    /// The group of both functions, as `/function`'s `type` (none: the module root).
    #[serde(rename = "type")]
    pub group: Option<String>,
    /// Retries of a request judged 1.
    pub max_retries: Option<u32>,
    /// The first wait before such a retry, doubling after each.
    pub retry_backoff_ms: Option<u64>,
}

/// A function of the same module, by group and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// Its group (`None`: the module root).
    pub group: Option<String>,
    /// Its name.
    pub name: String,
}

/// One compiled rule.
#[derive(Debug)]
pub struct Rule {
    hosts: Vec<Pattern>,
    /// The `responseScript` function.
    pub script: FunctionRef,
    /// The re-authentication function.
    pub reauthenticate: Option<FunctionRef>,
    max_retries: u32,
    backoff: Duration,
    /// Headers the last re-authentication returned: set on every later request the rule
    /// covers, until the module reloads or re-authenticates again.
    session: Mutex<Vec<(HeaderName, HeaderValue)>>,
}

/// A connector's response scripts, compiled when its module loads.
#[derive(Debug, Default)]
pub struct ResponseScripts {
    rules: Vec<Rule>,
}

impl ResponseScripts {
    /// Compiles `[[response_scripts]]`; every problem names the entry.
    pub fn compile(settings: &[ResponseScriptSettings]) -> anyhow::Result<Self> {
        let mut rules = Vec::with_capacity(settings.len());
        for (i, entry) in settings.iter().enumerate() {
            let at = || format!("response_scripts[{i}]");
            if entry.hosts.is_empty() {
                bail!("{}: hosts lists no pattern", at());
            }
            let hosts = entry
                .hosts
                .iter()
                .map(|p| Pattern::parse(p))
                .collect::<anyhow::Result<Vec<_>>>()
                .with_context(|| format!("{}.hosts", at()))?;
            let max_retries = entry.max_retries.unwrap_or(DEFAULT_MAX_RETRIES);
            if max_retries > MAX_RETRIES {
                bail!("{}.max_retries: {max_retries} is over {MAX_RETRIES}", at());
            }
            let group = entry
                .group
                .as_ref()
                .map(|ty| crate::dispatch::group_name(&Value::String(ty.clone())));
            let function = |name: &String| -> anyhow::Result<FunctionRef> {
                if name.is_empty() {
                    bail!("{}: a function name is empty", at());
                }
                Ok(FunctionRef {
                    group: group.clone(),
                    name: name.clone(),
                })
            };
            rules.push(Rule {
                hosts,
                script: function(&entry.function)?,
                reauthenticate: entry.reauthenticate.as_ref().map(function).transpose()?,
                max_retries,
                backoff: Duration::from_millis(
                    entry.retry_backoff_ms.unwrap_or(DEFAULT_RETRY_BACKOFF_MS),
                ),
                session: Mutex::new(Vec::new()),
            });
        }
        Ok(Self { rules })
    }

    /// Whether no rule is configured (calls then need no hook).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in the settings' order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The index of the first rule covering a request to `host:port` over `https`.
    fn rule_for(&self, https: bool, host: &str, port: u16) -> Option<usize> {
        self.rules
            .iter()
            .position(|r| r.hosts.iter().any(|p| p.matches(https, host, port)))
    }
}

/// How a call ended when a response script ended it: set once, read by the call's epoch
/// callback (to interrupt the guest) and by the answer (to answer with it).
#[derive(Debug, Default)]
pub struct Verdict {
    ended: AtomicBool,
    error: Mutex<Option<ApiError>>,
}

impl Verdict {
    /// Whether a script has ended the call.
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }

    /// The error the call ends with, once.
    pub fn take(&self) -> Option<ApiError> {
        self.error.lock().ok()?.take()
    }

    /// Ends the call with `error` (the first verdict wins); what the guest's request gets.
    fn end(&self, error: ApiError) -> Error {
        let said = error.to_string();
        if let Ok(mut slot) = self.error.lock()
            && slot.is_none()
        {
            *slot = Some(error);
        }
        self.ended.store(true, Ordering::Relaxed);
        Error::InternalError(Some(format!("the call was ended by the host: {said}")))
    }
}

/// Runs a function of the calling module in a fresh instance while the call waits:
/// `options` is the function's options as JSON text; the answer is what `/function` would
/// answer (`None`: an empty answer).
pub trait NestedCalls: Send + Sync {
    /// Calls `function` with `options`.
    fn call(
        &self,
        function: &FunctionRef,
        options: String,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Option<String>, ApiError>> + Send>>;
}

/// What a call needs to apply its connector's response scripts.
#[derive(Clone)]
pub struct ScriptHook {
    /// The rules.
    pub scripts: Arc<ResponseScripts>,
    /// Where the scripts run.
    pub calls: Arc<dyn NestedCalls>,
    /// How the call ended, if a script ended it.
    pub verdict: Arc<Verdict>,
    /// Requests the scripts sent again (they count against `max_requests_per_call`).
    pub resent: Arc<AtomicU64>,
}

/// What a script said.
#[derive(Deserialize)]
struct Judgement {
    #[serde(rename = "responseCode")]
    code: u8,
    message: Option<String>,
}

/// What a re-authentication function returns.
#[derive(Deserialize)]
struct Credentials {
    headers: Map<String, Value>,
}

impl ScriptHook {
    /// Requests sent again so far in this call.
    pub fn resent(&self) -> u64 {
        self.resent.load(Ordering::Relaxed)
    }

    /// The rule covering this destination, if any.
    pub fn rule_for(&self, https: bool, host: &str, port: u16) -> Option<usize> {
        self.scripts.rule_for(https, host, port)
    }

    /// Sends `request` under `rule`: buffered (the script reads the whole response, and a
    /// retry sends the body again), judged, retried, re-authenticated, or the call ended.
    /// `issued` is the guest's requests so far: with the resent ones, they count against the
    /// policy's `max_requests_per_call`.
    pub async fn send(
        &self,
        rule: usize,
        policy: Arc<NetworkPolicy>,
        request: http::Request<WasiBody>,
        tags: Tags,
        issued: u64,
    ) -> Result<http::Response<WasiBody>, Error> {
        let rule = &self.scripts.rules[rule];
        let (parts, body) = request.into_parts();
        let body = read_request_body(body).await?;
        let url = without_query(&parts.uri);
        let mut retries = 0u32;
        let mut reauthenticated = false;
        loop {
            let mut headers = parts.headers.clone();
            rule.apply_session(&mut headers);
            let mut attempt = http::Request::new(full(body.clone()));
            *attempt.method_mut() = parts.method.clone();
            *attempt.uri_mut() = parts.uri.clone();
            *attempt.headers_mut() = headers.clone();
            let response = send_buffered(&policy, attempt, tags.clone()).await?;
            let request_json = json!({
                "method": parts.method.as_str(),
                "url": url,
                "headers": headers_json(&headers, &CREDENTIAL_HEADERS),
            });
            let response_json = json!({
                "status": response.status().as_u16(),
                "headers": headers_json(response.headers(), &[]),
                "body": String::from_utf8_lossy(response.body()),
            });
            let options = json!({"request": request_json, "response": response_json});
            let judged = self
                .judge(&rule.script, options.to_string())
                .await
                .map_err(|err| self.verdict.end(err))?;
            tracing::info!(
                connector = &*tags.connector,
                request_id = &*tags.request_id,
                script = %rule.script.name,
                response_code = judged.code,
                script_message = judged.message.as_deref().unwrap_or(""),
                status = response.status().as_u16(),
                "response script"
            );
            let said = judged
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            let name = &rule.script.name;
            match judged.code {
                0 => return Ok(response.map(full)),
                1 if retries < rule.max_retries => {
                    tokio::time::sleep(rule.backoff.saturating_mul(1 << retries)).await;
                    retries += 1;
                }
                1 => {
                    return Err(self.verdict.end(ApiError::FlowEnded {
                        retry_later: true,
                        message: format!(
                            "The response script {name} asked to retry the request (responseCode 1) after {retries} retries{said}; retry the flow later."
                        ),
                    }));
                }
                4 if !reauthenticated => {
                    let Some(reauthenticate) = &rule.reauthenticate else {
                        return Err(self.verdict.end(ApiError::FlowEnded {
                            retry_later: false,
                            message: format!(
                                "The response script {name} asked to re-authenticate (responseCode 4){said}, but the connector's response_scripts entry names no reauthenticate function."
                            ),
                        }));
                    };
                    let mut options = options;
                    options["message"] = judged.message.clone().into();
                    let fresh = self
                        .reauthenticate(reauthenticate, options.to_string())
                        .await
                        .map_err(|err| self.verdict.end(err))?;
                    rule.set_session(fresh);
                    reauthenticated = true;
                }
                4 => {
                    return Err(self.verdict.end(ApiError::FlowEnded {
                        retry_later: false,
                        message: format!(
                            "The response script {name} still asked to re-authenticate (responseCode 4) after {} re-authenticated{said}.",
                            rule.reauthenticate.as_ref().map_or("", |f| f.name.as_str())
                        ),
                    }));
                }
                2 => {
                    return Err(self.verdict.end(ApiError::FlowEnded {
                        retry_later: true,
                        message: format!(
                            "The response script {name} failed the flow for a retry later (responseCode 2){said}."
                        ),
                    }));
                }
                _ => {
                    return Err(self.verdict.end(ApiError::FlowEnded {
                        retry_later: false,
                        message: format!(
                            "The response script {name} failed the flow without retry (responseCode 3){said}."
                        ),
                    }));
                }
            }
            if issued + self.resent.fetch_add(1, Ordering::Relaxed) + 1
                > policy.max_requests_per_call
            {
                policy.stats.requests.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    connector = &*tags.connector,
                    request_id = &*tags.request_id,
                    "a response script's retry was refused: over max_requests_per_call"
                );
                return Err(Error::HttpRequestDenied);
            }
        }
    }

    async fn judge(&self, script: &FunctionRef, options: String) -> Result<Judgement, ApiError> {
        let answer = self.calls.call(script, options).await?;
        answer
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .ok_or_else(|| {
                ApiError::ContractBroken(format!(
                    "The response script {} returned no {{responseCode, message}}.",
                    script.name
                ))
            })
    }

    async fn reauthenticate(
        &self,
        function: &FunctionRef,
        options: String,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, ApiError> {
        let broken = |why: &str| {
            ApiError::ContractBroken(format!(
                "The re-authentication function {} must return {{\"headers\": {{name: value}}}} with string values for the request's headers; {why}.",
                function.name
            ))
        };
        let answer = self.calls.call(function, options).await?;
        let credentials: Credentials = answer
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .ok_or_else(|| broken("it returned something else"))?;
        let mut fresh = Vec::with_capacity(credentials.headers.len());
        for (name, value) in credentials.headers {
            let header = HeaderName::try_from(name.as_str())
                .ok()
                .filter(|h| !MANAGED_HEADERS.contains(&h.as_str()))
                .ok_or_else(|| broken(&format!("{name:?} is not a header it may set")))?;
            let value = value
                .as_str()
                .and_then(|v| HeaderValue::from_str(v).ok())
                .ok_or_else(|| broken(&format!("the value of {name:?} is not header text")))?;
            fresh.push((header, value));
        }
        Ok(fresh)
    }
}

impl Rule {
    fn apply_session(&self, headers: &mut HeaderMap) {
        if let Ok(session) = self.session.lock() {
            for (name, value) in session.iter() {
                headers.insert(name.clone(), value.clone());
            }
        }
    }

    fn set_session(&self, fresh: Vec<(HeaderName, HeaderValue)>) {
        if let Ok(mut session) = self.session.lock() {
            *session = fresh;
        }
    }
}

/// The guest's request body, whole (it may be sent more than once).
async fn read_request_body(body: WasiBody) -> Result<Bytes, Error> {
    let limited = http_body_util::Limited::new(body, MAX_REPLAYED_BODY_BYTES);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) => match err.downcast::<Error>() {
            Ok(code) => Err(*code),
            Err(_) => Err(Error::HttpRequestBodySize(Some(
                MAX_REPLAYED_BODY_BYTES as u64,
            ))),
        },
    }
}

fn full(body: Bytes) -> WasiBody {
    http_body_util::Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// `scheme://authority/path`: the query is dropped (query parameters carry secrets).
fn without_query(uri: &http::Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map(|a| a.as_str()).unwrap_or(""),
        uri.path()
    )
}

/// Headers as a JSON object (lowercase names; repeated headers joined with `, `), without
/// the names in `hidden`.
fn headers_json(headers: &HeaderMap, hidden: &[&str]) -> Value {
    let mut object = Map::new();
    for name in headers.keys() {
        if hidden.contains(&name.as_str()) {
            continue;
        }
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        object.insert(name.as_str().into(), values.join(", ").into());
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_entry_needs_hosts_and_a_bounded_retry_count() {
        let entry = |hosts: &[&str], retries| ResponseScriptSettings {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            function: "check".into(),
            max_retries: retries,
            ..Default::default()
        };
        assert!(ResponseScripts::compile(&[entry(&[], None)]).is_err());
        assert!(ResponseScripts::compile(&[entry(&["api.example.com"], None)]).is_err());
        assert!(
            ResponseScripts::compile(&[entry(&["https://api.example.com"], Some(11))]).is_err()
        );
        let scripts =
            ResponseScripts::compile(&[entry(&["https://api.example.com"], None)]).unwrap();
        let rule = &scripts.rules[scripts.rule_for(true, "api.example.com", 443).unwrap()];
        assert_eq!(rule.max_retries, DEFAULT_MAX_RETRIES);
        assert!(scripts.rule_for(false, "api.example.com", 80).is_none());
    }

    #[test]
    fn a_script_sees_the_url_without_its_query_and_no_credentials() {
        let uri: http::Uri = "https://api.example.com/v1/items?token=secret"
            .parse()
            .unwrap();
        assert_eq!(without_query(&uri), "https://api.example.com/v1/items");
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer secret"));
        headers.append("accept", HeaderValue::from_static("text/plain"));
        headers.append("accept", HeaderValue::from_static("application/json"));
        assert_eq!(
            headers_json(&headers, &CREDENTIAL_HEADERS),
            json!({"accept": "text/plain, application/json"})
        );
    }
}
