//! The plugins directory turned into the live set of plugins, and kept in step with it.
//!
//! `diy.wasm` serves DIY requests; `<_connectorId>.wasm` serves that connector; `<id>.toml`
//! beside a module overrides its limits. As in the original configuration, diy and connectors
//! are exclusive: while `diy.wasm` is present every other module is refused (and says why).
//!
//! The directory is the source of truth: [`Registry::reconcile`] rescans it and publishes a new
//! immutable [`Snapshot`]. A module whose bytes and settings did not change is kept as is; a
//! changed one is compiled (or read from the compile cache) off the request path; a module that
//! fails to load is reported and its previous version keeps serving; a removed file unloads.
//! Requests hold the snapshot they started with, so in-flight calls finish on their version.

pub mod cache;
mod plugin;
pub mod watcher;

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use anyhow::Context as _;
use sha2::{Digest, Sha256};

pub use cache::CompileCache;
pub use plugin::{GroupKey, Module, Plugin, Source, group_key};

use crate::egress::{NetworkPolicy, NetworkSettings};
use crate::runtime::limits::PluginSettings;
use crate::runtime::{Limits, Runtime};

/// The file name of the DIY module.
pub const DIY_FILE: &str = "diy.wasm";

const REFUSED_FOR_DIY: &str = "diy.wasm is present: a host serves either diy or connectors, not \
                               both (as the original configuration's diy and connectors fields)";

/// Why a module file is not serving its current contents.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The full cause chain.
    pub reason: String,
    /// When it was first seen.
    pub at: SystemTime,
    /// The file state that failed, so the same bytes and settings are not retried.
    stamp: Option<Stamp>,
}

/// What identifies a module file's state cheaply: size, mtime, inode and ctime of the `.wasm`
/// and the settings file's text. Size and mtime alone miss a same-size file copied in with
/// its mtime kept (`cp -p`, `rsync -t`, tar, image layers, reproducible builds); a rename
/// over the file changes the inode, and an in-place write changes the ctime, which no user
/// can set back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
    changed: (i64, i64),
    settings: Option<String>,
}

/// An immutable view of the loaded plugins.
#[derive(Default)]
pub struct Snapshot {
    /// The DIY module, if `diy.wasm` is loaded.
    pub diy: Option<Arc<Plugin>>,
    /// Connector modules by `_connectorId`.
    pub connectors: BTreeMap<String, Arc<Plugin>>,
    /// Module files that are refused or failed to load, by file name. A failed file whose
    /// previous version still serves appears both here and among the plugins.
    pub failures: BTreeMap<String, Failure>,
    /// Increases with every reconcile.
    pub generation: u64,
    stamps: HashMap<String, Stamp>,
}

impl Snapshot {
    /// The plugin serving `id` (`diy` for the DIY module).
    pub fn plugin(&self, id: &str) -> Option<&Arc<Plugin>> {
        if id == "diy" {
            self.diy.as_ref()
        } else {
            self.connectors.get(id)
        }
    }

    /// Every loaded plugin.
    pub fn plugins(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.diy.iter().chain(self.connectors.values())
    }

    /// Serves `plugin` (if any) under its id.
    fn keep(&mut self, plugin: Option<Arc<Plugin>>) {
        match plugin {
            Some(p) if &*p.id == "diy" => self.diy = Some(p),
            Some(p) => {
                self.connectors.insert(p.id.to_string(), p);
            }
            None => {}
        }
    }
}

/// Where plugins come from and how they are loaded.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// The plugins directory.
    pub dir: PathBuf,
    /// Default limits (a module's settings file overrides them).
    pub limits: Limits,
    /// Default egress policy (a module's settings file overrides it key by key).
    pub network: NetworkSettings,
    /// The compile-cache directory; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
}

/// The live set of plugins.
pub struct Registry {
    current: RwLock<Arc<Snapshot>>,
    runtime: Arc<Runtime>,
    config: RegistryConfig,
    cache: Option<CompileCache>,
    reconciling: tokio::sync::Mutex<()>,
}

impl Registry {
    /// Loads the plugins directory.
    pub async fn load(runtime: Arc<Runtime>, config: RegistryConfig) -> anyhow::Result<Self> {
        let cache = config.cache_dir.as_deref().and_then(|dir| {
            match CompileCache::open(dir, &runtime.engine) {
                Ok(cache) => Some(cache),
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "compile cache disabled");
                    None
                }
            }
        });
        let registry = Self {
            current: RwLock::new(Arc::new(Snapshot::default())),
            runtime,
            config,
            cache,
            reconciling: tokio::sync::Mutex::new(()),
        };
        registry.reconcile().await?;
        let snapshot = registry.current();
        if snapshot.diy.is_none() && snapshot.connectors.is_empty() {
            tracing::warn!(
                dir = %registry.config.dir.display(),
                "no plugin loaded: requests get configuration errors until a module is added"
            );
        }
        Ok(registry)
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The plugins directory.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// Brings the live set in step with the directory and publishes the result atomically.
    pub async fn reconcile(&self) -> anyhow::Result<()> {
        let _one_at_a_time = self.reconciling.lock().await;
        let prev = self.current();
        let modules = scan(&self.config.dir)?;
        let has_diy = modules.iter().any(|(id, _)| id == "diy");
        let mut next = Snapshot {
            generation: prev.generation + 1,
            ..Snapshot::default()
        };
        let by_hash: HashMap<String, Arc<Module>> = prev
            .plugins()
            .map(|p| (p.module.hash.clone(), p.module.clone()))
            .collect();
        let mut pending = Vec::new();

        for (id, path) in modules {
            let file = file_name(&path);
            let previous = prev.plugin(&id).cloned();
            if has_diy && id != "diy" {
                if !prev.failures.contains_key(&file) {
                    tracing::warn!(file, reason = REFUSED_FOR_DIY, "refused connector module");
                }
                next.failures.insert(
                    file.clone(),
                    failure(&prev, &file, REFUSED_FOR_DIY.into(), None),
                );
                continue;
            }
            // From here on, whatever happens, the previous version (if any) is not dropped
            // unless a new one replaces it.
            let stamp = match stamp(&path) {
                Ok(stamp) => stamp,
                Err(err) => {
                    next.failures.insert(
                        file.clone(),
                        failure(&prev, &file, format!("{err:#}"), None),
                    );
                    next.keep(previous);
                    continue;
                }
            };
            // Nothing new to try when the file is as it was when it last loaded, or as it was
            // when it last failed: keep the plugin and the failure as they are.
            let unchanged = prev.stamps.get(&file) == Some(&stamp);
            let known_failure = prev
                .failures
                .get(&file)
                .filter(|f| f.stamp.as_ref() == Some(&stamp));
            if unchanged || known_failure.is_some() {
                if let Some(failure) = known_failure {
                    next.failures.insert(file.clone(), failure.clone());
                }
                if unchanged {
                    next.stamps.insert(file, stamp);
                }
                next.keep(previous);
                continue;
            }
            pending.push((id, path, file, stamp, previous));
        }
        // Changed modules load concurrently: one slow module (a big compile, start-up code
        // that runs to its deadline) never holds up the others.
        let loads = pending.iter().map(|(id, path, _, stamp, previous)| {
            self.load_one(id, path, stamp, previous.as_ref(), &by_hash)
        });
        let loaded = futures_util::future::join_all(loads).await;
        for ((id, _, file, stamp, previous), result) in pending.into_iter().zip(loaded) {
            match result {
                Ok(plugin) => {
                    if !previous.as_ref().is_some_and(|p| Arc::ptr_eq(p, &plugin)) {
                        let action = if previous.is_some() {
                            "replaced plugin"
                        } else {
                            "loaded plugin"
                        };
                        tracing::info!(
                            id,
                            file,
                            hash = &plugin.module.hash[..12],
                            source = ?plugin.module.source,
                            functions = plugin.module.manifest.len(),
                            "{action}"
                        );
                    }
                    next.keep(Some(plugin));
                    next.stamps.insert(file, stamp);
                }
                Err(err) => {
                    let reason = format!("{err:#}");
                    let keeps = if previous.is_some() {
                        "the previous version keeps serving"
                    } else {
                        "not loaded"
                    };
                    tracing::error!(id, file, %reason, "refused plugin module: {keeps}");
                    next.failures
                        .insert(file.clone(), failure(&prev, &file, reason, Some(stamp)));
                    next.keep(previous);
                }
            }
        }
        for gone in prev.plugins().filter(|p| next.plugin(&p.id).is_none()) {
            tracing::info!(id = &*gone.id, "unloaded plugin");
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        Ok(())
    }

    async fn load_one(
        &self,
        id: &str,
        path: &Path,
        stamp: &Stamp,
        previous: Option<&Arc<Plugin>>,
        by_hash: &HashMap<String, Arc<Module>>,
    ) -> anyhow::Result<Arc<Plugin>> {
        let settings_path = path.with_extension("toml");
        let settings: PluginSettings = match &stamp.settings {
            Some(text) => toml::from_str(text)
                .with_context(|| format!("settings file {}", settings_path.display()))?,
            None => PluginSettings::default(),
        };
        let limits = self.config.limits.with(&settings.limits);
        let network_settings = self
            .config
            .network
            .with(&settings.network.anchored(&self.config.dir));
        let network = Arc::new(
            NetworkPolicy::compile(&network_settings)
                .with_context(|| format!("settings file {}", settings_path.display()))?,
        );
        let bytes = tokio::fs::read(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        let hash = format!("{:x}", Sha256::digest(&bytes));
        if let Some(p) = previous
            .filter(|p| p.module.hash == hash && p.limits == limits && p.settings == stamp.settings)
        {
            // Touched but identical: never recompile, keep serving the same plugin.
            return Ok(p.clone());
        }
        let module = match by_hash.get(&hash) {
            Some(module) => module.clone(),
            None => Arc::new(
                Module::load(&self.runtime, id, bytes, hash, &limits, self.cache.as_ref()).await?,
            ),
        };
        Ok(Arc::new(Plugin {
            id: id.into(),
            file: path.to_path_buf(),
            module,
            share: self.runtime.share_of(&limits),
            limits,
            network,
            settings: stamp.settings.clone(),
            loaded_at: SystemTime::now(),
        }))
    }
}

/// A failure, keeping the time it was first seen if the reason is unchanged.
fn failure(prev: &Snapshot, file: &str, reason: String, stamp: Option<Stamp>) -> Failure {
    let at = prev
        .failures
        .get(file)
        .filter(|f| f.reason == reason)
        .map(|f| f.at)
        .unwrap_or_else(SystemTime::now);
    Failure { reason, at, stamp }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn stamp(path: &Path) -> anyhow::Result<Stamp> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let settings_path = path.with_extension("toml");
    let settings = match std::fs::read_to_string(&settings_path) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            return Err(err).with_context(|| format!("reading {}", settings_path.display()));
        }
    };
    Ok(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode: meta.ino(),
        changed: (meta.ctime(), meta.ctime_nsec()),
        settings,
    })
}

/// The `.wasm` modules of `dir` as (id, path), sorted; hidden files and directories skipped.
fn scan(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut modules = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading plugins directory {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let is_wasm = path.extension().is_some_and(|e| e == "wasm");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(".");
        if !is_wasm || name.starts_with('.') || !path.is_file() {
            continue;
        }
        if let Some(id) = path.file_stem().and_then(|s| s.to_str()) {
            modules.push((id.to_string(), path.clone()));
        }
    }
    modules.sort();
    Ok(modules)
}
