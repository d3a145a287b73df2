//! The compile cache: compiled components on disk, keyed by the SHA-256 of the `.wasm` bytes and
//! by the engine's compatibility hash (wasmtime version and every setting that affects code),
//! so a restart with many connectors skips Cranelift entirely.
//!
//! Trust: loading a compiled artifact runs its machine code outside the sandbox, so the cache
//! directory must be writable only by the host's user (it is created `0700`). Artifacts are
//! written to a temporary name and renamed, so a reader never sees half a file.
#![allow(unsafe_code)]

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A compile cache directory for one engine configuration: the host's own (read and written),
/// or an operator's precompiled artifacts (`extension-host compile`; read only, same layout).
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
    writable: bool,
}

/// Feeds `Hash` output into SHA-256: a key stable for a given binary and configuration.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl CompileCache {
    /// Opens (creating it `0700` if needed) a cache directory for `engine`.
    pub fn open(dir: &Path, engine: &Engine) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("restricting {}", dir.display()))?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            engine_key: engine_key(engine),
            writable: true,
        })
    }

    /// Opens an existing directory of precompiled artifacts, which the host never writes or
    /// prunes. Its artifacts are trusted as the host's own cache is: whoever can write it can
    /// run native code in the host.
    pub fn open_read_only(dir: &Path, engine: &Engine) -> anyhow::Result<Self> {
        if !dir.is_dir() {
            anyhow::bail!(
                "precompiled artifacts: {} is not a directory",
                dir.display()
            );
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            engine_key: engine_key(engine),
            writable: false,
        })
    }

    /// The artifact file name for a module's SHA-256 under this engine configuration.
    pub fn file_name(&self, hash: &str) -> String {
        format!("{hash}-{}.cwasm", self.engine_key)
    }

    fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(self.file_name(hash))
    }

    /// Whether the directory holds an artifact of `hash` built for another engine
    /// configuration (another host version, stack limit or CPU features).
    fn has_foreign(&self, hash: &str) -> bool {
        let prefix = format!("{hash}-");
        std::fs::read_dir(&self.dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".cwasm"))
            })
        })
    }

    /// The compiled component for `hash`, if cached. A stale or damaged entry is removed.
    pub fn load(&self, engine: &Engine, hash: &str) -> Option<Component> {
        let path = self.path(hash);
        if !path.exists() {
            if !self.writable && self.has_foreign(hash) {
                tracing::warn!(
                    dir = %self.dir.display(),
                    hash = &hash[..hash.len().min(12)],
                    "a precompiled artifact exists for another engine configuration (host version, \
                     --max-stack-bytes or CPU): compiling instead; rerun `extension-host compile` \
                     with this host's settings"
                );
            }
            return None;
        }
        // SAFETY: the file was written by `write` below (here or by `extension-host compile`)
        // from `Component::serialize` of this engine configuration (the name carries the
        // engine's compatibility hash), into a directory only this user can write or one the
        // operator named as trusted (`--precompiled`). wasmtime still checks the header and
        // rejects artifacts of another version or configuration.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(err) if self.writable => {
                tracing::warn!(path = %path.display(), error = %err, "dropping an unusable compile-cache entry");
                let _ = std::fs::remove_file(&path);
                None
            }
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "ignoring an unusable precompiled artifact");
                None
            }
        }
    }

    /// Caches `component` under `hash`. Failures are logged: the cache is an optimisation.
    pub fn store(&self, hash: &str, component: &Component) {
        if let Err(err) = self.write(hash, component) {
            tracing::warn!(dir = %self.dir.display(), error = %format!("{err:#}"), "could not write a compile-cache entry");
        }
    }

    /// Writes `component`'s artifact under `hash` (to a temporary name, then renamed); the path.
    pub fn write(&self, hash: &str, component: &Component) -> anyhow::Result<PathBuf> {
        let path = self.path(hash);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let result = component
            .serialize()
            .map_err(anyhow::Error::from)
            .and_then(|bytes| std::fs::write(&tmp, bytes).context("writing"))
            .and_then(|()| std::fs::rename(&tmp, &path).context("renaming"));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// The first 16 hex digits of the SHA-256 of the engine's compatibility hash: artifacts are
/// named for the engine configuration they run under.
fn engine_key(engine: &Engine) -> String {
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:x}", hasher.0.finalize())[..16].to_string()
}
