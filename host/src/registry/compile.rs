//! Where a module's machine code comes from, and how compiling stays out of the way of calls.
//!
//! A module's code is looked up, in order, in the operator's precompiled artifacts
//! (`--precompiled`, written by `extension-host compile`, never written by the host), then in
//! the compile cache, and only then compiled with Cranelift. Compiling is the one heavy job a
//! serving host does besides calls: a restart with 50 uncached connectors is tens of seconds of
//! CPU. So compiles are capped ([`Compiler::new`]: half the cores, at least one module at a
//! time) and every thread that compiles runs at a lower scheduling priority
//! ([`COMPILE_NICE`]): the compile storm takes whatever CPU calls leave idle instead of
//! sharing the cores with them as an equal (BENCHMARKS.md, "compile storm").

use std::sync::Once;

use anyhow::Context as _;
use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::Component;

use super::cache::CompileCache;
use super::plugin::Source;

/// The `nice` increment of compiling threads (0 normal, 19 lowest). At 10 the kernel's CFS
/// weights a compile thread at about a tenth of a call's thread.
pub const COMPILE_NICE: i32 = 10;

/// The code stores and the compile slots of one engine.
pub struct Compiler {
    /// Operator-supplied artifacts, read only.
    precompiled: Option<CompileCache>,
    /// The host's own cache, read and written.
    cache: Option<CompileCache>,
    /// Modules compiling at once.
    slots: Semaphore,
}

impl Compiler {
    /// A compiler reading `precompiled` then `cache`; compiles at most half the cores' worth
    /// of modules at once (Cranelift already compiles one module's functions in parallel).
    pub fn new(precompiled: Option<CompileCache>, cache: Option<CompileCache>) -> Self {
        lower_rayon_priority();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            precompiled,
            cache,
            slots: Semaphore::new((cores / 2).max(1)),
        }
    }

    /// The compiled component for `bytes` (whose SHA-256 is `hash`), and where it came from.
    pub async fn component(
        &self,
        engine: &Engine,
        hash: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<(Component, Source)> {
        if let Some(component) = self.precompiled.as_ref().and_then(|p| p.load(engine, hash)) {
            return Ok((component, Source::Precompiled));
        }
        if let Some(component) = self.cache.as_ref().and_then(|c| c.load(engine, hash)) {
            return Ok((component, Source::Cache));
        }
        let _slot = self
            .slots
            .acquire()
            .await
            .context("the compiler is closed")?;
        let component = compile(engine, bytes).await?;
        Ok((component, Source::Compiled))
    }

    /// Keeps a freshly compiled (and validated) component in the cache.
    pub fn keep(&self, hash: &str, component: &Component, source: Source) {
        if let (Some(cache), Source::Compiled) = (&self.cache, source) {
            cache.store(hash, component);
        }
    }
}

/// Compiles `bytes` on a thread of its own at [`COMPILE_NICE`]: never on the async workers
/// that serve requests, and never at their priority.
pub async fn compile(engine: &Engine, bytes: Vec<u8>) -> anyhow::Result<Component> {
    let engine = engine.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("compile".into())
        .spawn(move || {
            lower_this_thread_priority();
            let _ = tx.send(Component::new(&engine, &bytes));
        })
        .context("starting a compile thread")?;
    rx.await
        .context("the compile thread died")?
        .map_err(anyhow::Error::from)
        .context("not a valid WebAssembly component")
}

/// Cranelift compiles a module's functions on rayon's global pool: build that pool (once, before
/// wasmtime first uses it) with threads at [`COMPILE_NICE`].
fn lower_rayon_priority() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let built = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("compile-{i}"))
            .start_handler(|_| lower_this_thread_priority())
            .build_global();
        if let Err(err) = built {
            // Someone built it first: compiles still work, at normal priority.
            tracing::debug!(error = %err, "rayon's pool already exists");
        }
    });
}

/// Lowers the calling thread's priority by [`COMPILE_NICE`]. Linux applies `nice` per thread.
fn lower_this_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take plain integers and touch no memory of ours.
    #[allow(unsafe_code)]
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, COMPILE_NICE);
    }
}
