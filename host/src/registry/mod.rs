//! The plugins directory turned into the live set of plugins.
//!
//! `diy.wasm` serves DIY requests; `<_connectorId>.wasm` serves that connector. As in the
//! original configuration, diy and connectors are exclusive: when `diy.wasm` is present, every
//! other module is refused (and says why). A module that fails to load is refused with its
//! reason; the others still serve.

mod plugin;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context as _;

pub use plugin::{GroupKey, Plugin, group_key};

use crate::runtime::limits::PluginSettings;
use crate::runtime::{Limits, Runtime};

/// The file name of the DIY module.
pub const DIY_FILE: &str = "diy.wasm";

/// A module that was not loaded, and why.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The file.
    pub path: PathBuf,
    /// Why it was refused (the full cause chain).
    pub reason: String,
}

/// An immutable view of the loaded plugins; requests hold one for their whole duration.
#[derive(Default)]
pub struct Snapshot {
    /// The DIY module, if `diy.wasm` is loaded.
    pub diy: Option<Arc<Plugin>>,
    /// Connector modules by `_connectorId`.
    pub connectors: BTreeMap<String, Arc<Plugin>>,
    /// Modules that were refused.
    pub refused: Vec<Refused>,
}

/// The live set of plugins.
pub struct Registry {
    current: RwLock<Arc<Snapshot>>,
}

impl Registry {
    /// A registry serving `snapshot`.
    pub fn new(snapshot: Snapshot) -> Self {
        Self {
            current: RwLock::new(Arc::new(snapshot)),
        }
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Loads every `.wasm` module of `dir`.
pub async fn load_dir(runtime: &Runtime, dir: &Path, limits: &Limits) -> anyhow::Result<Snapshot> {
    let mut modules = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading plugins directory {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let is_wasm = path.extension().is_some_and(|e| e == "wasm");
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(|n| n.starts_with('.'));
        if is_wasm && !hidden && path.is_file() {
            modules.push(path);
        }
    }
    modules.sort();
    let has_diy = modules
        .iter()
        .any(|p| p.file_name().is_some_and(|n| n == DIY_FILE));

    let mut snapshot = Snapshot::default();
    for path in modules {
        let Some(id) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        let is_diy = id == "diy";
        if has_diy && !is_diy {
            let reason = "diy.wasm is present: a host serves either diy or connectors, not both \
                          (as the original configuration's diy and connectors fields)";
            tracing::warn!(path = %path.display(), reason, "refused connector module");
            snapshot.refused.push(Refused {
                path,
                reason: reason.into(),
            });
            continue;
        }
        let loaded = match plugin_limits(&path, limits) {
            Ok(limits) => Plugin::load(runtime, &id, &path, limits).await,
            Err(err) => Err(err),
        };
        match loaded {
            Ok(plugin) => {
                tracing::info!(
                    module = if is_diy { "diy" } else { "connector" },
                    id,
                    functions = plugin.manifest.len(),
                    hash = &plugin.hash[..12],
                    "loaded plugin"
                );
                let plugin = Arc::new(plugin);
                if is_diy {
                    snapshot.diy = Some(plugin);
                } else {
                    snapshot.connectors.insert(id, plugin);
                }
            }
            Err(err) => {
                let reason = format!("{err:#}");
                tracing::error!(path = %path.display(), %reason, "refused plugin module");
                snapshot.refused.push(Refused { path, reason });
            }
        }
    }
    if snapshot.diy.is_none() && snapshot.connectors.is_empty() {
        tracing::warn!(dir = %dir.display(), "no plugin loaded: every request will be answered with a configuration error");
    }
    Ok(snapshot)
}

/// The limits of the module at `path`: `limits`, with the overrides of the settings file
/// beside it (`<id>.toml`) when there is one. A settings file that does not parse, or names a
/// key that does not exist, refuses the module: silently ignoring a limit is worse.
pub fn plugin_limits(path: &Path, limits: &Limits) -> anyhow::Result<Limits> {
    let settings_path = path.with_extension("toml");
    let text = match std::fs::read_to_string(&settings_path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(limits.clone()),
        Err(err) => {
            return Err(err).with_context(|| format!("reading {}", settings_path.display()));
        }
    };
    let settings: PluginSettings = toml::from_str(&text)
        .with_context(|| format!("settings file {}", settings_path.display()))?;
    Ok(limits.with(&settings.limits))
}
