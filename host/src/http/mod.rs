//! The HTTP layer: the router (testable without a socket), shared state, and the protocol's
//! routes. See `routes` for the handlers, `auth` for the token (the body's envelope is
//! [`crate::envelope`]).

pub mod auth;
pub mod listing;
pub mod results;
pub mod routes;
pub mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};

use crate::error::ApiError;
use crate::registry::Registry;
use crate::runtime::Runtime;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The live plugins.
    pub registry: Arc<Registry>,
    /// The wasm runtime.
    pub runtime: Arc<Runtime>,
    /// The token callers must present.
    pub system_token: Arc<str>,
    /// Largest body read before the connector is known (the default `max_request_bytes`).
    pub max_body_bytes: u64,
    /// Set when shutdown begins, or for good by `GET /openConnections?terminate=true`:
    /// probes answer 503.
    pub shutting_down: Arc<AtomicBool>,
    /// Open connections (for `GET /openConnections`).
    pub connections: Arc<server::ConnectionCount>,
    /// How long a request body may take to arrive.
    pub body_read_timeout: std::time::Duration,
    /// How long a call to a module still loading waits for it.
    pub load_wait: std::time::Duration,
    /// Memory for results in flight, shared by every call.
    pub results: results::ResultBudget,
    /// What `GET /metrics` reports.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The integration step's job store (none: steps unavailable on this host).
    pub steps: Option<Arc<crate::steps::Steps>>,
    next_id: Arc<AtomicU64>,
    boot: Arc<str>,
}

impl AppState {
    /// State for a router.
    pub fn new(
        registry: Arc<Registry>,
        runtime: Arc<Runtime>,
        system_token: &str,
        limits: &crate::runtime::Limits,
    ) -> Self {
        let boot = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        Self {
            metrics: Arc::new(crate::metrics::Metrics::new(
                registry.clone(),
                runtime.clone(),
            )),
            steps: None,
            registry,
            runtime,
            system_token: system_token.into(),
            max_body_bytes: limits.max_request_bytes,
            shutting_down: Arc::new(AtomicBool::new(false)),
            connections: Arc::default(),
            results: results::ResultBudget::new(results::DEFAULT_MAX_RESULT_MEMORY_BYTES),
            body_read_timeout: std::time::Duration::from_millis(
                server::DEFAULT_BODY_READ_TIMEOUT_MS,
            ),
            load_wait: std::time::Duration::from_millis(crate::config::DEFAULT_LOAD_WAIT_MS),
            next_id: Arc::new(AtomicU64::new(1)),
            boot: format!("{boot:x}").into(),
        }
    }

    /// A request id unique within this process and across restarts.
    pub fn next_request_id(&self) -> Arc<str> {
        format!(
            "{}-{}",
            self.boot,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
        .into()
    }
}

/// The router: the protocol's routes; anything else answers in the protocol's error format.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(routes::health))
        .route("/healthCheck", get(routes::health))
        .route("/livez", get(routes::probe))
        .route("/readyz", get(routes::ready))
        .route("/function", post(routes::function))
        .route("/plugins", get(listing::list))
        .route("/openConnections", get(routes::open_connections))
        .route("/metrics", get(routes::metrics))
        .route("/steps/jobs", get(crate::steps::routes::list))
        .route("/steps/jobs/{id}", delete(crate::steps::routes::drop_job))
        .route("/steps/jobs/{id}/retry", post(crate::steps::routes::retry))
        .route(
            "/steps/{connector}/{function}",
            post(crate::steps::routes::submit),
        )
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // The handler reads the body itself, up to the protocol's 50 MB.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}
