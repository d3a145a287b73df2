//! A local session-based API that misbehaves on cue, for the response-script tests: it answers
//! 200 "Invalid session" (as some real APIs do) until a client logs in, throttles, fails and
//! refuses on the paths that ask for it, and counts what it was sent.
//!
//! - `POST /login` → 200 with a fresh session token (text); the previous one stops working.
//! - `GET /records` → 200 `[{"id":1},{"id":2}]` with `Authorization: Bearer <current token>`,
//!   else 200 `{"error":"Invalid session"}`.
//! - `GET /flaky/{n}` → 429 to the first `n` requests, then 200 `ok after <count>`.
//! - `GET /down` → 503; `GET /refuse` → 400; `GET /ok` → 200 `fine`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};

#[derive(Default)]
struct Shared {
    token: Mutex<Option<String>>,
    logins: AtomicUsize,
    /// Every request's `METHOD path`, in order.
    seen: Mutex<Vec<String>>,
    flaky: AtomicUsize,
    /// Tokens handed out no longer open a session (a login that "succeeds" uselessly).
    reject_sessions: AtomicBool,
}

/// The running API.
pub struct SessionApi {
    shared: Arc<Shared>,
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SessionApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SessionApi {
    /// Starts the API on loopback, nobody logged in.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/login", post(login))
            .route("/records", get(records))
            .route("/flaky/{n}", get(flaky))
            .route(
                "/down",
                get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
            )
            .route("/refuse", get(|| async { (StatusCode::BAD_REQUEST, "no") }))
            .route("/ok", get(|| async { "fine" }))
            .layer(axum::middleware::from_fn_with_state(shared.clone(), record))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { shared, port, task }
    }

    /// `http://localhost:<port>`.
    pub fn origin(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// Logins so far.
    pub fn logins(&self) -> usize {
        self.shared.logins.load(Ordering::SeqCst)
    }

    /// Every request so far, as `METHOD path`.
    pub fn seen(&self) -> Vec<String> {
        self.shared.seen.lock().expect("lock").clone()
    }

    /// How many requests went to `path` with `method`.
    pub fn count(&self, method: &str, path: &str) -> usize {
        let wanted = format!("{method} {path}");
        self.seen().iter().filter(|s| **s == wanted).count()
    }

    /// Ends the current session, as an expiry would.
    pub fn expire_session(&self) {
        *self.shared.token.lock().expect("lock") = None;
    }

    /// From now on no login opens a session.
    pub fn reject_sessions(&self) {
        self.shared.reject_sessions.store(true, Ordering::SeqCst);
    }

    /// Request counts by `METHOD path`.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for s in self.seen() {
            *counts.entry(s).or_default() += 1;
        }
        counts
    }
}

async fn record(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    shared.seen.lock().expect("lock").push(format!(
        "{} {}",
        request.method(),
        request.uri().path()
    ));
    next.run(request).await
}

async fn login(State(shared): State<Arc<Shared>>) -> String {
    let n = shared.logins.fetch_add(1, Ordering::SeqCst) + 1;
    let token = format!("session-{n}");
    if !shared.reject_sessions.load(Ordering::SeqCst) {
        *shared.token.lock().expect("lock") = Some(token.clone());
    }
    token
}

async fn records(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> &'static str {
    let current = shared.token.lock().expect("lock").clone();
    let sent = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (current, sent) {
        (Some(current), Some(sent)) if current == sent => r#"[{"id":1},{"id":2}]"#,
        _ => r#"{"error":"Invalid session"}"#,
    }
}

async fn flaky(State(shared): State<Arc<Shared>>, Path(n): Path<usize>) -> (StatusCode, String) {
    let count = shared.flaky.fetch_add(1, Ordering::SeqCst) + 1;
    if count <= n {
        (StatusCode::TOO_MANY_REQUESTS, "slow down".into())
    } else {
        (StatusCode::OK, format!("ok after {count}"))
    }
}
