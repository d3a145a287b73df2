//! A local receiver standing in for a workflow platform's `X-Response-URL`: it records every
//! callback (headers and body) and can fail the first N with a 500.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::Notify;

/// One callback received.
#[derive(Debug, Clone)]
pub struct Callback {
    /// Its headers, names lowercase.
    pub headers: BTreeMap<String, String>,
    /// Its body.
    pub body: String,
    /// What the receiver answered.
    pub answered: u16,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Callback>>,
    arrived: Notify,
    failures_left: AtomicUsize,
}

/// The receiver; it serves until dropped with the test's runtime.
pub struct Receiver {
    shared: Arc<Shared>,
    port: u16,
}

async fn callback(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let fail = shared
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let headers = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    shared.received.lock().expect("lock").push(Callback {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        answered: status.as_u16(),
    });
    shared.arrived.notify_waiters();
    status
}

impl Receiver {
    /// Starts a receiver on loopback that answers 500 to its first `fail_first` callbacks.
    pub async fn start(fail_first: usize) -> Self {
        let shared = Arc::new(Shared::default());
        shared.failures_left.store(fail_first, Ordering::SeqCst);
        let app = Router::new()
            .route("/callback", post(callback))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { shared, port }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://localhost:<port>/callback`: what a step names as its `X-Response-URL`.
    pub fn url(&self) -> String {
        format!("http://localhost:{}/callback", self.port)
    }

    /// Answers 500 to the next `n` callbacks.
    pub fn fail_next(&self, n: usize) {
        self.shared.failures_left.store(n, Ordering::SeqCst);
    }

    /// Every callback so far.
    pub fn received(&self) -> Vec<Callback> {
        self.shared.received.lock().expect("lock").clone()
    }

    /// Waits (two minutes at most) until `n` callbacks have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Callback> {
        tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                let arrived = self.shared.arrived.notified();
                let received = self.received();
                if received.len() >= n {
                    return received;
                }
                arrived.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{n} callbacks did not arrive: {:?}", self.received()))
    }
}
