//! JSON text ⇄ author types, and WIT records ⇄ SDK records.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bindings::integrator::extension::types as wit;
use crate::types::{Context, ErrorCode, FnError, FnResult, RecordError};

/// Parses one JSON text the host sent; `what` names it in the error (e.g. `options.data[3]`).
pub(crate) fn parse<T: DeserializeOwned>(text: &str, what: impl FnOnce() -> String) -> FnResult<T> {
    serde_json::from_str(text).map_err(|err| {
        FnError::new(
            "invalid_options",
            format!("{} does not fit the function's type: {err}", what()),
        )
    })
}

/// Parses an optional JSON text.
pub(crate) fn parse_opt(text: Option<String>, field: &str) -> FnResult<Option<Value>> {
    text.map(|t| parse(&t, || format!("options.{field}")))
        .transpose()
}

/// Parses a list of JSON texts.
pub(crate) fn parse_list<T: DeserializeOwned>(texts: Vec<String>, field: &str) -> FnResult<Vec<T>> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| parse(t, || format!("options.{field}[{i}]")))
        .collect()
}

/// Serialises a value the function returned.
pub(crate) fn to_json<T: Serialize>(value: &T) -> FnResult<String> {
    serde_json::to_string(value).map_err(|err| {
        FnError::new(
            "invalid_extension_response",
            format!("the result could not be serialised: {err}"),
        )
    })
}

/// Serialises a list of values.
pub(crate) fn to_json_list<T: Serialize>(values: &[T]) -> FnResult<Vec<String>> {
    values.iter().map(to_json).collect()
}

pub(crate) fn context(c: wit::Context) -> FnResult<Context> {
    let extra = match parse::<Value>(&c.extra, || "options".to_string())? {
        Value::Object(map) => map,
        _ => Default::default(),
    };
    Ok(Context {
        bearer_token: c.bearer_token,
        integration_id: c.integration_id,
        parent_integration_id: c.parent_integration_id,
        flow_id: c.flow_id,
        export_id: c.export_id,
        import_id: c.import_id,
        connection_id: c.connection_id,
        settings: parse_opt(c.settings, "settings")?,
        configuration: parse_opt(c.configuration, "configuration")?,
        extra,
    })
}

pub(crate) fn record_errors(errors: Vec<RecordError>) -> Vec<wit::RecordError> {
    errors
        .into_iter()
        .map(|e| wit::RecordError {
            code: e.code,
            message: e.message,
            source: e.source,
        })
        .collect()
}

pub(crate) fn fn_error(e: FnError) -> wit::FnError {
    wit::FnError {
        code: match e.code {
            ErrorCode::Text(text) => wit::ErrorCode::Text(text),
            ErrorCode::Number(n) => wit::ErrorCode::Number(n),
        },
        message: e.message,
    }
}
