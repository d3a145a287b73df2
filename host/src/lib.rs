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
//! - [`telemetry`]: log output; [`metrics`]: `GET /metrics`.
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
pub mod metrics;
pub mod nested;
pub mod registry;
pub mod runtime;
pub mod steps;
pub mod telemetry;
pub mod tools;
mod valid_json;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use tokio::net::TcpListener;

pub use config::ServeConfig;

/// The runtime and the plugins of `config.plugins_dir`, loaded once (no watching), as the
/// state the protocol's handlers serve from: what the author tools and Lambda share. Returns
/// once every module has loaded or failed.
pub async fn load(config: &ServeConfig) -> anyhow::Result<http::AppState> {
    let runtime = runtime_for(config)?;
    let registry = registry::Registry::load(runtime.clone(), registry_config(config)).await?;
    Ok(app_state(config, Arc::new(registry), runtime))
}

/// The state `serve` serves from before any module has loaded: the modules of
/// `config.plugins_dir` are found, and each is `loading` until [`registry::Registry::start`].
pub fn prepare(config: &ServeConfig) -> anyhow::Result<http::AppState> {
    let runtime = runtime_for(config)?;
    let registry = registry::Registry::new(runtime.clone(), registry_config(config))?;
    let mut state = app_state(config, Arc::new(registry), runtime);
    // Steps need a writable state directory; a host without one serves everything else.
    state.steps = match steps::Steps::open(config.steps.clone()) {
        Ok(steps) => Some(Arc::new(steps)),
        Err(err) => {
            tracing::warn!(error = %format!("{err:#}"), "integration steps unavailable");
            None
        }
    };
    Ok(state)
}

fn runtime_for(config: &ServeConfig) -> anyhow::Result<Arc<runtime::Runtime>> {
    let engine = runtime::engine::EngineOptions {
        guest_profiler: config.guest_profiler,
        ..runtime::engine::EngineOptions::new(config.max_instances, config.max_stack_bytes)
    };
    Ok(Arc::new(runtime::Runtime::new(engine)?))
}

fn registry_config(config: &ServeConfig) -> registry::RegistryConfig {
    registry::RegistryConfig {
        dir: config.plugins_dir.clone(),
        limits: config.limits.clone(),
        network: config.network.clone(),
        cache_dir: config.cache_dir.clone(),
        precompiled_dir: config.precompiled_dir.clone(),
        step_answer_budget: config.steps.answer_budget,
    }
}

fn app_state(
    config: &ServeConfig,
    registry: Arc<registry::Registry>,
    runtime: Arc<runtime::Runtime>,
) -> http::AppState {
    let mut state = http::AppState::new(registry, runtime, &config.system_token, &config.limits);
    state.body_read_timeout = config.connections.body_read_timeout;
    state.results = http::results::ResultBudget::new(config.max_result_memory_bytes);
    state.load_wait = config.load_wait;
    state
}

/// Serves the protocol on `listener` at once while the plugins of `config.plugins_dir` load
/// (calls to a module still loading wait for it, bounded by `load_wait`; `/readyz` answers 200
/// once every module found at start has loaded or failed), watches the directory for changes,
/// and serves until `shutdown` resolves; then stops accepting, answers 503 on the probes, and
/// drains in-flight calls.
pub async fn serve(
    listener: TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = prepare(&config)?;
    let _loading = state.registry.start();
    serve_prepared(listener, &config, state, shutdown).await
}

/// [`serve`] from a [`prepare`]d state, whose modules load when someone calls
/// [`registry::Registry::start`] (`serve` does at once).
pub async fn serve_prepared(
    listener: TcpListener,
    config: &ServeConfig,
    state: http::AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let _watcher = match config.reload_debounce {
        Some(debounce) => Some(registry::watcher::watch(
            state.registry.clone(),
            debounce,
            config.poll_interval,
        )?),
        None => None,
    };
    let _delivery = state
        .steps
        .clone()
        .map(|steps| tokio::spawn(steps.run(state.clone())))
        .map(AbortOnDrop);
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

/// A background task stopped when the server stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The process's allocator: mimalloc rather than glibc's malloc. Each call allocates and frees
/// many small blocks (envelope fields, record slices, the result) on whichever worker runs it;
/// glibc's arenas spent a measurable share of a call in `_int_malloc`/`_int_free` and
/// consolidation (BENCHMARKS.md, "Per-call overhead").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
