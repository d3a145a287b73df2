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
//! room for top-level fields, so a layer in front of the handler moves the raw header into the
//! event beside the payload.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lambda_runtime::tower::util::MapRequestLayer;
use lambda_runtime::{Diagnostic, LambdaEvent, LambdaInvocation, Runtime, service_fn};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use tracing::Instrument;

use crate::ServeConfig;
use crate::answer::{ANSWER_MARGIN, answer};
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::http::AppState;

/// The header the Runtime API carries the client context in (JSON text).
const CLIENT_CONTEXT: &str = "lambda-runtime-client-context";

/// What the handler receives: the layer's wrapping of one invocation.
#[derive(Deserialize)]
struct Invocation {
    #[serde(rename = "clientContext")]
    client_context: Box<RawValue>,
    payload: Box<RawValue>,
}

/// Loads the plugins and serves invocations until the Runtime API goes away.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let state = crate::load(&config).await?;
    let handler = service_fn(move |event: LambdaEvent<Invocation>| {
        let state = state.clone();
        async move { invoke(&state, event).await }
    });
    Runtime::new(handler)
        .layer(MapRequestLayer::new(wrap_client_context))
        .run()
        .await
        .map_err(|err| anyhow::anyhow!("the Lambda runtime stopped: {err}"))
}

/// `{"clientContext": <header or null>, "payload": <body or null>}` as the event's body.
fn wrap_client_context(mut invocation: LambdaInvocation) -> LambdaInvocation {
    let json_or_null = |text: &[u8]| match std::str::from_utf8(text) {
        Ok(t) if serde_json::from_str::<IgnoredAny>(t).is_ok() => t.to_string(),
        _ => "null".to_string(),
    };
    let context = invocation
        .parts
        .headers
        .get(CLIENT_CONTEXT)
        .map_or_else(|| "null".to_string(), |v| json_or_null(v.as_bytes()));
    let payload = json_or_null(&invocation.body);
    invocation.body = format!(r#"{{"clientContext":{context},"payload":{payload}}}"#)
        .into_bytes()
        .into();
    invocation
}

async fn invoke(
    state: &AppState,
    event: LambdaEvent<Invocation>,
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
    event: LambdaEvent<Invocation>,
    request_id: Arc<str>,
) -> Result<Box<RawValue>, Diagnostic> {
    let deadline = Instant::now()
        + event
            .context
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .saturating_sub(ANSWER_MARGIN);
    let body = envelope_text(&event.payload);
    let outcome = async {
        let envelope = Envelope::parse(body.as_bytes(), true)?;
        answer(
            state,
            &envelope,
            event.payload.payload.get().len(),
            request_id,
            Some(deadline),
        )
        .await
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

/// The request body the HTTP host would have received: the client context's fields (an object;
/// anything else has none) with `options` = the payload.
fn envelope_text(invocation: &Invocation) -> String {
    let mut properties: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(invocation.client_context.get()).unwrap_or_default();
    properties.remove("options");
    let fields = serde_json::Value::Object(properties).to_string();
    let options = format!(r#""options":{}}}"#, invocation.payload.get());
    if fields == "{}" {
        format!("{{{options}")
    } else {
        format!("{},{options}", &fields[..fields.len() - 1])
    }
}

/// A failure as lambda-integrator-extension reports it: the error payload's `errorMessage` is
/// `JSON.stringify({statusCode: 422, errors})`.
fn failure(err: &ApiError) -> Diagnostic {
    let errors = err.body();
    Diagnostic {
        error_type: "ExtensionError".to_string(),
        error_message: format!(r#"{{"statusCode":422,{}"#, &errors[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(context: &str, payload: &str) -> Invocation {
        serde_json::from_str(&format!(
            r#"{{"clientContext":{context},"payload":{payload}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn the_envelope_is_the_client_context_with_the_payload_as_options() {
        let text = envelope_text(&invocation(
            r#"{"diy":true,"function":"f","options":"dropped"}"#,
            r#"{"a":[1]}"#,
        ));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"diy": true, "function": "f", "options": {"a": [1]}})
        );
        let text = envelope_text(&invocation("null", "null"));
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
