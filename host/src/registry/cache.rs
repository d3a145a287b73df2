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

/// A compile cache directory for one engine configuration.
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
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
        let mut hasher = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:x}", hasher.0.finalize());
        Ok(Self {
            dir: dir.to_path_buf(),
            engine_key: engine_key[..16].to_string(),
        })
    }

    fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}-{}.cwasm", self.engine_key))
    }

    /// The compiled component for `hash`, if cached. A stale or damaged entry is removed.
    pub fn load(&self, engine: &Engine, hash: &str) -> Option<Component> {
        let path = self.path(hash);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `store` below from `Component::serialize` of this
        // engine configuration (the name carries the engine's compatibility hash), into a
        // directory only this user can write. wasmtime still checks the header and rejects
        // artifacts of another version or configuration.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "dropping an unusable compile-cache entry");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Caches `component` under `hash`. Failures are logged: the cache is an optimisation.
    pub fn store(&self, hash: &str, component: &Component) {
        let path = self.path(hash);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let result = component
            .serialize()
            .map_err(anyhow::Error::from)
            .and_then(|bytes| std::fs::write(&tmp, bytes).context("writing"))
            .and_then(|()| std::fs::rename(&tmp, &path).context("renaming"));
        if let Err(err) = result {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(path = %path.display(), error = %format!("{err:#}"), "could not write a compile-cache entry");
        }
    }
}
