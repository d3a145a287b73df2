//! A WebAssembly extension host for integrator.io-style integrations: a drop-in replacement
//! for express-integrator-extension that runs each extension function in a fresh, limited
//! wasmtime instance.
//!
//! Layout:
//! - [`config`]: command line, environment, defaults.
//! - [`http`]: router, shared state, handlers, authentication.
//! - [`envelope`]: the request body's top-level fields, as body-parser would see them.
//! - [`fields`]: a JSON object's fields as slices of its text (envelope and `options`).
//! - [`error`]: every wire error, in one enum and one table.
//! - [`dispatch`]: `(diy | _connectorId, type, function)` → plugin and function.
//! - [`egress`]: guests' outbound HTTP, checked against each plugin's network policy.
//! - [`marshal`]: each kind's contract (one table), JSON `options` ⇄ typed WIT values, checks
//!   on results.
//! - [`runtime`]: the engine, its epoch ticker, limits, and one call's store and outcome.
//! - [`registry`]: the plugins directory → the live set of plugins.
//! - [`js`]: the JavaScript semantics the original protocol leaks (truthiness, `String(x)`).
//! - [`telemetry`]: log output.
//! - [`tools`]: the author's commands (`call`, `inspect`): one module, no server.

pub mod answer;
pub mod config;
pub mod dispatch;
pub mod egress;
pub mod envelope;
pub mod error;
pub mod fields;
pub mod http;
pub mod js;
pub mod lambda;
pub mod marshal;
pub mod registry;
pub mod runtime;
pub mod telemetry;
pub mod tools;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use tokio::net::TcpListener;

pub use config::ServeConfig;

/// The runtime and the plugins of `config.plugins_dir`, loaded once (no watching), as the
/// state the protocol's handlers serve from: what `serve` and the author tools share.
pub async fn load(config: &ServeConfig) -> anyhow::Result<http::AppState> {
    let engine = runtime::engine::EngineOptions::new(config.max_instances, config.max_stack_bytes);
    let runtime = Arc::new(runtime::Runtime::new(engine)?);
    let registry_config = registry::RegistryConfig {
        dir: config.plugins_dir.clone(),
        limits: config.limits.clone(),
        network: config.network.clone(),
        cache_dir: config.cache_dir.clone(),
    };
    let registry = Arc::new(registry::Registry::load(runtime.clone(), registry_config).await?);
    let mut state = http::AppState::new(registry, runtime, &config.system_token, &config.limits);
    state.body_read_timeout = config.connections.body_read_timeout;
    state.results = http::results::ResultBudget::new(config.max_result_memory_bytes);
    Ok(state)
}

/// Loads the plugins of `config.plugins_dir`, watches it for changes, and serves the protocol on
/// `listener` until `shutdown` resolves; then stops accepting, answers 503 on the probes, and
/// drains in-flight calls.
pub async fn serve(
    listener: TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = load(&config).await?;
    let _watcher = match config.reload_debounce {
        Some(debounce) => Some(registry::watcher::watch(state.registry.clone(), debounce)?),
        None => None,
    };
    let shutting_down = state.shutting_down.clone();
    let connections = state.connections.clone();
    let app = http::router(state);
    let addr = listener
        .local_addr()
        .context("reading the listener's address")?;
    tracing::info!(%addr, plugins = %config.plugins_dir.display(), "extension host listening");
    http::server::run(listener, app, config.connections, connections, async move {
        shutdown.await;
        shutting_down.store(true, Ordering::Relaxed);
        tracing::info!("shutting down: draining in-flight calls");
    })
    .await
    .context("serving HTTP")
}
