//! One protocol call, from a parsed envelope to the checked answer: what `POST /function` and
//! the Lambda handler share (resolution, per-connector request limit, sandboxed call,
//! `maxResponseSize` and `max_response_bytes` checks).

use std::sync::Arc;
use std::time::Instant;

use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::http::AppState;
use crate::marshal::{self, kind_name, output};
use crate::metrics::CallRecord;
use crate::runtime::{Call, Tags};
use crate::{dispatch, nested};

/// Resolves and runs the envelope's function; the answer's body (`None`: an empty answer) and
/// the call's deadline. `body_len` is the request's size, checked against the connector's
/// `max_request_bytes`; `deadline` caps the call's own wall clock (a Lambda invocation's
/// remaining time).
pub async fn answer(
    state: &AppState,
    envelope: &Envelope<'_>,
    body_len: usize,
    request_id: Arc<str>,
    deadline: Option<Instant>,
) -> Result<(Option<String>, Instant), ApiError> {
    let started = Instant::now();
    let mut record = CallRecord::default();
    let outcome = run(state, envelope, body_len, request_id, deadline, &mut record).await;
    state
        .metrics
        .record_call(&record, &outcome, started.elapsed());
    outcome
}

async fn run(
    state: &AppState,
    envelope: &Envelope<'_>,
    body_len: usize,
    request_id: Arc<str>,
    deadline: Option<Instant>,
    record: &mut CallRecord,
) -> Result<(Option<String>, Instant), ApiError> {
    // The snapshot is held for the whole call: a reload never swaps a module mid-call.
    let mut snapshot = state.registry.current();
    // Only while something is loading does the envelope's id get read twice.
    let loading = (!snapshot.loading.is_empty())
        .then(|| dispatch::requested_id(envelope))
        .flatten()
        .filter(|id| snapshot.loading.contains(id));
    if let Some(id) = loading {
        let wait = match deadline {
            Some(deadline) => state
                .load_wait
                .min(deadline.saturating_duration_since(Instant::now())),
            None => state.load_wait,
        };
        snapshot = state
            .registry
            .wait_for(&id, wait)
            .await
            .ok_or(ApiError::PluginLoading(id))?;
    }
    let (target, options) = dispatch::resolve(&snapshot, envelope)?;
    record.connector = Some(target.plugin.id.clone());
    record.function = Some(target.name.as_str().into());
    let span = tracing::Span::current();
    span.record("connector", &*target.plugin.id);
    span.record("function", target.name.as_str());
    span.record("kind", kind_name(target.kind));
    let mut limits = target.plugin.limits.clone();
    if body_len as u64 > limits.max_request_bytes {
        return Err(ApiError::BodyTooLarge(limits.max_request_bytes));
    }
    if let Some(deadline) = deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1);
        limits.timeout_ms = limits.timeout_ms.min(ms);
    }
    let max_size = output::MaxSize::from_request(envelope.value("maxResponseSize").as_ref());

    let tags = Tags {
        connector: target.plugin.id.clone(),
        request_id,
    };
    let mut grants = target.plugin.grants();
    grants.scripts = nested::script_hook(
        &state.runtime,
        &target.plugin,
        &tags,
        &limits,
        Instant::now() + std::time::Duration::from_millis(limits.timeout_ms),
    );
    let mut call = state
        .runtime
        .start(target.plugin.pre(), &limits, tags, grants)
        .await?;
    let result = call
        .within_deadline(async |call: &mut Call| marshal::invoke(call, &target, options).await)
        .await;
    span.record("fuel_used", call.fuel_used());
    record.fuel = Some(call.fuel_used());
    // A response script that ended the call decides its answer, whatever the guest did.
    if let Some(verdict) = call.take_verdict() {
        return Err(verdict);
    }
    let body = result?;
    if let Some(text) = &body {
        output::check_size(text, &max_size)?;
        if text.len() as u64 > limits.max_response_bytes {
            return Err(ApiError::ResponseTooLarge(
                limits.max_response_bytes.to_string(),
            ));
        }
    }
    // The instance is done: its slot and memory go back before the answer is written.
    Ok((body, call.deadline()))
}
