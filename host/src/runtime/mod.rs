//! The wasm runtime: one engine, one linker, one epoch ticker, and a bound on how many
//! instances exist at once (the pooling allocator's size).

pub mod bindings;
pub mod call;
pub mod engine;
pub mod limits;
pub mod wasi;

use std::sync::Arc;

use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::Linker;

pub use call::{Call, CallState, Tags};
pub use limits::Limits;

use crate::error::SandboxError;
use bindings::ExtensionPre;

/// The process's wasm runtime.
pub struct Runtime {
    /// The engine every plugin is compiled for.
    pub engine: Engine,
    /// The linker every plugin is instantiated with.
    pub linker: Linker<CallState>,
    /// The engine-wide settings.
    pub options: engine::EngineOptions,
    permits: Arc<Semaphore>,
    _ticker: engine::EpochTicker,
}

impl Runtime {
    /// Builds the runtime: at most `options.max_instances` concurrent instances (further calls
    /// wait for a slot).
    pub fn new(options: engine::EngineOptions) -> anyhow::Result<Self> {
        let engine = engine::engine(&options)?;
        let linker = engine::linker(&engine)?;
        let ticker = engine::EpochTicker::start(&engine);
        Ok(Self {
            engine,
            linker,
            permits: Arc::new(Semaphore::new(options.max_instances as usize)),
            options,
            _ticker: ticker,
        })
    }

    /// Starts a call: waits for an instance slot, then instantiates afresh.
    pub async fn start(
        &self,
        pre: &ExtensionPre<CallState>,
        limits: &Limits,
        tags: Tags,
    ) -> Result<Call, SandboxError> {
        let permit = self.permits.clone().acquire_owned().await.ok();
        Call::start(pre, limits, tags, permit, &self.options).await
    }
}
