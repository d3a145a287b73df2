//! Every error the host answers on the wire, in one enum and one table.
//!
//! The protocol is express-integrator-extension's: `{"errors":[{…}]}` with the original's codes,
//! messages (including the misspelled "does't") and even its key order: validation errors are
//! written `{"code","message"}`, errors raised later in the original (`invalid_function`,
//! `object_not_found`, function errors, response checks) are written `{"message","code"}`.
//! Sandbox outcomes are this host's own additions, each with a stable code.

use crate::js;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The default `maxResponseSize`, as in the original: 5 MiB.
pub const DEFAULT_MAX_RESPONSE_SIZE: u64 = 5 * 1024 * 1024;

/// One request-validation failure; all that apply are collected, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// `diy` set but no diy module loaded.
    DiyNotConfigured,
    /// `_connectorId` names no loaded connector.
    UnknownConnector,
    /// Neither `diy` nor `_connectorId`.
    MissingDiyOrConnector,
    /// No `function`.
    MissingFunction,
    /// `function` is not a string.
    FunctionNotString,
    /// No `options`.
    MissingOptions,
}

/// How a guest call ended when it did not return.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// The fuel budget ran out.
    #[error("The function used its whole CPU budget of {budget} fuel units and was stopped.")]
    FuelExhausted {
        /// The budget.
        budget: u64,
    },
    /// The wall-clock deadline passed.
    #[error("The function ran longer than its limit of {limit_ms} ms and was stopped.")]
    Timeout {
        /// The limit in milliseconds.
        limit_ms: u64,
    },
    /// The guest asked for more linear memory than allowed.
    #[error(
        "The function tried to grow its memory to {requested} bytes, over its limit of {limit} bytes."
    )]
    MemoryLimit {
        /// The cap in bytes.
        limit: u64,
        /// What the guest asked for.
        requested: u64,
    },
    /// The guest exhausted its wasm stack.
    #[error(
        "The function overflowed its stack (limit {limit} bytes); is it recursing without end?"
    )]
    StackOverflow {
        /// The stack limit in bytes.
        limit: usize,
    },
    /// Any other trap, including a guest panic.
    #[error("The function crashed: {message}")]
    Trap {
        /// The trap message, guest output and backtrace.
        message: String,
    },
    /// The guest returned something the host cannot read as its contract's types (e.g. text
    /// that is not UTF-8).
    #[error("The function's output is not valid: {message}")]
    InvalidOutput {
        /// What was wrong.
        message: String,
    },
    /// The plugin could not be instantiated.
    #[error("The plugin could not be started: {message}")]
    Unavailable {
        /// Why.
        message: String,
    },
    /// The guest tried to hand the host more data than the response cap allows (refused
    /// before it was copied).
    #[error("response stream exceeded limit of {limit} bytes.")]
    OutputTooLarge {
        /// The connector's `max_response_bytes`.
        limit: u64,
    },
    /// The host already holds its budget of results in flight (`--max-result-memory-bytes`).
    #[error(
        "The host is holding its limit of {limit} bytes of results in flight and this result did not fit before the call's deadline; try again later."
    )]
    HostBusy {
        /// The budget in bytes.
        limit: u64,
    },
    /// The connector already runs its share of calls and its queue is full.
    #[error(
        "The connector is busy: {running} of its calls are running and {queued} are waiting for a slot; try again later."
    )]
    ConnectorBusy {
        /// Its `max_concurrent_calls` (as applied).
        running: u64,
        /// Calls waiting.
        queued: u64,
    },
}

impl SandboxError {
    fn code(&self) -> &'static str {
        match self {
            SandboxError::FuelExhausted { .. } => "fuel_exhausted",
            SandboxError::Timeout { .. } => "timeout",
            SandboxError::MemoryLimit { .. } => "memory_limit_exceeded",
            SandboxError::StackOverflow { .. } => "stack_overflow",
            SandboxError::Trap { .. } => "plugin_trap",
            SandboxError::InvalidOutput { .. } => "invalid_extension_response",
            SandboxError::Unavailable { .. } => "plugin_unavailable",
            SandboxError::OutputTooLarge { .. } => "response_size_exceeded",
            SandboxError::ConnectorBusy { .. } => "connector_busy",
            SandboxError::HostBusy { .. } => "host_busy",
        }
    }
}

/// The task running a call died (a panic in the host, or a cancelled runtime): answered as a
/// trap, the call's outcome being unknown.
impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        ApiError::Sandbox(SandboxError::Trap {
            message: format!("the host task running the call failed: {err}"),
        })
    }
}

/// Longest error `code` a function may answer with, in bytes; longer ones are cut.
pub const MAX_ERROR_CODE_BYTES: usize = 256;
/// Longest error `message` a function may answer with, in bytes; longer ones are cut and end
/// in "…". A message is for a person reading a flow's error list, not a data channel: without
/// a cap a 100 MB message became a 100 MB answer and 95 MB of host log.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 16 * 1024;

/// `text` cut to at most `max` bytes on a character boundary, marked with "…" when cut.
pub fn cap_text(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}

/// Every error answer the host gives.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid system token.
    #[error("invalid system token")]
    Unauthorized,
    /// The request envelope failed validation (every applicable violation, in order).
    #[error("request validation failed: {0:?}")]
    Invalid(Vec<Violation>),
    /// `type` names a group the module lacks; holds `type` as JavaScript would print it.
    #[error("no group {0}")]
    ObjectNotFound(String),
    /// No such function in the group.
    #[error("no such function")]
    InvalidFunction,
    /// The function returned an error.
    #[error("function error {code}: {message}")]
    Function {
        /// The function's code.
        code: Code,
        /// The function's message.
        message: String,
    },
    /// The result exceeds `maxResponseSize` or the connector's `max_response_bytes`; holds the
    /// limit as the message prints it.
    #[error("response larger than {0}")]
    ResponseTooLarge(String),
    /// The result is not valid JSON.
    #[error("result is not JSON: {0}")]
    NotSerializable(String),
    /// The result breaks its kind's contract.
    #[error("contract broken: {0}")]
    ContractBroken(String),
    /// `options` does not fit the function's kind.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// The call was stopped by the sandbox.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The body is not JSON (or not an object or array, as body-parser's strict mode requires).
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    /// The body is larger than the protocol (or the connector's `max_request_bytes`) allows.
    #[error("body larger than {0} bytes")]
    BodyTooLarge(u64),
    /// The body did not arrive within the body-read timeout.
    #[error("body not received within {0:?}")]
    BodyReadTimeout(std::time::Duration),
    /// The module serving this id is still loading (found at start or newly added, no earlier
    /// version serving) and did not finish within the load wait.
    #[error("plugin {0} still loading")]
    PluginLoading(String),
    /// A step's `X-Response-URL` is not in the connector's `[steps] callback_hosts`.
    #[error("callback URL not allowed: {0}")]
    CallbackNotAllowed(String),
    /// No step job with this id.
    #[error("no step job {0}")]
    JobNotFound(String),
    /// The step job's function is still running.
    #[error("step job {0} still running")]
    JobRunning(String),
    /// The step job store cannot be used (e.g. the state directory is not writable).
    #[error("steps unavailable: {0}")]
    StepsUnavailable(String),
    /// A response script ended the call (`responseCode` 2 or 3, or 1 and 4 past their
    /// bounds): `retry_later` tells "retry the flow later" (2) from "do not retry" (3).
    #[error("ended by a response script: {message}")]
    FlowEnded {
        /// The flow may succeed if retried later.
        retry_later: bool,
        /// What the script said, and why the call ended.
        message: String,
    },
    /// No such route.
    #[error("no such route")]
    NotFound,
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
}

/// An error's `code` on the wire: almost always text; a function's own code may be a number
/// (a Node module's `err.code = 5`), which stays a JSON number.
#[derive(Debug, Clone, PartialEq)]
pub enum Code {
    /// Written as a JSON string.
    Text(String),
    /// Written as `JSON.stringify` writes a number.
    Number(f64),
}

impl Code {
    fn json(&self) -> String {
        match self {
            Code::Text(text) => json_string(text),
            Code::Number(n) => js::json_number(*n),
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Code::Text(text) => f.write_str(text),
            Code::Number(n) => f.write_str(&js::number_string(*n)),
        }
    }
}

/// Key order of one error object on the wire.
#[derive(Clone, Copy)]
enum Order {
    CodeFirst,
    MessageFirst,
}

impl Violation {
    fn wire(self) -> (&'static str, &'static str) {
        match self {
            Violation::DiyNotConfigured => (
                "missing_required_field",
                "DIY is not configured in the extension configuration.",
            ),
            Violation::UnknownConnector => (
                "invalid_field",
                "The _connectorId set in the extension options does't match any of the _connectorId's present in extension configuration.",
            ),
            Violation::MissingDiyOrConnector => (
                "missing_required_field",
                "Need to set either the diy or _connectorId field in extension options.",
            ),
            Violation::MissingFunction => (
                "missing_required_field",
                "Missing required field function in the extension options.",
            ),
            Violation::FunctionNotString => (
                "invalid_field",
                "The function field in the extension options must be of type string.",
            ),
            Violation::MissingOptions => (
                "missing_required_field",
                "Function options haven't been provided.",
            ),
        }
    }
}

impl ApiError {
    /// A function's own error, its code and message capped
    /// ([`MAX_ERROR_CODE_BYTES`], [`MAX_ERROR_MESSAGE_BYTES`]).
    pub fn function(code: Code, message: String) -> Self {
        ApiError::Function {
            code: match code {
                Code::Text(text) => Code::Text(cap_text(text, MAX_ERROR_CODE_BYTES)),
                number => number,
            },
            message: cap_text(message, MAX_ERROR_MESSAGE_BYTES),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Sandbox(SandboxError::ConnectorBusy { .. }) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Sandbox(SandboxError::HostBusy { .. }) | ApiError::PluginLoading(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyReadTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotFound | ApiError::JobNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::JobRunning(_) => StatusCode::CONFLICT,
            ApiError::StepsUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// The `code` of the first error on the wire (for logs and metrics).
    pub fn code(&self) -> String {
        self.entries()
            .first()
            .map(|(_, code, _)| code.to_string())
            .unwrap_or_default()
    }

    /// The `code` of the first error on the wire as the host writes it, or `function_error`
    /// for a function's own error (whose code is the function's, free text): a bounded set,
    /// fit for a metric label.
    pub fn metric_code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::Invalid(violations) => violations
                .first()
                .map_or("missing_required_field", |v| v.wire().0),
            ApiError::ObjectNotFound(_) => "object_not_found",
            ApiError::InvalidFunction => "invalid_function",
            ApiError::Function { .. } => "function_error",
            ApiError::ResponseTooLarge(_) => "response_size_exceeded",
            ApiError::NotSerializable(_) | ApiError::ContractBroken(_) => {
                "invalid_extension_response"
            }
            ApiError::InvalidOptions(_) => "invalid_options",
            ApiError::Sandbox(err) => err.code(),
            ApiError::MalformedJson(_) => "invalid_json",
            ApiError::BodyTooLarge(_) => "request_too_large",
            ApiError::BodyReadTimeout(_) => "request_timeout",
            ApiError::PluginLoading(_) => "plugin_loading",
            ApiError::CallbackNotAllowed(_) => "callback_not_allowed",
            ApiError::JobNotFound(_) => "job_not_found",
            ApiError::JobRunning(_) => "job_running",
            ApiError::StepsUnavailable(_) => "steps_unavailable",
            ApiError::FlowEnded {
                retry_later: true, ..
            } => "flow_retry_later",
            ApiError::FlowEnded { .. } => "flow_failed",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
        }
    }

    /// The error objects on the wire: (key order, code, message).
    fn entries(&self) -> Vec<(Order, Code, String)> {
        use Order::*;
        let one =
            |order, message: String| vec![(order, Code::Text(self.metric_code().into()), message)];
        match self {
            ApiError::Unauthorized => one(CodeFirst, "Invalid system token.".into()),
            ApiError::Invalid(violations) => violations
                .iter()
                .map(|v| {
                    let (code, message) = v.wire();
                    (CodeFirst, Code::Text(code.into()), message.to_string())
                })
                .collect(),
            ApiError::ObjectNotFound(ty) => one(
                MessageFirst,
                format!("The object {ty} doesn't exist in the module."),
            ),
            ApiError::InvalidFunction => one(
                MessageFirst,
                "The function passed in the extension options doesn't map to a function.".into(),
            ),
            ApiError::Function { code, message } => {
                vec![(MessageFirst, code.clone(), message.clone())]
            }
            ApiError::ResponseTooLarge(limit) => one(
                MessageFirst,
                format!("response stream exceeded limit of {limit} bytes."),
            ),
            ApiError::NotSerializable(_) => one(
                MessageFirst,
                "Extension response is not serializable.".into(),
            ),
            ApiError::ContractBroken(message) => one(MessageFirst, message.clone()),
            ApiError::InvalidOptions(message) => one(MessageFirst, message.clone()),
            ApiError::Sandbox(err) => one(MessageFirst, err.to_string()),
            ApiError::MalformedJson(detail) => one(
                CodeFirst,
                format!("The request body is not valid JSON: {detail}"),
            ),
            ApiError::BodyTooLarge(limit) => one(
                CodeFirst,
                format!("The request body is larger than the limit of {limit} bytes."),
            ),
            ApiError::BodyReadTimeout(limit) => one(
                CodeFirst,
                format!(
                    "The request body did not arrive within {} ms.",
                    limit.as_millis()
                ),
            ),
            ApiError::PluginLoading(id) => one(
                MessageFirst,
                format!(
                    "The module serving {id} is still loading (compiling after a start or a change); try again shortly."
                ),
            ),
            ApiError::CallbackNotAllowed(url) => one(
                CodeFirst,
                format!(
                    "The X-Response-URL {url} is not allowed by the connector's [steps] callback_hosts."
                ),
            ),
            ApiError::JobNotFound(id) => one(CodeFirst, format!("No step job {id}.")),
            ApiError::JobRunning(id) => one(
                CodeFirst,
                format!(
                    "Step job {id} is still running; only a pending or failed job can be retried."
                ),
            ),
            ApiError::StepsUnavailable(why) => one(
                CodeFirst,
                format!("Integration steps are unavailable on this host: {why}"),
            ),
            ApiError::FlowEnded { message, .. } => one(MessageFirst, message.clone()),
            ApiError::NotFound => one(CodeFirst, "No such route.".into()),
            ApiError::MethodNotAllowed => {
                one(CodeFirst, "This route does not accept that method.".into())
            }
        }
    }

    /// The response body: `{"errors":[…]}`.
    pub fn body(&self) -> String {
        format!(r#"{{"errors":{}}}"#, self.errors_json())
    }

    /// The `errors` array of the body, as JSON text.
    pub fn errors_json(&self) -> String {
        let mut out = String::from("[");
        for (i, (order, code, message)) in self.entries().into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let code = code.json();
            let message = json_string(&message);
            match order {
                Order::CodeFirst => {
                    out.push_str(&format!(r#"{{"code":{code},"message":{message}}}"#))
                }
                Order::MessageFirst => {
                    out.push_str(&format!(r#"{{"message":{message},"code":{code}}}"#))
                }
            }
        }
        out.push(']');
        out
    }
}

/// A string as a JSON string literal.
pub fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status(),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            )],
            self.body(),
        )
            .into_response();
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("invalid system token"),
            );
        }
        if matches!(self, ApiError::PluginLoading(_)) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_are_code_first_and_keep_the_original_spelling() {
        let body =
            ApiError::Invalid(vec![Violation::UnknownConnector, Violation::MissingOptions]).body();
        assert_eq!(
            body,
            r#"{"errors":[{"code":"invalid_field","message":"The _connectorId set in the extension options does't match any of the _connectorId's present in extension configuration."},{"code":"missing_required_field","message":"Function options haven't been provided."}]}"#
        );
    }

    #[test]
    fn late_errors_are_message_first() {
        assert_eq!(
            ApiError::InvalidFunction.body(),
            r#"{"errors":[{"message":"The function passed in the extension options doesn't map to a function.","code":"invalid_function"}]}"#
        );
        assert_eq!(
            ApiError::ObjectNotFound("hook".into()).body(),
            r#"{"errors":[{"message":"The object hook doesn't exist in the module.","code":"object_not_found"}]}"#
        );
    }
}
