//! The step routes: `POST /steps/{id}/{function}` and the job listing (`GET /steps/jobs`,
//! `POST /steps/jobs/{id}/retry`, `DELETE /steps/jobs/{id}`).

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::store::{Job, JobState, Outcome};
use super::{Steps, now_ms};
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::auth::{find_token, token_matches};

const JSON: &str = "application/json; charset=utf-8";

/// Request headers never passed to the function: credentials, and what the host itself uses.
fn is_secret(name: &str) -> bool {
    matches!(
        name,
        "authorization" | "proxy-authorization" | "cookie" | "x-response-url"
    ) || ["token", "secret", "password", "api-key", "apikey", "auth"]
        .iter()
        .any(|word| name.contains(word))
}

/// The request's non-secret headers, as a JSON object (names lowercase).
fn visible_headers(headers: &HeaderMap) -> Value {
    let mut out = serde_json::Map::new();
    for (name, value) in headers {
        if !is_secret(name.as_str())
            && let Ok(value) = value.to_str()
        {
            out.insert(name.as_str().to_string(), Value::from(value));
        }
    }
    Value::Object(out)
}

/// Whether the request presents the system token or the connector's step token (as `Bearer`,
/// as the whole `Authorization` value, or as `access_token` in the query).
fn authorized(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    step: Option<&str>,
) -> bool {
    let raw = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let candidates = [find_token(headers, None, query), raw];
    candidates.iter().flatten().any(|presented| {
        token_matches(Some(presented), &state.system_token)
            || step.is_some_and(|t| token_matches(Some(presented), t))
    })
}

/// A job store operation that failed, as the answer says it.
fn store_failed(err: anyhow::Error) -> ApiError {
    ApiError::StepsUnavailable(format!("{err:#}"))
}

fn steps_of(state: &AppState) -> Result<Arc<Steps>, ApiError> {
    state.steps.clone().ok_or_else(|| {
        ApiError::StepsUnavailable("the job store could not be opened (see the host's log)".into())
    })
}

/// Runs one `/function` envelope as `POST /function` would, on the guests' runtime; the
/// outcome as `/function` would answer it.
pub async fn run_call(state: &AppState, envelope: String, request_id: Arc<str>) -> Outcome {
    let st = state.clone();
    let work = async move {
        let parsed = Envelope::parse(envelope.as_bytes(), true)?;
        crate::answer::answer(&st, &parsed, envelope.len(), request_id, None)
            .await
            .map(|(body, _)| body)
    };
    outcome(
        state
            .runtime
            .guests
            .run(work)
            .await
            .unwrap_or_else(|err| Err(err.into())),
    )
}

/// A call's result as `/function` would answer it.
fn outcome(result: Result<Option<String>, ApiError>) -> Outcome {
    match result {
        Ok(body) => Outcome {
            status: 200,
            body: body.unwrap_or_default(),
        },
        Err(err) => Outcome {
            status: err.status().as_u16(),
            body: err.body(),
        },
    }
}

/// The outcome of a spawned [`run_call`], whether or not its task survived.
fn joined(result: Result<Outcome, tokio::task::JoinError>) -> Outcome {
    result.unwrap_or_else(|err| outcome(Err(err.into())))
}

fn answer(outcome: Outcome) -> Response {
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))],
        outcome.body,
    )
        .into_response()
}

/// `POST /steps/{id}/{function}[?type=…]`.
pub async fn submit(
    State(state): State<AppState>,
    Path((id, function)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let query = parts.uri.query();
    let mut snapshot = state.registry.current();
    if snapshot.loading.contains(&id) {
        snapshot = state
            .registry
            .wait_for(&id, state.load_wait)
            .await
            .ok_or_else(|| ApiError::PluginLoading(id.clone()))?;
    }
    let plugin = snapshot.plugin(&id).cloned();
    let step = plugin.as_ref().and_then(|p| p.steps.token.as_deref());
    if !authorized(&state, &parts.headers, query, step) {
        return Err(ApiError::Unauthorized);
    }
    let steps = steps_of(&state)?;
    let limit = plugin
        .as_ref()
        .map_or(state.max_body_bytes, |p| p.limits.max_request_bytes);
    let body = crate::http::routes::read_body(&state, body, &parts.headers, limit).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::MalformedJson("the body is not UTF-8".into()))?;
    let raw: Box<RawValue> = if text.trim().is_empty() {
        RawValue::from_string("null".into()).map_err(|e| ApiError::MalformedJson(e.to_string()))?
    } else {
        serde_json::from_str(text).map_err(|e| ApiError::MalformedJson(e.to_string()))?
    };
    let response_url = parts
        .headers
        .get("x-response-url")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let (Some(url), Some(plugin)) = (&response_url, &plugin)
        && !plugin.steps.allows_callback(url)
    {
        return Err(ApiError::CallbackNotAllowed(url.clone()));
    }
    let group: Option<String> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
            .unwrap_or_default()
            .into_iter()
            .find_map(|(k, v)| (k == "type").then_some(v));
    let mut envelope = serde_json::Map::new();
    if id == "diy" {
        envelope.insert("diy".into(), Value::Bool(true));
    } else {
        envelope.insert("_connectorId".into(), Value::from(id.as_str()));
    }
    if let Some(group) = &group {
        envelope.insert("type".into(), Value::from(group.as_str()));
    }
    envelope.insert("function".into(), Value::from(function.as_str()));
    let head = Value::Object(envelope).to_string();
    let options = format!(
        r#"{{"body":{},"headers":{}}}"#,
        raw.get(),
        visible_headers(&parts.headers)
    );
    // `{…}` + `,"options":{…}}`: the body is spliced in as written.
    let envelope = format!(r#"{},"options":{options}}}"#, &head[..head.len() - 1]);

    let request_id = state.next_request_id();
    let budget = plugin
        .as_ref()
        .map_or(steps.config.answer_budget, |p| p.steps.answer_budget);
    let mut call = tokio::spawn({
        let (state, envelope, request_id) = (state.clone(), envelope.clone(), request_id.clone());
        async move { run_call(&state, envelope, request_id).await }
    });
    let in_time = tokio::time::timeout(budget, &mut call).await;
    let outcome = match (in_time, &response_url) {
        (Ok(done), _) => done,
        // No callback URL: nowhere to deliver later, so the answer waits for the call.
        (Err(_), None) => call.await,
        (Err(_), Some(url)) => {
            let job = Job {
                id: request_id.to_string(),
                connector: id.clone(),
                function: function.clone(),
                group,
                envelope,
                response_url: url.clone(),
                state: JobState::Running,
                attempts: 0,
                next_attempt_ms: None,
                last_error: None,
                created_ms: now_ms(),
                outcome: None,
            };
            steps.record(job).await.map_err(store_failed)?;
            let job_id = request_id.to_string();
            tokio::spawn(async move { steps.finish(&job_id, joined(call.await)).await });
            tracing::info!(job = &*request_id, connector = %id, function = %function,
                "step answered 202: the outcome will be delivered to its X-Response-URL");
            let body = json!({"jobId": &*request_id, "state": "running"}).to_string();
            let mut response = (
                StatusCode::ACCEPTED,
                [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))],
                body,
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert("x-job-id", value);
            }
            return Ok(response);
        }
    };
    Ok(answer(joined(outcome)))
}

/// The job store, for a request presenting the system token.
fn listing_authorized(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Arc<Steps>, ApiError> {
    let token = find_token(headers, None, uri.query());
    if !token_matches(token.as_deref(), &state.system_token) {
        return Err(ApiError::Unauthorized);
    }
    steps_of(state)
}

fn rfc3339_ms(ms: u64) -> String {
    crate::http::listing::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
}

/// `GET /steps/jobs` (system token): every job not yet delivered.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let steps = listing_authorized(&state, &headers, &uri)?;
    let jobs: Vec<Value> = steps
        .jobs()
        .await
        .map_err(store_failed)?
        .iter()
        .map(|j| {
            json!({
                "id": j.id,
                "connector": j.connector,
                "function": j.function,
                "type": j.group,
                "state": j.state,
                "attempts": j.attempts,
                "nextAttempt": j.next_attempt_ms.map(rfc3339_ms),
                "lastError": j.last_error,
                "createdAt": rfc3339_ms(j.created_ms),
                "outcomeStatus": j.outcome.as_ref().map(|o| o.status),
            })
        })
        .collect();
    let body = json!({"jobs": jobs}).to_string();
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))],
        body,
    )
        .into_response())
}

/// `POST /steps/jobs/{id}/retry` (system token): deliver a pending or failed job now.
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<StatusCode, ApiError> {
    let steps = listing_authorized(&state, &headers, &uri)?;
    match steps.retry(&id).await.map_err(store_failed)? {
        None => Err(ApiError::JobNotFound(id)),
        Some(false) => Err(ApiError::JobRunning(id)),
        Some(true) => Ok(StatusCode::ACCEPTED),
    }
}

/// `DELETE /steps/jobs/{id}` (system token): forget a job.
pub async fn drop_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<StatusCode, ApiError> {
    let steps = listing_authorized(&state, &headers, &uri)?;
    if steps.drop_job(&id).await.map_err(store_failed)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::JobNotFound(id))
    }
}
