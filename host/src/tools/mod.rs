//! The author's commands. `call` and `inspect` run one component through the server's own
//! state and handlers (the same loading, sandbox, limits, envelope checks and answers as when
//! served), with no listening socket and no token to manage; `build` ([`build`]) turns a
//! project into a checked component; `new` ([`scaffold`]) creates a project.

pub mod build;
pub mod package;
pub mod probe;
pub mod scaffold;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

use crate::config::{CallArgs, FileConfig, InspectArgs};
use crate::{ServeConfig, http};

/// The token of the in-process server: it never leaves the process.
const TOKEN: &str = "extension-host-tools";

/// What `call` got back.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status the server answers.
    pub status: StatusCode,
    /// The body the server answers: the result, or the wire error.
    pub body: String,
    /// Fuel the function used (none when it never ran).
    pub fuel_used: Option<u64>,
    /// Time from the request to the end of the answer.
    pub elapsed: Duration,
}

/// The fuel of the last call, as its `call` span records it (see `telemetry::init_tools`).
#[derive(Debug, Clone, Default)]
pub struct FuelMeter(Arc<AtomicU64>);

impl FuelMeter {
    /// Records `fuel`.
    pub fn set(&self, fuel: u64) {
        self.0.store(fuel.saturating_add(1), Ordering::Relaxed);
    }

    /// The last recorded fuel, if any.
    pub fn get(&self) -> Option<u64> {
        self.0.load(Ordering::Relaxed).checked_sub(1)
    }
}

/// Runs one function of `args.module` as the server would for the same envelope.
pub async fn call(args: &CallArgs, fuel: &FuelMeter) -> anyhow::Result<Answer> {
    let id = args.connector.as_deref().unwrap_or("diy");
    let settings = args.settings.clone().or_else(|| {
        let beside = args.module.with_extension("toml");
        beside.exists().then_some(beside)
    });
    let dir = stage(&args.module, id, settings.as_deref())?;
    let mut config = config(dir.path());
    let file = match &args.config {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    config.apply_call_settings(&file, &args.limits, None);
    let options = match &args.options {
        None => "{}".to_string(),
        Some(path) if path == Path::new("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading options from stdin")?;
            text
        }
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading options from {}", path.display()))?,
    };
    let state = loaded(&config, &args.module).await?;
    // The options go in as written (key order and all), as a client's body would carry them.
    let mut envelope = String::from("{");
    match &args.connector {
        Some(id) => envelope.push_str(&format!("\"_connectorId\":{}", json_string(id))),
        None => envelope.push_str("\"diy\":true"),
    }
    if let Some(group) = &args.group {
        envelope.push_str(&format!(",\"type\":{}", json_string(group)));
    }
    envelope.push_str(&format!(",\"function\":{}", json_string(&args.function)));
    if let Some(size) = args.max_response_size {
        envelope.push_str(&format!(",\"maxResponseSize\":{size}"));
    }
    envelope.push_str(&format!(",\"options\":{}}}", options.trim()));

    let request = Request::post("/function")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(envelope))?;
    let started = Instant::now();
    let response = http::router(state).oneshot(request).await?;
    let status = response.status();
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .context("reading the answer")?;
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        fuel_used: fuel.get(),
        elapsed: started.elapsed(),
    })
}

/// What `GET /plugins` shows for `args.module`: its functions with their groups and kinds,
/// limits and network policy.
pub async fn inspect(args: &InspectArgs) -> anyhow::Result<serde_json::Value> {
    let dir = stage(&args.module, "diy", None)?;
    let state = loaded(&config(dir.path()), &args.module).await?;
    let request = Request::get("/plugins")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())?;
    let response = http::router(state).oneshot(request).await?;
    let body = to_bytes(response.into_body(), usize::MAX).await?;
    let mut listing: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(listing["plugins"][0].take())
}

/// A private plugins directory holding `module` as `<id>.wasm`, and its settings as `<id>.toml`.
fn stage(module: &Path, id: &str, settings: Option<&Path>) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir().context("creating a temporary plugins directory")?;
    std::fs::copy(module, dir.path().join(format!("{id}.wasm")))
        .with_context(|| format!("reading {}", module.display()))?;
    if let Some(settings) = settings {
        let text = std::fs::read_to_string(settings)
            .with_context(|| format!("reading {}", settings.display()))?;
        let mut table: toml::Table =
            toml::from_str(&text).with_context(|| format!("{}", settings.display()))?;
        // A relative `ca_file` stays relative to the settings file, not the staged copy.
        if let Some(toml::Value::String(ca)) =
            table.get_mut("network").and_then(|n| n.get_mut("ca_file"))
        {
            let base = settings.parent().unwrap_or(Path::new("."));
            *ca = std::path::absolute(base.join(&*ca))?
                .to_string_lossy()
                .into_owned();
        }
        std::fs::write(
            dir.path().join(format!("{id}.toml")),
            toml::to_string(&table)?,
        )?;
    }
    Ok(dir)
}

/// The server's defaults over `dir`, never watching it, with the compile cache where repeated
/// runs find it.
fn config(dir: &Path) -> ServeConfig {
    let mut config = ServeConfig::new(dir, TOKEN);
    config.reload_debounce = None;
    config.cache_dir = cache_dir();
    config
}

/// `$XDG_CACHE_HOME/extension-host` or `~/.cache/extension-host`.
fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("extension-host"))
}

/// Loads the staged directory; a module that fails to load is an error with the reason.
async fn loaded(config: &ServeConfig, module: &Path) -> anyhow::Result<http::AppState> {
    let state = crate::load(config).await?;
    let snapshot = state.registry.current();
    if let Some(failure) = snapshot.failures.values().next() {
        bail!("{} cannot be served: {}", module.display(), failure.reason);
    }
    Ok(state)
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}
