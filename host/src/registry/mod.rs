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
pub mod compile;
mod plugin;
pub mod watcher;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use sha2::{Digest, Sha256};

pub use cache::CompileCache;
pub use compile::Compiler;
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
#[derive(Default, Clone)]
pub struct Snapshot {
    /// The DIY module, if `diy.wasm` is loaded.
    pub diy: Option<Arc<Plugin>>,
    /// Connector modules by `_connectorId`.
    pub connectors: BTreeMap<String, Arc<Plugin>>,
    /// Module files that are refused or failed to load, by file name. A failed file whose
    /// previous version still serves appears both here and among the plugins.
    pub failures: BTreeMap<String, Failure>,
    /// Ids whose module was found but has not loaded yet (new, or found at start), with no
    /// earlier version serving.
    pub loading: BTreeSet<String>,
    /// Increases with every published snapshot.
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
    /// Operator-supplied precompiled artifacts (`extension-host compile`), read only.
    pub precompiled_dir: Option<PathBuf>,
    /// The answer budget of step requests when a connector's settings name none.
    pub step_answer_budget: Duration,
}

/// The live set of plugins.
pub struct Registry {
    current: RwLock<Arc<Snapshot>>,
    runtime: Arc<Runtime>,
    config: RegistryConfig,
    compiler: Compiler,
    reconciling: tokio::sync::Mutex<()>,
    /// The generation of the current snapshot, for calls waiting on a loading module.
    published: tokio::sync::watch::Sender<u64>,
    ready: tokio::sync::watch::Sender<bool>,
    /// Counters for `GET /metrics`.
    pub stats: RegistryStats,
}

/// What the registry has done since start.
#[derive(Debug, Default)]
pub struct RegistryStats {
    /// Passes over the directory after the first that found a change.
    pub reloads: std::sync::atomic::AtomicU64,
    /// Module loads that failed.
    pub load_failures: std::sync::atomic::AtomicU64,
}

type OpenCache = fn(&Path, &wasmtime::Engine) -> anyhow::Result<CompileCache>;

impl Registry {
    /// A registry for `config.dir` that has found its modules but loaded none: each is
    /// `loading` until [`Registry::start`] (or a [`Registry::reconcile`]) loads it. Finding them
    /// first means a call that arrives before its module has loaded waits for it instead of
    /// hearing that the connector does not exist.
    pub fn new(runtime: Arc<Runtime>, config: RegistryConfig) -> anyhow::Result<Self> {
        let open = |dir: &Option<PathBuf>, what: &str, open: OpenCache| {
            dir.as_deref()
                .and_then(|dir| match open(dir, &runtime.engine) {
                    Ok(cache) => Some(cache),
                    Err(err) => {
                        tracing::warn!(error = %format!("{err:#}"), "{what} not used");
                        None
                    }
                })
        };
        let precompiled = open(
            &config.precompiled_dir,
            "precompiled artifacts",
            CompileCache::open_read_only,
        );
        let cache = open(&config.cache_dir, "compile cache", CompileCache::open);
        let modules = scan(&config.dir)?;
        let has_diy = modules.iter().any(|(id, _)| id == "diy");
        let loading = modules
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| !has_diy || id == "diy")
            .collect();
        let first = Snapshot {
            loading,
            ..Snapshot::default()
        };
        Ok(Self {
            current: RwLock::new(Arc::new(first)),
            runtime,
            config,
            compiler: Compiler::new(precompiled, cache),
            reconciling: tokio::sync::Mutex::new(()),
            published: tokio::sync::watch::Sender::new(0),
            ready: tokio::sync::watch::Sender::new(false),
            stats: RegistryStats::default(),
        })
    }

    /// Loads the plugins directory, returning once every module has loaded or failed.
    pub async fn load(runtime: Arc<Runtime>, config: RegistryConfig) -> anyhow::Result<Self> {
        let registry = Self::new(runtime, config)?;
        registry.reconcile().await?;
        registry.warn_if_empty();
        registry.ready.send_replace(true);
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
        let modules_found: BTreeSet<String> = modules.iter().map(|(id, _)| id.clone()).collect();
        let mut next = Snapshot {
            generation: prev.generation,
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
        // Changed modules load concurrently, and each one serves as soon as it is ready: one
        // slow module (a big compile, start-up code that runs to its deadline) never holds up
        // the others. Until then a changed module's previous version keeps serving, and a new
        // one is `loading` (calls to it wait for it, bounded).
        let removed = prev.plugins().any(|p| !modules_found.contains(&*p.id));
        let failures_changed = !prev.failures.keys().eq(next.failures.keys());
        if pending.is_empty() && !removed && !failures_changed && prev.generation > 0 {
            // Nothing changed (a poll, or an event for a file that is as it was).
            return Ok(());
        }
        if prev.generation > 0 {
            self.stats.reloads.fetch_add(1, Ordering::Relaxed);
        }
        for (id, _, _, _, previous) in &pending {
            match previous {
                Some(previous) => next.keep(Some(previous.clone())),
                None => {
                    next.loading.insert(id.clone());
                }
            }
        }
        self.publish(&mut next);
        let by_hash = &by_hash;
        let mut loads: FuturesUnordered<_> = pending
            .into_iter()
            .map(|(id, path, file, stamp, previous)| async move {
                let result = self
                    .load_one(&id, &path, &stamp, previous.as_ref(), by_hash)
                    .await;
                (id, file, stamp, previous, result)
            })
            .collect();
        while let Some((id, file, stamp, previous, result)) = loads.next().await {
            next.loading.remove(&id);
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
                    next.failures.remove(&file);
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
                    self.stats.load_failures.fetch_add(1, Ordering::Relaxed);
                    next.failures
                        .insert(file.clone(), failure(&prev, &file, reason, Some(stamp)));
                }
            }
            self.publish(&mut next);
        }
        for gone in prev.plugins().filter(|p| next.plugin(&p.id).is_none()) {
            tracing::info!(id = &*gone.id, "unloaded plugin");
        }
        self.publish(&mut next);
        Ok(())
    }

    /// Makes `next` the current snapshot (a copy: the reconcile goes on editing `next`) and
    /// wakes the calls waiting for a module.
    fn publish(&self, next: &mut Snapshot) {
        next.generation += 1;
        let snapshot = Arc::new(next.clone());
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = snapshot;
        self.published.send_replace(next.generation);
    }

    /// The current snapshot once `id` is no longer loading (loaded, failed or gone), or `None`
    /// if it still is after `within`.
    pub async fn wait_for(&self, id: &str, within: Duration) -> Option<Arc<Snapshot>> {
        let deadline = tokio::time::Instant::now() + within;
        // Subscribed before looking, so a publish between the look and the wait is not missed.
        let mut published = self.published.subscribe();
        loop {
            let snapshot = self.current();
            if !snapshot.loading.contains(id) {
                return Some(snapshot);
            }
            match tokio::time::timeout_at(deadline, published.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }

    /// Whether every module found at start has loaded or failed: what `/readyz` reports.
    pub fn ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Loads the modules found by [`Registry::new`] in the background; [`Registry::ready`]
    /// turns true when they have all loaded or failed.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let registry = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            if let Err(err) = registry.reconcile().await {
                tracing::error!(error = %format!("{err:#}"), "loading the plugins directory failed");
            }
            let snapshot = registry.current();
            tracing::info!(
                plugins = snapshot.plugins().count(),
                failures = snapshot.failures.len(),
                ms = started.elapsed().as_millis() as u64,
                "every module found at start has loaded or failed: ready"
            );
            registry.warn_if_empty();
            registry.ready.send_replace(true);
        })
    }

    fn warn_if_empty(&self) {
        let snapshot = self.current();
        if snapshot.diy.is_none() && snapshot.connectors.is_empty() {
            tracing::warn!(
                dir = %self.config.dir.display(),
                "no plugin loaded: requests get configuration errors until a module is added"
            );
        }
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
        let steps = Arc::new(
            crate::steps::StepPolicy::compile(
                &settings.steps,
                &network_settings,
                self.config.step_answer_budget,
            )
            .with_context(|| format!("settings file {}", settings_path.display()))?,
        );
        let scripts = Arc::new(
            crate::egress::ResponseScripts::compile(&settings.response_scripts)
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
                Module::load(&self.runtime, id, bytes, hash, &limits, &self.compiler).await?,
            ),
        };
        module
            .check_scripts(&scripts)
            .with_context(|| format!("settings file {}", settings_path.display()))?;
        Ok(Arc::new(Plugin {
            id: id.into(),
            file: path.to_path_buf(),
            module,
            scripts,
            share: self.runtime.share_of(&limits),
            limits,
            network,
            steps,
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
