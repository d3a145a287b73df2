//! `extension-host lambda --plugins DIR`: the same plugins as an AWS Lambda function (custom
//! runtime for `provided.al2023`, on the `lambda_runtime` crate), behaving as
//! lambda-integrator-extension does:
//!
//! - the invocation's payload is the function's `options`; the extension properties (`diy` or
//!   `_connectorId`, `type`, `function`, `maxResponseSize`) are the top-level fields of the
//!   invocation's client context (what integrator.io passes as `ClientContext`); no system
//!   token: IAM guards the invoke;
//! - success returns the function's result as the payload (`null` for an empty answer);
//! - every failure is a function error whose `errorMessage` is the JSON text of
//!   `{"statusCode":422,"errors":[…]}`, with the HTTP host's codes and messages.
//!
//! The sandbox, limits and per-connector settings apply unchanged; a call's wall clock never
//! outlasts the invocation's remaining time (less [`ANSWER_MARGIN`]).
//!
//! `lambda_runtime` parses the client context into the AWS mobile SDK's shape, which has no
//! room for top-level fields, so a layer in front of the handler turns each invocation's body
//! into the envelope the HTTP host would have received (the client context's fields with
//! `options` = the payload), which the handler parses like a `POST /function` body.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lambda_runtime::tower::util::MapRequestLayer;
use lambda_runtime::{Diagnostic, LambdaEvent, LambdaInvocation, Runtime, service_fn};
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use tracing::Instrument;

use crate::ServeConfig;
use crate::answer::answer;
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::http::AppState;

/// The header the Runtime API carries the client context in (JSON text).
const CLIENT_CONTEXT: &str = "lambda-runtime-client-context";

/// Time kept back from an invocation's deadline to send the answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(100);

/// Loads the plugins and serves invocations until the Runtime API goes away.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let state = crate::load(&config).await?;
    let handler = service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let state = state.clone();
        async move { invoke(&state, event).await }
    });
    Runtime::new(handler)
        .layer(MapRequestLayer::new(to_envelope))
        .run()
        .await
        .map_err(|err| anyhow::anyhow!("the Lambda runtime stopped: {err}"))
}

/// The invocation's body becomes its envelope (see [`envelope_text`]).
fn to_envelope(mut invocation: LambdaInvocation) -> LambdaInvocation {
    let context = invocation
        .parts
        .headers
        .get(CLIENT_CONTEXT)
        .map(|v| v.as_bytes());
    invocation.body = envelope_text(context, &invocation.body).into_bytes().into();
    invocation
}

/// The request body the HTTP host would have received: the client context's fields (when it
/// is a JSON object; otherwise none) with `options` = the payload (`null` when it is not JSON).
fn envelope_text(context: Option<&[u8]>, payload: &[u8]) -> String {
    let mut properties: serde_json::Map<String, serde_json::Value> = context
        .and_then(|c| serde_json::from_slice(c).ok())
        .unwrap_or_default();
    properties.remove("options");
    let payload = match std::str::from_utf8(payload) {
        Ok(text) if serde_json::from_str::<IgnoredAny>(text).is_ok() => text,
        _ => "null",
    };
    // The fields' object, reopened to append `options`: the payload is copied once.
    let mut text = serde_json::Value::Object(properties).to_string();
    text.pop();
    if text.len() > 1 {
        text.push(',');
    }
    text.push_str(r#""options":"#);
    text.push_str(payload);
    text.push('}');
    text
}

async fn invoke(
    state: &AppState,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Box<RawValue>, Diagnostic> {
    let request_id: Arc<str> = event.context.request_id.as_str().into();
    let span = tracing::info_span!(
        "invocation",
        request_id = &*request_id,
        connector = tracing::field::Empty,
        function = tracing::field::Empty,
        kind = tracing::field::Empty,
        fuel_used = tracing::field::Empty,
    );
    respond(state, event, request_id).instrument(span).await
}

async fn respond(
    state: &AppState,
    event: LambdaEvent<Box<RawValue>>,
    request_id: Arc<str>,
) -> Result<Box<RawValue>, Diagnostic> {
    let deadline = Instant::now()
        + event
            .context
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .saturating_sub(ANSWER_MARGIN);
    let outcome = async {
        let envelope = Envelope::parse(event.payload.get().as_bytes(), true)?;
        // The connector's `max_request_bytes` applies to the payload, as it arrived.
        let payload_len = envelope.raw("options").map_or(0, |o| o.get().len());
        answer(state, &envelope, payload_len, request_id, Some(deadline)).await
    }
    .await;
    match outcome {
        Ok((text, _)) => {
            tracing::info!("invocation answered");
            let text = text.unwrap_or_else(|| "null".to_string());
            RawValue::from_string(text)
                .map_err(|err| failure(&ApiError::NotSerializable(err.to_string())))
        }
        Err(err) => {
            tracing::warn!(error = %err, "invocation failed");
            Err(failure(&err))
        }
    }
}

/// A failure as lambda-integrator-extension reports it: the error payload's `errorMessage` is
/// `JSON.stringify({statusCode: 422, errors})`.
fn failure(err: &ApiError) -> Diagnostic {
    Diagnostic {
        error_type: "ExtensionError".to_string(),
        error_message: format!(r#"{{"statusCode":422,"errors":{}}}"#, err.errors_json()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_is_the_client_context_with_the_payload_as_options() {
        let text = envelope_text(
            Some(br#"{"diy":true,"function":"f","options":"dropped"}"#),
            br#"{"a":[1]}"#,
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"diy": true, "function": "f", "options": {"a": [1]}})
        );
        let text = envelope_text(Some(b"null"), b"null");
        assert_eq!(text, r#"{"options":null}"#);
    }

    #[test]
    fn a_failure_s_message_is_the_original_s_json() {
        let d = failure(&ApiError::Invalid(vec![
            crate::error::Violation::MissingOptions,
        ]));
        assert_eq!(
            d.error_message,
            r#"{"statusCode":422,"errors":[{"code":"missing_required_field","message":"Function options haven't been provided."}]}"#
        );
    }
}
