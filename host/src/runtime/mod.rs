//! The wasm runtime: one engine, one linker, one epoch ticker, a bound on how many
//! instances exist at once (the pooling allocator's size), each connector's share of them, and
//! the guests' own threads ([`pool`]).

pub mod bindings;
pub mod call;
pub mod engine;
pub mod exports;
pub mod limits;
pub mod pool;
pub mod share;
pub mod wasi;

use std::sync::Arc;

use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::Linker;

pub use call::{Call, CallState, Tags};
pub use limits::Limits;

use crate::egress::{Egress, NetworkPolicy, ScriptHook};
use crate::error::SandboxError;

/// What a call is granted beyond its limits.
#[derive(Default)]
pub struct Grants<'a> {
    /// The connector's share of instances (none: only the pool bounds the call).
    pub share: Option<&'a share::Share>,
    /// Where its guest may send requests (none: nowhere).
    pub network: Option<Arc<NetworkPolicy>>,
    /// Its connector's response scripts, applied to those requests.
    pub scripts: Option<ScriptHook>,
}

/// Instances the pool keeps beyond `max_instances` for nested calls (a response script or a
/// re-authentication running while its caller waits in a request): an eighth of the pool, at
/// least two. Nested calls never nest further, so they always finish and free their slot.
pub fn nested_instances(max_instances: u32) -> u32 {
    (max_instances / 8).max(2)
}
use exports::Linked;

/// The process's wasm runtime.
pub struct Runtime {
    /// The engine every plugin is compiled for.
    pub engine: Engine,
    /// The linker every plugin is instantiated with.
    pub linker: Linker<CallState>,
    /// The engine-wide settings.
    pub options: engine::EngineOptions,
    /// Where guest code runs.
    pub guests: pool::GuestPool,
    deny_all: Arc<NetworkPolicy>,
    permits: Arc<Semaphore>,
    nested: Arc<Semaphore>,
    _ticker: engine::EpochTicker,
}

impl Runtime {
    /// Builds the runtime: at most `options.max_instances` concurrent instances (further calls
    /// wait for a slot).
    pub fn new(options: engine::EngineOptions) -> anyhow::Result<Self> {
        // Host errors handed to guests (wasi's `to-debug-string`) must not carry Rust
        // backtraces: with RUST_BACKTRACE=1, formatting one loads the host's debug info
        // (~170 MB of memory) at a guest's request. Trap backtraces of wasm are unaffected.
        wasmtime::error::disable_backtrace();
        let engine = engine::engine(&options)?;
        let linker = engine::linker(&engine)?;
        let guests = pool::GuestPool::new()?;
        let ticker = engine::EpochTicker::start(&engine);
        Ok(Self {
            engine,
            linker,
            guests,
            deny_all: Arc::new(NetworkPolicy::deny_all()?),
            permits: Arc::new(Semaphore::new(options.max_instances as usize)),
            nested: Arc::new(Semaphore::new(
                nested_instances(options.max_instances) as usize
            )),
            options,
            _ticker: ticker,
        })
    }

    /// Instances running a call now.
    pub fn instances_in_use(&self) -> u64 {
        u64::from(self.options.max_instances)
            .saturating_sub(self.permits.available_permits() as u64)
    }

    /// A connector's share of the instances under `limits`: its `max_concurrent_calls`, but
    /// never more than half the pool, so one tenant always leaves room for the others.
    pub fn share_of(&self, limits: &Limits) -> share::Share {
        let half = u64::from(self.options.max_instances.div_ceil(2));
        share::Share::new(
            limits.max_concurrent_calls.min(half),
            limits.max_queued_calls,
        )
    }

    /// Starts a call: waits for a slot in the connector's share (if any) and in the pool,
    /// then instantiates afresh.
    pub async fn start(
        &self,
        pre: &Arc<Linked>,
        limits: &Limits,
        tags: Tags,
        grants: Grants<'_>,
    ) -> Result<Call, SandboxError> {
        let mut permits = Vec::with_capacity(2);
        if let Some(share) = grants.share {
            let waited = tokio::time::timeout(
                std::time::Duration::from_millis(limits.timeout_ms),
                share.enter(),
            )
            .await;
            // Refused at once when the queue is full, or after waiting the call's whole
            // deadline for a slot: either way the connector is busy, not the call slow.
            permits.push(match waited {
                Ok(Ok(permit)) => permit,
                Ok(Err(refusal)) => return Err(refusal.into()),
                Err(_) => return Err(share.busy().into()),
            });
        }
        permits.extend(self.permits.clone().acquire_owned().await.ok());
        let seat = pool::LaneSeat::new();
        let network = grants.network.unwrap_or_else(|| self.deny_all.clone());
        let egress = Egress::new(network, tags.clone(), grants.scripts);
        Call::start(pre, limits, tags, permits, &self.options, seat, egress).await
    }

    /// Starts a nested call (see [`nested_instances`]): a slot from the reserve, outside any
    /// connector's share, with `network` and no response scripts.
    pub async fn start_nested(
        &self,
        pre: &Arc<Linked>,
        limits: &Limits,
        tags: Tags,
        network: Arc<NetworkPolicy>,
    ) -> Result<Call, SandboxError> {
        let permits = self.nested.clone().acquire_owned().await.ok();
        let seat = pool::LaneSeat::new();
        let egress = Egress::new(network, tags.clone(), None);
        let permits = permits.into_iter().collect();
        Call::start(pre, limits, tags, permits, &self.options, seat, egress).await
    }
}
