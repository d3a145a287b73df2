//! A local implementation of the AWS Lambda Runtime API (next invocation, response, error,
//! init error), for driving `extension-host lambda` as Lambda would, without AWS.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

/// What the function answered for one invocation.
#[derive(Debug)]
pub enum Outcome {
    /// `POST …/response`: the payload.
    Response(Value),
    /// `POST …/error`: the error body (`errorMessage`, `errorType`).
    Error(Value),
}

/// The API's state.
#[derive(Default)]
pub struct Api {
    queue: Mutex<VecDeque<(String, String, Bytes)>>,
    queued: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_errors: Mutex<Vec<Value>>,
    first_next: OnceLock<Instant>,
}

impl Api {
    /// The bodies the function posted to `init/error`.
    pub fn init_errors(&self) -> Vec<Value> {
        self.init_errors.lock().expect("runtime API").clone()
    }

    /// When the function first asked for an invocation: the end of its init phase.
    pub fn first_next(&self) -> Option<Instant> {
        self.first_next.get().copied()
    }
}

/// A local Runtime API: invocations are queued by the test and handed out on `next`; the
/// function's answers resolve the test's waiting futures.
pub struct RuntimeApi {
    /// The API's state.
    pub api: Arc<Api>,
    /// Where it listens (the value of `AWS_LAMBDA_RUNTIME_API`).
    pub addr: std::net::SocketAddr,
    next_id: std::sync::atomic::AtomicU64,
}

async fn next(State(api): State<Arc<Api>>) -> Response {
    let _ = api.first_next.set(Instant::now());
    loop {
        let notified = api.queued.notified();
        if let Some((id, context, payload)) = api.queue.lock().expect("runtime API").pop_front() {
            let deadline = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .expect("runtime API")
                + Duration::from_secs(60);
            let mut headers = HeaderMap::new();
            headers.insert(
                "lambda-runtime-aws-request-id",
                HeaderValue::from_str(&id).expect("runtime API"),
            );
            headers.insert(
                "lambda-runtime-deadline-ms",
                HeaderValue::from_str(&deadline.as_millis().to_string()).expect("runtime API"),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:ext"),
            );
            headers.insert(
                "lambda-runtime-client-context",
                HeaderValue::from_str(&context).expect("runtime API"),
            );
            return (headers, payload).into_response();
        }
        notified.await;
    }
}

async fn respond(State(api): State<Arc<Api>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(tx) = api.waiting.lock().expect("runtime API").remove(&id) {
        let _ = tx.send(Outcome::Response(value));
    }
    StatusCode::ACCEPTED
}

async fn error(State(api): State<Arc<Api>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(tx) = api.waiting.lock().expect("runtime API").remove(&id) {
        let _ = tx.send(Outcome::Error(value));
    }
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<Arc<Api>>, body: Bytes) -> StatusCode {
    api.init_errors
        .lock()
        .expect("runtime API")
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    /// Starts the API on an ephemeral loopback port.
    pub async fn start() -> Self {
        let api = Arc::new(Api::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            // Lambda takes responses of up to 6 MB.
            .layer(axum::extract::DefaultBodyLimit::max(6 * 1024 * 1024))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("runtime API");
        let addr = listener.local_addr().expect("runtime API");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            api,
            addr,
            next_id: Default::default(),
        }
    }

    /// Points `command` (a function's process) at this API, as Lambda's environment does.
    pub fn environment<'c>(
        &self,
        command: &'c mut std::process::Command,
    ) -> &'c mut std::process::Command {
        command
            .env("AWS_LAMBDA_RUNTIME_API", self.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "extension")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    }

    /// Invokes the function with `payload` and the extension properties as client context.
    pub async fn invoke(&self, properties: &Value, payload: &str) -> Outcome {
        let id = format!(
            "req-{}",
            self.next_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let (tx, rx) = oneshot::channel();
        self.api
            .waiting
            .lock()
            .expect("runtime API")
            .insert(id.clone(), tx);
        self.api.queue.lock().expect("runtime API").push_back((
            id,
            properties.to_string(),
            Bytes::from(payload.to_string()),
        ));
        self.api.queued.notify_one();
        tokio::time::timeout(Duration::from_secs(120), rx)
            .await
            .expect("the function answers within two minutes")
            .expect("runtime API")
    }
}
