//! The handlers: health routes and `POST /function`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::{Instrument, field};

use super::AppState;
use super::auth::{body_or_query_token, find_token, header_token, token_matches};
use super::results::{Held, HeldBody};
use crate::envelope::{Envelope, is_json_content_type};
use crate::error::ApiError;

const JSON: &str = "application/json; charset=utf-8";

/// `GET /` and `GET /healthCheck`.
pub async fn health() -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))],
        r#"{"success":true}"#,
    )
        .into_response()
}

/// `GET /livez`: 200 while serving, 503 once shutdown has begun.
pub async fn probe(State(state): State<AppState>) -> Response {
    let status = if state.shutting_down.load(Ordering::Relaxed) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, status.canonical_reason().unwrap_or_default()).into_response()
}

/// `GET /readyz`: as `/livez`, and 503 until every module found at start has loaded or failed
/// (a balancer sends traffic to a replica that serves every connector, not to one still
/// compiling; modules added later do not make a serving replica unready).
pub async fn ready(State(state): State<AppState>) -> Response {
    if !state.shutting_down.load(Ordering::Relaxed) && !state.registry.ready() {
        let loading = state.registry.current().loading.len();
        let text = format!("Loading: {loading} modules still loading");
        return (StatusCode::SERVICE_UNAVAILABLE, text).into_response();
    }
    probe(State(state)).await
}

/// `GET /metrics`: the Prometheus text format. Open to loopback callers (a sidecar, the
/// node's agent) and to anyone with the system token (a scraper's `authorization`), as
/// `/openConnections`: the series name the connectors and functions this host serves.
pub async fn metrics(State(state): State<AppState>, request: Request) -> Response {
    if !loopback_or_token(&state, &request) {
        return ApiError::Unauthorized.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// Whether the request comes from loopback or carries the system token.
fn loopback_or_token(state: &AppState, request: &Request) -> bool {
    let loopback = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| peer.ip().is_loopback());
    let token = find_token(request.headers(), None, request.uri().query());
    loopback || token_matches(token.as_deref(), &state.system_token)
}

/// `GET /openConnections`, as express-integrator-extension serves it for rolling deploys:
/// the number of *other* open connections as plain text; with `?terminate=true`, the probes
/// (`/livez`, `/readyz`) answer 503 from then on, so a balancer drains this instance. Open
/// to loopback callers (the deploy script on the machine) and to anyone with the system
/// token.
pub async fn open_connections(State(state): State<AppState>, request: Request) -> Response {
    if !loopback_or_token(&state, &request) {
        return ApiError::Unauthorized.into_response();
    }
    let terminate =
        serde_urlencoded::from_str::<Vec<(String, String)>>(request.uri().query().unwrap_or(""))
            .unwrap_or_default()
            .iter()
            .any(|(k, v)| k == "terminate" && v == "true");
    if terminate {
        state.shutting_down.store(true, Ordering::Relaxed);
        tracing::warn!("terminate requested: probes answer 503 from now on");
    }
    let others = state.connections.get().saturating_sub(1);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        others.to_string(),
    )
        .into_response()
}

/// `POST /function`: authenticate, validate, call the plugin, check and return its result.
pub async fn function(State(state): State<AppState>, request: Request) -> Response {
    let request_id = state.next_request_id();
    let span = tracing::info_span!(
        "call",
        request_id = &*request_id,
        connector = field::Empty,
        function = field::Empty,
        kind = field::Empty,
        code = field::Empty,
        fuel_used = field::Empty,
        duration_ms = field::Empty,
    );
    let started = Instant::now();
    let result = call(state, request, request_id.clone())
        .instrument(span.clone())
        .await;
    span.record("duration_ms", started.elapsed().as_secs_f64() * 1000.0);
    match result {
        Ok((body, held)) => {
            tracing::info!(parent: &span, status = 200, "function call answered");
            let mut response = (
                [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))],
                Body::new(HeldBody::new(body.unwrap_or_default(), held)),
            )
                .into_response();
            response
                .headers_mut()
                .insert("x-request-id", header_value(&request_id));
            response
        }
        Err(err) => {
            span.record("code", err.code());
            // The one place a failed call is logged: clients get the public message, operators
            // the cause.
            tracing::warn!(parent: &span, status = err.status().as_u16(), error = %err, "function call failed");
            let mut response = err.into_response();
            response
                .headers_mut()
                .insert("x-request-id", header_value(&request_id));
            response
        }
    }
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Reads the body here, on the server's threads (I/O), then does everything else on the
/// guests' runtime: parsing a 50 MB envelope and running the guest never occupy the threads
/// that accept connections and answer probes.
async fn call(
    state: AppState,
    request: Request,
    request_id: std::sync::Arc<str>,
) -> Result<(Option<String>, Held), ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(&state, body, &parts.headers, state.max_body_bytes).await?;
    let runtime = state.runtime.clone();
    let work = async move { answer(&state, &parts, &body, request_id).await }
        .instrument(tracing::Span::current());
    runtime
        .guests
        .run(work)
        .await
        .unwrap_or_else(|err| Err(err.into()))
}

async fn answer(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: &[u8],
    request_id: std::sync::Arc<str>,
) -> Result<(Option<String>, Held), ApiError> {
    let is_json = is_json_content_type(
        parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    // Authenticate before parsing the envelope into fields: until then the body is only
    // validated (a malformed body answers 400 first, as body-parser runs before the original's
    // auth) and scanned for `access_token`, in one pass that allocates nothing per key.
    let token = match header_token(&parts.headers) {
        Some(token) => {
            if !token_matches(token.as_deref(), &state.system_token) {
                Envelope::access_token(body, is_json)?;
                return Err(ApiError::Unauthorized);
            }
            token
        }
        None => body_or_query_token(Envelope::access_token(body, is_json)?, parts.uri.query()),
    };
    if !token_matches(token.as_deref(), &state.system_token) {
        return Err(ApiError::Unauthorized);
    }
    let envelope = Envelope::parse(body, is_json)?;
    let (body, deadline) =
        crate::answer::answer(state, &envelope, body.len(), request_id, None).await?;
    let len = body.as_ref().map_or(0, String::len);
    let held = state.results.hold(len, deadline).await?;
    Ok((body, held))
}

/// Reads the body up to `limit` bytes within the body-read timeout; a declared or actual
/// larger body is refused.
pub(crate) async fn read_body(
    state: &AppState,
    body: Body,
    headers: &axum::http::HeaderMap,
    limit: u64,
) -> Result<bytes::Bytes, ApiError> {
    tokio::time::timeout(state.body_read_timeout, read_at_most(body, headers, limit))
        .await
        .map_err(|_| ApiError::BodyReadTimeout(state.body_read_timeout))?
}

async fn read_at_most(
    body: Body,
    headers: &axum::http::HeaderMap,
    limit: u64,
) -> Result<bytes::Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::BodyTooLarge(limit));
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    to_bytes(body, cap)
        .await
        .map_err(|_| ApiError::BodyTooLarge(limit))
}
